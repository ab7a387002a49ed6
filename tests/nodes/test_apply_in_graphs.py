"""Graph use, in ComfyUI's real sampler on the tiny SD1.5: area conditioning, guiders, stacked Apply nodes,
odd sizes, batches, other base-model families and CLIPs.

Each case either gives the right image (what reaches the UNet is checked directly) or a GligenInputError
whose message names the input and the fix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from devkit.gligen_checkpoints import SD15_BLOCKS, text_box_state_dict, variant_state_dict, write_safetensors
from devkit.in_process import TinyHost, encode_prompt, relative_tolerance, sample, token_tolerance
from devkit.input_errors import message_for
from devkit.pack import import_pack
from devkit.sd15_checkpoints import sd15_transformer_blocks

pytestmark = pytest.mark.bad_input

CANVAS = 256
OBJECTS = [  # on a 256 x 256 canvas: one box straddles the middle, one lies right, one left
    {"phrase": "a red cube", "box": [16, 32, 160, 224]},
    {"phrase": "a blue ball", "box": [136, 64, 240, 176]},
    {"phrase": "a small lamp", "box": [16, 16, 64, 64]},
]
# The same objects as the right half of the picture (x 128..256) sees them, on its own 128 x 256 canvas.
RIGHT_HALF = [{"phrase": "a red cube", "box": [0, 32, 32, 224]}, {"phrase": "a blue ball", "box": [8, 64, 112, 176]}]
LEFT_HALF = [{"phrase": "a red cube", "box": [16, 32, 128, 224]}, {"phrase": "a small lamp", "box": [16, 16, 64, 64]}]


def layout_json(objects: list[dict[str, Any]], width: int = CANVAS, height: int = CANVAS) -> str:
    return json.dumps({"version": 1, "width": width, "height": height, "objects": objects})


@pytest.fixture(scope="module")
def parts(host: TinyHost) -> dict[str, Any]:
    from gligen_suite.nodes.loader_node import load_gligen_patcher
    from gligen_suite.nodes.text_box_encode_node import encode_layout

    return {
        "gligen": load_gligen_patcher(str(host.gligen_path)),
        "grounding": encode_layout(host.clip, layout_json(OBJECTS)),
        "positive": encode_prompt(host.clip, "a red cube, a blue ball and a lamp"),
        "negative": encode_prompt(host.clip, "blurry"),
    }


def grounded(host: TinyHost, parts: dict[str, Any], model: Any = None, grounding: Any = None,
             gligen: Any = None) -> Any:
    from gligen_suite.gligen_model import BetaSchedule
    from gligen_suite.nodes.apply_node import apply_grounding

    return apply_grounding(host.model if model is None else model, gligen or parts["gligen"],
                           parts["grounding"] if grounding is None else grounding, BetaSchedule.constant())


class TokenRecorder:
    """Records, for every UNet call, each batch chunk's role and the grounding tokens it got."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from gligen_suite.nodes.patch.grounding_patch import GroundingPatch

        self.rows: list[tuple[Any, torch.Tensor]] = []
        self.calls: list[tuple[list[int], tuple[Any, ...]]] = []
        batched, roles = GroundingPatch.batched_tokens, GroundingPatch.chunk_roles

        def spy_batched(patch: Any, chunks: tuple[Any, ...], batch: int, *args: Any) -> Any:
            out = batched(patch, chunks, batch, *args)
            per_chunk = batch // len(chunks)
            self.rows += [(c, out[0][i * per_chunk].float().cpu()) for i, c in enumerate(chunks)]
            return out

        def spy_roles(patch: Any, options: dict[str, Any]) -> tuple[Any, ...]:
            out = roles(patch, options)
            self.calls.append((list(options["cond_or_uncond"]), out))
            return out

        monkeypatch.setattr(GroundingPatch, "batched_tokens", spy_batched)
        monkeypatch.setattr(GroundingPatch, "chunk_roles", spy_roles)

    def cond_rows(self, crop: Any) -> list[torch.Tensor]:
        return [row for role, row in self.rows if not role.uncond and role.crop == crop]


def expected_tokens(host: TinyHost, parts: dict[str, Any], objects: list[dict[str, Any]] | None, width: int,
                    height: int) -> torch.Tensor:
    from gligen_suite.nodes.text_box_encode_node import encode_layout

    gligen = parts["gligen"].model
    grounding = None if objects is None else encode_layout(host.clip, layout_json(objects, width, height))
    with torch.no_grad():
        return gligen.tokens_for(grounding)[0].float().cpu()


# ---- area conditioning -------------------------------------------------------------------------

