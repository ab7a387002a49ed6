"""Reference images and style images (text-image-box checkpoints) through the real host pieces.

A random CLIP ViT-L/14 is loaded by ComfyUI's own CLIPVisionLoader; the text projection comes
from a clip_l-like file or from the GLIGEN file; tokens are checked against the published recipe
(image_embeds @ P, renormalized to 28.7, text/image masks) and against diffusers' modules.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from devkit.clip_vision_checkpoints import cached_vit_l14_file, random_text_projection, write_clip_l_text_encoder
from devkit.gligen_checkpoints import variant_state_dict, write_safetensors
from devkit.in_process import TinyHost, encode_prompt, sample
from devkit.input_errors import message_for
from devkit.sd15_checkpoints import sd15_transformer_blocks

IMAGE_LAYOUT = {"version": 1, "width": 256, "height": 256, "objects": [
    {"phrase": "a red cube", "box": [16, 32, 128, 224], "image": 1},   # phrase + image
    {"image": 0, "box": [136, 64, 240, 176], "strength": 1.0},         # image only, placed
    {"image": 1},                                                      # style: no phrase, no box
    {"phrase": "a blue ball", "box": [140, 180, 250, 250]},            # phrase only
]}


def layout_text(objects: list[dict] | None = None) -> str:
    return json.dumps(IMAGE_LAYOUT if objects is None else {**IMAGE_LAYOUT, "objects": objects})


@pytest.fixture(scope="module")
def clip_vision(host: TinyHost) -> Any:
    import folder_paths

    import nodes as core_nodes

    path = cached_vit_l14_file()
    folder_paths.add_model_folder_path("clip_vision", str(path.parent))
    return core_nodes.CLIPVisionLoader().load_clip(path.name)[0]


@pytest.fixture(scope="module")
def projection() -> torch.Tensor:
    return random_text_projection(seed=1)


@pytest.fixture(scope="module")
def text_image_files(host: TinyHost, projection: torch.Tensor) -> dict[str, Path]:
    folder = host.gligen_path.parent
    state = variant_state_dict(sd15_transformer_blocks(True), "text-image-box", seed=5)
    with_projection = {**state, "image_project.project.weight": projection.T.contiguous()}  # diffusers: P^T
    return {"plain": write_safetensors(state, folder / "text_image.safetensors"),
            "with_projection": write_safetensors(with_projection, folder / "text_image_projection.safetensors"),
            "clip_l": write_clip_l_text_encoder(folder / "clip_l.safetensors", projection)}


@pytest.fixture(scope="module")
def text_image_gligen(text_image_files: dict[str, Path]) -> Any:
    from gligen_suite.nodes.loader_node import load_gligen_patcher

    return load_gligen_patcher(str(text_image_files["plain"]), str(text_image_files["clip_l"]))


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    gen = torch.Generator().manual_seed(3)
    return torch.rand(2, 96, 128, 3, generator=gen)


def encode(host: TinyHost, clip_vision: Any, images: torch.Tensor, text: str | None = None,
           crop: bool = False) -> Any:
    from gligen_suite.nodes.text_box_encode_node import encode_layout

    return encode_layout(host.clip, text or layout_text(), None, clip_vision, images, crop)


@pytest.fixture(scope="module")
def grounding(host: TinyHost, clip_vision: Any, images: torch.Tensor) -> Any:
    """IMAGE_LAYOUT encoded once (each CLIP ViT-L call takes seconds on the CPU)."""
    return encode(host, clip_vision, images)


def published_image_feature(clip_vision: Any, image: torch.Tensor, projection: torch.Tensor) -> torch.Tensor:
    """The authors' recipe: CLIP image_embeds @ P, renormalized to 28.7 (the authors' dataset/tsv_dataset.py)."""
    with torch.no_grad():
        embeds = clip_vision.encode_image(image[None], crop=True)["image_embeds"].float()
    projected = embeds @ projection
    return (projected / projected.norm(dim=-1, keepdim=True) * 28.7)[0]


def test_the_random_vit_l14_loads_through_the_host_loader(clip_vision: Any) -> None:
    from gligen_suite.nodes.encoders.images import VIT_L14, VisionTower, check_vit_l14, vision_tower

    assert vision_tower(clip_vision) == VisionTower(**VIT_L14)
    check_vit_l14(clip_vision)
    with torch.no_grad():
        embeds = clip_vision.encode_image(torch.rand(1, 64, 64, 3))["image_embeds"]
    assert embeds.shape == (1, 768) and torch.isfinite(embeds).all() and embeds.std() > 0


def test_image_tokens_follow_the_published_recipe(host: TinyHost, clip_vision: Any, images: torch.Tensor,
                                                  projection: torch.Tensor, text_image_gligen: Any,
                                                  grounding: Any) -> None:
    from gligen_suite.gligen_model.layout import STYLE_BOX

    model = text_image_gligen.model
    assert grounding.text_mask.tolist() == [1, 0, 0, 1] and grounding.image_mask.tolist() == [1, 1, 1, 0]
    assert tuple(grounding.boxes[2].tolist()) == STYLE_BOX
    # the same inputs built by hand, slot by slot, as the authors' prepare_batch does
    n, phrase_rows = 30, {0: "a red cube", 3: "a blue ball"}
    boxes, masks = torch.zeros(1, n, 4), torch.zeros(1, n)
    text_masks, image_masks = torch.zeros(1, n), torch.zeros(1, n)
    text, image = torch.zeros(1, n, 768), torch.zeros(1, n, 768)
    for i, obj in enumerate(IMAGE_LAYOUT["objects"]):
        masks[0, i] = 1
        boxes[0, i] = torch.tensor(STYLE_BOX if "box" not in obj else [v / 256 for v in obj["box"]])
        if i in phrase_rows:
            text_masks[0, i] = 1
            text[0, i] = host.clip.encode_from_tokens(host.clip.tokenize(phrase_rows[i]),
                                                      return_pooled="unprojected")[1][0].float()
        if "image" in obj:
            image_masks[0, i] = 1
            image[0, i] = published_image_feature(clip_vision, images[obj["image"]], projection)
    device, dtype = next(model.parameters()).device, next(model.parameters()).dtype
    with torch.no_grad():
        inputs = (t.to(device, dtype) for t in (boxes, masks, text_masks, image_masks, text, image))
        expected = model.position_net(*inputs).float().cpu()
        got = model.tokens_for(grounding).float().cpu()
    assert got.shape == (1, 60, 768)
    tolerance = 1e-4 if dtype == torch.float32 else 2e-2  # fp16 on a GPU: image features rounded before the MLP
    torch.testing.assert_close(got, expected, rtol=tolerance, atol=tolerance)


def test_projection_in_the_gligen_file_equals_projection_from_a_clip_l_file(
        text_image_files: dict[str, Path], text_image_gligen: Any, grounding: Any) -> None:
    from gligen_suite.nodes.loader_node import load_gligen_patcher

    in_file = load_gligen_patcher(str(text_image_files["with_projection"]))
    with torch.no_grad():
        torch.testing.assert_close(in_file.model.tokens_for(grounding), text_image_gligen.model.tokens_for(grounding))


def test_crop_to_box_embeds_only_the_box_region(host: TinyHost, clip_vision: Any, images: torch.Tensor,
                                                grounding: Any) -> None:
    objects = [{"phrase": "a red cube", "box": [64, 32, 192, 160], "image": 1}]
    cropped = encode(host, clip_vision, images, layout_text(objects), crop=True)
    with torch.no_grad():  # box [64, 32, 192, 160] of 256 -> columns 32..96 and rows 12..60 of the 96 x 128 image
        expected = clip_vision.encode_image(images[1:2, 12:60, 32:96], crop=True)["image_embeds"].float()
    torch.testing.assert_close(cropped.image_embeddings, expected, rtol=1e-5, atol=1e-5)
    whole_image_1 = grounding.image_embeddings[0]  # object 1 of IMAGE_LAYOUT: image 1, not cropped
    assert (cropped.image_embeddings[0] - whole_image_1).abs().max() > 1e-4


def test_reference_images_change_the_sampled_image(host: TinyHost, clip_vision: Any, images: torch.Tensor,
                                                   text_image_gligen: Any) -> None:
    from gligen_suite.gligen_model import BetaSchedule
    from gligen_suite.nodes.apply_node import apply_grounding

    positive, negative = encode_prompt(host.clip, "a red cube and a blue ball"), encode_prompt(host.clip, "blurry")
    phrases_only = encode(host, clip_vision, images, layout_text([{"phrase": "a red cube", "box": [16, 32, 128, 224]}]))
    with_image = encode(host, clip_vision, images,
                        layout_text([{"phrase": "a red cube", "box": [16, 32, 128, 224], "image": 0}]))
    runs = {}
    for name, grounded in (("phrases", phrases_only), ("image", with_image)):
        model = apply_grounding(host.model, text_image_gligen, grounded, BetaSchedule.constant())
        runs[name] = sample(model, positive, negative, width=128, height=128, steps=3)
    assert torch.isfinite(runs["image"]).all()
    assert (runs["image"] - runs["phrases"]).abs().max() > 1e-3
    idle = apply_grounding(host.model, text_image_gligen, with_image, BetaSchedule.constant(0.0))
    plain = sample(host.model, positive, negative, width=128, height=128, steps=3)
    assert torch.equal(sample(idle, positive, negative, width=128, height=128, steps=3), plain)


@pytest.mark.parity
def test_image_tokens_match_diffusers_text_image_modules(projection: torch.Tensor, text_image_gligen: Any,
                                                         grounding: Any) -> None:
    from diffusers.models.embeddings import GLIGENTextBoundingboxProjection
    from diffusers.pipelines.stable_diffusion.clip_image_project_model import CLIPImageProjection

    model = text_image_gligen.model
    theirs = GLIGENTextBoundingboxProjection(positive_len=768, out_dim=768, feature_type="text-image")
    theirs.load_state_dict({k: v.float() for k, v in model.position_net.state_dict().items()}, strict=True)
    project = CLIPImageProjection(hidden_size=768)
    project.project.weight.data = projection.T.contiguous()  # what diffusers' image_project stores
    n = len(grounding)
    # the diffusers text-image pipeline: image_embeds -> image_project -> / norm * 28.7, padded to 30 slots
    with torch.no_grad():
        projected = project(grounding.image_embeddings)
    projected = projected / projected.norm(dim=-1, keepdim=True) * 28.7
    projected = torch.where(grounding.image_mask[:, None] > 0, projected, 0.0)  # rows without an image: 0 / 0

    def pad(t: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(1, 30, *t.shape[1:])
        out[0, :n] = t
        return out

    with torch.no_grad():
        expected = theirs(boxes=pad(grounding.boxes), masks=pad(torch.ones(n)), phrases_masks=pad(grounding.text_mask),
                          image_masks=pad(grounding.image_mask), phrases_embeddings=pad(grounding.phrase_embeddings),
                          image_embeddings=pad(projected))
        got = model.tokens_for(grounding).float().cpu()
    tolerance = 1e-4 if next(model.parameters()).dtype == torch.float32 else 5e-2  # fp16 on a GPU
    assert (got - expected).abs().max() <= tolerance


# ---- bad input --------------------------------------------------------------------------------


@pytest.mark.bad_input
def test_image_objects_without_clip_vision_or_images_or_with_a_bad_index(host: TinyHost, clip_vision: Any,
                                                                          images: torch.Tensor) -> None:
    from gligen_suite.nodes.text_box_encode_node import encode_layout

    text = layout_text()
    assert "no CLIP_VISION input" in message_for(lambda: encode_layout(host.clip, text, None, None, images))
    assert "Load CLIP Vision" in message_for(lambda: encode_layout(host.clip, text, None, None, images))
    assert "no IMAGE input" in message_for(lambda: encode_layout(host.clip, text, None, clip_vision, None))
    bad_index = layout_text([{"phrase": "a cat", "box": [0, 0, 64, 64], "image": 2}])
    message = message_for(lambda: encode_layout(host.clip, bad_index, None, clip_vision, images))
    assert "image 2" in message and "holds 2 image(s), numbered 0 to 1" in message


@pytest.mark.bad_input
def test_a_clip_vision_that_is_not_vit_l14_is_refused() -> None:
    import comfy.clip_vision
    from gligen_suite.nodes.encoders.images import check_vit_l14

    from devkit.comfy_host import comfy_path

    vit_h = comfy.clip_vision.ClipVisionModel(str(comfy_path() / "comfy" / "clip_vision_config_h.json"))
    message = message_for(lambda: check_vit_l14(vit_h))
    assert "not CLIP ViT-L/14" in message and "width 1280, 32 layers" in message and "image_embeds of 1024" in message
    assert "openai/clip-vit-large-patch14" in message


@pytest.mark.bad_input
def test_reference_images_for_a_text_box_file_or_without_a_projection(
        host: TinyHost, clip_vision: Any, images: torch.Tensor, text_image_files: dict[str, Path],
        grounding: Any) -> None:
    from gligen_suite.gligen_model import BetaSchedule
    from gligen_suite.nodes.apply_node import apply_grounding
    from gligen_suite.nodes.loader_node import load_gligen_patcher

    text_box = load_gligen_patcher(str(host.gligen_path))
    message = message_for(lambda: apply_grounding(host.model, text_box, grounding, BetaSchedule.constant()))
    assert "only the text-image-box" in message and "remove its \"image\"" in message
    no_projection = load_gligen_patcher(str(text_image_files["plain"]))
    message = message_for(lambda: apply_grounding(host.model, no_projection, grounding, BetaSchedule.constant()))
    assert "text projection" in message and "image_projection" in message and "clip_l.safetensors" in message
    phrases_only = encode(host, clip_vision, images, layout_text([{"phrase": "a cat", "box": [0, 0, 64, 64]}]))
    apply_grounding(host.model, no_projection, phrases_only, BetaSchedule.constant())  # phrases need no projection


@pytest.mark.bad_input
def test_a_projection_file_without_a_projection_is_refused(tmp_path: Path, host: TinyHost) -> None:
    from gligen_suite.gligen_model.image_projection import load_text_projection

    wrong = write_safetensors({"text_projection.weight": torch.zeros(1280, 1280)}, tmp_path / "clip_g.safetensors")
    message = message_for(lambda: load_text_projection(wrong))
    assert "'clip_g.safetensors' holds no CLIP-L text projection" in message and "clip_l.safetensors" in message
    assert "holds no CLIP-L" in message_for(lambda: load_text_projection(host.gligen_path))


@pytest.mark.bad_input
def test_odd_reference_pixels(host: TinyHost, clip_vision: Any, images: torch.Tensor) -> None:
    """RGBA and grey images are read as RGB; NaN pixels and non-IMAGE tensors are refused; a box under one
    pixel of the reference image still embeds one pixel."""
    from gligen_suite.nodes.text_box_encode_node import encode_layout

    text = layout_text([{"phrase": "a cat", "box": [0, 0, 1, 1], "image": 0}])
    crop = encode_layout(host.clip, text, None, clip_vision, images[:1], True)
    with torch.no_grad():
        one_pixel = clip_vision.encode_image(images[:1, :1, :1], crop=True)["image_embeds"].float()
    torch.testing.assert_close(crop.image_embeddings, one_pixel, rtol=1e-5, atol=1e-5)
    rgba = torch.cat([images[:1], torch.ones(1, 96, 128, 1)], dim=-1)
    grey = images[:1].mean(dim=-1, keepdim=True)
    assert torch.equal(encode(host, clip_vision, rgba, text).image_embeddings,
                       encode(host, clip_vision, images[:1], text).image_embeddings)
    with torch.no_grad():
        expected_grey = clip_vision.encode_image(grey.expand(1, 96, 128, 3), crop=True)["image_embeds"].float()
    torch.testing.assert_close(encode(host, clip_vision, grey, text).image_embeddings, expected_grey)
    broken = images[:1].clone()
    broken[0, 5, 5, 1] = float("nan")
    assert "contains NaN or infinite pixels" in message_for(lambda: encode(host, clip_vision, broken, text))
    mask_like = torch.rand(1, 96, 128)
    assert "must be a ComfyUI IMAGE batch" in message_for(lambda: encode(host, clip_vision, mask_like, text))


@pytest.mark.bad_input
def test_the_336_px_vit_l14_is_refused() -> None:
    import comfy.clip_vision
    from gligen_suite.nodes.encoders.images import check_vit_l14

    from devkit.comfy_host import comfy_path

    vit_l_336 = comfy.clip_vision.ClipVisionModel(str(comfy_path() / "comfy" / "clip_vision_config_vitl_336.json"))
    message = message_for(lambda: check_vit_l14(vit_l_336))
    assert "336 px" in message and "not CLIP ViT-L/14 at 224 px" in message
