"""A whole grounded UNet call on SDXL- and SD2-shaped UNets: diffusers' gated UNet vs ComfyUI patched by our pack.

As test_parity_diffusers_unet.py does for SD1, on the shapes GLIGEN-XL and IGLIGEN SD2.1 were trained on,
reduced (devkit/reduced_unets.py): ComfyUI's own SDXL / SD20 model with seeded random weights, copied
into a diffusers `UNet2DConditionModel(attention_type="gated")` with ComfyUI's key map
(devkit/diffusers_oracle.py). The SDXL one keeps no transformer at the first level, SpatialTransformers
of depth 2 and 3 (so several fusers share one SpatialTransformer: ComfyUI's transformer_index cannot
tell them apart, the block address must), 64-dim heads, context 2048 and the text_time adm; the SD2 one
context 1024, 64-dim heads, linear projections, no adm. The diffusers model's fusers and position net get
seeded random weights, saved under diffusers names and read by our loader. One batched CFG call
[uncond; cond] then goes through ComfyUI's `apply_model` and through diffusers with the `gligen`
cross-attention kwargs (null grounding, masks 0, for the uncond rows), both eps-prediction. On the
full-size SD1.5 / SD2 / SDXL layouts (meta tensors) the same oracle config and key map are checked to
cover every base weight, with 16 / 16 / 70 fusers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open

from devkit.comfy_host import import_comfy
from devkit.diffusers_oracle import comfy_eps as oracle_comfy_eps
from devkit.diffusers_oracle import gated_unet_like, gligen_kwargs
from devkit.gligen_checkpoints import write_safetensors
from devkit.pack import import_pack
from devkit.reduced_unets import random_unet_model

pytestmark = pytest.mark.parity

SEED = 41
SIGMA = 2.5
LATENT = 16  # latent height/width: three levels -> 16, 8 and 4 tokens a side
ROWS_PER_CHUNK = 2
COND_OR_UNCOND = [1, 0]  # uncond rows first, as ComfyUI's sampler may batch them
OBJECT_BOXES = [[0.05, 0.10, 0.45, 0.90], [0.50, 0.20, 0.95, 0.60], [0.30, 0.55, 0.80, 1.00]]
MAX_OBJECTS = 30
TOLERANCE = 1e-4  # max |ours - diffusers|, relative to the output's max |eps|
CHANGE = 1e-3  # grounding must move the output more than this (relative), so agreement means something
# SDXL micro-conditioning: all six numbers differ, so a swapped pair in y would show
SIZES = {"height": 1024, "width": 768, "crop_h": 32, "crop_w": 16, "target_height": 896, "target_width": 640}
POOLED_DIM = 1280  # SDXL's pooled OpenCLIP-bigG text embedding


@dataclass(frozen=True)
class Family:
    name: str          # the comfy.supported_models class
    family_label: str  # how our loader names the base model
    context_dim: int   # = grounding-token width = phrase width
    spatial_transformers: int
    transformer_blocks: int


FAMILIES = [Family("SDXL", "SDXL", 2048, spatial_transformers=11, transformer_blocks=28),
            Family("SD20", "SD2.x", 1024, spatial_transformers=11, transformer_blocks=11)]


@dataclass
class Pair:
    family: Family
    comfy_model: Any   # ModelPatcher of the plain reduced UNet
    unet: Any          # diffusers UNet2DConditionModel with the same base weights + GLIGEN weights
    gligen_file: Path  # the diffusers UNet's GLIGEN tensors, under diffusers names
    inputs: dict[str, torch.Tensor]


@pytest.fixture(scope="module", params=FAMILIES, ids=[f.name for f in FAMILIES])
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Pair:
    import_comfy()
    import_pack()
    family: Family = request.param
    comfy_model = random_unet_model(family.name, seed=SEED)
    assert comfy_model.model.model_type.name == "EPS"  # as SDXL-base and SD2.1-base
    assert all(v.dtype == torch.float32 for v in comfy_model.model.diffusion_model.state_dict().values())
    unet, gligen = gated_unet_like(comfy_model, seed=SEED + 1, sample_size=LATENT)
    assert any(k.startswith("position_net.") for k in gligen)
    gligen_file = write_safetensors(gligen, tmp_path_factory.mktemp("gligen") / f"{family.name}_gligen.safetensors")
    return Pair(family, comfy_model, unet, gligen_file, make_inputs(comfy_model, family))


def make_inputs(comfy_model: Any, family: Family) -> dict[str, torch.Tensor]:
    """Latent, context, phrases and boxes; for SDXL the adm vector y as ComfyUI's SDXL.encode_adm builds it."""
    gen = torch.Generator().manual_seed(SEED + 2)
    batch = ROWS_PER_CHUNK * len(COND_OR_UNCOND)
    inputs = {
        "x": torch.randn(batch, 4, LATENT, LATENT, generator=gen) * (SIGMA**2 + 1) ** 0.5,
        "context": torch.randn(batch, 77, family.context_dim, generator=gen),
        "phrases": torch.randn(len(OBJECT_BOXES), family.context_dim, generator=gen),
        "boxes": torch.tensor(OBJECT_BOXES),
    }
    if comfy_model.model.adm_channels:
        pooled = torch.randn(batch, POOLED_DIM, generator=gen)
        inputs["pooled"] = pooled
        inputs["y"] = comfy_model.model.encode_adm(pooled_output=pooled, **SIZES)
        assert inputs["y"].shape == (batch, comfy_model.model.adm_channels)
    return inputs


