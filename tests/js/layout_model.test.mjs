// web/js/editor/layout_model.js: the layout text (pixels) <-> the editors' model (normalized), and colours.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { MAX_CANVAS, PALETTE, STANDING_PERSON } from "../../web/js/editor/constants.js";
import {
  colorOf, emptyLayout, isHexColor, isLocked, newObject, newPerson, nextColor, parseLayout, pinColors, serializeLayout,
} from "../../web/js/editor/layout_model.js";

const FIXTURES = JSON.parse(readFileSync(new URL("./fixtures/canonical_layouts.json", import.meta.url), "utf8"));
const layoutText = (extra) => JSON.stringify({ version: 1, width: 8, height: 8, ...extra });
const errorOf = (text) => parseLayout(text).error;
/** parse, then serialize: what the editor writes for a widget text. */
const canonical = (text) => serializeLayout(parseLayout(text).layout);

test("an empty widget is an empty 512 x 512 layout", () => {
  for (const text of ["", "  \n"]) {
    const { layout } = parseLayout(text);
    assert.deepEqual([layout.width, layout.height, layout.objects, layout.persons], [512, 512, [], []]);
  }
  assert.equal(serializeLayout(emptyLayout()), '{"version":1,"width":512,"height":512}');
});

test("parseLayout names what is wrong", () => {
  assert.match(errorOf('{"version": 1, '), /^not valid JSON \(/);
  for (const text of ["3", "null", '"layout"']) assert.equal(errorOf(text), "not a JSON object");
  assert.equal(errorOf('{"version": 2, "width": 8, "height": 8}'), "schema version 2, not 1");
  assert.equal(errorOf('{"width": 8, "height": 8}'), "schema version undefined, not 1");
  const size = `width and height must be whole pixels from 1 to ${MAX_CANVAS}`;
  for (const [width, height] of [[0, 8], [8, MAX_CANVAS + 1], [8.5, 8], [true, 8], ["8", 8], [8, null]]) {
    assert.equal(errorOf(JSON.stringify({ version: 1, width, height })), size, `${width} x ${height}`);
  }
  assert.equal(errorOf(layoutText({ width: MAX_CANVAS, height: 1 })), undefined);
  assert.equal(errorOf(layoutText({ objects: {} })), "objects and persons must be lists");
  assert.equal(errorOf(layoutText({ persons: "none" })), "objects and persons must be lists");
  const object = 'object 2 is not {"phrase": ..., "box": [x0, y0, x1, y1]}';
  for (const bad of [{ box: [1, 2] }, { box: [0, 0, "1", 1] }, { box: "0 0 1 1" }, [1, 2, 3, 4], null]) {
    assert.equal(errorOf(layoutText({ objects: [{ phrase: "ok", box: [0, 0, 1, 1] }, bad] })), object);
  }
  const person = "person 1 does not have 17 keypoints [x, y] or null";
  for (const keypoints of [[[1, 1]], Array(18).fill(null), [...Array(16).fill(null), [1]],
    [...Array(16).fill(null), [1, "2"]], undefined]) {
    assert.equal(errorOf(layoutText({ persons: [{ keypoints }] })), person);
  }
});

test("OpenPose JSON is recognized and its people counted (the pose node converts it)", () => {
  assert.deepEqual(parseLayout('{"people": [{}, {}], "canvas_width": 512}'), { error: "OpenPose JSON", openpose: 2 });
  assert.deepEqual(parseLayout('[{"people": [{}]}, {"people": [{}, {}, {}]}]'),
    { error: "OpenPose JSON", openpose: 1 }); // a POSE_KEYPOINT list: its first frame
  assert.deepEqual(parseLayout('{"people": "none"}'), { error: "OpenPose JSON", openpose: 0 });
  assert.deepEqual(parseLayout("[]"), { error: "OpenPose JSON", openpose: 0 });
});

test("the model is normalized to the canvas; the text is pixels", () => {
  const { layout } = parseLayout(JSON.stringify({ version: 1, width: 512, height: 256,
    objects: [{ phrase: "a cat", box: [10, 20.5, 100, 200] }],
    persons: [{ keypoints: [[256, 128], ...Array(15).fill(null), [0, 256]] }] }));
  assert.deepEqual(layout.objects[0].box, [10 / 512, 20.5 / 256, 100 / 512, 200 / 256]);
  assert.deepEqual(layout.persons[0].keypoints[0], [0.5, 0.5]);
  assert.deepEqual(layout.persons[0].keypoints[16], [0, 1]);
  assert.equal(layout.persons[0].keypoints[1], null);
  assert.notEqual(layout.objects[0].key, layout.persons[0].key); // keys tell entries apart; never written
});

test("serializing writes whole pixels in schema key order, unknown keys kept last", () => {
  const { layout } = parseLayout('{"note": "mine", "objects": [{"x": 1, "box": [0, 0, 64, 64], "phrase": "kite",' +
    ' "locked": true, "color": "#00ff00"}], "height": 300, "width": 300, "version": 1}');
  // An edit in the editor: a third of the canvas is 100 px, written without float noise.
  layout.objects[0].box = [1 / 3, 0, 2 / 3, 0.5];
  assert.equal(serializeLayout(layout), '{"version":1,"width":300,"height":300,"objects":[{"phrase":"kite",' +
    '"box":[100,0,200,150],"color":"#00ff00","locked":true,"x":1}],"note":"mine"}');
  layout.objects[0].box = [0.1234567, 0, 1, 1];
  assert.equal(JSON.parse(serializeLayout(layout)).objects[0].box[0], 37.04); // at most two decimals
});

test("an image-only object stays without a phrase key until it gets one", () => {
  assert.equal(canonical(layoutText({ objects: [{ image: 0 }] })),
    '{"version":1,"width":8,"height":8,"objects":[{"image":0}]}');
  const { layout } = parseLayout(layoutText({ objects: [{ image: 0 }, { image: 1, phrase: "" }] }));
  assert.equal(serializeLayout(layout), '{"version":1,"width":8,"height":8,"objects":[{"image":0},' +
    '{"phrase":"","image":1}]}');
  layout.objects[0].phrase = "a dog";
  assert.match(serializeLayout(layout), /"objects":\[\{"phrase":"a dog","image":0\}/);
});

test("a list is written when it has entries or the text had it", () => {
  assert.equal(canonical(layoutText({ objects: [], persons: [] })),
    '{"version":1,"width":8,"height":8,"objects":[],"persons":[]}');
  const { layout } = parseLayout(layoutText({}));
  assert.equal(serializeLayout(layout), '{"version":1,"width":8,"height":8}');
  layout.lists.add("persons"); // what the pose editor does: its list is always written
  assert.equal(serializeLayout(layout), '{"version":1,"width":8,"height":8,"persons":[]}');
});

test("the fixture's canonical texts (also checked against Python's canonical_layout_json)", () => {
  assert.ok(FIXTURES.length >= 8);
  for (const { input, canonical: expected } of FIXTURES) {
    assert.equal(canonical(input), expected, input);
    assert.equal(canonical(expected), expected); // the canonical form is a fixed point
  }
});

test("colours: an entry's own, else the palette's by index", () => {
  assert.ok(isHexColor("#A0b1C2"));
  for (const bad of ["#abc", "red", "#12345g", null, 0x123456]) assert.ok(!isHexColor(bad), String(bad));
  assert.equal(colorOf({ color: "#123456" }, 0), "#123456");
  assert.equal(colorOf({ color: "blue" }, 1), PALETTE[1]);
  assert.equal(colorOf({}, 17), PALETTE[1]);
});

test("nextColor takes the first palette colour nobody is drawn in, and cycles when all are taken", () => {
  assert.equal(nextColor([]), PALETTE[0]);
  assert.equal(nextColor([{}, { color: PALETTE[2].toUpperCase() }]), PALETTE[1]); // entry 0 is drawn in PALETTE[0]
  assert.equal(nextColor([{ color: PALETTE[0] }, { color: "#000000" }]), PALETTE[1]);
  const all = PALETTE.map((color) => ({ color }));
  assert.equal(nextColor(all), PALETTE[0]);
  assert.equal(nextColor([...all, {}]), PALETTE[1]);
});

test("pinColors gives entries without a colour of their own their index colour for good", () => {
  const entries = [{}, { color: "#abcdef" }, { color: "none" }];
  pinColors(entries);
  assert.deepEqual(entries.map((e) => e.color), [PALETTE[0], "#abcdef", PALETTE[2]]);
  entries.shift(); // deleting the first entry repaints nobody
  assert.deepEqual(entries.map((e, i) => colorOf(e, i)), ["#abcdef", PALETTE[2]]);
});

test("newObject: an empty phrase, the given box and the next free colour", () => {
  const { key, ...object } = newObject([{}], [0.1, 0.1, 0.2, 0.2]);
  assert.deepEqual(object, { phrase: "", box: [0.1, 0.1, 0.2, 0.2], color: PALETTE[1] });
  assert.notEqual(newObject([], [0, 0, 1, 1]).key, key);
});

test("newPerson: the standing person, moved to centreX and kept inside the canvas", () => {
  const centred = newPerson([]);
  assert.deepEqual(centred.keypoints, STANDING_PERSON.map(([x, y]) => [x / 512, y / 512]));
  assert.equal(centred.color, PALETTE[0]);
  const right = newPerson([centred], 0.75);
  assert.deepEqual(right.keypoints[0], [384 / 512, 96 / 512]);
  assert.equal(right.color, PALETTE[1]);
  const edge = newPerson([], 0.95); // the right-hand joints would lie past the edge: clamped to it
  assert.equal(edge.keypoints[9][0], 1); // left wrist, 326 px + 0.45 of the canvas
  assert.equal(edge.keypoints[10][0], 186 / 512 + 0.45);
  assert.ok(newPerson([], -1).keypoints.every(([x, y], i) => x === 0 && y === STANDING_PERSON[i][1] / 512));
});

test("only \"locked\": true locks; other values stay in the text as they are (as a colour not #rrggbb does)", () => {
  assert.ok(isLocked({ locked: true }));
  for (const locked of ["yes", "true", 1, {}, [], false, null, undefined]) {
    assert.ok(!isLocked({ locked }), String(locked));
  }
  const text = layoutText({ objects: [{ phrase: "a", box: [0, 0, 8, 8], color: "red", locked: "yes" }] });
  assert.equal(canonical(text), '{"version":1,"width":8,"height":8,"objects":[{"phrase":"a","box":[0,0,8,8],' +
    '"color":"red","locked":"yes"}]}');
});

test("widget values and texts the editor refuses, each with a short message", () => {
  assert.equal(errorOf(null), "the widget holds null, not text");
  assert.equal(errorOf(undefined), "the widget holds undefined, not text");
  assert.equal(errorOf(512), "the widget holds a number, not text");
  assert.equal(errorOf({ version: 1 }), "the widget holds an object, not text");
  assert.equal(errorOf(" ".repeat(1_000_001)), "1,000,001 characters; a layout has at most 1,000,000");
  const deep = (depth) => layoutText({ objects: [{ phrase: "a", box: [0, 0, 8, 8], name: "N" }] })
    .replace('"N"', "[".repeat(depth - 3) + "]".repeat(depth - 3)); // the object's name is at depth 3
  assert.equal(errorOf(deep(100)), undefined);
  assert.equal(errorOf(deep(101)), "nested more than 100 levels deep");
  assert.equal(errorOf(layoutText({ name: "[[[[".repeat(40) })), undefined); // brackets in strings do not count
  assert.equal(errorOf(layoutText({ name: '\\"[['.repeat(60) })), undefined); // nor after an escaped quote
  assert.equal(errorOf(JSON.stringify({ version: "v".repeat(1000) })), `schema version "${"v".repeat(38)}…, not 1`);
  assert.match(errorOf(`{"phrase": "${"x".repeat(1000)}`), /^not valid JSON \(.{1,160}\)$/);
});

test("byte-order marks in front of the text are dropped, as the node does", () => {
  for (const lead of ["\ufeff", " \ufeff\n\ufeff"]) {
    assert.equal(canonical(`${lead}${layoutText({ objects: [] })}`), '{"version":1,"width":8,"height":8,"objects":[]}');
  }
  assert.match(errorOf(`{"version": 1,\ufeff "width": 8, "height": 8}`), /^not valid JSON/); // elsewhere: not JSON
});

test("coordinates more than 1e9 pixels off the canvas and lists far over the model's limits are refused", () => {
  const box = (x1) => layoutText({ objects: [{ phrase: "a", box: [0, 0, x1, 8] }] });
  assert.equal(errorOf(box(1e9)), undefined);
  assert.equal(errorOf(box(1e9 + 1)), "object 1 has a box more than 1,000,000,000 pixels off the canvas");
  assert.equal(errorOf(layoutText({ persons: [{ keypoints: [[-1e300, 0], ...Array(16).fill(null)] }] })),
    "person 1 has a keypoint more than 1,000,000,000 pixels off the canvas");
  const objects = (n) => layoutText({ objects: Array(n).fill({ phrase: "a", box: [0, 0, 8, 8] }) });
  assert.equal(errorOf(objects(300)), undefined); // a few too many for the node: deleted in the editor
  assert.equal(errorOf(objects(301)), "301 objects; GLIGEN takes at most 30");
  const persons = (n) => layoutText({ persons: Array(n).fill({ keypoints: [[1, 1], ...Array(16).fill(null)] }) });
  assert.equal(errorOf(persons(80)), undefined);
  assert.equal(errorOf(persons(81)), "81 persons; the keypoint model takes at most 8");
});

test("a \"__proto__\" key is kept like any other key (the node then names it)", () => {
  const text = '{"version":1,"width":8,"height":8,"objects":[{"phrase":"a","box":[0,0,8,8],"__proto__":[1]}],' +
    '"__proto__":{"objects":5}}';
  assert.equal(canonical(text), text);
});
