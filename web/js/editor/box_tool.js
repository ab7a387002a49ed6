// Boxes on the canvas: draw by dragging on empty space (or anywhere with Ctrl), move by the body,
// resize by the eight handles, keyboard nudge / delete. Objects later in the list are on top.
// Locked boxes are drawn dashed and cannot be picked on the canvas.

import { BoxPanel } from "./box_panel.js";
import { CAPTION_KEY } from "./caption.js";
import { CaptionStrip } from "./caption_strip.js";
import { MAX_OBJECTS } from "./constants.js";
import { handleAt, handlePositions, moveRect, pointInRect, rectFromCorners, resizeRect } from "./geometry.js";
import { colorOf, isLocked, newObject } from "./layout_model.js";
import { fitLabel } from "./text.js";
import { Tool } from "./tool.js";

const HANDLE_PX = 7; // handle square, display pixels
const CLICK_PX = 4; // a drag shorter than this draws nothing
const ONION_ALPHA = 0.55; // the onion skin's outlines
const CURSORS = { nw: "nwse-resize", se: "nwse-resize", ne: "nesw-resize", sw: "nesw-resize", n: "ns-resize",
  s: "ns-resize", e: "ew-resize", w: "ew-resize" };

export class BoxTool extends Tool {
  constructor(editor) {
    super(editor, { kind: "box", list: "objects", valueKey: "box", addLabel: "+ box", max: MAX_OBJECTS,
      Panel: BoxPanel, nodeHeight: 700 });
    this.drawing = null; // the rect being drawn, model units
    this.caption = null; // the CaptionStrip, once the editor is built
  }

  get objects() {
    return this.entries;
  }

  sections() {
    this.caption = new CaptionStrip(this.editor);
    return [this.caption.element];
  }

  /** A run with a `caption` input sends the caption (nodes/editor/captions.py); one without hides the strip. */
  executed(output) {
    this.caption?.show(output?.[CAPTION_KEY]?.[0]);
  }

  refresh() {
    this.caption?.refresh();
  }

  /** Pasted OpenPose JSON belongs in a pose node. */
  jsonRefusal(parsed) {
    if (parsed.openpose !== undefined) return "This is OpenPose JSON: paste it into a GLIGEN Pose Encode node.";
    return super.jsonRefusal(parsed);
  }

  /** The topmost unlocked object under the point (as it is at the current frame). */
  objectAt(point) {
    for (let i = this.objects.length - 1; i >= 0; i--) {
      const object = this.objects[i];
      const box = this.value(object);
      if (box && !isLocked(object) && pointInRect(point, box)) return object;
    }
    return null;
  }

  handleAt(point) {
    const object = this.selected();
    const box = object && this.value(object);
    if (!box || isLocked(object)) return null;
    const [px, py] = this.editor.canvas.modelPerPixel();
    return handleAt(point, box, [HANDLE_PX * px, HANDLE_PX * py]);
  }

  cursorAt(point) {
    const handle = this.handleAt(point);
    if (handle) return CURSORS[handle];
    return this.objectAt(point) ? "move" : "crosshair";
  }

  pointerDown(point, event) {
    const editor = this.editor;
    if (!editor.editable) return null;
    if (!event.ctrlKey && !event.metaKey) {
      const handle = this.handleAt(point);
      if (handle) return this.#resizeDrag(this.selected(), handle);
      const object = this.objectAt(point);
      if (object) {
        editor.select(object.key);
        return this.#moveDrag(object, point);
      }
    }
    return this.#drawDrag(point);
  }

