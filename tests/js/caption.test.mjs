// web/js/editor/caption.js (the caption's words, picked spans, the node's run report) and the caption strip of
// the box editor (caption_strip.js) in plain Node with the fake DOM: picking words makes a phrase, a new box's or
// the selected object's.
import assert from "node:assert/strict";
import { test } from "node:test";

import { BoxPanel } from "../../web/js/editor/box_panel.js";
import { BoxTool } from "../../web/js/editor/box_tool.js";
import { CAPTION_KEY, captionRun, captionWords, MAX_CAPTION_CHARS, MAX_PHRASE_CHARS, spanText, unnamedInRun,
  wordRange, wordsInSpan } from "../../web/js/editor/caption.js";
import { el } from "../../web/js/editor/dom.js";
import { parseLayout } from "../../web/js/editor/layout_model.js";
import { fakeEditor } from "./support/canvas.mjs";
import { install } from "./support/dom.mjs";
import { withinMs } from "./support/time.mjs";

install();

const texts = (text) => captionWords(text).map(({ start, end }) => text.slice(start, end));

test("words are runs of letters, digits and marks; punctuation, spaces and emoji separate them", () => {
  assert.deepEqual(texts("A red-brick house, 2 cats & a dog's bowl."),
    ["A", "red", "brick", "house", "2", "cats", "a", "dog", "s", "bowl"]);
  assert.deepEqual(texts("🐱kitten🐶 ｒｅｄ"), ["kitten", "ｒｅｄ"]);
  assert.deepEqual(texts("cafe\u0301 noir"), ["cafe\u0301", "noir"]); // a combining accent stays in its word
  assert.deepEqual(texts("красная кошка; قطة حمراء"), ["красная", "кошка", "قطة", "حمراء"]);
  assert.deepEqual(texts(""), []);
  assert.deepEqual(texts(" ,;. 🐱 "), []);
  assert.deepEqual(captionWords(null), []);
});

test("Han ideographs and kana are words of their own; offsets are JavaScript string indices", () => {
  assert.deepEqual(texts("一只猫 ねこ cat"), ["一", "只", "猫", "ね", "こ", "cat"]);
  assert.deepEqual(captionWords("𠀀𠀁 a"), [{ start: 0, end: 2 }, { start: 2, end: 4 }, { start: 5, end: 6 }]);
  assert.deepEqual(captionWords("🐱 red"), [{ start: 3, end: 6 }]); // the cat is two UTF-16 units
});

test("a picked range is the caption's text from its first word to its last, either way round", () => {
  const text = "A red-brick  house,\nby the sea";
  const words = captionWords(text);
  assert.deepEqual(wordRange(3, 1), [1, 3]);
  assert.equal(wordRange(null, 2), null);
  assert.equal(spanText(text, words, wordRange(1, 3)), "red-brick house"); // inner punctuation kept
  assert.equal(spanText(text, words, wordRange(3, 5)), "house, by the"); // white space collapsed
  assert.equal(spanText(text, words, [0, 0]), "A");
  assert.equal(spanText(text, words, null), "");
  assert.equal(spanText(text, words, [2, 99]), "");
});

test("the words inside a span the node reported", () => {
  const text = "A red apple on a table";
  const words = captionWords(text);
  assert.deepEqual(wordsInSpan(words, [2, 11]), [1, 2]); // "red apple"
  assert.deepEqual(wordsInSpan(words, [0, text.length]), [0, 5]);
  assert.deepEqual(wordsInSpan(words, [17, 22]), [5, 5]);
  assert.equal(wordsInSpan(words, [11, 12]), null); // a space
  assert.equal(wordsInSpan(words, null), null);
  assert.equal(wordsInSpan([], [0, 3]), null);
});

test("a run report of any other shape is no report; spans that are no spans are none", () => {
  for (const entry of [undefined, null, 5, "a cat", [], { caption: 5, objects: [] }, { caption: "a", objects: {} }]) {
    assert.equal(captionRun(entry), null, JSON.stringify(entry));
  }
  const run = captionRun({ caption: "a cat", objects: [{ phrase: "a cat", span: [2, 5] }, { phrase: 7, span: "x" },
    null, { phrase: "a dog", span: [3, 1] }, { phrase: "a hat", span: [1.5, 2] }] });
  assert.deepEqual(run.objects.map((o) => o.span), [[2, 5], null, null, null, null]);
  assert.deepEqual(run.objects.map((o) => o.phrase), ["a cat", "", "", "a dog", "a hat"]);
});

test("an object is marked missing only while it has the phrase the run found missing", () => {
  const run = captionRun({ caption: "a cat", objects: [{ phrase: "a cat", span: [2, 5] }, { phrase: "a lamp",
    span: null }, { phrase: "", span: null }] });
  assert.equal(unnamedInRun(run, 0, "a cat"), false);
  assert.equal(unnamedInRun(run, 1, "a lamp"), true);
  assert.equal(unnamedInRun(run, 1, " a lamp "), true); // the node strips phrases
  assert.equal(unnamedInRun(run, 1, "a lamp post"), false); // edited since the run
  assert.equal(unnamedInRun(run, 2, ""), false); // no phrase: an image-only object
  assert.equal(unnamedInRun(run, 3, "a new box"), false);
  assert.equal(unnamedInRun(null, 1, "a lamp"), false);
});

