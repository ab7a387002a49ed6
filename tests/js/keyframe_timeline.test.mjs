// The editors' keyframes (web/js/editor/keyframes.js) and timeline (timeline.js), in plain Node: the port of
// gligen_model/keyframes.py's value at a frame against what Python grounds, auto-key from canvas drags,
// adding / removing / hiding keyframes, the onion skin, mirroring a keyed person, and the timeline's length.
//
// fixtures/keyframe_values.json comes from Python: `.venv/bin/python tests/js/fixtures/make_keyframe_values.py`
// writes each case's layout and, per frame, every entry's normalized box (joints) as
// gligen_model.keyframes.layouts_for_frames grounds it (null where it is hidden). Rerun it when the rules change.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { BoxTool } from "../../web/js/editor/box_tool.js";
import { addKeyframe, hideFrom, jointGaps, markers, MAX_FRAMES, MAX_KEYFRAMES, neighbours, removeKeyframe, setValueAt,
  valueAt } from "../../web/js/editor/keyframes.js";
import { el } from "../../web/js/editor/dom.js";
import { parseLayout, serializeLayout } from "../../web/js/editor/layout_model.js";
import { PosePanel } from "../../web/js/editor/pose_panel.js";
import { PoseTool } from "../../web/js/editor/pose_tool.js";
import { Timeline } from "../../web/js/editor/timeline.js";
import { fakeContext, fakeEditor, fakeView } from "./support/canvas.mjs";
import { install } from "./support/dom.mjs";

install();

