"""The encode nodes' frame count: the `frames` widget, or the batch size of a connected `latent`.

frames = 0 and no latent: one layout for every batch item (a static grounding). Otherwise one layout per
frame; a frame count the layout's keyframes go past is refused later (keyframes.check_frame_count).
"""

from __future__ import annotations

from typing import Any

import torch
from comfy_api.latest import io

from ..gligen_model import GligenInputError
from ..gligen_model.errors import short_repr
from ..gligen_model.keyframes import MAX_FRAMES


def frames_input() -> io.Int.Input:
    """The `frames` widget both encode nodes carry (last optional input: old workflows' values stay in place)."""
    return io.Int.Input("frames", default=0, min=0, max=MAX_FRAMES, optional=True,
                        tooltip="0: one layout for every batch item (or the connected latent's frame count). "
                                "N > 0: a layout per frame 0 .. N - 1 (a video's frames or a batch's items), "
                                "keyframed entries moved to each frame; set it to the latent's batch size.")


def latent_input() -> io.Latent.Input:
    return io.Latent.Input("latent", optional=True,
                           tooltip="The latent you sample (e.g. Empty Latent Image, an AnimateDiff batch): its "
                                   "batch size is the frame count, so keyframes follow it; frames must then be 0 "
                                   "or the same number.")


def latent_frames(latent: Any) -> int:
    """The frame count of a LATENT ({"samples": (batch, channels, height, width)}): its batch size."""
    samples = latent.get("samples") if isinstance(latent, dict) else None
    if not isinstance(samples, torch.Tensor):
        raise GligenInputError(f"The latent input is {short_repr(type(latent).__name__)} without \"samples\"; "
                               "connect a LATENT output (Empty Latent Image, VAE Encode, an AnimateDiff batch).")
    if samples.ndim != 4:
        raise GligenInputError(f"The latent input has shape {tuple(samples.shape)}; GLIGEN grounds SD1.x, SD2.x "
                               "and SDXL image latents (batch, 4, height / 8, width / 8), whose batch items are "
                               "the frames. Connect the latent of an SD checkpoint's sampler.")
    return int(samples.shape[0])


def frame_count(frames: int, latent: Any = None) -> int:
    """The frames a run grounds: 0 = static (no latent, frames widget 0), else the count per frame layout.
    A latent and a frames widget that disagree are refused, naming both."""
    if latent is None:
        return frames
    count = latent_frames(latent)
    if count > MAX_FRAMES:
        raise GligenInputError(f"The latent has {count:,} frames (batch items); a keyframed layout covers at most "
                               f"{MAX_FRAMES:,}. Sample fewer frames, or in parts.")
    if frames and frames != count:
        raise GligenInputError(f"frames is {frames}, but the connected latent has {count} frames (batch items). "
                               "Set frames to 0 to follow the latent, or to its batch size.")
    return count
