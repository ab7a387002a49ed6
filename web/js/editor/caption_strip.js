// The caption strip of the box editor: the caption the node last ran with (its `caption` input, sent in the
// node's UI output), its words to pick a phrase from, and the objects whose phrases it does not name.
//
// Pick words by clicking one, Shift+clicking (or dragging to) another; then "→ phrase" makes them the selected
// object's phrase, "+ box" a new box with them as its phrase. Words some object's phrase matched are underlined.

import { captionRun, captionWords, MAX_PHRASE_CHARS, spanText, unnamedInRun, wordRange, wordsInSpan }
  from "./caption.js";
import { MAX_OBJECTS } from "./constants.js";
import { button, el, setText } from "./dom.js";

export class CaptionStrip {
  constructor(editor) {
    this.editor = editor;
    this.run = null; // {caption, objects: [{phrase, span}]} of the last run with a caption
    this.words = [];
    this.wordElements = [];
    this.anchor = null; // word indices of the pick
    this.focus = null;
    this.text = el("div", { className: "gligen-caption-text", title: "The caption the node last ran with: click a " +
      "word, Shift+click or drag to another to pick a phrase", on: {
      pointerdown: (e) => this.#pointerDown(e),
      pointerover: (e) => this.#pointerOver(e),
    } });
    this.picked = el("span", { className: "gligen-caption-pick" });
    this.buttons = {
      phrase: button("→ phrase", "Make the picked words the selected object's phrase", () => this.#toPhrase(),
        "gligen-caption-phrase"),
      box: button("+ box", "Add a box with the picked words as its phrase", () => this.#toBox(), "gligen-caption-box"),
    };
    this.element = el("div", { className: "gligen-caption" }, this.text,
      el("div", { className: "gligen-caption-bar" }, this.picked, this.buttons.phrase, this.buttons.box));
    this.element.hidden = true;
  }

  /** Show a node run's CAPTION_KEY entry (anything else, e.g. a run without a caption, hides the strip). */
  show(entry) {
    this.run = captionRun(entry);
    this.element.hidden = !this.run;
    this.words = this.run ? captionWords(this.run.caption) : [];
    this.anchor = this.focus = null;
    this.#renderWords();
    this.editor.panel.render(); // the rows' marks
    this.editor.refreshButtons(); // the status line, and refresh() through the tool
  }

  /** Whether object `index` with `phrase` was found missing from the caption on the last run. */
  unnamed(index, phrase) {
    return unnamedInRun(this.run, index, phrase);
  }

  #renderWords() {
    const caption = this.run?.caption ?? "";
    const children = [];
    this.wordElements = this.words.map(({ start, end }, index) => {
      const previousEnd = index ? this.words[index - 1].end : 0;
      if (start > previousEnd) children.push(el("span", { text: caption.slice(previousEnd, start) }));
      const word = el("span", { className: "gligen-word", text: caption.slice(start, end), dataset: { word: index } });
      children.push(word);
      return word;
    });
    const tail = caption.slice(this.words.at(-1)?.end ?? 0);
    if (tail) children.push(el("span", { text: tail }));
    this.text.replaceChildren(...children);
  }

  #wordIndex(event) {
    const index = Number(event.target?.dataset?.word);
    return Number.isInteger(index) && this.words[index] ? index : null;
  }

  #pointerDown(event) {
    const index = this.#wordIndex(event);
    if (index === null) return;
    event.preventDefault(); // no text selection, no focus change
    if (!(event.shiftKey && this.anchor !== null)) this.anchor = index;
    this.focus = index;
    this.refresh();
  }

  #pointerOver(event) {
    const index = this.#wordIndex(event);
    if (index === null || !(event.buttons & 1) || this.anchor === null || index === this.focus) return;
    this.focus = index;
    this.refresh();
  }

  /** The picked words as a phrase ("" for none). */
  get phrase() {
    return this.run ? spanText(this.run.caption, this.words, wordRange(this.anchor, this.focus)) : "";
  }

  /** Update the marks (picked words, words a phrase matched) and the buttons. */
  refresh() {
    if (!this.run) return;
    const range = wordRange(this.anchor, this.focus);
    const used = new Set();
    this.editor.layout.objects.forEach((object, index) => {
      const seen = this.run.objects[index];
      if (!seen?.span || seen.phrase !== object.phrase.trim()) return; // edited since the run
      const [first, last] = wordsInSpan(this.words, seen.span) ?? [0, -1]; // none: an emoji phrase
      for (let i = first; i <= last; i++) used.add(i);
    });
    this.wordElements.forEach((word, index) => {
      word.classList.toggle("gligen-picked", Boolean(range) && index >= range[0] && index <= range[1]);
      word.classList.toggle("gligen-word-used", used.has(index));
    });
    const phrase = this.phrase;
    setText(this.picked, phrase ? `“${phrase}”` : "pick words of the caption");
    const editable = this.editor.editable;
    this.buttons.phrase.disabled = !phrase || !editable || !this.editor.tool.selected();
    this.buttons.box.disabled = !phrase || !editable || this.editor.layout.objects.length >= MAX_OBJECTS;
  }

  #take() {
    const phrase = this.phrase;
    if (phrase.length > MAX_PHRASE_CHARS) {
      this.editor.warn(`The picked words are ${phrase.length} characters; a phrase has at most ${MAX_PHRASE_CHARS}.`);
      return null;
    }
    this.anchor = this.focus = null;
    return phrase || null;
  }

  #toPhrase() {
    const object = this.editor.tool.selected();
    const phrase = object && this.#take();
    if (!phrase) return;
    object.phrase = phrase;
    this.editor.changed();
  }

  #toBox() {
    const phrase = this.#take();
    const object = phrase && this.editor.tool.addDefault();
    if (!object) return;
    object.phrase = phrase;
    this.editor.select(object.key);
    this.editor.changed();
  }
}
