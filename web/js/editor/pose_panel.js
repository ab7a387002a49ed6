// The list of persons under the pose canvas: number, colour, strength, lock, mirror, delete; and one
// chip per COCO joint that shows or hides that joint of the selected person. The chips are always there
// (disabled while nobody is selected), so selecting a person, which a canvas drag does at pointer-down,
// never changes the list's height: the canvas above it must not move under the pointer.

import { JOINT_NAMES } from "./constants.js";
import { button, el } from "./dom.js";
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

  render() {
    this.rows.clear();
    const rows = this.persons.map((person, index) => this.#row(person, index));
    this.container.replaceChildren(...rows, this.joints);
    this.updateSelection();
  }

  #row(person, index) {
    const editor = this.editor;
    const visible = person.keypoints.filter(Boolean).length;
    const summary = el("span", { className: "gligen-grow",
      text: `person ${index + 1}: ${visible} of ${JOINT_NAMES.length} joints` });
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

  /** The joint chips of `person`, or the same chips disabled when it is undefined (same labels, same size). */
  #chips(person) {
    return JOINT_NAMES.map((name, joint) => {
      if (!person) {
        const chip = button(name, "Select a person to show or hide its joints", () => {}, "gligen-chip");
        chip.disabled = true;
        chip.dataset.joint = String(joint);
        return chip;
      }
      const shown = Boolean(person.keypoints[joint]);
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
    return this.persons.some((p) => !p.keypoints.some(Boolean)) ? "A person without visible joints is refused." : "";
  }
}
