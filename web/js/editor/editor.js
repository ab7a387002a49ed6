// One in-node editor: toolbar, canvas, list, JSON panel, status line, undo history. What it edits and
// how (boxes or persons) comes from its Tool (box_tool.js / pose_tool.js); the editor itself is the same
// for both. The node's `layout` STRING widget is the single source of truth: the editor draws what it
// holds and writes canonical layout JSON back into it on every committed edit (never while loading).
// The canvas shows the layout at the timeline's frame (timeline.js); edits there key that frame.

import { BackgroundFrames, readFrameRefs } from "./background_frames.js";
import { EditorCanvas } from "./canvas.js";
import { GRID, MAX_CANVAS } from "./constants.js";
import { button, el, setText } from "./dom.js";
import { clamp, quantize } from "./geometry.js";
import { History } from "./history.js";
import { JsonPanel } from "./json_panel.js";
import { emptyLayout, parseLayout, serializeLayout } from "./layout_model.js";
import { Timeline } from "./timeline.js";

export class LayoutEditor {
  /**
   * @param {object} options
   * @param {Function} options.Tool  BoxTool or PoseTool (a subclass of tool.js: Tool)
   * @param {object} options.widget  the node's layout STRING widget
   * @param {() => object} options.properties  the node's properties (view settings: snap, background)
   * @param {(ref: object) => string} options.imageUrl  /view URL of {filename, subfolder, type}
   * @param {() => object|null} options.lastOutput  the newest image the graph produced, or null
   * @param {() => void} options.onChange  tells the host graph that the workflow changed
   * @param {(event: WheelEvent) => void} options.onWheel  the mouse wheel over the canvas (zooms the graph)
   * @param {() => number} [options.frames]  the node's `frames` widget value (0 without one): the timeline's length
   */
  constructor({ Tool, widget, properties, imageUrl, lastOutput, onChange, onWheel, frames = () => 0 }) {
    Object.assign(this, { widget, imageUrl, lastOutput, onChange });
    this.nodeProperties = properties;
    this.history = new History();
    this.selection = { key: null, joint: null };
    this.layout = emptyLayout();
    this.text = null; // the widget text the editor shows
    this.editable = true;
    this.message = "";
    this.backgroundImage = null;
    this.backgroundFrames = new BackgroundFrames(imageUrl);
    this.tool = new Tool(this);
    this.#build(onWheel, frames);
  }

