"""Random-weight SD2.1 and SDXL checkpoints that ComfyUI detects as SD20 (SD2.x, eps) and SDXL, and which stand-in
base model (and GLIGEN file shape) a model file's name asks for.

Each checkpoint is one `.safetensors` in the published layout, built from devkit/sd15_checkpoints.py's pieces
(UNetLayout, UNetFamily, unet_entries, taesd_entries, materialize):
- `model.diffusion_model.*`: ComfyUI's own UNetModel for the layout; unet_entries asserts that ComfyUI's
  detection reports exactly the layout and picks the family's class (SD20 / SDXL).
- The text encoders of devkit/text_encoder_checkpoints.py, stored as float8_e4m3fn to halve the file (ComfyUI
  upcasts them on load, without warnings): SDXL's CLIP-L + OpenCLIP-bigG under `conditioner.embedders.0/1.`
  (818 M parameters), SD2's OpenCLIP-H under `cond_stage_model.model.` (354 M). Neither can shrink.
- A TAESD under `first_stage_model.taesd_*`: ComfyUI's VAE picks TAESD whenever `taesd_decoder.1.weight` is
  there. SDXL's taesdxl is the same network; only the scale differs (ComfyUI's own loader, nodes.py
  VAELoader.load_taesd, sets vae_scale 0.13025 for taesdxl, 0.18215 for taesd, which SD2 uses).

Layouts (ComfyUI's detection reads only model_channels 320, linear transformers, the context width, adm and, for
SDXL, the input depths [0, 0, 2, 2, 10, 10]; channel_mult and SD2's res blocks and depths are free):
- SDXL_STAND_IN_LAYOUT: channel_mult [1, 1, 1] (every level 320 wide) with SDXL's depths 0, 2, 10 per level and
  two res blocks, so SDXL's 11 SpatialTransformers and all 70 transformer blocks, at C = 320: 282.9 M UNet
  parameters instead of 2.57 B. A GLIGEN-XL-shaped file (70 fusers, context 2048) fits it.
- SD2_STAND_IN_LAYOUT: the SD1.5 stand-in's reduction (channel_mult [1, 1], one res block, a transformer only at
  the 32x32 level: 4 transformer blocks, 320 wide) with SD2's context 1024 and 64-dim heads: 37.3 M parameters.
- Full size: SD2.1-base's own layout (865.9 M). No full-size SDXL is built: its UNet (2.57 B) and a GLIGEN-XL
  stand-in (1.81 B) would need about 9 GB of memory to build and 9 GB of disk (stand_in_model gives None).

GLIGEN stand-ins for SD2 and SDXL are text-box files in the diffusers layout, as IGLIGEN and GLIGEN-XL publish
them (`down_blocks.<l>.attentions.<i>.transformer_blocks.<t>.fuser.*`, context and phrase width = the family's
context width), in fp16; SD1.5's stay in ComfyUI's pruned (LDM) layout.
Checkpoints are cached by `devkit.file_cache`; bump BUILDER_VERSION when the built bytes change (the text
encoders' weights included).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file

from .file_cache import cached_file
from .gligen_checkpoints import KeyLayout, stand_in_state_dict
from .sd15_checkpoints import (
    CLIP_DTYPE,
    FULL_LAYOUT,
    SD15_FAMILY,
    SD15_VAE_SCALE,
    STAND_IN_LAYOUT,
    TINY_LAYOUT,
    UNetFamily,
    UNetLayout,
    cached_sd15_checkpoint,
    cached_stand_in_checkpoint,
    layout_spatial_transformers,
    materialize,
    taesd_entries,
    taesd_scaling,
    unet_entries,
)

BUILDER_VERSION = "1"
SDXL_VAE_SCALE = 0.13025  # taesdxl's, = SDXL's latent scale factor
SD20_FAMILY = UNetFamily("SD20", 1024, linear_transformers=True)
SDXL_FAMILY = UNetFamily("SDXL", 2048, linear_transformers=True, adm_in_channels=2816)
SDXL_STAND_IN_LAYOUT = UNetLayout(channel_mult=(1, 1, 1), num_res_blocks=2, attention=(0, 2, 10))
SD2_STAND_IN_LAYOUT = STAND_IN_LAYOUT
SD2_FULL_LAYOUT = FULL_LAYOUT  # SD2.1-base: SD1.5's levels, res blocks and depths
BASES = ("sd15", "sd2", "sdxl")
SIZES = ("tiny", "small", "full")  # tiny: the tests' quickest; SD2 and SDXL have one reduced size (tiny = small)


def base_for_file_name(name: str) -> str:
    """The base model ("sd15", "sd2" or "sdxl") a checkpoint or GLIGEN file named like a real one is for: "xl" in
    the name is SDXL (sd_xl_base_1.0, gligen-xl-1024), "v2" or "sd2" SD2 (v2-1_512-ema-pruned, igligen-sd2.1),
    anything else SD1.5."""
    lowered = name.lower()
    if "xl" in lowered:
        return "sdxl"
    if "v2" in lowered or "sd2" in lowered:
        return "sd2"
    return "sd15"


def _clip_state_dict(family: UNetFamily, seed: int, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The family's text encoders as its published checkpoint keys them; float weights in `dtype` (the int64
    position ids stay int64)."""
    from .text_encoder_checkpoints import sd2_clip_state_dict, sdxl_clip_state_dict

    build = sdxl_clip_state_dict if family is SDXL_FAMILY else sd2_clip_state_dict
    return {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in build(seed=seed, dtype=dtype).items()}


