// What both canvas tools (box_tool.js, pose_tool.js) share: the layout list a tool edits, its selected
// entry, nudging and deleting it, and the hooks through which a tool adds its own toolbar buttons, keys
// and messages to the generic editor (editor.js).
//
// A tool also implements what canvas.js calls (draw, pointerDown, cursorAt, doubleClick), addDefault()
// -> the added entry or null, and nudgeEntry(entry, dx, dy) in model units.
//
// A tool reads and writes an entry's box (keypoints) at the editor's current frame, through value() and
// setValue(): at frame 0 that is the entry's own value, later the keyframe there, made by the edit
// (auto-key, keyframes.js); an entry hidden at the frame has the value null.

import { MAX_KEYFRAMES, neighbours, setValueAt, valueAt } from "./keyframes.js";
import { isLocked, pinColors } from "./layout_model.js";

export class Tool {
  /**
   * @param {object} editor  the LayoutEditor the tool works in
   * @param {object} spec  what the editor needs to know of this kind of entry
   * @param {string} spec.kind  "box" or "pose": names the editor's CSS class gligen-<kind>-editor
   * @param {"objects"|"persons"} spec.list  the layout list the tool edits
   * @param {"box"|"keypoints"} spec.valueKey  what of an entry the canvas edits (and keyframes hold)
   * @param {string} spec.addLabel  the toolbar's add button
   * @param {number} spec.max  the most entries the model takes
   * @param {Function} spec.Panel  the list under the canvas: new Panel(editor, container)
   * @param {number} spec.nodeHeight  the node's least height once it has the editor, graph pixels
   */
  constructor(editor, { kind, list, valueKey, addLabel, max, Panel, nodeHeight }) {
    Object.assign(this, { editor, kind, list, valueKey, addLabel, max, Panel, nodeHeight });
  }

  /** The frame the canvas shows (0 without a timeline). */
  get frame() {
    return this.editor.frame ?? 0;
  }

  /** The entry's box (keypoints) at the current frame; null where it is hidden (or has none). */
  value(entry) {
    return valueAt(entry, this.valueKey, this.frame);
  }

  /** Set the entry's value at the current frame (its own at frame 0, else the keyframe there); false, with
   * a warning, when the entry has as many keyframes as the node takes. */
  setValue(entry, value) {
    if (setValueAt(entry, this.valueKey, this.frame, value)) return true;
    this.editor.warn(`An entry takes at most ${MAX_KEYFRAMES} keyframes: remove one to key this frame.`);
    return false;
  }

  /** The layout's entries this tool edits (objects or persons). */
  get entries() {
    return this.editor.layout[this.list];
  }

  selected() {
    return this.entries.find((entry) => entry.key === this.editor.selection.key) ?? null;
  }

  /** Remove an entry, locked or not; the others keep their colours. */
  remove(entry) {
    pinColors(this.entries);
    this.entries.splice(this.entries.indexOf(entry), 1);
    this.editor.select(null);
  }

  /** Delete the selected (unlocked) entry; false when there is none. */
  deleteSelected() {
    const entry = this.selected();
    if (!entry || isLocked(entry)) return false;
    this.remove(entry);
    return true;
  }

  /** Move the selected (unlocked) entry by (dx, dy) layout pixels; false when nothing moved. */
  nudge(dx, dy) {
    const entry = this.selected();
    if (!entry || isLocked(entry)) return false;
    const { width, height } = this.editor.layout;
    return this.nudgeEntry(entry, dx / width, dy / height);
  }

  /** The onion skin: the selected entry at its keyframes just before and after the current frame,
   * [{frame, value}] (none without keyframes). */
  onionSkin() {
    const entry = this.selected();
    if (!entry) return [];
    const { previous, next } = neighbours(entry, this.valueKey, this.frame);
    return [previous, next].filter(Boolean);
  }

  /**
   * A canvas drag (see canvas.js) that edits an entry's value at the current frame (an object's box, a
   * person's keypoints): `update(point, original)` gives the new value for the pointer's model point.
   * Released, the edit is committed if the value changed; cancelled or unchanged, the entry is put back as
   * it was (so a click that selects makes no keyframe).
   */
  editDrag(entry, update) {
    const key = this.valueKey;
    const original = this.value(entry);
    const before = { own: entry[key], keyframes: entry.keyframes, had: "keyframes" in entry };
    const restore = () => {
      entry[key] = before.own;
      if (before.had) entry.keyframes = before.keyframes;
      else delete entry.keyframes;
    };
    return {
      move: (point) => {
        this.setValue(entry, update(point, original));
      },
      end: () => {
        if (JSON.stringify(this.value(entry)) !== JSON.stringify(original)) this.editor.changed();
        else restore();
      },
      cancel: restore,
    };
  }

  /** Elements of the tool's own, placed between the canvas and the list (asked once, as the editor is built). */
  sections() {
    return [];
  }

  /** The node ran: `output` is its UI output (what node.onExecuted gets). */
  executed(output) {}

  /** The editor updated its list, status line or selection. */
  refresh() {}

  /** Extra toolbar buttons, placed after the add button: [{label, title, run(), enabled() -> boolean}]. */
  toolbarButtons() {
    return [];
  }

  /** This tool's own keys: event.key in lower case -> handler() that returns true when it used the key. */
  keyBindings() {
    return new Map();
  }

  /**
   * A widget text this editor cannot edit but the node converts when the graph runs (e.g. OpenPose JSON
   * in a pose node): the status message to show meanwhile; null for any other text.
   * @param {{error: string, openpose?: number}} parsed  parseLayout's answer for the text
   */
  convertedOnRun(parsed) {
    return null;
  }

  /** Why the JSON panel refuses a text that is neither a layout nor convertedOnRun (`parsed` as there). */
  jsonRefusal(parsed) {
    return `Not a layout: ${parsed.error}.`;
  }
}
