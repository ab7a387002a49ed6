"""The ten official GLIGEN files at full size (16 fusers at 320 / 640 / 1280 channels, full position nets,
ConvNeXt-T, downsamplers and first convs), in the authors' container with their training config, through the
loader node's entry point.

Random weights in the published key names and shapes; the frozen SD UNet in "model" is every key of the full
SD1.5 UNet as stride-0 placeholders (real names and shapes, no memory). Expected parameter counts come from the
shapes of the authors' modules (../shared/gligen-reference.md 1.4, 1.7, 1.8; their convnext.py), never from the
loaded model. One file (~0.85 GB) is written, loaded and deleted at a time; the 208M fuser values are built once.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import torch

from devkit.comfy_host import import_comfy
from devkit.gligen_checkpoints import (
    SD15_BLOCKS,
    official_config_dict,
    official_container,
    text_box_state_dict,
    variant_state_dict,
)
from devkit.meta_models import meta_unet_model
from devkit.pack import import_pack
from devkit.sd15_checkpoints import UNET_PREFIX, sd15_unet_meta_state_dict

import_comfy()
import_pack()
from gligen_suite.gligen_model import GligenInputError  # noqa: E402
from gligen_suite.nodes.loader_node import load_gligen_patcher  # noqa: E402
from gligen_suite.nodes.patch.unet_blocks import check_fusers_fit, transformer_slots  # noqa: E402

pytestmark = pytest.mark.full_size

# (gligen/<name>, variant, inpainting): the ten published files, each saved as <name>.bin
OFFICIAL_FILES: list[Any] = [
    ("gligen-generation-text-box", "text-box", False),
    ("gligen-generation-text-image-box", "text-image-box", False),
    ("gligen-generation-keypoint", "keypoint", False),
    ("gligen-generation-hed", "hed", False),
    ("gligen-generation-canny", "canny", False),
    ("gligen-generation-depth", "depth", False),
    ("gligen-generation-normal", "normal", False),
    ("gligen-generation-sem", "semantic", False),
    ("gligen-inpainting-text-box", "text-box", True),
    ("gligen-inpainting-text-image-box", "text-image-box", True),
]
SPATIAL = {"hed", "canny", "depth", "normal", "semantic"}
FUSERS_PARAMS = 208_018_272  # 5 x 320, 5 x 640 and 6 x 1280 channels: "208.0M"


# ---- expected parameter counts, from the authors' module shapes --------------------------------------
def fuser_params(c: int) -> int:
    """GatedSelfAttentionDense: linear [C, 768] + [C]; to_q / to_k / to_v [C, C]; to_out.0 [C, C] + [C];
    GEGLU ff.net.0.proj [8C, C] + [8C]; ff.net.2 [C, 4C] + [C]; norm1, norm2 [C] + [C]; alpha_attn, alpha_dense."""
    return (c * 768 + c) + 3 * c * c + (c * c + c) + (8 * c * c + 8 * c) + (4 * c * c + c) + 4 * c + 2


def mlp_params(in_dim: int) -> int:
    """linears: Linear(in_dim, 512), Linear(512, 512), Linear(512, 768)."""
    return (in_dim * 512 + 512) + (512 * 512 + 512) + (512 * 768 + 768)


def convnext_tiny_params() -> int:
    """ConvNeXt-T without head and final norm: stem conv 4x4 + LayerNorm, 3 x (LayerNorm + conv 2x2), blocks of
    depthwise conv 7x7, LayerNorm, pwconv1 [4d, d], pwconv2 [d, 4d], gamma [d]; dims 96..768, depths 3/3/9/3."""
    dims, depths = (96, 192, 384, 768), (3, 3, 9, 3)
    stem = 3 * 96 * 4 * 4 + 96 + 2 * 96
    downsamples = sum(2 * a + a * b * 2 * 2 + b for a, b in zip(dims, dims[1:], strict=False))

    def block(d: int) -> int:
        return (d * 7 * 7 + d) + 2 * d + (4 * d * d + 4 * d) + (4 * d * d + d) + d

    return stem + downsamples + sum(n * block(d) for d, n in zip(dims, depths, strict=True))


def position_net_params(variant: str) -> int:
    if variant == "text-box":  # null_positive_feature [768], null_position_feature [64], MLP on 768 + 64
        return 768 + 64 + mlp_params(832)
    if variant == "text-image-box":  # null text / image [768], null position [64], one MLP per token kind
        return 768 + 768 + 64 + 2 * mlp_params(832)
    if variant == "keypoint":  # person [8, 768], keypoint [17, 768], null person [768], null xy [32]
        return 8 * 768 + 17 * 768 + 768 + 32 + mlp_params(800)
    in_conv = 3 * 152 * 3 * 3 + 3 if variant == "semantic" else 0  # 152 one-hot channels -> 3
    return in_conv + convnext_tiny_params() + 64 * 768 + 768 + mlp_params(768)  # + pos_embedding, null_feature


def downsampler_params(variant: str) -> int:
    """layers.0 Conv2d(k, h, 4, 2, 1), layers.2 Conv2d(h, 8, 4, 2, 1); HED has no weights."""
    in_hidden = {"canny": (1, 4), "depth": (1, 4), "normal": (3, 4), "semantic": (152, 16)}.get(variant)
    if in_hidden is None:
        return 0
    k, h = in_hidden
    return (h * k * 16 + h) + (8 * h * 16 + 8)


def first_conv_in_channels(variant: str, inpainting: bool) -> int:
    """4 latent channels, + 1 (HED) or 8 (other maps) from the downsampler, + 5 for inpainting."""
    extra = 0 if variant not in SPATIAL else 1 if variant == "hed" else 8
    return 4 + extra + (5 if inpainting else 0)


def load(path: Path) -> Any:
    """The GligenModel that the loader node's entry point makes of `path`. A refusal is raised again without
    the loader's frames: pytest keeps a failed test's traceback (sys.last_traceback) for post-mortems, and those
    frames would keep the ~0.85 GB file mapped for the rest of the run."""
    try:
        return load_gligen_patcher(str(path)).model
    except GligenInputError as e:
        message = str(e)
    raise GligenInputError(message)


def numel(module: torch.nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


# ---- the files ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shared_fusers() -> dict[str, torch.Tensor]:
    """The 16 full-size fusers' 208M random values, built once for all ten files."""
    return {k: v for k, v in text_box_state_dict(SD15_BLOCKS, seed=11).items() if ".fuser." in k}


