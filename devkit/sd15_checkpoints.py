"""Random-weight Stable Diffusion 1.5 checkpoints that ComfyUI loads and detects as SD15.

One `.safetensors` in the original (LDM) checkpoint layout:
- `model.diffusion_model.*`: the UNet, names and shapes taken from ComfyUI's own `UNetModel`.
- `cond_stage_model.transformer.text_model.*`: CLIP-L (123.06M parameters; like real SD1.5
  checkpoints it has no `text_projection`/`logit_scale`, which ComfyUI does not need for SD1),
  stored as float8_e4m3fn to halve the file (ComfyUI upcasts it on load, without warnings).
- `first_stage_model.taesd_encoder.*` / `taesd_decoder.*` plus `vae_scale`/`vae_shift`: a TAESD.
  ComfyUI's `VAE` picks TAESD when `taesd_decoder.1.weight` is in the VAE part of the checkpoint;
  `vae_scale = 0.18215` is what ComfyUI's own SD1 TAESD loader sets (without it, it warns).

The tiny UNet (`tiny=True`) keeps what SD15 detection looks at (model_channels 320, context_dim
768, conv proj_in/proj_out, no adm/label_emb, in_channels 4) and shrinks the rest:
channel_mult [1, 2], one res block per level, a depth-1 SpatialTransformer at both levels and in
the middle block. That is 7 transformer blocks at 320/640 channels (two query widths, like the
full model's three) and 107.4M UNet parameters instead of 859.5M; channel_mult [1, 1] would
halve that but leave a single query width. Files: tiny 343 MB, full 1.85 GB (fp16 UNet).

The stand-in UNet (`STAND_IN_LAYOUT`, for `./dev run --stand-ins`) is faster still: channel_mult
[1, 1] and no transformer at the 64x64 level (at 512 px that level's attention is 4096 tokens wide),
so 4 transformer blocks, all 320 wide, and 36.7M UNet parameters; ComfyUI still detects SD15.

Weights are seeded per tensor (seed + tensor name), so they do not depend on build order.
UNet and CLIP: normal(0, 0.02), GroupNorm/LayerNorm weights 1 and biases 0 (the UNet then predicts
eps with std ~0.6 and CLIP gives std-1 conds that depend on the prompt). TAESD: fan-in scaled
normal(0, 1/sqrt(fan_in)) weights and zero biases, so decoded images depend on the latent and are
mostly inside [0, 1] (at 0.02 every conv shrinks the signal and the image is a constant black).
Building imports ComfyUI (see `devkit.comfy_host.import_comfy`); files are cached by `devkit.file_cache`.
The layout pieces (UNetLayout, UNetFamily, unet_entries, taesd_entries, materialize) also build the SD2 and
SDXL stand-ins (devkit/sd2_sdxl_checkpoints.py).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from safetensors.torch import save_file

from .comfy_host import import_comfy
from .file_cache import cached_file

BUILDER_VERSION = "3"  # bump whenever the built bytes change; it is part of the cache file name
UNET_PREFIX = "model.diffusion_model."
CLIP_PREFIX = "cond_stage_model."
VAE_PREFIX = "first_stage_model."
CLIP_DTYPE = torch.float8_e4m3fn
WEIGHT_STD = 0.02
SD15_VAE_SCALE = 0.18215
MODEL_CHANNELS = 320
CONTEXT_DIM = 768


@dataclass(frozen=True)
class UNetLayout:
    """The UNet knobs that vary between the full and the reduced test models (of any family, see UNetFamily).

    attention: per level, the depth of the SpatialTransformer after each of its res blocks (and output blocks):
    False / True for SD1 / SD2's none / depth 1, a number for deeper ones (SDXL: 0, 2, 10).
    """

    channel_mult: tuple[int, ...]
    num_res_blocks: int
    attention: tuple[int, ...]

    @property
    def input_depths(self) -> list[int]:
        """Transformer depth per input res block, in forward order."""
        return [int(a) for a in self.attention for _ in range(self.num_res_blocks)]

    @property
    def output_depths(self) -> list[int]:
        """Transformer depth per output block, in forward order (output_blocks.0 first)."""
        return [int(a) for a in reversed(self.attention) for _ in range(self.num_res_blocks + 1)]

    @property
    def middle_depth(self) -> int:
        """The middle block's transformer depth: the last level's (SDXL: 10), at least 1 (SD1 / SD2)."""
        return int(self.attention[-1]) or 1


@dataclass(frozen=True)
class UNetFamily:
    """What ComfyUI's model detection reads to tell a UNet's family (comfy/supported_models.py `unet_config`),
    and the class it must pick. Everything else (channel_mult, res blocks, depths) is the UNetLayout's."""

    model_class: str  # the comfy.supported_models class, e.g. "SD15"
    context_dim: int
    linear_transformers: bool  # use_linear_in_transformer
    adm_in_channels: int | None = None  # the label_emb input (SDXL: pooled text + size embeddings)


