"""Grounding seen through a crop of the picture (ComfyUI's area conditioning runs the UNet on a crop).

A layout is drawn on the whole picture. When the sampler denoises only a window of the latent
(ConditioningSetArea and friends), that window is a picture of its own to the UNet, so the boxes
must be given in the window's coordinates: clipped to it, re-normalized by its size, and objects
outside it dropped (what the authors' data pipeline does to boxes when it crops an image).
"""

from __future__ import annotations

import dataclasses

import torch

from .errors import GligenInputError
from .grounding import BoxGrounding, MapGrounding, PoseGrounding
from .layout import STYLE_BOX

Crop = tuple[float, float, float, float]  # x0, y0, x1, y1 of the window, normalized to the whole picture
# BoxGrounding's per-object fields (first dimension N); a new field must be added here.
PER_OBJECT_FIELDS = ("phrase_embeddings", "boxes", "image_embeddings", "text_mask", "image_mask", "strengths")


def crop_grounding(grounding: BoxGrounding | PoseGrounding | MapGrounding,
                   crop: Crop) -> BoxGrounding | PoseGrounding | MapGrounding:
    """The grounding as the UNet sees it inside `crop`: coordinates relative to the window (a map: its pixels
    inside the window)."""
    x0, y0, x1, y1 = crop
    if not (0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0):
        raise ValueError(f"crop {crop} is not a window of the picture")
    if isinstance(grounding, PoseGrounding):
        return _crop_poses(grounding, crop)
    if isinstance(grounding, MapGrounding):
        height, width = grounding.size
        rows = slice(round(y0 * height), max(round(y1 * height), round(y0 * height) + 1))
        cols = slice(round(x0 * width), max(round(x1 * width), round(x0 * width) + 1))
        return dataclasses.replace(grounding, pixels=grounding.pixels[:, rows, cols])
    return _crop_boxes(grounding, crop)


def _crop_boxes(grounding: BoxGrounding, crop: Crop) -> BoxGrounding:
    unknown = {f.name for f in dataclasses.fields(grounding)} - {"phrases", *PER_OBJECT_FIELDS}
    if unknown:  # never guess which fields are per object: refuse instead of a wrong image
        raise GligenInputError(f"Area conditioning (ConditioningSetArea) cannot crop grounding that carries "
                               f"{sorted(unknown)} yet: remove the area from the conditioning, or the GLIGEN "
                               "Apply node from this sampler.")
    x0, y0, x1, y1 = crop
    boxes = grounding.boxes.float()
    style = (boxes == torch.tensor(STYLE_BOX)).all(dim=-1)  # a style image has no place: it stays
    low = torch.tensor([x0, y0, x0, y0])
    high = torch.tensor([x1, y1, x1, y1])
    clipped = torch.minimum(torch.maximum(boxes, low), high)
    inside = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    scale = torch.tensor([x1 - x0, y1 - y0, x1 - x0, y1 - y0])
    remapped = torch.where(style[:, None], boxes, (clipped - low) / scale).to(grounding.boxes.dtype)
    keep = torch.nonzero(style | inside).flatten()
    changes: dict[str, object] = {"phrases": tuple(grounding.phrases[i] for i in keep.tolist())}
    for name in PER_OBJECT_FIELDS:
        value = remapped if name == "boxes" else getattr(grounding, name)
        changes[name] = None if value is None else value[keep]
    return dataclasses.replace(grounding, **changes)


def _crop_poses(grounding: PoseGrounding, crop: Crop) -> PoseGrounding:
    x0, y0, x1, y1 = crop
    points = (grounding.points - torch.tensor([x0, y0])) / torch.tensor([x1 - x0, y1 - y0])
    inside = ((points >= 0) & (points <= 1)).all(dim=-1).to(grounding.visible.dtype)
    visible = grounding.visible * inside
    return dataclasses.replace(grounding, points=points * visible[..., None], visible=visible)