@pytest.fixture(scope="module")
def base_unet() -> dict[str, torch.Tensor]:
    """Every key of the full SD1.5 UNet (LDM names, as in the official "model"), each a stride-0 view of one
    zero: real names and shapes at no memory or file size."""
    zero = torch.zeros(())
    return {k[len(UNET_PREFIX):]: zero.expand(meta.shape) for k, meta in sd15_unet_meta_state_dict(False).items()}


@pytest.fixture(scope="module")
def sd15_slots() -> list[Any]:
    """The 16 transformer slots of ComfyUI's full SD1.5 UNet (built on the meta device)."""
    return transformer_slots(meta_unet_model("SD15").get_model_object("diffusion_model"))


class OfficialFile(NamedTuple):
    path: Path
    variant: str
    inpainting: bool
    tensors: dict[str, torch.Tensor]  # the GLIGEN tensors it holds (file key names)


@pytest.fixture
def official_file(request: pytest.FixtureRequest, tmp_path: Path, shared_fusers: dict[str, torch.Tensor],
                  base_unet: dict[str, torch.Tensor]) -> Iterator[OfficialFile]:
    """<name>.bin in the official container with its config; deleted after the test."""
    name, variant, inpainting = request.param
    kind = variant + ("+inpainting" if inpainting else "")
    own = variant_state_dict([], variant, seed=len(name), inpainting=inpainting)  # position net, downsampler, conv
    gligen = {**shared_fusers, **own}
    path = tmp_path / f"{name}.bin"
    torch.save(official_container({**base_unet, **gligen}, official_config_dict(kind)), path)
    yield OfficialFile(path, variant, inpainting, gligen)
    gc.collect()  # the loaded model and its memory-mapped file are gone before the next file is written
    path.unlink()


