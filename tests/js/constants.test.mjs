// web/js/editor/constants.js: the constants shared with Python, readable by plain Node.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import * as constants from "../../web/js/editor/constants.js";

const PATH = fileURLToPath(new URL("../../web/js/editor/constants.js", import.meta.url));
const NAMES = ["BACKGROUND_FRAMES_KEY", "BACKGROUND_KEY", "BIDI_CONTROLS", "FRAMES_KEY", "GRID", "JOINT_NAMES",
  "LAYOUT_EVENT", "LAYOUT_VERSION", "LEFT_RIGHT_PAIRS", "MAX_CANVAS", "MAX_LAYOUT_CHARS", "MAX_OBJECTS", "MAX_PERSONS", "MAX_STRENGTH", "OBJECT_ORDER",
  "PALETTE", "PERSON_ORDER", "SKELETON", "STANDING_PERSON", "TOP_ORDER"];

test("the module is plain literals that `node -e` prints as JSON (how the Python test reads it)", () => {
  assert.doesNotMatch(readFileSync(PATH, "utf8"), /^\s*import\b/m);
  const printed = execFileSync(process.execPath, ["--input-type=module", "-e",
    `import * as c from ${JSON.stringify(PATH)}; console.log(JSON.stringify(c))`], { encoding: "utf8" });
  const values = JSON.parse(printed);
  assert.deepEqual(Object.keys(values).sort(), NAMES);
  assert.deepEqual(values, JSON.parse(JSON.stringify(constants)));
});

test("the constants agree with each other", () => {
  const { JOINT_NAMES, LEFT_RIGHT_PAIRS, PALETTE, SKELETON, STANDING_PERSON } = constants;
  assert.equal(JOINT_NAMES.length, 17);
  assert.equal(SKELETON.length, 19);
  assert.ok(SKELETON.flat().every((joint) => Number.isInteger(joint) && joint >= 0 && joint < 17));
  for (const [left, right] of LEFT_RIGHT_PAIRS) {
    assert.equal(JOINT_NAMES[left].replace("left ", "right "), JOINT_NAMES[right]);
  }
  assert.equal(PALETTE.length, 16);
  assert.equal(new Set(PALETTE).size, 16);
  assert.ok(PALETTE.every((color) => /^#[0-9a-f]{6}$/.test(color)));
  assert.equal(STANDING_PERSON.length, 17);
  assert.ok(STANDING_PERSON.flat().every((v) => Number.isInteger(v) && v >= 0 && v <= 512));
  assert.deepEqual(constants.TOP_ORDER.slice(0, 3), ["version", "width", "height"]);
  assert.equal(constants.MAX_CANVAS % constants.GRID, 0);
});
