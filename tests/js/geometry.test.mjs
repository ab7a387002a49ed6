// web/js/editor/geometry.js: the editors' coordinate math in model units (x, y in [0, 1]).
import assert from "node:assert/strict";
import { test } from "node:test";

import { LEFT_RIGHT_PAIRS, STANDING_PERSON } from "../../web/js/editor/constants.js";
import {
  boundsOf, clamp, distance, fitContain, handleAt, handlePositions, mirrorPoints, movePoints, moveRect, pointInRect,
  quantize, rectFromCorners, resizeRect,
} from "../../web/js/editor/geometry.js";

/** Equal within float noise, element by element for arrays (null stays null). */
function near(actual, expected, epsilon = 1e-9) {
  if (Array.isArray(expected)) {
    assert.equal(actual.length, expected.length, `${JSON.stringify(actual)} vs ${JSON.stringify(expected)}`);
    expected.forEach((value, i) => near(actual[i], value, epsilon));
  } else if (expected === null) {
    assert.equal(actual, null);
  } else {
    assert.ok(Math.abs(actual - expected) <= epsilon, `${actual} is not ${expected}`);
  }
}

test("quantize puts a coordinate on the grid of whole layout pixels", () => {
  assert.equal(quantize(0.3, 512, 8), 152 / 512); // 153.6 px -> 152
  assert.equal(quantize(0.123, 100, 1), 12 / 100);
  // 100 px is not a multiple of 8: 50 px rounds to 48, and the last step lies past the edge (the editor clamps).
  assert.equal(quantize(0.5, 100, 8), 48 / 100);
  assert.equal(quantize(1, 100, 8), 104 / 100);
  assert.equal(quantize(-0.07, 100, 8), -8 / 100); // distances may be negative
  assert.equal(quantize(0, 77, 8), 0);
});

test("clamp and distance", () => {
  assert.equal(clamp(-1, 0, 1), 0);
  assert.equal(clamp(2, 0, 1), 1);
  assert.equal(clamp(0.4, 0, 1), 0.4);
  assert.equal(distance([0, 0], [3, 4]), 5);
});

test("points in rects, rects from corners in any order, handle positions", () => {
  assert.ok(pointInRect([0.2, 0.4], [0.2, 0.2, 0.4, 0.4])); // edges count as inside
  assert.ok(!pointInRect([0.41, 0.3], [0.2, 0.2, 0.4, 0.4]));
  assert.deepEqual(rectFromCorners([0.5, 0.1], [0.2, 0.3]), [0.2, 0.1, 0.5, 0.3]);
  assert.deepEqual(handlePositions([0, 0, 1, 0.5]), { nw: [0, 0], n: [0.5, 0], ne: [1, 0], e: [1, 0.25],
    se: [1, 0.5], s: [0.5, 0.5], sw: [0, 0.5], w: [0, 0.25] });
});

test("handleAt finds the handle within the tolerance per axis, else null", () => {
  const rect = [0.2, 0.2, 0.4, 0.4];
  assert.equal(handleAt([0.41, 0.19], rect, [0.02, 0.02]), "ne");
  assert.equal(handleAt([0.3, 0.42], rect, [0.02, 0.02]), "s");
  assert.equal(handleAt([0.3, 0.3], rect, [0.02, 0.02]), null);
  assert.equal(handleAt([0.43, 0.2], rect, [0.02, 0.5]), null); // x is out of reach
});

test("moveRect keeps the size and stays inside the unit square", () => {
  near(moveRect([0.5, 0.5, 0.9, 0.7], 0.3, -0.6), [0.6, 0, 1, 0.2]);
  near(moveRect([0.1, 0.1, 0.2, 0.2], -0.05, 0.05), [0.05, 0.15, 0.15, 0.25]);
});

test("resizeRect moves the handle's edges, never past the minimum size or the canvas", () => {
  const rect = [0.2, 0.2, 0.4, 0.4];
  const min = [0.05, 0.05];
  near(resizeRect(rect, "nw", [0.5, 0.1], min), [0.35, 0.1, 0.4, 0.4]); // x0 stops min-width short of x1
  near(resizeRect(rect, "se", [1.4, 0.3], min), [0.2, 0.2, 1, 0.3]); // clamped to the canvas
  near(resizeRect(rect, "n", [0.9, 0.05], min), [0.2, 0.05, 0.4, 0.4]); // an edge handle moves one edge
  // Dragging an edge across the opposite one does not flip the rect: it stays min-size on its side.
  near(resizeRect(rect, "e", [0.1, 0.3], min), [0.2, 0.2, 0.25, 0.4]);
  near(resizeRect(rect, "w", [0.9, 0.3], min), [0.35, 0.2, 0.4, 0.4]);
  near(resizeRect(rect, "s", [0.3, 0], min), [0.2, 0.2, 0.4, 0.25]);
  near(resizeRect(rect, "sw", [-1, 2], min), [0, 0.2, 0.4, 1]);
});

test("boundsOf and movePoints skip hidden (null) points", () => {
  assert.deepEqual(boundsOf([[0.5, 0.2], null, [0.1, 0.6]]), [0.1, 0.2, 0.5, 0.6]);
  assert.equal(boundsOf([null, null]), null);
  const hidden = [null, null];
  assert.equal(movePoints(hidden, 0.1, 0.1), hidden);
  // The bounds stay inside the canvas: the move is cut short at the right edge, the shape kept.
  near(movePoints([[0.7, 0.2], null, [0.9, 0.4]], 0.3, -0.1), [[0.8, 0.1], null, [1, 0.3]]);
});

test("mirrorPoints reflects about the middle of the visible points and swaps the pairs", () => {
  const mirrored = mirrorPoints([[0.1, 0.5], [0.3, 0.6], null], [[0, 2]]);
  assert.equal(mirrored[0], null);
  near(mirrored.slice(1), [[0.1, 0.6], [0.3, 0.5]]);
  assert.deepEqual(mirrorPoints([null, null], [[0, 1]]), [null, null]);
});

test("the standing person is its own mirror image, and mirroring twice gives the pose back", () => {
  const standing = STANDING_PERSON.map(([x, y]) => [x / 512, y / 512]);
  near(mirrorPoints(standing, LEFT_RIGHT_PAIRS), standing);
  const leaning = standing.map(([x, y], i) => (i === 9 ? null : [x + y * 0.1, y]));
  const once = mirrorPoints(leaning, LEFT_RIGHT_PAIRS);
  assert.equal(once[10], null); // the hidden left wrist is now the right one
  const [left, , right] = boundsOf(leaning);
  near(once[9], [left + right - leaning[10][0], leaning[10][1]]); // the old right wrist, reflected
  near(mirrorPoints(once, LEFT_RIGHT_PAIRS), leaning);
});

test("fitContain centres the largest box of the aspect ratio", () => {
  assert.deepEqual(fitContain(400, 300, 2), { width: 400, height: 200, left: 0, top: 50 });
  assert.deepEqual(fitContain(400, 300, 0.5), { width: 150, height: 300, left: 125, top: 0 });
  assert.deepEqual(fitContain(100, 100, 1), { width: 100, height: 100, left: 0, top: 0 });
});