SD15_FAMILY = UNetFamily("SD15", CONTEXT_DIM, linear_transformers=False)


FULL_LAYOUT = UNetLayout(channel_mult=(1, 2, 4, 4), num_res_blocks=2, attention=(True, True, True, False))
TINY_LAYOUT = UNetLayout(channel_mult=(1, 2), num_res_blocks=1, attention=(True, True))
# `./dev run --stand-ins`: attention only at the 32x32 level (1024 tokens at 512 px), every block 320 wide
STAND_IN_LAYOUT = UNetLayout(channel_mult=(1, 1), num_res_blocks=1, attention=(False, True))


def sd15_layout(tiny: bool) -> UNetLayout:
    """The UNet layout of the tiny or the full test model."""
    return TINY_LAYOUT if tiny else FULL_LAYOUT


def sd15_unet_config(tiny: bool) -> dict:
    """The UNet config exactly as ComfyUI's `detect_unet_config` reports it for the built file."""
    return layout_unet_config(sd15_layout(tiny))


def layout_unet_config(layout: UNetLayout, family: UNetFamily = SD15_FAMILY) -> dict:
    """The UNet config ComfyUI's `detect_unet_config` reports for a `family` file built with `layout`."""
    config = {
        "use_checkpoint": False,
        "image_size": 32,
        "use_spatial_transformer": True,
        "legacy": False,
        "adm_in_channels": family.adm_in_channels,
        "in_channels": 4,
        "out_channels": 4,
        "model_channels": MODEL_CHANNELS,
        "num_res_blocks": [layout.num_res_blocks] * len(layout.channel_mult),
        "transformer_depth": layout.input_depths,
        # detection lists output blocks last-first; UNetModel pops them from the end
        "transformer_depth_output": layout.output_depths[::-1],
        "channel_mult": list(layout.channel_mult),
        "transformer_depth_middle": layout.middle_depth,
        "use_linear_in_transformer": family.linear_transformers,
        "context_dim": family.context_dim,
        "use_temporal_resblock": False,
        "use_temporal_attention": False,
    }
    if family.adm_in_channels is not None:
        config["num_classes"] = "sequential"
    return config


def sd15_transformer_blocks(tiny: bool) -> list[tuple[str, int]]:
    """SpatialTransformer blocks in UNet forward order: (LDM block name, query channels)."""
    return layout_transformer_blocks(sd15_layout(tiny))


def layout_transformer_blocks(layout: UNetLayout) -> list[tuple[str, int]]:
    """The SpatialTransformer blocks of a `layout` UNet in forward order: (LDM block name, query channels)."""
    return [(name, width) for name, width, _ in layout_spatial_transformers(layout)]


def layout_spatial_transformers(layout: UNetLayout) -> list[tuple[str, int, int]]:
    """The SpatialTransformers of a `layout` UNet in forward order: (LDM block name, query channels, depth)."""
    blocks: list[tuple[str, int, int]] = []
    index = 1  # input_blocks.0 is the input conv
    for level, mult in enumerate(layout.channel_mult):
        for _ in range(layout.num_res_blocks):
            if layout.attention[level]:
                blocks.append((f"input_blocks.{index}.1", MODEL_CHANNELS * mult, int(layout.attention[level])))
            index += 1
        if level != len(layout.channel_mult) - 1:
            index += 1  # downsample
    blocks.append(("middle_block.1", MODEL_CHANNELS * layout.channel_mult[-1], layout.middle_depth))
    index = 0
    for level in reversed(range(len(layout.channel_mult))):
        for _ in range(layout.num_res_blocks + 1):
            if layout.attention[level]:
                blocks.append((f"output_blocks.{index}.1", MODEL_CHANNELS * layout.channel_mult[level],
                               int(layout.attention[level])))
            index += 1
    return blocks


Init = Literal["ones", "zeros"] | float  # a float is the std of a zero-mean normal


def _meta_tensors(module: torch.nn.Module, fan_in_init: bool = False) -> Iterator[tuple[str, torch.Tensor, Init]]:
    """(state-dict key, meta tensor, how to initialise it) for each tensor of a meta-device module."""
    norms = {name for name, m in module.named_modules() if isinstance(m, (torch.nn.GroupNorm, torch.nn.LayerNorm))}
    for key, tensor in module.state_dict().items():
        owner, _, leaf = key.rpartition(".")
        init: Init = WEIGHT_STD
        if owner in norms:
            init = "ones" if leaf == "weight" else "zeros"
        elif fan_in_init:
            init = "zeros" if tensor.ndim < 2 else tensor[0].numel() ** -0.5
        yield key, tensor, init


