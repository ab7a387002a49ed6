"""The encode nodes' editor side: the layout a run uses (after seeding) and the outputs beside the
grounding (preview IMAGE, MASK per entry, BOUNDING_BOXES). Keeps the node classes to a few lines."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import torch

from ...gligen_model import GligenInputError
from ...gligen_model.pose import Person
from .browser import image_size, send_layout_to_editor
from .colors import entry_colors
from .document import LayoutDocument
from .outputs import bounding_boxes, object_masks, person_masks
from .preview import render_box_preview, render_pose_preview
from .seeding import ADD_TO_LAYOUT, pose_canvas, seed_box_layout, seed_pose_layout, unnamed_seeded_objects


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
    whose phrases the caption does not name, labelled on red in the preview."""
    layout = document.layout
    entries = document.entries("objects")
    colors = entry_colors(entries, len(layout.objects))
    preview = render_box_preview(layout, colors, background, unnamed)
    return preview, object_masks(layout), bounding_boxes(layout, entries)


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
    The canvas is the layout's, else the POSE_KEYPOINT's."""
    canvas = pose_canvas(pose_keypoint) if document.blank and pose_keypoint is not None else document.canvas()
    colors = entry_colors(document.entries("persons"), len(persons))
    return render_pose_preview(persons, colors, canvas, background), person_masks(persons, canvas)
