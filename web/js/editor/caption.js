// The caption (the prompt text) as the box editor offers it: its words, to pick a phrase from, and what the node
// said of each object's phrase on its last run (nodes/editor/captions.py). Pure: no DOM, no imports, so that
// plain Node (and the Python tests, through `node -e`) can read it.
//
// Words are what gligen_model/caption.py compares: runs of letters, digits and combining marks; a Han ideograph or
// kana character is a word of its own (those scripts have no spaces). Offsets are JavaScript string indices.

// nodes/editor/captions.py: the node's UI output key with the caption it ran with.
export const CAPTION_KEY = "gligen_caption";
// gligen_model/caption.py: the longest caption the node takes; gligen_model/layout.py: the longest phrase.
export const MAX_CAPTION_CHARS = 10000;
export const MAX_PHRASE_CHARS = 4000;

const SOLO = "\\u3040-\\u30ff\\u3400-\\u4dbf\\u4e00-\\u9fff\\uf900-\\ufaff\\u{20000}-\\u{3134f}";
const WORD = new RegExp(`[${SOLO}]|(?:(?![${SOLO}])[\\p{L}\\p{N}\\p{M}])+`, "gu");

/**
 * The words of `text`, in order: [{start, end}] (end exclusive). At most MAX_CAPTION_CHARS characters are read
 * (the node refuses longer captions), so the work is bounded for any text.
 */
export function captionWords(text) {
  if (typeof text !== "string") return [];
  const read = text.length > MAX_CAPTION_CHARS ? text.slice(0, MAX_CAPTION_CHARS) : text;
  return Array.from(read.matchAll(WORD), (m) => ({ start: m.index, end: m.index + m[0].length }));
}

/** The words `anchor` to `focus` (word indices, either order) as [first, last], or null when either is null. */
export function wordRange(anchor, focus) {
  if (anchor == null || focus == null) return null;
  return [Math.min(anchor, focus), Math.max(anchor, focus)];
}

/**
 * The phrase words first..last make: the caption's text from the first word's start to the last one's end, as
 * written (inner punctuation kept: "red-brick house"), white space collapsed to single spaces. "" for no range.
 */
export function spanText(text, words, range) {
  if (!range) return "";
  const [first, last] = range;
  if (!words[first] || !words[last]) return "";
  return text.slice(words[first].start, words[last].end).replace(/\s+/g, " ").trim();
}

/** The first word index for which `past(word)` holds (words.length when none); `past` must be false, then true,
 * along the words (they are in order). A binary search. */
function firstWhere(words, past) {
  let lo = 0;
  let hi = words.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (past(words[mid])) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The words inside the character span [start, end) as [first, last] word indices, or null when none is. */
export function wordsInSpan(words, span) {
  if (!Array.isArray(span) || span.length !== 2) return null;
  const [start, end] = span;
  const first = firstWhere(words, (word) => word.start >= start);
  const last = firstWhere(words, (word) => word.end > end) - 1;
  return first <= last ? [first, last] : null;
}

const isSpan = (span) => Array.isArray(span) && span.length === 2 && span.every(Number.isInteger) &&
  span[0] >= 0 && span[0] <= span[1];

/**
 * The CAPTION_KEY entry of a node's UI output as the editor uses it, {caption, objects: [{phrase, span}]}
 * (span: [start, end] or null), or null for anything else (no entry, an entry of another shape).
 */
export function captionRun(entry) {
  if (!entry || typeof entry !== "object" || typeof entry.caption !== "string" || !Array.isArray(entry.objects)) {
    return null;
  }
  const objects = entry.objects.map((o) => ({ phrase: typeof o?.phrase === "string" ? o.phrase : "",
    span: isSpan(o?.span) ? o.span : null }));
  return { caption: entry.caption, objects };
}

/**
 * Whether the last run found the phrase `phrase` of object `index` missing from the caption: only while the
 * object still has the phrase it had then (a phrase edited since is unknown, not missing).
 */
export function unnamedInRun(run, index, phrase) {
  const seen = run?.objects[index];
  const current = typeof phrase === "string" ? phrase.trim() : "";
  return Boolean(seen && current && seen.phrase === current && seen.span === null);
}
