// The layout JSON (schema v1, see gligen_model/layout.py) as the editors hold it, and back.
// Pure: no DOM. In the editor, boxes and keypoints are normalized to [0, 1]; the JSON holds pixels.
// Keyframes (gligen_model/keyframes.py) are read and written here and edited through keyframes.js: their
// boxes and keypoints are normalized like the entry's own, so a resized canvas moves them too; the rest of
// each keyframe is kept as written.

import { JOINT_NAMES, LAYOUT_VERSION, MAX_CANVAS, MAX_LAYOUT_CHARS, MAX_OBJECTS, MAX_PERSONS, OBJECT_ORDER, PALETTE,
  PERSON_ORDER, STANDING_PERSON, TOP_ORDER } from "./constants.js";

const JOINTS = JOINT_NAMES.length;
const STANDING_CANVAS = 512; // the canvas STANDING_PERSON is drawn on, pixels
// Limits of what the editor reads, so that no widget text can stall the page:
const MAX_DEPTH = 100; // nesting of arrays and objects (a layout needs 4; JSON.stringify overflows its stack at ~10^4)
// The editor opens up to ten times the objects (persons) the node takes, so that a few too many can be
// deleted here; more are refused (their list would take seconds to build on every edit).
const MAX_ENTRIES = 10;
const FAR = 1e9; // pixels: a coordinate farther off the canvas is not a layout, and not written back to the hundredth
// Byte-order marks (from files saved on Windows) and white space before the JSON: dropped, as the node does.
const LEADING = /^[ \t\r\n\ufeff]+/;
// Key order of a keyframe in the canonical text (gligen_model/layout.py: _KEYFRAME_ORDER).
const KEYFRAME_ORDER = ["frame", "box", "keypoints", "hidden"];

let nextKey = 1;
const newKey = () => `k${nextKey++}`;

export function isHexColor(value) {
  return typeof value === "string" && /^#[0-9a-fA-F]{6}$/.test(value);
}

/** The colour an object or person is drawn in: its own, else the palette's by index. */
export function colorOf(entry, index) {
  return isHexColor(entry.color) ? entry.color : PALETTE[index % PALETTE.length];
}

/** Only `"locked": true` locks an entry; any other value (e.g. "yes", 1) is ignored, as a colour that is not
 * "#rrggbb" is, and kept in the text as it is. */
export function isLocked(entry) {
  return entry.locked === true;
}

const isNumber = (v) => typeof v === "number" && Number.isFinite(v);
const isCoordinate = (v) => isNumber(v) && Math.abs(v) <= FAR;
const isCanvasSize = (v) => Number.isInteger(v) && v >= 1 && v <= MAX_CANVAS;

/**
 * Parse the layout widget's text. Never throws, and takes time linear in the text's length.
 * @param {string} text  the widget's value (anything else is reported)
 * @returns {{layout: object} | {error: string, openpose?: number}} `openpose`: the people count of
 *   pasted OpenPose JSON, which the pose node converts when it runs. `error` is short and plain text.
 */
