// The list of objects under the box canvas: number, colour, phrase (edited inline), reference-image
// index, strength, lock, order (top of the list = drawn first, at the back) and delete. A phrase the caption
// did not name on the node's last run is marked (caption_strip.js).

import { button, el, numberInput } from "./dom.js";
import { pinColors } from "./layout_model.js";
import { entryRow } from "./row_controls.js";
import { hasBidiControls } from "./text.js";

export class BoxPanel {
  constructor(editor, container) {
    this.editor = editor;
    this.container = container;
    this.rows = new Map(); // object key -> {row, phrase}
  }

  get objects() {
    return this.editor.layout.objects;
  }

  render() {
    this.rows.clear();
    const head = el("div", { className: "gligen-row gligen-head" },
      el("span", { className: "gligen-index", text: "#" }), el("span"),
      el("span", { text: "phrase (top: back, bottom: front)" }),
      el("span", { text: "image", title: "Reference image: index into the node's IMAGE batch (empty: none)" }),
      el("span", { text: "strength" }));
    this.container.replaceChildren(head, ...this.objects.map((object, index) => this.#row(object, index)));
    this.updateSelection();
  }

  #row(object, index) {
    const editor = this.editor;
    const key = object.key;
    const phrase = el("input", { type: "text", className: "gligen-grow gligen-phrase", value: object.phrase,
      placeholder: object.box ? "describe the object" : "style image (whole picture)", spellcheck: false, on: {
        input: () => {
          object.phrase = phrase.value;
          this.#markPhrase(phrase, object, index);
          editor.changed(`phrase:${key}`, { keepList: true });
        },
      } });
    this.#markPhrase(phrase, object, index);
    const image = numberInput({ className: "gligen-image", min: 0, step: 1, placeholder: "–",
      value: object.image ?? "", title: "Reference image index (empty: none)", on: {
        change: () => {
          const value = image.value === "" ? null : Math.max(0, Math.round(Number(image.value)));
          if (value === null || Number.isNaN(value)) delete object.image;
          else object.image = value;
          image.value = object.image ?? "";
          phrase.classList.toggle("gligen-missing", !this.#named(object));
          editor.changed(null, { keepList: true }); // re-rendering would take the focus from the next field
        },
      } });
    const row = entryRow(editor, object, index, { fields: [phrase, image],
      strengthTitle: "How strongly the picture follows this object (1 = as trained)",
      lockTitle: "Locked boxes cannot be picked on the canvas",
      buttons: [button("↑", "Move back (up the list)", () => this.#move(index, -1)),
        button("↓", "Move to the front (down the list)", () => this.#move(index, 1))] });
    this.rows.set(key, { row, phrase });
    return row;
  }

  #named(object) {
    return Boolean(object.phrase.trim()) || object.image != null;
  }

  /** Whether the node's last run found this object's phrase missing from its caption. */
  #uncaptioned(object, index) {
    return this.editor.tool?.caption?.unnamed(index, object.phrase) ?? false;
  }

  #markPhrase(field, object, index) {
    const uncaptioned = this.#uncaptioned(object, index);
    field.classList.toggle("gligen-missing", !this.#named(object));
    field.classList.toggle("gligen-uncaptioned", uncaptioned);
    field.title = uncaptioned ? "What goes in the box. Not in the caption (the node's last run): GLIGEN places " +
      "an object best when the prompt names it too" : "What goes in the box";
  }

  #move(index, step) {
    const target = index + step;
    if (target < 0 || target >= this.objects.length) return;
    pinColors(this.objects);
    const [object] = this.objects.splice(index, 1);
    this.objects.splice(target, 0, object);
    this.editor.changed();
  }

  updateSelection() {
    for (const [key, { row }] of this.rows) row.classList.toggle("gligen-selected", key === this.editor.selection.key);
  }

  /** Put the keyboard in an object's phrase field. */
  focus(key) {
    const entry = this.rows.get(key);
    entry?.phrase.focus({ preventScroll: true });
    entry?.row.scrollIntoView({ block: "nearest" });
  }

  /** A hint for the status line, or "". */
  hint() {
    const numbers = (test) => this.objects.map((o, i) => (test(o, i) ? i + 1 : 0)).filter(Boolean);
    const missing = numbers((o) => !this.#named(o));
    const uncaptioned = numbers((o, i) => this.#uncaptioned(o, i));
    // A phrase field shows such a phrase reordered; the canvas shows the controls as markers.
    const turned = numbers((o) => hasBidiControls(o.phrase));
    const hints = [];
    const many = (list) => list.length > 1;
    if (missing.length) {
      hints.push(`Object${many(missing) ? "s" : ""} ${missing.join(", ")} need${many(missing) ? "" : "s"} a phrase.`);
    }
    if (uncaptioned.length) {
      hints.push(`Object${many(uncaptioned) ? "s" : ""} ${uncaptioned.join(", ")}: not in the caption; name ` +
        `${many(uncaptioned) ? "them" : "it"} in the prompt, or turn on append_missing_phrases.`);
    }
    if (turned.length) {
      hints.push(`Object${many(turned) ? "s" : ""} ${turned.join(", ")}: text-direction controls in the phrase ` +
        "reorder it here; the canvas shows them as <U+…>.");
    }
    return hints.join(" ");
  }
}
