"""The encode nodes' preview IMAGE: boxes with their labels, or skeletons, drawn over the background
image (stretched to the canvas) or a neutral grey canvas. Pure PIL + torch; no ComfyUI import.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ...gligen_model.layout import Layout, LayoutObject
from ...gligen_model.pose import COCO17_SKELETON, Person
from .outputs import MAX_OUTPUT_EDGE, output_size

NEUTRAL = (48, 48, 48)
FILL_ALPHA = 56  # of 255: box interiors stay readable over a background
LABEL_BACK = (0, 0, 0, 170)
UNNAMED_LABEL_BACK = (170, 20, 20, 220)  # the label of an object whose phrase the caption does not name
# A label is cut to this many characters before it is measured: no more visible ones fit the preview's widest
# box (MAX_OUTPUT_EDGE pixels; the narrowest, a space, is 2 px), and measuring stays cheap for any phrase.
MAX_LABEL_CHARS = MAX_OUTPUT_EDGE
# Unicode's explicit direction controls reorder the text after them (a phrase "a cat\u202e god a" would read
# "a cat a dog" where a text engine applies them); labels show each as a visible marker, as the editor does.
BIDI_CONTROLS = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))  # code points
_BIDI_PATTERN = re.compile("[" + "".join(map(chr, BIDI_CONTROLS)) + "]")


def visible_label(text: str) -> str:
    """`text` with each direction control replaced by a marker such as "<U+202E>"."""
    return _BIDI_PATTERN.sub(lambda m: f"<U+{ord(m.group()):04X}>", text)


def _base(size: tuple[int, int], background: torch.Tensor | None, frame: int = 0) -> Image.Image:
    """An RGBA canvas of `size`: image `frame` of the background batch (B, H, W, C floats in [0, 1]) or grey."""
    if background is None:
        return Image.new("RGBA", size, NEUTRAL + (255,))
    pixels = background[frame, ..., :3].detach().float().cpu().clamp(0, 1).mul(255).round().to(torch.uint8).numpy()
    if pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    return Image.fromarray(pixels, "RGB").resize(size, Image.Resampling.BILINEAR).convert("RGBA")


def _to_tensor(image: Image.Image) -> torch.Tensor:
    """(1, H, W, 3) float in [0, 1], ComfyUI's IMAGE."""
    return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0).unsqueeze(0)


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def _font(height: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(max(11, round(height / 36)))


def _fit(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont, width: float) -> str:
    """`text` cut with an ellipsis to at most `width` pixels, in O(log n) measurements: a binary search on the
    cut point (text width grows with the prefix), after a cap of MAX_LABEL_CHARS characters."""
    capped = text[:MAX_LABEL_CHARS]
    if len(capped) == len(text) and draw.textlength(text, font=font) <= width:
        return text
    fits, too_long = 0, len(capped) + 1  # capped[:fits] + "…" fits (0: nothing does); capped[:too_long] does not
    while too_long - fits > 1:
        cut = (fits + too_long) // 2
        if draw.textlength(capped[:cut] + "…", font=font) <= width:
            fits = cut
        else:
            too_long = cut
    return capped[:fits] + "…" if fits else ""


def render_box_preview(layout: Layout, colors: Sequence[str], background: torch.Tensor | None,
                       unnamed: Collection[int] = (), objects: Sequence[LayoutObject | None] | None = None,
                       size: tuple[int, int] | None = None, frame: int = 0) -> torch.Tensor:
    """(1, H, W, 3): each object's box (outline, light fill) and its number and phrase, in its colour; the labels
    of the objects `unnamed` (indices from 0: phrases the caption does not name) on red. objects: the layout's
    at one frame (None = hidden there, not drawn; numbers stay the layout's), default its own; size: (W, H),
    default output_size of the canvas; frame: which background image lies under it."""
    objects = layout.objects if objects is None else objects
    size = size or output_size(layout.width, layout.height)
    image = _base(size, background, frame)
    overlay = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    font = _font(size[1])
    line = max(2, round(max(size) / 256))
    for i, (obj, color) in enumerate(zip(objects, colors, strict=True)):
        if obj is None:
            continue
        box = (0.0, 0.0, 1.0, 1.0) if obj.style else obj.box
        x0, y0, x1, y1 = box[0] * size[0], box[1] * size[1], box[2] * size[0] - 1, box[3] * size[1] - 1
        rgb = _rgb(color)
        draw.rectangle((x0, y0, x1, y1), fill=rgb + (FILL_ALPHA,), outline=rgb + (255,), width=line)
        text = visible_label(f"{i + 1} {obj.phrase or f'image {obj.image}'}")
        label = _fit(draw, text, font, max(0.0, x1 - x0 - 2 * line))
        if label:
            left, top, right, bottom = draw.textbbox((x0 + line, y0 + line), label, font=font)
            draw.rectangle((left - 2, top - 2, right + 2, bottom + 2),
                           fill=UNNAMED_LABEL_BACK if i in unnamed else LABEL_BACK)
            draw.text((x0 + line, y0 + line), label, fill=(255, 255, 255, 255), font=font)
    return _to_tensor(Image.alpha_composite(image, overlay))


def render_pose_preview(persons: Sequence[Person | None], colors: Sequence[str], canvas: tuple[int, int],
                        background: torch.Tensor | None, size: tuple[int, int] | None = None,
                        frame: int = 0) -> torch.Tensor:
    """(1, H, W, 3): each person's visible limbs and joints (COCO skeleton) in its colour (None: a person hidden
    at this frame, not drawn). canvas: layout (W, H); size: (W, H), default its output_size; frame: which
    background image lies under it."""
    size = size or output_size(*canvas)
    image = _base(size, background, frame)
    draw = ImageDraw.Draw(image)
    line = max(2, round(max(size) / 160))
    radius = line + 1
    for person, color in zip(persons, colors, strict=True):
        if person is None:
            continue
        rgb = _rgb(color) + (255,)
        points = [None if j is None else (j[0] * size[0], j[1] * size[1]) for j in person.joints]
        for a, b in COCO17_SKELETON:
            if points[a] is not None and points[b] is not None:
                draw.line((points[a], points[b]), fill=rgb, width=line)
        for point in points:
            if point is not None:
                x, y = point
                draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=rgb, outline=(255, 255, 255, 255))
    return _to_tensor(image)