def _init_tensor(key: str, meta: torch.Tensor, init: Init, seed: int, dtype: torch.dtype) -> torch.Tensor:
    """A deterministic tensor for one checkpoint key (seeded by seed and key, not by order)."""
    if init == "ones":
        return torch.ones(meta.shape, dtype=dtype)
    if init == "zeros":
        return torch.zeros(meta.shape, dtype=dtype)
    # torch's CPU generator (mt19937) keeps only the low 32 bits of its seed: seed and key are mixed into them
    generator = torch.Generator().manual_seed(zlib.crc32(f"{seed}:{key}".encode()))
    if dtype in (torch.float16, torch.bfloat16, torch.float32):
        return torch.empty(meta.shape, dtype=dtype).normal_(0.0, init, generator=generator)
    return torch.empty(meta.shape).normal_(0.0, init, generator=generator).to(dtype)  # float8: no normal_


def _unet_module(tiny: bool) -> torch.nn.Module:
    """ComfyUI's UNetModel for the layout, on the meta device, configured as ComfyUI would."""
    return _layout_unet_module(sd15_layout(tiny))


def _layout_unet_module(layout: UNetLayout, family: UNetFamily = SD15_FAMILY) -> torch.nn.Module:
    """ComfyUI's UNetModel for a `family` UNet with `layout`, on the meta device, configured as ComfyUI would."""
    import_comfy()
    import comfy.model_detection
    import comfy.ops
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    model_config = comfy.model_detection.model_config_from_unet_config(layout_unet_config(layout, family))
    if type(model_config).__name__ != family.model_class:
        raise AssertionError(f"layout is detected as {type(model_config).__name__}, not {family.model_class}")
    with torch.device("meta"):
        return UNetModel(**model_config.unet_config, operations=comfy.ops.disable_weight_init)


def _clip_module() -> torch.nn.Module:
    """ComfyUI's SD1 CLIP-L text encoder on the meta device."""
    import_comfy()
    import comfy.sd1_clip

    return comfy.sd1_clip.SD1ClipModel(device="meta", dtype=torch.float32)


def _vae_module() -> torch.nn.Module:
    """ComfyUI's TAESD on the meta device."""
    import_comfy()
    import comfy.taesd.taesd

    with torch.device("meta"):
        return comfy.taesd.taesd.TAESD(latent_channels=4)


def sd15_unet_meta_state_dict(tiny: bool) -> dict[str, torch.Tensor]:
    """The checkpoint's UNet keys (`model.diffusion_model.` included) as meta tensors: shapes only, cheap."""
    return {UNET_PREFIX + key: meta for key, meta, _ in _meta_tensors(_unet_module(tiny))}


def _check_unet(sd: Mapping[str, torch.Tensor], tiny: bool) -> None:
    """Fail early if ComfyUI would not detect the UNet part as the intended SD15 layout."""
    _check_layout_unet(sd, sd15_layout(tiny))


def _check_layout_unet(sd: Mapping[str, torch.Tensor], layout: UNetLayout, family: UNetFamily = SD15_FAMILY) -> None:
    """Fail early if ComfyUI would not detect the UNet part as `family` (its model class) with `layout`."""
    import comfy.model_detection

    detected = comfy.model_detection.detect_unet_config(sd, UNET_PREFIX)
    if detected != layout_unet_config(layout, family):
        raise AssertionError(f"ComfyUI detects {detected}, expected {layout_unet_config(layout, family)}")
    model_config = comfy.model_detection.model_config_from_unet_config(detected, sd)
    if type(model_config).__name__ != family.model_class:
        raise AssertionError(f"ComfyUI takes the UNet for {type(model_config).__name__}, not {family.model_class}")
    names = sorted(k[len(UNET_PREFIX) : -len(".proj_in.weight")] for k in sd if k.endswith(".proj_in.weight"))
    if names != sorted(name for name, _ in layout_transformer_blocks(layout)):
        raise AssertionError(f"SpatialTransformers in the UNet {names} != layout_transformer_blocks({layout})")


def build_sd15_state_dict(
    *,
    tiny: bool = True,
    seed: int = 0,
    dtype: torch.dtype = torch.float16,
    clip_dtype: torch.dtype = CLIP_DTYPE,
    only: Callable[[str], bool] | None = None,
) -> dict[str, torch.Tensor]:
    """All tensors of the random SD1.5 checkpoint, keyed as in an original SD1.5 file.

    With `only`, keys it rejects come back as meta tensors (right shape and dtype, no data): each
    tensor is seeded by its own key, so a subset can be rebuilt cheaply and compared.
    """
    return build_layout_state_dict(sd15_layout(tiny), seed=seed, dtype=dtype, clip_dtype=clip_dtype, only=only)


