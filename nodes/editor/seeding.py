"""Seeding the editors' layout from upstream data: boxes from BOUNDING_BOX(ES) / BBOX, persons from a
POSE_KEYPOINT or a pasted OpenPose JSON file. Pure Python; no ComfyUI import.

Every seeding function returns the LayoutDocument the node runs with and the editor takes over, or
None when the layout stays as the user left it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ...gligen_model import GligenInputError
from ...gligen_model.errors import short_repr
from ...gligen_model.layout import LAYOUT_VERSION, MAX_OBJECTS, canonical_layout_data, layout_from_data
from ...gligen_model.pose import (
    MAX_PERSONS,
    PASTED_OPENPOSE,
    POSE_KEYPOINT_INPUT,
    Person,
    PoseSource,
    persons_from_pose_keypoint,
    pose_canvas_size,
)
from .colors import is_hex_color
from .document import DEFAULT_CANVAS, LayoutDocument

# Box node, `seed_mode`: when the `seed_boxes` input is copied into the layout.
COPY_WHEN_EMPTY = "copy when empty"
COPY_ALWAYS = "copy always"
SEED_MODES = (COPY_WHEN_EMPTY, COPY_ALWAYS)
# Pose node, `pose_keypoint_mode`: ADD keeps POSE_KEYPOINT a second grounding source beside the layout.
ADD_TO_LAYOUT = "add to layout"
POSE_KEYPOINT_MODES = (ADD_TO_LAYOUT, COPY_WHEN_EMPTY, COPY_ALWAYS)
# Editor-side keys an object / person keeps when a seed replaces its box or pose (matched by index).
_KEPT_OBJECT_KEYS = ("phrase", "image", "strength", "id", "name", "color", "locked")
_KEPT_PERSON_KEYS = ("strength", "id", "name", "color", "locked")


@dataclass(frozen=True)
class SeedBox:
    """A box from a seed input: xyxy pixels on the layout canvas, its text and colour if it had them."""

    box: tuple[float, float, float, float]
    text: str = ""
    color: str | None = None


def seed_box_layout(document: LayoutDocument, seed: Any, mode: str,
                    canvas: tuple[int, int] | None = None) -> LayoutDocument | None:
    """Copy the boxes of a BOUNDING_BOX, BOUNDING_BOXES or BBOX value into the layout.

    mode COPY_WHEN_EMPTY copies only into a layout without objects; COPY_ALWAYS replaces the objects on
    every run, keeping each object's phrase, colour and other settings by index when the seed has none.
    canvas: the background image's (width, height); otherwise the layout's canvas is kept.
    """
    if seed is None:
        return None
    if mode not in SEED_MODES:
        raise GligenInputError(f"seed_mode is {short_repr(mode)}; choose one of {list(SEED_MODES)}.")
    data = document.fields
    current = document.entries("objects")
    if mode == COPY_WHEN_EMPTY and current:
        return None
    width, height = canvas or _canvas_of(data)
    boxes = seed_boxes(seed, width, height)
    if len(boxes) > MAX_OBJECTS:
        raise GligenInputError(f"seed_boxes holds {len(boxes)} boxes; GLIGEN takes at most {MAX_OBJECTS}. "
                               "Keep fewer detections upstream (e.g. a higher score threshold).")
    objects = [_seeded_object(box, current[i] if i < len(current) else {}) for i, box in enumerate(boxes)]
    return LayoutDocument.from_data({**data, "version": LAYOUT_VERSION, "width": width, "height": height,
                                     "objects": objects})


def unnamed_seeded_objects(document: LayoutDocument) -> list[int]:
    """1-based numbers of the objects with neither a phrase nor a reference image."""
    return [i for i, o in enumerate(document.entries("objects"), 1)
            if isinstance(o, dict) and not str(o.get("phrase", "")).strip() and o.get("image") is None]


def seed_pose_layout(document: LayoutDocument, pose_keypoint: Any, mode: str) -> LayoutDocument | None:
    """Persons into the layout: a pasted OpenPose JSON file is always converted; a POSE_KEYPOINT is
    copied in with COPY_WHEN_EMPTY (layout without persons) or COPY_ALWAYS (replacing the persons,
    keeping each one's settings by index). ADD_TO_LAYOUT leaves the POSE_KEYPOINT to the encoder.
    The layout takes the pose canvas (canvas_width x canvas_height) when persons are copied in."""
    if mode not in POSE_KEYPOINT_MODES:
        raise GligenInputError(f"pose_keypoint_mode is {short_repr(mode)}; choose one of "
                               f"{list(POSE_KEYPOINT_MODES)}.")
    converted = openpose_as_layout(document)
    base = converted or document
    data = base.fields  # text that is no JSON object is refused here, whatever the mode
    if pose_keypoint is None or mode == ADD_TO_LAYOUT:
        return converted
    current = base.entries("persons")
    if mode == COPY_WHEN_EMPTY and current:
        return converted
    persons, width, height = _openpose_persons(pose_keypoint, POSE_KEYPOINT_INPUT, "Use an image with fewer people.")
    entries = [_person_entry(p, width, height, current[i] if i < len(current) else {}) for i, p in enumerate(persons)]
    return LayoutDocument.from_data({**data, "version": LAYOUT_VERSION, "width": width, "height": height,
                                     "persons": entries})


def openpose_as_layout(document: LayoutDocument) -> LayoutDocument | None:
    """A pasted OpenPose JSON file ({"people": [...], "canvas_width", "canvas_height"}) as a layout; None for
    any other text."""
    if not document.openpose:
        return None
    persons, width, height = _openpose_persons(document.data, PASTED_OPENPOSE, "Remove some people from it.")
    return LayoutDocument.from_data({"version": LAYOUT_VERSION, "width": width, "height": height,
                                     "persons": [_person_entry(p, width, height, {}) for p in persons]})


def pose_canvas(frames: Any, source: PoseSource = POSE_KEYPOINT_INPUT) -> tuple[int, int]:
    """(canvas_width, canvas_height) of a POSE_KEYPOINT's first frame, rounded to whole pixels (1 to MAX_POSE_CANVAS,
    checked before rounding)."""
    width, height = pose_canvas_size(frames, source)
    return max(1, round(width)), max(1, round(height))


def seed_boxes(seed: Any, width: int, height: int) -> list[SeedBox]:
    """BOUNDING_BOX ({x, y, width, height}), BOUNDING_BOXES (a list of those with "metadata", or a list
    of such lists per image: the first is used) or BBOX ([x0, y0, x1, y1] pixels, or fractions of the
    canvas when all four are in [0, 1] and one is fractional), clipped to the width x height canvas."""
    return [_seed_box(entry, i, width, height) for i, entry in enumerate(_first_frame(seed), 1)]


def _first_frame(seed: Any) -> list[Any]:
    if isinstance(seed, dict) or _is_xyxy(seed):
        return [seed]
    if not isinstance(seed, (list, tuple)):
        raise GligenInputError(f"seed_boxes got a {type(seed).__name__}; connect BOUNDING_BOX, BOUNDING_BOXES or "
                               "BBOX (a list of [x0, y0, x1, y1]).")
    if seed and isinstance(seed[0], (list, tuple)) and not _is_xyxy(seed[0]):
        return list(seed[0])  # one list of boxes per image: the first image's
    return list(seed)


def _is_xyxy(value: Any) -> bool:
    return (isinstance(value, (list, tuple)) and len(value) == 4
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))


def _seed_box(entry: Any, index: int, width: int, height: int) -> SeedBox:
    text, color = "", None
    if isinstance(entry, dict):
        values = [entry.get(k) for k in ("x", "y", "width", "height")]
        if not _is_xyxy(values):
            raise GligenInputError(f"seed_boxes box {index} needs numbers x, y, width, height; got "
                                   f"{short_repr(entry, 80)}.")
        x, y, w, h = (_as_float(v) for v in values)
        box = (x, y, x + w, y + h)
        text, color = _metadata_text(entry.get("metadata")), _metadata_color(entry.get("metadata"))
    elif _is_xyxy(entry):
        box = tuple(_as_float(v) for v in entry)
        if all(0.0 <= v <= 1.0 for v in box) and not all(v.is_integer() for v in box):
            box = (box[0] * width, box[1] * height, box[2] * width, box[3] * height)
    else:
        raise GligenInputError(f"seed_boxes box {index} is {short_repr(entry, 80)}; expected {{x, y, width, height}} "
                               "or [x0, y0, x1, y1].")
    if not all(math.isfinite(v) for v in box):
        raise GligenInputError(f"seed_boxes box {index} contains NaN or infinity (or a number too large for one); "
                               "give pixel coordinates on the image the boxes were found on.")
    x0, y0, x1, y1 = max(box[0], 0.0), max(box[1], 0.0), min(box[2], float(width)), min(box[3], float(height))
    if x1 <= x0 or y1 <= y0:
        raise GligenInputError(
            f"seed_boxes box {index} {[round(v, 2) for v in box]} has no area inside the {width}x{height} "
            "canvas. Connect the image the boxes were found on as `background` (the canvas then takes its "
            "size), or set the layout's width and height to that image's size.")
    return SeedBox((x0, y0, x1, y1), text, color)


def _as_float(value: int | float) -> float:
    """A seed coordinate as a float; an integer too large for one becomes infinity (refused by the caller)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _metadata_text(metadata: Any) -> str:
    if not isinstance(metadata, dict):
        return ""
    for key in ("text", "desc", "label", "phrase"):
        if isinstance(metadata.get(key), str) and metadata[key].strip():
            return metadata[key].strip()
    return ""


