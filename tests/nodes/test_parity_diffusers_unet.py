"""A whole grounded UNet call: diffusers' gated UNet vs ComfyUI's UNet patched by our pack, same weights.

The base UNet is the tiny random SD1.5 (two levels, 7 transformer blocks), loaded by ComfyUI and copied
into a diffusers `UNet2DConditionModel(attention_type="gated")` (devkit/diffusers_oracle.py). The
diffusers model's fusers and position net get seeded random weights, which are saved under their
diffusers names (a "diffusers layout" GLIGEN file) and loaded by our loader. Then one batched CFG call
[uncond; cond] goes through both: ComfyUI's `apply_model` with the transformer_options a sampler passes,
and diffusers with the `gligen` cross-attention kwargs its pipeline passes (null grounding for uncond).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from devkit.comfy_host import import_comfy
from devkit.diffusers_oracle import comfy_eps as oracle_comfy_eps
from devkit.diffusers_oracle import gated_unet_like, gligen_kwargs, tiny_sd15_unet
from devkit.gligen_checkpoints import write_safetensors
from devkit.pack import import_pack
from devkit.sd15_checkpoints import sd15_transformer_blocks

pytestmark = pytest.mark.parity

SEED = 21
SIGMA = 2.5
LATENT = 16  # latent height/width: two levels -> 16 and 8 tokens a side
ROWS_PER_CHUNK = 2
COND_OR_UNCOND = [1, 0]  # uncond rows first, as ComfyUI's sampler may batch them
OBJECT_BOXES = [[0.05, 0.10, 0.45, 0.90], [0.50, 0.20, 0.95, 0.60], [0.30, 0.55, 0.80, 1.00]]
MAX_OBJECTS = 30


@dataclass
class Pair:
    comfy_model: Any       # ModelPatcher of the plain tiny SD1.5
    unet: Any              # diffusers UNet2DConditionModel with the same base weights + GLIGEN weights
    gligen_file: Path      # the diffusers UNet's GLIGEN tensors, under diffusers names


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    import_comfy()
    import_pack()
    comfy_model = tiny_sd15_unet()
    assert all(v.dtype == torch.float32 for v in comfy_model.model.diffusion_model.state_dict().values())
    unet, gligen = gated_unet_like(comfy_model, seed=SEED, sample_size=LATENT)
    fuser_blocks = {k.split(".transformer_blocks.")[0] for k in gligen if ".fuser." in k}
    assert len(fuser_blocks) == len(sd15_transformer_blocks(tiny=True))
    assert any(k.startswith("position_net.") for k in gligen)
    gligen_file = write_safetensors(gligen, tmp_path_factory.mktemp("gligen") / "gligen_diffusers.safetensors")
    return Pair(comfy_model, unet, gligen_file)


@pytest.fixture(scope="module")
def inputs() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(SEED + 1)
    batch = ROWS_PER_CHUNK * len(COND_OR_UNCOND)
    return {
        "x": torch.randn(batch, 4, LATENT, LATENT, generator=gen) * (SIGMA**2 + 1) ** 0.5,
        "context": torch.randn(batch, 77, 768, generator=gen),
        "phrases": torch.randn(len(OBJECT_BOXES), 768, generator=gen),
        "boxes": torch.tensor(OBJECT_BOXES),
    }


def comfy_eps(model: Any, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """One UNet call as ComfyUI's sampler makes it (calc_cond_batch), turned back into eps."""
    return oracle_comfy_eps(model, inputs["x"], inputs["context"], SIGMA, COND_OR_UNCOND)


def diffusers_eps(pair: Pair, inputs: dict[str, torch.Tensor], grounded: bool) -> torch.Tensor:
    """The same call in diffusers; grounding kwargs as StableDiffusionGLIGENPipeline builds them for CFG."""
    sampling = pair.comfy_model.get_model_object("model_sampling")
    batch = inputs["x"].shape[0]
    sigmas = torch.full((batch,), SIGMA)
    timestep = sampling.timestep(sigmas).float()
    sample = sampling.calculate_input(sigmas, inputs["x"])  # x / sqrt(sigma^2 + 1)
    kwargs = None
    if grounded:  # null grounding (masks 0) for the uncond rows
        kwargs = gligen_kwargs(inputs["boxes"], inputs["phrases"], COND_OR_UNCOND, ROWS_PER_CHUNK, MAX_OBJECTS)
    with torch.no_grad():
        return pair.unet(sample, timestep, encoder_hidden_states=inputs["context"],
                         cross_attention_kwargs=kwargs).sample


def test_plain_unet_matches_diffusers(pair: Pair, inputs: dict[str, torch.Tensor]) -> None:
    """The base models agree before any grounding, so a failure below is GLIGEN's."""
    ours = comfy_eps(pair.comfy_model, inputs)
    theirs = diffusers_eps(pair, inputs, grounded=False)
    assert (ours - theirs).abs().max() <= 1e-4


def test_grounded_unet_matches_diffusers(pair: Pair, inputs: dict[str, torch.Tensor]) -> None:
    from gligen_suite.gligen_model import BetaSchedule
    from gligen_suite.gligen_model.grounding import BoxGrounding
    from gligen_suite.nodes.apply_node import NEGATIVE_MODES, apply_grounding
    from gligen_suite.nodes.loader_node import load_gligen_patcher

    gligen = load_gligen_patcher(str(pair.gligen_file))
    assert gligen.model.info.endswith("7 fusers, SD1.x (context 768, 7 transformer blocks), diffusers layout")
    grounding = BoxGrounding(("a", "b", "c"), inputs["phrases"], inputs["boxes"])
    patched = apply_grounding(pair.comfy_model, gligen, grounding, BetaSchedule.constant(), NEGATIVE_MODES[0])

    ours = comfy_eps(patched, inputs)
    theirs = diffusers_eps(pair, inputs, grounded=True)
    plain = diffusers_eps(pair, inputs, grounded=False)
    assert (theirs - plain).abs().max() > 1e-3  # grounding changes the output, so agreement means something
    # every chunk is grounded, the uncond one on the null tokens
    for chunk in range(len(COND_OR_UNCOND)):
        rows = slice(chunk * ROWS_PER_CHUNK, (chunk + 1) * ROWS_PER_CHUNK)
        assert (theirs[rows] - plain[rows]).abs().max() > 1e-3
    assert (ours - theirs).abs().max() <= 1e-4
