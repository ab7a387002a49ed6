"""Random-weight GLIGEN checkpoints in the exact key layouts and shapes of the published files."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import save_file

# The 16 SpatialTransformers of SD1.x in forward order (the LDM UNet of the authors' configs).
SD15_BLOCKS: list[tuple[str, int]] = [
    ("input_blocks.1.1", 320), ("input_blocks.2.1", 320), ("input_blocks.4.1", 640), ("input_blocks.5.1", 640),
    ("input_blocks.7.1", 1280), ("input_blocks.8.1", 1280), ("middle_block.1", 1280),
    ("output_blocks.3.1", 1280), ("output_blocks.4.1", 1280), ("output_blocks.5.1", 1280),
    ("output_blocks.6.1", 640), ("output_blocks.7.1", 640), ("output_blocks.8.1", 640),
    ("output_blocks.9.1", 320), ("output_blocks.10.1", 320), ("output_blocks.11.1", 320),
]


def fuser_shapes(query_dim: int, context_dim: int = 768) -> dict[str, tuple[int, ...]]:
    c = query_dim
    return {
        "linear.weight": (c, context_dim), "linear.bias": (c,),
        "attn.to_q.weight": (c, c), "attn.to_k.weight": (c, c), "attn.to_v.weight": (c, c),
        "attn.to_out.0.weight": (c, c), "attn.to_out.0.bias": (c,),
        "ff.net.0.proj.weight": (8 * c, c), "ff.net.0.proj.bias": (8 * c,),
        "ff.net.2.weight": (c, 4 * c), "ff.net.2.bias": (c,),
        "norm1.weight": (c,), "norm1.bias": (c,), "norm2.weight": (c,), "norm2.bias": (c,),
        "alpha_attn": (), "alpha_dense": (),
    }


def text_box_position_net_shapes(phrase_dim: int = 768, token_dim: int = 768) -> dict[str, tuple[int, ...]]:
    return {
        "null_positive_feature": (phrase_dim,), "null_position_feature": (64,),
        "linears.0.weight": (512, phrase_dim + 64), "linears.0.bias": (512,),
        "linears.2.weight": (512, 512), "linears.2.bias": (512,),
        "linears.4.weight": (token_dim, 512), "linears.4.bias": (token_dim,),
    }


def _random(shape: tuple[int, ...], key: str, gen: torch.Generator) -> torch.Tensor:
    if key.startswith("alpha_"):
        # Trained gates are far from 0 (tanh(alpha) ~ 0.2-0.9); 0 would hide fuser bugs.
        return torch.rand((), generator=gen) * 1.5 + 0.3
    if key.startswith(("norm1.weight", "norm2.weight")):
        return 1 + 0.1 * torch.randn(shape, generator=gen)
    fan_in = shape[-1] if len(shape) == 2 else 1
    return torch.randn(shape, generator=gen) / max(fan_in, 1) ** 0.5


Block = tuple[str, int] | tuple[str, int, int]  # (LDM SpatialTransformer name, query width[, depth: 1])
KeyLayout = Literal["ldm", "diffusers"]


def text_box_state_dict(blocks: Sequence[Block] = SD15_BLOCKS, *, seed: int = 0,
                        context_dim: int = 768, phrase_dim: int = 768,
                        dtype: torch.dtype = torch.float32, key_layout: KeyLayout = "ldm",
                        num_res_blocks: int = 2) -> dict[str, torch.Tensor]:
    """A fuser for every transformer block of `blocks` + a text-box `position_net.*`.

    key_layout "ldm": ComfyUI's pruned layout (`<block>.transformer_blocks.<t>.fuser.*`); "diffusers": a gated
    UNet's names (`down_blocks.<l>.attentions.<i>.transformer_blocks.<t>.fuser.*`, as GLIGEN-XL and IGLIGEN
    publish them) for a UNet with `num_res_blocks` res blocks per level."""
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for block, query_dim, depth in with_depths(blocks):
        for t in range(depth):
            for key, shape in fuser_shapes(query_dim, context_dim).items():
                state[f"{block}.transformer_blocks.{t}.fuser.{key}"] = _random(shape, key, gen).to(dtype)
    for key, shape in text_box_position_net_shapes(phrase_dim, context_dim).items():
        state[f"position_net.{key}"] = _random(shape, key, gen).to(dtype)
    if key_layout == "diffusers":
        return to_diffusers_layout(state, num_res_blocks)
    if key_layout != "ldm":
        raise ValueError(f"key_layout {key_layout!r}: choose 'ldm' or 'diffusers'")
    return state


def with_depths(blocks: Sequence[Block]) -> list[tuple[str, int, int]]:
    """(name, query width, depth) for each block; a (name, width) pair is one of depth 1."""
    return [(block[0], block[1], block[2] if len(block) == 3 else 1) for block in blocks]


def ldm_to_diffusers_block(block: str, num_res_blocks: int = 2) -> str:
    """SpatialTransformer names, official -> diffusers (ComfyUI's comfy/utils.py unet_to_diffusers), for a UNet
    with `num_res_blocks` res blocks per level: a level has that many input blocks plus a downsampler, and one
    output block more."""
    if block == "middle_block.1":
        return "mid_block.attentions.0"
    section, index, _ = block.split(".")
    i, span = int(index), num_res_blocks + 1
    if section == "input_blocks":
        return f"down_blocks.{(i - 1) // span}.attentions.{(i - 1) % span}"
    return f"up_blocks.{i // span}.attentions.{i % span}"


def to_diffusers_layout(state: dict[str, torch.Tensor], num_res_blocks: int = 2) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        m = re.match(r"^(.+?)\.(transformer_blocks\..*)$", key)
        out[f"{ldm_to_diffusers_block(m[1], num_res_blocks)}.{m[2]}" if m and ".fuser." in key else key] = value
    return out


def official_container(state: dict[str, torch.Tensor], config: Any = None) -> dict[str, Any]:
    """The authors' training container: whole UNet under "model" (+ a few base-UNet keys here; a widened first
    conv in `state` stays)."""
    model = dict(state)
    model.setdefault("input_blocks.0.0.weight", torch.zeros(320, 4, 3, 3))
    model.setdefault("input_blocks.0.0.bias", torch.zeros(320))
    model["out.2.weight"] = torch.zeros(4, 320, 3, 3)
    return {"model": model, "autoencoder": {}, "text_encoder": {}, "diffusion": {},
            "config_dict": config if config is not None else {"_content": {"model": {}}}}


def write_safetensors(state: dict[str, torch.Tensor], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


def variant_state_dict(blocks: Sequence[Block], variant: str, *, seed: int = 0,
                       inpainting: bool = False) -> dict[str, torch.Tensor]:
    """Fusers for `blocks` plus a random position net of `variant` (any Variant value: "text-box", "keypoint",
    "canny", ...); spatial-map variants also get their downsampler and widened first conv
    (`input_blocks.0.0.*`, 4 + k channels), inpainting files a 9-channel first conv."""
    if variant == "text-box" and not inpainting:
        return text_box_state_dict(blocks, seed=seed)
    from .pack import import_pack

    import_pack()
    from gligen_suite.gligen_model.variants import INPAINT_CHANNELS, SPECS, UNET_LATENT_CHANNELS, Variant

    spec = SPECS[Variant(variant)]
    state = {k: v for k, v in text_box_state_dict(blocks, seed=seed).items() if ".fuser." in k}
    gen = torch.Generator().manual_seed(seed + 1)
    if variant == "text-box":
        state.update({k: v for k, v in text_box_state_dict(blocks, seed=seed).items() if k.startswith("position_net.")})
    else:
        for key, shape in spec.expected_shapes(768, 768).items():
            state[f"position_net.{key}"] = _module_weight(key, shape, gen)
    for key, shape in spec.downsampler_shapes().items():
        state[f"downsample_net.{key}"] = _module_weight(key, shape, gen)
    in_channels = UNET_LATENT_CHANNELS + spec.extra_channels + (INPAINT_CHANNELS if inpainting else 0)
    if in_channels != UNET_LATENT_CHANNELS:
        state["input_blocks.0.0.weight"] = _module_weight("weight", (320, in_channels, 3, 3), gen)
        state["input_blocks.0.0.bias"] = torch.randn(320, generator=gen) * 0.02
    return state


def _module_weight(key: str, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    """Random weights that keep a deep random net's activations of order 1: 1-D weights (norms, layer scales)
    near 1, biases near 0, matrices and convs scaled by 1 / sqrt(fan-in)."""
    if len(shape) == 1 and key.endswith(("weight", "gamma")):
        return 1 + 0.1 * torch.randn(shape, generator=gen)
    if len(shape) <= 1 or key.endswith("bias"):
        return 0.1 * torch.randn(shape, generator=gen)
    fan_in = 1
    for side in shape[1:]:
        fan_in *= side
    return torch.randn(shape, generator=gen) / fan_in ** 0.5


def variant_for_file_name(name: str) -> str:
    """Which published variant a stand-in named like a real file should be."""
    lowered = name.lower()
    for word, variant in (("hed", "hed"), ("canny", "canny"), ("depth", "depth"), ("normal", "normal"),
                          ("sem", "semantic")):
        if re.search(rf"(?<![a-z]){word}(?![a-z])", lowered.replace("_", " ")):
            return variant
    if "keypoint" in lowered:
        return "keypoint"
    if "image" in lowered:
        return "text-image-box"
    return "text-box"


def stand_in_kind(name: str) -> str:
    """The stand-in a file named like a real one gets: its variant, "+inpainting" for inpainting files."""
    return variant_for_file_name(name) + ("+inpainting" if "inpaint" in name.lower() else "")


def stand_in_state_dict(kind: str, blocks: Sequence[Block], seed: int = 0, *, context_dim: int = 768,
                        phrase_dim: int = 768, key_layout: KeyLayout = "ldm", num_res_blocks: int = 2,
                        dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Random weights for a stand_in_kind(). Other widths than SD1's (768), the diffusers layout or another dtype
    exist for text-box files only, as published for SD2.1 (IGLIGEN) and SDXL (GLIGEN-XL)."""
    variant, _, inpainting = kind.partition("+")
    if (context_dim, phrase_dim, key_layout, dtype) == (768, 768, "ldm", torch.float32):
        return variant_state_dict(blocks, variant, seed=seed, inpainting=bool(inpainting))
    if kind != "text-box":
        raise ValueError(f"no {kind} GLIGEN files exist for context {context_dim}: only text-box ones")
    return text_box_state_dict(blocks, seed=seed, context_dim=context_dim, phrase_dim=phrase_dim, dtype=dtype,
                               key_layout=key_layout, num_res_blocks=num_res_blocks)


