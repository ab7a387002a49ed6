"""Poses as GLIGEN's keypoint model reads them: COCO-17 joints, xy normalized to [0, 1].

OpenPose / DWPose (ComfyUI's POSE_KEYPOINT) use the 18-point "COCO-18" order with a neck; the
keypoint checkpoint was trained on COCO's 17 joints. `OPENPOSE18_TO_COCO17[i]` is the OpenPose
index of COCO joint i (the neck, OpenPose 1, has no COCO counterpart and is dropped).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import GligenInputError, short_repr

if TYPE_CHECKING:
    from .keyframes import Joints, Keyframe

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
# Largest canvas_width / canvas_height in pixels: a pasted or copied pose becomes a layout of that canvas, so this is
# the layout's limit too (layout.MAX_CANVAS, ComfyUI's largest image side).
MAX_POSE_CANVAS = 16384


@dataclass(frozen=True)
class PoseSource:
    """Where OpenPose data came from, as its messages name it: `name` starts a sentence; `bad_file` and `nobody`
    say what to do when it has no usable "people" list or nobody in it."""

    name: str
    bad_file: str
    nobody: str


POSE_KEYPOINT_INPUT = PoseSource("The POSE_KEYPOINT input", "connect the pose output of an OpenPose / DWPose node",
                                 "the pose detector found nobody in the image. Use an image with a visible person, "
                                 "or draw the pose in the layout")
PASTED_OPENPOSE = PoseSource("The OpenPose JSON pasted into the layout",
                             "paste an OpenPose / DWPose JSON file as it was saved, or draw the poses in the editor",
                             "paste a file with at least one person, or draw the pose in the editor")


@dataclass(frozen=True)
class Person:
    """17 COCO joints; each (x, y) normalized to [0, 1], or None when not visible.
    strength: attention weight of the person's 17 tokens (1 = as trained); keyframes: the person's joints per
    frame, frame 0 first, or () when the pose does not change (see keyframes.py)."""

    joints: tuple[tuple[float, float] | None, ...]
    strength: float = 1.0
    keyframes: tuple[Keyframe[Joints], ...] = ()


def person_from_openpose18(flat: Sequence[float], width: float, height: float,
                           min_confidence: float = 0.05, where: str = "") -> Person:
    """OpenPose `pose_keypoints_2d` (18 x [x, y, confidence], flat) -> a COCO-17 Person.

    Coordinates beyond 2 are taken as pixels of a width x height canvas, otherwise as already
    normalized (DWPose writes either; a normalized joint may lie a little past the border, so 1 would
    switch a whole person to pixels for one such joint). A joint with confidence below
    `min_confidence`, at exactly (0, 0) (how OpenPose writes "missing"), or outside the picture is
    not visible. where: what messages start with (e.g. "The POSE_KEYPOINT input, person 2: ").
    """
    if not isinstance(flat, (list, tuple)) or len(flat) != 18 * 3:
        got = f"{len(flat)} numbers" if isinstance(flat, (list, tuple)) else f"a {type(flat).__name__}"
        raise GligenInputError(f"{where}pose_keypoints_2d has {got}; OpenPose-18 needs 54 (18 x [x, y, confidence]).")
    bad = [v for v in flat if not _finite_number(v)]
    if bad:
        raise GligenInputError(f"{where}pose_keypoints_2d holds {short_repr(bad[0])}; every value must be a finite "
                               "number (x, y, confidence). Re-run the pose detector or fix the JSON.")
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


def first_frame(frames: Any) -> Any:
    """The first frame of a POSE_KEYPOINT list of frames, or the value itself (one frame, as a file holds it)."""
    return frames[0] if isinstance(frames, list) and frames else frames


def pose_canvas_size(frames: Any, source: PoseSource = POSE_KEYPOINT_INPUT) -> tuple[float, float]:
    """(canvas_width, canvas_height) of the first frame: each a number of pixels from 1 to MAX_POSE_CANVAS."""
    frame = first_frame(frames)
    sizes = []
    for key in ("canvas_width", "canvas_height"):
        value = frame.get(key) if isinstance(frame, dict) else None
        if not _finite_number(value) or not 1 <= value <= MAX_POSE_CANVAS:
            raise GligenInputError(f"{source.name} has {key} {short_repr(value)}; canvas_width and canvas_height must "
                                   "be the size in pixels of the image the poses were found on, each from 1 to "
                                   f"{MAX_POSE_CANVAS}.")
        sizes.append(float(value))
    return sizes[0], sizes[1]


def is_openpose_data(value: Any) -> bool:
    """True for decoded OpenPose / POSE_KEYPOINT JSON: a list of frames, or one frame with a "people" key."""
    return isinstance(value, list) or (isinstance(value, dict) and "people" in value)


def pose_frame_count(frames: Any) -> int:
    """How many frames a POSE_KEYPOINT holds (a list of frames; one frame, as a file holds it, counts 1)."""
    return len(frames) if isinstance(frames, list) and frames else 1


def persons_from_pose_keypoint(frames: Any, source: PoseSource = POSE_KEYPOINT_INPUT, frame: int = 0,
                               allow_empty: bool = False) -> tuple[Person, ...]:
    """ComfyUI's POSE_KEYPOINT (comfyui_controlnet_aux / DWPose): a list of frames, each
    {"people": [{"pose_keypoints_2d": [...]}], "canvas_width": W, "canvas_height": H}, or one such frame (an
    OpenPose JSON file). The people of frame `frame` (0 = the first; index < pose_frame_count) are used;
    messages name `source`. A frame without people is refused unless allow_empty (a video's frame may show
    nobody)."""
    data = frames[frame] if isinstance(frames, list) and frames else frames
    where = f"{source.name}, frame {frame}" if pose_frame_count(frames) > 1 else source.name
    if not isinstance(data, dict) or not isinstance(data.get("people"), list):
        raise GligenInputError(f"{where} has no \"people\" list; {source.bad_file}.")
    width, height = pose_canvas_size(data, source)
    people = [p.get("pose_keypoints_2d") for p in data["people"] if isinstance(p, dict)]
    people = [p for p in people if p]
    if not people and not allow_empty:
        raise GligenInputError(f"{where} contains no people: {source.nobody}.")
    return tuple(person_from_openpose18(p, width, height, where=f"{where}, person {i}: ")
                 for i, p in enumerate(people, 1))