def comfy_eps(model: Any, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """One UNet call as ComfyUI's sampler makes it (calc_cond_batch), turned back into eps."""
    return oracle_comfy_eps(model, inputs["x"], inputs["context"], SIGMA, COND_OR_UNCOND, inputs.get("y"))


def diffusers_eps(pair: Pair, grounded: bool) -> torch.Tensor:
    """The same call in diffusers: SDXL's added_cond_kwargs as its pipeline builds them, grounding kwargs as the
    GLIGEN pipelines build them for CFG (masks 0 for the uncond rows)."""
    inputs = pair.inputs
    sampling = pair.comfy_model.get_model_object("model_sampling")
    batch = inputs["x"].shape[0]
    sigmas = torch.full((batch,), SIGMA)
    timestep = sampling.timestep(sigmas).float()
    sample = sampling.calculate_input(sigmas, inputs["x"])  # x / sqrt(sigma^2 + 1)
    added = None
    if "pooled" in inputs:  # original_size + crops_coords_top_left + target_size, each (height, width)
        time_ids = torch.tensor([[SIZES["height"], SIZES["width"], SIZES["crop_h"], SIZES["crop_w"],
                                  SIZES["target_height"], SIZES["target_width"]]], dtype=torch.float32)
        added = {"text_embeds": inputs["pooled"], "time_ids": time_ids.expand(batch, -1)}
    kwargs = None
    if grounded:  # null grounding (masks 0) for the uncond rows
        kwargs = gligen_kwargs(inputs["boxes"], inputs["phrases"], COND_OR_UNCOND, ROWS_PER_CHUNK, MAX_OBJECTS)
    with torch.no_grad():
        return pair.unet(sample, timestep, encoder_hidden_states=inputs["context"], added_cond_kwargs=added,
                         cross_attention_kwargs=kwargs).sample


def relative_error(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    """max |ours - theirs| over max |theirs|."""
    return float((ours - theirs).abs().max() / theirs.abs().max())


def test_fusers_cover_every_transformer_block(pair: Pair) -> None:
    """One fuser per transformer block, not per SpatialTransformer: SDXL's depth > 1 really is exercised."""
    from comfy.ldm.modules.attention import SpatialTransformer
    from gligen_suite.nodes.patch.unet_blocks import transformer_slots

    diffusion_model = pair.comfy_model.model.diffusion_model
    spatial = sum(isinstance(m, SpatialTransformer) for m in diffusion_model.modules())
    slots = transformer_slots(diffusion_model)
    with safe_open(str(pair.gligen_file), "pt") as f:
        fuser_blocks = {k.split(".fuser.")[0] for k in f.keys() if ".fuser." in k}
    assert spatial == pair.family.spatial_transformers
    assert len(fuser_blocks) == len(slots) == pair.family.transformer_blocks
    if pair.family.name == "SDXL":
        assert len(slots) > spatial
        assert max(s.address[2] for s in slots) == 2  # block_index 0..2 in the depth-3 SpatialTransformers
        assert all(s.context_dim == 2048 for s in slots)


def test_plain_unet_matches_diffusers(pair: Pair) -> None:
    """The base models agree before any grounding (SDXL: y included), so a failure below is GLIGEN's."""
    ours = comfy_eps(pair.comfy_model, pair.inputs)
    theirs = diffusers_eps(pair, grounded=False)
    assert 0.1 < float(theirs.std()) < 10  # O(1) activations: the random weights are neither lost nor exploding
    assert relative_error(ours, theirs) <= TOLERANCE
    if "y" in pair.inputs:  # y reaches the output: the agreement covers ComfyUI's y <-> diffusers' text_time
        other = pair.comfy_model.model.encode_adm(pooled_output=pair.inputs["pooled"], **{**SIZES, "crop_w": 0})
        assert relative_error(comfy_eps(pair.comfy_model, {**pair.inputs, "y": other}), ours) > CHANGE


def test_grounded_unet_matches_diffusers(pair: Pair) -> None:
    from gligen_suite.gligen_model import BetaSchedule
    from gligen_suite.gligen_model.grounding import BoxGrounding
    from gligen_suite.nodes.apply_node import NEGATIVE_MODES, apply_grounding
    from gligen_suite.nodes.loader_node import load_gligen_patcher

    family = pair.family
    gligen = load_gligen_patcher(str(pair.gligen_file))
    assert gligen.model.info.endswith(
        f"{family.transformer_blocks} fusers, {family.family_label} (context {family.context_dim}, "
        f"{family.transformer_blocks} transformer blocks), diffusers layout")
    grounding = BoxGrounding(("a", "b", "c"), pair.inputs["phrases"], pair.inputs["boxes"])
    patched = apply_grounding(pair.comfy_model, gligen, grounding, BetaSchedule.constant(), NEGATIVE_MODES[0])

    ours = comfy_eps(patched, pair.inputs)
    theirs = diffusers_eps(pair, grounded=True)
    plain = diffusers_eps(pair, grounded=False)
    assert relative_error(plain, theirs) > CHANGE  # grounding changes the output, so agreement means something
    for chunk in range(len(COND_OR_UNCOND)):  # every chunk is grounded, the uncond one on the null tokens
        rows = slice(chunk * ROWS_PER_CHUNK, (chunk + 1) * ROWS_PER_CHUNK)
        assert relative_error(plain[rows], theirs[rows]) > CHANGE
    assert relative_error(ours, theirs) <= TOLERANCE


@pytest.mark.parametrize(("family", "transformer_blocks"), [("SD15", 16), ("SD20", 16), ("SDXL", 70)])
def test_oracle_fits_the_full_layouts(family: str, transformer_blocks: int) -> None:
    """On the published full-size layouts (meta tensors), the oracle's diffusers config and ComfyUI's key map
    cover each other's base weights exactly, with one fuser per transformer block of ComfyUI's UNet."""
    import comfy.utils
    from diffusers import UNet2DConditionModel
    from gligen_suite.nodes.patch.unet_blocks import transformer_slots

    from devkit.diffusers_oracle import diffusers_config, is_gligen_key
    from devkit.meta_models import meta_unet_model

    import_pack()
    model = meta_unet_model(family)
    unet_config = model.model.model_config.unet_config
    with torch.device("meta"):
        unet = UNet2DConditionModel(**diffusers_config(unet_config, sample_size=64))
    key_map = comfy.utils.unet_to_diffusers(unet_config)
    comfy_sd = model.model.diffusion_model.state_dict()
    ours = {k: v for k, v in unet.state_dict().items() if not is_gligen_key(k)}
    assert all(comfy_sd[key_map[k]].shape == v.shape for k, v in ours.items() if key_map.get(k) in comfy_sd)
    assert {k for k in ours if key_map.get(k) not in comfy_sd} == set()
    assert set(comfy_sd) - {key_map[k] for k in ours} == set()
    fusers = {k.split(".fuser.")[0] for k in unet.state_dict() if ".fuser." in k}
    assert len(fusers) == len(transformer_slots(model.model.diffusion_model)) == transformer_blocks
