// Text from the layout as the editors show it: phrases and messages quoting the JSON, on the canvas and
// in the page. Pure: no DOM.
//
// Unicode's explicit direction controls (ALM, LRM, RLM, the embeddings and overrides LRE..RLO, the
// isolates LRI..PDI) are invisible and reorder the text after them: a phrase "a cat\u202e god a" is shown
// as "a cat a dog". Where the editors show user text, each control is replaced by a visible marker
// ("<U+202E>"); the layout keeps the phrase as typed.

import { BIDI_CONTROLS as CONTROL_POINTS } from "./constants.js";

const CONTROL_CLASS = `[${CONTROL_POINTS.map((p) => `\\u${p.toString(16).padStart(4, "0")}`).join("")}]`;
const BIDI_CONTROL = new RegExp(CONTROL_CLASS);
const BIDI_CONTROLS = new RegExp(CONTROL_CLASS, "g");

/** The most characters of a text a canvas label considers: more never fit in a box on the canvas. */
export const MAX_LABEL_CHARS = 500;

const marker = (control) => `<U+${control.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}>`;

export function hasBidiControls(text) {
  return BIDI_CONTROL.test(text);
}

/** `text` with each direction control replaced by a visible marker such as "<U+202E>". */
export function visibleText(text) {
  return text.replace(BIDI_CONTROLS, marker);
}

/** JSON text with each direction control written as a JSON escape ("\u202e"): the same JSON, shown in
 * its own order. Only for JSON text, where such a control can only stand inside a string. */
export function escapeBidiControls(json) {
  return json.replace(BIDI_CONTROLS, (control) => `\\u${control.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/**
 * The label drawn for `text` in `room` pixels of `ctx`'s font: the text (direction controls made
 * visible) if it fits, else its longest prefix that fits with "…" appended, else "…". At most
 * MAX_LABEL_CHARS characters are considered, and the cut is found by bisection: about a dozen
 * measureText calls for any length. A surrogate pair (an emoji) is never cut in two.
 */
export function fitLabel(ctx, text, room) {
  const considered = text.length > MAX_LABEL_CHARS ? text.slice(0, MAX_LABEL_CHARS) : text;
  const shown = visibleText(considered);
  if (shown.length <= 1) return shown;
  const fits = (label) => ctx.measureText(label).width <= room;
  if (considered === text && fits(shown)) return shown;
  const cut = (length) => {
    const code = shown.charCodeAt(length - 1);
    return shown.slice(0, code >= 0xd800 && code <= 0xdbff ? length - 1 : length) + "…";
  };
  // The longest prefix with "…" that fits, of length 1 .. hi (the whole shown text only when it was cut
  // off at MAX_LABEL_CHARS); 0: none does, the label is "…".
  let lo = 0;
  let hi = considered === text ? shown.length - 1 : shown.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(cut(mid))) lo = mid;
    else hi = mid - 1;
  }
  return lo ? cut(lo) : "…";
}
