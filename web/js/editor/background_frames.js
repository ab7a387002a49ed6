// A video background's frames under the editor's canvas: in a per-frame run whose background batch has one
// image per frame, the node saves each frame (nodes/editor/browser.py: BACKGROUND_FRAMES_KEY) and the editor
// shows frame f's image while its timeline is at frame f. Frame 0 is the main background (saved larger).
// Each image is loaded the first time its frame is shown, and kept while the same frames are named.

/** A list of {filename, subfolder, type} (as /view serves them) with at least two frames, or null. */
export function readFrameRefs(refs) {
  if (!Array.isArray(refs) || refs.length < 2) return null;
  if (!refs.every((ref) => ref && typeof ref.filename === "string")) return null;
  return refs.map(({ filename, subfolder = "", type = "temp" }) =>
    ({ filename: String(filename), subfolder: String(subfolder), type: String(type) }));
}

export class BackgroundFrames {
  /** @param {(ref: object) => string} imageUrl  /view URL of {filename, subfolder, type} */
  constructor(imageUrl) {
    this.imageUrl = imageUrl;
    this.refs = null;
    this.images = [];
  }

  /** Name the frames (readFrameRefs' list, or null for none); images of other frames are dropped. */
  set(refs) {
    const same = JSON.stringify(refs ?? null) === JSON.stringify(this.refs);
    if (same) return;
    this.#drop();
    this.refs = refs ?? null;
  }

  /** Whether frame `frame` has an image of its own (frames 1 .. count - 1; frame 0 is the main background). */
  has(frame) {
    return Boolean(this.refs) && frame >= 1 && frame < this.refs.length;
  }

  /** The loaded image of `frame`, or null: no such frame, or still loading (then onReady(image) follows). */
  image(frame, onReady) {
    if (!this.has(frame)) return null;
    let image = this.images[frame];
    if (!image) {
      image = new Image();
      image.onload = () => this.images[frame] === image && onReady(image);
      image.src = this.imageUrl(this.refs[frame]);
      this.images[frame] = image;
    }
    return image.complete && image.naturalWidth > 0 ? image : null;
  }

  destroy() {
    this.#drop();
    this.refs = null;
  }

  #drop() {
    for (const image of this.images) if (image) image.src = "";
    this.images = [];
  }
}
