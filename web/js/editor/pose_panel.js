// The list of persons under the pose canvas: number, colour, strength, lock, mirror, delete; and one
// chip per COCO joint that shows or hides that joint of the selected person. The chips are always there
// (disabled while nobody is selected), so selecting a person, which a canvas drag does at pointer-down,
// never changes the list's height: the canvas above it must not move under the pointer. Joints are those
// of the editor's current frame (a chip edits the keyframe there).

import { JOINT_NAMES } from "./constants.js";
import { button, el } from "./dom.js";
import { jointGaps, valueAt } from "./keyframes.js";
import { entryRow } from "./row_controls.js";

export class PosePanel {
  constructor(editor, container) {
    this.editor = editor;
    this.container = container;
    this.rows = new Map(); // person key -> row
    this.joints = el("div", { className: "gligen-joints" });
  }

  get persons() {
    return this.editor.layout.persons;
  }

  /** A person's keypoints at the editor's frame; null where it is hidden. */
  #keypoints(person) {
    return valueAt(person, "keypoints", this.editor.frame ?? 0);
  }

  render() {
    this.rows.clear();
    const rows = this.persons.map((person, index) => this.#row(person, index));
    this.container.replaceChildren(...rows, this.joints);
    this.updateSelection();
  }

  #row(person, index) {
    const editor = this.editor;
    const keypoints = this.#keypoints(person);
    const summary = el("span", { className: "gligen-grow", text: keypoints
      ? `person ${index + 1}: ${keypoints.filter(Boolean).length} of ${JOINT_NAMES.length} joints`
      : `person ${index + 1}: hidden at this frame` });
    const mirror = button("mirror", "Mirror left-right", () => {
      editor.select(person.key);
      editor.tool.mirror();
    });
    const row = entryRow(editor, person, index, { fields: [summary, el("span", { text: "strength" })],
      buttons: [mirror], strengthTitle: "How strongly the picture follows this pose (1 = as trained)",
      lockTitle: "Locked persons cannot be picked on the canvas" });
    this.rows.set(person.key, row);
    return row;
  }

  updateSelection() {
    const selected = this.persons.find((p) => p.key === this.editor.selection.key);
    for (const [key, row] of this.rows) row.classList.toggle("gligen-selected", key === selected?.key);
    this.joints.replaceChildren(...this.#chips(selected));
  }

  /** The joint chips of `person`, or the same chips disabled when it is undefined or hidden at this frame
   * (same labels, same size). */
  #chips(person) {
    const keypoints = person && this.#keypoints(person);
    return JOINT_NAMES.map((name, joint) => {
      if (!keypoints) {
        const why = person ? "The person is hidden at this frame" : "Select a person to show or hide its joints";
        const chip = button(name, why, () => {}, "gligen-chip");
        chip.disabled = true;
        chip.dataset.joint = String(joint);
        return chip;
      }
      const shown = Boolean(keypoints[joint]);
      const chip = button(name, shown ? "Hide this joint" : "Show this joint", () => {
        this.editor.tool.setJointVisible(person, joint, !shown);
        this.editor.select(person.key, shown ? null : joint);
        this.editor.changed();
      }, "gligen-chip");
      chip.setAttribute("aria-pressed", String(shown));
      chip.dataset.joint = String(joint);
      return chip;
    });
  }

  focus(key) {
    this.rows.get(key)?.scrollIntoView({ block: "nearest" });
  }

  hint() {
    const hints = [];
    if (this.persons.some((p) => !p.keypoints.some(Boolean))) hints.push("A person without visible joints is refused.");
    this.persons.forEach((person, index) => {
      for (const keyframe of person.keyframes ?? []) {
        if (Array.isArray(keyframe?.keypoints) && !keyframe.keypoints.some(Boolean)) {
          hints.push(`Person ${index + 1}: the keyframe at frame ${keyframe.frame} has no visible joint (the node ` +
            "refuses that); show one, or hide the person there.");
        }
      }
      for (const [a, b] of jointGaps(person)) {
        hints.push(`Person ${index + 1}: the keyframes at frames ${a} and ${b} share no visible joint (the node ` +
          "refuses that); show one joint in both.");
      }
    });
    return hints.join(" ");
  }
}
