"""The encode nodes' editor side: the layout a run uses (after seeding) and the outputs beside the
grounding (preview IMAGE, MASK per entry, BOUNDING_BOXES). Keeps the node classes to a few lines."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import torch

from ...gligen_model import GligenInputError
from ...gligen_model.keyframes import FrameEntries
from ...gligen_model.pose import Person
from .browser import image_size, send_layout_to_editor
from .colors import entry_colors
from .document import LayoutDocument
from .outputs import bounding_boxes, object_masks, output_size, person_masks
from .preview import render_box_preview, render_pose_preview
from .seeding import ADD_TO_LAYOUT, pose_canvas, seed_box_layout, seed_pose_layout, unnamed_seeded_objects

PREVIEW_TOOLTIP = "The layout drawn over the background; per frame (frames > 0, keyframes): one image per frame."
MASKS_TOOLTIP = ("A mask per entry (its box); per frame: frame f's entry i at f * N + i of the N entries, all zero "
                 "where it is hidden.")


def box_run_layout(node_id: str | None, document: LayoutDocument, seed: Any, mode: str,
                   background: torch.Tensor | None) -> LayoutDocument:
    """The layout the box node runs with: `document`, or the seeded layout (also sent to the editor)."""
    seeded = seed_box_layout(document, seed, mode, image_size(background))
    if seeded is None:
        return document
    send_layout_to_editor(node_id, seeded.text)
    unnamed = unnamed_seeded_objects(seeded)
    if unnamed:
        raise GligenInputError(f"The boxes from seed_boxes gave objects {unnamed} no phrase (the input carries no "
                               "text for them). They are in the editor now: type a phrase for each box and run "
                               "again.")
    return seeded


def box_outputs(document: LayoutDocument, background: torch.Tensor | None,
                unnamed: Collection[int] = ()) -> tuple[torch.Tensor, torch.Tensor, list[dict]]:
    """(preview IMAGE, MASK per object, BOUNDING_BOXES) of a layout; `unnamed`: the objects (indices from 0)
    whose phrases the caption does not name, labelled on red in the preview. The one-frame case of
    box_frame_outputs."""
    preview, masks, boxes = box_frame_outputs(document, [FrameEntries(document.layout.objects, ())], background,
                                              unnamed)
    return preview, masks, boxes[0]


def box_frame_outputs(document: LayoutDocument, frames: Sequence[FrameEntries], background: torch.Tensor | None,
                      unnamed: Collection[int] = ()) -> tuple[torch.Tensor, torch.Tensor, list[list[dict]]]:
    """Per-frame outputs of a keyframed layout at `frames` (entries_for_frames): preview (F, H, W, 3), masks
    (F * N, H, W) with frame f's object i at f * N + i, and one BOUNDING_BOXES list per frame. A background
    batch of F images lies frame by frame under the previews; any other batch shows its first image."""
    layout = document.layout
    entries = document.entries("objects")
    colors = entry_colors(entries, len(layout.objects))
    preview_size = output_size(layout.width, layout.height, len(frames))
    mask_size = output_size(layout.width, layout.height, len(frames) * max(1, len(layout.objects)))
    previews, masks, boxes = [], [], []
    for f, at in enumerate(frames):
        previews.append(render_box_preview(layout, colors, background, unnamed, at.objects, preview_size,
                                           _background_frame(background, f, len(frames))))
        masks.append(object_masks(layout, at.objects, mask_size))
        boxes.append(bounding_boxes(layout, entries, at.objects))
    return torch.cat(previews), torch.cat(masks), boxes


def _background_frame(background: torch.Tensor | None, frame: int, frames: int) -> int:
    return frame if background is not None and background.shape[0] == frames else 0


def pose_run_layout(node_id: str | None, document: LayoutDocument, pose_keypoint: Any,
                    mode: str) -> tuple[LayoutDocument, Any]:
    """(layout, POSE_KEYPOINT still to add) the pose node runs with; a seeded or converted layout is sent to
    the editor."""
    seeded = seed_pose_layout(document, pose_keypoint, mode)
    if seeded is not None:
        send_layout_to_editor(node_id, seeded.text)
        document = seeded
    return document, (pose_keypoint if mode == ADD_TO_LAYOUT else None)


def pose_outputs(document: LayoutDocument, persons: Sequence[Person], pose_keypoint: Any,
                 background: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(preview IMAGE, MASK per person) of the persons grounded: the layout's, then the POSE_KEYPOINT's.
    The canvas is the layout's, else the POSE_KEYPOINT's. The one-frame case of pose_frame_outputs."""
    return pose_frame_outputs(document, [tuple(persons)], pose_keypoint, background)


def pose_frame_outputs(document: LayoutDocument, frames: Sequence[Sequence[Person | None]], pose_keypoint: Any,
                       background: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame (preview (F, H, W, 3), masks (F * P, H, W)) of the persons grounded at each frame (None: hidden
    there); P = the most persons of any frame, frame f's person i at f * P + i (missing ones all zero)."""
    canvas = _pose_canvas(document, pose_keypoint)
    slots = max(1, max(len(persons) for persons in frames))
    colors = entry_colors(document.entries("persons"), slots)
    preview_size = output_size(*canvas, len(frames))
    mask_size = output_size(*canvas, len(frames) * slots)
    previews, masks = [], []
    for f, persons in enumerate(frames):
        padded = [*persons, *[None] * (slots - len(persons))]
        previews.append(render_pose_preview(padded, colors, canvas, background, preview_size,
                                            _background_frame(background, f, len(frames))))
        masks.append(person_masks(padded, canvas, mask_size))
    return torch.cat(previews), torch.cat(masks)


def _pose_canvas(document: LayoutDocument, pose_keypoint: Any) -> tuple[int, int]:
    return pose_canvas(pose_keypoint) if document.blank and pose_keypoint is not None else document.canvas()
