"""The layout JSON (schema version 1): what the encode nodes' `layout` widget holds.

    {"version": 1, "width": 512, "height": 512,
     "objects": [{"phrase": "a red cat", "box": [x0, y0, x1, y1]}, ...]}

`width` / `height`: the canvas in pixels; boxes are pixel xyxy on that canvas, origin top-left,
x0 < x1, y0 < y1, inside the canvas. Both reach the model normalized to [0, 1], so a layout drawn
at 512x512 applies unchanged to any output size of the same aspect ratio.

Optional object keys (all additive, so every v1 layout stays valid):
- "image": index into the encode node's IMAGE batch: the object's reference image (text-image
  model). An object needs a phrase, an image, or both.
- "strength": how strongly the picture attends to this object's grounding tokens, >= 0
  (1 = as trained, 0 = ignored); see docs/design.md.
- A *style* object is an image with no phrase and no box, or with a box covering the whole
  canvas: the paper's style token, placed at the authors' "no location" box [0, 1, 0, 1].
An optional "persons" list (at most 8) holds poses for the keypoint model:
{"keypoints": [[x, y] or null, ... 17 entries in COCO order], "strength": 1}, pixels again;
"objects" may then be left out. Objects and persons may also carry editor-only keys ("id",
"color", "locked", "name"), which the model ignores: "color" is the "#rrggbb" the editors and the
preview draw the entry in, "locked" keeps the editors from selecting it on the canvas, "name" is a
label, "id" a stable identity. At most 30 objects (the published checkpoints were trained with 30
slots).
Objects and persons may carry "keyframes" (a video or batch, one layout per frame): the entry's own box
or keypoints are its frame 0; see keyframes.py. A layout without keyframes is the same for every frame.

The in-node editors write the canonical text of a layout (`canonical_layout_json`): compact JSON,
keys in the order below, whole numbers without a fraction.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from .errors import GligenInputError, short_repr
from .keyframes import Box, Joints, Keyframe, check_shared_joints, parse_keyframes
from .pose import COCO17_JOINTS, JOINTS, MAX_PERSONS, MAX_POSE_CANVAS, Person

LAYOUT_VERSION = 1
MAX_OBJECTS = 30
MAX_CANVAS = MAX_POSE_CANVAS  # 16384 pixels: a pasted OpenPose canvas becomes the layout canvas
MAX_LAYOUT_CHARS = 1_000_000
MAX_STRENGTH = 5.0
MAX_IMAGE_INDEX = 4095
# Characters of one phrase, counted before tokenizing (CLIP collapses white space, so a phrase under its 75 tokens
# may be any length): generous for 75 tokens, and it keeps every step that reads the phrase cheap.
MAX_PHRASE_CHARS = 4000
# The authors' location for a style image (x0 = 0, y0 = 1, x1 = 0, y1 = 1: "no location").
STYLE_BOX = (0.0, 1.0, 0.0, 1.0)
EDITOR_KEYS = {"id", "color", "locked", "name"}
OBJECT_KEYS = {"phrase", "box", "image", "strength", "keyframes"} | EDITOR_KEYS
TOP_KEYS = {"version", "width", "height", "objects", "persons"}
PERSON_KEYS = {"keypoints", "strength", "keyframes"} | EDITOR_KEYS
# Key order of the canonical text (web/js/editor/constants.js holds the same orders; the keyframe order is
# layout_model.js's KEYFRAME_ORDER).
_TOP_ORDER = ("version", "width", "height", "objects", "persons")
_OBJECT_ORDER = ("phrase", "box", "image", "strength", "id", "name", "color", "locked", "keyframes")
_PERSON_ORDER = ("keypoints", "strength", "id", "name", "color", "locked", "keyframes")
_KEYFRAME_ORDER = ("frame", "box", "keypoints", "hidden")


@dataclass(frozen=True)
class LayoutObject:
    """One object of a layout.

    phrase: what it is ("" for an image-only object); box: normalized xyxy in [0, 1] (STYLE_BOX
    for a style object); image: index into the encode node's IMAGE batch, or None;
    strength: attention weight of its tokens (1 = as trained); style: the paper's style token;
    keyframes: its box per frame, frame 0 first (keyframes.py), or () when it does not move.
    """

    phrase: str
    box: Box
    image: int | None = None
    strength: float = 1.0
    style: bool = False
    keyframes: tuple[Keyframe[Box], ...] = ()


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    objects: tuple[LayoutObject, ...]
    persons: tuple[Person, ...] = ()


def empty_layout_json() -> str:
    """What a new node's layout holds: a 512 x 512 canvas without objects (nothing is grounded until the user
    draws a box; the example workflows carry their own layouts)."""
    return json.dumps({"version": LAYOUT_VERSION, "width": 512, "height": 512, "objects": []}, indent=1)


def default_layout_json() -> str:
    """A two-object example layout (for tests and docs; a fresh node starts from empty_layout_json())."""
    return json.dumps({"version": LAYOUT_VERSION, "width": 512, "height": 512, "objects": [
        {"phrase": "a red apple", "box": [48, 240, 224, 448]},
        {"phrase": "a glass vase with sunflowers", "box": [272, 64, 480, 448]},
    ]}, indent=1)


def parse_layout(text: str) -> Layout:
    """Parse and validate layout JSON; every error names the object and the fix."""
    return layout_from_data(decode_layout_text(text))


def decode_layout_text(text: str) -> Any:
    """The layout widget's text as JSON (any JSON value); the layout's own messages for text that is too long,
    empty or not JSON. Byte-order marks before the JSON are dropped; one anywhere else is named."""
    if not isinstance(text, str):
        raise GligenInputError(f"The layout must be a JSON string, got a {type(text).__name__}: an API client "
                               "sends it as text, e.g. json.dumps(layout), not as a JSON object.")
    if len(text) > MAX_LAYOUT_CHARS:
        raise GligenInputError(f"The layout is {len(text):,} characters long; the limit is {MAX_LAYOUT_CHARS:,}. "
                               "A layout holds at most 30 objects: paste only the layout JSON.")
    text = text.lstrip(_LEADING)  # byte-order marks from files saved on Windows, white space around them
    if not text.strip():
        raise GligenInputError("The layout is empty: give JSON like " + _EXAMPLE)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise GligenInputError(_json_error_message(text, e)) from e
    except RecursionError as e:
        raise GligenInputError("The layout's JSON is nested too deeply to be a layout. Expected " + _EXAMPLE) from e
    except ValueError as e:  # e.g. an integer of thousands of digits
        raise GligenInputError(f"The layout holds a number JSON cannot read ({str(e)[:80]}). Use pixel "
                               "coordinates like 64 or 64.5.") from e


def layout_from_data(data: Any) -> Layout:
    """Validate decoded layout JSON (editor keys allowed and ignored) into a Layout."""
    if _is_openpose_file(data):
        raise GligenInputError("The layout is an OpenPose JSON file (it has a \"people\" list), not a box layout: "
                               "poses are read by GLIGEN Pose Encode (Suite). Paste it into that node's layout, or "
                               "connect the pose to its pose_keypoint input.")
    if not isinstance(data, dict):
        raise GligenInputError("The layout must be a JSON object, e.g. " + _EXAMPLE)
    version = data.get("version")
    if version != LAYOUT_VERSION:
        raise GligenInputError(
            f"Layout schema version {short_repr(version)} is not supported; this pack reads version {LAYOUT_VERSION}. "
            "Set \"version\": 1 or update the pack.")
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise GligenInputError(f"The layout has unknown keys {short_repr(unknown, 80)}; allowed are "
                               f"{sorted(TOP_KEYS)}.")
    width = _canvas_size(data, "width")
    height = _canvas_size(data, "height")
    objects = data.get("objects", [] if "persons" in data else None)
    if not isinstance(objects, list):
        raise GligenInputError("The layout needs an \"objects\" list (it may be empty).")
    persons = data.get("persons", [])
    if not isinstance(persons, list):
        raise GligenInputError("The layout's \"persons\" must be a list of {\"keypoints\": [...]} entries.")
    if len(persons) > MAX_PERSONS:
        raise GligenInputError(f"The layout has {len(persons)} persons; the keypoint model takes at most "
                               f"{MAX_PERSONS}. Remove some persons.")
    if len(objects) > MAX_OBJECTS:
        raise GligenInputError(f"The layout has {len(objects)} objects; GLIGEN takes at most {MAX_OBJECTS}. "
                               "Remove some, or merge small ones into one box with one phrase.")
    return Layout(width, height, tuple(_parse_object(o, i, width, height) for i, o in enumerate(objects, 1)),
                  tuple(_parse_person(p, i, width, height) for i, p in enumerate(persons, 1)))


_LEADING = " \t\r\n\ufeff"


def _json_error_message(text: str, error: json.JSONDecodeError) -> str:
    where = f"line {error.lineno}, column {error.colno}"
    if text[error.pos:error.pos + 1] == "\ufeff":
        return (f"The layout holds an invisible byte-order mark (U+FEFF) at {where}, outside any phrase: delete it "
                "(it comes with text copied from a file saved on Windows), or paste the JSON again.")
    message = f"The layout is not valid JSON ({error.msg} at {where})."
    if text.startswith(("{'", "[{'")):  # what ComfyUI's str() makes of a JSON object sent through the API
        return (message[:-1] + ": it reads like a Python dict. A layout sent through the API must be a JSON "
                "string (json.dumps(layout)), not a JSON object; in the widget, use double quotes.")
    return message + " Expected " + _EXAMPLE


_EXAMPLE = '{"version": 1, "width": 512, "height": 512, "objects": [{"phrase": "a cat", "box": [64, 64, 256, 256]}]}'


def _is_openpose_file(data: Any) -> bool:
    """An OpenPose / POSE_KEYPOINT file: {"people": [...]} without a layout "version", or a list of such frames."""
    frame = data[0] if isinstance(data, list) and data else data
    return isinstance(frame, dict) and "people" in frame and "version" not in frame


def _canvas_size(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CANVAS:
        raise GligenInputError(f"The layout's \"{key}\" is {short_repr(value)}; it must be a whole number of pixels "
                               f"from 1 to {MAX_CANVAS} (the canvas the boxes are drawn on).")
    return value


def _parse_object(obj: Any, index: int, width: int, height: int) -> LayoutObject:
    if not isinstance(obj, dict):
        raise GligenInputError(f"Layout object {index} must be a JSON object like "
                               '{"phrase": "a cat", "box": [x0, y0, x1, y1]}.')
    unknown = sorted(set(obj) - OBJECT_KEYS)
    if unknown:
        raise GligenInputError(f"Layout object {index} has unknown keys {short_repr(unknown, 80)}; allowed are "
                               f"{sorted(OBJECT_KEYS)}.")
    image = _image_index(obj, index)
    phrase = obj.get("phrase", "")
    if isinstance(phrase, str):
        _check_phrase_text(phrase, index)
    elif phrase is not None:
        kind = _JSON_KINDS.get(type(phrase), type(phrase).__name__)
        raise GligenInputError(f"Layout object {index}: \"phrase\" is {short_repr(phrase)} ({kind}); it must be "
                               "text in double quotes, e.g. \"phrase\": \"a red cat\".")
    if isinstance(phrase, str) and not any(ch.isprintable() and not ch.isspace() for ch in phrase):
        phrase = ""  # only spaces or invisible characters (zero-width space, control codes)
    if not isinstance(phrase, str) or (not phrase and image is None):
        raise GligenInputError(f"Layout object {index} has an empty phrase: describe what goes in its box "
                               "(e.g. \"a red cat\"), give it a reference \"image\", or delete the object.")
    phrase = phrase.strip()
    label = f"Layout object {index} ('{_short(phrase)}')" if phrase else f"Layout object {index} (image {image})"
    strength = _strength(obj, label)
    box = obj.get("box")
    if box is None:
        if phrase or "box" in obj:
            raise GligenInputError(f"{label} has no \"box\": give [x0, y0, x1, y1] in pixels. Only an image "
                                   "without a phrase may leave it out (a style image).")
        _no_style_keyframes(obj, label)
        return LayoutObject("", STYLE_BOX, image, strength, style=True)
    x0, y0, x1, y1 = _pixel_box(box, label, width, height)
    if not phrase and (x0, y0, x1, y1) == (0.0, 0.0, float(width), float(height)):
        _no_style_keyframes(obj, label)
        return LayoutObject("", STYLE_BOX, image, strength, style=True)  # an image over the whole picture
    own = (x0 / width, y0 / height, x1 / width, y1 / height)
    keyframes = parse_keyframes(obj.get("keyframes"), label, "box", own,
                                lambda value, where: _normalized_box(value, where, width, height))
    return LayoutObject(phrase, own, image, strength, keyframes=keyframes)


def _no_style_keyframes(obj: dict[str, Any], label: str) -> None:
    if obj.get("keyframes") not in (None, []):
        raise GligenInputError(f"{label} is a style image (no box, or one over the whole canvas), which applies to "
                               "every frame: remove its \"keyframes\", or give it a box to move.")


def _normalized_box(box: Any, label: str, width: int, height: int) -> Box:
    x0, y0, x1, y1 = _pixel_box(box, label, width, height)
    return (x0 / width, y0 / height, x1 / width, y1 / height)


def _pixel_box(box: Any, label: str, width: int, height: int) -> Box:
    """A box as JSON gives it -> pixel xyxy, validated: four finite numbers, positive area, on the canvas."""
    if (not isinstance(box, list) or len(box) != 4
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)):
        raise GligenInputError(f"{label}: \"box\" must be four numbers [x0, y0, x1, y1] in pixels, got "
                               f"{short_repr(box, 80)}.")
    x0, y0, x1, y1 = (_as_float(v) for v in box)
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise GligenInputError(f"{label}: the box {short_repr(box, 80)} contains NaN or infinity (or a number "
                               "too large for one); use pixel coordinates on the canvas.")
    if x1 <= x0 or y1 <= y0:
        raise GligenInputError(f"{label}: the box {short_repr(box, 80)} has zero or negative area; it needs x0 < x1 "
                               "and y0 < y1.")
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        raise GligenInputError(f"{label}: the box {short_repr(box, 80)} lies outside the {width}x{height} canvas; move "
                               "it inside (0 <= x <= width, 0 <= y <= height) or enlarge the canvas.")
    return x0, y0, x1, y1


_JSON_KINDS = {bool: "true / false", int: "a number", float: "a number", list: "a list", dict: "a JSON object"}


def _check_phrase_text(phrase: str, index: int) -> None:
    """A phrase CLIP can read: at most MAX_PHRASE_CHARS characters (checked first), no lone UTF-16 surrogate."""
    if len(phrase) > MAX_PHRASE_CHARS:
        raise GligenInputError(f"Layout object {index}: the phrase is {len(phrase):,} characters long; the limit is "
                               f"{MAX_PHRASE_CHARS:,} (CLIP reads 75 tokens). Shorten it to a few words naming the "
                               "object; put details in the prompt.")
    surrogate = next((i for i, ch in enumerate(phrase) if "\ud800" <= ch <= "\udfff"), None)
    if surrogate is not None:
        raise GligenInputError(
            f"Layout object {index}: the phrase holds a lone UTF-16 surrogate (U+{ord(phrase[surrogate]):04X}, "
            f"character {surrogate + 1}), half of an emoji or other character that no text encoder reads. Delete "
            "it or type the phrase again.")


def _as_float(value: int | float) -> float:
    """A JSON number as a float; integers too large for a float become infinity (refused by the callers)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _image_index(obj: dict[str, Any], index: int) -> int | None:
    image = obj.get("image")
    if image is None:
        return None
    if isinstance(image, bool) or not isinstance(image, int) or not 0 <= image <= MAX_IMAGE_INDEX:
        raise GligenInputError(f"Layout object {index}: \"image\" is {short_repr(image)}; it must be the index (0, 1, "
                               "...) of the object's reference image in the encode node's IMAGE batch.")
    return image