  #build(onWheel, frames) {
    const tool = this.tool;
    this.keys = el("textarea", { className: "gligen-keys", tabIndex: 0, attrs: { "aria-label": "layout editor keys" },
      on: { keydown: (e) => this.#keyDown(e), input: () => (this.keys.value = "") } });
    this.keyBindings = tool.keyBindings();
    this.stage = el("div", { className: "gligen-stage", on: { wheel: (e) => onWheel(e) } }, this.keys);
    this.list = el("div", { className: "gligen-list" });
    this.status = el("div", { className: "gligen-status", attrs: { role: "status" } });
    this.width = el("input", { type: "number", min: 1, max: MAX_CANVAS, step: GRID, title: "Canvas width, pixels",
      on: { change: () => this.#resizeCanvas() } });
    this.height = el("input", { type: "number", min: 1, max: MAX_CANVAS, step: GRID, title: "Canvas height, pixels",
      on: { change: () => this.#resizeCanvas() } });
    this.buttons = {
      add: button(tool.addLabel, `Add (at most ${tool.max})`, () => this.#add(), "gligen-add"),
      snap: button("snap", `Snap to a ${GRID} px grid`, () => this.#toggleSnap(), "gligen-snap"),
      lastOutput: button("bg: output", "Show the graph's newest output image under the canvas",
        () => this.setBackground(this.lastOutput())),
      clearBackground: button("×", "Remove the background image", () => this.setBackground(null)),
      undo: button("↶", "Undo (Ctrl+Z)", () => this.undo(), "gligen-undo"),
      redo: button("↷", "Redo (Ctrl+Shift+Z)", () => this.redo(), "gligen-redo"),
      json: button("JSON", "Show or paste the layout JSON", () => this.openJson(), "gligen-json-btn"),
    };
    this.toolButtons = tool.toolbarButtons().map(({ label, title, run, enabled }) =>
      ({ element: button(label, title, run), enabled }));
    const toolbar = el("div", { className: "gligen-toolbar" }, this.buttons.add,
      ...this.toolButtons.map((b) => b.element), this.buttons.snap,
      el("span", { className: "gligen-size" }, this.width, el("span", { text: "×" }), this.height),
      this.buttons.lastOutput, this.buttons.clearBackground, this.buttons.undo, this.buttons.redo, this.buttons.json);
    this.json = new JsonPanel({ read: () => this.widget.value ?? "", apply: (text) => this.applyText(text),
      onToggle: (open) => this.#jsonToggled(open) });
    this.timeline = new Timeline(this, frames, () => Number(this.properties.gligen_run_frames ?? 0));
    this.root = el("div", { className: `gligen-editor gligen-${tool.kind}-editor` },
      toolbar, this.stage, this.timeline.element, ...tool.sections(), this.list, this.json.element, this.status);
    // Inside the editor the pointer belongs to the editor: the node must not start dragging (Nodes 2.0).
    for (const name of ["pointerdown", "pointermove", "pointerup"]) {
      this.root.addEventListener(name, (e) => e.stopPropagation());
    }
    // After a click anywhere but a text field the keys go to the canvas (Delete, arrows, Ctrl+Z), not
    // to ComfyUI, which would delete the node or undo the whole graph.
    this.root.addEventListener("click", (e) => {
      if (!e.target.closest("input, textarea, select, canvas, .gligen-json")) this.focusCanvas();
    });
    this.panel = new tool.Panel(this, this.list);
    this.canvas = new EditorCanvas(this.stage, { canvasSize: () => [this.layout.width, this.layout.height],
      grid: () => (this.snap ? GRID : null), tool, onPointerDown: () => this.focusCanvas() });
  }

  /** The node's properties: view settings saved with the workflow, never sent to Python. */
  get properties() {
    return this.nodeProperties();
  }

  /** The frame the canvas shows and edits (0 without a timeline). */
  get frame() {
    return this.timeline.frame;
  }

  /** The timeline moved to another frame. */
  frameChanged() {
    this.#refresh();
    this.#showBackground();
  }

  /** The frames the node's last run grounded (a connected latent's batch size; 0: a static run): the
   * timeline spans them while the `frames` widget is 0. Saved with the node's view settings. */
  setRunFrames(frames) {
    const count = Math.round(Number(frames));
    if (Number.isFinite(count) && count > 0) this.properties.gligen_run_frames = count;
    else delete this.properties.gligen_run_frames;
    this.#refresh();
    this.#showBackground();
  }

  /** The node's `frames` widget changed: the timeline's length (and whether it shows). */
  framesChanged() {
    this.#refresh();
  }

  get snap() {
    return this.properties.gligen_snap !== false;
  }

  /** A model coordinate on the layout-pixel grid (8 px with snap, else 1 px), inside the canvas even
   * when its size is not a multiple of the grid; axis "x" or "y". */
  quantize(value, axis) {
    return clamp(this.quantizeDelta(value, axis), 0, 1);
  }

  /** A model distance in whole grid steps (may be negative). */
  quantizeDelta(value, axis) {
    return quantize(value, axis === "x" ? this.layout.width : this.layout.height, this.snap ? GRID : 1);
  }

  /** The smallest box, model units per axis. */
  minSize() {
    const step = this.snap ? GRID : 1;
    return [step / this.layout.width, step / this.layout.height];
  }

  // ---------------------------------------------------------------- loading and writing the widget
  /** Show `text` (the widget's value); an undo history starts from it. */
  load(text) {
    this.#show(text ?? "");
    this.history.reset(this.text);
  }

  /** Follow the widget when something else changed it (workflow load, graph undo, another extension). */
  syncFromWidget() {
    if (this.widget.value !== this.text) this.load(this.widget.value);
  }

  /** A layout the node ran with (seeded / converted): shown and written, one undo step. */
  adopt(text) {
    if (text !== this.text) this.#take(text);
  }

  /** Show and write `text` as it is (no canonical form), one undo step. */
  #take(text) {
    this.#show(text);
    this.#writeWidget(text);
    this.history.record(text);
    this.#refresh();
  }

  #show(text) {
    const selectedIndex = this.#selectedIndex();
    this.text = text;
    const parsed = parseLayout(text);
    this.editable = Boolean(parsed.layout);
    this.layout = parsed.layout ?? emptyLayout();
    this.layout.lists.add(this.tool.list);
    this.message = parsed.layout ? "" : this.#notEditableMessage(parsed);
    this.selection = { key: this.tool.entries[selectedIndex]?.key ?? null, joint: null };
    this.width.value = String(this.layout.width);
    this.height.value = String(this.layout.height);
    this.canvas.layout();
    this.#refresh();
  }

  #notEditableMessage(parsed) {
    return this.tool.convertedOnRun(parsed) ?? `Not an editable layout (${parsed.error}). Use JSON to fix or ` +
      "replace it; the node reports the exact problem when it runs.";
  }

  #selectedIndex() {
    return this.tool.entries.findIndex((entry) => entry.key === this.selection.key);
  }

  /** Commit an edit of `this.layout`: write the widget, record undo (merging equal `mergeKey`s). */
  changed(mergeKey = null, { keepList = false } = {}) {
    if (!this.editable) return;
    const text = serializeLayout(this.layout);
    this.text = text;
    this.#writeWidget(text);
    this.history.record(text, mergeKey);
    this.#refresh({ keepList });
  }

  #writeWidget(text) {
    this.widget.value = text;
    this.onChange();
  }

  #refresh({ keepList = false } = {}) {
    const frame = this.frame;
    this.timeline.refresh(); // first: it clamps the frame the list and the canvas show
    if (this.frame !== frame) this.#showBackground(); // a video background follows a clamped frame
    if (!keepList) this.panel.render();
    this.buttons.add.disabled = !this.editable || this.tool.entries.length >= this.tool.max;
    this.#refreshToolButtons();
    this.buttons.snap.setAttribute("aria-pressed", String(this.snap));
    this.buttons.undo.disabled = !this.history.canUndo;
    this.buttons.redo.disabled = !this.history.canRedo;
    this.buttons.lastOutput.disabled = !this.lastOutput();
    this.buttons.clearBackground.disabled = !this.properties.gligen_background;
    this.width.disabled = this.height.disabled = !this.editable;
    const hint = this.editable ? [this.panel.hint(), this.timeline.hint()].filter(Boolean).join(" ") : this.message;
    setText(this.status, hint);
    this.status.classList.toggle("gligen-warn", Boolean(hint));
    this.tool.refresh();
    this.canvas.requestDraw();
  }

  #refreshToolButtons() {
    for (const { element, enabled } of this.toolButtons) element.disabled = !enabled();
  }

  /** Re-check what the toolbar offers (e.g. a new output image for "last output"). */
  refreshButtons() {
    this.#refresh({ keepList: true });
  }

  // ---------------------------------------------------------------- selection and commands
  select(key, joint = null) {
    this.selection = { key, joint };
    this.panel.updateSelection();
    this.timeline.refresh();
    this.#refreshToolButtons();
    this.tool.refresh();
    this.canvas.requestDraw();
  }

  focusCanvas() {
    this.keys.focus({ preventScroll: true });
  }

  focusEntry(key) {
    this.panel.focus(key);
  }

  warn(message) {
    setText(this.status, message);
    this.status.classList.add("gligen-warn");
  }

  #add() {
    if (!this.editable) return;
    const entry = this.tool.addDefault();
    if (!entry) return;
    this.select(entry.key);
    this.changed();
    this.focusEntry(entry.key);
  }

  #toggleSnap() {
    this.properties.gligen_snap = !this.snap;
    this.#refresh({ keepList: true });
    this.onChange();
  }

  #resizeCanvas() {
    const size = (input, fallback) => {
      const value = Math.round(Number(input.value));
      return Number.isFinite(value) && value >= 1 && value <= MAX_CANVAS ? value : fallback;
    };
    this.layout.width = size(this.width, this.layout.width);
    this.layout.height = size(this.height, this.layout.height);
    this.width.value = String(this.layout.width);
    this.height.value = String(this.layout.height);
    this.canvas.layout();
    this.changed();
  }

  undo() {
    this.#restore(this.history.undo());
  }

  redo() {
    this.#restore(this.history.redo());
  }

  #restore(text) {
    if (text === null) return;
    this.#show(text);
    this.#writeWidget(text);
  }

  #keyDown(event) {
    const mod = event.ctrlKey || event.metaKey;
    const key = event.key.toLowerCase();
    if (mod && (key === "z" || key === "y")) {
      if (key === "y" || event.shiftKey) this.redo();
      else this.undo();
    } else if (mod || event.altKey) {
      return; // other shortcuts (e.g. Ctrl+Enter to queue) stay with ComfyUI
    } else if (event.key === "Delete" || event.key === "Backspace") {
      if (this.editable && this.tool.deleteSelected()) this.changed();
    } else if (event.key.startsWith("Arrow")) {
      const base = this.snap ? GRID : 1;
      const step = event.shiftKey ? base * (this.snap ? 4 : 10) : base;
      const [dx, dy] = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[
        event.key] ?? [0, 0];
      const { key: selected, joint } = this.selection;
      if (this.editable && this.tool.nudge(dx, dy)) this.changed(`nudge:${selected}:${joint}:${this.frame}`);
    } else if (event.key === "Escape") {
      this.select(null);
    } else if (this.timeline.keyDown(event)) {
      // a frame step, or a keyframe added
    } else if (this.keyBindings.has(key)) {
      if (!this.keyBindings.get(key)()) return; // not used (e.g. nothing selected): ComfyUI may have it
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation(); // ComfyUI must not also delete the node or undo the graph
  }

  // ---------------------------------------------------------------- background
  /** Show an image under the canvas: {filename, subfolder, type} as /view serves it, or null; `frames`: the
   * images of a video background, one per frame of the run (frame f's is shown at frame f), or none. */
  setBackground(ref, frames = null) {
    if (ref && typeof ref.filename === "string") {
      const { filename, subfolder = "", type = "output" } = ref;
      this.properties.gligen_background = { filename: String(filename), subfolder: String(subfolder),
        type: String(type) };
    } else {
      delete this.properties.gligen_background;
    }
    const frameRefs = this.properties.gligen_background ? readFrameRefs(frames) : null;
    if (frameRefs) this.properties.gligen_background_frames = frameRefs;
    else delete this.properties.gligen_background_frames;
    this.#loadBackground();
    this.onChange();
  }

  /** (Re)load the background the node's properties name. */
  #loadBackground() {
    const ref = this.properties.gligen_background;
    this.backgroundFrames.set(ref ? readFrameRefs(this.properties.gligen_background_frames) : null);
    this.canvas.setBackground(null);
    this.#refresh({ keepList: true });
    if (!ref) return;
    const image = new Image();
    this.backgroundImage = image;
    image.onload = () => this.backgroundImage === image && this.#showBackground();
    image.onerror = () => this.backgroundImage === image &&
      this.warn("The background image is gone (ComfyUI clears temp images when it restarts).");
    image.src = this.imageUrl(ref);
  }

