// The editors' drawing surface: a <canvas> that keeps the layout's aspect ratio inside its stage,
// draws the background and grid, batches redraws with requestAnimationFrame, and turns pointer events
// (captured for drags) into model coordinates for the tool (box_tool.js / pose_tool.js). While a drag
// is under way the canvas keeps its place and size (a re-fit waits for the drag's end), so the point
// under the pointer stays the point the drag started from.
//
// A tool implements: draw(ctx, view), pointerDown(point, event) -> drag {move(point, event),
// end(point, event)} | null, cursorAt(point) -> CSS cursor, doubleClick(point).

import { el } from "./dom.js";
import { fitContain } from "./geometry.js";

export class EditorCanvas {
  /**
   * @param {HTMLElement} stage  the element the canvas fills (its size decides the canvas size)
   * @param {{canvasSize: () => [number, number], grid: () => number | null, tool: object,
   *          onPointerDown: () => void}} options  canvasSize: layout pixels; grid: layout pixels or null
   */
  constructor(stage, { canvasSize, grid, tool, onPointerDown }) {
    this.stage = stage;
    this.canvasSize = canvasSize;
    this.grid = grid;
    this.tool = tool;
    this.onPointerDown = onPointerDown;
    this.background = null;
    this.drag = null;
    this.layoutPending = false; // a re-fit asked for during a drag
    this.frame = 0;
    this.display = { width: 1, height: 1 };
    this.canvas = el("canvas", { className: "gligen-canvas" });
    stage.append(this.canvas);
    this.listeners = [
      ["pointerdown", (e) => this.#pointerDown(e)],
      ["pointermove", (e) => this.#pointerMove(e)],
      ["pointerup", (e) => this.#pointerUp(e)],
      ["pointercancel", (e) => this.#pointerUp(e)],
      ["lostpointercapture", () => this.#cancelDrag()],
      ["dblclick", (e) => this.tool.doubleClick?.(this.toModel(e))],
      // Keep keyboard focus where the editor put it (its key sink) instead of moving it to the page.
      ["mousedown", (e) => e.preventDefault()],
    ];
    for (const [name, handler] of this.listeners) this.canvas.addEventListener(name, handler);
    this.resizeObserver = new ResizeObserver(() => this.layout());
    this.resizeObserver.observe(stage);
  }

  /** Fit the canvas to the stage at the layout's aspect ratio (call after the canvas size changed). */
  layout() {
    if (this.drag) {
      this.layoutPending = true;
      return;
    }
    this.layoutPending = false;
    const [width, height] = this.canvasSize();
    this.stage.style.setProperty("--gligen-aspect", `${width} / ${height}`);
    const box = fitContain(this.stage.clientWidth, this.stage.clientHeight, width / height);
    if (box.width < 1 || box.height < 1) return;
    Object.assign(this.canvas.style, { left: `${box.left}px`, top: `${box.top}px`,
      width: `${box.width}px`, height: `${box.height}px` });
    this.display = { width: box.width, height: box.height };
    this.requestDraw();
  }

  /** An HTMLImageElement (loaded) drawn stretched under the layout, or null for a plain canvas. */
  setBackground(image) {
    this.background = image;
    this.requestDraw();
  }

  requestDraw() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.#draw();
    });
  }

  /** The pointer position in model coordinates (may lie outside [0, 1] while dragging). */
  toModel(event) {
    const rect = this.canvas.getBoundingClientRect();
    return [(event.clientX - rect.left) / rect.width, (event.clientY - rect.top) / rect.height];
  }

  /** Model units per display pixel, per axis (for hit tolerances given in display pixels). */
  modelPerPixel() {
    return [1 / this.display.width, 1 / this.display.height];
  }

  #draw() {
    // Backing store at device pixels times the graph zoom (the classic canvas scales DOM widgets).
    const rect = this.canvas.getBoundingClientRect();
    const zoom = Math.max(1, rect.width / this.display.width);
    const ratio = Math.min(4, (window.devicePixelRatio || 1) * zoom);
    const width = Math.round(this.display.width * ratio);
    const height = Math.round(this.display.height * ratio);
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    const view = { width: this.display.width, height: this.display.height,
      x: (nx) => nx * this.display.width, y: (ny) => ny * this.display.height };
    ctx.fillStyle = "#2f2f2f";
    ctx.fillRect(0, 0, view.width, view.height);
    if (this.background) {
      ctx.globalAlpha = 0.85;
      ctx.drawImage(this.background, 0, 0, view.width, view.height);
      ctx.globalAlpha = 1;
    }
    this.#drawGrid(ctx, view);
    this.tool.draw(ctx, view);
  }

  #drawGrid(ctx, view) {
    const step = this.grid();
    if (!step) return;
    const [width, height] = this.canvasSize();
    // Grid lines at least 6 display pixels apart: every 8 px cell when zoomed in, else a multiple.
    let cell = step;
    while ((cell / width) * view.width < 6) cell *= 2;
    ctx.strokeStyle = "rgba(255, 255, 255, 0.07)";
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let x = cell; x < width; x += cell) {
      const px = Math.round(view.x(x / width)) + 0.5;
      ctx.moveTo(px, 0);
      ctx.lineTo(px, view.height);
    }
    for (let y = cell; y < height; y += cell) {
      const py = Math.round(view.y(y / height)) + 0.5;
      ctx.moveTo(0, py);
      ctx.lineTo(view.width, py);
    }
    ctx.stroke();
  }

  #pointerDown(event) {
    event.stopPropagation(); // the graph must not pan or drag the node
    if (event.button !== 0) return;
    this.onPointerDown();
    const drag = this.tool.pointerDown(this.toModel(event), event);
    if (drag) {
      this.drag = drag;
      this.canvas.setPointerCapture(event.pointerId);
    }
    this.requestDraw();
  }

  #pointerMove(event) {
    event.stopPropagation();
    const point = this.toModel(event);
    if (this.drag) {
      this.drag.move(point, event);
      this.requestDraw();
    } else {
      this.canvas.style.cursor = this.tool.cursorAt(point) ?? "crosshair";
    }
  }

  #pointerUp(event) {
    event.stopPropagation();
    if (!this.drag) return;
    const drag = this.drag;
    this.drag = null;
    if (this.canvas.hasPointerCapture(event.pointerId)) this.canvas.releasePointerCapture(event.pointerId);
    drag.end(this.toModel(event), event);
    this.#afterDrag();
  }

  /** Re-fit now if the stage changed during the drag; redraw. */
  #afterDrag() {
    if (this.layoutPending) this.layout();
    this.requestDraw();
  }

  #cancelDrag() {
    // Capture lost without a pointerup (e.g. the element left the page): the drag is discarded.
    if (!this.drag) return;
    const drag = this.drag;
    this.drag = null;
    drag.cancel?.();
    this.#afterDrag();
  }

  destroy() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.resizeObserver.disconnect();
    for (const [name, handler] of this.listeners) this.canvas.removeEventListener(name, handler);
    this.canvas.remove();
  }
}
