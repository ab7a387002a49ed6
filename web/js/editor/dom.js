// Small DOM helpers. Text always goes in through textContent or value, never as markup: phrases,
// names and JSON are user data. Text shown through el() or setText() has its direction controls made
// visible (text.js), so a phrase or message cannot reorder what the user reads.

import { EDITOR_CSS } from "./styles.js";
import { visibleText } from "./text.js";

const STYLE_ID = "gligen-suite-editor-styles";

/** Add the editors' one stylesheet to the page (once). */
export function injectStyles() {
  if (document.getElementById(STYLE_ID)) return;
  const style = document.createElement("style");
  style.id = STYLE_ID;
  style.textContent = EDITOR_CSS;
  document.head.append(style);
}

/**
 * Create an element: el("button", {className: "x", text: "Add", title: "...", on: {click: fn}}, ...children).
 * `text` sets textContent; `attrs` sets attributes; other keys are assigned as properties.
 */
export function el(tag, options = {}, ...children) {
  const element = document.createElement(tag);
  const { text, attrs, on, dataset, ...props } = options;
  if (text !== undefined) setText(element, text);
  for (const [name, value] of Object.entries(attrs ?? {})) element.setAttribute(name, value);
  for (const [name, value] of Object.entries(dataset ?? {})) element.dataset[name] = value;
  for (const [name, handler] of Object.entries(on ?? {})) element.addEventListener(name, handler);
  Object.assign(element, props);
  element.append(...children.filter((child) => child != null));
  return element;
}

/** Show plain text in an element, direction controls as visible markers ("<U+202E>"). */
export function setText(element, text) {
  element.textContent = visibleText(String(text));
}

/** A small button; `label` is plain text. It never takes the keyboard focus from the editor's canvas. */
export function button(label, title, onClick, className = "") {
  return el("button", { type: "button", className: `gligen-btn ${className}`.trim(), text: label, title,
    on: { click: onClick, mousedown: (event) => event.preventDefault() } });
}

/** A number field that commits (fires "change") on Enter as well as on leaving it. */
export function numberInput(options) {
  const input = el("input", { type: "number", ...options });
  input.addEventListener("keydown", (event) => event.key === "Enter" && input.blur());
  return input;
}