def _strength(entry: dict[str, Any], label: str) -> float:
    value = entry.get("strength", 1.0)
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(_as_float(value))
            or not 0.0 <= value <= MAX_STRENGTH):
        raise GligenInputError(f"{label}: \"strength\" is {short_repr(value)}; use a number from 0 to "
                               f"{MAX_STRENGTH:g} "
                               "(1 = as trained, 0 = ignored).")
    return float(value)


def _short(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _parse_person(person: Any, index: int, width: int, height: int) -> Person:
    label = f"Layout person {index}"
    if not isinstance(person, dict) or not isinstance(person.get("keypoints"), list):
        raise GligenInputError(f"{label} must be {{\"keypoints\": [[x, y] or null, ...]}} with {JOINTS} entries.")
    unknown = sorted(set(person) - PERSON_KEYS)
    if unknown:
        raise GligenInputError(f"{label} has unknown keys {short_repr(unknown, 80)}; allowed are "
                               f"{sorted(PERSON_KEYS)}.")
    joints = _joints(person["keypoints"], label, width, height)
    if all(j is None for j in joints):
        raise GligenInputError(f"{label} has no visible keypoint: place at least one joint, or remove the person.")
    strength = _strength(person, label)
    keyframes = parse_keyframes(person.get("keyframes"), label, "keypoints", joints,
                                lambda value, where: _keyframe_joints(value, where, width, height))
    check_shared_joints(keyframes, label)
    return Person(joints, strength, keyframes)


def _keyframe_joints(keypoints: Any, label: str, width: int, height: int) -> Joints:
    joints = _joints(keypoints, label, width, height)
    if all(j is None for j in joints):
        raise GligenInputError(f"{label} has no visible keypoint: place at least one joint, or hide the person "
                               "there with \"hidden\": true.")
    return joints


def _joints(keypoints: Any, label: str, width: int, height: int) -> Joints:
    """17 keypoints as JSON gives them ([x, y] pixels or null) -> normalized joints, each on the canvas."""
    if not isinstance(keypoints, list) or len(keypoints) != JOINTS:
        got = f"{len(keypoints)} keypoints" if isinstance(keypoints, list) else f"keypoints {short_repr(keypoints)}"
        raise GligenInputError(f"{label} has {got}; give {JOINTS} in COCO order "
                               f"({', '.join(COCO17_JOINTS[:3])}, ...), null for a hidden joint.")
    joints: list[tuple[float, float] | None] = []
    for name, point in zip(COCO17_JOINTS, keypoints, strict=True):
        if point is None:
            joints.append(None)
            continue
        if (not isinstance(point, list) or len(point) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in point)):
            raise GligenInputError(f"{label}: the {name} must be [x, y] in pixels or null, got {short_repr(point)}.")
        x, y = _as_float(point[0]), _as_float(point[1])
        if not (math.isfinite(x) and math.isfinite(y)) or not (0 <= x <= width and 0 <= y <= height):
            raise GligenInputError(f"{label}: the {name} at {short_repr(point)} lies outside the {width}x{height} "
                                   "canvas; move it inside, or set it to null if it is not visible.")
        joints.append((x / width, y / height))
    return tuple(joints)


