// Pure coordinate math for the editors (no DOM). Model space is normalized: x and y in [0, 1] on the
// layout canvas, origin top-left. Rects are [x0, y0, x1, y1] with x0 < x1, y0 < y1. Layout pixels are
// model x * width (y * height); display pixels belong to canvas.js alone.

export const HANDLES = ["nw", "n", "ne", "e", "se", "s", "sw", "w"];

export function clamp(value, lo, hi) {
  return Math.min(hi, Math.max(lo, value));
}

/** A model coordinate moved onto the grid of `step` layout pixels along an axis `size` pixels long. */
export function quantize(value, size, step) {
  return (Math.round((value * size) / step) * step) / size;
}

export function pointInRect([x, y], [x0, y0, x1, y1]) {
  return x >= x0 && x <= x1 && y >= y0 && y <= y1;
}

export function rectFromCorners([ax, ay], [bx, by]) {
  return [Math.min(ax, bx), Math.min(ay, by), Math.max(ax, bx), Math.max(ay, by)];
}

/** The handle positions of a rect, keyed by compass name. */
export function handlePositions([x0, y0, x1, y1]) {
  const xm = (x0 + x1) / 2;
  const ym = (y0 + y1) / 2;
  return { nw: [x0, y0], n: [xm, y0], ne: [x1, y0], e: [x1, ym], se: [x1, y1], s: [xm, y1], sw: [x0, y1], w: [x0, ym] };
}

/** The handle within `tolerance` (per axis, model units) of the point, or null. */
export function handleAt(point, rect, [tolX, tolY]) {
  const positions = handlePositions(rect);
  for (const name of HANDLES) {
    const [hx, hy] = positions[name];
    if (Math.abs(point[0] - hx) <= tolX && Math.abs(point[1] - hy) <= tolY) return name;
  }
  return null;
}

/** The rect moved by (dx, dy), kept inside the unit square without changing its size. */
export function moveRect([x0, y0, x1, y1], dx, dy) {
  const mx = clamp(dx, -x0, 1 - x1);
  const my = clamp(dy, -y0, 1 - y1);
  return [x0 + mx, y0 + my, x1 + mx, y1 + my];
}

/** The rect with the edges of `handle` dragged to `point`, inside the unit square, at least
 * minSize = [w, h] large; edges never cross. */
export function resizeRect(rect, handle, point, [minW, minH]) {
  let [x0, y0, x1, y1] = rect;
  const x = clamp(point[0], 0, 1);
  const y = clamp(point[1], 0, 1);
  if (handle.includes("w")) x0 = Math.min(x, x1 - minW);
  if (handle.includes("e")) x1 = Math.max(x, x0 + minW);
  if (handle.includes("n")) y0 = Math.min(y, y1 - minH);
  if (handle.includes("s")) y1 = Math.max(y, y0 + minH);
  return [Math.max(0, x0), Math.max(0, y0), Math.min(1, x1), Math.min(1, y1)];
}

/** The smallest rect around the non-null points, or null. */
export function boundsOf(points) {
  const visible = points.filter(Boolean);
  if (!visible.length) return null;
  const xs = visible.map((p) => p[0]);
  const ys = visible.map((p) => p[1]);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

/** The points (null = hidden) moved by (dx, dy), their bounds kept inside the unit square. */
export function movePoints(points, dx, dy) {
  const bounds = boundsOf(points);
  if (!bounds) return points;
  const mx = clamp(dx, -bounds[0], 1 - bounds[2]);
  const my = clamp(dy, -bounds[1], 1 - bounds[3]);
  return points.map((p) => (p ? [p[0] + mx, p[1] + my] : null));
}

/** A person mirrored left-right about the centre of its visible joints; left and right joints swap
 * (`swapPairs`: index pairs), so the mirrored skeleton keeps anatomical sides. */
export function mirrorPoints(points, swapPairs) {
  const bounds = boundsOf(points);
  if (!bounds) return points;
  const axis = bounds[0] + bounds[2];
  const mirrored = points.map((p) => (p ? [axis - p[0], p[1]] : null));
  for (const [a, b] of swapPairs) [mirrored[a], mirrored[b]] = [mirrored[b], mirrored[a]];
  return mirrored;
}

export function distance([ax, ay], [bx, by]) {
  return Math.hypot(ax - bx, ay - by);
}

/** The largest width x height of the given aspect (w / h) that fits the box, centred in it. */
export function fitContain(boxWidth, boxHeight, aspect) {
  let width = boxWidth;
  let height = width / aspect;
  if (height > boxHeight) {
    height = boxHeight;
    width = height * aspect;
  }
  return { width, height, left: (boxWidth - width) / 2, top: (boxHeight - height) / 2 };
}
