"""What each batch chunk of a UNet call is: the guider's negative or not, and the window it denoises.

Guiders order their conditioning lists differently (CFGGuider [positive, negative], DualCFGGuider
[negative, middle, positive], PerpNegGuider [positive, negative, empty]), so `cond_or_uncond`'s
index alone is not the role; the lists are matched by identity instead. Area conditioning makes
ComfyUI denoise a crop of the latent; the crop is known only where the conditioning entries are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ...gligen_model import GligenInputError
from ...gligen_model.cropping import Crop

UNCOND = 1  # ComfyUI's cond_or_uncond index of the negative in a plain CFG call


@dataclass(frozen=True)
class ChunkRole:
    """What one batch chunk is: the negative or not, and the window it denoises (None: the whole latent)."""

    uncond: bool
    crop: Crop | None = None


def negative_lists(conds: dict[str, Any]) -> dict[int, bool]:
    """id(list) -> whether it is negative, for a guider's named conditioning lists."""
    return {id(entries): _is_negative(name, entries) for name, entries in conds.items() if entries is not None}


def entry_roles(conds: list[Any], negative: dict[int, bool],
                latent_shape: torch.Size) -> dict[tuple[int, Any], ChunkRole]:
    """(list index, entry uuid) -> ChunkRole for every conditioning entry of one step."""
    roles: dict[tuple[int, Any], ChunkRole] = {}
    for index, entries in enumerate(conds):
        uncond = negative.get(id(entries), index == UNCOND)
        for entry in entries or ():
            roles[(index, entry.get("uuid"))] = ChunkRole(uncond, _window(entry.get("area"), latent_shape))
    return roles


def _is_negative(name: str, entries: list[dict[str, Any]]) -> bool:
    """The guider's negative lists: "negative", PerpNeg's "empty_negative_prompt", and lists ComfyUI marks with
    prompt_type "negative" (DualCFGGuider's middle prompt)."""
    return "negative" in name or any(entry.get("prompt_type") == "negative" for entry in entries)


def _window(area: Any, latent_shape: torch.Size) -> Crop | None:
    """ComfyUI's resolved area (h, w, y, x in latent cells, clamped as get_area_and_mult does) as a crop."""
    if area is None:
        return None
    if len(area) != 4 or len(latent_shape) != 4:
        raise GligenInputError(f"GLIGEN cannot place its boxes in the conditioning area {tuple(area)} of a "
                               f"{len(latent_shape) - 2}-D latent: use area conditioning on images only.")
    height, width = int(latent_shape[-2]), int(latent_shape[-1])
    area_h, area_w, y, x = (int(v) for v in area)
    h, w = min(height - y, area_h), min(width - x, area_w)
    if (y, x, h, w) == (0, 0, height, width):
        return None
    if h <= 0 or w <= 0:
        raise GligenInputError(f"The conditioning area of {area_w * 8}x{area_h * 8} pixels at x {x * 8}, y {y * 8} "
                               f"lies outside the {width * 8}x{height * 8} picture: move it inside (the area "
                               "node's x and y).")
    return (x / width, y / height, (x + w) / width, (y + h) / height)
