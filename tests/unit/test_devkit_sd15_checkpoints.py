"""The random SD1.5 test checkpoints load in real ComfyUI as SD15 and sample to finite values."""

from __future__ import annotations

import logging

import pytest
import torch
from safetensors.torch import load_file

from devkit.comfy_host import import_comfy
from devkit.sd15_checkpoints import (
    CLIP_DTYPE,
    build_sd15_state_dict,
    cached_sd15_checkpoint,
    sd15_transformer_blocks,
    sd15_unet_meta_state_dict,
)

FULL_SD15_BLOCKS = [
    ("input_blocks.1.1", 320), ("input_blocks.2.1", 320),
    ("input_blocks.4.1", 640), ("input_blocks.5.1", 640),
    ("input_blocks.7.1", 1280), ("input_blocks.8.1", 1280),
    ("middle_block.1", 1280),
    ("output_blocks.3.1", 1280), ("output_blocks.4.1", 1280), ("output_blocks.5.1", 1280),
    ("output_blocks.6.1", 640), ("output_blocks.7.1", 640), ("output_blocks.8.1", 640),
    ("output_blocks.9.1", 320), ("output_blocks.10.1", 320), ("output_blocks.11.1", 320),
]  # fmt: skip


def unet_spatial_transformers(diffusion_model: torch.nn.Module) -> list[tuple[str, int]]:
    """(LDM block name, channels) of every SpatialTransformer, walking the UNet in forward order."""
    from comfy.ldm.modules.attention import SpatialTransformer

    found = []
    sections = [(f"input_blocks.{i}", b) for i, b in enumerate(diffusion_model.input_blocks)]
    sections += [("middle_block", diffusion_model.middle_block)]
    sections += [(f"output_blocks.{i}", b) for i, b in enumerate(diffusion_model.output_blocks)]
    for prefix, block in sections:
        for j, layer in enumerate(block):
            if isinstance(layer, SpatialTransformer):
                found.append((f"{prefix}.{j}", layer.in_channels))
    return found


def test_full_block_list_is_the_standard_sd15_one() -> None:
    assert sd15_transformer_blocks(False) == FULL_SD15_BLOCKS


@pytest.mark.parametrize("tiny", [True, False], ids=["tiny", "full"])
def test_unet_layout_is_detected_as_sd15(tiny: bool) -> None:
    import_comfy()
    import comfy.model_detection

    sd = sd15_unet_meta_state_dict(tiny)  # meta tensors: the full layout without building 1.7 GB
    config = comfy.model_detection.detect_unet_config(sd, "model.diffusion_model.")
    assert type(comfy.model_detection.model_config_from_unet_config(config, sd)).__name__ == "SD15"
    suffix = ".proj_in.weight"
    names = {k.removeprefix("model.diffusion_model.").removesuffix(suffix) for k in sd if k.endswith(suffix)}
    assert names == {name for name, _ in sd15_transformer_blocks(tiny)}


def test_tiny_checkpoint_loads_as_sd15_and_samples(caplog: pytest.LogCaptureFixture) -> None:
    import_comfy()
    import comfy.sample
    import comfy.sd
    import comfy.taesd.taesd

    path = cached_sd15_checkpoint(tiny=True)
    caplog.clear()  # importing comfy.sd warns about torchaudio; only the load itself must be quiet
    with caplog.at_level(logging.WARNING):
        model, clip, vae, _ = comfy.sd.load_checkpoint_guess_config(str(path), output_vae=True, output_clip=True)
    # The host's leak check (cleanup_models_gc) reports on models other tests of this session left loaded,
    # which says nothing about this file: only the load's own warnings count.
    own = [r for r in caplog.records if r.levelno >= logging.WARNING and r.funcName != "cleanup_models_gc"]
    assert [r.getMessage() for r in own] == []

    assert type(model.model.model_config).__name__ == "SD15"
    assert unet_spatial_transformers(model.model.diffusion_model) == sd15_transformer_blocks(True)
    assert isinstance(vae.first_stage_model, comfy.taesd.taesd.TAESD)

    with torch.inference_mode():
        cond, pooled = clip.encode_from_tokens(clip.tokenize("a red cube on a table"), return_pooled=True)
        uncond, upooled = clip.encode_from_tokens(clip.tokenize(""), return_pooled=True)
        assert cond.shape == (1, 77, 768) and pooled.shape == (1, 768)
        assert torch.isfinite(cond).all() and not torch.equal(cond, uncond)

        latent = torch.zeros(1, 4, 8, 8)
        noise = comfy.sample.prepare_noise(latent, 0)
        positive = [[cond, {"pooled_output": pooled}]]
        negative = [[uncond, {"pooled_output": upooled}]]
        samples = comfy.sample.sample(
            model, noise, 2, 5.0, "euler", "normal", positive, negative, latent, disable_pbar=True, seed=0
        )
        assert samples.shape == (1, 4, 8, 8) and torch.isfinite(samples).all()

        image = vae.decode(samples)
        assert image.shape == (1, 64, 64, 3) and torch.isfinite(image).all()
        assert image.std() > 0.01  # the random TAESD passes signal through, not a constant image


def test_cached_checkpoint_matches_a_rebuild() -> None:
    """Same seed, same bytes; also catches a builder change made without bumping BUILDER_VERSION."""
    on_disk = load_file(str(cached_sd15_checkpoint(tiny=True)))
    sampled = (
        "model.diffusion_model.input_blocks.1.",
        "model.diffusion_model.middle_block.1.",
        "model.diffusion_model.out.",
        "cond_stage_model.transformer.text_model.encoder.layers.0.",
        "first_stage_model.",
    )
    rebuilt = build_sd15_state_dict(tiny=True, seed=0, only=lambda key: key.startswith(sampled))
    assert on_disk.keys() == rebuilt.keys()
    for key, tensor in rebuilt.items():
        assert (on_disk[key].dtype, on_disk[key].shape) == (tensor.dtype, tensor.shape), key
        if not tensor.is_meta:
            assert torch.equal(on_disk[key].reshape(-1).view(torch.uint8), tensor.reshape(-1).view(torch.uint8)), key
    assert sum(not t.is_meta for t in rebuilt.values()) > 40
    clip = [v for k, v in on_disk.items() if k.startswith("cond_stage_model.")]
    assert {v.dtype for v in clip} == {CLIP_DTYPE}
    assert sum(v.numel() for v in clip) == 123_060_480  # CLIP-L text model, no text_projection/logit_scale


def test_the_seed_changes_every_random_tensor() -> None:
    """Two seeds give other weights (torch's CPU generator keeps only 32 bits of its seed, which once dropped
    the seed and built one checkpoint for all); the same seed gives the same bytes."""
    sampled = ("model.diffusion_model.input_blocks.1.1.proj_in.", "cond_stage_model.transformer.text_model."
               "encoder.layers.0.mlp.fc1.", "first_stage_model.taesd_decoder.1.")

    def build(seed: int) -> dict[str, torch.Tensor]:
        state = build_sd15_state_dict(tiny=True, seed=seed, only=lambda key: key.startswith(sampled))
        return {k: v.float() for k, v in state.items() if not v.is_meta and k.endswith(".weight")}

    first, again, other = build(0), build(0), build(1)
    assert len(first) == 3
    for key, tensor in first.items():
        assert torch.equal(tensor, again[key]), key
        assert not torch.equal(tensor, other[key]), key