# The authors' training configs (gligen/GLIGEN configs/*.yaml) per variant: yaml file, module stem of its
# grounding tokenizer (`ldm.modules.diffusionmodules.<stem>_grounding_net.PositionNet`) and downsampler
# (`<stem>_grounding_downsampler.GroundingDownsampler`), their params (None: no downsampler), its training set.
_MAP_TOKENIZER = {"resize_input": 256, "out_dim": 768}
_MAP_DOWNSAMPLER = {"resize_input": 256, "out_dim": 8}
OFFICIAL_CONFIGS: dict[str, tuple[str, str, dict[str, Any], dict[str, Any] | None, str]] = {
    "text-box": ("GoldG+SBU+CC3M+O365_box_text", "text", {"in_dim": 768, "out_dim": 768}, None, "CC3MGrounding"),
    "text-image-box": ("GoldG+SBU+CC3M+O365_box_text_image", "text_image", {"in_dim": 768, "out_dim": 768}, None,
                       "CC3MGrounding"),
    "keypoint": ("coco2017K", "keypoint", {"max_persons_per_image": 8, "out_dim": 768}, None, "COCO2017Keypoint"),
    "hed": ("cc3m_hed", "hed", _MAP_TOKENIZER, {"out_dim": 1}, "CC3MGroundingHed"),
    "canny": ("cc3m_canny", "canny", _MAP_TOKENIZER, _MAP_DOWNSAMPLER, "CC3MGroundingCanny"),
    "depth": ("cc3m_depth", "depth", _MAP_TOKENIZER, _MAP_DOWNSAMPLER, "CC3MGroundingDepth"),
    "normal": ("diode_normal", "normal", _MAP_TOKENIZER, _MAP_DOWNSAMPLER, "DIODENormal"),
    "semantic": ("ade_sem", "sem", {"in_dim": 152, **_MAP_TOKENIZER}, {"in_dim": 152, **_MAP_DOWNSAMPLER},
                 "ADESemantic"),
}


