"""Spatial-map tokenizers, downsamplers and inpainting inputs against the authors' formulas, written out here
independently of the pack (ldm/modules/diffusionmodules/convnext.py, *_grounding_net.py,
*_grounding_downsampler.py, gligen_inference.py prepare_batch_*, inpaint_mask_func.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from devkit.gligen_checkpoints import SD15_BLOCKS, official_config_dict, official_container, variant_state_dict
from devkit.input_errors import message_for
from devkit.pack import import_pack

import_pack()
from gligen_suite.gligen_model import GligenModel, Variant, parse_gligen_state_dict  # noqa: E402
from gligen_suite.gligen_model.grounding import MapGrounding  # noqa: E402
from gligen_suite.gligen_model.inpainting import (  # noqa: E402
    inpaint_channels,
    keep_mask_from_boxes,
    keep_mask_from_pixels,
    reimpose_known,
)
from gligen_suite.gligen_model.spatial_maps import fit_map  # noqa: E402

pytestmark = pytest.mark.parity
DEPTHS, EPS = (3, 3, 9, 3), 1e-6


def reference_layer_norm_channels_first(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    u = x.mean(1, keepdim=True)
    s = (x - u).pow(2).mean(1, keepdim=True)
    return w[:, None, None] * ((x - u) / torch.sqrt(s + EPS)) + b[:, None, None]


def reference_convnext(state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """forward_features of the authors' ConvNeXt-T, from its state dict."""
    p = "convnext_tiny_backbone."
    for i in range(4):
        d = f"{p}downsample_layers.{i}."
        if i == 0:
            x = F.conv2d(x, state[d + "0.weight"], state[d + "0.bias"], stride=4)
            x = reference_layer_norm_channels_first(x, state[d + "1.weight"], state[d + "1.bias"])
        else:
            x = reference_layer_norm_channels_first(x, state[d + "0.weight"], state[d + "0.bias"])
            x = F.conv2d(x, state[d + "1.weight"], state[d + "1.bias"], stride=2)
        for j in range(DEPTHS[i]):
            k = f"{p}stages.{i}.{j}."
            h = F.conv2d(x, state[k + "dwconv.weight"], state[k + "dwconv.bias"], padding=3, groups=x.shape[1])
            h = h.permute(0, 2, 3, 1)
            h = F.layer_norm(h, (h.shape[-1],), state[k + "norm.weight"], state[k + "norm.bias"], EPS)
            h = F.linear(F.gelu(F.linear(h, state[k + "pwconv1.weight"], state[k + "pwconv1.bias"])),
                         state[k + "pwconv2.weight"], state[k + "pwconv2.bias"])
            x = x + (state[k + "gamma"] * h).permute(0, 3, 1, 2)
    return x