def _metadata_color(metadata: Any) -> str | None:
    if not isinstance(metadata, dict):
        return None
    palette = metadata.get("palette")
    candidates = [metadata.get("color")] + (list(palette) if isinstance(palette, list) else [])
    return next((c for c in candidates if is_hex_color(c)), None)


def _seeded_object(seed: SeedBox, previous: Any) -> dict[str, Any]:
    kept = {k: previous[k] for k in _KEPT_OBJECT_KEYS if isinstance(previous, dict) and k in previous}
    # A kept phrase stays as it was: one that is no text is refused by the layout check, not grounded as "5".
    entry: dict[str, Any] = {**kept, "phrase": seed.text or kept.get("phrase", ""),
                             "box": [round(v, 2) for v in seed.box]}
    if seed.color:
        entry["color"] = seed.color
    return entry


def _person_entry(person: Person, width: int, height: int, previous: Any) -> dict[str, Any]:
    kept = {k: previous[k] for k in _KEPT_PERSON_KEYS if isinstance(previous, dict) and k in previous}
    keypoints = [None if j is None else [round(j[0] * width, 2), round(j[1] * height, 2)] for j in person.joints]
    return {"keypoints": keypoints, **kept}


def _openpose_persons(frames: Any, source: PoseSource, fix: str) -> tuple[tuple[Any, ...], int, int]:
    """Persons (at most MAX_PERSONS) and the canvas (width, height) of OpenPose / POSE_KEYPOINT data."""
    persons = persons_from_pose_keypoint(frames, source)
    if len(persons) > MAX_PERSONS:
        raise GligenInputError(f"{source.name} holds {len(persons)} persons; the keypoint model takes at most "
                               f"{MAX_PERSONS}. {fix}")
    width, height = pose_canvas(frames, source)
    return persons, width, height


def _canvas_of(data: dict[str, Any]) -> tuple[int, int]:
    """The canvas a layout dict names (validated as a layout without entries); DEFAULT_CANVAS for {}."""
    if not data:
        return DEFAULT_CANVAS, DEFAULT_CANVAS
    layout = layout_from_data(canonical_layout_data({**data, "objects": [], "persons": []}))
    return layout.width, layout.height
