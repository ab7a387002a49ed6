// web/js/editor/history.js: undo / redo over layout texts.
import assert from "node:assert/strict";
import { test } from "node:test";

import { History } from "../../web/js/editor/history.js";

test("typing into one field is one undo step; a new edit forgets the redo states", () => {
  const history = new History();
  history.reset("a");
  history.record("ab", "phrase:1");
  history.record("abc", "phrase:1");
  history.record("abcd", null);
  assert.deepEqual([history.undo(), history.undo(), history.undo()], ["abc", "a", null]);
  assert.equal(history.redo(), "abc");
  assert.ok(history.canRedo);
  history.record("x");
  assert.equal(history.canRedo, false);
  assert.equal(history.current, "x");
  assert.deepEqual([history.undo(), history.undo(), history.undo()], ["abc", "a", null]);
});

test("an undo ends a merge: the next record with the same key is a step of its own", () => {
  const history = new History();
  history.reset("a");
  history.record("ab", "phrase:1");
  history.undo();
  history.record("ac", "phrase:1");
  history.record("acd", "phrase:1");
  assert.equal(history.undo(), "a");
  assert.equal(history.undo(), null);
});

test("recording the current state changes nothing; redo at the newest state gives null", () => {
  const history = new History();
  history.reset("a");
  history.record("a");
  assert.equal(history.canUndo, false);
  assert.equal(history.redo(), null);
  assert.equal(history.current, "a");
});

test("the undo stack keeps the newest `limit` states; reset forgets everything", () => {
  const history = new History(2);
  history.reset("0");
  for (const state of ["1", "2", "3"]) history.record(state);
  assert.deepEqual([history.undo(), history.undo(), history.undo()], ["2", "1", null]);
  history.reset("z");
  assert.equal(history.canUndo || history.canRedo, false);
});
