// The editors' one stylesheet (injected by dom.js). Every class carries the gligen- prefix.
// Classic canvas: the frontend sizes `.dom-widget`; Nodes 2.0: the editor sits in `.lg-node-widget`
// and takes its own height (the stage keeps the layout's aspect ratio).

export const EDITOR_CSS = `
.gligen-editor {
  display: flex; flex-direction: column; gap: 4px; box-sizing: border-box; min-height: 300px;
  padding: 2px; overflow: hidden; font: 12px sans-serif; color: var(--input-text, #ddd);
}
.dom-widget > .gligen-editor { height: 100%; }
.gligen-toolbar { display: flex; flex-wrap: wrap; gap: 3px; align-items: center; }
.gligen-btn {
  background: var(--comfy-input-bg, #222); color: inherit; border: 1px solid var(--border-color, #444);
  border-radius: 4px; padding: 1px 5px; font: inherit; cursor: pointer; line-height: 18px;
}
.gligen-btn:hover:not(:disabled) { border-color: #5a8dee; }
.gligen-btn[aria-pressed="true"] { background: #2f4f7a; border-color: #5a8dee; }
.gligen-btn:disabled { opacity: 0.4; cursor: default; }
.gligen-editor input {
  background: var(--comfy-input-bg, #222); color: inherit; border: 1px solid var(--border-color, #444);
  border-radius: 3px; font: inherit; padding: 1px 3px; box-sizing: border-box; min-width: 0;
}
.gligen-size { display: inline-flex; gap: 2px; align-items: center; }
.gligen-size input { width: 46px; }
.gligen-stage {
  position: relative; flex: 1 1 auto; min-height: 150px; background: #151515; border-radius: 4px;
  overflow: hidden;
}
.lg-node-widget .gligen-stage { flex: none; aspect-ratio: var(--gligen-aspect, 1); max-height: 520px; }
.gligen-canvas { position: absolute; touch-action: none; cursor: crosshair; }
.gligen-keys {
  position: absolute; left: 0; top: 0; width: 1px; height: 1px; opacity: 0; border: 0; padding: 0;
  resize: none; overflow: hidden; pointer-events: none;
}
.gligen-list { flex: 0 1 auto; max-height: 38%; overflow-y: auto; display: flex; flex-direction: column; gap: 2px; }
.lg-node-widget .gligen-list { max-height: 260px; }
.gligen-row { display: flex; gap: 3px; align-items: center; padding: 1px 2px; border-radius: 3px; }
.gligen-box-editor .gligen-row {
  display: grid; grid-template-columns: 18px 22px minmax(60px, 1fr) 46px 46px repeat(4, auto);
}
.gligen-row.gligen-head { opacity: 0.6; font-size: 10px; }
.gligen-row.gligen-selected { background: rgba(90, 141, 238, 0.18); outline: 1px solid #5a8dee; }
.gligen-row .gligen-grow { flex: 1 1 auto; }
.gligen-row input.gligen-missing { border-color: #e6194b; }
.gligen-row input[type="number"] { width: 46px; }
.gligen-index { width: 18px; text-align: right; opacity: 0.75; flex: none; }
.gligen-swatch { width: 20px; height: 18px; padding: 0; border: none; background: none; flex: none; }
.gligen-joints { display: flex; flex-wrap: wrap; gap: 2px; padding: 2px; }
.gligen-chip { font-size: 10px; padding: 0 4px; }
.gligen-chip[aria-pressed="false"] { opacity: 0.45; text-decoration: line-through; }
.gligen-json { display: none; flex-direction: column; gap: 4px; flex: 1 1 auto; min-height: 0; }
.gligen-json textarea {
  flex: 1 1 auto; min-height: 180px; font: 11px monospace; background: var(--comfy-input-bg, #222);
  color: inherit; border: 1px solid var(--border-color, #444);
}
.gligen-json-error { min-height: 14px; font-size: 11px; color: #f0a35e; white-space: pre-wrap; }
.gligen-json-open .gligen-json { display: flex; }
.gligen-json-open .gligen-stage, .gligen-json-open .gligen-list { display: none; }
.gligen-row input.gligen-uncaptioned:not(.gligen-missing) { border-style: dashed; border-color: #f0a35e; }
.gligen-caption { display: flex; flex-direction: column; gap: 2px; flex: none; }
.gligen-caption[hidden] { display: none; }
.gligen-caption-text {
  max-height: 4.6em; overflow-y: auto; line-height: 1.5em; padding: 1px 3px; border-radius: 3px;
  background: var(--comfy-input-bg, #222); white-space: pre-wrap; word-break: break-word; user-select: none;
}
.gligen-word { cursor: pointer; border-radius: 2px; }
.gligen-word:hover { background: rgba(90, 141, 238, 0.25); }
.gligen-word.gligen-word-used { text-decoration: underline; text-decoration-color: #3cb44b; }
.gligen-word.gligen-picked { background: #2f4f7a; outline: 1px solid #5a8dee; }
.gligen-caption-bar { display: flex; gap: 3px; align-items: center; }
.gligen-caption-pick { flex: 1 1 auto; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap;
  opacity: 0.8; }
.gligen-timeline { display: flex; flex-direction: column; gap: 1px; flex: none; }
.gligen-timeline[hidden], .gligen-json-open .gligen-timeline { display: none; }
.gligen-timeline-bar { display: flex; flex-wrap: wrap; gap: 3px; align-items: center; }
.gligen-timeline-bar input.gligen-frame { width: 52px; }
.gligen-timeline-bar input.gligen-frame.gligen-on-key { border-color: #f0c05e; }
.gligen-frame-last { opacity: 0.7; margin-right: 4px; }
.gligen-track { position: relative; height: 30px; }
.gligen-frame-slider { position: absolute; left: 0; right: 0; bottom: 0; width: 100%; margin: 0; }
.gligen-markers { position: absolute; left: 8px; right: 8px; top: 0; height: 11px; }
.gligen-btn.gligen-key-marker {
  position: absolute; top: 1px; width: 9px; height: 9px; padding: 0; margin-left: -4.5px; border-radius: 1px;
  transform: rotate(45deg); background: #f0c05e; border: 1px solid #2a2a2a; line-height: 0;
}
.gligen-btn.gligen-key-marker.gligen-key-hidden { background: transparent; border-color: #f0c05e; }
.gligen-btn.gligen-key-marker.gligen-key-any { opacity: 0.5; }
.gligen-btn.gligen-key-marker.gligen-key-current { outline: 2px solid #5a8dee; }
.gligen-status { min-height: 14px; font-size: 11px; opacity: 0.85; white-space: pre-wrap; }
.gligen-status.gligen-warn { color: #f0a35e; opacity: 1; }
`;
