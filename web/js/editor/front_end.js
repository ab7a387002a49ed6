// The few front-end APIs that differ between the front ends we support (tested on 1.32.9 and 1.58.1):
// each call takes the newer API where the page has it and falls back to the older one, so newer front
// ends log no deprecation warning for our code and older ones keep working.

/**
 * Whether input slot `index` of `node` has a link. Front end 1.58 deprecates reading `input.link` (its
 * links live in a store) in favour of `node.isInputConnected(slot)`, which 1.32.9 has as well.
 */
export function inputConnected(node, index) {
  if (typeof node.isInputConnected === "function") return node.isInputConnected(index);
  return node.inputs?.[index]?.link != null;
}

/**
 * Tell the active workflow's change tracker that the graph changed (the workflow's modified flag and
 * ComfyUI's own undo): `captureCanvasState()` on 1.58, which deprecates `checkState()` for it.
 */
export function recordGraphChange(app) {
  const tracker = app.extensionManager?.workflow?.activeWorkflow?.changeTracker;
  if (typeof tracker?.captureCanvasState === "function") tracker.captureCanvasState();
  else tracker?.checkState?.();
}

/**
 * Whether the front end builds node menus from the extensions' `getNodeMenuItems(node)` hook (it then
 * also still calls the node's `getExtraMenuOptions`, so an entry must come from one of the two only).
 */
export function collectsNodeMenuItems(app) {
  return typeof app.collectNodeMenuItems === "function";
}
