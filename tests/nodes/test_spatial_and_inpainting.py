"""Spatial-map and inpainting GLIGEN files in ComfyUI's real sampling on the tiny SD1.5."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from gligen_suite.gligen_model import BetaSchedule
from gligen_suite.gligen_model.inpainting import InpaintImage
from gligen_suite.nodes.apply_node import apply_grounding
from gligen_suite.nodes.inpaint_image_node import inpaint_image
from gligen_suite.nodes.loader_node import load_gligen_patcher
from gligen_suite.nodes.map_encode_node import map_grounding
from gligen_suite.nodes.text_box_encode_node import encode_layout

from devkit.gligen_checkpoints import official_container, variant_state_dict
from devkit.in_process import TinyHost, encode_prompt, relative_tolerance, sample
from devkit.input_errors import message_for
from devkit.meta_models import meta_unet_model
from devkit.sd15_checkpoints import sd15_transformer_blocks

WIDTH, HEIGHT = 160, 128  # non-square on purpose: the authors hard-code 512 x 512


def gligen_file(tmp_path: Path, variant: str, inpainting: bool = False) -> object:
    state = variant_state_dict(sd15_transformer_blocks(True), variant, seed=7, inpainting=inpainting)
    path = tmp_path / f"gligen_{'inpainting_' if inpainting else ''}{variant}.bin"
    torch.save(official_container(state), path)
    return load_gligen_patcher(str(path))


def a_map(variant: str) -> torch.Tensor:
    gen = torch.Generator().manual_seed(3)
    if variant == "semantic":
        return (torch.randint(0, 151, (1, HEIGHT, WIDTH, 1), generator=gen).float() / 255).expand(-1, -1, -1, 3)
    return torch.rand(1, HEIGHT, WIDTH, 3, generator=gen)


def prompts(host: TinyHost) -> tuple[list, list]:
    return encode_prompt(host.clip, "a living room"), encode_prompt(host.clip, "")


@pytest.mark.parametrize("variant", ["hed", "canny", "depth", "normal", "semantic"])
def test_a_spatial_map_grounds_sampling_and_beta_zero_is_the_plain_model_bit_for_bit(
        host: TinyHost, tmp_path: Path, variant: str) -> None:
    gligen = gligen_file(tmp_path, variant)
    grounding = map_grounding(a_map(variant))
    positive, negative = prompts(host)
    plain = sample(host.model, positive, negative, width=WIDTH, height=HEIGHT)
    grounded = sample(apply_grounding(host.model, gligen, grounding, None), positive, negative,
                      width=WIDTH, height=HEIGHT)
    off = sample(apply_grounding(host.model, gligen, grounding, BetaSchedule.constant(0.0)), positive, negative,
                 width=WIDTH, height=HEIGHT)
    assert torch.equal(off, plain)  # no extra channels, no fusers: the base model's own first conv
    assert (grounded - plain).abs().max() > 1.0
    other = sample(apply_grounding(host.model, gligen, map_grounding(a_map(variant).flip(2)), None), positive,
                   negative, width=WIDTH, height=HEIGHT)
    assert (other - grounded).abs().max() > 1.0  # the map itself steers the result


def test_the_first_block_becomes_the_files_conv_on_latent_and_map_channels(host: TinyHost, tmp_path: Path) -> None:
    gligen = gligen_file(tmp_path, "canny")
    patched = apply_grounding(host.model, gligen, map_grounding(a_map("canny")), None)
    patch = patched.get_attachment("gligen_suite.patches")[-1]
    x = torch.randn(2, 4, HEIGHT // 8, WIDTH // 8)
    extra = gligen.model.map_channels(patch.prepared((HEIGHT // 8, WIDTH // 8)), (HEIGHT // 8, WIDTH // 8))
    extra = extra.expand(2, -1, -1, -1)
    base = host.model.get_model_object("diffusion_model").input_blocks[0][0]
    with torch.no_grad():
        got = patch.unet_input.first_block(base(x.to(base.weight.dtype)).float(), x, extra)
        conv = gligen.model.first_conv
        expected = torch.nn.functional.conv2d(torch.cat([x, extra], 1), conv.weight, conv.bias, padding=1)
    torch.testing.assert_close(got, expected, atol=1e-3, rtol=1e-3)  # the tiny model's fp16 base conv cancels out


def box_layout(box: list[int]) -> str:
    return json.dumps({"version": 1, "width": WIDTH, "height": HEIGHT,
                       "objects": [{"phrase": "a cat", "box": box}]})


def test_inpainting_keeps_the_picture_outside_the_boxes_and_repaints_inside(host: TinyHost, tmp_path: Path) -> None:
    gligen = gligen_file(tmp_path, "text-box", inpainting=True)
    z0 = torch.randn(1, 4, HEIGHT // 8, WIDTH // 8, generator=torch.Generator().manual_seed(9))
    grounding = encode_layout(host.clip, box_layout([80, 0, 160, 64]))  # right half of the top half
    positive, negative = prompts(host)
    out = sample(apply_grounding(host.model, gligen, grounding, None, inpaint=InpaintImage(z0)), positive, negative,
                 width=WIDTH, height=HEIGHT, sampler="dpmpp_2m", scheduler="karras")
    keep = torch.ones_like(z0[:, :1])
    keep[..., 0:8, 10:20] = 0
    scale = z0.abs().max()
    assert ((out - z0) * keep).abs().max() <= relative_tolerance(host.model) * scale * 10
    assert ((out - z0) * (1 - keep)).abs().max() > 0.5  # the box was repainted


def test_inpainting_with_a_mask_repaints_the_mask(host: TinyHost, tmp_path: Path) -> None:
    gligen = gligen_file(tmp_path, "text-box", inpainting=True)
    z0 = torch.randn(1, 4, HEIGHT // 8, WIDTH // 8, generator=torch.Generator().manual_seed(9))
    mask = torch.zeros(1, HEIGHT, WIDTH)
    mask[:, 64:, :40] = 1.0  # bottom-left, away from the box
    grounding = encode_layout(host.clip, box_layout([80, 0, 160, 64]))
    positive, negative = prompts(host)
    out = sample(apply_grounding(host.model, gligen, grounding, None, inpaint=InpaintImage(z0, mask)), positive,
                 negative, width=WIDTH, height=HEIGHT)
    assert ((out - z0)[..., 8:, :5]).abs().max() > 0.5 and (out - z0)[..., :8, :].abs().max() < 1e-3


@pytest.mark.bad_input
def test_inpainting_inputs_are_checked(host: TinyHost, tmp_path: Path) -> None:
    inpainting = gligen_file(tmp_path, "text-box", inpainting=True)
    generation = gligen_file(tmp_path, "text-box")
    grounding = encode_layout(host.clip, box_layout([80, 0, 160, 64]))
    z0 = InpaintImage(torch.zeros(1, 4, HEIGHT // 8, WIDTH // 8))
    text = message_for(lambda: apply_grounding(host.model, inpainting, grounding, None))
    assert "inpainting file edits a picture" in text and "GLIGEN Inpaint Image" in text
    text = message_for(lambda: apply_grounding(host.model, generation, grounding, None, inpaint=z0))
    assert "not one of GLIGEN's inpainting files" in text
    patched = apply_grounding(host.model, inpainting, grounding, None, inpaint=z0)
    positive, negative = prompts(host)
    text = message_for(lambda: sample(patched, positive, negative, width=WIDTH * 2, height=HEIGHT))
    assert "the image to edit" in text and "LATENT output of GLIGEN Inpaint Image" in text

    class NoVae:
        def encode(self, pixels: torch.Tensor) -> torch.Tensor:
            return torch.zeros(1, 4, pixels.shape[1] // 8, pixels.shape[2] // 8)

    assert "multiples of 8" in message_for(lambda: inpaint_image(NoVae(), torch.rand(1, 100, 64, 3)))
    text = message_for(lambda: inpaint_image(NoVae(), torch.rand(1, 64, 64, 3), torch.zeros(1, 32, 32)))
    assert "mask is 32x32 pixels, but the image to edit is 64x64" in text


@pytest.mark.bad_input
def test_map_inputs_and_groundings_of_the_wrong_kind_are_named(host: TinyHost, tmp_path: Path) -> None:
    depth = gligen_file(tmp_path, "depth")
    boxes = encode_layout(host.clip, box_layout([0, 0, 80, 64]))
    text = message_for(lambda: apply_grounding(host.model, depth, boxes, None))
    assert "depth model is grounded on a spatial map, but it was given boxes" in text and "Map Encode" in text
    text = message_for(lambda: apply_grounding(host.model, host_gligen(host), map_grounding(a_map("depth")), None))
    assert "given a spatial map" in text
    assert "batch of 2 maps" in message_for(lambda: map_grounding(torch.rand(2, 64, 64, 3)))
    text = message_for(lambda: apply_grounding(meta_unet_model("SDXL"), depth, map_grounding(a_map("depth")), None))
    assert "does not fit this MODEL" in text and "SDXL" in text
    once = apply_grounding(host.model, depth, map_grounding(a_map("depth")), None)
    text = message_for(lambda: apply_grounding(once, gligen_file(tmp_path, "normal"), map_grounding(a_map("n")), None))
    assert "already went through a GLIGEN Apply" in text


def host_gligen(host: TinyHost) -> object:
    return load_gligen_patcher(str(host.gligen_path))