  #resizeDrag(object, handle) {
    const editor = this.editor;
    return this.editDrag(object, (point, original) => {
      const snapped = [editor.quantize(point[0], "x"), editor.quantize(point[1], "y")];
      return resizeRect(original, handle, snapped, editor.minSize());
    });
  }

  /** Moved by the pointer, then its top-left corner snapped (the size stays). */
  #moveDrag(object, start) {
    const editor = this.editor;
    return this.editDrag(object, (point, original) => {
      const moved = moveRect(original, point[0] - start[0], point[1] - start[1]);
      const x0 = editor.quantize(moved[0], "x");
      const y0 = editor.quantize(moved[1], "y");
      return moveRect(original, x0 - original[0], y0 - original[1]);
    });
  }

  #drawDrag(start) {
    const editor = this.editor;
    const [px, py] = editor.canvas.modelPerPixel();
    const anchor = [editor.quantize(start[0], "x"), editor.quantize(start[1], "y")];
    let moved = false;
    return {
      move: (point) => {
        moved ||= Math.abs(point[0] - start[0]) > CLICK_PX * px || Math.abs(point[1] - start[1]) > CLICK_PX * py;
        if (!moved) return;
        const corner = [editor.quantize(point[0], "x"), editor.quantize(point[1], "y")];
        this.drawing = rectFromCorners(anchor, corner);
      },
      end: () => {
        const rect = this.drawing;
        this.drawing = null;
        const [minW, minH] = editor.minSize();
        if (!moved || !rect || rect[2] - rect[0] < minW || rect[3] - rect[1] < minH) {
          editor.select(null);
          return;
        }
        if (this.objects.length >= MAX_OBJECTS) {
          editor.warn(`GLIGEN takes at most ${MAX_OBJECTS} objects.`);
          return;
        }
        const object = newObject(this.objects, rect);
        this.objects.push(object);
        editor.select(object.key);
        editor.changed();
        editor.focusEntry(object.key);
      },
      cancel: () => {
        this.drawing = null;
      },
    };
  }

  doubleClick(point) {
    const object = this.objectAt(point);
    if (object) this.editor.focusEntry(object.key);
  }

  /** Add a box in the middle of the canvas, a quarter of its size. */
  addDefault() {
    if (this.objects.length >= MAX_OBJECTS) return null;
    const editor = this.editor;
    const box = [editor.quantize(0.375, "x"), editor.quantize(0.375, "y"),
      editor.quantize(0.625, "x"), editor.quantize(0.625, "y")];
    const object = newObject(this.objects, box);
    this.objects.push(object);
    return object;
  }

  /** Move an object's box by (dx, dy), model units, inside the canvas; an image-only object has none, one
   * hidden at the current frame none there. */
  nudgeEntry(object, dx, dy) {
    const box = this.value(object);
    return Boolean(box) && this.setValue(object, moveRect(box, dx, dy));
  }

  draw(ctx, view) {
    const selectedKey = this.editor.selection.key;
    const fontPx = Math.max(10, Math.min(14, view.height / 28));
    ctx.font = `${fontPx}px sans-serif`;
    ctx.textBaseline = "top";
    this.#onionSkin(ctx, view, fontPx);
    this.objects.forEach((object, index) => {
      const box = this.value(object);
      if (!box) return; // an image-only object, or hidden at this frame
      const color = colorOf(object, index);
      const [x0, y0, x1, y1] = box;
      const left = view.x(x0);
      const top = view.y(y0);
      const width = view.x(x1) - left;
      const height = view.y(y1) - top;
      ctx.globalAlpha = 0.18;
      ctx.fillStyle = color;
      ctx.fillRect(left, top, width, height);
      ctx.globalAlpha = 1;
      ctx.strokeStyle = color;
      ctx.lineWidth = object.key === selectedKey ? 3 : 2;
      ctx.setLineDash(isLocked(object) ? [6, 4] : []);
      ctx.strokeRect(left, top, width, height);
      ctx.setLineDash([]);
      this.#label(ctx, `${index + 1} ${labelText(object)}`, left, top, width, fontPx);
    });
    const selected = this.selected();
    const selectedBox = selected && this.value(selected);
    if (selectedBox && !isLocked(selected)) this.#handles(ctx, view, selectedBox);
    if (this.drawing) {
      const [x0, y0, x1, y1] = this.drawing;
      ctx.strokeStyle = "#ffffff";
      ctx.lineWidth = 1;
      ctx.setLineDash([4, 3]);
      ctx.strokeRect(view.x(x0), view.y(y0), view.x(x1) - view.x(x0), view.y(y1) - view.y(y0));
      ctx.setLineDash([]);
    }
  }

  /** The selected box at its keyframes before and after this frame: dashed outlines, their frame numbers. */
  #onionSkin(ctx, view, fontPx) {
    const skins = this.onionSkin();
    if (!skins.length) return;
    const selected = this.selected();
    ctx.strokeStyle = colorOf(selected, this.objects.indexOf(selected));
    ctx.fillStyle = ctx.strokeStyle;
    ctx.lineWidth = 1;
    ctx.globalAlpha = ONION_ALPHA;
    ctx.setLineDash([3, 3]);
    for (const { frame, value: [x0, y0, x1, y1] } of skins) {
      ctx.strokeRect(view.x(x0), view.y(y0), view.x(x1) - view.x(x0), view.y(y1) - view.y(y0));
      ctx.fillText(String(frame), view.x(x0) + 2, Math.max(0, view.y(y1) - fontPx - 2));
    }
    ctx.setLineDash([]);
    ctx.globalAlpha = 1;
  }

  #label(ctx, text, left, top, width, fontPx) {
    const room = width - 6;
    if (room < fontPx) return;
    const label = fitLabel(ctx, text, room); // direction controls shown as markers, bounded work for any length
    const labelWidth = ctx.measureText(label).width;
    ctx.fillStyle = "rgba(0, 0, 0, 0.65)";
    ctx.fillRect(left + 2, top + 2, labelWidth + 4, fontPx + 4);
    ctx.fillStyle = "#ffffff";
    ctx.fillText(label, left + 4, top + 4); // canvas text: phrases are never parsed as markup
  }

  #handles(ctx, view, box) {
    ctx.fillStyle = "#ffffff";
    ctx.strokeStyle = "#000000";
    ctx.lineWidth = 1;
    for (const [hx, hy] of Object.values(handlePositions(box))) {
      const x = view.x(hx) - HANDLE_PX / 2;
      const y = view.y(hy) - HANDLE_PX / 2;
      ctx.fillRect(x, y, HANDLE_PX, HANDLE_PX);
      ctx.strokeRect(x, y, HANDLE_PX, HANDLE_PX);
    }
  }
}

/** What a box's label says after its number: the phrase, else the reference image ("image 2"), else "…". */
function labelText(object) {
  if (object.phrase) return object.phrase;
  const { image } = object;
  if (typeof image === "number" || typeof image === "string") return `image ${image}`;
  return image != null ? "image" : "…";
}
