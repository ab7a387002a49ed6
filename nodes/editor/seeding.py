"""Seeding the editors' layout from upstream data: boxes from BOUNDING_BOX(ES) / BBOX, persons from a
POSE_KEYPOINT or a pasted OpenPose JSON file. Pure Python; no ComfyUI import.

Every seeding function returns the LayoutDocument the node runs with and the editor takes over, or
None when the layout stays as the user left it. A batch (one list of boxes per image, or POSE_KEYPOINT
frames) of 2 or more frames seeds keyframes: frame f = image f, tracked and thinned by seed_tracks.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ...gligen_model import GligenInputError
from ...gligen_model.errors import short_repr
from ...gligen_model.keyframes import MAX_FRAMES, MAX_KEYFRAMES, Joints
from ...gligen_model.layout import LAYOUT_VERSION, MAX_OBJECTS, canonical_layout_data, layout_from_data
from ...gligen_model.pose import (
    MAX_PERSONS,
    PASTED_OPENPOSE,
    POSE_KEYPOINT_INPUT,
    PoseSource,
    persons_from_pose_keypoint,
    pose_canvas_size,
    pose_frame_count,
)
from .colors import is_hex_color
from .document import DEFAULT_CANVAS, LayoutDocument
from .seed_tracks import TOLERANCE_PX, SeedBox, Value, thin, track_boxes, track_poses

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


def seed_box_layout(document: LayoutDocument, seed: Any, mode: str,
                    canvas: tuple[int, int] | None = None) -> LayoutDocument | None:
    """Copy the boxes of a BOUNDING_BOX, BOUNDING_BOXES or BBOX value into the layout.

    mode COPY_WHEN_EMPTY copies only into a layout without objects; COPY_ALWAYS replaces the objects on
    every run, keeping each object's phrase, colour and other settings by index when the seed has none (its
    keyframes are replaced by the seed's: a single image's boxes leave none, as they replace the box).
    canvas: the background image's (width, height); otherwise the layout's canvas is kept.
    One list of boxes per image, 2 or more images: objects tracked over the frames, with keyframes.
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
    images = _images(seed)
    if images is not None and len(images) > 1:
        objects = _tracked_objects(images, width, height, current)
    else:
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
    The layout takes the pose canvas (canvas_width x canvas_height; of the first frame) when persons are
    copied in. A POSE_KEYPOINT of 2 or more frames gives persons tracked over the frames, with keyframes."""
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
    if pose_frame_count(pose_keypoint) > 1:
        entries, width, height = _tracked_persons(pose_keypoint, current)
    else:
        persons, width, height = _openpose_persons(pose_keypoint, POSE_KEYPOINT_INPUT,
                                                   "Use an image with fewer people.")
        entries = [_person_entry(p.joints, width, height, current[i] if i < len(current) else {})
                   for i, p in enumerate(persons)]
    return LayoutDocument.from_data({**data, "version": LAYOUT_VERSION, "width": width, "height": height,
                                     "persons": entries})


def openpose_as_layout(document: LayoutDocument) -> LayoutDocument | None:
    """A pasted OpenPose JSON file ({"people": [...], "canvas_width", "canvas_height"}) as a layout; None for
    any other text."""
    if not document.openpose:
        return None
    persons, width, height = _openpose_persons(document.data, PASTED_OPENPOSE, "Remove some people from it.")
    return LayoutDocument.from_data({"version": LAYOUT_VERSION, "width": width, "height": height,
                                     "persons": [_person_entry(p.joints, width, height, {}) for p in persons]})


def pose_canvas(frames: Any, source: PoseSource = POSE_KEYPOINT_INPUT) -> tuple[int, int]:
    """(canvas_width, canvas_height) of a POSE_KEYPOINT's first frame, rounded to whole pixels (1 to MAX_POSE_CANVAS,
    checked before rounding)."""
    width, height = pose_canvas_size(frames, source)
    return max(1, round(width)), max(1, round(height))


def seed_boxes(seed: Any, width: int, height: int) -> list[SeedBox]:
    """BOUNDING_BOX ({x, y, width, height}), BOUNDING_BOXES (a list of those with "metadata", or a list
    of such lists per image: the first is used) or BBOX ([x0, y0, x1, y1] pixels, or fractions of the
    canvas when all four are in [0, 1] and one is fractional), clipped to the width x height canvas."""
    return [_seed_box(entry, f"box {i}", width, height) for i, entry in enumerate(_first_frame(seed), 1)]


def _first_frame(seed: Any) -> list[Any]:
    if isinstance(seed, dict) or _is_xyxy(seed):
        return [seed]
    if not isinstance(seed, (list, tuple)):
        raise GligenInputError(f"seed_boxes got a {type(seed).__name__}; connect BOUNDING_BOX, BOUNDING_BOXES or "
                               "BBOX (a list of [x0, y0, x1, y1]).")
    images = _images(seed)
    return list(seed) if images is None else list(images[0])


def _images(seed: Any) -> list[Any] | None:
    """A seed's one list of boxes per image (a batch, or a video's frames), or None for one image's boxes."""
    if isinstance(seed, (list, tuple)) and seed and isinstance(seed[0], (list, tuple)) and not _is_xyxy(seed[0]):
        return list(seed)
    return None


