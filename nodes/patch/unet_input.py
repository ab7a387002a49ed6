"""The UNet input of spatial-map and inpainting files: extra channels after the latent, through the file's
widened first conv, and (inpainting) the known region re-imposed at every step.

ComfyUI's UNet applies the base model's 4-channel first conv itself; an `input_block_patch` at
("input", 0) then swaps that conv's output for the file's conv on [x ; extra], keeping anything other
patches added to it: h - conv_base(x) + conv_file([x ; extra]). Nothing of the MODEL is replaced, so
once a spatial map's beta reaches 0 (no extra channels) the UNet is the base model, bit for bit, as the
authors' sampler restores the SD conv. Inpainting files keep their conv on every step, as in training.
"""

from __future__ import annotations

from typing import Any

import torch

from ...gligen_model import GligenInputError, GligenModel
from ...gligen_model.grounding import MapGrounding
from ...gligen_model.inpainting import InpaintImage, inpaint_channels, keep_mask_from_boxes, keep_mask_from_pixels
from ...gligen_model.inpainting import reimpose_known as reimpose
from .chunks import ChunkRole

FIRST_BLOCK = ("input", 0)


class WidenedInput:
    """Extra UNet input channels of one Apply: the map's downsampled channels (while grounding is on) and/or
    the inpainting channels [z0 * keep | keep] (always)."""

    def __init__(self, gligen: GligenModel, base_first_conv: Any, model_sampling: Any,
                 inpaint: InpaintImage | None, latent_format: Any, boxes: torch.Tensor | None) -> None:
        self.gligen = gligen
        self.base_first_conv = base_first_conv
        self.model_sampling = model_sampling
        self.z0: torch.Tensor | None = None
        self.keep: torch.Tensor | None = None
        if inpaint is not None:
            self.z0 = latent_format.process_in(inpaint.latent.float())
            self.keep = (keep_mask_from_pixels(inpaint.regenerate, inpaint.latent_hw) if inpaint.regenerate is not None
                         else keep_mask_from_boxes(boxes if boxes is not None else torch.zeros(0, 4),
                                                   inpaint.latent_hw))
        self._cache: dict[tuple[Any, ...], torch.Tensor] = {}

    # ---- per UNet call ------------------------------------------------------------------------
    def extra_for_call(self, x: torch.Tensor, chunks: tuple[ChunkRole, ...], full_hw: tuple[int, int],
                       prepared_map: MapGrounding | None, dtype: torch.dtype) -> torch.Tensor | None:
        """The extra channels (B, k, h, w) in the UNet's `dtype` for a call on latent x (B, 4, h, w), or None
        when nothing is added (a map file once beta is 0). Built once per call shape and chunk plan, not on
        every step."""
        if prepared_map is None and self.z0 is None:
            return None
        key = ("extra", chunks, x.shape[0], tuple(x.shape[-2:]), full_hw, prepared_map is not None, x.device, dtype)
        return self._cached(key, lambda: self._extra(x, chunks, full_hw, prepared_map, dtype))

    def _extra(self, x: torch.Tensor, chunks: tuple[ChunkRole, ...], full_hw: tuple[int, int],
               prepared_map: MapGrounding | None, dtype: torch.dtype) -> torch.Tensor:
        """(B, k, h, w): each chunk's window of [map channels | inpainting channels], per_chunk rows each."""
        parts = []
        if prepared_map is not None:
            parts.append(self.gligen.map_channels(prepared_map, full_hw).to(x.device, dtype))
        if self.z0 is not None:
            self._check_latent_size(full_hw)
            parts.append(inpaint_channels(self.z0.to(x.device, dtype), self.keep))
        items = max(int(p.shape[0]) for p in parts)
        full = torch.cat([_rows(p, items) for p in parts], dim=1)
        per_chunk = x.shape[0] // len(chunks)
        return torch.cat([_rows(_window(full, chunk, full_hw, x.shape[-2:]), per_chunk) for chunk in chunks])

    def first_block(self, h: torch.Tensor, x: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        """input_block_patch at ("input", 0): the base conv's output h -> the file's conv on [x ; extra].
        x: the UNet's input (B, 4, h, w); extra: (B, k, h, w) from extra_for_call."""
        return h - self.base_first_conv(x) + self.gligen.widened_first_conv(x, extra).to(h.dtype)

    # ---- per guider call (inpainting) ---------------------------------------------------------
    def predict_noise(self, executor: Any, x: torch.Tensor, sigma: torch.Tensor, model_options: dict[str, Any],
                      seed: Any, noise: torch.Tensor | None) -> torch.Tensor:
        """PREDICT_NOISE wrapper: before the model, the known cells become z0 noised to this sigma (with the
        sampler's own noise); after it, the prediction there is z0 itself."""
        assert self.z0 is not None and self.keep is not None
        self._check_latent_size(tuple(x.shape[-2:]))
        z0 = self._cached(("z0", x.shape[0], x.device, x.dtype),
                          lambda: _rows(self.z0.to(x.device, x.dtype), x.shape[0]))
        keep = self._cached(("keep", x.device, x.dtype), lambda: self.keep.to(x.device, x.dtype))
        if noise is None or noise.shape != x.shape:
            generator = torch.Generator().manual_seed(int(seed or 0))
            noise = torch.randn(x.shape, generator=generator).to(x.device, x.dtype)
        known = self.model_sampling.noise_scaling(sigma, noise.to(x.device, x.dtype), z0)
        out = executor(reimpose(x, known, keep), sigma, model_options, seed)
        return reimpose(out, z0, keep)

    def _check_latent_size(self, latent_hw: tuple[int, int]) -> None:
        image_hw = tuple(self.z0.shape[-2:])
        if tuple(latent_hw) != image_hw:
            raise GligenInputError(
                f"The sampler's latent is {latent_hw[1] * 8}x{latent_hw[0] * 8} pixels, but the image to edit "
                f"(GLIGEN Inpaint Image) is {image_hw[1] * 8}x{image_hw[0] * 8}: feed the sampler the LATENT output of "
                "GLIGEN Inpaint Image (Suite), or an empty latent of the image's size.")

    def _cached(self, key: tuple[Any, ...], build: Any) -> torch.Tensor:
        if key not in self._cache:
            with torch.no_grad():
                self._cache[key] = build()
        return self._cache[key]


def _rows(part: torch.Tensor, count: int) -> torch.Tensor:
    """A (1 | count, ...) tensor as `count` rows."""
    if part.shape[0] == count:
        return part
    if part.shape[0] == 1:
        return part.expand(count, *part.shape[1:])
    raise GligenInputError(
        f"The image to edit is a batch of {part.shape[0]}, but the sampler runs {count} latents at a time: give "
        "GLIGEN Inpaint Image one image, or as many as the latent batch.")


def _window(full: torch.Tensor, chunk: ChunkRole, full_hw: tuple[int, int], call_hw: torch.Size) -> torch.Tensor:
    """The cells of `full` (n, k, H, W) that a chunk denoises (its area window, or all of it)."""
    if chunk.crop is None:
        window = full
    else:
        height, width = full_hw
        x0, y0, x1, y1 = chunk.crop
        window = full[..., round(y0 * height):round(y1 * height), round(x0 * width):round(x1 * width)]
    if tuple(window.shape[-2:]) != tuple(call_hw):
        raise GligenInputError(
            f"GLIGEN's extra input channels ({tuple(window.shape[-2:])} latent cells) do not fit the UNet call's "
            f"latent {tuple(call_hw)}: this sampler setup (area conditioning or tiling) is not supported with "
            "spatial-map or inpainting GLIGEN files.")
    return window