def build_state_dict(family: UNetFamily, layout: UNetLayout, *, seed: int = 0, dtype: torch.dtype = torch.float16,
                     clip_dtype: torch.dtype = CLIP_DTYPE) -> dict[str, torch.Tensor]:
    """All tensors of a random SD2 (SD20_FAMILY) or SDXL (SDXL_FAMILY) checkpoint with a `layout` UNet, keyed as in
    the published files. Fails unless ComfyUI detects the UNet as the family."""
    if family not in (SD20_FAMILY, SDXL_FAMILY):
        raise ValueError(f"{family.model_class}: build SD1.5 with devkit.sd15_checkpoints")
    sd = materialize(unet_entries(layout, family, dtype) + taesd_entries(dtype), seed)
    sd |= _clip_state_dict(family, seed, clip_dtype)
    return sd | taesd_scaling(SDXL_VAE_SCALE if family is SDXL_FAMILY else SD15_VAE_SCALE)


def _cached_checkpoint(family: UNetFamily, layout: UNetLayout, label: str) -> Path:
    """Path of the seed-0 fp16 checkpoint (fp8 text encoders), built on first use."""
    stem = f"{'sdxl' if family is SDXL_FAMILY else 'sd2'}_{label}"

    def build(path: Path) -> None:
        metadata = {"gligen_suite_test_base": f"{stem} layout={layout!r} seed=0 builder=v{BUILDER_VERSION}"}
        save_file(build_state_dict(family, layout), str(path), metadata=metadata)

    return cached_file(f"{stem}_seed0_v{BUILDER_VERSION}.safetensors", build)


def cached_sdxl_stand_in_checkpoint() -> Path:
    """The SDXL stand-in (SDXL_STAND_IN_LAYOUT, CLIP-L + bigG, TAESDXL); about 1.4 GB."""
    return _cached_checkpoint(SDXL_FAMILY, SDXL_STAND_IN_LAYOUT, "stand_in")


def cached_sd2_stand_in_checkpoint() -> Path:
    """The SD2 stand-in (SD2_STAND_IN_LAYOUT, OpenCLIP-H, TAESD)."""
    return _cached_checkpoint(SD20_FAMILY, SD2_STAND_IN_LAYOUT, "stand_in")


def cached_sd2_full_checkpoint() -> Path:
    """A full-size SD2.1-base layout (865.9 M UNet parameters, OpenCLIP-H, TAESD)."""
    return _cached_checkpoint(SD20_FAMILY, SD2_FULL_LAYOUT, "full")


