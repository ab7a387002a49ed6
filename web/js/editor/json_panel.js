// The editor's JSON view: the layout text, indented, to read, copy, or replace by pasting. While it is
// open it takes the place of the canvas and the list (the editor's root gets .gligen-json-open).

import { button, el, setText } from "./dom.js";
import { escapeBidiControls } from "./text.js";

export class JsonPanel {
  /**
   * @param {object} options
   * @param {() => string} options.read  the text to show (the layout widget's value)
   * @param {(text: string) => string|null} options.apply  take a text: null when taken, else why not
   * @param {(open: boolean) => void} options.onToggle  the panel opened (true) or closed (false)
   */
  constructor({ read, apply, onToggle }) {
    Object.assign(this, { read, apply, onToggle });
    // Keys typed here are text, not the editor's or ComfyUI's shortcuts.
    this.textarea = el("textarea", { spellcheck: false, on: { keydown: (e) => e.stopPropagation() } });
    this.error = el("div", { className: "gligen-json-error" });
    this.element = el("div", { className: "gligen-json" }, this.textarea, this.error,
      el("div", { className: "gligen-toolbar" }, button("apply", "Use this JSON", () => this.#apply()),
        button("cancel", "Close without changes", () => this.close())));
  }

  open() {
    let text = this.read();
    try {
      // Indented, and direction controls in strings written as escapes ("\u202e"): the same JSON, shown
      // in its own order.
      text = escapeBidiControls(JSON.stringify(JSON.parse(text), null, 1));
    } catch {
      // not JSON: shown as it is, to be fixed here
    }
    this.textarea.value = text;
    setText(this.error, "");
    this.onToggle(true);
    this.textarea.focus({ preventScroll: true });
  }

  close() {
    this.onToggle(false);
  }

  #apply() {
    const error = this.apply(this.textarea.value.trim());
    if (error) setText(this.error, error);
    else this.close();
  }
}
