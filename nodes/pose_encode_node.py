"""GLIGEN Pose Encode: persons from the layout JSON and/or a POSE_KEYPOINT -> keypoint grounding."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import torch
from comfy_api.latest import io

from ..gligen_model import GligenInputError
from ..gligen_model.frames import FrameGroundings
from ..gligen_model.grounding import PoseGrounding, pose_grounding
from ..gligen_model.keyframes import check_frame_count, entries_for_frames
from ..gligen_model.layout import Layout
from ..gligen_model.pose import (
    MAX_PERSONS,
    PASTED_OPENPOSE,
    POSE_KEYPOINT_INPUT,
    Person,
    persons_from_pose_keypoint,
    pose_frame_count,
)
from .editor.browser import background_ui, frames_ui
from .editor.document import LayoutDocument, as_document
from .editor.node_runs import MASKS_TOOLTIP, PREVIEW_TOOLTIP, pose_frame_outputs, pose_outputs, pose_run_layout
from .editor.seeding import ADD_TO_LAYOUT, POSE_KEYPOINT_MODES
from .frame_inputs import frame_count, frames_input, latent_input
from .sockets import CATEGORY, GroundingSocket, PoseKeypointSocket

# One standing person on a 512 x 512 canvas, COCO-17 order, pixels (web/js/editor/constants.js: STANDING_PERSON).
STANDING_PERSON = ((256, 96), (268, 84), (244, 84), (282, 92), (230, 92), (300, 150), (212, 150), (318, 220),
                   (194, 220), (326, 286), (186, 286), (286, 290), (226, 290), (290, 380), (222, 380), (292, 466),
                   (220, 466))


def default_pose_layout_json() -> str:
    """One standing person on a 512x512 canvas (what a fresh node shows)."""
    joints = [list(joint) for joint in STANDING_PERSON]
    return json.dumps({"version": 1, "width": 512, "height": 512, "persons": [{"keypoints": joints}]})


def encode_poses(layout: str | LayoutDocument, pose_keypoint: Any = None) -> PoseGrounding:
    """Keypoint grounding for the layout's persons, then the POSE_KEYPOINT's; at most 8 in all.

    layout: the widget text or its document; it may also be an OpenPose JSON file's content
    ({"people": [...], "canvas_width": W, "canvas_height": H}, as OpenPose / DWPose save it).
    """
    return pose_grounding(grounded_persons(as_document(layout), pose_keypoint))


def grounded_persons(document: LayoutDocument, pose_keypoint: Any = None) -> tuple[Person, ...]:
    """The persons a run grounds: the layout's (or the OpenPose file's), then the POSE_KEYPOINT's."""
    persons = list(_layout_persons(document))
    if pose_keypoint is not None:
        persons += persons_from_pose_keypoint(pose_keypoint)
    if len(persons) > MAX_PERSONS:
        raise GligenInputError(f"{len(persons)} persons were given; the keypoint model takes at most {MAX_PERSONS}. "
                               "Remove persons from the layout or use an image with fewer people.")
    return tuple(persons)


def _layout_persons(document: LayoutDocument) -> tuple[Person, ...]:
    if document.blank:
        return ()
    if document.openpose:
        return persons_from_pose_keypoint(document.data, PASTED_OPENPOSE)
    layout = document.layout
    if layout.objects and not layout.persons:
        raise GligenInputError("The layout holds objects but no persons: objects are read by GLIGEN Text-Box Encode "
                               "(Suite). Connect this layout to that node, or add persons with keypoints.")
    return layout.persons


_NO_ENTRIES = Layout(width=1, height=1, objects=())  # the frame-count check of a blank or OpenPose document


def persons_per_frame(document: LayoutDocument, pose_keypoint: Any, frames: int) -> list[tuple[Person | None, ...]]:
    """The persons a run grounds at each frame 0 .. frames - 1: the layout's at that frame (None where hidden;
    keyframed persons moved), then the POSE_KEYPOINT's: its frame f when it holds `frames` frames (a pose
    video; a frame may show nobody), its first frame for every frame when it holds one. At most 8 visible
    persons per frame."""
    static = _layout_persons(document)
    # only the persons' keyframes count here: objects' are Text-Box Encode's
    persons_only = _NO_ENTRIES if document.blank or document.openpose else replace(document.layout, objects=())
    if any(p.keyframes for p in static):
        layout_frames = [entries.persons for entries in entries_for_frames(persons_only, frames)]
    else:
        check_frame_count(persons_only, frames)
        layout_frames = [static] * frames
    detected = _pose_keypoint_frames(pose_keypoint, frames)
    out = []
    for f, persons in enumerate(layout_frames):
        frame = (*persons, *detected[f])
        visible = sum(p is not None for p in frame)
        if visible > MAX_PERSONS:
            raise GligenInputError(f"Frame {f} has {visible} persons; the keypoint model takes at most {MAX_PERSONS}. "
                                   "Remove persons from the layout or use a video with fewer people.")
        out.append(frame)
    return out


