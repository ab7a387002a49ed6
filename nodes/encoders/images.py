"""Reference images -> CLIP ViT-L/14 `image_embeds`, through ComfyUI's CLIP_VISION.

The text-image checkpoints were trained on `image_embeds` of openai/clip-vit-large-patch14
(224 px, resize + center crop, CLIP's mean/std), which ComfyUI's `encode_image(crop=True)` reproduces.
Training fed crops of each object's box; `crop_to_box` does that with the reference image.
The text projection and the 28.7 renorm come later, in the GLIGEN model (gligen_model/model.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ...gligen_model import GligenInputError
from ...gligen_model.layout import LayoutObject

VIT_L14 = {"width": 1024, "layers": 24, "patch": 14, "image_size": 224, "embeds": 768}


@dataclass(frozen=True)
class VisionTower:
    """The shape of a CLIP vision model, read off ComfyUI's ClipVisionModel."""

    width: int
    layers: int
    patch: int
    image_size: int
    embeds: int

    def describe(self) -> str:
        return (f"width {self.width}, {self.layers} layers, patch {self.patch}, {self.image_size} px, "
                f"image_embeds of {self.embeds}")


def vision_tower(clip_vision: Any) -> VisionTower | None:
    """Read the tower's shape; None when it is not a CLIP ViT with a visual projection (SigLIP, DINOv2...)."""
    model = getattr(clip_vision, "model", None)
    vision = getattr(model, "vision_model", None)
    projection = getattr(model, "visual_projection", None)
    patch_conv = getattr(getattr(vision, "embeddings", None), "patch_embedding", None)
    layers = getattr(getattr(vision, "encoder", None), "layers", None)
    if patch_conv is None or layers is None or not hasattr(projection, "out_features"):
        return None
    return VisionTower(int(patch_conv.out_channels), len(layers), int(patch_conv.kernel_size[0]),
                       int(getattr(clip_vision, "image_size", 0)), int(projection.out_features))


def check_vit_l14(clip_vision: Any) -> None:
    """Refuse any CLIP vision model but ViT-L/14 at 224 px (what the text-image checkpoints were trained on)."""
    tower = vision_tower(clip_vision)
    if tower is None:
        raise GligenInputError(
            "The CLIP_VISION input is not a CLIP ViT (it has no visual projection: SigLIP or DINOv2?). GLIGEN's "
            "text-image model needs CLIP ViT-L/14 (openai/clip-vit-large-patch14): load it in Load CLIP Vision.")
    if tower != VisionTower(**VIT_L14):
        raise GligenInputError(
            f"The CLIP_VISION input is not CLIP ViT-L/14 at 224 px ({tower.describe()}; ViT-L/14 has "
            f"{VisionTower(**VIT_L14).describe()}). GLIGEN's text-image model was trained on "
            "openai/clip-vit-large-patch14: load that one in Load CLIP Vision (ViT-H / bigG files are for IPAdapter, "
            "the 336 px ViT-L for other models).")


def reference_image_embeddings(clip_vision: Any, images: torch.Tensor | None, objects: Sequence[LayoutObject],
                               crop_to_box: bool) -> torch.Tensor | None:
    """image_embeds (N, 768) float32 on the CPU for the layout's objects (zeros where an object has no
    image), or None when no object refers to an image. images: ComfyUI IMAGE (B, H, W, C) in [0, 1]."""
    wanted = [(i, o) for i, o in enumerate(objects) if o.image is not None]
    if not wanted:
        return None
    listed = ", ".join(str(i) for i, _ in enumerate(objects, 1) if objects[i - 1].image is not None)
    if clip_vision is None:
        raise GligenInputError(
            f"Layout objects {listed} refer to reference images, but the encode node has no CLIP_VISION input: "
            "connect Load CLIP Vision (CLIP ViT-L/14) to clip_vision.")
    if images is None:
        raise GligenInputError(
            f"Layout objects {listed} refer to reference images, but the encode node has no IMAGE input: connect "
            "the images (e.g. Load Image; several images as one batch) to images.")
    check_vit_l14(clip_vision)
    count = int(images.shape[0])
    missing = sorted({o.image for _, o in wanted if o.image >= count})
    if missing:
        raise GligenInputError(
            f"The layout refers to image {missing[0]}, but the IMAGE input holds {count} image(s), numbered 0 to "
            f"{count - 1}. Fix the objects' \"image\" index, or batch more images into the input.")
    _check_pixels(images, sorted({o.image for _, o in wanted}))
    crops = [_crop(images[o.image], o.box if crop_to_box and not o.style else None) for _, o in wanted]
    embeds = _encode(clip_vision, crops)
    out = torch.zeros(len(objects), embeds.shape[1])
    out[[i for i, _ in wanted]] = embeds
    return out


def _check_pixels(images: torch.Tensor, used: list[int]) -> None:
    """ComfyUI IMAGEs are (B, H, W, C) floats in [0, 1]; refuse what CLIP vision would turn into NaN or nonsense."""
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4) or not images.is_floating_point():
        raise GligenInputError(
            f"The IMAGE input has shape {tuple(images.shape)} ({images.dtype}); reference images must be a ComfyUI "
            "IMAGE batch (batch, height, width, 3 colour channels). Connect Load Image or another IMAGE output.")
    broken = [i for i in used if not bool(torch.isfinite(images[i]).all())]
    if broken:
        raise GligenInputError(
            f"Reference image {broken[0]} of the IMAGE input contains NaN or infinite pixels, so its CLIP features "
            "would be NaN. Fix the node that made it (e.g. a failed decode), or use another image.")


def _crop(image: torch.Tensor, box: tuple[float, float, float, float] | None) -> torch.Tensor:
    """(H, W, C) -> the region of the normalized xyxy box (at least one pixel), or the whole image."""
    if box is None:
        return image
    height, width = int(image.shape[0]), int(image.shape[1])
    x0 = min(max(math.floor(box[0] * width), 0), width - 1)
    y0 = min(max(math.floor(box[1] * height), 0), height - 1)
    x1 = min(max(math.ceil(box[2] * width), x0 + 1), width)
    y1 = min(max(math.ceil(box[3] * height), y0 + 1), height)
    return image[y0:y1, x0:x1]


def _rgb(image: torch.Tensor) -> torch.Tensor:
    """(H, W, C) with C in 1 / 3 / 4 -> (H, W, 3): grey repeated, alpha dropped (CLIP sees RGB)."""
    return image.expand(*image.shape[:-1], 3) if image.shape[-1] == 1 else image[..., :3]


def _encode(clip_vision: Any, crops: list[torch.Tensor]) -> torch.Tensor:
    """One CLIP vision call per distinct crop size (whole images share one batched call)."""
    rows: list[torch.Tensor | None] = [None] * len(crops)
    by_size: dict[tuple[int, ...], list[int]] = {}
    for i, crop in enumerate(crops):
        by_size.setdefault(tuple(crop.shape), []).append(i)
    for indices in by_size.values():
        batch = torch.stack([_rgb(crops[i]) for i in indices])
        with torch.no_grad():
            embeds = clip_vision.encode_image(batch, crop=True)["image_embeds"].float().cpu()
        for row, i in enumerate(indices):
            rows[i] = embeds[row]
    return torch.stack(rows)  # type: ignore[arg-type]
