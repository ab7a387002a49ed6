"""Per-batch-item grounding: a layout per frame (gligen_model/frames.py), in ComfyUI's real sampler on the tiny
SD1.5, with and without ComfyUI's context windows.

Each batch row gets its frame's tokens in the one batched UNet call; a row grounded per frame equals the same
noise sampled alone with that frame's static layout.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch

from devkit.in_process import TinyHost, encode_prompt, relative_tolerance, sample, token_tolerance
from devkit.input_errors import message_for

CANVAS = 256
# four layouts for four batch items: the cube walks from the left to the right, the ball appears in item 2
LAYOUTS = [
    [{"phrase": "a red cube", "box": [0, 64, 96, 192]}],
    [{"phrase": "a red cube", "box": [48, 64, 144, 192]}],
    [{"phrase": "a red cube", "box": [96, 64, 192, 192]}, {"phrase": "a blue ball", "box": [0, 0, 64, 64]}],
    [{"phrase": "a red cube", "box": [160, 64, 256, 192]}, {"phrase": "a blue ball", "box": [0, 0, 64, 64]}],
]
START, END = [0, 64, 64, 128], [192, 64, 256, 128]
# a cube keyframed from the left edge (frame 0) to the right edge (frame 7), a lamp that never moves
MOVING = [{"phrase": "a red cube", "box": START, "keyframes": [{"frame": 7, "box": END}]},
          {"phrase": "a small lamp", "box": [96, 160, 160, 224]}]


def layout_json(objects: list[dict[str, Any]]) -> str:
    return json.dumps({"version": 1, "width": CANVAS, "height": CANVAS, "objects": objects})


@pytest.fixture(scope="module")
def parts(host: TinyHost) -> dict[str, Any]:
    from gligen_suite.nodes.loader_node import load_gligen_patcher

    return {
        "gligen": load_gligen_patcher(str(host.gligen_path)),
        "positive": encode_prompt(host.clip, "a red cube and a blue ball"),
        "negative": encode_prompt(host.clip, "blurry"),
    }


def grounded(host: TinyHost, parts: dict[str, Any], grounding: Any, model: Any = None) -> Any:
    from gligen_suite.gligen_model import BetaSchedule
    from gligen_suite.nodes.apply_node import apply_grounding

    return apply_grounding(host.model if model is None else model, parts["gligen"], grounding,
                           BetaSchedule.constant())


def static(host: TinyHost, objects: list[dict[str, Any]]) -> Any:
    from gligen_suite.nodes.text_box_encode_node import encode_layout

    return encode_layout(host.clip, layout_json(objects))


def per_frame(host: TinyHost, layouts: list[list[dict[str, Any]]]) -> Any:
    from gligen_suite.gligen_model.frames import FrameGroundings

    return FrameGroundings(tuple(static(host, objects) for objects in layouts))


def tokens_of(parts: dict[str, Any], grounding: Any) -> torch.Tensor:
    with torch.no_grad():
        return parts["gligen"].model.tokens_for(grounding)[0].float().cpu()


class FrameTokenRecorder:
    """Records every UNet call's chunks, the frame of each chunk's rows and the (B, M, D) tokens it got."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from gligen_suite.nodes.patch.grounding_patch import GroundingPatch

        self.calls: list[tuple[tuple[Any, ...], tuple[int, ...] | None, torch.Tensor]] = []
        batched = GroundingPatch.batched_tokens

        def spy(patch: Any, chunks: tuple[Any, ...], batch: int, *args: Any) -> Any:
            out = batched(patch, chunks, batch, *args)
            frames = args[3] if len(args) > 3 else None
            self.calls.append((chunks, frames, out[0].float().cpu()))
            return out

        monkeypatch.setattr(GroundingPatch, "batched_tokens", spy)


# ---- parity: a batch grounded per item equals each item sampled alone ------------------------------

@pytest.mark.parity
def test_each_batch_item_matches_its_frame_sampled_alone(host: TinyHost, parts: dict[str, Any]) -> None:
    """Four latents grounded on four layouts in one batch give, row by row, the same latents as four single
    runs on each row's noise, each grounded on its frame's static layout."""
    import comfy.sample

    noise = comfy.sample.prepare_noise(torch.zeros(4, 4, 8, 8), 5)
    batch = sample(grounded(host, parts, per_frame(host, LAYOUTS)), parts["positive"], parts["negative"],
                   width=64, height=64, batch=4, noise=noise, steps=2)
    assert batch.shape == (4, 4, 8, 8) and torch.isfinite(batch).all()
    tolerance = relative_tolerance(host.model)
    for i, objects in enumerate(LAYOUTS):
        single = sample(grounded(host, parts, static(host, objects)), parts["positive"], parts["negative"],
                        width=64, height=64, noise=noise[i:i + 1], steps=2)
        assert (batch[i:i + 1] - single).abs().max() <= tolerance * single.abs().max(), f"item {i}"
        if i == 0:
            first = single
    # the items really are grounded differently: item 0's noise on item 3's layout is another latent
    other = sample(grounded(host, parts, static(host, LAYOUTS[3])), parts["positive"], parts["negative"],
                   width=64, height=64, noise=noise[:1], steps=2)
    assert (other - first).abs().max() > 1e-3


