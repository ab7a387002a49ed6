"""What the encode nodes output beside the grounding: a MASK per object / person and the layout as
BOUNDING_BOXES. Pure torch; no ComfyUI import.

Sizes: outputs are drawn on the layout's width x height canvas, scaled down to at most
MAX_OUTPUT_EDGE pixels on the long edge (a 30-object mask batch at 16384^2 would need 32 GB).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from ..gligen_model.layout import Layout
from ..gligen_model.pose import Person
from .layout_seed import is_hex_color

MAX_OUTPUT_EDGE = 2048
# Default colours by index when an entry has no "color" (web/js/editor/constants.js: PALETTE).
PALETTE = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45",
           "#fabed4", "#469990", "#dcbeff", "#9a6324", "#fffac8", "#800000", "#aaffc3", "#ffd8b1")


def output_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) in pixels of the preview and masks for a width x height layout canvas."""
    scale = min(1.0, MAX_OUTPUT_EDGE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def entry_colors(entries: Sequence[Any], count: int) -> list[str]:
    """"#rrggbb" per entry: its own "color" when valid, else the palette colour of its index."""
    colors = []
    for i in range(count):
        own = entries[i].get("color") if i < len(entries) and isinstance(entries[i], dict) else None
        colors.append(own if is_hex_color(own) else PALETTE[i % len(PALETTE)])
    return colors


def _pixel_rect(box: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """Normalized xyxy -> the pixel rows/columns it covers, at least one pixel."""
    x0 = min(width - 1, max(0, math.floor(box[0] * width)))
    y0 = min(height - 1, max(0, math.floor(box[1] * height)))
    x1 = max(x0 + 1, min(width, math.ceil(box[2] * width)))
    y1 = max(y0 + 1, min(height, math.ceil(box[3] * height)))
    return x0, y0, x1, y1


def object_masks(layout: Layout) -> torch.Tensor:
    """(N, H, W) float masks, 1 inside each object's box (a style object covers the whole canvas);
    one all-zero mask when the layout has no objects. H, W: output_size of the layout canvas."""
    width, height = output_size(layout.width, layout.height)
    masks = torch.zeros(max(1, len(layout.objects)), height, width)
    for i, obj in enumerate(layout.objects):
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


def person_masks(persons: Sequence[Person], canvas: tuple[int, int]) -> torch.Tensor:
    """(P, H, W) float masks, 1 on the box of each person's visible joints; one all-zero mask for
    no persons. canvas: the layout's (width, height); H, W its output_size."""
    width, height = output_size(*canvas)
    masks = torch.zeros(max(1, len(persons)), height, width)
    for i, person in enumerate(persons):
        box = person_box(person)
        if box is not None:
            x0, y0, x1, y1 = _pixel_rect(box, width, height)
            masks[i, y0:y1, x0:x1] = 1.0
    return masks


def bounding_boxes(layout: Layout, entries: Sequence[Any]) -> list[dict[str, Any]]:
    """The objects as ComfyUI's BOUNDING_BOXES: [{x, y, width, height, metadata}], pixels of the layout
    canvas. metadata: type ("obj", or "style" for a style image over the whole canvas), text and desc
    (the phrase), palette ([its colour]), image (reference image index) and strength when set."""
    colors = entry_colors(entries, len(layout.objects))
    out = []
    for obj, color in zip(layout.objects, colors, strict=True):
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