def test_area_conditioning_sees_the_layout_through_its_window(host: TinyHost, parts: dict[str, Any],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """ConditioningSetArea runs the UNet on a crop: each crop gets the boxes in its own coordinates
    (clipped, re-normalized, objects outside dropped), the whole picture the layout as drawn, the
    negative null grounding. ComfyUI core normalizes absolute boxes by the crop instead (wrong boxes)."""
    import nodes as core_nodes

    recorder = TokenRecorder(monkeypatch)
    area = core_nodes.ConditioningSetArea()
    (left,) = area.append(parts["positive"], 64, 128, 0, 0, 1.0)    # pixels of a 128 x 128 picture
    (right,) = area.append(parts["positive"], 64, 128, 64, 0, 1.0)
    out = sample(grounded(host, parts), parts["positive"] + left + right, parts["negative"], width=128, height=128,
                 steps=2)
    assert torch.isfinite(out).all()

    right_rows, left_rows = recorder.cond_rows((0.5, 0.0, 1.0, 1.0)), recorder.cond_rows((0.0, 0.0, 0.5, 1.0))
    assert right_rows and left_rows and recorder.cond_rows(None)
    tolerance = token_tolerance(parts["gligen"].model.fusers[0].linear.weight.dtype)
    for rows, objects in ((right_rows, RIGHT_HALF), (left_rows, LEFT_HALF)):
        torch.testing.assert_close(rows[0], expected_tokens(host, parts, objects, CANVAS // 2, CANVAS), **tolerance)
    torch.testing.assert_close(recorder.cond_rows(None)[0], expected_tokens(host, parts, OBJECTS, CANVAS, CANVAS),
                               **tolerance)
    null = expected_tokens(host, parts, None, CANVAS, CANVAS)
    uncond = [row for role, row in recorder.rows if role.uncond]
    assert uncond
    for row in uncond:
        torch.testing.assert_close(row, null, **tolerance)
    # both windows have the same size, so ComfyUI batches them into one UNet call: one row each
    assert any({c.crop for c in chunks} >= {(0.5, 0.0, 1.0, 1.0), (0.0, 0.0, 0.5, 1.0)} for _, chunks in recorder.calls)


def test_area_in_percent_and_a_window_with_no_object(host: TinyHost, parts: dict[str, Any],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A window that holds no object gets the null tokens, so GLIGEN puts nothing there."""
    import nodes as core_nodes

    recorder = TokenRecorder(monkeypatch)
    lamp_free = layout_json([{"phrase": "a red cube", "box": [0, 0, 64, 64]}])
    from gligen_suite.nodes.text_box_encode_node import encode_layout

    grounding = encode_layout(host.clip, lamp_free)
    (corner,) = core_nodes.ConditioningSetAreaPercentage().append(parts["positive"], 0.5, 0.5, 0.5, 0.5, 1.0)
    sample(grounded(host, parts, grounding=grounding), corner, parts["negative"], width=128, height=128, steps=1)
    rows = recorder.cond_rows((0.5, 0.5, 1.0, 1.0))
    assert rows
    torch.testing.assert_close(rows[0], expected_tokens(host, parts, [], CANVAS, CANVAS),
                               **token_tolerance(parts["gligen"].model.fusers[0].linear.weight.dtype))


def test_a_window_keeps_each_objects_fields_together() -> None:
    """Cropping drops whole objects: phrase, features, image, masks and strength stay with their box; a
    style image (the authors' [0, 1, 0, 1]) has no place and stays; a pose keeps its persons, hiding joints
    outside the window."""
    import_pack()
    from gligen_suite.gligen_model.cropping import crop_grounding
    from gligen_suite.gligen_model.grounding import BoxGrounding, PoseGrounding
    from gligen_suite.gligen_model.layout import STYLE_BOX

    boxes = torch.tensor([[0.0, 0.0, 0.25, 0.5], [0.5, 0.25, 1.0, 0.75], STYLE_BOX, [0.25, 0.0, 0.75, 1.0]])
    grounding = BoxGrounding(("left", "right", "", "middle"), torch.arange(4.0)[:, None].repeat(1, 3), boxes,
                             image_embeddings=torch.arange(4.0)[:, None].repeat(1, 2) + 10,
                             text_mask=torch.tensor([1.0, 1, 0, 1]), image_mask=torch.tensor([0.0, 1, 1, 0]),
                             strengths=torch.tensor([1.0, 0.5, 2.0, 1.5]))
    right = crop_grounding(grounding, (0.5, 0.0, 1.0, 1.0))
    assert right.phrases == ("right", "", "middle")
    assert right.phrase_embeddings[:, 0].tolist() == [1.0, 2.0, 3.0]
    assert right.image_embeddings[:, 0].tolist() == [11.0, 12.0, 13.0]
    assert right.text_mask.tolist() == [1.0, 0.0, 1.0] and right.image_mask.tolist() == [1.0, 1.0, 0.0]
    assert right.strengths.tolist() == [0.5, 2.0, 1.5]
    assert right.boxes.tolist() == [[0.0, 0.25, 1.0, 0.75], list(STYLE_BOX), [0.0, 0.0, 0.5, 1.0]]
    points = torch.tensor([[[0.1, 0.1], [0.75, 0.5]]])
    pose = crop_grounding(PoseGrounding(points, torch.ones(1, 2), torch.tensor([0.5])), (0.5, 0.0, 1.0, 1.0))
    assert pose.visible.tolist() == [[0.0, 1.0]] and pose.points[0, 1].tolist() == [0.5, 0.5]
    assert pose.strengths.tolist() == [0.5]


def test_area_outside_the_picture_is_named(host: TinyHost, parts: dict[str, Any]) -> None:
    import nodes as core_nodes

    (outside,) = core_nodes.ConditioningSetArea().append(parts["positive"], 64, 64, 512, 0, 1.0)
    text = message_for(lambda: sample(grounded(host, parts), outside, parts["negative"], width=128, height=128,
                                      steps=1))
    assert "area of 64x64 pixels at x 512, y 0 lies outside the 128x128 picture: move it inside" in text


# ---- guiders and samplers that order the conditioning differently -----------------------------

def dual_cfg(model: Any, positive: list, other: list, negative: list) -> Any:
    from comfy_extras.nodes_custom_sampler import Guider_DualCFG

    guider = Guider_DualCFG(model)
    guider.set_conds(positive, other, negative)  # calc_cond_batch gets [negative, middle, positive]
    guider.set_cfg(5.0, 2.0)
    return guider


def perp_neg(model: Any, positive: list, other: list, negative: list) -> Any:
    from comfy_extras.nodes_perpneg import Guider_PerpNeg

    guider = Guider_PerpNeg(model)
    guider.set_conds(positive, negative, other)  # calc_cond_batch gets [positive, negative, empty]
    guider.set_cfg(5.0, 1.0)
    return guider


@pytest.mark.parametrize(("make_guider", "roles"), [
    (dual_cfg, {0: True, 1: True, 2: False}), (perp_neg, {0: False, 1: True, 2: True}),
], ids=["DualCFGGuider", "PerpNegGuider"])
def test_guiders_that_order_their_prompts_differently(host: TinyHost, parts: dict[str, Any], make_guider: Any,
                                                      roles: dict[int, bool], monkeypatch: pytest.MonkeyPatch) -> None:
    """cond_or_uncond is an index into the guider's own list: DualCFGGuider puts its negative first (and
    ComfyUI marks its middle prompt negative), PerpNegGuider adds an empty negative third. Every negative
    gets null grounding, every positive the layout."""
    import comfy.samplers

    recorder = TokenRecorder(monkeypatch)
    model = grounded(host, parts)
    guider = make_guider(model, parts["positive"], encode_prompt(host.clip, ""), parts["negative"])
    sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "normal", 2)
    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    out = guider.sample(noise, torch.zeros(1, 4, 8, 8), comfy.samplers.sampler_object("euler"), sigmas,
                        disable_pbar=True, seed=0)
    assert torch.isfinite(out).all() and recorder.calls
    for indices, chunk_roles in recorder.calls:
        assert {i: r.uncond for i, r in zip(indices, chunk_roles, strict=True)} == roles


# ---- two GLIGEN sources on one model -----------------------------------------------------------

def test_apply_twice_with_boxes_is_refused(host: TinyHost, parts: dict[str, Any]) -> None:
    once = grounded(host, parts)
    text = message_for(lambda: grounded(host, parts, model=once))
    assert "already went through a GLIGEN Apply (Suite) grounded on boxes" in text
    assert "'append_to'" in text and "use one GLIGEN Apply" in text


def test_box_and_keypoint_grounding_stack_and_same_kind_twice_is_refused(host: TinyHost, parts: dict[str, Any],
                                                                        tmp_path: Path) -> None:
    """Different kinds (boxes, poses) have their own fusers and may be stacked; two pose layouts may not."""
    from gligen_suite.nodes.loader_node import load_gligen_patcher
    from gligen_suite.nodes.pose_encode_node import default_pose_layout_json, encode_poses

    state = variant_state_dict(sd15_transformer_blocks(True), "keypoint", seed=3)
    keypoint = load_gligen_patcher(str(write_safetensors(state, tmp_path / "kp.safetensors")))
    poses = encode_poses(default_pose_layout_json())
    boxes_only = grounded(host, parts)
    both = grounded(host, parts, model=boxes_only, grounding=poses, gligen=keypoint)
    assert len(both.get_additional_models_with_key("gligen_suite")) == 2
    a, b = (sample(m, parts["positive"], parts["negative"], width=64, height=64, steps=2) for m in (boxes_only, both))
    assert torch.isfinite(b).all() and (a - b).abs().max() > 1e-3
    text = message_for(lambda: grounded(host, parts, model=both, grounding=poses, gligen=keypoint))
    assert "grounded on poses" in text and "one GLIGEN Pose Encode" in text


def test_core_gligen_conditioning_on_our_model_is_refused(host: TinyHost, parts: dict[str, Any]) -> None:
    import folder_paths

    import nodes as core_nodes

    folder_paths.add_model_folder_path("gligen", str(host.gligen_path.parent))
    (core_gligen,) = core_nodes.GLIGENLoader().load_gligen(host.gligen_path.name)
    (positive,) = core_nodes.GLIGENTextBoxApply().append(parts["positive"], host.clip, core_gligen, "a cube",
                                                           64, 64, 0, 0)
    text = message_for(lambda: sample(grounded(host, parts), positive, parts["negative"], width=64, height=64,
                                      steps=1))
    assert "built-in GLIGEN boxes (GLIGENTextBoxApply)" in text and "Use one of them" in text


# ---- sizes and batches -------------------------------------------------------------------------

def test_odd_latent_sizes_and_a_batch_of_three(host: TinyHost, parts: dict[str, Any]) -> None:
    """200 x 136 pixels is a 25 x 17 latent (odd: the UNet pads when it upsamples); each batch row matches
    the same noise run alone."""
    import comfy.sample

    model = grounded(host, parts)
    noise = comfy.sample.prepare_noise(torch.zeros(3, 4, 17, 25), 9)
    batch = sample(model, parts["positive"], parts["negative"], width=200, height=136, batch=3, noise=noise, steps=2)
    single = sample(model, parts["positive"], parts["negative"], width=200, height=136, noise=noise[2:], steps=2)
    plain = sample(host.model, parts["positive"], parts["negative"], width=200, height=136, noise=noise[2:], steps=2)
    assert batch.shape == (3, 4, 17, 25) and torch.isfinite(batch).all()
    assert (batch[2:] - single).abs().max() <= relative_tolerance(host.model) * single.abs().max()
    assert (single - plain).abs().max() > 1e-3


# ---- other base models and CLIPs ---------------------------------------------------------------

@pytest.mark.parametrize(("family", "named"), [
    ("SD20", "SD2.x (context 1024, 16 transformer blocks)"),
    ("SDXL", "SDXL (context 2048, 70 transformer blocks)"),
    ("SD15", "SD1.x (context 768, 16 transformer blocks)"),  # the tiny GLIGEN file on a full-size SD1.5
])
def test_gligen_on_another_unet_family_names_both_models(host: TinyHost, parts: dict[str, Any], family: str,
                                                         named: str) -> None:
    from devkit.meta_models import meta_unet_model

    text = message_for(lambda: grounded(host, parts, model=meta_unet_model(family)))
    assert named in text and "gligen_tiny_textbox.safetensors: GLIGEN text-box, 7 fusers" in text
    assert "Use the GLIGEN file made for your base model" in text


def test_gligen_on_a_transformer_model_without_unet_blocks(host: TinyHost, parts: dict[str, Any]) -> None:
    from devkit.meta_models import meta_sd3_model

    text = message_for(lambda: grounded(host, parts, model=meta_sd3_model()))
    assert "no UNet transformer blocks" in text and "use an SD1.x checkpoint" in text


def test_full_size_gligen_file_fits_the_full_size_sd15_layout(parts: dict[str, Any], tmp_path: Path) -> None:
    """The counterpart of the refusals above: the published 16-fuser layout on ComfyUI's SD1.5 UNet is accepted."""
    from gligen_suite.nodes.loader_node import load_gligen_patcher

    from devkit.meta_models import meta_unet_model

    full = load_gligen_patcher(str(write_safetensors(text_box_state_dict(SD15_BLOCKS), tmp_path / "f.safetensors")))
    from gligen_suite.gligen_model import BetaSchedule
    from gligen_suite.nodes.apply_node import apply_grounding

    patched = apply_grounding(meta_unet_model("SD15"), full, parts["grounding"], BetaSchedule.constant())
    assert patched.get_additional_models_with_key("gligen_suite") == [full]


@pytest.mark.parametrize(("kind", "encoders"), [("flux", "['l', 't5xxl']"), ("sd3", "['g', 'l', 't5xxl']")])
def test_phrases_encoded_by_another_clip_are_refused(kind: str, encoders: str) -> None:
    """SD1.x, SD2.x and SDXL CLIPs are encoded (tests/nodes/test_phrase_features.py); others are refused."""
    from gligen_suite.nodes.text_box_encode_node import encode_layout

    from devkit.text_encoder_checkpoints import meta_other_clip

    text = message_for(lambda: encode_layout(meta_other_clip(kind), layout_json(OBJECTS)))
    assert f"text encoders {encoders}" in text
    assert "Connect the CLIP of the base model the GLIGEN file is for to the encode node" in text
