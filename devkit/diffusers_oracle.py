"""diffusers' gated UNet as an oracle: the same base weights as a ComfyUI SD1.x model, plus random GLIGEN weights.

The base UNet (a ComfyUI ModelPatcher) is copied into a diffusers `UNet2DConditionModel(attention_type=
"gated")` with ComfyUI's own diffusers key map; the fusers and the position net get seeded random
weights, returned under their diffusers names so a test can save them as a "diffusers layout" GLIGEN
file and load it through the pack's loader. With `in_channels` 9 (the inpainting files' UNet) the
first conv `conv_in.*` is random too and belongs to the GLIGEN file.

Import ComfyUI first (`devkit.comfy_host.import_comfy`).
"""

from __future__ import annotations

from typing import Any

import torch

FIRST_CONV_PREFIX = "conv_in."


def tiny_sd15_unet() -> Any:
    """The tiny random SD1.5 test checkpoint's UNet as a ComfyUI ModelPatcher (no CLIP, no VAE)."""
    import comfy.sd

    from .sd15_checkpoints import cached_sd15_checkpoint

    return comfy.sd.load_checkpoint_guess_config(
        str(cached_sd15_checkpoint(tiny=True)), output_vae=False, output_clip=False)[0]


def is_gligen_key(key: str) -> bool:
    """A fuser or position-net tensor (diffusers names)."""
    return ".fuser." in key or key.startswith("position_net.")


def diffusers_config(unet_config: dict[str, Any], sample_size: int, in_channels: int | None = None) -> dict[str, Any]:
    """The diffusers UNet2DConditionModel config equivalent to an SD1-style ComfyUI unet_config."""
    levels = len(unet_config["channel_mult"])
    num_res_blocks = set(unet_config["num_res_blocks"])
    # The mapping below only covers SD1's shape: one res-block count, a depth-1 transformer everywhere.
    assert len(num_res_blocks) == 1
    assert set(unet_config["transformer_depth"]) == {1} and set(unet_config["transformer_depth_output"]) == {1}
    assert unet_config["transformer_depth_middle"] == 1
    assert not unet_config["use_linear_in_transformer"] and unet_config["adm_in_channels"] is None
    assert unet_config["num_heads"] > 0 and unet_config["num_head_channels"] == -1  # SD1: fixed head count
    return {
        "sample_size": sample_size,
        "in_channels": in_channels or unet_config["in_channels"],
        "out_channels": unet_config["out_channels"],
        "down_block_types": ("CrossAttnDownBlock2D",) * levels,
        "mid_block_type": "UNetMidBlock2DCrossAttn",
        "up_block_types": ("CrossAttnUpBlock2D",) * levels,
        "block_out_channels": tuple(unet_config["model_channels"] * m for m in unet_config["channel_mult"]),
        "layers_per_block": num_res_blocks.pop(),
        "cross_attention_dim": unet_config["context_dim"],
        "attention_head_dim": unet_config["num_heads"],  # diffusers' SD1 quirk: this is the head count
        "use_linear_projection": False,
        "attention_type": "gated",
        "norm_num_groups": 32,
        "norm_eps": 1e-5,
        "act_fn": "silu",
        "flip_sin_to_cos": True,
        "freq_shift": 0,
        "downsample_padding": 1,
        "mid_block_scale_factor": 1,
    }


def random_gligen_tensor(key: str, shape: torch.Size, gen: torch.Generator) -> torch.Tensor:
    """Seeded weights for one fuser / position-net / first-conv tensor, scaled so activations stay O(1)."""
    leaf = key.rsplit(".", 1)[-1]
    if leaf.startswith("alpha_"):
        return 0.5 + torch.rand((), generator=gen)  # tanh(alpha) well away from 0: the gates are open
    if len(shape) == 4:  # a conv: 1 / sqrt(fan-in)
        return torch.randn(shape, generator=gen) / (shape[1] * shape[2] * shape[3]) ** 0.5
    if len(shape) == 2:
        return torch.randn(shape, generator=gen) / shape[1] ** 0.5
    if ".norm" in key and leaf == "weight":
        return 1 + 0.1 * torch.randn(shape, generator=gen)
    if leaf == "bias" or ".norm" in key:
        return 0.1 * torch.randn(shape, generator=gen)
    return torch.randn(shape, generator=gen)  # the position net's learned null features


def gated_unet_like(comfy_model: Any, *, seed: int, sample_size: int,
                    in_channels: int | None = None) -> tuple[Any, dict[str, torch.Tensor]]:
    """(diffusers gated UNet in eval mode, its GLIGEN tensors under diffusers names) for a ComfyUI SD1.x
    ModelPatcher; every base weight is the ComfyUI model's (checked both ways), except a widened conv_in."""
    import comfy.utils
    from diffusers import UNet2DConditionModel

    unet_config = comfy_model.model.model_config.unet_config
    comfy_sd = comfy_model.model.diffusion_model.state_dict()
    widened = in_channels is not None and in_channels != unet_config["in_channels"]
    with torch.device("meta"):
        unet = UNet2DConditionModel(**diffusers_config(unet_config, sample_size, in_channels))
    key_map = comfy.utils.unet_to_diffusers(unet_config)  # diffusers key -> ComfyUI (LDM) key
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    gligen: dict[str, torch.Tensor] = {}
    unmapped = []
    for key, meta in unet.state_dict().items():
        if is_gligen_key(key) or (widened and key.startswith(FIRST_CONV_PREFIX)):
            state[key] = gligen[key] = random_gligen_tensor(key, meta.shape, gen)
        elif key_map.get(key) in comfy_sd:
            state[key] = comfy_sd[key_map[key]]
            assert state[key].shape == meta.shape, key
        else:
            unmapped.append(key)
    assert not unmapped, f"diffusers keys without a ComfyUI weight: {unmapped[:8]}"
    used = {key_map[k] for k in state if k not in gligen}
    left = set(comfy_sd) - used - ({key_map[k] for k in gligen if k in key_map} if widened else set())
    assert not left, f"ComfyUI weights not copied: {sorted(left)[:8]}"
    unet.load_state_dict(state, strict=True, assign=True)
    meta_left = [n for n, t in [*unet.named_parameters(), *unet.named_buffers()] if t.is_meta]
    assert not meta_left, meta_left
    return unet.eval(), gligen