def _is_xyxy(value: Any) -> bool:
    return (isinstance(value, (list, tuple)) and len(value) == 4
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))


def _seed_box(entry: Any, where: str, width: int, height: int) -> SeedBox:
    """One seed box, clipped to the canvas; where: how messages name it ("box 2", "frame 3, box 2")."""
    text, color = "", None
    if isinstance(entry, dict):
        values = [entry.get(k) for k in ("x", "y", "width", "height")]
        if not _is_xyxy(values):
            raise GligenInputError(f"seed_boxes {where} needs numbers x, y, width, height; got "
                                   f"{short_repr(entry, 80)}.")
        x, y, w, h = (_as_float(v) for v in values)
        box = (x, y, x + w, y + h)
        text, color = _metadata_text(entry.get("metadata")), _metadata_color(entry.get("metadata"))
    elif _is_xyxy(entry):
        box = tuple(_as_float(v) for v in entry)
        if all(0.0 <= v <= 1.0 for v in box) and not all(v.is_integer() for v in box):
            box = (box[0] * width, box[1] * height, box[2] * width, box[3] * height)
    else:
        raise GligenInputError(f"seed_boxes {where} is {short_repr(entry, 80)}; expected {{x, y, width, height}} "
                               "or [x0, y0, x1, y1].")
    if not all(math.isfinite(v) for v in box):
        raise GligenInputError(f"seed_boxes {where} contains NaN or infinity (or a number too large for one); "
                               "give pixel coordinates on the image the boxes were found on.")
    x0, y0, x1, y1 = max(box[0], 0.0), max(box[1], 0.0), min(box[2], float(width)), min(box[3], float(height))
    if x1 <= x0 or y1 <= y0:
        raise GligenInputError(
            f"seed_boxes {where} {[round(v, 2) for v in box]} has no area inside the {width}x{height} "
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


def _person_entry(joints: Joints, width: int, height: int, previous: Any) -> dict[str, Any]:
    return _posed_entry(_pose_pixels(joints, width, height), previous)


def _pose_pixels(joints: Joints, width: int, height: int) -> Value:
    """Normalized joints -> pixel joints on a width x height canvas, rounded to 2 decimals."""
    return tuple(None if j is None else (round(j[0] * width, 2), round(j[1] * height, 2)) for j in joints)


def _posed_entry(pose: Value, previous: Any) -> dict[str, Any]:
    kept = {k: previous[k] for k in _KEPT_PERSON_KEYS if isinstance(previous, dict) and k in previous}
    return {"keypoints": _keypoints_json(pose), **kept}


def _keypoints_json(pose: Value) -> list[list[float] | None]:
    return [None if j is None else list(j) for j in pose]


def _tracked_objects(images: list[Any], width: int, height: int, current: list[Any]) -> list[dict[str, Any]]:
    """Objects with keyframes from one list of boxes per image (frame f = image f): seed_tracks.track_boxes."""
    if len(images) > MAX_FRAMES:
        raise GligenInputError(f"seed_boxes holds {len(images):,} images (one list of boxes each); keyframes reach "
                               f"at most {MAX_FRAMES:,} frames. Seed fewer frames (split the video), or pick one "
                               "image's boxes upstream.")
    frames = [_image_boxes(image, f, width, height) for f, image in enumerate(images)]

    def refuse_too_many(objects: int, frame: int) -> None:
        if objects > MAX_OBJECTS:
            raise GligenInputError(
                f"seed_boxes: the boxes of frames 0 to {frame} (of {len(images)}) make {objects} objects, and GLIGEN "
                f"takes at most {MAX_OBJECTS} (a box that overlaps no object with its text and lies far from all "
                "of them starts a new object). Keep fewer detections upstream (a higher score threshold, or a "
                "tracker's ids as text), or seed fewer frames.")

    tracks = track_boxes(frames, width, height, refuse_too_many)
    return [_tracked_object(track, i, len(images), current[i] if i < len(current) else {})
            for i, track in enumerate(tracks)]


def _image_boxes(image: Any, frame: int, width: int, height: int) -> list[SeedBox]:
    if not isinstance(image, (list, tuple)):
        raise GligenInputError(f"seed_boxes frame {frame} is {short_repr(image, 80)}; a batch of boxes holds one "
                               "list of boxes per image (frame), e.g. [[box, box], [box], []].")
    if len(image) > MAX_OBJECTS:
        raise GligenInputError(f"seed_boxes frame {frame} holds {len(image)} boxes; GLIGEN takes at most "
                               f"{MAX_OBJECTS} objects. Keep fewer detections upstream (e.g. a higher score "
                               "threshold).")
    return [_seed_box(entry, f"frame {frame}, box {i}", width, height) for i, entry in enumerate(image, 1)]


def _tracked_object(track: list[SeedBox | None], index: int, frames: int, previous: Any) -> dict[str, Any]:
    """An object whose own box is its first seen one, with keyframes for the rest (hidden at frame 0 if unseen)."""
    seen = [b for b in track if b is not None]
    text = next((b.text for b in seen if b.text), "")
    entry = _seeded_object(SeedBox(seen[0].box, text, next((b.color for b in seen if b.color), None)), previous)
    values: list[Value | None] = [None if b is None else (tuple(round(v, 2) for v in b.box),) for b in track]
    label = f"seed_boxes object {index + 1}" + (f" ({short_repr(text, 40)})" if text else "")
    keyframes = _keyframes(values, "box", lambda value: list(value[0] or ()), label, frames)
    return {**entry, "keyframes": keyframes} if keyframes else entry


def _tracked_persons(frames: Any, current: list[Any]) -> tuple[list[dict[str, Any]], int, int]:
    """Persons with keyframes from a POSE_KEYPOINT's frames (seed_tracks.track_poses), on the first frame's canvas
    (other frames' poses are scaled to it), and that canvas (width, height)."""
    count = pose_frame_count(frames)
    if count > MAX_FRAMES:
        raise GligenInputError(f"{POSE_KEYPOINT_INPUT.name} holds {count:,} frames; keyframes reach at most "
                               f"{MAX_FRAMES:,}. Seed fewer frames (split the video).")
    width, height = pose_canvas(frames)
    poses = [_frame_poses(frames, f, width, height) for f in range(count)]
    tracks = track_poses(poses)
    if not tracks:
        raise GligenInputError(f"{POSE_KEYPOINT_INPUT.name} shows nobody in any of its {count} frames: "
                               f"{POSE_KEYPOINT_INPUT.nobody}.")
    entries = []
    for i, track in enumerate(tracks):
        entry = _posed_entry(next(v for v in track if v is not None), current[i] if i < len(current) else {})
        keyframes = _keyframes(track, "keypoints", _keypoints_json, f"{POSE_KEYPOINT_INPUT.name}, person {i + 1}",
                               count)
        entries.append({**entry, "keyframes": keyframes} if keyframes else entry)
    return entries, width, height


def _frame_poses(frames: Any, frame: int, width: int, height: int) -> list[Value]:
    """The pixel poses of one frame (persons without a visible joint left out), at most MAX_PERSONS."""
    persons = persons_from_pose_keypoint(frames, POSE_KEYPOINT_INPUT, frame=frame, allow_empty=True)
    if len(persons) > MAX_PERSONS:
        raise GligenInputError(f"{POSE_KEYPOINT_INPUT.name}, frame {frame} holds {len(persons)} persons; the keypoint "
                               f"model takes at most {MAX_PERSONS}. Use a video with fewer people.")
    return [_pose_pixels(p.joints, width, height) for p in persons if any(j is not None for j in p.joints)]


def _keyframes(track: list[Value | None], key: str, as_json: Callable[[Value], Any], label: str,
               frames: int) -> list[dict[str, Any]]:
    """A track's layout "keyframes" (thinned; its frame-0 value is the entry's own, so only a hidden one is
    listed there), at most MAX_KEYFRAMES."""
    keyframes = [{"frame": f, "hidden": True} if value is None else {"frame": f, key: as_json(value)}
                 for f, value in thin(track) if value is None or f > 0]
    if len(keyframes) > MAX_KEYFRAMES:
        raise GligenInputError(f"{label} needs {len(keyframes)} keyframes to follow its detections over the {frames} "
                               f"frames (within {TOLERANCE_PX:g} px); a layout entry takes at most {MAX_KEYFRAMES}. "
                               "Smooth the detections upstream, or seed fewer frames at a time.")
    return keyframes


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
