// A row of the list under the canvas, as both panels (box_panel.js, pose_panel.js) build it: number,
// colour, the panel's own fields, strength, lock, the panel's own buttons, delete. Clicking the row
// (not one of its buttons) selects its entry.

import { MAX_STRENGTH } from "./constants.js";
import { button, el, numberInput } from "./dom.js";
import { colorOf, isLocked } from "./layout_model.js";

/**
 * @param {object} editor  the LayoutEditor
 * @param {object} entry  an object or person of the layout
 * @param {number} index  its position in the list, from 0 (shown from 1)
 * @param {object} parts
 * @param {HTMLElement[]} parts.fields  between the colour and the strength
 * @param {HTMLElement[]} parts.buttons  between the lock and delete
 * @param {string} parts.strengthTitle  the strength field's tooltip
 * @param {string} parts.lockTitle  the lock button's tooltip
 * @returns {HTMLElement} the row, its entry's key in data-key
 */
export function entryRow(editor, entry, index, { fields, buttons, strengthTitle, lockTitle }) {
  const key = entry.key;
  const remove = button("×", "Delete", () => {
    editor.tool.remove(entry);
    editor.changed();
  });
  return el("div", { className: "gligen-row", dataset: { key },
    on: { click: (e) => e.target.closest("button") || editor.select(key) } },
    el("span", { className: "gligen-index", text: String(index + 1) }), colorSwatch(editor, entry, index), ...fields,
    strengthInput(editor, entry, strengthTitle), lockButton(editor, entry, lockTitle), ...buttons, remove);
}

function colorSwatch(editor, entry, index) {
  const swatch = el("input", { type: "color", className: "gligen-swatch", value: colorOf(entry, index),
    title: "Colour", on: {
      input: () => {
        entry.color = swatch.value;
        editor.changed(`color:${entry.key}`, { keepList: true });
      },
    } });
  return swatch;
}

/** The entry's attention weight, 0 to MAX_STRENGTH; 1 (as trained) is written as no "strength" key. */
function strengthInput(editor, entry, title) {
  const input = numberInput({ className: "gligen-strength", min: 0, max: MAX_STRENGTH, step: 0.05,
    value: entry.strength ?? 1, title, on: {
      change: () => {
        const value = Math.min(MAX_STRENGTH, Math.max(0, Number(input.value)));
        if (Number.isNaN(value) || value === 1) delete entry.strength;
        else entry.strength = value;
        input.value = entry.strength ?? 1;
        editor.changed(null, { keepList: true }); // re-rendering would take the focus from the next field
      },
    } });
  return input;
}

function lockButton(editor, entry, title) {
  const lock = button("lock", title, () => {
    if (isLocked(entry)) delete entry.locked; // a "locked" that is not true (e.g. "yes") is not a lock
    else entry.locked = true;
    editor.changed();
  });
  lock.setAttribute("aria-pressed", String(isLocked(entry)));
  return lock;
}