test("the words of any text are found in bounded time, reading at most the node's caption limit", () => {
  const words = withinMs(200, () => captionWords("a ".repeat(1_000_000)), "splitting");
  assert.equal(words.length, MAX_CAPTION_CHARS / 2);
  assert.equal(CAPTION_KEY, "gligen_caption");
});

/** A box tool with its caption strip on `objects`, shown the run report `entry`. */
function stripOn(objects, entry) {
  const { layout } = parseLayout(JSON.stringify({ version: 1, width: 512, height: 512, objects }));
  const editor = fakeEditor(layout);
  editor.tool = new BoxTool(editor);
  const [element] = editor.tool.sections();
  editor.panel = new BoxPanel(editor, el("div"));
  editor.refreshButtons = () => editor.tool.refresh();
  editor.warn = (message) => (editor.warned = message);
  editor.tool.executed({ [CAPTION_KEY]: [entry] });
  return { editor, strip: editor.tool.caption, element };
}

const press = (strip, index, extra = {}) =>
  strip.text.listeners.pointerdown[0]({ target: strip.wordElements[index], preventDefault() {}, ...extra });
const over = (strip, index, buttons) => strip.text.listeners.pointerover[0]({ target: strip.wordElements[index], buttons });

const CAPTION = "A red apple beside a wooden table";
const RUN = { caption: CAPTION, objects: [{ phrase: "a red apple", span: [2, 11] }, { phrase: "a lamp", span: null }] };
const OBJECTS = [{ phrase: "a red apple", box: [0, 0, 64, 64] }, { phrase: "a lamp", box: [64, 64, 128, 128] }];

test("the strip shows a run's caption; a run without one hides it", () => {
  const { editor, strip, element } = stripOn(OBJECTS, RUN);
  assert.equal(element.hidden, false);
  assert.deepEqual(strip.wordElements.map((w) => w.textContent), ["A", "red", "apple", "beside", "a", "wooden",
    "table"]);
  assert.equal(strip.text.children.map((c) => c.textContent).join(""), CAPTION); // the gaps are shown as well
  assert.equal(editor.panel.hint(), "Object 2: not in the caption; name it in the prompt, or turn on " +
    "append_missing_phrases.");
  editor.tool.executed({});
  assert.equal(element.hidden, true);
  assert.equal(editor.panel.hint(), "");
});

test("click and Shift+click, or a drag, pick words; + box adds a box with them as its phrase", () => {
  const { editor, strip } = stripOn(OBJECTS, RUN);
  assert.equal(strip.buttons.box.disabled, true); // nothing picked
  press(strip, 5);
  press(strip, 6, { shiftKey: true });
  assert.equal(strip.phrase, "wooden table");
  assert.equal(strip.buttons.box.disabled, false);
  assert.equal(strip.buttons.phrase.disabled, true); // no object selected
  strip.buttons.box.dispatch("click");
  const added = editor.layout.objects[2];
  assert.equal(added.phrase, "wooden table");
  assert.equal(editor.selection.key, added.key);
  assert.equal(editor.changes, 1);
  assert.equal(strip.phrase, ""); // the pick is used up

  press(strip, 2);
  over(strip, 1, 1); // dragged back over "red" with the button down
  over(strip, 3, 0); // moved on with the button up: not picked
  assert.equal(strip.phrase, "red apple");
});

test("→ phrase gives the selected object the picked words; after that it is no longer marked", () => {
  const { editor, strip } = stripOn(OBJECTS, RUN);
  const lamp = editor.layout.objects[1];
  assert.equal(strip.unnamed(1, lamp.phrase), true);
  editor.select(lamp.key);
  press(strip, 6);
  strip.refresh();
  assert.equal(strip.buttons.phrase.disabled, false);
  strip.buttons.phrase.dispatch("click");
  assert.equal(lamp.phrase, "table");
  assert.equal(editor.changes, 1);
  assert.equal(strip.unnamed(1, lamp.phrase), false);
  assert.equal(editor.panel.hint(), "");
});

test("a pick longer than a phrase may be is refused with a message", () => {
  const long = Array.from({ length: 1000 }, (_, i) => `word${i}`).join(" ");
  const { editor, strip } = stripOn(OBJECTS, { caption: long, objects: [] });
  press(strip, 0);
  press(strip, 999, { shiftKey: true });
  assert.ok(strip.phrase.length > MAX_PHRASE_CHARS);
  strip.buttons.box.dispatch("click");
  assert.equal(editor.layout.objects.length, 2);
  assert.match(editor.warned, /at most 4000/);
});
