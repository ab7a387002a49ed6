// The editors' timeline, under the canvas: the frame the canvas shows (a slider and a number field), the
// selected entry's keyframes as markers on the slider (click one to go there; with nothing selected, every
// entry's, dimmed), and buttons that add a keyframe at this frame, remove the one here, or hide the entry
// from here. Dragging on the canvas at a frame past 0 keys that frame by itself (tool.js: setValue).
//
// It spans the node's `frames` widget (when > 0; a node without one counts as 0; at 0, the frames of the
// node's last run, e.g. a connected latent's batch size), and at least up to the last keyframe; it is hidden for a layout without keyframes on fewer than two frames, so a static layout
// looks as it always did. Its height never depends on the selection (markers sit over the slider), so a
// selection at pointer-down does not move the canvas.

import { button, el, numberInput, setText } from "./dom.js";
import { clamp } from "./geometry.js";
import { addKeyframe, canKey, hasKeyframes, hasRoomAt, hideFrom, isKeyframe, keyframeAt, lastKeyframe, markers,
  MAX_FRAMES, removeKeyframe, valueAt } from "./keyframes.js";
import { isLocked } from "./layout_model.js";

/** A frame count as a whole number from 0 to MAX_FRAMES (anything else: 0). */
function wholeFrames(value) {
  const frames = Math.round(Number(value));
  return Number.isFinite(frames) && frames > 0 ? Math.min(frames, MAX_FRAMES) : 0;
}

export class Timeline {
  /**
   * @param {object} editor  the LayoutEditor
   * @param {() => number} frames  the node's `frames` widget value (0 without one)
   * @param {() => number} [runFrames]  the frames the node's last run grounded (0: a static run)
   */
  constructor(editor, frames, runFrames = () => 0) {
    this.editor = editor;
    this.frames = frames;
    this.runFrames = runFrames;
    this.frame = 0;
    this.count = 1; // frames 0 .. count - 1
    this.slider = el("input", { type: "range", className: "gligen-frame-slider", min: 0, max: 0, step: 1,
      title: "The frame the canvas shows (keys , and .; Shift: the previous or next keyframe)",
      attrs: { "aria-label": "frame" }, on: { input: () => this.setFrame(Number(this.slider.value)) } });
    this.field = numberInput({ className: "gligen-frame", min: 0, step: 1, title: "The frame the canvas shows",
      on: { change: () => this.setFrame(Number(this.field.value)) } });
    this.last = el("span", { className: "gligen-frame-last" });
    this.markers = el("div", { className: "gligen-markers" });
    this.buttons = {
      previous: button("◂◆", "To the previous keyframe (Shift+,)", () => this.toKeyframe(-1)),
      next: button("◆▸", "To the next keyframe (Shift+.)", () => this.toKeyframe(1)),
      add: button("+ key", "Add a keyframe for the selected entry at this frame, holding what it shows here (K)",
        () => this.addKey(), "gligen-key-add"),
      remove: button("− key", "Remove the selected entry's keyframe at this frame (frame 0 is its own box or pose: " +
        "only a keyframe hiding it there can go)", () => this.#edit((entry) => removeKeyframe(entry, this.frame)),
      "gligen-key-remove"),
      hide: button("hide from here", "Hide the selected entry from this frame until its next keyframe",
        () => this.#edit((entry) => hideFrom(entry, this.frame)), "gligen-key-hide"),
    };
    const { previous, next, add, remove, hide } = this.buttons;
    this.element = el("div", { className: "gligen-timeline" },
      el("div", { className: "gligen-timeline-bar" }, el("span", { text: "frame" }), this.field, this.last, previous,
        next, add, remove, hide),
      el("div", { className: "gligen-track" }, this.slider, this.markers));
    this.element.hidden = true;
  }

  get #valueKey() {
    return this.editor.tool.valueKey;
  }

  get visible() {
    return !this.element.hidden;
  }

  /** The selected entry when the timeline may key it: unlocked, with a box (keypoints) to key. */
  #keyable() {
    const entry = this.editor.tool.selected();
    return this.editor.editable && entry && !isLocked(entry) && entry[this.#valueKey] ? entry : null;
  }

