"""GLIGEN Inpaint Image: the picture to edit with an inpainting GLIGEN file, VAE-encoded, and what to repaint."""

from __future__ import annotations

from typing import Any

import torch
from comfy_api.latest import io

from ..gligen_model import GligenInputError
from ..gligen_model.inpainting import InpaintImage
from ..gligen_model.spatial_maps import LATENT_SCALE
from .sockets import CATEGORY, MAX_IMAGE_PIXELS, InpaintSocket


def inpaint_image(vae: Any, image: torch.Tensor, mask: torch.Tensor | None = None) -> InpaintImage:
    """IMAGE (B, H, W, C) with H, W multiples of 8 -> its VAE latent, plus an optional MASK (1 = repaint)."""
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[-1] not in (3, 4):
        raise GligenInputError("GLIGEN Inpaint Image's image is not an RGB IMAGE: connect the picture to edit.")
    if int(image.shape[0]) < 1:
        raise GligenInputError("The image to edit is an empty batch (no picture in it): connect the picture to edit.")
    height, width = int(image.shape[1]), int(image.shape[2])
    if height % LATENT_SCALE or width % LATENT_SCALE or min(height, width) < LATENT_SCALE:
        fit_w, fit_h = (max(side // LATENT_SCALE, 1) * LATENT_SCALE for side in (width, height))
        raise GligenInputError(
            f"The image to edit is {width}x{height} pixels; GLIGEN inpainting needs sides that are multiples of "
            f"{LATENT_SCALE} (one latent cell each). Resize or crop it first (e.g. Upscale Image to {fit_w}x{fit_h}).")
    if height * width * int(image.shape[0]) > MAX_IMAGE_PIXELS:
        raise GligenInputError(f"The image to edit is {width}x{height} x {image.shape[0]}; GLIGEN Inpaint Image "
                               f"takes up to {MAX_IMAGE_PIXELS} pixels in all.")
    regenerate = None
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.ndim < 2 or mask.numel() == 0:
            got = tuple(mask.shape) if isinstance(mask, torch.Tensor) else f"a {type(mask).__name__}"
            raise GligenInputError(f"The inpainting mask is not a MASK (got shape {got}): connect a mask drawn on the "
                                   "image to edit (white = repaint), or leave the input unconnected.")
        mask = mask if mask.ndim == 3 else mask.reshape(-1, *mask.shape[-2:])
        if tuple(mask.shape[-2:]) != (height, width):
            raise GligenInputError(
                f"The inpainting mask is {mask.shape[-1]}x{mask.shape[-2]} pixels, but the image to edit is "
                f"{width}x{height}: draw the mask on that image (or scale it to its size).")
        if mask.shape[0] not in (1, image.shape[0]):
            raise GligenInputError(f"The inpainting mask is a batch of {mask.shape[0]}, the image one of "
                                   f"{image.shape[0]}: give one mask, or one per image.")
        regenerate = mask.float().cpu()
    latent = vae.encode(image[..., :3])
    return InpaintImage(latent.float().cpu(), regenerate)


class GligenInpaintImage(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GLIGENSuite_InpaintImage",
            display_name="GLIGEN Inpaint Image (Suite)",
            category=CATEGORY,
            description="The picture to edit with GLIGEN's inpainting files (gligen-inpainting-text-box / "
                        "-text-image-box). Without a mask, the layout's boxes are repainted (as the files were "
                        "trained) and the rest of the picture is kept at every step. Feed 'latent' to the sampler "
                        "(denoise 1) and 'inpaint' to GLIGEN Apply; use the same image as the box editor's "
                        "background to draw the boxes on it.",
            inputs=[
                io.Image.Input("image", tooltip="The picture to edit; sides must be multiples of 8."),
                io.Vae.Input("vae", tooltip="The VAE of your SD1.x checkpoint."),
                io.Mask.Input("mask", optional=True,
                              tooltip="Optional: what to repaint (white = repaint), same size as the image. "
                                      "Without it, the layout's boxes."),
            ],
            outputs=[InpaintSocket.Output(display_name="inpaint"), io.Latent.Output(display_name="latent")],
        )

    @classmethod
    def execute(cls, image: torch.Tensor, vae: Any, mask: torch.Tensor | None = None) -> io.NodeOutput:
        source = inpaint_image(vae, image, mask)
        return io.NodeOutput(source, {"samples": source.latent})
