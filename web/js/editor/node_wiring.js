// Wiring an editor into a node type: created once per node, re-synced when a workflow is loaded,
// fed by the node's run (background image, seeded layouts, the caption), removed with the node; its node-menu
// entry.

import { BACKGROUND_FRAMES_KEY, BACKGROUND_KEY, FRAMES_KEY, LAYOUT_EVENT } from "./constants.js";
import { injectStyles } from "./dom.js";
import { LayoutEditor } from "./editor.js";
import { collectsNodeMenuItems, inputConnected, recordGraphChange } from "./front_end.js";

const LAYOUT_WIDGET = "layout";
const FRAMES_WIDGET = "frames"; // the INT widget the editor's timeline spans (a node without one: 0)

const editors = new WeakMap(); // node -> LayoutEditor
const live = new Set(); // editors on the page, to refresh when a new output image arrives
let newestOutput = null; // {filename, subfolder, type} of the newest image any node produced
let listening = false;

/** Wrap object[name] so `callback` runs after the original (which keeps its return value). */
export function chainCallback(object, name, callback) {
  const original = object[name];
  object[name] = function (...args) {
    const result = original?.apply(this, args);
    callback.apply(this, args);
    return result;
  };
}

/** The node a server execution id names ("12", or "3:12" inside subgraph node 3). */
function nodeByExecutionId(app, executionId) {
  let graph = app.rootGraph ?? app.graph;
  let node = null;
  for (const part of executionId.split(":")) {
    node = graph?.getNodeById(part) ?? null;
    if (!node) return null;
    graph = node.subgraph;
  }
  return node;
}

function listenToServer(app, api) {
  if (listening) return;
  listening = true;
  api.addEventListener(LAYOUT_EVENT, ({ detail }) => {
    const node = nodeByExecutionId(app, String(detail?.node ?? ""));
    const editor = node ? editors.get(node) : null;
    if (editor && typeof detail.layout === "string") editor.adopt(detail.layout);
  });
  api.addEventListener("executed", ({ detail }) => {
    const images = detail?.output?.images;
    if (!Array.isArray(images) || !images.length) return;
    newestOutput = images[images.length - 1];
    for (const editor of live) editor.refreshButtons();
  });
}

function graphChanged(app, node) {
  node.setDirtyCanvas?.(true, true);
  recordGraphChange(app); // the workflow's modified flag and ComfyUI's own undo
}

/** The layout widget is declared socketless; frontends that still give it an input slot (1.32.9 does for
 * STRING) lose that slot here while nothing is linked to it, so no link can override the editor. */
function dropLayoutSocket(node) {
  const index = node.inputs?.findIndex((input) => input.name === LAYOUT_WIDGET && input.widget) ?? -1;
  if (index >= 0 && !inputConnected(node, index)) node.removeInput(index);
}

const framesWidget = (node) => node.widgets?.find((w) => w.name === FRAMES_WIDGET) ?? null;

function createEditor(node, Tool, app, api) {
  if (editors.has(node)) return;
  const widget = node.widgets?.find((w) => w.name === LAYOUT_WIDGET);
  if (!widget) return;
  widget.hidden = true; // classic canvas: not drawn
  widget.type = "hidden"; // classic canvas: its textarea takes no height
  widget.options ??= {};
  widget.options.hidden = true; // Nodes 2.0: not rendered
  const editor = new LayoutEditor({
    Tool,
    widget,
    properties: () => node.properties,
    imageUrl: (ref) => api.apiURL(`/view?${new URLSearchParams(ref)}`),
    lastOutput: () => newestOutput,
    onChange: () => graphChanged(app, node),
    // The classic canvas does not see wheel events over DOM widgets; Nodes 2.0 forwards them itself.
    onWheel: (event) => editor.root.closest(".dom-widget") && app.canvas?.processMouseWheel?.(event),
    frames: () => Number(framesWidget(node)?.value ?? 0),
  });
  const domWidget = node.addDOMWidget(`${LAYOUT_WIDGET}_editor`, "gligen_layout_editor", editor.root, {
    serialize: false, // not in the prompt
    hideOnZoom: false,
    getMinHeight: () => 320,
  });
  domWidget.serialize = false; // not in the workflow's widgets_values
  // Follow every programmatic change of the layout widget (workflow load, graph undo, other extensions).
  const { setValue } = widget.options;
  if (typeof setValue === "function") {
    widget.options.setValue = function (value) {
      setValue.call(this, value);
      editor.syncFromWidget();
    };
  }
  const frames = framesWidget(node);
  if (frames) chainCallback(frames, "callback", () => editor.framesChanged());
  dropLayoutSocket(node);
  editor.load(widget.value);
  editors.set(node, editor);
  live.add(editor);
  node.setSize([Math.max(node.size[0], 480), Math.max(node.size[1], editor.tool.nodeHeight)]);
}

function destroyEditor(node) {
  const editor = editors.get(node);
  if (!editor) return;
  editor.destroy();
  editors.delete(node);
  live.delete(editor);
}

/**
 * Give every node of `nodeType` an editor on its layout widget, editing what `Tool` edits.
 * @param {object} nodeType  from beforeRegisterNodeDef
 * @param {{Tool: Function, app: object, api: object}} options  Tool: BoxTool or PoseTool
 */
export function installEditor(nodeType, { Tool, app, api }) {
  injectStyles();
  listenToServer(app, api);
  const proto = nodeType.prototype;
  chainCallback(proto, "onNodeCreated", function () {
    createEditor(this, Tool, app, api);
  });
  chainCallback(proto, "onConfigure", function () {
    dropLayoutSocket(this);
    const editor = editors.get(this);
    editor?.syncFromWidget();
    editor?.framesChanged(); // a loaded workflow sets the frames widget without its callback
    editor?.restoreBackground();
  });
  chainCallback(proto, "onRemoved", function () {
    destroyEditor(this);
  });
  chainCallback(proto, "onExecuted", function (output) {
    const editor = editors.get(this);
    if (!editor) return;
    const ref = output?.[BACKGROUND_KEY]?.[0];
    if (ref) editor.setBackground(ref, output[BACKGROUND_FRAMES_KEY]);
    editor.setRunFrames(output?.[FRAMES_KEY]?.[0] ?? 0);
    editor.tool.executed(output);
  });
  // Front ends with the getNodeMenuItems hook get the entry from there (nodeMenuItems) and still call
  // getExtraMenuOptions: only older ones get it here, so no menu shows it twice.
  if (collectsNodeMenuItems(app)) return;
  chainCallback(proto, "getExtraMenuOptions", function (_canvas, options) {
    options.push(...menuItems(editors.get(this)));
  });
}

/** The node-menu entries of an editor (none without one). */
function menuItems(editor) {
  return editor ? [{ content: "Edit layout JSON", callback: () => editor.openJson() }] : [];
}

/**
 * An extension's getNodeMenuItems(node) hook, which the front end calls for every node: the entries for
 * a node whose editor edits with `Tool` (each extension answers for its own node type only).
 */
export function nodeMenuItems(node, Tool) {
  const editor = editors.get(node);
  return editor?.tool instanceof Tool ? menuItems(editor) : [];
}
