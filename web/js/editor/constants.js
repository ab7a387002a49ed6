// Constants the editors share with the Python side, each under the Python name (where it lives there is
// noted). Plain literals only, no imports: a test reads this module in plain Node and compares it with
// the Python values.

// gligen_model/layout.py
export const LAYOUT_VERSION = 1;
export const MAX_OBJECTS = 30;
export const MAX_CANVAS = 16384; // canvas width and height, pixels
export const MAX_STRENGTH = 5;
export const MAX_LAYOUT_CHARS = 1000000; // the layout text: longer text is refused
// Key orders of the canonical layout text (canonical_layout_json: _TOP_ORDER, _OBJECT_ORDER, _PERSON_ORDER).
export const TOP_ORDER = ["version", "width", "height", "objects", "persons"];
export const OBJECT_ORDER = ["phrase", "box", "image", "strength", "id", "name", "color", "locked", "keyframes"];
export const PERSON_ORDER = ["keypoints", "strength", "id", "name", "color", "locked", "keyframes"];

// gligen_model/pose.py
export const MAX_PERSONS = 8;
// COCO17_JOINTS, as the editor labels them.
export const JOINT_NAMES = ["nose", "left eye", "right eye", "left ear", "right ear", "left shoulder",
  "right shoulder", "left elbow", "right elbow", "left wrist", "right wrist", "left hip", "right hip",
  "left knee", "right knee", "left ankle", "right ankle"];
// COCO17_SKELETON: the 19 limbs as pairs of joint indices.
export const SKELETON = [[15, 13], [13, 11], [16, 14], [14, 12], [11, 12], [5, 11], [6, 12], [5, 6], [5, 7],
  [6, 8], [7, 9], [8, 10], [1, 2], [0, 1], [0, 2], [1, 3], [2, 4], [3, 5], [4, 6]];
// The joints that swap when a person is mirrored (left eye with right eye, ...).
export const LEFT_RIGHT_PAIRS = [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14], [15, 16]];

// nodes/pose_encode_node.py: default_pose_layout_json. One standing person's joints, [x, y] pixels of a
// 512 x 512 canvas.
export const STANDING_PERSON = [[256, 96], [268, 84], [244, 84], [282, 92], [230, 92], [300, 150], [212, 150],
  [318, 220], [194, 220], [326, 286], [186, 286], [286, 290], [226, 290], [290, 380], [222, 380], [292, 466],
  [220, 466]];

// nodes/layout_outputs.py: default colours by index.
export const PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45",
  "#fabed4", "#469990", "#dcbeff", "#9a6324", "#fffac8", "#800000", "#aaffc3", "#ffd8b1"];

// nodes/editor/browser.py: the websocket event with a layout the node ran with, and the UI output keys
// naming the background image, a video background's frames, and a per-frame run's frame count.
export const LAYOUT_EVENT = "gligen_suite.layout";
export const BACKGROUND_KEY = "gligen_background";
export const BACKGROUND_FRAMES_KEY = "gligen_background_frames";
export const FRAMES_KEY = "gligen_frames";

// The snap grid, layout pixels: one latent cell (the VAE's downscale factor).
export const GRID = 8;

// nodes/editor/preview.py: Unicode's explicit direction controls (ALM, LRM, RLM, LRE..RLO, LRI..PDI), which
// labels show as visible markers; code points.
export const BIDI_CONTROLS = [0x061c, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068,
  0x2069];