const FIXTURE = JSON.parse(readFileSync(new URL("./fixtures/keyframe_values.json", import.meta.url), "utf8"));
const PYTHON = fileURLToPath(new URL("../../.venv/bin/python", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const written = []; // layout texts the edits below wrote: the Python parser must take every one

const keypoints = (...points) => [...points, ...Array(17 - points.length).fill(null)];
const parse = (data) => parseLayout(JSON.stringify({ version: 1, width: 512, height: 512, ...data })).layout;
const serialize = (layout) => {
  const text = serializeLayout(layout);
  written.push(text);
  return JSON.parse(text);
};
const close = (actual, expected, what) => {
  if (expected === null) return assert.equal(actual, null, what);
  assert.equal(actual.length, expected.length, what);
  expected.forEach((value, i) => {
    if (Array.isArray(value) || value === null) close(actual[i], value, `${what}[${i}]`);
    else assert.ok(Math.abs(actual[i] - value) < 1e-12, `${what}[${i}]: ${actual[i]} != ${value}`);
  });
};
/** A drag of `tool` from `start` to `end` (model points), as canvas.js runs it. */
const drag = (tool, start, end) => {
  const gesture = tool.pointerDown(start, {});
  gesture.move(end);
  gesture.end(end);
};

test("values at every frame are those Python grounds (layouts_for_frames), hidden frames null", () => {
  assert.equal(MAX_FRAMES, FIXTURE.max_frames);
  assert.equal(MAX_KEYFRAMES, FIXTURE.max_keyframes);
  assert.ok(FIXTURE.cases.length >= 2);
  for (const { what, frames, layout: text, values } of FIXTURE.cases) {
    const { layout } = parseLayout(text);
    assert.equal(values.length, frames);
    values.forEach(({ objects, persons }, frame) => {
      objects.forEach((box, i) =>
        close(valueAt(layout.objects[i], "box", frame), box, `${what}: object ${i}, frame ${frame}`));
      persons.forEach((joints, i) =>
        close(valueAt(layout.persons[i], "keypoints", frame), joints, `${what}: person ${i}, frame ${frame}`));
    });
  }
});

test("a drag at frame 15 keys frame 15 (the own box stays); again there updates it; at frame 0 the own box", () => {
  const layout = parse({ objects: [{ phrase: "a ball", box: [0, 0, 128, 128] }] });
  const editor = fakeEditor(layout);
  const tool = new BoxTool(editor);
  const ball = layout.objects[0];
  editor.frame = 15;
  drag(tool, [0.1, 0.1], [0.6, 0.35]); // moved by (256, 128) pixels
  assert.deepEqual(serialize(layout).objects[0], { phrase: "a ball", box: [0, 0, 128, 128],
    keyframes: [{ frame: 15, box: [256, 128, 384, 256] }] });
  assert.equal(editor.changes, 1);
  editor.frame = 7; // halfway-ish: 7 / 15 of the way
  close(valueAt(ball, "box", 7), [7 / 15 * 0.5, 7 / 15 * 0.25, 0.25 + 7 / 15 * 0.5, 0.25 + 7 / 15 * 0.25], "frame 7");
  editor.frame = 15;
  drag(tool, [0.6, 0.3], [0.6, 0.55]); // down by 128
  assert.deepEqual(serialize(layout).objects[0].keyframes, [{ frame: 15, box: [256, 256, 384, 384] }]);
  editor.frame = 0;
  drag(tool, [0.1, 0.1], [0.2, 0.1]);
  assert.deepEqual(serialize(layout).objects[0], { phrase: "a ball", box: [51.2, 0, 179.2, 128],
    keyframes: [{ frame: 15, box: [256, 256, 384, 384] }] });
  // A click that selects (no move that changes the box) makes no keyframe.
  editor.frame = 9;
  const click = tool.pointerDown([0.45, 0.4], {});
  click.move([0.45, 0.4]);
  click.end([0.45, 0.4]);
  assert.equal(ball.keyframes.length, 1);
  assert.equal(editor.changes, 3);
  // A nudge at frame 9 keys it between the other two.
  editor.select(ball.key);
  assert.equal(tool.nudge(8, 0), true);
  assert.deepEqual(serialize(layout).objects[0].keyframes.map((k) => k.frame), [9, 15]);
});

test("a cancelled drag at a new frame leaves no keyframe", () => {
  const layout = parse({ objects: [{ phrase: "a ball", box: [0, 0, 128, 128] }] });
  const editor = fakeEditor(layout);
  editor.frame = 4;
  const gesture = new BoxTool(editor).pointerDown([0.1, 0.1], {});
  gesture.move([0.5, 0.5]);
  assert.equal(layout.objects[0].keyframes.length, 1);
  gesture.cancel();
  assert.equal("keyframes" in layout.objects[0], false);
  assert.equal(editor.changes, 0);
});

test("remove: a keyframe goes, frame 0's own value cannot, a hidden-at-0 keyframe can", () => {
  const layout = parse({ objects: [{ phrase: "a ball", box: [0, 0, 64, 64],
    keyframes: [{ frame: 0, hidden: true }, { frame: 5, box: [64, 64, 128, 128] }] }] });
  const ball = layout.objects[0];
  assert.equal(valueAt(ball, "box", 0), null);
  assert.equal(removeKeyframe(ball, 3), false);
  assert.equal(removeKeyframe(ball, 5), true);
  assert.deepEqual(serialize(layout).objects[0].keyframes, [{ frame: 0, hidden: true }]);
  assert.equal(removeKeyframe(ball, 0), true); // the hiding keyframe; the own box is shown again
  assert.deepEqual(serialize(layout).objects[0], { phrase: "a ball", box: [0, 0, 64, 64] }); // no "keyframes" key
  assert.equal(removeKeyframe(ball, 0), false); // the own box is no listed keyframe
});

test("hide from here, and add a keyframe where the entry is hidden: shown again with the value it last had", () => {
  const layout = parse({ objects: [{ phrase: "a ball", box: [0, 0, 64, 64],
    keyframes: [{ frame: 8, box: [256, 0, 320, 64] }] }] });
  const ball = layout.objects[0];
  assert.equal(hideFrom(ball, 12), true);
  assert.deepEqual(serialize(layout).objects[0].keyframes, [{ frame: 8, box: [256, 0, 320, 64] },
    { frame: 12, hidden: true }]);
  assert.equal(valueAt(ball, "box", 13), null);
  close(valueAt(ball, "box", 10), [0.5, 0, 0.625, 0.125], "held up to the hidden keyframe");
  assert.equal(addKeyframe(ball, "box", 14), true);
  assert.deepEqual(serialize(layout).objects[0].keyframes.at(-1), { frame: 14, box: [256, 0, 320, 64] });
  assert.equal(addKeyframe(ball, "box", 14), false); // already one there
  assert.equal(addKeyframe(ball, "box", 0), false); // frame 0 is the own box
  // An in-between keyframe holds the interpolated box; hiding frame 0 and keying it shows the entry again.
  assert.equal(addKeyframe(ball, "box", 4), true);
  assert.deepEqual(ball.keyframes[0], { frame: 4, box: [0.25, 0, 0.375, 0.125] });
  assert.equal(hideFrom(ball, 0), true);
  assert.deepEqual(ball.keyframes[0], { frame: 0, hidden: true });
  assert.equal(addKeyframe(ball, "box", 0), true); // shown at frame 0 where it next appears
  assert.deepEqual(markers(ball, "box").map((m) => m.frame), [0, 4, 8, 12, 14]);
  assert.deepEqual(serialize(layout).objects[0].box, [128, 0, 192, 64]);
  // setValueAt at a hidden keyframe makes it a valued one; other keys of that keyframe are kept.
  ball.keyframes[2] = { ...ball.keyframes[2], note: "kept" };
  setValueAt(ball, "box", 12, [0, 0, 0.5, 0.5]);
  assert.deepEqual(ball.keyframes[2], { frame: 12, box: [0, 0, 0.5, 0.5], note: "kept" });
});

test("a keyframe past the 256th is refused with a warning; existing ones can still change", () => {
  const keyframes = Array.from({ length: MAX_KEYFRAMES }, (_, i) => ({ frame: i + 1, box: [0, 0, 8, 8] }));
  const layout = parse({ objects: [{ phrase: "a", box: [0, 0, 8, 8], keyframes }] });
  const editor = fakeEditor(layout);
  let warning = "";
  editor.warn = (message) => (warning = message);
  const tool = new BoxTool(editor);
  editor.frame = 300;
  assert.equal(tool.setValue(layout.objects[0], [0, 0, 0.5, 0.5]), false);
  assert.match(warning, /at most 256 keyframes/);
  assert.equal(addKeyframe(layout.objects[0], "box", 300), false);
  editor.frame = 5;
  assert.equal(tool.setValue(layout.objects[0], [0, 0, 0.5, 0.5]), true);
  // hiding it at frame 0 would list a 257th keyframe (frame 0's own box is none of the 256)
  assert.equal(hideFrom(layout.objects[0], 0), false);
  assert.equal(layout.objects[0].keyframes.length, MAX_KEYFRAMES);
  assert.equal(hideFrom(layout.objects[0], 5), true); // one listed there already: it becomes the hidden one
  assert.equal(layout.objects[0].keyframes.length, MAX_KEYFRAMES);
});

test("the canvas draws each entry at the frame, leaves hidden ones out, and the onion skin of the selected one", () => {
  const layout = parse({ objects: [
    { phrase: "a ball", box: [0, 0, 64, 64], keyframes: [{ frame: 4, box: [64, 0, 128, 64] },
      { frame: 10, box: [256, 0, 320, 64] }] },
    { phrase: "a dog", box: [0, 256, 64, 320], keyframes: [{ frame: 6, hidden: true }] }] });
  const editor = fakeEditor(layout);
  const tool = new BoxTool(editor);
  const texts = (frame) => {
    editor.frame = frame;
    const ctx = fakeContext();
    tool.draw(ctx, fakeView());
    return ctx.texts;
  };
  assert.deepEqual(texts(5), ["1 a ball", "2 a dog"]);
  assert.deepEqual(texts(6), ["1 a ball"]); // the dog is hidden from frame 6
  assert.equal(tool.objectAt([0.05, 0.55]), null); // and cannot be picked there
  editor.select(layout.objects[0].key);
  assert.deepEqual(texts(5), ["4", "10", "1 a ball", "2 a dog"]); // the keyframes before and after, first
  assert.deepEqual(texts(4), ["0", "10", "1 a ball", "2 a dog"]); // on a keyframe: its neighbours
  assert.deepEqual(texts(12), ["10", "1 a ball"]);
  assert.deepEqual(neighbours(layout.objects[1], "box", 7), { previous: { frame: 0, value: [0, 0.5, 0.125, 0.625] },
    next: null });
});

test("mirroring a keyed person mirrors its own pose and every keyframe, each about its middle", () => {
  const own = keypoints([100, 100], [110, 90], [90, 92]);
  const layout = parse({ persons: [{ keypoints: own, keyframes: [
    { frame: 4, keypoints: keypoints([300, 100], [330, 90], [310, 90]) }, { frame: 8, hidden: true }] }] });
  const editor = fakeEditor(layout);
  const tool = new PoseTool(editor);
  editor.select(layout.persons[0].key);
  editor.frame = 6;
  tool.mirror();
  const person = serialize(layout).persons[0];
  // Eyes (1, 2) swap sides: left stays left of the person.
  assert.deepEqual(person.keypoints.slice(0, 3), [[100, 100], [110, 92], [90, 90]]);
  assert.deepEqual(person.keyframes, [{ frame: 4, keypoints: keypoints([330, 100], [320, 90], [300, 90]) },
    { frame: 8, hidden: true }]);
  assert.equal(editor.changes, 1);
});

test("joints moved at a frame key that frame; keyframes the node refuses are named in the pose list's hint", () => {
  const layout = parse({ persons: [{ keypoints: keypoints([100, 100], [120, 100]),
    keyframes: [{ frame: 10, keypoints: keypoints([200, 100], [220, 100]) }] }] });
  const editor = fakeEditor(layout);
  const tool = new PoseTool(editor);
  editor.frame = 5;
  drag(tool, [150 / 512, 100 / 512], [160 / 512, 200 / 512]); // the nose, halfway at frame 5
  const person = serialize(layout).persons[0];
  assert.deepEqual(person.keypoints.slice(0, 2), [[100, 100], [120, 100]]);
  assert.deepEqual(person.keyframes.map((k) => [k.frame, k.keypoints.slice(0, 2)]),
    [[5, [[160, 200], [170, 100]]], [10, [[200, 100], [220, 100]]]]);
  // Hiding at frame 10 every joint frame 5 shows leaves the two with no shared joint: the node refuses that.
  editor.frame = 10;
  editor.select(layout.persons[0].key);
  tool.setJointVisible(layout.persons[0], 0, false);
  assert.deepEqual(jointGaps(layout.persons[0]), []);
  const normalized = (points) => points.map((p) => p && [p[0] / 512, p[1] / 512]);
  setValueAt(layout.persons[0], "keypoints", 10, normalized(keypoints(null, null, [50, 50])));
  assert.deepEqual(jointGaps(layout.persons[0]), [[5, 10]]);
  setValueAt(layout.persons[0], "keypoints", 11, keypoints()); // next to frame 10: no frames between
  assert.equal(new PosePanel(editor, el("div")).hint(), "Person 1: the keyframe at frame 11 has no visible joint " +
    "(the node refuses that); show one, or hide the person there. Person 1: the keyframes at frames 5 and 10 share " +
    "no visible joint (the node refuses that); show one joint in both.");
});

/** A timeline on a fake editor: `frames` the node's widget value, `runFrames` its last run's; the editor counts
 * frame changes and edits. */
function timelineOn(layout, Tool, frames = 0, runFrames = 0) {
  const editor = { ...fakeEditor(layout), frameChanges: 0, frameChanged() { this.frameChanges++; } };
  editor.tool = new Tool(editor);
  const timeline = new Timeline(editor, () => frames, () => runFrames);
  Object.defineProperty(editor, "frame", { get: () => timeline.frame });
  editor.changed = function () {
    this.changes++;
    timeline.refresh();
  };
  timeline.refresh();
  return { editor, timeline };
}

const buttonOf = (timeline, className) =>
  [...timeline.element.all()].find((e) => (e.className ?? "").includes(className));
const markerFrames = (timeline) => timeline.markers.children.map((m) => Number(m.dataset.frame));

test("the timeline: hidden for a static layout; spans the frames widget, at least to the last keyframe", () => {
  const still = parse({ objects: [{ phrase: "a", box: [0, 0, 64, 64] }] });
  assert.equal(timelineOn(still, BoxTool).timeline.element.hidden, true);
  assert.equal(timelineOn(still, BoxTool, 1).timeline.element.hidden, true);
  const { timeline } = timelineOn(still, BoxTool, 16);
  assert.equal(timeline.element.hidden, false);
  assert.equal(timeline.slider.max, "15");
  const keyed = parse({ objects: [{ phrase: "a", box: [0, 0, 64, 64], keyframes: [{ frame: 9, hidden: true }] }] });
  const derived = timelineOn(keyed, BoxTool).timeline;
  assert.equal(derived.element.hidden, false);
  assert.equal(derived.count, 10);
  const short = timelineOn(keyed, BoxTool, 4).timeline;
  assert.equal(short.count, 10); // the keyframe stays reachable, and the status line says the node refuses it
  assert.match(short.hint(), /frame 9 is past the node's frames \(4: 0 to 3\)/);
  derived.setFrame(99);
  assert.equal(derived.frame, 9); // clamped
  // frames 0 and a run of a latent's 16 frames: the timeline spans those, the widget still wins when set
  assert.equal(timelineOn(still, BoxTool, 0, 16).timeline.count, 16);
  assert.equal(timelineOn(still, BoxTool, 4, 16).timeline.count, 4);
  const overLatent = timelineOn(keyed, BoxTool, 0, 8).timeline;
  assert.match(overLatent.hint(), /frame 9 is past the latent's frames in the last run \(8: 0 to 7\)/);
});

test("the timeline keys, removes and hides the selected entry at its frame; markers jump to their frame", () => {
  const layout = parse({ objects: [{ phrase: "a", box: [0, 0, 64, 64] }, { phrase: "b", box: [64, 0, 128, 64],
    keyframes: [{ frame: 3, box: [64, 64, 128, 128] }] }] });
  const { editor, timeline } = timelineOn(layout, BoxTool, 16);
  const [add, remove, hide] = ["gligen-key-add", "gligen-key-remove", "gligen-key-hide"]
    .map((c) => buttonOf(timeline, c));
  assert.deepEqual(markerFrames(timeline), [0, 3]); // nothing selected: every entry's keyframes
  assert.equal(add.disabled, true);
  editor.select(layout.objects[0].key);
  timeline.refresh();
  assert.deepEqual(markerFrames(timeline), []);
  timeline.setFrame(12);
  timeline.refresh();
  assert.equal(editor.frameChanges, 1);
  assert.deepEqual([add.disabled, remove.disabled, hide.disabled], [false, true, false]);
  add.dispatch("click");
  assert.deepEqual(markerFrames(timeline), [0, 12]);
  assert.deepEqual([add.disabled, remove.disabled], [true, false]);
  timeline.setFrame(14);
  timeline.refresh();
  hide.dispatch("click");
  assert.deepEqual(serialize(layout).objects[0].keyframes, [{ frame: 12, box: [0, 0, 64, 64] },
    { frame: 14, hidden: true }]);
  timeline.markers.children[1].dispatch("click"); // the marker at frame 12
  timeline.refresh();
  assert.equal(timeline.frame, 12);
  remove.dispatch("click");
  assert.deepEqual(serialize(layout).objects[0].keyframes, [{ frame: 14, hidden: true }]);
  timeline.setFrame(0);
  timeline.refresh();
  assert.equal(remove.disabled, true); // frame 0 is the own box
  assert.equal(editor.changes, 3);
  // Keys: , and . step, Shift to the keyframes, K keys the frame.
  const key = (k, shiftKey = false) => timeline.keyDown({ key: k, shiftKey });
  assert.equal(key("."), true);
  timeline.refresh();
  assert.equal(timeline.frame, 1);
  key(">");
  timeline.refresh();
  assert.equal(timeline.frame, 14);
  key("<");
  timeline.refresh();
  assert.equal(timeline.frame, 0);
  key(".");
  timeline.refresh();
  key("k");
  assert.deepEqual(markerFrames(timeline), [0, 1, 14]);
  assert.equal(key("x"), false);
});

test("a locked entry or an image-only object is not keyed from the timeline", () => {
  const layout = parse({ objects: [{ phrase: "a", box: [0, 0, 64, 64], locked: true }, { image: 0 }] });
  const { editor, timeline } = timelineOn(layout, BoxTool, 8);
  timeline.setFrame(4);
  for (const object of layout.objects) {
    editor.select(object.key);
    timeline.refresh();
    assert.equal(buttonOf(timeline, "gligen-key-add").disabled, true);
    assert.equal(buttonOf(timeline, "gligen-key-hide").disabled, true);
  }
});

test("every layout the edits above wrote is accepted by the Python parser", { skip: !existsSync(PYTHON) && "no .venv" },
  () => {
    assert.ok(written.length > 10);
    const script = "import json, sys\nfrom devkit.pack import import_pack\nimport_pack()\n" +
      "from gligen_suite.gligen_model import parse_layout\n" +
      "for text in json.load(sys.stdin):\n    parse_layout(text)\nprint('ok')";
    const out = execFileSync(PYTHON, ["-c", script], { cwd: ROOT, input: JSON.stringify(written), encoding: "utf8" });
    assert.equal(out.trim(), "ok");
  });
