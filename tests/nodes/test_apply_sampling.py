"""Our nodes inside ComfyUI's real sampler, on a tiny random SD1.5: exactness, schedule, CFG, batching."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from devkit.in_process import TinyHost, encode_prompt, relative_tolerance, sample
from devkit.input_errors import message_for

LAYOUT = json.dumps({"version": 1, "width": 256, "height": 256, "objects": [
    {"phrase": "a red cube", "box": [16, 32, 128, 224]},
    {"phrase": "a blue ball", "box": [136, 64, 240, 176]},
]})


@pytest.fixture(scope="module")
def parts(host: TinyHost) -> dict[str, Any]:
    from gligen_suite.nodes.loader_node import load_gligen_patcher
    from gligen_suite.nodes.text_box_encode_node import encode_layout

    return {
        "gligen": load_gligen_patcher(str(host.gligen_path)),
        "grounding": encode_layout(host.clip, LAYOUT),
        "positive": encode_prompt(host.clip, "a red cube and a blue ball on a table"),
        "negative": encode_prompt(host.clip, "blurry"),
    }


def grounded(host: TinyHost, parts: dict[str, Any], schedule: Any = None, negative: str | None = None,
             grounding: Any = None) -> Any:
    from gligen_suite.gligen_model import BetaSchedule
    from gligen_suite.nodes.apply_node import NEGATIVE_MODES, apply_grounding

    return apply_grounding(host.model, parts["gligen"], parts["grounding"] if grounding is None else grounding,
                           schedule or BetaSchedule.constant(), negative or NEGATIVE_MODES[0])


def run(model: Any, parts: dict[str, Any], **kw: Any) -> torch.Tensor:
    return sample(model, parts["positive"], parts["negative"], **kw)


class CallRecorder:
    """Wraps GroundingPatch.apply_model to see each UNet call's beta and batch chunks."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from gligen_suite.nodes.patch.grounding_patch import GroundingPatch

        self.calls: list[tuple[float, list[int]]] = []
        original = GroundingPatch.apply_model
        recorder = self

        def spy(patch: Any, executor: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
            options = args[4]
            recorder.calls.append((patch.beta_for_call(options), list(options["cond_or_uncond"])))
            return original(patch, executor, x, *args, **kwargs)

        monkeypatch.setattr(GroundingPatch, "apply_model", spy)


def test_grounding_changes_the_image(host: TinyHost, parts: dict[str, Any]) -> None:
    plain = run(host.model, parts)
    ours = run(grounded(host, parts), parts)
    assert torch.isfinite(ours).all()
    assert (ours - plain).abs().max() > 1e-3


def test_a_dropped_grounded_model_is_freed_by_reference_counting(host: TinyHost, parts: dict[str, Any]) -> None:
    """No reference cycle runs through our patch, so a grounded MODEL that ComfyUI drops (a changed graph, a
    cleared cache) is freed at once. A cycle would hold it until the next full collection, and ComfyUI's
    model manager would log it as a memory leak and force slow full collections."""
    import gc
    import weakref

    model = grounded(host, parts)
    run(model, parts, steps=1, width=64, height=64)
    freed = weakref.ref(model)
    gc.disable()
    try:
        del model
        assert freed() is None
    finally:
        gc.enable()


def test_beta_zero_is_bit_identical_to_the_unpatched_model(host: TinyHost, parts: dict[str, Any]) -> None:
    from gligen_suite.gligen_model import BetaSchedule

    plain = run(host.model, parts)
    for schedule in (BetaSchedule.constant(0.0), BetaSchedule.hard_cut(0.0)):
        assert torch.equal(run(grounded(host, parts, schedule), parts), plain)


def test_no_objects_is_bit_identical_to_the_unpatched_model(host: TinyHost, parts: dict[str, Any]) -> None:
    from gligen_suite.nodes.text_box_encode_node import encode_layout

    empty = encode_layout(host.clip, json.dumps({"version": 1, "width": 64, "height": 64, "objects": []}))
    assert torch.equal(run(grounded(host, parts, grounding=empty), parts), run(host.model, parts))


def test_apply_leaves_the_input_model_untouched(host: TinyHost, parts: dict[str, Any]) -> None:
    before = json.dumps(host.model.model_options, default=str, sort_keys=True)
    patched = grounded(host, parts)
    assert patched is not host.model
    assert json.dumps(host.model.model_options, default=str, sort_keys=True) == before
    assert not host.model.wrappers and not host.model.get_additional_models_with_key("gligen_suite")


def test_clones_of_a_grounded_model_share_its_patch_and_sample_the_same(host: TinyHost,
                                                                         parts: dict[str, Any]) -> None:
    """ComfyUI 0.3.75's ModelPatcher.clone() deep-copies model_options (the patches in them included); newer
    hosts copy the patch lists but keep the patch objects. Either way a clone (LoRA loaders and many nodes
    clone) must sample what the grounded model samples, without a copy of the GLIGEN weights."""
    patched = grounded(host, parts)
    once = patched.clone()
    twice = once.clone()
    (patch,) = patched.model_options["transformer_options"]["patches"]["middle_patch"]
    for clone in (once, twice):
        assert clone.model_options["transformer_options"]["patches"]["middle_patch"] == [patch]
        assert clone.get_attachment("gligen_suite.patches")[-1] is patch
    expected = run(patched, parts)
    assert torch.equal(run(once, parts), expected) and torch.equal(run(twice, parts), expected)
    assert (expected - run(host.model, parts)).abs().max() > 1e-3  # the clones are grounded, not plain


def test_fusers_run_only_on_the_scheduled_steps_and_cond_uncond_share_one_call(
        host: TinyHost, parts: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from gligen_suite.gligen_model import BetaSchedule

    recorder = CallRecorder(monkeypatch)
    run(grounded(host, parts, BetaSchedule.phases(0.3, 0.2)), parts, steps=10, sampler="euler")
    assert [beta for beta, _ in recorder.calls] == [1.0, 1.0, 1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert all(sorted(chunks) == [0, 1] for _, chunks in recorder.calls)  # one batched UNet call per step


def test_multi_evaluation_samplers_get_the_beta_of_their_step(
        host: TinyHost, parts: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from gligen_suite.gligen_model import BetaSchedule

    recorder = CallRecorder(monkeypatch)
    run(grounded(host, parts, BetaSchedule.hard_cut(0.5)), parts, steps=4, sampler="dpm_2")
    betas = [beta for beta, _ in recorder.calls]
    # dpm_2 evaluates twice per step (at sigma_i and at a midpoint), except the last step
    assert betas == [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize(("sampler", "scheduler"), [
    ("euler_ancestral", "karras"), ("heun", "normal"), ("dpmpp_2m", "karras"), ("dpmpp_sde", "exponential"),
    ("lms", "simple"), ("ddim", "ddim_uniform"), ("uni_pc", "sgm_uniform"), ("lcm", "beta"),
])
def test_samplers_and_schedulers_run_grounded(host: TinyHost, parts: dict[str, Any], sampler: str,
                                              scheduler: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from gligen_suite.gligen_model import BetaSchedule

    recorder = CallRecorder(monkeypatch)
    out = run(grounded(host, parts, BetaSchedule.hard_cut(0.5)), parts, steps=4, sampler=sampler,
              scheduler=scheduler, width=128, height=128)
    assert torch.isfinite(out).all()
    assert recorder.calls[0][0] == 1.0 and recorder.calls[-1][0] == 0.0


def test_batch_rows_get_their_own_grounding_and_non_square_sizes_work(host: TinyHost, parts: dict[str, Any]) -> None:
    import comfy.sample

    model = grounded(host, parts)
    latent = torch.zeros(2, 4, 24, 40)  # 320 x 192 pixels
    noise = comfy.sample.prepare_noise(latent, 5)
    batch = run(model, parts, width=320, height=192, batch=2, noise=noise)
    single = run(model, parts, width=320, height=192, batch=1, noise=noise[1:])
    # batched matmuls round differently in the last bits; the random model's latents reach ~1e2
    assert (batch[1:] - single).abs().max() <= relative_tolerance(host.model) * single.abs().max()
    assert (batch[0] - batch[1]).abs().max() > 1.0  # different noise, different image


def test_negative_modes_differ_only_in_the_uncond_branch(host: TinyHost, parts: dict[str, Any]) -> None:
    from gligen_suite.nodes.apply_node import NEGATIVE_MODES

    official = run(grounded(host, parts, negative=NEGATIVE_MODES[0]), parts)
    core_like = run(grounded(host, parts, negative=NEGATIVE_MODES[1]), parts)
    assert (official - core_like).abs().max() > 1e-4
    # with cfg 1 only the conditional branch counts, so both modes must agree
    a = run(grounded(host, parts, negative=NEGATIVE_MODES[0]), parts, cfg=1.0)
    b = run(grounded(host, parts, negative=NEGATIVE_MODES[1]), parts, cfg=1.0)
    assert torch.equal(a, b)


def test_object_strength_reaches_only_the_grounded_branch(host: TinyHost, parts: dict[str, Any]) -> None:
    from gligen_suite.nodes.patch.chunks import ChunkRole
    from gligen_suite.nodes.patch.grounding_patch import GroundingPatch
    from gligen_suite.nodes.text_box_encode_node import encode_layout

    def layout(strengths: list[float]) -> str:
        data = json.loads(LAYOUT)
        data["objects"] = [o | {"strength": s} for o, s in zip(data["objects"], strengths, strict=True)]
        return json.dumps(data)

    explicit_ones = encode_layout(host.clip, layout([1.0, 1.0]))
    assert torch.equal(run(grounded(host, parts, grounding=explicit_ones), parts), run(grounded(host, parts), parts))
    weaker = encode_layout(host.clip, layout([0.25, 1.0]))
    assert (run(grounded(host, parts, grounding=weaker), parts) - run(grounded(host, parts), parts)).abs().max() > 1e-3
    patch = GroundingPatch(parts["gligen"].model, weaker, None, ground_negative=False, model_sampling=None,
                           block_addresses=())
    uncond_first = (ChunkRole(uncond=True), ChunkRole(uncond=False))
    _, bias = patch.batched_tokens(uncond_first, 4, torch.device("cpu"), torch.float32)  # 2 rows each
    assert bias.shape == (4, 30) and bias[:2].eq(0).all() and bias[2:, 0].lt(0).all() and bias[2:, 1:].eq(0).all()


@pytest.mark.parity
def test_core_compatible_mode_matches_comfyui_builtin_gligen(host: TinyHost, parts: dict[str, Any]) -> None:
    import folder_paths
    from gligen_suite.nodes.apply_node import NEGATIVE_MODES

    import nodes as core_nodes

    folder_paths.add_model_folder_path("gligen", str(host.gligen_path.parent))
    (core_gligen,) = core_nodes.GLIGENLoader().load_gligen(host.gligen_path.name)
    positive = parts["positive"]
    for phrase, (x0, y0, x1, y1) in (("a red cube", (16, 32, 128, 224)), ("a blue ball", (136, 64, 240, 176))):
        (positive,) = core_nodes.GLIGENTextBoxApply().append(positive, host.clip, core_gligen, phrase,
                                                               x1 - x0, y1 - y0, x0, y0)
    core = sample(host.model, positive, parts["negative"], steps=4, width=256, height=256)
    ours = run(grounded(host, parts, negative=NEGATIVE_MODES[1]), parts, steps=4, width=256, height=256)
    # relative to the latent's scale: a random model's latents reach ~300, where one fp32 step is 3e-5,
    # and ours batches cond with uncond (core cannot), which rounds differently in the last bits.
    assert (core - ours).abs().max() <= relative_tolerance(host.model) * core.abs().max()


# ---- bad combinations ----------------------------------------------------------------------------


@pytest.mark.bad_input
def test_full_sd15_gligen_on_a_model_with_other_blocks_is_refused(host: TinyHost, parts: dict[str, Any],
                                                                  tmp_path: Path) -> None:
    from gligen_suite.nodes.loader_node import load_gligen_patcher

    from devkit.gligen_checkpoints import SD15_BLOCKS, text_box_state_dict, write_safetensors

    full_file = write_safetensors(text_box_state_dict(SD15_BLOCKS), tmp_path / "full.safetensors")
    full = load_gligen_patcher(str(full_file))
    text = message_for(lambda: grounded(host, {**parts, "gligen": full}))
    assert "16 fusers" in text and "7 transformer blocks" in text
    assert "Use the GLIGEN file made for your base model" in text


@pytest.mark.bad_input
def test_gligen_for_another_context_width_is_refused(host: TinyHost, parts: dict[str, Any], tmp_path: Path) -> None:
    from gligen_suite.nodes.loader_node import load_gligen_patcher

    from devkit.gligen_checkpoints import text_box_state_dict, write_safetensors
    from devkit.sd15_checkpoints import sd15_transformer_blocks

    state = text_box_state_dict(sd15_transformer_blocks(True), context_dim=1024, phrase_dim=1024)
    sd2 = load_gligen_patcher(str(write_safetensors(state, tmp_path / "sd2.safetensors")))
    text = message_for(lambda: grounded(host, {**parts, "gligen": sd2}))
    assert "SD2.x (context 1024" in text and "SD1.x (context 768" in text


@pytest.mark.bad_input
def test_phrases_from_a_non_sd1_clip_are_refused(host: TinyHost, parts: dict[str, Any]) -> None:
    from gligen_suite.gligen_model.grounding import BoxGrounding

    wide = BoxGrounding(("a cat",), torch.zeros(1, 1280), torch.tensor([[0.1, 0.1, 0.5, 0.5]]))
    assert "Connect the CLIP of your SD1.x checkpoint" in message_for(lambda: grounded(host, parts, grounding=wide))


# ---- schedule widgets (the API takes any number; the UI's limits do not apply there) ------------
@pytest.mark.parametrize(("mode", "on", "decay", "strength", "curve", "needle"), [
    ("phases", 1.5, 0.0, 1.0, "", "grounding fraction is 1.5"),
    ("phases", 0.7, 0.5, 1.0, "", "exceed 1"),
    ("phases", 0.3, float("nan"), 1.0, "", "decay fraction is nan"),
    ("constant", 0.3, 0.0, -1.0, "", "strength -1.0 is invalid"),
    ("curve", 0.3, 0.0, 1.0, "", "curve is empty"),
    ("curve", 0.3, 0.0, 1.0, "1, 1, half, 0", "numbers separated by commas"),
    ("curve", 0.3, 0.0, 1.0, "1, nan, 0", "value 2 ('nan') is not a plain decimal number"),
    ("curve", 0.3, 0.0, 1.0, "1, -2", "value 2 (-2) is outside 0 to 2"),
    ("curve", 0.3, 0.0, 1.0, "1, 1e30", "value 2 ('1e30') is not a plain decimal number: write numbers separated"),
    ("curve", 0.3, 0.0, 1.0, "1, 1_0", "value 2 ('1_0') is not a plain decimal number"),  # float() reads 10
    ("curve", 0.3, 0.0, 1.0, "0.5 inf", "value 2 ('inf') is not a plain decimal number"),
    ("curve", 0.3, 0.0, 1.0, "1, \u0661", "value 2 ('\u0661') is not a plain decimal number"),  # an Arabic-Indic 1
    ("curve", 0.3, 0.0, 1.0, "1, 1, 1000000", "value 3 (1000000) is outside 0 to 2: beta 1 grounds as trained"),
    ("curve", 0.3, 0.0, 1.0, "1 " * 10_001, "10,001 values; the limit is 10,000"),
    ("curve", 0.3, 0.0, 1.0, "1" * 100_000, "100,000 characters long; the limit is 80,000"),
    ("constant", 0.3, 0.0, 1e30, "", "strength 1e+30 is invalid: use a number from 0 to 2"),
    ("sometimes", 0.3, 0.0, 1.0, "", "Unknown schedule mode 'sometimes'"),
])
@pytest.mark.bad_input
def test_bad_schedule_values(mode: str, on: float, decay: float, strength: float, curve: str, needle: str) -> None:
    from gligen_suite.nodes.schedule_node import build_schedule

    assert needle in message_for(lambda: build_schedule(mode, on, decay, strength, curve))


@pytest.mark.bad_input
def test_curve_values_at_the_bounds_are_accepted() -> None:
    from gligen_suite.nodes.schedule_node import build_schedule

    assert build_schedule("curve", 0.3, 0.0, 2.0, "2, 0.50, .25, +1, 0., 0").values == (2.0, 0.5, 0.25, 1.0, 0.0, 0.0)
    assert len(build_schedule("curve", 0.3, 0.0, 1.0, ", ".join(["0.5"] * 10_000)).values) == 10_000
