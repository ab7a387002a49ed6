// The list of persons under the pose canvas: number, colour, strength, lock, mirror, delete; and for
// the selected person one chip per COCO joint that shows or hides it.

import { button, el, numberInput } from "./dom.js";
import { JOINT_NAMES } from "./constants.js";
import { colorOf, pinColors } from "./layout_model.js";

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
    const key = person.key;
    const color = el("input", { type: "color", className: "gligen-swatch", value: colorOf(person, index),
      title: "Colour", on: {
        input: () => {
          person.color = color.value;
          editor.changed(`color:${key}`, { keepList: true });
        },
      } });
    const strength = numberInput({ className: "gligen-strength", min: 0, max: 5, step: 0.05,
      value: person.strength ?? 1, title: "How strongly the picture follows this pose (1 = as trained)", on: {
        change: () => {
          const value = Math.min(5, Math.max(0, Number(strength.value)));
          if (Number.isNaN(value) || value === 1) delete person.strength;
          else person.strength = value;
          strength.value = person.strength ?? 1;
          editor.changed(null, { keepList: true });
        },
      } });
    const visible = person.keypoints.filter(Boolean).length;
    const lock = button("lock", "Locked persons cannot be picked on the canvas", () => {
      if (person.locked) delete person.locked;
      else person.locked = true;
      editor.changed();
    });
    lock.setAttribute("aria-pressed", String(Boolean(person.locked)));
    const row = el("div", { className: "gligen-row", dataset: { key }, on: { click: (e) => e.target.closest("button") || editor.select(key) } },
      el("span", { className: "gligen-index", text: String(index + 1) }), color,
      el("span", { className: "gligen-grow", text: `person ${index + 1}: ${visible} of ${JOINT_NAMES.length} joints` }),
      el("span", { text: "strength" }), strength, lock,
      button("mirror", "Mirror left-right", () => {
        editor.select(key);
        if (editor.tool.mirrorSelected()) editor.changed();
      }),
      button("×", "Delete", () => {
        pinColors(this.persons);
        this.persons.splice(index, 1);
        editor.select(null);
        editor.changed();
      }));
    this.rows.set(key, row);
    return row;
  }

  updateSelection() {
    const selected = this.persons.find((p) => p.key === this.editor.selection.key);
    for (const [key, row] of this.rows) row.classList.toggle("gligen-selected", key === selected?.key);
    this.joints.replaceChildren(...(selected ? this.#chips(selected) : []));
  }

  #chips(person) {
    return JOINT_NAMES.map((name, joint) => {
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
