"""Spatial maps (HED, canny, depth, normal, semantic) from ComfyUI IMAGEs into what the tokenizer and the
downsampler take.

The authors feed every map at 512 x 512 ([-1, 1], or a 152-channel one-hot for ADE20K index maps) and
hard-code a 64 x 64 latent. Here a map is first fitted to the picture being sampled (8H x 8W for an H x W
latent: centre-cropped to its aspect ratio and resized, as ComfyUI fits ControlNet hints), so a 512 px
map for a 512 px picture reaches the model exactly as in the authors' code, and any other size works.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import GligenInputError
from .grounding import MapGrounding

LATENT_SCALE = 8          # pixels per latent cell (SD1.x VAE)
SEMANTIC_CLASSES = 150    # ADE20K classes 1..150; 0 = "other"
SEMANTIC_CHANNELS = 152   # the authors' one-hot width (sem_grounding_net in_dim)
GREY_TOLERANCE = 1.5 / 255  # a semantic index map is grey: its channels may differ by rounding only
INDEX_TOLERANCE = 0.25    # and its values sit on k / 255 (up to a quarter level of resampling noise)
SEMANTIC_MAP_HELP = (
    "GLIGEN's semantic model reads an ADE20K class-index map: a greyscale image whose pixel values are class "
    "numbers 0..150 (0 = other), like the dataset's annotation PNGs. A colour-coded segmentation picture (from a "
    "'seg' preprocessor) is not that: use a preprocessor that outputs the index map (e.g. OneFormer / UniFormer "
    "ADE20K with its raw label output), or convert the colours back to class numbers with the ADE20K palette.")


def fit_map(grounding: MapGrounding, latent_hw: tuple[int, int], semantic: bool) -> MapGrounding:
    """The map centre-cropped to the latent's aspect ratio and resized to its picture (8H x 8W pixels).
    Semantic (index) maps are resized with nearest-neighbour, so no class number is ever blended."""
    height, width = latent_hw[0] * LATENT_SCALE, latent_hw[1] * LATENT_SCALE
    pixels = grounding.pixels
    map_h, map_w = int(pixels.shape[1]), int(pixels.shape[2])
    if (map_h, map_w) == (height, width):
        return grounding
    if map_w * height > map_h * width:  # wider than the picture: crop the sides
        crop_w = max(1, round(map_h * width / height))
        left = (map_w - crop_w) // 2
        pixels = pixels[:, :, left:left + crop_w]
    else:
        crop_h = max(1, round(map_w * height / width))
        top = (map_h - crop_h) // 2
        pixels = pixels[:, top:top + crop_h]
    chw = pixels.permute(0, 3, 1, 2).float()
    if semantic:
        resized = F.interpolate(chw, size=(height, width), mode="nearest")
    else:
        resized = F.interpolate(chw, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return MapGrounding(resized.permute(0, 2, 3, 1).clamp(0, 1), grounding.strength)


def signed_map(pixels: torch.Tensor) -> torch.Tensor:
    """IMAGE (1, H, W, 3) in [0, 1] -> (1, 3, H, W) in [-1, 1], the authors' `(x / 255 - 0.5) / 0.5`."""
    return (pixels.permute(0, 3, 1, 2) - 0.5) / 0.5


def semantic_indices(pixels: torch.Tensor) -> torch.Tensor:
    """IMAGE (1, H, W, 3) holding an ADE20K index map -> class indices (1, H, W), int64 in 0..150.
    Raises GligenInputError for a colour picture or values outside the classes."""
    levels = pixels.float() * 255
    if float((levels.amax(dim=-1) - levels.amin(dim=-1)).max()) > GREY_TOLERANCE * 255:
        raise GligenInputError(f"The map is a colour picture, not a class-index map. {SEMANTIC_MAP_HELP}")
    grey = levels[..., 0]
    indices = grey.round()
    if float((grey - indices).abs().max()) > INDEX_TOLERANCE:
        raise GligenInputError("The semantic map's values are not whole class numbers (it was blurred or resized "
                               f"with interpolation; resize index maps with 'nearest-exact'). {SEMANTIC_MAP_HELP}")
    top = int(indices.max())
    if top > SEMANTIC_CLASSES:
        raise GligenInputError(f"The semantic map holds class number {top}, but ADE20K has classes 0..150. "
                               f"{SEMANTIC_MAP_HELP}")
    return indices.long()


def one_hot_map(indices: torch.Tensor, size: tuple[int, int], dtype: torch.dtype) -> torch.Tensor:
    """Class indices (1, H, W) -> one-hot (1, 152, h, w) at `size` (nearest-neighbour, as the authors resize)."""
    resized = F.interpolate(indices[:, None].float(), size=size, mode="nearest").long()
    out = torch.zeros(indices.shape[0], SEMANTIC_CHANNELS, *size, dtype=dtype, device=indices.device)
    return out.scatter_(1, resized, 1.0)