def test_the_same_layout_in_every_frame_is_the_static_grounding(host: TinyHost, parts: dict[str, Any]) -> None:
    """A per-frame grounding whose frames are all one layout samples what that layout does for the batch."""
    import comfy.sample

    noise = comfy.sample.prepare_noise(torch.zeros(2, 4, 8, 8), 3)
    one = static(host, LAYOUTS[2])
    runs = [sample(grounded(host, parts, g), parts["positive"], parts["negative"], width=64, height=64, batch=2,
                   noise=noise, steps=2) for g in (one, per_frame(host, [LAYOUTS[2]] * 2))]
    assert (runs[0] - runs[1]).abs().max() <= relative_tolerance(host.model) * runs[0].abs().max()


def test_each_row_gets_its_frames_tokens_and_the_negative_null_tokens(host: TinyHost, parts: dict[str, Any],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows are chunk-major, frame-minor: row r of a call is frame r % 4 of chunk r // 4. One UNet call per
    step carries both chunks."""
    recorder = FrameTokenRecorder(monkeypatch)
    sample(grounded(host, parts, per_frame(host, LAYOUTS)), parts["positive"], parts["negative"], width=64,
           height=64, batch=4, steps=2)
    assert len(recorder.calls) == 2
    tolerance = token_tolerance(parts["gligen"].model.fusers[0].linear.weight.dtype)
    expected = [tokens_of(parts, static(host, objects)) for objects in LAYOUTS]
    null = tokens_of(parts, None)
    for chunks, frames, tokens in recorder.calls:
        assert frames == (0, 1, 2, 3) and len(chunks) == 2 and tokens.shape[0] == 8
        for r in range(8):
            role = chunks[r // 4]
            torch.testing.assert_close(tokens[r], null if role.uncond else expected[r % 4], **tolerance)


def test_a_static_grounding_takes_the_one_layout_path(host: TinyHost, parts: dict[str, Any],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = FrameTokenRecorder(monkeypatch)
    sample(grounded(host, parts, static(host, LAYOUTS[0])), parts["positive"], parts["negative"], width=64,
           height=64, batch=2, steps=1)
    assert recorder.calls and all(frames is None for _, frames, _ in recorder.calls)


def test_area_windows_and_strengths_per_frame(host: TinyHost, parts: dict[str, Any]) -> None:
    """A chunk that denoises an area gets each frame's layout seen through that window; a frame's object
    strengths give its rows their bias, the other frames' rows (and the negative's) a zero bias."""
    from gligen_suite.gligen_model.cropping import crop_grounding
    from gligen_suite.nodes.patch.chunks import ChunkRole

    weak = [{**LAYOUTS[1][0], "strength": 0.5}]
    grounding = per_frame(host, [LAYOUTS[0], weak, LAYOUTS[2]])
    (patch,) = grounded(host, parts, grounding).get_attachment("gligen_suite.patches")
    right = (0.5, 0.0, 1.0, 1.0)
    chunks = (ChunkRole(False, right), ChunkRole(True))
    tokens, bias = patch.batched_tokens(chunks, 6, torch.device("cpu"), torch.float32, (8, 8), (0, 1, 2))
    tolerance = token_tolerance(torch.float32)
    for r, frame in enumerate(grounding.frames):
        torch.testing.assert_close(tokens[r], tokens_of(parts, crop_grounding(frame, right)), **tolerance)
    for r in range(3, 6):
        torch.testing.assert_close(tokens[r], tokens_of(parts, None), **tolerance)
    assert bias is not None and bias.shape == (6, tokens.shape[1])
    assert bias[1, 0] == pytest.approx(float(torch.tensor(0.5).log())) and bool((bias[[0, 2, 3, 4, 5]] == 0).all())
    again = patch.batched_tokens(chunks, 6, torch.device("cpu"), torch.float32, (8, 8), (0, 1, 2))
    assert again[0] is tokens  # built once per (chunks, frames)


# ---- keyframed layouts through the encode node ---------------------------------------------------

def test_a_keyframed_box_moves_the_tokens_frame_by_frame(host: TinyHost, parts: dict[str, Any]) -> None:
    """frames = 8 on Text-Box Encode: each frame's tokens are the layout at that frame; at the keyframes they
    equal the static layout with the box there, in between they differ from both."""
    from gligen_suite.gligen_model.frames import FrameGroundings
    from gligen_suite.nodes.text_box_encode_node import GligenTextBoxEncode

    out = GligenTextBoxEncode.execute(host.clip, layout_json(MOVING), frames=8)
    grounding = out.result[0] if hasattr(out, "result") else out[0]
    assert isinstance(grounding, FrameGroundings) and len(grounding.frames) == 8
    tokens = [tokens_of(parts, g) for g in grounding.frames]
    tolerance = token_tolerance(parts["gligen"].model.fusers[0].linear.weight.dtype)
    at_start = tokens_of(parts, static(host, [{**MOVING[0], "keyframes": []}, MOVING[1]]))
    at_end = tokens_of(parts, static(host, [{"phrase": "a red cube", "box": END}, MOVING[1]]))
    torch.testing.assert_close(tokens[0], at_start, **tolerance)
    torch.testing.assert_close(tokens[7], at_end, **tolerance)
    for a, b in zip(tokens, tokens[1:], strict=False):
        assert (a - b).abs().max() > 1e-4
    between = [s + (e - s) * 3 / 7 for s, e in zip(START, END, strict=True)]  # frame 3 of 0 .. 7, in pixels
    assert grounding.frames[3].boxes[0].tolist() == pytest.approx([v / CANVAS for v in between], abs=1e-6)
    # the phrases (the same in every frame) went through the CLIP once: every frame holds the same features
    assert all(torch.equal(g.phrase_embeddings, grounding.frames[0].phrase_embeddings) for g in grounding.frames)
    # ... and, as every frame shows the same objects, the frames share one feature tensor (no copy per frame)
    assert all(g.phrase_embeddings is grounding.frames[0].phrase_embeddings for g in grounding.frames)


def test_frames_zero_keeps_one_layout_for_every_item(host: TinyHost) -> None:
    from gligen_suite.gligen_model.grounding import BoxGrounding
    from gligen_suite.nodes.text_box_encode_node import GligenTextBoxEncode

    out = GligenTextBoxEncode.execute(host.clip, layout_json(MOVING))
    grounding = out.result[0] if hasattr(out, "result") else out[0]
    assert isinstance(grounding, BoxGrounding) and grounding.boxes[0].tolist() == [0.0, 0.25, 0.25, 0.5]


def test_append_to_chains_frame_by_frame(host: TinyHost) -> None:
    from gligen_suite.nodes.text_box_encode_node import encode_layout, encode_layout_frames

    frames = encode_layout_frames(host.clip, layout_json(MOVING[:1]), 8)
    both = encode_layout(host.clip, layout_json(MOVING[1:]), frames)  # a static layout added to every frame
    assert [g.phrases for g in both.frames] == [("a red cube", "a small lamp")] * 8
    assert [float(g.boxes[0, 0]) for g in both.frames] == pytest.approx([192 * f / 7 / CANVAS for f in range(8)])
    assert all(g.boxes[1].tolist() == [0.375, 0.625, 0.625, 0.875] for g in both.frames)
    again = encode_layout_frames(host.clip, layout_json(MOVING[1:]), 8, frames)
    assert [g.phrases for g in again.frames] == [("a red cube", "a small lamp")] * 8


# ---- ComfyUI's context windows -------------------------------------------------------------------

def test_context_windows_ground_each_window_on_its_frames(host: TinyHost, parts: dict[str, Any],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """6 frames through ContextWindowsManual (4 frames a window, overlap 2: frames 0-3 and 2-5): every UNet
    call gets, row by row, the tokens of the frames its window denoises, its negative rows the null tokens.

    5 steps: ComfyUI 0.3.75's IndexListContextHandler.set_step compares the (frames,) timestep with the
    (steps + 1,) sample_sigmas elementwise, which only works when the two lengths are equal (or 1)."""
    import comfy.context_windows as cw
    from comfy_extras.nodes_context_windows import ContextWindowsManualNode
    from gligen_suite.nodes.text_box_encode_node import encode_layout_frames

    moving = [{**MOVING[0], "keyframes": [{"frame": 5, "box": END}]}, MOVING[1]]
    grounding = encode_layout_frames(host.clip, layout_json(moving), 6)
    model = grounded(host, parts, grounding)
    windowed = ContextWindowsManualNode.execute(model, 4, 2, cw.ContextSchedules.STATIC_STANDARD, 1, False,
                                                cw.ContextFuseMethods.PYRAMID, 0)
    windowed = windowed.result[0] if hasattr(windowed, "result") else windowed[0]
    recorder = FrameTokenRecorder(monkeypatch)
    out = sample(windowed, parts["positive"], parts["negative"], width=64, height=64, batch=6, steps=5)
    assert out.shape == (6, 4, 8, 8) and torch.isfinite(out).all()
    assert [frames for _, frames, _ in recorder.calls] == [(0, 1, 2, 3), (2, 3, 4, 5)] * 5
    tolerance = token_tolerance(parts["gligen"].model.fusers[0].linear.weight.dtype)
    expected = [tokens_of(parts, g) for g in grounding.frames]
    null = tokens_of(parts, None)
    for chunks, frames, tokens in recorder.calls:
        assert tokens.shape[0] == 4 * len(chunks) and {c.uncond for c in chunks} == {False, True}
        for r in range(tokens.shape[0]):
            torch.testing.assert_close(tokens[r], null if chunks[r // 4].uncond else expected[frames[r % 4]],
                                       **tolerance)


def test_a_window_that_does_not_fit_the_call_is_not_trusted(host: TinyHost, parts: dict[str, Any]) -> None:
    """The context window lingers in the run's options after windowing; a call of another length reads its
    frames as 0 .. rows - 1."""
    from types import SimpleNamespace

    model = grounded(host, parts, per_frame(host, LAYOUTS))
    (patch,) = model.get_attachment("gligen_suite.patches")
    options = {"context_window": SimpleNamespace(index_list=[2, 3])}
    assert patch.call_frames(options, 2, 4) == (2, 3)
    assert patch.call_frames(options, 2, 8) == (0, 1, 2, 3)
    assert patch.call_frames({}, 1, 3) == (0, 1, 2)


def test_animatediff_evolved_context_windows_name_their_frames_too(host: TinyHost, parts: dict[str, Any]) -> None:
    """AnimateDiff-Evolved's context options put the window's frames in transformer_options["ad_params"]
    ["sub_idxs"] (None when all frames are sampled at once); a call reads them like core's index_list. Read
    off AnimateDiff-Evolved's and IPAdapter-plus' code; AnimateDiff itself is not installed here."""
    model = grounded(host, parts, per_frame(host, LAYOUTS))
    (patch,) = model.get_attachment("gligen_suite.patches")
    assert patch.call_frames({"ad_params": {"full_length": 4, "sub_idxs": [1, 3]}}, 2, 4) == (1, 3)
    assert patch.call_frames({"ad_params": {"full_length": 4, "sub_idxs": None}}, 2, 8) == (0, 1, 2, 3)
    assert patch.call_frames({"ad_params": {"full_length": 4, "sub_idxs": [1, 3]}}, 1, 4) == (0, 1, 2, 3)
    text = message_for(lambda: patch.call_frames({"ad_params": {"full_length": 8, "sub_idxs": [6, 7]}}, 2, 4))
    assert "frame 7" in text and "covers 4 frames" in text


# ---- refused inputs --------------------------------------------------------------------------------

@pytest.mark.bad_input
def test_keyframes_beyond_the_frame_count_are_refused(host: TinyHost) -> None:
    from gligen_suite.nodes.text_box_encode_node import GligenTextBoxEncode

    text = message_for(lambda: GligenTextBoxEncode.execute(host.clip, layout_json(MOVING), frames=4))
    assert "Layout object 1 ('a red cube') has a keyframe at frame 7" in text and "4 frames" in text


@pytest.mark.bad_input
def test_a_latent_with_more_frames_than_the_grounding_is_refused(host: TinyHost, parts: dict[str, Any]) -> None:
    model = grounded(host, parts, per_frame(host, LAYOUTS[:2]))
    text = message_for(lambda: sample(model, parts["positive"], parts["negative"], width=64, height=64, batch=4,
                                      steps=1))
    assert "frame 3" in text and "covers 2 frames (0 to 1)" in text and "frames" in text


@pytest.mark.bad_input
def test_append_to_with_another_frame_count_is_refused(host: TinyHost) -> None:
    from gligen_suite.nodes.text_box_encode_node import encode_layout_frames

    frames = encode_layout_frames(host.clip, layout_json([{**MOVING[0], "keyframes": [{"frame": 2, "box": END}]}]), 3)
    text = message_for(lambda: encode_layout_frames(host.clip, layout_json(MOVING), 8, frames))
    assert "'append_to' has 3 frames, but this node's frames is 8" in text


@pytest.mark.bad_input
def test_a_second_box_apply_with_per_frame_boxes_is_refused(host: TinyHost, parts: dict[str, Any]) -> None:
    once = grounded(host, parts, static(host, LAYOUTS[0]))
    text = message_for(lambda: grounded(host, parts, per_frame(host, LAYOUTS), model=once))
    assert "already went through a GLIGEN Apply (Suite) grounded on boxes" in text