def build_layout_state_dict(
    layout: UNetLayout,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float16,
    clip_dtype: torch.dtype = CLIP_DTYPE,
    only: Callable[[str], bool] | None = None,
) -> dict[str, torch.Tensor]:
    """build_sd15_state_dict for any SD15-detected `layout` (the same CLIP-L and TAESD)."""
    entries = unet_entries(layout, SD15_FAMILY, dtype)
    for key, meta, init in _meta_tensors(_clip_module()):
        # text_projection and logit_scale are absent from SD1 checkpoints and unused by ComfyUI's SD1 CLIP
        if key.startswith("clip_l.transformer.text_model."):
            entries.append((CLIP_PREFIX + key.removeprefix("clip_l."), meta, init, clip_dtype))
    entries += taesd_entries(dtype)
    return materialize(entries, seed, only) | taesd_scaling(SD15_VAE_SCALE)


Entry = tuple[str, torch.Tensor, Init, torch.dtype]  # (checkpoint key, meta tensor, init, dtype)


def unet_entries(layout: UNetLayout, family: UNetFamily, dtype: torch.dtype) -> list[Entry]:
    """The checkpoint's UNet tensors (`model.diffusion_model.*`), still unbuilt; fails unless ComfyUI detects them
    as `family` with `layout`."""
    entries = [(UNET_PREFIX + k, m, i, dtype) for k, m, i in _meta_tensors(_layout_unet_module(layout, family))]
    _check_layout_unet({name: meta for name, meta, _, _ in entries}, layout, family)
    return entries


def taesd_entries(dtype: torch.dtype) -> list[Entry]:
    """The checkpoint's TAESD tensors (`first_stage_model.taesd_encoder.*` / `taesd_decoder.*`), still unbuilt."""
    return [(VAE_PREFIX + key, meta, init, dtype) for key, meta, init in _meta_tensors(_vae_module(), fan_in_init=True)
            if key.startswith("taesd_")]


def taesd_scaling(scale: float) -> dict[str, torch.Tensor]:
    """`vae_scale` / `vae_shift` of a checkpoint's TAESD: the latent format's scale (what ComfyUI's own TAESD
    loader sets: 0.18215 for SD1 / SD2's taesd, 0.13025 for SDXL's taesdxl; without it, it warns)."""
    return {VAE_PREFIX + "vae_scale": torch.tensor(scale), VAE_PREFIX + "vae_shift": torch.tensor(0.0)}


def materialize(entries: list[Entry], seed: int, only: Callable[[str], bool] | None = None) -> dict[str, torch.Tensor]:
    """The entries' tensors, each seeded by seed and its key; keys `only` rejects stay meta tensors."""
    sd: dict[str, torch.Tensor] = {}
    for name, meta, init, tensor_dtype in entries:
        if only is None or only(name):
            sd[name] = _init_tensor(name, meta, init, seed, tensor_dtype)
        else:
            sd[name] = torch.empty(meta.shape, dtype=tensor_dtype, device="meta")
    return sd


def build_sd15_checkpoint(path: Path, *, tiny: bool = True, seed: int = 0, dtype: torch.dtype = torch.float16) -> None:
    """Write a random-weight SD1.5 checkpoint (UNet, CLIP-L, TAESD) to `path` (.safetensors)."""
    sd = build_sd15_state_dict(tiny=tiny, seed=seed, dtype=dtype)
    metadata = {"gligen_suite_test_base": f"sd15 tiny={tiny} seed={seed} builder=v{BUILDER_VERSION}"}
    save_file(sd, str(path), metadata=metadata)


def cached_sd15_checkpoint(tiny: bool = True) -> Path:
    """Path of the seed-0 fp16 checkpoint, built on first use."""
    return cached_file(f"sd15_{'tiny' if tiny else 'full'}_seed0_v{BUILDER_VERSION}.safetensors",
                       lambda path: build_sd15_checkpoint(path, tiny=tiny))


def stand_in_transformer_blocks() -> list[tuple[str, int]]:
    """The transformer blocks of the stand-in UNet (STAND_IN_LAYOUT): what its GLIGEN stand-ins need fusers for."""
    return layout_transformer_blocks(STAND_IN_LAYOUT)


def cached_stand_in_checkpoint() -> Path:
    """Path of the seed-0 fp16 checkpoint with the STAND_IN_LAYOUT UNet (CLIP-L, TAESD), built on first use."""

    def build(path: Path) -> None:
        metadata = {"gligen_suite_test_base": f"sd15 layout=stand_in seed=0 builder=v{BUILDER_VERSION}"}
        save_file(build_layout_state_dict(STAND_IN_LAYOUT), str(path), metadata=metadata)

    return cached_file(f"sd15_stand_in_seed0_v{BUILDER_VERSION}.safetensors", build)