@pytest.mark.parametrize("official_file", OFFICIAL_FILES, indirect=True, ids=lambda file: file[0])
def test_full_size_official_file_loads_as_published(official_file: OfficialFile, sd15_slots: list[Any]) -> None:
    path, variant, inpainting, saved = official_file
    model = load(path)

    assert model.variant.value == variant and model.inpainting is inpainting
    assert model.info.startswith(f"{path.name}: GLIGEN {variant}{' inpainting' if inpainting else ''}, 16 fusers, "
                                 "SD1.x"), model.info
    assert model.info.endswith("official layout"), model.info

    # 16 fusers, one per SD1.5 transformer slot, each with the weights the file stores under that slot's name
    assert [slot.name for slot in sd15_slots] == [f"{block}.transformer_blocks.0" for block, _ in SD15_BLOCKS]
    check_fusers_fit(model.info, tuple(f.linear.out_features for f in model.fusers), 768, sd15_slots)
    assert len(model.fusers) == 16
    for fuser, slot in zip(model.fusers, sd15_slots, strict=True):
        assert torch.equal(fuser.linear.weight, saved[f"{slot.name}.fuser.linear.weight"]), slot.name
    middle = "middle_block.1.transformer_blocks.0.fuser."
    assert torch.equal(model.fusers[6].ff.net[0].proj.weight, saved[middle + "ff.net.0.proj.weight"])
    assert torch.equal(model.fusers[15].alpha_dense, saved["output_blocks.11.1.transformer_blocks.0.fuser.alpha_dense"])

    # parameters per part
    assert numel(model.fusers) == sum(fuser_params(c) for _, c in SD15_BLOCKS) == FUSERS_PARAMS
    assert numel(model.position_net) == position_net_params(variant)
    assert numel(model.downsampler) == downsampler_params(variant)
    in_channels = first_conv_in_channels(variant, inpainting)
    if in_channels == 4:  # the base model's own first conv: not part of the GLIGEN model
        assert model.first_conv is None and not model.widens_input
    else:
        assert tuple(model.first_conv.weight.shape) == (320, in_channels, 3, 3)
        assert numel(model.first_conv) == 320 * in_channels * 3 * 3 + 320

    # the file's own tensors, not fresh ones: the whole position net, downsampler and first conv
    loaded = model.state_dict()
    parts = {"position_net.": "position_net.", "downsample_net.": "downsampler.", "input_blocks.0.0.": "first_conv."}
    expected = {parts[p] + k[len(p):]: t for k, t in saved.items() for p in parts if k.startswith(p)}
    assert set(expected) == {k for k in loaded if not k.startswith("fusers.")}
    for key, tensor in expected.items():
        assert torch.equal(loaded[key], tensor), key
    assert model.image_projection is None  # the official files do not carry CLIP-L's projection
    del model, loaded


def test_expected_counts_agree_with_published_sizes() -> None:
    """The hand counts against published totals: ConvNeXt-T is 28,589,128 parameters with its 1000-class head
    (768 x 1000 + 1000) and final LayerNorm (2 x 768); GLIGEN's fusers are 208.0M."""
    assert convnext_tiny_params() + 768 * 1000 + 1000 + 2 * 768 == 28_589_128
    assert round(FUSERS_PARAMS / 1e6, 1) == 208.0
    assert position_net_params("text-box") + FUSERS_PARAMS == 209_102_240  # ComfyUI's pruned text-box file
