// web/js/editor/text.js: user text as the editors show it (direction controls made visible) and canvas
// label fitting in bounded work.
import assert from "node:assert/strict";
import { test } from "node:test";

import { escapeBidiControls, fitLabel, hasBidiControls, MAX_LABEL_CHARS, visibleText }
  from "../../web/js/editor/text.js";
import { fakeContext } from "./support/canvas.mjs";
import { Random } from "./support/random.mjs";
import { withinMs } from "./support/time.mjs";

const CONTROLS = ["\u061c", "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067",
  "\u2068", "\u2069"];

/** What the editor drew before (box_tool.js up to issue 15): one character dropped per measureText. */
function oldLabel(ctx, text, room) {
  let label = text;
  while (label.length > 1 && ctx.measureText(label).width > room) label = label.slice(0, -2) + "…";
  return label;
}

/** The definition, straightforwardly: the whole text if it fits, else the longest prefix that fits with
 * "…", else "…" (a text of one character is drawn as it is). */
function referenceLabel(ctx, text, room) {
  const fits = (label) => ctx.measureText(label).width <= room;
  if (text.length <= 1 || fits(text)) return text;
  for (let length = text.length - 1; length > 0; length--) {
    if (fits(text.slice(0, length) + "…")) return text.slice(0, length) + "…";
  }
  return "…";
}

test("every direction control is shown as a marker; other text is left alone", () => {
  for (const control of CONTROLS) {
    assert.ok(hasBidiControls(`a${control}b`));
    const code = control.codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
    assert.equal(visibleText(`a${control}b`), `a<U+${code}>b`);
  }
  assert.equal(visibleText("a cat\u202e god a"), "a cat<U+202E> god a");
  const others = ["", "a red cat", "שלום עולם", "مرحبا", "🐈 日本", "\u200b\u200d\ufeff", "\ud800"];
  for (const text of others) {
    assert.ok(!hasBidiControls(text), text);
    assert.equal(visibleText(text), text);
  }
});

test("escapeBidiControls writes the controls in JSON text as escapes: the same JSON", () => {
  const json = JSON.stringify({ phrase: "exe\u202e.jpg", name: "\u2067x\u2069" }, null, 1);
  const escaped = escapeBidiControls(json);
  assert.ok(!hasBidiControls(escaped));
  assert.match(escaped, /exe\\u202e\.jpg/);
  assert.deepEqual(JSON.parse(escaped), JSON.parse(json));
});

test("a 100,000-character phrase is fitted with a dozen measureText calls, in milliseconds", () => {
  for (const text of ["W".repeat(100_000), `1 ${"a dog ".repeat(20_000)}`, "\u202e".repeat(100_000)]) {
    const ctx = fakeContext();
    const label = fitLabel(ctx, text, 300);
    assert.ok(ctx.measured <= 12, `${ctx.measured} measureText calls`);
    withinMs(50, () => fitLabel(fakeContext(), text, 300), "fitting");
    // 7 px per character: 42 characters fit in 300 px, 41 of the text and "…".
    assert.equal(label, `${visibleText(text.slice(0, 100)).slice(0, 41)}…`);
  }
  // A text longer than the cap is never shown whole, even where it would fit.
  const long = "i".repeat(MAX_LABEL_CHARS + 1);
  assert.equal(fitLabel(fakeContext({ charWidth: 0.001 }), long, 300), `${long.slice(0, MAX_LABEL_CHARS)}…`);
});

test("the label is the old one for short texts and the longest prefix that fits (random texts)", () => {
  const r = new Random(2025);
  const alphabet = ["a", "b", "W", "i", " ", "é", "日", "…", "-"];
  const widths = { W: 13, i: 3, " ": 4, 日: 14, "…": 10 };
  for (let i = 0; i < 2000; i++) {
    const text = r.string(alphabet, r.int(0, 40));
    const room = r.int(0, 300);
    // Width proportional to the length: the old loop's answer exactly.
    const proportional = fakeContext();
    assert.equal(fitLabel(proportional, text, room), oldLabel(fakeContext(), text, room), `${text} in ${room}`);
    // Characters of different widths: the definition's answer.
    const widthOf = (label) => [...label].reduce((sum, c) => sum + (widths[c] ?? 7), 0);
    assert.equal(fitLabel(fakeContext({ widthOf }), text, room), referenceLabel(fakeContext({ widthOf }), text, room),
      `${text} in ${room}`);
  }
});

test("labels with direction controls or surrogate pairs", () => {
  const ctx = fakeContext({ widthOf: (label) => [...label].length * 7 });
  assert.equal(fitLabel(ctx, "1 exe\u202e.jpg", 1000), "1 exe<U+202E>.jpg");
  // A cut never splits an emoji into a lone surrogate.
  for (let room = 7; room < 100; room++) {
    const label = fitLabel(ctx, "1 🐈🐈🐈🐈🐈🐈🐈🐈🐈🐈🐈🐈🐈🐈🐈🐈", room);
    assert.doesNotMatch(label, /[\ud800-\udbff](?![\udc00-\udfff])/, `room ${room}: ${JSON.stringify(label)}`);
  }
  assert.equal(fitLabel(ctx, "", 10), "");
  assert.equal(fitLabel(ctx, "W", 1), "W"); // one character is drawn as it is (as before)
  assert.equal(fitLabel(ctx, "Wide", 1), "…");
});
