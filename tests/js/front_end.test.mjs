// front_end.js in plain Node: each call takes the newer front end's API where the page has it (1.58.1)
// and the older one otherwise (1.32.9), and never both.
import assert from "node:assert/strict";
import { test } from "node:test";

import { collectsNodeMenuItems, inputConnected, recordGraphChange } from "../../web/js/editor/front_end.js";

test("a slot's link is read through node.isInputConnected where the node has it, else input.link", () => {
  const asked = [];
  const newer = { isInputConnected: (slot) => (asked.push(slot), slot === 1),
    inputs: [{ get link() { throw new Error("input.link read"); } }, {}] };
  assert.equal(inputConnected(newer, 0), false);
  assert.equal(inputConnected(newer, 1), true);
  assert.deepEqual(asked, [0, 1]);
  const older = { inputs: [{ link: null }, { link: 7 }] };
  assert.equal(inputConnected(older, 0), false);
  assert.equal(inputConnected(older, 1), true);
});

test("a graph change goes to captureCanvasState where the tracker has it, else to checkState", () => {
  const calls = [];
  const app = (tracker) => ({ extensionManager: { workflow: { activeWorkflow: { changeTracker: tracker } } } });
  recordGraphChange(app({ captureCanvasState: () => calls.push("capture"), checkState: () => calls.push("check") }));
  recordGraphChange(app({ checkState: () => calls.push("check") }));
  recordGraphChange(app(undefined));
  recordGraphChange({});
  assert.deepEqual(calls, ["capture", "check"]);
});

test("node menus come from getNodeMenuItems only on front ends that collect them", () => {
  assert.equal(collectsNodeMenuItems({ collectNodeMenuItems: () => [] }), true);
  assert.equal(collectsNodeMenuItems({}), false);
});
