// web/js/editor/background_frames.js: which image a video background shows at each frame, loaded once.
import assert from "node:assert/strict";
import { test } from "node:test";

import { BackgroundFrames, readFrameRefs } from "../../web/js/editor/background_frames.js";

/** An <img> stand-in: loads when told to (load()), counts how often its src was set. */
class FakeImage {
  static made = [];

  constructor() {
    this.complete = false;
    this.naturalWidth = 0;
    this.onload = null;
    FakeImage.made.push(this);
  }

  load() {
    this.complete = true;
    this.naturalWidth = 64;
    this.onload?.();
  }
}

const refs = (count) => Array.from({ length: count }, (_, i) => ({ filename: `frame_${i}.png`, subfolder: "",
  type: "temp" }));

test("frame refs need two or more frames, each with a file name", () => {
  assert.equal(readFrameRefs(null), null);
  assert.equal(readFrameRefs(refs(1)), null);
  assert.equal(readFrameRefs([{ filename: "a.png" }, { name: "b.png" }]), null);
  assert.deepEqual(readFrameRefs([{ filename: "a.png" }, { filename: "b.png", subfolder: 3 }]),
    [{ filename: "a.png", subfolder: "", type: "temp" }, { filename: "b.png", subfolder: "3", type: "temp" }]);
});

test("each frame past 0 shows its own image once loaded, loaded once; frame 0 is the main background", () => {
  globalThis.Image = FakeImage;
  FakeImage.made = [];
  const frames = new BackgroundFrames((ref) => `/view?filename=${ref.filename}`);
  frames.set(readFrameRefs(refs(4)));
  assert.equal(frames.has(0), false);
  assert.equal(frames.has(3), true);
  assert.equal(frames.has(4), false);
  const ready = [];
  assert.equal(frames.image(2, (image) => ready.push(image)), null); // still loading
  assert.equal(FakeImage.made.length, 1);
  assert.equal(FakeImage.made[0].src, "/view?filename=frame_2.png");
  FakeImage.made[0].load();
  assert.deepEqual(ready, [FakeImage.made[0]]);
  assert.equal(frames.image(2, () => assert.fail("loaded already")), FakeImage.made[0]);
  assert.equal(FakeImage.made.length, 1); // not fetched again
  // the same frames named again keep their images; other frames drop them (their src is cleared)
  frames.set(readFrameRefs(refs(4)));
  assert.equal(frames.image(2, () => {}), FakeImage.made[0]);
  frames.set(readFrameRefs(refs(3)));
  assert.equal(FakeImage.made[0].src, "");
  assert.equal(frames.image(2, () => {}), null);
  assert.equal(FakeImage.made.length, 2);
  frames.set(null);
  assert.equal(frames.has(1), false);
  delete globalThis.Image;
});
