// The layout JSON (schema v1, see gligen_model/layout.py) as the editors hold it, and back.
// Pure: no DOM. In the editor, boxes and keypoints are normalized to [0, 1]; the JSON holds pixels.

import { JOINT_NAMES, LAYOUT_VERSION, MAX_CANVAS, OBJECT_ORDER, PALETTE, PERSON_ORDER, STANDING_PERSON, TOP_ORDER }
  from "./constants.js";

const JOINTS = JOINT_NAMES.length;
const STANDING_CANVAS = 512; // the canvas STANDING_PERSON is drawn on, pixels

let nextKey = 1;
const newKey = () => `k${nextKey++}`;

export function isHexColor(value) {
  return typeof value === "string" && /^#[0-9a-fA-F]{6}$/.test(value);
}

/** The colour an object or person is drawn in: its own, else the palette's by index. */
export function colorOf(entry, index) {
  return isHexColor(entry.color) ? entry.color : PALETTE[index % PALETTE.length];
}

const isNumber = (v) => typeof v === "number" && Number.isFinite(v);
const isCanvasSize = (v) => Number.isInteger(v) && v >= 1 && v <= MAX_CANVAS;

/**
 * Parse the layout widget's text.
 * @returns {{layout: object} | {error: string, openpose?: number}} `openpose`: the people count of
 *   pasted OpenPose JSON, which the pose node converts when it runs.
 */
export function parseLayout(text) {
  if (!text.trim()) return { layout: emptyLayout() };
  let data;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return { error: `not valid JSON (${error.message})` };
  }
  if (Array.isArray(data) || (data && typeof data === "object" && "people" in data)) {
    const frame = Array.isArray(data) ? data[0] : data;
    return { error: "OpenPose JSON", openpose: Array.isArray(frame?.people) ? frame.people.length : 0 };
  }
  if (!data || typeof data !== "object") return { error: "not a JSON object" };
  if (data.version !== LAYOUT_VERSION) {
    return { error: `schema version ${JSON.stringify(data.version)}, not ${LAYOUT_VERSION}` };
  }
  if (!isCanvasSize(data.width) || !isCanvasSize(data.height)) {
    return { error: `width and height must be whole pixels from 1 to ${MAX_CANVAS}` };
  }
  const objects = data.objects ?? [];
  const persons = data.persons ?? [];
  if (!Array.isArray(objects) || !Array.isArray(persons)) return { error: "objects and persons must be lists" };
  const lists = new Set(["objects", "persons"].filter((key) => key in data));
  const layout = { width: data.width, height: data.height, objects: [], persons: [], lists, rest: restOf(data, TOP_ORDER) };
  for (const [i, entry] of objects.entries()) {
    const object = parseObject(entry, data.width, data.height);
    if (!object) return { error: `object ${i + 1} is not {"phrase": ..., "box": [x0, y0, x1, y1]}` };
    layout.objects.push(object);
  }
  for (const [i, entry] of persons.entries()) {
    const person = parsePerson(entry, data.width, data.height);
    if (!person) return { error: `person ${i + 1} does not have ${JOINTS} keypoints [x, y] or null` };
    layout.persons.push(person);
  }
  return { layout };
}

function parseObject(entry, width, height) {
  if (!entry || typeof entry !== "object" || Array.isArray(entry)) return null;
  const { box } = entry;
  const hasBox = Array.isArray(box) && box.length === 4 && box.every(isNumber);
  if (box != null && !hasBox) return null;
  return {
    ...entry,
    key: newKey(),
    phrase: typeof entry.phrase === "string" ? entry.phrase : "",
    implicitPhrase: !("phrase" in entry), // an image-only object stays without a "phrase" key
    box: hasBox ? [box[0] / width, box[1] / height, box[2] / width, box[3] / height] : null,
  };
}

function parsePerson(entry, width, height) {
  if (!entry || typeof entry !== "object" || !Array.isArray(entry.keypoints) || entry.keypoints.length !== JOINTS) {
    return null;
  }
  const keypoints = [];
  for (const point of entry.keypoints) {
    if (point === null) keypoints.push(null);
    else if (Array.isArray(point) && point.length === 2 && point.every(isNumber)) {
      keypoints.push([point[0] / width, point[1] / height]);
    } else return null;
  }
  return { ...entry, key: newKey(), keypoints };
}

function restOf(entry, order) {
  return Object.fromEntries(Object.entries(entry).filter(([k]) => !order.includes(k)));
}

export function emptyLayout(width = 512, height = 512) {
  return { width, height, objects: [], persons: [], lists: new Set(), rest: {} };
}

// Pixels with at most two decimals: drawn values are whole pixels; this only drops float noise.
const pixels = (value, size) => Math.round(value * size * 100) / 100;

function ordered(entry, order) {
  const out = {};
  for (const key of order) if (entry[key] !== undefined) out[key] = entry[key];
  for (const [key, value] of Object.entries(entry)) if (!(key in out) && !order.includes(key)) out[key] = value;
  return out;
}

/** The canonical layout text (gligen_model/layout.py: canonical_layout_json). A list is written when
 * it has entries or the layout had it (`lists`, which each editor extends by its own list). */
export function serializeLayout(layout) {
  const { width, height } = layout;
  const top = { version: LAYOUT_VERSION, width, height };
  if (layout.objects.length || layout.lists.has("objects")) {
    top.objects = layout.objects.map((o) => serializeObject(o, width, height));
  }
  if (layout.persons.length || layout.lists.has("persons")) {
    top.persons = layout.persons.map((p) => serializePerson(p, width, height));
  }
  return JSON.stringify(ordered({ ...layout.rest, ...top }, TOP_ORDER));
}

function serializeObject(object, width, height) {
  const { key, implicitPhrase, ...entry } = object;
  if (implicitPhrase && entry.phrase === "") delete entry.phrase;
  if (object.box) {
    const [x0, y0, x1, y1] = object.box;
    entry.box = [pixels(x0, width), pixels(y0, height), pixels(x1, width), pixels(y1, height)];
  } else delete entry.box;
  return ordered(entry, OBJECT_ORDER);
}

function serializePerson(person, width, height) {
  const { key, ...entry } = person;
  entry.keypoints = person.keypoints.map((p) => (p ? [pixels(p[0], width), pixels(p[1], height)] : null));
  return ordered(entry, PERSON_ORDER);
}

/** The first palette colour none of the entries is drawn in (the palette cycles when all are taken). */
export function nextColor(entries) {
  const used = new Set(entries.map((entry, i) => colorOf(entry, i).toLowerCase()));
  return PALETTE.find((color) => !used.has(color)) ?? PALETTE[entries.length % PALETTE.length];
}

/** Give entries drawn in their index colour that colour for good, so deleting or reordering entries
 * does not repaint the others. */
export function pinColors(entries) {
  entries.forEach((entry, i) => {
    if (!isHexColor(entry.color)) entry.color = colorOf(entry, i);
  });
}

export function newObject(entries, box) {
  return { key: newKey(), phrase: "", box, color: nextColor(entries) };
}

/** A standing person, its height 80 % of the canvas, centred at x = centerX (normalized). */
export function newPerson(entries, centerX = 0.5) {
  const dx = centerX - 0.5;
  const keypoints = STANDING_PERSON.map(([x, y]) =>
    [Math.min(1, Math.max(0, x / STANDING_CANVAS + dx)), y / STANDING_CANVAS]);
  return { key: newKey(), keypoints, color: nextColor(entries) };
}