def reference_mlp(state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    x = F.silu(F.linear(x, state["linears.0.weight"], state["linears.0.bias"]))
    x = F.silu(F.linear(x, state["linears.2.weight"], state["linears.2.bias"]))
    return F.linear(x, state["linears.4.weight"], state["linears.4.bias"])


def reference_tokens(state: dict[str, torch.Tensor], map_input: torch.Tensor, mask: float) -> torch.Tensor:
    """The authors' PositionNet.forward: resize to 256 (default mode), backbone, mask, + pos, MLP."""
    x = F.interpolate(map_input, 256)
    if "in_conv.weight" in state:
        x = F.conv2d(x, state["in_conv.weight"], state["in_conv.bias"], padding=1)
    features = reference_convnext(state, x).reshape(1, -1, 64).permute(0, 2, 1)
    features = features * mask + state["null_feature"].view(1, 1, -1) * (1 - mask)
    return reference_mlp(state, features + state["pos_embedding"])


def loaded(variant: str, seed: int = 3) -> tuple[GligenModel, dict[str, torch.Tensor]]:
    state = variant_state_dict(SD15_BLOCKS[:1], variant, seed=seed)
    checkpoint = parse_gligen_state_dict(official_container(state), f"gligen_{variant}.bin")
    return GligenModel(checkpoint), state


def one_hot_152(indices: torch.Tensor) -> torch.Tensor:
    """prepare_batch_sem: scatter the index map (H, W) into 152 channels."""
    return torch.zeros(152, *indices.shape).scatter_(0, indices.long()[None], 1.0)[None]


@pytest.mark.parametrize("variant", ["hed", "canny", "depth", "normal"])
def test_map_tokens_match_the_authors_tokenizer(variant: str) -> None:
    model, state = loaded(variant)
    net = {k.removeprefix("position_net."): v for k, v in state.items() if k.startswith("position_net.")}
    pixels = torch.rand(1, 512, 512, 3, generator=torch.Generator().manual_seed(1))
    signed = (pixels.permute(0, 3, 1, 2) - 0.5) / 0.5  # prepare_batch_*: (x / 255 - 0.5) / 0.5
    got = model.tokens_for(MapGrounding(pixels))
    torch.testing.assert_close(got, reference_tokens(net, signed, 1.0), atol=1e-4, rtol=1e-4)
    # CFG's unconditional branch: a zero map with mask 0 (get_null_input)
    torch.testing.assert_close(model.tokens_for(None), reference_tokens(net, torch.zeros_like(signed), 0.0),
                               atol=1e-5, rtol=1e-5)


def test_semantic_tokens_match_the_authors_tokenizer_on_a_one_hot_index_map() -> None:
    model, state = loaded("semantic")
    net = {k.removeprefix("position_net."): v for k, v in state.items() if k.startswith("position_net.")}
    indices = torch.randint(0, 151, (512, 512), generator=torch.Generator().manual_seed(2))
    pixels = (indices.float() / 255)[None, :, :, None].expand(1, 512, 512, 3)
    got = model.tokens_for(MapGrounding(pixels))
    torch.testing.assert_close(got, reference_tokens(net, one_hot_152(indices), 1.0), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(("variant", "channels"), [("canny", 1), ("depth", 1), ("normal", 3)])
def test_conv_downsamplers_match_the_authors_at_512_pixels(variant: str, channels: int) -> None:
    model, state = loaded(variant)
    pixels = torch.rand(1, 512, 512, 3, generator=torch.Generator().manual_seed(4))
    signed = (pixels.permute(0, 3, 1, 2) - 0.5) / 0.5
    x = F.interpolate(signed[:, :channels], (256, 256), mode="bicubic")
    x = F.conv2d(F.silu(F.conv2d(x, state["downsample_net.layers.0.weight"], state["downsample_net.layers.0.bias"],
                                 stride=2, padding=1)),
                 state["downsample_net.layers.2.weight"], state["downsample_net.layers.2.bias"], stride=2, padding=1)
    got = model.map_channels(MapGrounding(pixels), (64, 64))
    assert got.shape == (1, 8, 64, 64)
    torch.testing.assert_close(got, x, atol=1e-5, rtol=1e-5)


def test_hed_downsampler_is_the_first_channel_resized_bicubic() -> None:
    model, _ = loaded("hed")
    pixels = torch.rand(1, 512, 512, 3, generator=torch.Generator().manual_seed(5))
    signed = (pixels.permute(0, 3, 1, 2) - 0.5) / 0.5
    expected = F.interpolate(signed[:, :1], (64, 64), mode="bicubic")
    torch.testing.assert_close(model.map_channels(MapGrounding(pixels), (64, 64)), expected)


def test_semantic_downsampler_reads_the_one_hot_map_resized_nearest() -> None:
    model, state = loaded("semantic")
    indices = torch.randint(0, 151, (512, 512), generator=torch.Generator().manual_seed(6))
    pixels = (indices.float() / 255)[None, :, :, None].expand(1, 512, 512, 3)
    x = F.interpolate(one_hot_152(indices), (256, 256), mode="nearest")
    x = F.conv2d(F.silu(F.conv2d(x, state["downsample_net.layers.0.weight"], state["downsample_net.layers.0.bias"],
                                 stride=2, padding=1)),
                 state["downsample_net.layers.2.weight"], state["downsample_net.layers.2.bias"], stride=2, padding=1)
    torch.testing.assert_close(model.map_channels(MapGrounding(pixels), (64, 64)), x, atol=1e-5, rtol=1e-5)


def test_a_map_is_fitted_to_the_pictures_shape_and_left_alone_at_its_size() -> None:
    pixels = torch.rand(1, 96, 128, 3)
    same = MapGrounding(pixels)
    assert fit_map(same, (12, 16), semantic=False) is same
    wide = fit_map(MapGrounding(torch.rand(1, 64, 256, 3)), (8, 8), semantic=False)
    assert wide.pixels.shape == (1, 64, 64, 3)
    stripes = torch.zeros(1, 64, 256, 3)
    stripes[:, :, 96:160] = 1.0  # a white centre: a centre crop keeps only that
    assert fit_map(MapGrounding(stripes), (8, 8), semantic=False).pixels.min() > 0.99
    index = (torch.randint(0, 151, (1, 40, 40, 1)).float() / 255).expand(-1, -1, -1, 3)
    resized = fit_map(MapGrounding(index), (10, 10), semantic=True).pixels * 255
    assert torch.equal(resized, resized.round())  # nearest: no blended class numbers


@pytest.mark.bad_input
def test_a_colour_segmentation_picture_is_refused_with_how_to_get_an_index_map() -> None:
    model, _ = loaded("semantic")
    colour = torch.rand(1, 64, 64, 3)
    text = message_for(lambda: model.check_accepts(MapGrounding(colour)))
    assert "colour picture, not a class-index map" in text and "ADE20K" in text and "GLIGEN Map Encode" in text
    too_high = torch.full((1, 64, 64, 3), 200 / 255)
    assert "class number 200" in message_for(lambda: model.check_accepts(MapGrounding(too_high)))


def test_box_keep_mask_scales_x_by_width_and_y_by_height_on_a_non_square_latent() -> None:
    keep = keep_mask_from_boxes(torch.tensor([[0.5, 0.0, 1.0, 0.25]]), (16, 40))  # 16 rows, 40 columns
    assert keep.shape == (1, 1, 16, 40)
    assert keep[0, 0, 0:4, 20:40].eq(0).all() and keep.sum() == 16 * 40 - 4 * 20
    authors = torch.ones(64, 64)  # draw_masks_from_boxes, square: int(coord * size), 0 inside
    x0, y0, x1, y1 = (int(v * 64) for v in (0.13, 0.27, 0.61, 0.9))
    authors[y0:y1, x0:x1] = 0
    assert torch.equal(keep_mask_from_boxes(torch.tensor([[0.13, 0.27, 0.61, 0.9]]), (64, 64))[0, 0], authors)


def test_mask_keep_cells_repaint_any_cell_touched_and_the_extra_channels_are_the_authors_order() -> None:
    mask = torch.zeros(1, 32, 48)
    mask[0, 9, 17] = 1.0  # one pixel in latent cell (1, 2)
    keep = keep_mask_from_pixels(mask, (4, 6))
    assert keep[0, 0, 1, 2] == 0 and keep.sum() == 4 * 6 - 1
    z0 = torch.randn(1, 4, 4, 6)
    extra = inpaint_channels(z0, keep)
    torch.testing.assert_close(extra, torch.cat([z0 * keep, keep], dim=1))  # [z0 * mask | mask], mask 1 = keep
    x, known = torch.randn(1, 4, 4, 6), torch.randn(1, 4, 4, 6)
    torch.testing.assert_close(reimpose_known(x, known, keep), known * keep + (1 - keep) * x)


def test_inpainting_files_load_in_official_and_diffusers_layouts() -> None:
    from devkit.gligen_checkpoints import to_diffusers_layout

    state = variant_state_dict(SD15_BLOCKS[:2], "text-box", seed=1, inpainting=True)
    official = parse_gligen_state_dict(official_container(state), "gligen_inpainting_text_box.bin")
    assert official.inpainting and official.first_conv["weight"].shape == (320, 9, 3, 3)
    diffusers = to_diffusers_layout(state)
    diffusers["conv_in.weight"] = diffusers.pop("input_blocks.0.0.weight")
    diffusers["conv_in.bias"] = diffusers.pop("input_blocks.0.0.bias")
    parsed = parse_gligen_state_dict(diffusers, "diffusion_pytorch_model.safetensors")
    assert parsed.inpainting and parsed.layout == "diffusers"
    assert torch.equal(parsed.first_conv["weight"], official.first_conv["weight"])
    image = parse_gligen_state_dict(official_container(
        variant_state_dict(SD15_BLOCKS[:2], "text-image-box", seed=1, inpainting=True)), "inpaint_image.bin")
    assert image.inpainting and image.variant is Variant.TEXT_IMAGE_BOX


@pytest.mark.bad_input
def test_canny_and_depth_are_told_apart_by_config_then_name_then_the_users_choice() -> None:
    state = variant_state_dict(SD15_BLOCKS[:1], "canny", seed=1)
    config = {"_content": {"model": {"params": {"grounding_tokenizer": {
        "target": "ldm.modules.diffusionmodules.depth_grounding_net.PositionNet"}}}}}
    assert parse_gligen_state_dict(official_container(state, config), "diffusion_pytorch_model.bin").variant \
        is Variant.DEPTH
    assert parse_gligen_state_dict(official_container(state), "checkpoint_generation_canny.pth").variant \
        is Variant.CANNY
    text = message_for(lambda: parse_gligen_state_dict(official_container(state), "diffusion_pytorch_model.bin"))
    assert "canny or depth" in text and "set variant" in text
    chosen = parse_gligen_state_dict(official_container(state), "diffusion_pytorch_model.bin", Variant.DEPTH)
    assert chosen.variant is Variant.DEPTH
    wrong = message_for(lambda: parse_gligen_state_dict(official_container(state), "x.bin", Variant.NORMAL))
    assert "cannot be read as normal" in wrong


@pytest.mark.parametrize("variant", ["canny", "depth"])
def test_the_authors_whole_config_names_the_map_kind(variant: str) -> None:
    """Their config also holds keys like `transformer_depth` and a free-text run name: only the grounding
    modules' paths count."""
    state = variant_state_dict(SD15_BLOCKS[:1], variant, seed=1)
    config = official_config_dict(variant)
    config["_content"]["name"] = "canny_vs_depth"
    assert "transformer_depth" in config["_content"]["model"]["params"]
    parsed = parse_gligen_state_dict(official_container(state, config), "diffusion_pytorch_model.bin")
    assert parsed.variant is Variant(variant)


@pytest.mark.bad_input
def test_a_spatial_file_without_its_widened_first_conv_is_refused() -> None:
    state = variant_state_dict(SD15_BLOCKS[:1], "depth", seed=1)
    del state["input_blocks.0.0.weight"], state["input_blocks.0.0.bias"]
    text = message_for(lambda: parse_gligen_state_dict(state, "gligen_depth.safetensors"))
    assert "without its first UNet conv" in text and "12 input channels" in text


def test_default_schedules_are_the_authors_per_file() -> None:
    from gligen_suite.gligen_model import BetaSchedule

    assert loaded("hed")[0].default_schedule == BetaSchedule.phases(0.9, 0.0)
    assert loaded("canny")[0].default_schedule == BetaSchedule.phases(0.9, 0.0)
    for variant in ("depth", "normal", "semantic"):
        assert loaded(variant)[0].default_schedule == BetaSchedule.phases(0.7, 0.0)
    inpainting = parse_gligen_state_dict(official_container(
        variant_state_dict(SD15_BLOCKS[:1], "text-box", seed=1, inpainting=True)), "inpaint.bin")
    assert GligenModel(inpainting).default_schedule == BetaSchedule.constant()