  #edit(change) {
    const entry = this.#keyable();
    if (entry && change(entry)) this.editor.changed();
  }

  /** Key the selected entry at this frame with what it shows here (the + key button, key K). */
  addKey() {
    this.#edit((entry) => addKeyframe(entry, this.#valueKey, this.frame));
  }

  /** Show `frame` (clamped to the timeline). */
  setFrame(frame) {
    const next = clamp(Math.round(Number(frame)) || 0, 0, this.count - 1);
    if (next === this.frame) {
      this.#showFrame();
      return;
    }
    this.frame = next;
    this.editor.frameChanged();
  }

  /** Go to the previous (direction -1) or next (1) keyframe of the selected entry (of any, with none). */
  toKeyframe(direction) {
    const frames = this.#markers().map((m) => m.frame);
    const target = direction < 0 ? frames.filter((f) => f < this.frame).at(-1) : frames.find((f) => f > this.frame);
    if (target !== undefined) this.setFrame(target);
  }

  /** The editor's keys for the timeline: , and . step a frame, Shift (< and >) to a keyframe, K keys the
   * frame. True when the key was used. */
  keyDown(event) {
    if (!this.visible) return false;
    const key = event.key.toLowerCase();
    if (key === "<" || (key === "," && event.shiftKey)) this.toKeyframe(-1);
    else if (key === ">" || (key === "." && event.shiftKey)) this.toKeyframe(1);
    else if (key === ",") this.setFrame(this.frame - 1);
    else if (key === ".") this.setFrame(this.frame + 1);
    else if (key === "k" && !this.buttons.add.disabled) this.addKey();
    else return false;
    return true;
  }

  /** The node's frames widget, as a whole number >= 0. */
  #framesWidget() {
    return wholeFrames(this.frames());
  }

  /** Follow the layout, the selection and the frames widget (called by the editor's refresh). */
  refresh() {
    const last = lastKeyframe(this.editor.tool.entries);
    this.count = Math.max(1, this.#framesWidget() || wholeFrames(this.runFrames()), last + 1);
    this.element.hidden = this.count <= 1 && last < 0;
    this.frame = this.visible ? clamp(this.frame, 0, this.count - 1) : 0;
    this.slider.max = String(this.count - 1);
    this.field.max = String(this.count - 1);
    setText(this.last, `/ ${this.count - 1}`);
    this.#showFrame();
  }

  /** A line for the status bar, or "": keyframes the node's frames (or, with frames 0, its last run's: a
   * connected latent's) do not reach. */
  hint() {
    const widget = this.#framesWidget();
    const frames = widget || wholeFrames(this.runFrames());
    const last = lastKeyframe(this.editor.tool.entries);
    if (!frames || last < frames) return "";
    const whose = widget ? "the node's frames" : "the latent's frames in the last run";
    const fix = widget ? "Raise frames" : "Give the latent more frames";
    return `A keyframe at frame ${last} is past ${whose} (${frames}: 0 to ${frames - 1}); the node refuses it. ` +
      `${fix}, or remove the keyframe.`;
  }

  #showFrame() {
    this.slider.value = String(this.frame);
    this.field.value = String(this.frame);
    this.element.dataset.frame = String(this.frame);
    const entry = this.#keyable();
    const frame = this.frame;
    const selected = this.editor.tool.selected();
    this.field.classList.toggle("gligen-on-key", Boolean(selected && hasKeyframes(selected) &&
      isKeyframe(selected, frame)));
    this.buttons.add.disabled = !entry || (frame === 0 ? !keyframeAt(entry, 0)
      : Boolean(keyframeAt(entry, frame)) || !canKey(entry, frame));
    this.buttons.remove.disabled = !entry || !keyframeAt(entry, frame);
    this.buttons.hide.disabled = !entry || valueAt(entry, this.#valueKey, frame) === null || !hasRoomAt(entry, frame);
    const frames = this.#markers().map((m) => m.frame);
    this.buttons.previous.disabled = !frames.some((f) => f < frame);
    this.buttons.next.disabled = !frames.some((f) => f > frame);
    this.#renderMarkers();
  }

  /** The markers to show: the selected entry's keyframes, else every entry's ({frame, hidden}, by frame). */
  #markers() {
    const selected = this.editor.tool.selected();
    if (selected) return markers(selected, this.#valueKey);
    const byFrame = new Map();
    for (const entry of this.editor.tool.entries) {
      for (const marker of markers(entry, this.#valueKey)) byFrame.set(marker.frame, { ...marker, hidden: false });
    }
    return [...byFrame.values()].sort((a, b) => a.frame - b.frame);
  }

  #renderMarkers() {
    const all = !this.editor.tool.selected();
    const span = Math.max(1, this.count - 1);
    this.markers.replaceChildren(...this.#markers().map(({ frame, hidden }) => {
      const what = hidden ? "hidden from here" : "keyframe";
      const marker = button("", `Frame ${frame}: ${all ? "a keyframe" : what}`, () => this.setFrame(frame),
        ["gligen-key-marker", hidden && "gligen-key-hidden", all && "gligen-key-any",
          frame === this.frame && "gligen-key-current"].filter(Boolean).join(" "));
      marker.dataset.frame = String(frame);
      marker.style.left = `${(frame / span) * 100}%`;
      return marker;
    }));
  }
}
