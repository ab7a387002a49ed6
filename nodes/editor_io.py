"""The encode nodes' editor side: the layout a run uses (after seeding) and the outputs beside the
grounding (preview IMAGE, MASK per entry, BOUNDING_BOXES). Keeps the node classes to a few lines."""

from __future__ import annotations

from typing import Any

import torch

from ..gligen_model import GligenInputError, parse_layout
from ..gligen_model.pose import Person, persons_from_pose_keypoint
from .editor_bridge import image_size, send_layout_to_editor
from .layout_outputs import bounding_boxes, entry_colors, object_masks, person_masks
from .layout_preview import render_box_preview, render_pose_preview
from .layout_seed import (
    ADD_TO_LAYOUT,
    DEFAULT_CANVAS,
    layout_dict,
    pose_canvas,
    seed_box_layout,
    seed_pose_layout,
    unnamed_seeded_objects,
)


def box_run_layout(node_id: str | None, text: str, seed: Any, mode: str, background: torch.Tensor | None) -> str:
    """The layout text the box node runs with: `text`, or the seeded layout (also sent to the editor)."""
    seeded = seed_box_layout(text, seed, mode, image_size(background))
    if seeded is None:
        return text
    send_layout_to_editor(node_id, seeded)
    unnamed = unnamed_seeded_objects(seeded)
    if unnamed:
        raise GligenInputError(f"The boxes from seed_boxes gave objects {unnamed} no phrase (the input carries no "
                               "text for them). They are in the editor now: type a phrase for each box and run "
                               "again.")
    return seeded


def box_outputs(text: str, background: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, list[dict]]:
    """(preview IMAGE, MASK per object, BOUNDING_BOXES) of a layout text."""
    layout = parse_layout(text)
    entries = layout_dict(text).get("objects") or []
    colors = entry_colors(entries, len(layout.objects))
    return render_box_preview(layout, colors, background), object_masks(layout), bounding_boxes(layout, entries)


def pose_run_layout(node_id: str | None, text: str, pose_keypoint: Any, mode: str) -> tuple[str, Any]:
    """(layout text, POSE_KEYPOINT still to add) the pose node runs with; a seeded or converted layout
    is sent to the editor."""
    seeded = seed_pose_layout(text, pose_keypoint, mode)
    if seeded is not None:
        send_layout_to_editor(node_id, seeded)
        text = seeded
    return text, (pose_keypoint if mode == ADD_TO_LAYOUT else None)


def pose_outputs(text: str, pose_keypoint: Any, background: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(preview IMAGE, MASK per person) for the layout's persons followed by the POSE_KEYPOINT's."""
    layout = parse_layout(text) if text.strip() else None
    persons: list[Person] = list(layout.persons) if layout else []
    if pose_keypoint is not None:
        persons += persons_from_pose_keypoint(pose_keypoint)
    if layout is not None:
        canvas = (layout.width, layout.height)
    elif pose_keypoint is not None:
        canvas = pose_canvas(pose_keypoint)
    else:
        canvas = (DEFAULT_CANVAS, DEFAULT_CANVAS)
    entries = (layout_dict(text).get("persons") or []) if layout else []
    colors = entry_colors(entries, len(persons))
    return render_pose_preview(persons, colors, canvas, background), person_masks(persons, canvas)
