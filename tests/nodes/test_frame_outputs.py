"""Per-frame encode nodes: the frame count from a connected latent, outputs one entry per frame (preview,
masks, BOUNDING_BOXES), and Pose Encode per frame (keyframed persons, a POSE_KEYPOINT video), in ComfyUI's
real sampler on the tiny SD1.5."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import torch

from devkit.gligen_checkpoints import variant_state_dict, write_safetensors
from devkit.in_process import TinyHost, encode_prompt, relative_tolerance, sample
from devkit.input_errors import message_for
from devkit.sd15_checkpoints import sd15_transformer_blocks

CANVAS = 256
START, END = [0, 64, 64, 128], [192, 64, 256, 128]
CUBE = {"phrase": "a red cube", "box": START, "keyframes": [{"frame": 7, "box": END}]}
LAMP = {"phrase": "a small lamp", "box": [96, 160, 160, 224], "keyframes": [{"frame": 5, "hidden": True}]}
# COCO-17 joints of a standing person on the 256 canvas (nose, eyes, ears, shoulders, ... ankles)
JOINTS = [[128, 48], [134, 42], [122, 42], [141, 46], [115, 46], [150, 75], [106, 75], [159, 110], [97, 110],
          [163, 143], [93, 143], [143, 145], [113, 145], [145, 190], [111, 190], [146, 233], [110, 233]]


def box_layout(objects: list[dict[str, Any]]) -> str:
    return json.dumps({"version": 1, "width": CANVAS, "height": CANVAS, "objects": objects})


def pose_layout(persons: list[dict[str, Any]]) -> str:
    return json.dumps({"version": 1, "width": CANVAS, "height": CANVAS, "persons": persons})


def shifted(dx: float) -> list[list[float]]:
    return [[x + dx, y] for x, y in JOINTS]


def latent(frames: int) -> dict[str, torch.Tensor]:
    return {"samples": torch.zeros(frames, 4, 8, 8)}


def results(out: Any) -> tuple[Any, ...]:
    return tuple(out.result if hasattr(out, "result") else out)


def box_encode(host: TinyHost, layout: str, **options: Any) -> tuple[Any, ...]:
    from gligen_suite.nodes.text_box_encode_node import GligenTextBoxEncode

    return results(GligenTextBoxEncode.execute(host.clip, layout, **options))


def pose_encode(layout: str, **options: Any) -> tuple[Any, ...]:
    from gligen_suite.nodes.pose_encode_node import GligenPoseEncode

    return results(GligenPoseEncode.execute(layout, **options))


def box_pixels(mask: torch.Tensor) -> list[int]:
    """[x0, y0, x1, y1] of a mask's ones (exclusive end), on a mask the canvas' size."""
    ys, xs = torch.nonzero(mask, as_tuple=True)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


# ---- the frame count ---------------------------------------------------------------------------------

def test_a_connected_latent_sets_the_frame_count(host: TinyHost) -> None:
    from gligen_suite.gligen_model.frames import FrameGroundings

    grounding = box_encode(host, box_layout([CUBE, LAMP]), latent=latent(8))[0]
    assert isinstance(grounding, FrameGroundings) and len(grounding.frames) == 8
    assert box_encode(host, box_layout([CUBE]), frames=8, latent=latent(8))[0].frames[7].boxes[0].tolist() == \
        [v / CANVAS for v in END]


def test_a_layout_without_keyframes_stays_one_static_grounding(host: TinyHost) -> None:
    """Nothing moves: frames (or a latent) change nothing, the grounding is the static one (no per-frame work),
    and the outputs are the static ones."""
    from gligen_suite.gligen_model.grounding import BoxGrounding

    still = box_layout([{"phrase": "a red cube", "box": START}])
    static = box_encode(host, still)
    for options in ({"frames": 16}, {"latent": latent(16)}):
        grounding, preview, masks, boxes, _ = box_encode(host, still, **options)
        assert isinstance(grounding, BoxGrounding)
        assert torch.equal(grounding.boxes, static[0].boxes)
        assert torch.equal(preview, static[1]) and masks.shape == (1, CANVAS, CANVAS) and boxes == static[3]


@pytest.mark.bad_input
@pytest.mark.parametrize(("options", "needle"), [
    ({"latent": latent(4)}, "has a keyframe at frame 7, but the latent has 4 frames (0 to 3)"),
    ({"frames": 6, "latent": latent(8)}, "frames is 6, but the connected latent has 8 frames"),
    ({"latent": {"samples": torch.zeros(1, 4, 8, 8, 8)}}, "has shape (1, 4, 8, 8, 8)"),
    ({"latent": {"noise_mask": torch.zeros(1)}}, 'without "samples"'),
    ({"latent": latent(5000)}, "The latent has 5,000 frames"),
])
def test_frame_counts_the_layout_or_the_node_cannot_take_are_refused(host: TinyHost, options: dict[str, Any],
                                                                    needle: str) -> None:
    assert needle in message_for(lambda: box_encode(host, box_layout([CUBE]), **options))


# ---- outputs per frame ---------------------------------------------------------------------------------

def test_preview_masks_and_boxes_come_one_per_frame(host: TinyHost) -> None:
    """8 frames of a cube moving right and a lamp hidden from frame 5: 8 previews, masks[f * 2 + i] is object i at
    frame f (the lamp's all zero once hidden), and one BOUNDING_BOXES list per frame without hidden objects."""
    grounding, preview, masks, boxes, _ = box_encode(host, box_layout([CUBE, LAMP]), frames=8)
    assert preview.shape == (8, CANVAS, CANVAS, 3) and masks.shape == (16, CANVAS, CANVAS) and len(boxes) == 8
    for f in range(8):
        x0 = 192 * f / 7  # the mask covers every pixel the box touches
        assert box_pixels(masks[2 * f]) == [math.floor(x0), 64, math.ceil(x0 + 64), 128], f"frame {f}"
        assert boxes[f][0]["metadata"]["text"] == "a red cube"
        assert boxes[f][0]["x"] == pytest.approx(192 * f / 7, abs=1e-3) and boxes[f][0]["width"] == 64
        lamp_shown = f < 5
        assert bool(masks[2 * f + 1].any()) is lamp_shown
        assert len(boxes[f]) == (2 if lamp_shown else 1)
        assert grounding.frames[f].phrases == (("a red cube", "a small lamp") if lamp_shown else ("a red cube",))
    # frames 0-4 (cube and lamp) share one phrase feature tensor, frames 5-7 (the cube alone) another
    assert len({id(g.phrase_embeddings) for g in grounding.frames}) == 2
    # the previews differ frame by frame, and the cube keeps its colour (object 1's) throughout
    assert (preview[0] - preview[7]).abs().max() > 0.1
    assert boxes[0][0]["metadata"]["palette"] == boxes[7][0]["metadata"]["palette"]


def test_a_background_batch_of_as_many_images_lies_frame_by_frame_under_the_previews(host: TinyHost) -> None:
    frames = torch.stack([torch.full((64, 64, 3), v) for v in (0.0, 0.25, 0.5, 0.75)])
    preview = box_encode(host, box_layout([{**CUBE, "keyframes": [{"frame": 3, "box": END}]}]), frames=4,
                         background=frames)[1]
    corner = preview[:, -1, 0]  # bottom left: no box there
    assert corner.flatten().tolist() == pytest.approx([v for v in (0.0, 0.25, 0.5, 0.75) for _ in range(3)],
                                                      abs=1 / 255)
    one = box_encode(host, box_layout([{**CUBE, "keyframes": [{"frame": 3, "box": END}]}]), frames=4,
                     background=frames[2:3])[1]
    assert one[:, -1, 0].flatten().tolist() == pytest.approx([0.5] * 12, abs=1 / 255)


def test_the_output_batch_is_bounded_in_pixels(host: TinyHost) -> None:
    """4096 frames of a 2048 canvas would be 206 GB of previews: each frame is drawn smaller instead."""
    from gligen_suite.nodes.editor.outputs import MAX_OUTPUT_PIXELS, output_size

    width, height = output_size(2048, 1024, 4096)
    assert width * height * 4096 <= MAX_OUTPUT_PIXELS and width / height == pytest.approx(2, rel=0.02)
    assert output_size(512, 512, 16) == (512, 512)  # a usual clip keeps its full size
    for width, height in ((16384, 1), (1, 16384), (16384, 8)):  # a side held at 1 px does not stretch the budget
        w, h = output_size(width, height, 4096 * 30)
        assert w * h * 4096 * 30 <= MAX_OUTPUT_PIXELS and w >= 1 and h >= 1


# ---- Pose Encode per frame -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def keypoint_gligen(host: TinyHost) -> Any:
    from gligen_suite.nodes.loader_node import load_gligen_patcher

    state = variant_state_dict(sd15_transformer_blocks(True), "keypoint", seed=3)
    return load_gligen_patcher(str(write_safetensors(state, host.gligen_path.parent / "kp_frames.safetensors")))


def openpose_video(people_per_frame: list[list[list[list[float]]]]) -> list[dict[str, Any]]:
    """POSE_KEYPOINT frames of people given as COCO-17 joint lists in pixels (OpenPose-18 order, no neck)."""
    from gligen_suite.gligen_model.pose import OPENPOSE18_TO_COCO17

    to18 = {source: coco for coco, source in enumerate(OPENPOSE18_TO_COCO17)}  # OpenPose-18 index -> COCO-17

    def flat(joints: list[list[float]]) -> list[float]:
        out: list[float] = []
        for index in range(18):
            out += [*joints[to18[index]], 0.9] if index in to18 else [0.0, 0.0, 0.0]
        return out

    return [{"people": [{"pose_keypoints_2d": flat(p)} for p in people], "canvas_width": CANVAS,
             "canvas_height": CANVAS} for people in people_per_frame]


def test_a_keyframed_person_moves_frame_by_frame(host: TinyHost) -> None:
    from gligen_suite.gligen_model.frames import FrameGroundings

    person = {"keypoints": JOINTS, "keyframes": [{"frame": 3, "keypoints": shifted(60)}]}
    grounding, preview, masks = pose_encode(pose_layout([person]), frames=4)
    assert isinstance(grounding, FrameGroundings) and len(grounding.frames) == 4
    for f in range(4):
        nose = grounding.frames[f].points[0, 0].tolist()
        assert nose == pytest.approx([(128 + 20 * f) / CANVAS, 48 / CANVAS], abs=1e-6)
    assert preview.shape == (4, CANVAS, CANVAS, 3) and masks.shape == (4, CANVAS, CANVAS)
    assert box_pixels(masks[3])[0] - box_pixels(masks[0])[0] == 60


def test_a_pose_video_grounds_each_frame_on_its_people(host: TinyHost) -> None:
    """POSE_KEYPOINT with 3 frames (a DWPose video), nobody in frame 1: frame f grounds the layout's person and
    frame f's detections; masks hold the most persons of any frame per frame."""
    video = openpose_video([[shifted(-60)], [], [shifted(-60), shifted(60)]])
    grounding, preview, masks = pose_encode(pose_layout([{"keypoints": JOINTS}]), pose_keypoint=video, frames=3)
    assert [len(g) for g in grounding.frames] == [2, 1, 3]
    assert grounding.frames[2].points[2, 0, 0].item() == pytest.approx((128 + 60) / CANVAS, abs=1e-6)
    assert preview.shape[0] == 3 and masks.shape[0] == 3 * 3
    assert [bool(m.any()) for m in masks] == [True, True, False, True, False, False, True, True, True]
    # one detected frame serves every frame: the grounding is static
    still = pose_encode(pose_layout([{"keypoints": JOINTS}]), pose_keypoint=video[:1], latent=latent(5))[0]
    assert len(still) == 2 and not hasattr(still, "frames")


def test_pose_encode_reads_only_the_persons_keyframes_and_keeps_colours_of_hidden_ones(host: TinyHost) -> None:
    """An object keyframed past the frames does not concern Pose Encode; a person hidden in every frame leaves
    its slot (an all-zero mask) and the next person keeps its own colour in the preview."""
    from gligen_suite.nodes.editor.colors import PALETTE

    layout = json.loads(pose_layout([{"keypoints": shifted(-60), "keyframes": [{"frame": 0, "hidden": True}]},
                                     {"keypoints": shifted(60)}]))
    layout["objects"] = [{"phrase": "a ball", "box": START, "keyframes": [{"frame": 12, "box": END}]}]
    grounding, preview, masks = pose_encode(json.dumps(layout), frames=4)
    assert len(grounding) == 1 and not hasattr(grounding, "frames")  # the same person in every frame: static
    assert masks.shape[0] == 2 and not masks[0].any() and masks[1].any()
    second = torch.tensor([int(PALETTE[1][i:i + 2], 16) / 255 for i in (1, 3, 5)])
    nose = preview[0, 48, 128 + 60]  # the second person's nose joint, drawn in its colour
    assert torch.allclose(nose, second, atol=2 / 255), nose


@pytest.mark.bad_input
def test_a_pose_video_with_nobody_in_any_frame_is_refused(host: TinyHost) -> None:
    """A frame may show nobody, a whole video without anybody is a failed detection (as with frames 0)."""
    empty = [{"people": [], "canvas_width": CANVAS, "canvas_height": CANVAS}] * 4
    text = message_for(lambda: pose_encode(pose_layout([]), pose_keypoint=empty, frames=4))
    assert "contains no people in any of its 4 frames" in text


@pytest.mark.bad_input
def test_a_pose_video_of_another_length_is_refused(host: TinyHost) -> None:
    video = openpose_video([[JOINTS]] * 3)
    text = message_for(lambda: pose_encode(pose_layout([{"keypoints": JOINTS}]), pose_keypoint=video, frames=4))
    assert "holds 3 frames, but this node grounds 4" in text
    crowd = openpose_video([[shifted(4 * i) for i in range(8)]] * 2)
    text = message_for(lambda: pose_encode(pose_layout([{"keypoints": JOINTS}]), pose_keypoint=crowd, frames=2))
    assert "Frame 0 has 9 persons" in text


@pytest.mark.parity
def test_per_frame_poses_sample_each_item_as_alone(host: TinyHost, keypoint_gligen: Any) -> None:
    """Two batch items grounded on two poses equal, row by row, each item sampled alone on its pose."""
    import comfy.sample
    from gligen_suite.gligen_model import BetaSchedule
    from gligen_suite.nodes.apply_node import apply_grounding

    positive, negative = encode_prompt(host.clip, "a person standing"), encode_prompt(host.clip, "")
    noise = comfy.sample.prepare_noise(torch.zeros(2, 4, 8, 8), 7)
    person = {"keypoints": shifted(-60), "keyframes": [{"frame": 1, "keypoints": shifted(60)}]}
    grounding = pose_encode(pose_layout([person]), frames=2)[0]

    def run(g: Any, rows: slice) -> torch.Tensor:
        model = apply_grounding(host.model, keypoint_gligen, g, BetaSchedule.constant())
        return sample(model, positive, negative, width=64, height=64, batch=rows.stop - rows.start,
                      noise=noise[rows], steps=2)

    batch = run(grounding, slice(0, 2))
    tolerance = relative_tolerance(host.model)
    for f in range(2):
        alone = run(pose_encode(pose_layout([{"keypoints": shifted(-60 if f == 0 else 60)}]))[0], slice(f, f + 1))
        assert (batch[f:f + 1] - alone).abs().max() <= tolerance * alone.abs().max(), f"item {f}"
    assert (batch[0:1] - run(pose_encode(pose_layout([{"keypoints": shifted(60)}]))[0], slice(0, 1))).abs().max() > 1e-3


# ---- what the editor hears --------------------------------------------------------------------------

def test_a_per_frame_run_tells_the_editor_its_frames_and_each_video_frame(host: TinyHost) -> None:
    """The node's UI output: the frame count of a per-frame run (a latent's batch size, for the timeline), and a
    background batch of one image per frame saved frame by frame; a static run, or a background of another
    length, names neither."""
    import folder_paths
    from gligen_suite.nodes.editor.browser import BACKGROUND_FRAMES_KEY, BACKGROUND_KEY, FRAMES_KEY
    from gligen_suite.nodes.pose_encode_node import GligenPoseEncode
    from gligen_suite.nodes.text_box_encode_node import GligenTextBoxEncode
    from PIL import Image

    video = torch.stack([torch.full((96, 128, 3), v) for v in (0.0, 0.25, 0.5, 0.75)])
    layout = box_layout([{**CUBE, "keyframes": [{"frame": 3, "box": END}]}])
    ui = GligenTextBoxEncode.execute(host.clip, layout, background=video, latent=latent(4)).ui
    assert ui[FRAMES_KEY] == [4] and len(ui[BACKGROUND_KEY]) == 1
    saved = ui[BACKGROUND_FRAMES_KEY]
    assert len(saved) == 4 and all(ref["type"] == "temp" for ref in saved)
    grey = [Image.open(f"{folder_paths.get_temp_directory()}/{ref['subfolder']}/{ref['filename']}").getpixel((0, 0))
            for ref in saved]
    assert [g[0] for g in grey] == pytest.approx([v * 255 for v in (0.0, 0.25, 0.5, 0.75)], abs=1)

    other = GligenTextBoxEncode.execute(host.clip, layout, background=video[:2], frames=4).ui
    assert other[FRAMES_KEY] == [4] and BACKGROUND_FRAMES_KEY not in other and len(other[BACKGROUND_KEY]) == 1
    still = GligenTextBoxEncode.execute(host.clip, layout, background=video).ui
    assert FRAMES_KEY not in still and BACKGROUND_FRAMES_KEY not in still
    pose = GligenPoseEncode.execute(pose_layout([{"keypoints": JOINTS}]), latent=latent(3))
    assert pose.ui == {FRAMES_KEY: [3]}  # nothing moves (a static grounding), but the timeline spans the latent
