"""What the encode nodes output beside the grounding: a MASK per object / person and the layout as
BOUNDING_BOXES. Pure torch; no ComfyUI import.

Sizes: outputs are drawn on the layout's width x height canvas, scaled down to at most
MAX_OUTPUT_EDGE pixels on the long edge (a 30-object mask batch at 16384^2 would need 32 GB), and further
for a batch (per-frame outputs) that would pass MAX_OUTPUT_PIXELS in all.

Per-frame outputs (frames > 0) keep every entry's slot: frame f's masks are masks[f * N + i] for entry i
of N (all zero where it is hidden), its boxes the f-th list of the BOUNDING_BOXES.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from ...gligen_model.layout import Layout, LayoutObject
from ...gligen_model.pose import Person
from .colors import entry_colors

MAX_OUTPUT_EDGE = 2048
# Pixels of one output batch (preview frames, or masks): 30 masks at 2048^2 fit (537 MB of float32), as
# do 32 preview frames at 2048^2 (the size of the decoded video itself).
MAX_OUTPUT_PIXELS = 1 << 27


def output_size(width: int, height: int, count: int = 1) -> tuple[int, int]:
    """(width, height) in pixels of each of `count` previews or masks for a width x height layout canvas."""
    scale = min(1.0, MAX_OUTPUT_EDGE / max(width, height), math.sqrt(MAX_OUTPUT_PIXELS / (count * width * height)))
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    room = max(1, MAX_OUTPUT_PIXELS // count)  # a side rounded up to 1 px must not let the other pass the budget
    return min(w, max(1, room // h)), min(h, max(1, room // w))


def _pixel_rect(box: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """Normalized xyxy -> the pixel rows/columns it covers, at least one pixel."""
    x0 = min(width - 1, max(0, math.floor(box[0] * width)))
    y0 = min(height - 1, max(0, math.floor(box[1] * height)))
    x1 = max(x0 + 1, min(width, math.ceil(box[2] * width)))
    y1 = max(y0 + 1, min(height, math.ceil(box[3] * height)))
    return x0, y0, x1, y1


def object_masks(layout: Layout, objects: Sequence[LayoutObject | None] | None = None,
                 size: tuple[int, int] | None = None) -> torch.Tensor:
    """(N, H, W) float masks, 1 inside each object's box (a style object covers the whole canvas);
    one all-zero mask when the layout has no objects. objects: the layout's at one frame (None = hidden
    there: an all-zero mask), default its own; size: (W, H), default output_size of the layout canvas."""
    objects = layout.objects if objects is None else objects
    width, height = size or output_size(layout.width, layout.height, max(1, len(objects)))
    masks = torch.zeros(max(1, len(objects)), height, width)
    for i, obj in enumerate(objects):
        if obj is None:
            continue
        if obj.style:
            masks[i] = 1.0
            continue
        x0, y0, x1, y1 = _pixel_rect(obj.box, width, height)
        masks[i, y0:y1, x0:x1] = 1.0
    return masks


def person_box(person: Person) -> tuple[float, float, float, float] | None:
    """Normalized xyxy around a person's visible joints, or None without any."""
    points = [j for j in person.joints if j is not None]
    if not points:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def person_masks(persons: Sequence[Person | None], canvas: tuple[int, int],
                 size: tuple[int, int] | None = None) -> torch.Tensor:
    """(P, H, W) float masks, 1 on the box of each person's visible joints (all zero for None, a person
    hidden at this frame); one all-zero mask for no persons. canvas: the layout's (width, height); size:
    (W, H), default output_size of the canvas."""
    width, height = size or output_size(*canvas, max(1, len(persons)))
    masks = torch.zeros(max(1, len(persons)), height, width)
    for i, person in enumerate(persons):
        box = None if person is None else person_box(person)
        if box is not None:
            x0, y0, x1, y1 = _pixel_rect(box, width, height)
            masks[i, y0:y1, x0:x1] = 1.0
    return masks


def bounding_boxes(layout: Layout, entries: Sequence[Any],
                   objects: Sequence[LayoutObject | None] | None = None) -> list[dict[str, Any]]:
    """The objects as ComfyUI's BOUNDING_BOXES: [{x, y, width, height, metadata}], pixels of the layout
    canvas. metadata: type ("obj", or "style" for a style image over the whole canvas), text and desc
    (the phrase), palette ([its colour]), image (reference image index) and strength when set.
    objects: the layout's at one frame (None = hidden there: left out), default its own."""
    objects = layout.objects if objects is None else objects
    colors = entry_colors(entries, len(objects))
    out = []
    for obj, color in zip(objects, colors, strict=True):
        if obj is None:
            continue
        box = (0.0, 0.0, 1.0, 1.0) if obj.style else obj.box
        x0, y0 = box[0] * layout.width, box[1] * layout.height
        metadata: dict[str, Any] = {"type": "style" if obj.style else "obj", "text": obj.phrase, "desc": obj.phrase,
                                    "palette": [color]}
        if obj.image is not None:
            metadata["image"] = obj.image
        if obj.strength != 1.0:
            metadata["strength"] = obj.strength
        out.append({"x": _whole(x0), "y": _whole(y0), "width": _whole(box[2] * layout.width - x0),
                    "height": _whole(box[3] * layout.height - y0), "metadata": metadata})
    return out


def _whole(value: float) -> int | float:
    """Pixel values that were whole numbers in the layout come back as ints (floating error aside)."""
    rounded = round(value)
    return rounded if abs(value - rounded) < 1e-6 else round(value, 4)
