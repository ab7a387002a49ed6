// web/js/editor/layout_model.js on keyframed layouts (gligen_model/keyframes.py): today's editor loads them,
// keeps every keyframe when it writes the layout back, and scales their boxes and keypoints with the canvas.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { parseLayout, serializeLayout } from "../../web/js/editor/layout_model.js";

// Also read by tests/unit/test_keyframes.py, which checks the same canonical texts against Python.
const FIXTURES = JSON.parse(readFileSync(new URL("./fixtures/keyframed_layouts.json", import.meta.url), "utf8"));
const canonical = (text) => serializeLayout(parseLayout(text).layout);
const keypoints = (...points) => [...points, ...Array(17 - points.length).fill(null)];
const ball = {
  phrase: "a ball", box: [0, 0, 64, 64],
  keyframes: [{ frame: 4, box: [128, 64, 192, 128] }, { frame: 6, hidden: true }],
};
const layoutText = (entries) => JSON.stringify({ version: 1, width: 256, height: 128, ...entries });

test("the fixture's keyframed layouts are written as Python's canonical_layout_json writes them", () => {
  assert.ok(FIXTURES.length >= 3);
  for (const { input, canonical: expected } of FIXTURES) {
    assert.equal(parseLayout(input).error, undefined, input);
    assert.equal(canonical(input), expected, input);
    assert.equal(canonical(expected), expected); // a fixed point
  }
});

test("keyframe boxes and keypoints are normalized like the entry's own; frame and hidden are kept", () => {
  const person = { keypoints: keypoints([128, 64]), keyframes: [{ frame: 2, keypoints: keypoints([64, 32], null) }] };
  const { layout } = parseLayout(layoutText({ objects: [ball], persons: [person] }));
  assert.deepEqual(layout.objects[0].keyframes, [{ frame: 4, box: [0.5, 0.5, 0.75, 1] }, { frame: 6, hidden: true }]);
  assert.deepEqual(layout.persons[0].keyframes[0].keypoints.slice(0, 2), [[0.25, 0.25], null]);
  assert.equal(layout.persons[0].keyframes[0].frame, 2);
});

test("editing an entry leaves its keyframes as they were", () => {
  const { layout } = parseLayout(layoutText({ objects: [ball] }));
  layout.objects[0].box = [0.25, 0, 0.5, 0.5]; // the user drags the object: its frame 0
  layout.objects[0].phrase = "a red ball";
  const written = JSON.parse(serializeLayout(layout)).objects[0];
  assert.deepEqual(written.box, [64, 0, 128, 64]);
  assert.deepEqual(written.keyframes, ball.keyframes);
});

test("a resized canvas scales the keyframes with the entry, so they stay where they were drawn", () => {
  const person = { keypoints: keypoints([128, 64]), keyframes: [{ frame: 3, keypoints: keypoints([64, 32]) }] };
  const { layout } = parseLayout(layoutText({ objects: [ball], persons: [person] }));
  layout.width *= 2; // what the editor's width field does: the model is normalized, the text is pixels
  const written = JSON.parse(serializeLayout(layout));
  assert.deepEqual(written.objects[0].box, [0, 0, 128, 64]);
  assert.deepEqual(written.objects[0].keyframes[0].box, [256, 64, 384, 128]);
  assert.deepEqual(written.persons[0].keyframes[0].keypoints[0], [128, 32]);
});

test("layouts without keyframes are written as before (no keyframes key appears)", () => {
  const text = '{"version":1,"width":8,"height":8,"objects":[{"phrase":"a","box":[0,0,8,8]}],' +
    '"persons":[{"keypoints":[[1,1],null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null]}]}';
  assert.equal(canonical(text), text);
  assert.equal(canonical(layoutText({ objects: [{ ...ball, keyframes: [] }] })).includes('"keyframes":[]'), true);
  assert.equal(canonical(layoutText({ objects: [{ ...ball, keyframes: null }] })).includes('"keyframes":null'), true);
});

test("keyframes the editor cannot read get a short error, not an exception", () => {
  const errorOf = (entries) => parseLayout(layoutText(entries)).error;
  const object = (keyframes) => ({ objects: [{ phrase: "a", box: [0, 0, 8, 8], keyframes }] });
  assert.equal(errorOf(object({ frame: 4 })), 'object 1 has "keyframes" that are not a list');
  const notKeyframe = 'object 1 keyframe 2 is not {"frame": ..., "box": ...} or {"frame": ..., "hidden": true}';
  for (const bad of [null, [1, 2], "box", { frame: 4, box: [0, 0, 8] }, { frame: 4, box: [0, 0, "8", 8] }]) {
    assert.equal(errorOf(object([{ frame: 1, box: [0, 0, 8, 8] }, bad])), notKeyframe, JSON.stringify(bad));
  }
  assert.match(errorOf(object([{ frame: 1, box: [0, 0, 8, 1e12] }])), /^object 1 keyframe 1 has a box more than/);
  const person = { keypoints: keypoints([1, 1]), keyframes: [{ frame: 1, keypoints: [[1, 1]] }] };
  assert.equal(errorOf({ persons: [person] }),
    'person 1 keyframe 1 is not {"frame": ..., "keypoints": ...} or {"frame": ..., "hidden": true}');
  // What the node checks (frame order, hidden with a box, unknown keys) the editor keeps as written.
  const unchecked = object([{ frame: 9, box: [0, 0, 8, 8], hidden: true }, { frame: 2, spin: 1 }]);
  assert.equal(errorOf(unchecked), undefined);
  assert.deepEqual(JSON.parse(canonical(layoutText(unchecked))).objects[0].keyframes,
    [{ frame: 9, box: [0, 0, 8, 8], hidden: true }, { frame: 2, spin: 1 }]);
});
