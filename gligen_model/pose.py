"""Poses as GLIGEN's keypoint model reads them: COCO-17 joints, xy normalized to [0, 1].

OpenPose / DWPose (ComfyUI's POSE_KEYPOINT) use the 18-point "COCO-18" order with a neck; the
keypoint checkpoint was trained on COCO's 17 joints. `OPENPOSE18_TO_COCO17[i]` is the OpenPose
index of COCO joint i (the neck, OpenPose 1, has no COCO counterpart and is dropped).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import GligenInputError

COCO17_JOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
OPENPOSE18_JOINTS = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)
OPENPOSE18_TO_COCO17 = tuple(OPENPOSE18_JOINTS.index(name) for name in COCO17_JOINTS)
# The COCO skeleton's 19 limbs as pairs of COCO-17 indices (how previews and the pose editor draw a person).
COCO17_SKELETON = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8), (7, 9),
    (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)
JOINTS = len(COCO17_JOINTS)
MAX_PERSONS = 8  # person slots of the keypoint checkpoint
NORMALIZED_LIMIT = 2.0  # larger pose coordinates are pixels


@dataclass(frozen=True)
class Person:
    """17 COCO joints; each (x, y) normalized to [0, 1], or None when not visible.
    strength: attention weight of the person's 17 tokens (1 = as trained)."""

    joints: tuple[tuple[float, float] | None, ...]
    strength: float = 1.0


def person_from_openpose18(flat: Sequence[float], width: float, height: float,
                           min_confidence: float = 0.05) -> Person:
    """OpenPose `pose_keypoints_2d` (18 x [x, y, confidence], flat) -> a COCO-17 Person.

    Coordinates beyond 2 are taken as pixels of a width x height canvas, otherwise as already
    normalized (DWPose writes either; a normalized joint may lie a little past the border, so 1 would
    switch a whole person to pixels for one such joint). A joint with confidence below
    `min_confidence`, at exactly (0, 0) (how OpenPose writes "missing"), or outside the picture is
    not visible.
    """
    if not isinstance(flat, (list, tuple)) or len(flat) != 18 * 3:
        got = f"{len(flat)} numbers" if isinstance(flat, (list, tuple)) else f"a {type(flat).__name__}"
        raise GligenInputError(f"pose_keypoints_2d has {got}; OpenPose-18 needs 54 (18 x [x, y, confidence]).")
    bad = [v for v in flat if not _finite_number(v)]
    if bad:
        raise GligenInputError(f"pose_keypoints_2d holds {bad[0]!r}; every value must be a finite number "
                               "(x, y, confidence). Re-run the pose detector or fix the JSON.")
    triples = [tuple(float(v) for v in flat[i:i + 3]) for i in range(0, 54, 3)]
    pixels = any(x > NORMALIZED_LIMIT or y > NORMALIZED_LIMIT for x, y, _ in triples)
    joints: list[tuple[float, float] | None] = []
    for source in OPENPOSE18_TO_COCO17:
        x, y, confidence = triples[source]
        if pixels:
            x, y = x / width, y / height
        # low confidence, OpenPose's (0, 0) for "not found", or outside the picture: not a visible joint
        hidden = confidence < min_confidence or (x == 0 and y == 0) or not (0 <= x <= 1 and 0 <= y <= 1)
        joints.append(None if hidden else (x, y))
    return Person(tuple(joints))


def _finite_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def is_openpose_data(value: Any) -> bool:
    """True for decoded OpenPose / POSE_KEYPOINT JSON: a list of frames, or one frame with a "people" key."""
    return isinstance(value, list) or (isinstance(value, dict) and "people" in value)


def persons_from_pose_keypoint(frames: Any) -> tuple[Person, ...]:
    """ComfyUI's POSE_KEYPOINT (comfyui_controlnet_aux / DWPose): a list of frames, each
    {"people": [{"pose_keypoints_2d": [...]}], "canvas_width": W, "canvas_height": H}.
    The first frame's people are used (one layout per graph run)."""
    frame = frames[0] if isinstance(frames, list) and frames else frames
    if not isinstance(frame, dict) or not isinstance(frame.get("people"), list):
        raise GligenInputError("The POSE_KEYPOINT input has no \"people\" list; connect the pose output of an "
                               "OpenPose / DWPose node.")
    width, height = frame.get("canvas_width"), frame.get("canvas_height")
    if not isinstance(width, (int, float)) or not isinstance(height, (int, float)) or width <= 0 or height <= 0:
        raise GligenInputError("The POSE_KEYPOINT input has no valid canvas_width / canvas_height.")
    people = [p.get("pose_keypoints_2d") for p in frame["people"] if isinstance(p, dict)]
    people = [p for p in people if p]
    if not people:
        raise GligenInputError("The POSE_KEYPOINT input contains no people: the pose detector found nobody in the "
                               "image. Use an image with a visible person, or draw the pose in the layout.")
    return tuple(person_from_openpose18(p, width, height) for p in people)