  /** The background of the timeline's frame: its own image for a video background (the previous picture stays
   * until it has loaded), else the main one. */
  #showBackground() {
    const frame = this.timeline.visible ? this.frame : 0;
    if (this.backgroundFrames.has(frame)) {
      const image = this.backgroundFrames.image(frame, (loaded) => this.frame === frame &&
        this.canvas.setBackground(loaded));
      if (image) this.canvas.setBackground(image);
      return;
    }
    const main = this.backgroundImage;
    this.canvas.setBackground(main?.complete && main.naturalWidth > 0 ? main : null);
  }

  restoreBackground() {
    this.#loadBackground();
  }

  // ---------------------------------------------------------------- JSON panel
  /** Show the layout JSON in place of the canvas, to read, copy or replace. */
  openJson() {
    this.json.open();
  }

  /** Take a text from the JSON panel: null when taken, else why not (the panel shows it). */
  applyText(text) {
    const parsed = parseLayout(text);
    if (parsed.layout) {
      this.#show(text);
      this.changed(); // writes the canonical text
      return null;
    }
    if (this.tool.convertedOnRun(parsed)) {
      this.#take(text); // converted by the node when it runs
      return null;
    }
    return this.tool.jsonRefusal(parsed);
  }

  #jsonToggled(open) {
    this.root.classList.toggle("gligen-json-open", open);
    if (!open) this.canvas.layout();
  }

  destroy() {
    this.canvas.destroy();
    if (this.backgroundImage) this.backgroundImage.src = "";
    this.backgroundImage = null;
    this.backgroundFrames.destroy();
    this.root.remove();
  }
}