@dataclass(frozen=True)
class StandInModel:
    """A random-weight base checkpoint of one family and size, and the shape of GLIGEN files that fit it.

    base: "sd15", "sd2" or "sdxl"; checkpoint: builds (once) and returns the cached file; gligen_key_layout /
    gligen_dtype: how its GLIGEN stand-ins are stored (as the family's published files are).
    """

    base: str
    family: UNetFamily
    layout: UNetLayout
    checkpoint: Callable[[], Path]
    gligen_key_layout: KeyLayout = "ldm"
    gligen_dtype: torch.dtype = torch.float32

    @property
    def spatial_transformers(self) -> list[tuple[str, int, int]]:
        """(LDM name, query width, depth) of each SpatialTransformer, in forward order."""
        return layout_spatial_transformers(self.layout)

    @property
    def transformer_blocks(self) -> list[tuple[str, int]]:
        """Every transformer block (= one fuser), e.g. ("input_blocks.4.1.transformer_blocks.1", 320)."""
        return [(f"{name}.transformer_blocks.{t}", width) for name, width, depth in self.spatial_transformers
                for t in range(depth)]

    @property
    def unet_label(self) -> str:
        """What tells this UNet layout from others (stand-in metadata): the layout, and the family unless SD1.5."""
        return repr(self.layout) if self.family is SD15_FAMILY else f"{self.family.model_class} {self.layout!r}"

    def gligen_state_dict(self, kind: str = "text-box", seed: int = 0) -> dict[str, torch.Tensor]:
        """Random GLIGEN weights of a stand_in_kind() whose fusers fit this UNet, one per transformer block."""
        width = self.family.context_dim  # all three families: phrase features as wide as the context
        return stand_in_state_dict(kind, self.spatial_transformers, seed, context_dim=width, phrase_dim=width,
                                   key_layout=self.gligen_key_layout, num_res_blocks=self.layout.num_res_blocks,
                                   dtype=self.gligen_dtype)


_SD15 = {"tiny": StandInModel("sd15", SD15_FAMILY, TINY_LAYOUT, lambda: cached_sd15_checkpoint(tiny=True)),
         "small": StandInModel("sd15", SD15_FAMILY, STAND_IN_LAYOUT, cached_stand_in_checkpoint),
         "full": StandInModel("sd15", SD15_FAMILY, FULL_LAYOUT, lambda: cached_sd15_checkpoint(tiny=False))}
_SD2_SMALL = StandInModel("sd2", SD20_FAMILY, SD2_STAND_IN_LAYOUT, cached_sd2_stand_in_checkpoint, "diffusers",
                          torch.float16)
_SDXL_SMALL = StandInModel("sdxl", SDXL_FAMILY, SDXL_STAND_IN_LAYOUT, cached_sdxl_stand_in_checkpoint, "diffusers",
                           torch.float16)
_MODELS: dict[str, dict[str, StandInModel | None]] = {
    "sd15": dict(_SD15),
    "sd2": {"tiny": _SD2_SMALL, "small": _SD2_SMALL,
            "full": StandInModel("sd2", SD20_FAMILY, SD2_FULL_LAYOUT, cached_sd2_full_checkpoint, "diffusers",
                                 torch.float16)},
    "sdxl": {"tiny": _SDXL_SMALL, "small": _SDXL_SMALL, "full": None},
}


def stand_in_model(base: str, size: str) -> StandInModel | None:
    """The stand-in base model of `base` (BASES) and `size` (SIZES); None where none is built (full-size SDXL)."""
    if base not in BASES or size not in SIZES:
        raise ValueError(f"stand-in {base!r} {size!r}: choose a base of {BASES} and a size of {SIZES}")
    return _MODELS[base][size]


def stand_in_model_for(name: str, size: str) -> StandInModel | None:
    """stand_in_model for the base a checkpoint or GLIGEN file named `name` is for (base_for_file_name)."""
    return stand_in_model(base_for_file_name(name), size)