def canonical_layout_json(data: dict[str, Any]) -> str:
    """The one text form the editors write for a layout dict: compact, keys in schema order, integral
    floats as integers. Keys outside the schema are kept (last), so parse_layout still names them."""
    return canonical_text(canonical_layout_data(data))


def canonical_layout_data(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with keys in schema order and integral floats as integers: what decoding its canonical text gives."""
    top = _ordered(data, _TOP_ORDER)
    for key, order in (("objects", _OBJECT_ORDER), ("persons", _PERSON_ORDER)):
        if isinstance(top.get(key), list):
            top[key] = [_ordered(entry, order) if isinstance(entry, dict) else entry for entry in top[key]]
            for entry in top[key]:
                if isinstance(entry, dict) and isinstance(entry.get("keyframes"), list):
                    entry["keyframes"] = [_ordered(k, _KEYFRAME_ORDER) if isinstance(k, dict) else k
                                          for k in entry["keyframes"]]
    return _whole_numbers(top)


def canonical_text(canonical_data: dict[str, Any]) -> str:
    """The text of data already in canonical form (canonical_layout_data): compact JSON, no NaN."""
    return json.dumps(canonical_data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _ordered(entry: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    return {k: entry[k] for k in order if k in entry} | {k: v for k, v in entry.items() if k not in order}


def _whole_numbers(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    return value