export function parseLayout(text) {
  if (typeof text !== "string") return { error: `the widget holds ${describe(text)}, not text` };
  if (text.length > MAX_LAYOUT_CHARS) {
    return { error: `${text.length.toLocaleString("en")} characters; a layout has at most ` +
      `${MAX_LAYOUT_CHARS.toLocaleString("en")}` };
  }
  text = text.replace(LEADING, "");
  if (!text.trim()) return { layout: emptyLayout() };
  if (nestedDeeperThan(text, MAX_DEPTH)) return { error: `nested more than ${MAX_DEPTH} levels deep` };
  let data;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return { error: `not valid JSON (${short(error.message, 160)})` };
  }
  if (Array.isArray(data) || (data && typeof data === "object" && "people" in data)) {
    const frame = Array.isArray(data) ? data[0] : data;
    return { error: "OpenPose JSON", openpose: Array.isArray(frame?.people) ? frame.people.length : 0 };
  }
  if (!data || typeof data !== "object") return { error: "not a JSON object" };
  if (data.version !== LAYOUT_VERSION) {
    return { error: `schema version ${short(String(JSON.stringify(data.version)), 40)}, not ${LAYOUT_VERSION}` };
  }
  if (!isCanvasSize(data.width) || !isCanvasSize(data.height)) {
    return { error: `width and height must be whole pixels from 1 to ${MAX_CANVAS}` };
  }
  const objects = data.objects ?? [];
  const persons = data.persons ?? [];
  if (!Array.isArray(objects) || !Array.isArray(persons)) return { error: "objects and persons must be lists" };
  if (objects.length > MAX_ENTRIES * MAX_OBJECTS) {
    return { error: `${objects.length} objects; GLIGEN takes at most ${MAX_OBJECTS}` };
  }
  if (persons.length > MAX_ENTRIES * MAX_PERSONS) {
    return { error: `${persons.length} persons; the keypoint model takes at most ${MAX_PERSONS}` };
  }
  const lists = new Set(["objects", "persons"].filter((key) => key in data));
  const layout = { width: data.width, height: data.height, objects: [], persons: [], lists, rest: restOf(data, TOP_ORDER) };
  for (const [i, entry] of objects.entries()) {
    const object = parseObject(entry, data.width, data.height);
    if (typeof object === "string") return { error: `object ${i + 1} ${object}` };
    layout.objects.push(object);
  }
  for (const [i, entry] of persons.entries()) {
    const person = parsePerson(entry, data.width, data.height);
    if (typeof person === "string") return { error: `person ${i + 1} ${person}` };
    layout.persons.push(person);
  }
  return { layout };
}

const FAR_OFF = `more than ${FAR.toLocaleString("en")} pixels off the canvas`;

/** The model of a layout object, or what is wrong with it (to follow "object 3 "). */
function parseObject(entry, width, height) {
  const wrong = 'is not {"phrase": ..., "box": [x0, y0, x1, y1]}';
  if (!entry || typeof entry !== "object" || Array.isArray(entry)) return wrong;
  const box = entry.box == null ? null : readBox(entry.box, width, height);
  if (typeof box === "string") return box === WRONG ? wrong : `has a box ${box}`;
  const keyframes = readKeyframes(entry, "box", (value) => readBox(value, width, height));
  if (typeof keyframes === "string") return keyframes;
  return {
    ...entry,
    key: newKey(),
    phrase: typeof entry.phrase === "string" ? entry.phrase : "",
    implicitPhrase: !("phrase" in entry), // an image-only object stays without a "phrase" key
    box,
    ...keyframes,
  };
}

const WRONG = "wrong";

/** [x0, y0, x1, y1] pixels -> normalized, or WRONG (not four numbers), or FAR_OFF. */
function readBox(box, width, height) {
  if (!Array.isArray(box) || box.length !== 4 || !box.every(isNumber)) return WRONG;
  if (!box.every(isCoordinate)) return FAR_OFF;
  return [box[0] / width, box[1] / height, box[2] / width, box[3] / height];
}

/** JOINTS keypoints ([x, y] pixels or null) -> normalized, or WRONG, or FAR_OFF. */
function readKeypoints(points, width, height) {
  if (!Array.isArray(points) || points.length !== JOINTS) return WRONG;
  const keypoints = [];
  for (const point of points) {
    if (point === null) keypoints.push(null);
    else if (Array.isArray(point) && point.length === 2 && point.every(isNumber)) {
      if (!point.every(isCoordinate)) return FAR_OFF;
      keypoints.push([point[0] / width, point[1] / height]);
    } else return WRONG;
  }
  return keypoints;
}

/** `{keyframes}` with each keyframe's `valueKey` ("box" or "keypoints") read by `read`; {} when the entry has
 * none; or what is wrong, to follow "object 3 ". Frames, "hidden" and other keys are the node's to check. */
