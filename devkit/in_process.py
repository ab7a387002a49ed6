"""Run ComfyUI's real sampling in-process on the tiny SD1.5 test checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .comfy_host import import_comfy
from .gligen_checkpoints import text_box_state_dict, write_safetensors
from .pack import import_pack
from .sd15_checkpoints import cached_sd15_checkpoint, sd15_transformer_blocks


@dataclass
class TinyHost:
    """A loaded tiny SD1.5 (model, clip) plus a matching GLIGEN file on disk."""

    model: Any
    clip: Any
    gligen_path: Path


def load_tiny_host(tmp_dir: Path, seed: int = 11) -> TinyHost:
    import_comfy()
    import_pack()
    import comfy.sd

    model, clip = comfy.sd.load_checkpoint_guess_config(
        str(cached_sd15_checkpoint(tiny=True)), output_vae=False, output_clip=True)[:2]
    gligen_path = write_safetensors(text_box_state_dict(sd15_transformer_blocks(True), seed=seed),
                                    tmp_dir / "gligen_tiny_textbox.safetensors")
    return TinyHost(model, clip, gligen_path)


def encode_prompt(clip: Any, text: str) -> list:
    tokens = clip.tokenize(text)
    return clip.encode_from_tokens_scheduled(tokens)


def sample(model: Any, positive: list, negative: list, *, width: int = 128, height: int = 128, batch: int = 1,
           steps: int = 4, cfg: float = 5.0, sampler: str = "euler", scheduler: str = "normal", seed: int = 0,
           noise: torch.Tensor | None = None) -> torch.Tensor:
    """ComfyUI's own sampling entry point (what KSampler calls); returns the final latent."""
    import comfy.sample

    latent = torch.zeros(batch, 4, height // 8, width // 8)
    if noise is None:
        noise = comfy.sample.prepare_noise(latent, seed)
    return comfy.sample.sample(model, noise, steps, cfg, sampler, scheduler, positive, negative, latent,
                               denoise=1.0, disable_pbar=True, seed=seed)


def relative_tolerance(model: Any) -> float:
    """How far two mathematically equal samplings may drift apart, relative to the latent's scale.

    fp32 (the CPU): 1e-5, a few ulps of a random model's latents (~300). fp16 / bf16 (a GPU):
    1e-2; batched and unbatched half-precision matmuls round differently, and 4 sampling steps
    of a random model amplify that (measured: 4e-3 against ComfyUI core on an H200).
    """
    return 1e-5 if model.model.get_dtype() == torch.float32 else 1e-2


def token_tolerance(dtype: torch.dtype) -> dict[str, float]:
    """`assert_close` tolerances for grounding tokens (values of order 1) computed twice in `dtype`,
    possibly on different devices: a few ulps. fp32 (the CPU): 1e-5; fp16 / bf16 (a GPU): 1e-2
    (measured: 2e-3 between CPU and GPU fp16 kernels on an H200)."""
    tol = 1e-5 if dtype == torch.float32 else 1e-2
    return {"atol": tol, "rtol": tol}
