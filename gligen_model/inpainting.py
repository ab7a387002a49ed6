"""Grounded inpainting (the authors' inpainting files): which latent cells to keep, the 5 extra UNet input
channels, and re-imposing the known region.

Conventions are the authors' (gligen_inference.py, inpaint_mask_func.py): mask 1 = keep, 0 = regenerate;
UNet input = [x_t (4) | z0 * mask (4) | mask (1)], z0 the scaled VAE latent of the image to edit. (SD's
inpainting models use another order and polarity: [x_t | mask (1 = inpaint) | masked image latent].)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .errors import GligenInputError
from .spatial_maps import LATENT_SCALE


@dataclass(frozen=True)
class InpaintImage:
    """The picture to edit: latent (B, 4, H, W), its raw VAE encoding (before the model's latent scaling);
    regenerate (B, H, W) 1 = latent cell to repaint, from a MASK; None = the layout's boxes decide."""

    latent: torch.Tensor
    regenerate: torch.Tensor | None = None

    @property
    def latent_hw(self) -> tuple[int, int]:
        return int(self.latent.shape[-2]), int(self.latent.shape[-1])


def keep_mask_from_boxes(boxes: torch.Tensor, latent_hw: tuple[int, int]) -> torch.Tensor:
    """(N, 4) normalized xyxy boxes -> keep mask (1, 1, H, W): 0 inside any box, 1 elsewhere.

    Cells as the authors draw them (int(x0 * W) .. int(x1 * W)), with x scaled by the width and y by the
    height (diffusers' draw_inpaint_mask_from_boxes swaps them, which only square latents survive)."""
    height, width = latent_hw
    keep = torch.ones(1, 1, height, width)
    for x0, y0, x1, y1 in boxes.float().tolist():
        c0, c1 = int(x0 * width), int(x1 * width)
        r0, r1 = int(y0 * height), int(y1 * height)
        keep[..., max(r0, 0):max(r1, 0), max(c0, 0):max(c1, 0)] = 0
    return keep


def keep_mask_from_pixels(mask: torch.Tensor, latent_hw: tuple[int, int]) -> torch.Tensor:
    """ComfyUI MASK (B, 8H, 8W), 1 = repaint -> keep mask (B, 1, H, W): a cell is repainted if any of its
    pixels is (so the masked object is regenerated whole; the model was trained on binary masks)."""
    height, width = latent_hw
    if tuple(mask.shape[-2:]) != (height * LATENT_SCALE, width * LATENT_SCALE):
        raise GligenInputError(
            f"The inpainting mask is {mask.shape[-1]}x{mask.shape[-2]} pixels, but the image to edit is "
            f"{width * LATENT_SCALE}x{height * LATENT_SCALE}: draw the mask on that image (or scale it to its size).")
    repaint = F.max_pool2d((mask.reshape(-1, 1, *mask.shape[-2:]).float() > 0.5).float(), LATENT_SCALE)
    return 1 - repaint


def inpaint_channels(z0: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """(B, 4, H, W) scaled latent and (B | 1, 1, H, W) keep mask -> the extra input (B, 5, H, W)."""
    keep = keep.to(z0.device, z0.dtype).expand(z0.shape[0], -1, -1, -1)
    return torch.cat([z0 * keep, keep], dim=1)


def reimpose_known(x: torch.Tensor, known: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """known * keep + x * (1 - keep): the authors' `q_sample(z0, t) * mask + (1 - mask) * x` once `known` is
    z0 noised to this step (or z0 itself, for the denoised prediction)."""
    keep = keep.to(x.device, x.dtype)
    return known.to(x.dtype) * keep + x * (1 - keep)