function readKeyframes(entry, valueKey, read) {
  if (entry.keyframes == null) return {}; // none, or null (kept as written)
  const { keyframes } = entry;
  if (!Array.isArray(keyframes)) return 'has "keyframes" that are not a list';
  const out = [];
  for (const [i, keyframe] of keyframes.entries()) {
    const wrong = `keyframe ${i + 1} is not {"frame": ..., "${valueKey}": ...} or {"frame": ..., "hidden": true}`;
    if (!keyframe || typeof keyframe !== "object" || Array.isArray(keyframe)) return wrong;
    if (!(valueKey in keyframe)) {
      out.push({ ...keyframe });
      continue;
    }
    const value = read(keyframe[valueKey]);
    if (value === WRONG) return wrong;
    if (value === FAR_OFF) return `keyframe ${i + 1} has a ${valueKey === "box" ? "box" : "keypoint"} ${FAR_OFF}`;
    out.push({ ...keyframe, [valueKey]: value });
  }
  return { keyframes: out };
}

/** The model of a layout person, or what is wrong with it (to follow "person 2 "). */
function parsePerson(entry, width, height) {
  const wrong = `does not have ${JOINTS} keypoints [x, y] or null`;
  if (!entry || typeof entry !== "object") return wrong;
  const keypoints = readKeypoints(entry.keypoints, width, height);
  if (typeof keypoints === "string") return keypoints === WRONG ? wrong : `has a keypoint ${keypoints}`;
  const keyframes = readKeyframes(entry, "keypoints", (value) => readKeypoints(value, width, height));
  if (typeof keyframes === "string") return keyframes;
  return { ...entry, key: newKey(), keypoints, ...keyframes };
}

/** Whether JSON text nests arrays and objects deeper than `limit` (brackets inside strings do not count);
 * checked before JSON.parse, which takes long for deep nesting, and JSON.stringify, which overflows. */
function nestedDeeperThan(text, limit) {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

function describe(value) {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return "a list";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

const short = (text, length) => (text.length > length ? `${text.slice(0, length - 1)}…` : text);

function restOf(entry, order) {
  return Object.fromEntries(Object.entries(entry).filter(([k]) => !order.includes(k)));
}

export function emptyLayout(width = 512, height = 512) {
  return { width, height, objects: [], persons: [], lists: new Set(), rest: {} };
}

// Pixels with at most two decimals: drawn values are whole pixels; this only drops float noise.
const pixels = (value, size) => Math.round(value * size * 100) / 100;

function ordered(entry, order) {
  const out = Object.create(null); // a "__proto__" key is a key like any other (JSON.parse makes it one)
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

const writeBox = ([x0, y0, x1, y1], width, height) =>
  [pixels(x0, width), pixels(y0, height), pixels(x1, width), pixels(y1, height)];
const writeKeypoints = (keypoints, width, height) =>
  keypoints.map((p) => (p ? [pixels(p[0], width), pixels(p[1], height)] : null));

function serializeObject(object, width, height) {
  const { key, implicitPhrase, ...entry } = object;
  if (implicitPhrase && entry.phrase === "") delete entry.phrase;
  if (object.box) entry.box = writeBox(object.box, width, height);
  else delete entry.box;
  if (object.keyframes) entry.keyframes = writeKeyframes(object.keyframes, "box", (b) => writeBox(b, width, height));
  return ordered(entry, OBJECT_ORDER);
}

function serializePerson(person, width, height) {
  const { key, ...entry } = person;
  entry.keypoints = writeKeypoints(person.keypoints, width, height);
  if (person.keyframes) {
    entry.keyframes = writeKeyframes(person.keyframes, "keypoints", (k) => writeKeypoints(k, width, height));
  }
  return ordered(entry, PERSON_ORDER);
}

function writeKeyframes(keyframes, valueKey, write) {
  return keyframes.map((keyframe) => ordered(valueKey in keyframe
    ? { ...keyframe, [valueKey]: write(keyframe[valueKey]) } : keyframe, KEYFRAME_ORDER));
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
