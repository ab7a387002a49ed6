// The canvas tools (box_tool.js, pose_tool.js, tool.js) and the list rows / JSON panel, in plain Node with a
// fake 2D context and a fake DOM: label drawing in bounded work, `locked` read as a boolean, and direction
// controls in phrases shown, never obeyed (issue 15).
import assert from "node:assert/strict";
import { test } from "node:test";

import { BoxPanel } from "../../web/js/editor/box_panel.js";
import { BoxTool } from "../../web/js/editor/box_tool.js";
import { el, setText } from "../../web/js/editor/dom.js";
import { JsonPanel } from "../../web/js/editor/json_panel.js";
import { parseLayout, serializeLayout } from "../../web/js/editor/layout_model.js";
import { PoseTool } from "../../web/js/editor/pose_tool.js";
import { entryRow } from "../../web/js/editor/row_controls.js";
import { fakeContext, fakeEditor, fakeView } from "./support/canvas.mjs";
import { install } from "./support/dom.mjs";
import { withinMs } from "./support/time.mjs";

install();

const NOT_TRUE = ["yes", "false", 1, 0, "true", {}, [], false, null];
const boxLayout = (objects) => parseLayout(JSON.stringify({ version: 1, width: 512, height: 512, objects })).layout;

/** A box tool on one object with `phrase` in a box over the left half of the canvas, drawn once. */
function drawBox(phrase, { budget = Infinity, extra = {} } = {}) {
  const layout = boxLayout([{ phrase, box: [0, 0, 256, 256], ...extra }]);
  const ctx = fakeContext({ budget });
  new BoxTool(fakeEditor(layout)).draw(ctx, fakeView());
  return ctx;
}

test("a box label with a 100,000-character phrase takes a dozen measureText calls and milliseconds", () => {
  for (const phrase of ["W".repeat(100_000), "a cat ".repeat(50_000)]) {
    // The old label fitting measured 100,000 times (minutes); the fake context throws past 20 calls.
    const ctx = withinMs(50, () => drawBox(phrase, { budget: 20 }), "drawing");
    const [label] = ctx.texts;
    assert.ok(label.startsWith(`1 ${phrase.slice(0, 20)}`) && label.endsWith("…"), label);
    assert.ok(ctx.measureText(label).width <= 256 - 6, label); // inside the box's room
  }
});

test("a box label shows the phrase's direction controls as markers instead of obeying them", () => {
  assert.deepEqual(drawBox("exe\u202e.jpg").texts, ["1 exe<U+202E>.jpg"]);
  assert.deepEqual(drawBox("\u2067abc\u2069 \u200f").texts, ["1 <U+2067>abc<U+2069> <U+200F>"]);
  assert.deepEqual(drawBox("", { extra: { image: 2 } }).texts, ["1 image 2"]);
  // An image index that is not a number (the node says so when it runs) is not spelt out.
  assert.deepEqual(drawBox("", { extra: { image: [[1, 2], { a: 3 }] } }).texts, ["1 image"]);
});

test("only \"locked\": true locks a box; any other value leaves it free (kept in the text as it is)", () => {
  for (const locked of [true, ...NOT_TRUE]) {
    const layout = boxLayout([{ phrase: "a cat", box: [0, 0, 256, 256], locked }]);
    const editor = fakeEditor(layout);
    const tool = new BoxTool(editor);
    const object = layout.objects[0];
    const free = locked !== true;
    assert.equal(tool.objectAt([0.25, 0.25]) === object, free, `picked, locked ${JSON.stringify(locked)}`);
    editor.select(object.key);
    assert.equal(tool.handleAt([0.5, 0.5]) === "se", free, `its handle, locked ${JSON.stringify(locked)}`);
    const ctx = fakeContext();
    tool.draw(ctx, fakeView());
    assert.deepEqual(ctx.dashes[0], free ? [] : [6, 4]); // locked boxes are drawn dashed
    assert.deepEqual(JSON.parse(serializeLayout(layout)).objects[0].locked, locked);
    assert.equal(tool.nudge(8, 0), free);
    assert.equal(tool.deleteSelected(), free);
  }
});

test("only \"locked\": true locks a person", () => {
  const keypoints = Array(17).fill(null);
  keypoints[0] = [256, 256];
  keypoints[5] = [200, 300];
  for (const locked of [true, ...NOT_TRUE]) {
    const text = JSON.stringify({ version: 1, width: 512, height: 512, persons: [{ keypoints, locked }] });
    const { layout } = parseLayout(text);
    const editor = fakeEditor(layout);
    const tool = new PoseTool(editor);
    const person = layout.persons[0];
    const free = locked !== true;
    assert.equal(tool.jointAt([0.5, 0.5])?.[0] === person, free, `joint, locked ${JSON.stringify(locked)}`);
    assert.equal(tool.personAt([0.45, 0.55]) === person, free, `body, locked ${JSON.stringify(locked)}`);
    editor.select(person.key);
    const before = person.keypoints;
    tool.mirror();
    assert.equal(person.keypoints !== before, free, `mirrored, locked ${JSON.stringify(locked)}`);
  }
});

test("the lock button shows a non-boolean \"locked\" as unlocked, and a click locks the entry", () => {
  const entry = { key: "k1", phrase: "a cat", box: [0, 0, 1, 1], locked: "yes" };
  const editor = { ...fakeEditor(boxLayout([])), tool: { remove() {} } };
  const row = () => entryRow(editor, entry, 0, { fields: [], buttons: [], strengthTitle: "", lockTitle: "" });
  const lockButton = () => [...row().all()].find((e) => e.tagName === "BUTTON" && e.textContent === "lock");
  assert.equal(lockButton().getAttribute("aria-pressed"), "false");
  lockButton().dispatch("click");
  assert.equal(entry.locked, true);
  assert.equal(lockButton().getAttribute("aria-pressed"), "true");
  lockButton().dispatch("click");
  assert.ok(!("locked" in entry));
  assert.equal(editor.changes, 2);
});

test("page text the editor shows has direction controls as markers (el, setText, status hint, JSON panel)", () => {
  assert.equal(el("span", { text: "a\u202eb" }).textContent, "a<U+202E>b");
  const status = el("div");
  setText(status, 'Not an editable layout (schema version "\u202e1", not 1).');
  assert.equal(status.textContent, 'Not an editable layout (schema version "<U+202E>1", not 1).');

  const panel = new BoxPanel(fakeEditor(boxLayout([{ phrase: "a dog", box: [0, 0, 8, 8] },
    { phrase: "exe\u202e.jpg", box: [0, 0, 8, 8] }, { phrase: "", box: [0, 0, 8, 8] }])), el("div"));
  assert.equal(panel.hint(), "Object 3 needs a phrase. Object 2: text-direction controls in the phrase reorder it " +
    "here; the canvas shows them as <U+…>.");

  const layoutText = JSON.stringify({ version: 1, width: 8, height: 8, objects: [{ phrase: "exe\u202e.jpg" }] });
  const json = new JsonPanel({ read: () => layoutText, apply: () => "Not a layout: \u202ebad.", onToggle() {} });
  json.open();
  assert.match(json.textarea.value, /"phrase": "exe\\u202e\.jpg"/); // the same JSON, shown in its own order
  assert.deepEqual(JSON.parse(json.textarea.value), JSON.parse(layoutText));
  [...json.element.all()].find((e) => e.textContent === "apply").dispatch("click");
  assert.equal(json.error.textContent, "Not a layout: <U+202E>bad.");
});
