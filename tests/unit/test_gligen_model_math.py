"""Pure-PyTorch pieces against hand-written formulas from the paper and the official code."""

from __future__ import annotations

import math
import re

import pytest
import torch

from devkit.gligen_checkpoints import SD15_BLOCKS, text_box_state_dict, variant_state_dict
from devkit.pack import import_pack

import_pack()
from gligen_suite.gligen_model import (  # noqa: E402
    BetaSchedule,
    GligenModel,
    fourier_embed,
    parse_gligen_state_dict,
    step_of_sigma,
)


@pytest.fixture(scope="module")
def tiny_model() -> GligenModel:
    blocks = [("input_blocks.1.1", 320), ("middle_block.1", 640), ("output_blocks.3.1", 320)]
    return GligenModel(parse_gligen_state_dict(text_box_state_dict(blocks, seed=1), "tiny.safetensors"))


def test_fourier_embedding_matches_official_ordering() -> None:
    box = torch.tensor([0.1, 0.2, 0.7, 0.9])
    expected = []
    for k in range(8):  # official FourierEmbedder: for each freq, cat(sin(f*x), cos(f*x)) over xyxy
        f = 100 ** (k / 8)
        expected += [math.sin(f * v) for v in box.tolist()] + [math.cos(f * v) for v in box.tolist()]
    torch.testing.assert_close(fourier_embed(box), torch.tensor(expected), rtol=1e-5, atol=1e-6)


def test_fuser_with_beta_zero_is_identity(tiny_model: GligenModel) -> None:
    x = torch.randn(2, 16, 320)
    objs = torch.randn(2, 30, 768)
    assert torch.equal(tiny_model.fusers[0](x, objs, 0.0, 8), x)


def test_fuser_output_scales_linearly_in_beta_for_attention_gate(tiny_model: GligenModel) -> None:
    fuser = tiny_model.fusers[0]
    assert fuser.gates == (math.tanh(fuser.alpha_attn.item()), math.tanh(fuser.alpha_dense.item()))
    with torch.no_grad():
        fuser.alpha_dense.zero_()  # isolate the attention branch: x + beta * tanh(a) * attn(...)
    fuser.freeze_gates()  # the model reads its gates once, at load
    x, objs = torch.randn(1, 16, 320), torch.randn(1, 30, 768)
    d1 = fuser(x, objs, 1.0, 8) - x
    d05 = fuser(x, objs, 0.5, 8) - x
    torch.testing.assert_close(d05, 0.5 * d1, rtol=1e-4, atol=1e-6)
    assert d1.abs().max() > 1e-3


def test_padded_slots_become_the_learned_null_token(tiny_model: GligenModel) -> None:
    from gligen_suite.gligen_model.grounding import BoxGrounding

    tokens = tiny_model.tokens_for(BoxGrounding(("a cat",), torch.randn(1, 768), torch.tensor([[0.1, 0.1, 0.5, 0.6]])))
    null = tiny_model.tokens_for(None)
    assert tokens.shape == null.shape == (1, 30, 768)
    torch.testing.assert_close(tokens[0, 1:], null[0, 1:])
    assert not torch.allclose(tokens[0, 0], null[0, 0])
    pn = tiny_model.position_net
    by_hand = pn.linears(torch.cat([pn.null_positive_feature, pn.null_position_feature]))
    torch.testing.assert_close(null[0, 0], by_hand)


def test_query_rows_only_for_visual_tokens_equals_full_self_attention(tiny_model: GligenModel) -> None:
    """Our fuser skips queries of grounding tokens; the kept rows must equal the full computation."""
    fuser = tiny_model.fusers[0]
    x, objs = torch.randn(2, 10, 320), torch.randn(2, 30, 768)
    h = fuser.norm1(torch.cat([x, fuser.linear(objs)], dim=1))
    q, k, v = fuser.attn.to_q(h), fuser.attn.to_k(h), fuser.attn.to_v(h)
    heads, d = 8, 40
    attn = torch.softmax((q.view(2, -1, heads, d).transpose(1, 2) @ k.view(2, -1, heads, d).transpose(1, 2)
                          .transpose(-1, -2)) / math.sqrt(d), dim=-1) @ v.view(2, -1, heads, d).transpose(1, 2)
    full = fuser.attn.to_out(attn.transpose(1, 2).reshape(2, -1, 320))[:, :10]
    x1 = x + torch.tanh(fuser.alpha_attn) * full
    expected = x1 + torch.tanh(fuser.alpha_dense) * fuser.ff(fuser.norm2(x1))
    torch.testing.assert_close(fuser(x, objs, 1.0, heads), expected, rtol=1e-4, atol=1e-5)


