// Stand-ins for what the canvas tools (box_tool.js, pose_tool.js) use in a browser, for plain Node tests.

/**
 * A 2D context that records what is drawn. measureText counts its calls and gives a width of
 * `charWidth` per UTF-16 unit (or `widthOf(text)`); past `budget` calls it throws, so quadratic label
 * fitting fails fast instead of running for minutes.
 */
export function fakeContext({ charWidth = 7, widthOf = null, budget = Infinity } = {}) {
  return {
    measured: 0,
    texts: [], // fillText's texts, in order
    dashes: [], // setLineDash's arguments, in order
    font: "",
    textBaseline: "",
    globalAlpha: 1,
    fillStyle: "",
    strokeStyle: "",
    lineWidth: 1,
    measureText(text) {
      if (++this.measured > budget) throw new Error(`measureText called more than ${budget} times`);
      return { width: widthOf ? widthOf(text) : text.length * charWidth };
    },
    fillText(text) {
      this.texts.push(text);
    },
    setLineDash(dash) {
      this.dashes.push(dash);
    },
    fillRect() {},
    strokeRect() {},
    beginPath() {},
    moveTo() {},
    lineTo() {},
    stroke() {},
    arc() {},
    fill() {},
  };
}

/** A view of `width` x `height` display pixels, as canvas.js passes it to tool.draw. */
export function fakeView(width = 512, height = 512) {
  return { width, height, x: (nx) => nx * width, y: (ny) => ny * height };
}

/** The little of a LayoutEditor a tool reads: its layout, selection, editable flag and canvas scale;
 * `changes` counts committed edits. */
export function fakeEditor(layout, { width = 512, height = 512 } = {}) {
  return {
    layout,
    selection: { key: null, joint: null },
    editable: true,
    snap: false,
    changes: 0,
    canvas: { modelPerPixel: () => [1 / width, 1 / height] },
    select(key, joint = null) {
      this.selection = { key, joint };
    },
    changed() {
      this.changes++;
    },
    quantize: (value) => value,
    quantizeDelta: (value) => value,
    minSize: () => [1 / layout.width, 1 / layout.height],
    warn() {},
    focusEntry() {},
  };
}