def _pose_keypoint_frames(pose_keypoint: Any, frames: int) -> list[tuple[Person, ...]]:
    if pose_keypoint is None:
        return [()] * frames
    count = pose_frame_count(pose_keypoint)
    if count == 1:
        return [persons_from_pose_keypoint(pose_keypoint)] * frames
    if count != frames:
        raise GligenInputError(f"The POSE_KEYPOINT input holds {count} frames, but this node grounds {frames} "
                               f"(its frames widget or latent). Give the poses of exactly {frames} frames (the "
                               "video the latent is made for), or one frame for all.")
    detected = [persons_from_pose_keypoint(pose_keypoint, frame=f, allow_empty=True) for f in range(frames)]
    if not any(detected):  # a frame may show nobody, but a video with nobody at all is a failed detection
        raise GligenInputError(f"{POSE_KEYPOINT_INPUT.name} contains no people in any of its {count} frames: "
                               f"{POSE_KEYPOINT_INPUT.nobody}.")
    return detected


def pose_frame_grounding(frames: list[tuple[Person | None, ...]]) -> PoseGrounding | FrameGroundings:
    """One pose grounding per frame, or a single one when every frame grounds the same persons."""
    if all(frame == frames[0] for frame in frames):
        return pose_grounding([p for p in frames[0] if p is not None])
    return FrameGroundings(tuple(pose_grounding([p for p in frame if p is not None]) for frame in frames))


class GligenPoseEncode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GLIGENSuite_PoseEncode",
            display_name="GLIGEN Pose Encode (Suite)",
            category=CATEGORY,
            description="Turns persons (17 COCO keypoints each) into grounding for a GLIGEN keypoint model. "
                        "Persons come from the node's pose editor (the layout JSON's \"persons\" list) and/or a "
                        "POSE_KEYPOINT input (OpenPose / DWPose, first frame); at most 8.",
            inputs=[
                io.String.Input("layout", multiline=True, default=default_pose_layout_json(), socketless=True,
                                tooltip='The pose editor\'s state: {"version": 1, "width": W, "height": H, '
                                        '"persons": [{"keypoints": [[x, y] or null, ... 17 in COCO order]}]}; '
                                        'pixels. Or an OpenPose JSON file (converted when the node runs).'),
                PoseKeypointSocket.Input("pose_keypoint", optional=True,
                                         tooltip="Poses from an OpenPose / DWPose preprocessor."),
                io.Combo.Input("pose_keypoint_mode", options=list(POSE_KEYPOINT_MODES), default=ADD_TO_LAYOUT,
                               optional=True,
                               tooltip="add to layout: its persons are grounded after the editor's; copy when "
                                       "empty / copy always: they are copied into the editor (if it has no "
                                       "persons / on every run) for you to edit."),
                io.Image.Input("background", optional=True,
                               tooltip="An image shown under the editor's canvas and the preview (a batch of as "
                                       "many images as frames: one under each frame's preview)."),
                frames_input(),
                latent_input(),
            ],
            outputs=[GroundingSocket.Output(display_name="grounding"),
                     io.Image.Output(display_name="preview", tooltip=PREVIEW_TOOLTIP),
                     io.Mask.Output(display_name="masks", tooltip=MASKS_TOOLTIP)],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, layout: str, pose_keypoint: Any = None, pose_keypoint_mode: str = ADD_TO_LAYOUT,
                background: torch.Tensor | None = None, frames: int = 0, latent: Any = None) -> io.NodeOutput:
        frames = frame_count(frames, latent)
        node_id = cls.hidden.unique_id if cls.hidden else None
        document, extra = pose_run_layout(node_id, LayoutDocument.decode(layout), pose_keypoint, pose_keypoint_mode)
        if frames == 0:
            persons = grounded_persons(document, extra)
            return io.NodeOutput(pose_grounding(persons), *pose_outputs(document, persons, extra, background),
                                 ui=background_ui(background))
        per_frame = persons_per_frame(document, extra, frames)
        grounding = pose_frame_grounding(per_frame)
        # the same persons in every frame: one preview, each person in its own colour (hidden ones left out)
        shown = per_frame if isinstance(grounding, FrameGroundings) else per_frame[:1]
        outputs = pose_frame_outputs(document, shown, extra, background)
        ui = (background_ui(background, frames) or {}) | frames_ui(frames)
        return io.NodeOutput(grounding, *outputs, ui=ui)