def official_config_dict(kind: str) -> dict[str, Any]:
    """The `config_dict` of an official file of a stand_in_kind(), as plain dicts: what the authors' main.py
    saves (vars() of the OmegaConf config, so the config sits under "_content"): the variant's yaml, merged with
    main.py's command-line defaults; inpainting runs set `inpaint_mode` there and in the UNet's params (the
    README: the yaml is the same for generation and inpainting)."""
    variant, _, inpainting = kind.partition("+")
    yaml, stem, tokenizer, downsampler, dataset = OFFICIAL_CONFIGS[variant]
    modules = "ldm.modules.diffusionmodules"
    unet: dict[str, Any] = {
        "image_size": 64, "in_channels": 4, "out_channels": 4, "model_channels": 320,
        "attention_resolutions": [4, 2, 1], "num_res_blocks": 2, "channel_mult": [1, 2, 4, 4], "num_heads": 8,
        "transformer_depth": 1, "context_dim": 768, "fuser_type": "gatedSA", "use_checkpoint": True,
        "grounding_tokenizer": {"target": f"{modules}.{stem}_grounding_net.PositionNet", "params": dict(tokenizer)}}
    content: dict[str, Any] = {
        "diffusion": {"target": "ldm.models.diffusion.ldm.LatentDiffusion",
                      "params": {"linear_start": 0.00085, "linear_end": 0.012, "timesteps": 1000}},
        "model": {"target": f"{modules}.openaimodel.UNetModel", "params": unet},
        "autoencoder": {"target": "ldm.models.autoencoder.AutoencoderKL", "params": {
            "scale_factor": 0.18215, "embed_dim": 4, "ddconfig": {
                "double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128,
                "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0}}},
        "text_encoder": {"target": "ldm.modules.encoders.modules.FrozenCLIPEmbedder"},
        "train_dataset_names": {dataset: {"image_size": 512, "random_flip": True}},
        "grounding_tokenizer_input": {"target": f"grounding_input.{stem}_grounding_tokinzer_input.GroundingNetInput"},
    }
    if downsampler is not None:
        unet["grounding_downsampler"] = {"target": f"{modules}.{stem}_grounding_downsampler.GroundingDownsampler",
                                         "params": dict(downsampler)}
        content["grounding_downsampler_input"] = {
            "target": f"grounding_input.{stem}_grounding_downsampler_input.GroundingDSInput"}
    if inpainting:
        unet["inpaint_mode"] = True
    content.update({  # main.py's argparse defaults, merged in by config.update(vars(args))
        "DATA_ROOT": "DATA", "OUTPUT_ROOT": "OUTPUT", "name": "test", "seed": 123, "local_rank": 0,
        "yaml_file": f"configs/{yaml}.yaml", "base_learning_rate": 5e-5, "weight_decay": 0.0, "warmup_steps": 10000,
        "scheduler_type": "constant", "batch_size": 2, "workers": 1, "official_ckpt_name": "sd-v1-4.ckpt",
        "ckpt": None, "inpaint_mode": bool(inpainting), "randomize_fg_mask": False, "random_add_bg_mask": False,
        "enable_ema": False, "ema_rate": 0.9999, "total_iters": 500000, "save_every_iters": 5000,
        "disable_inference_in_training": False, "distributed": False, "total_batch_size": 2})
    return {"_content": content}