def official_alpha_generator(length: int, alpha_type: list[float]) -> list[float]:
    """Transcription of the authors' alpha_generator (gligen_inference.py)."""
    stage0, stage1 = int(alpha_type[0] * length), int(alpha_type[1] * length)
    stage2 = length - stage0 - stage1
    decay = [x / stage1 for x in range(stage1)][::-1] if stage1 else []
    return [1.0] * stage0 + decay + [0.0] * stage2


@pytest.mark.parametrize("steps", [1, 7, 20, 25, 50])
@pytest.mark.parametrize("alpha_type", [[0.3, 0.0, 0.7], [0.3, 0.4, 0.3], [1.0, 0.0, 0.0], [0.0, 0.5, 0.5]])
def test_phases_schedule_reproduces_official_alpha_type(steps: int, alpha_type: list[float]) -> None:
    schedule = BetaSchedule.phases(alpha_type[0], alpha_type[1])
    ours = [schedule.beta_at(i, steps) for i in range(steps)]
    official = official_alpha_generator(steps, alpha_type)
    if alpha_type[0] > 0 and int(alpha_type[0] * steps) == 0:
        # The authors' rounding grounds no step at all here; we ground the first one.
        assert ours[0] == 1.0 and ours[1:] == pytest.approx(official[1:])
    else:
        assert ours == pytest.approx(official)


def test_hard_cut_matches_diffusers_num_grounding_steps() -> None:
    assert BetaSchedule.hard_cut(0.3).steps_with_grounding(3) == 1  # diffusers: int(0.9) = 0 steps
    assert BetaSchedule.hard_cut(0.0).steps_with_grounding(3) == 0
    for steps in (10, 20, 30, 50):
        schedule = BetaSchedule.hard_cut(0.3)
        assert schedule.steps_with_grounding(steps) == int(0.3 * steps)
        assert schedule.beta_at(int(0.3 * steps) - 1, steps) == 1.0


def test_curve_spreads_values_over_steps_and_strength_multiplies() -> None:
    schedule = BetaSchedule.curve([1.0, 0.5], strength=2.0)
    assert [schedule.beta_at(i, 4) for i in range(4)] == [2.0, 2.0, 1.0, 1.0]
    assert [BetaSchedule.curve([0.9, 0.1, 0.0]).beta_at(i, 3) for i in range(3)] == [0.9, 0.1, 0.0]


@pytest.mark.bad_input
def test_curve_values_and_strength_are_bounded_where_schedules_are_made() -> None:
    """1e30 used to run (a NaN image); the bounds hold for schedules built in code too, not only in the node."""
    from gligen_suite.gligen_model import GligenInputError

    for values, strength, needle in (([1.0, 1e30], 1.0, "invalid values [1e+30]: use numbers from 0 to 2"),
                                     ([1.0] * 10_001, 1.0, "10,001 values; the limit is 10,000"),
                                     ([1.0], 2.5, "strength 2.5 is invalid: use a number from 0 to 2")):
        with pytest.raises(GligenInputError, match=re.escape(needle)):
            BetaSchedule.curve(values, strength)
    assert BetaSchedule.curve([2.0, 0.0], 2.0).beta_at(0, 2) == 4.0


def test_step_of_sigma_handles_exact_and_intermediate_sigmas() -> None:
    sigmas = [14.6, 10.0, 5.0, 2.0, 0.0]
    assert [step_of_sigma(s, sigmas) for s in sigmas] == [0, 1, 2, 3, 3]
    assert step_of_sigma(7.0, sigmas) == 1   # a Heun/DPM-2 midpoint between sigma_1 and sigma_2
    assert step_of_sigma(20.0, sigmas) == 0  # above the schedule (e.g. a noise-augmenting sampler)


def test_full_size_file_has_the_published_parameter_count() -> None:
    model = GligenModel(parse_gligen_state_dict(text_box_state_dict(SD15_BLOCKS), "full"))
    assert sum(p.numel() for p in model.parameters()) == 209_102_240


# ---- per-object strength: an additive attention logit log(strength) on the object's tokens -------

def test_strength_two_equals_the_token_attended_twice(tiny_model: GligenModel) -> None:
    fuser = tiny_model.fusers[0]
    gen = torch.Generator().manual_seed(2)
    x, objs = torch.randn(1, 16, 320, generator=gen), torch.randn(1, 5, 768, generator=gen)
    bias = torch.zeros(1, 5)
    bias[0, 1] = math.log(2.0)
    duplicated = torch.cat([objs, objs[:, 1:2]], dim=1)  # softmax over [.., t, .., t] = weight 2 on t
    with torch.no_grad():
        torch.testing.assert_close(fuser(x, objs, 1.0, 8, bias), fuser(x, duplicated, 1.0, 8), rtol=1e-4, atol=1e-5)


def test_zero_strength_tokens_are_not_attended(tiny_model: GligenModel) -> None:
    from gligen_suite.gligen_model.model import ZERO_STRENGTH_BIAS

    fuser = tiny_model.fusers[0]
    gen = torch.Generator().manual_seed(3)
    x, objs = torch.randn(2, 16, 320, generator=gen), torch.randn(2, 5, 768, generator=gen)
    bias = torch.zeros(2, 5)
    bias[:, 3:] = ZERO_STRENGTH_BIAS
    with torch.no_grad():
        torch.testing.assert_close(fuser(x, objs, 1.0, 8, bias), fuser(x, objs[:, :3], 1.0, 8), rtol=1e-4, atol=1e-5)
        assert (fuser(x, objs, 1.0, 8, bias) - fuser(x, objs, 1.0, 8)).abs().max() > 1e-4


def test_token_bias_covers_each_objects_tokens(tiny_model: GligenModel) -> None:
    from gligen_suite.gligen_model.grounding import BoxGrounding, PoseGrounding
    from gligen_suite.gligen_model.model import ZERO_STRENGTH_BIAS

    def boxes(strengths: list[float]) -> BoxGrounding:
        n = len(strengths)
        return BoxGrounding(("x",) * n, torch.zeros(n, 768), torch.zeros(n, 4), strengths=torch.tensor(strengths))

    assert tiny_model.token_bias(boxes([1.0, 1.0])) is None  # all 1: no bias, the unmasked kernel path
    bias = tiny_model.token_bias(boxes([2.0, 0.0, 1.0]))
    assert bias.shape == (1, 30)
    torch.testing.assert_close(bias[0, :4], torch.tensor([math.log(2.0), ZERO_STRENGTH_BIAS, 0.0, 0.0]))
    keypoint = GligenModel(parse_gligen_state_dict(
        variant_state_dict([("input_blocks.1.1", 320)], "keypoint", seed=2), "kp.safetensors"))
    poses = PoseGrounding(torch.zeros(2, 17, 2), torch.ones(2, 17), torch.tensor([1.0, 0.5]))
    bias = keypoint.token_bias(poses)
    assert bias.shape == (1, 136) and bias[0, :17].eq(0).all() and bias[0, 34:].eq(0).all()
    torch.testing.assert_close(bias[0, 17:34], torch.full((17,), math.log(0.5)))
    text_image = GligenModel(parse_gligen_state_dict(
        variant_state_dict([("input_blocks.1.1", 320)], "text-image-box", seed=2), "ti.safetensors"))
    bias = text_image.token_bias(boxes([3.0]))
    assert bias.shape == (1, 60) and bias[0, 0] == bias[0, 30] == math.log(3.0)


def test_constant_schedules_are_recognised() -> None:
    assert BetaSchedule.constant(0.7).constant_value == 0.7
    assert BetaSchedule.curve([0.5, 0.5]).constant_value == 0.5
    assert BetaSchedule.phases(0.0, 0.0).constant_value == 0.0
    assert BetaSchedule.hard_cut(0.3).constant_value is None
    assert BetaSchedule.phases(0.0, 0.5).constant_value is None
    assert BetaSchedule.curve([1, 0]).constant_value is None
    for schedule in (BetaSchedule.constant(0.7), BetaSchedule.curve([0.5, 0.5]), BetaSchedule.phases(0.0, 0.0)):
        assert {schedule.beta_at(i, n) for n in (1, 3, 50) for i in range(n)} == {schedule.constant_value}
