"""The keypoint checkpoint end to end in ComfyUI's sampler, and pose inputs with bad values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from devkit.gligen_checkpoints import variant_state_dict, write_safetensors
from devkit.in_process import TinyHost, encode_prompt, sample
from devkit.input_errors import message_for
from devkit.sd15_checkpoints import sd15_transformer_blocks


@pytest.fixture(scope="module")
def keypoint_gligen(host: TinyHost) -> Any:
    from gligen_suite.nodes.loader_node import load_gligen_patcher

    state = variant_state_dict(sd15_transformer_blocks(True), "keypoint", seed=3)
    return load_gligen_patcher(str(write_safetensors(state, host.gligen_path.parent / "kp.safetensors")))


def openpose_frame(people: list[list[float]], width: int = 512, height: int = 512) -> list[dict]:
    return [{"people": [{"pose_keypoints_2d": p} for p in people], "canvas_width": width, "canvas_height": height}]


def standing_person_openpose(dx: float = 0) -> list[float]:
    flat = [0.0] * 54
    for index, (x, y) in {0: (256, 96), 1: (256, 140), 2: (212, 150), 5: (300, 150), 8: (226, 290),
                          11: (286, 290), 10: (220, 466), 13: (292, 466)}.items():
        flat[index * 3: index * 3 + 3] = [x + dx, y, 0.9]
    return flat


def test_pose_grounding_changes_the_image_and_beta_zero_does_not(host: TinyHost, keypoint_gligen: Any) -> None:
    from gligen_suite.gligen_model import BetaSchedule
    from gligen_suite.nodes.apply_node import apply_grounding
    from gligen_suite.nodes.pose_encode_node import default_pose_layout_json, encode_poses

    positive, negative = encode_prompt(host.clip, "a person standing"), encode_prompt(host.clip, "")
    grounding = encode_poses(default_pose_layout_json(), openpose_frame([standing_person_openpose(60)]))
    assert len(grounding) == 2 and int(grounding.visible.sum()) == 17 + 7  # OpenPose's neck is dropped
    plain = sample(host.model, positive, negative)
    grounded = sample(apply_grounding(host.model, keypoint_gligen, grounding, BetaSchedule.constant()),
                      positive, negative)
    assert torch.isfinite(grounded).all() and (grounded - plain).abs().max() > 1e-3
    off = apply_grounding(host.model, keypoint_gligen, grounding, BetaSchedule.constant(0.0))
    assert torch.equal(sample(off, positive, negative), plain)


@pytest.mark.bad_input
def test_boxes_for_a_keypoint_model_and_poses_for_a_box_model_are_refused(host: TinyHost,
                                                                          keypoint_gligen: Any) -> None:
    from gligen_suite.gligen_model import BetaSchedule
    from gligen_suite.gligen_model.grounding import BoxGrounding
    from gligen_suite.nodes.apply_node import apply_grounding
    from gligen_suite.nodes.loader_node import load_gligen_patcher
    from gligen_suite.nodes.pose_encode_node import default_pose_layout_json, encode_poses

    boxes = BoxGrounding(("a cat",), torch.zeros(1, 768), torch.tensor([[0.1, 0.1, 0.5, 0.5]]))
    text = message_for(lambda: apply_grounding(host.model, keypoint_gligen, boxes, BetaSchedule.constant()))
    assert "keypoint model is grounded on poses" in text
    box_model = load_gligen_patcher(str(host.gligen_path))
    poses = encode_poses(default_pose_layout_json())
    text = message_for(lambda: apply_grounding(host.model, box_model, poses, BetaSchedule.constant()))
    assert "given poses" in text and "keypoint GLIGEN file" in text


@pytest.mark.bad_input
def test_bad_pose_inputs_get_messages() -> None:
    from gligen_suite.nodes.pose_encode_node import encode_poses

    nine = openpose_frame([standing_person_openpose(i) for i in range(9)])
    assert "at most 8" in message_for(lambda: encode_poses("", nine))
    assert "contains no people" in message_for(lambda: encode_poses("", openpose_frame([])))
    assert "no \"people\" list" in message_for(lambda: encode_poses("", [{"canvas_width": 5}]))
    outside = {"version": 1, "width": 512, "height": 512, "persons": [{"keypoints": [[600, 10]] + [None] * 16}]}
    assert "nose at [600, 10] lies outside" in message_for(lambda: encode_poses(json.dumps(outside)))
    short = {"version": 1, "width": 512, "height": 512, "persons": [{"keypoints": [[6, 10]]}]}
    assert "has 1 keypoints; give 17" in message_for(lambda: encode_poses(json.dumps(short)))
    hidden = {"version": 1, "width": 512, "height": 512, "persons": [{"keypoints": [None] * 17}]}
    assert "no visible keypoint" in message_for(lambda: encode_poses(json.dumps(hidden)))
    many = {"version": 1, "width": 512, "height": 512, "persons": [{"keypoints": [[1, 1]] * 17}] * 9}
    assert "9 persons" in message_for(lambda: encode_poses(json.dumps(many)))


def test_pose_keypoint_pixels_are_normalized_by_its_canvas(tmp_path: Path) -> None:
    from gligen_suite.nodes.pose_encode_node import encode_poses

    grounding = encode_poses("", openpose_frame([standing_person_openpose()], width=1024, height=512))
    torch.testing.assert_close(grounding.points[0, 0], torch.tensor([256 / 1024, 96 / 512]))
    assert grounding.visible[0, 0] == 1 and grounding.visible[0, 1] == 0  # left eye not detected


def test_openpose_json_file_content_is_accepted_as_layout() -> None:
    from gligen_suite.nodes.pose_encode_node import encode_poses

    openpose_file = json.dumps(openpose_frame([standing_person_openpose(), standing_person_openpose(100)])[0])
    grounding = encode_poses(openpose_file)
    assert len(grounding) == 2
    torch.testing.assert_close(grounding.points[1, 0], torch.tensor([356 / 512, 96 / 512]))


# ---- POSE_KEYPOINT values from other nodes ------------------------------------------------------
def openpose(values: list[Any]) -> list[dict[str, Any]]:
    return [{"people": [{"pose_keypoints_2d": values}], "canvas_width": 512, "canvas_height": 512}]


def person(x: float = 256, y: float = 100) -> list[float]:
    flat = [0.0] * 54
    flat[0:3] = [x, y, 0.9]           # nose
    flat[15:18] = [300.0, 150.0, 0.9]  # left shoulder (OpenPose 5)
    return flat


@pytest.mark.parametrize(("values", "needle"), [
    (person()[:-1] + [float("nan")], "holds nan"),
    (person(x=float("inf")), "holds inf"),
    (person()[:-1] + ["0.9"], "holds '0.9'"),
    (person()[:-1] + [10 ** 400], "finite number"),
    (person()[:-3], "has 51 numbers"),
])
@pytest.mark.bad_input
def test_pose_keypoint_values_that_are_not_finite_numbers(values: list[Any], needle: str) -> None:
    from gligen_suite.nodes.pose_encode_node import encode_poses

    text = message_for(lambda: encode_poses("", openpose(values)))
    assert needle in text and "pose_keypoints_2d" in text


@pytest.mark.bad_input
def test_pose_keypoint_joints_outside_the_picture_are_hidden_not_stretched() -> None:
    """A detector may place a joint past the image border: it is not visible, and it must not switch the whole
    person between pixel and normalized coordinates."""
    from gligen_suite.nodes.pose_encode_node import encode_poses

    grounding = encode_poses("", openpose(person(x=600, y=100)))  # nose right of a 512-wide canvas
    assert grounding.visible[0].tolist()[:1] == [0.0] and grounding.visible[0, 5] == 1
    torch.testing.assert_close(grounding.points[0, 5], torch.tensor([300 / 512, 150 / 512]))
    normalized = [v / 512 if i % 3 != 2 else v for i, v in enumerate(person(x=530, y=100))]
    grounding = encode_poses("", openpose(normalized))  # already normalized; the nose at x 1.04
    assert grounding.visible[0, 0] == 0 and grounding.visible[0, 5] == 1
    torch.testing.assert_close(grounding.points[0, 5], torch.tensor([300 / 512, 150 / 512]))


# ---- canvas sizes and pasted OpenPose files: the message names where the pose came from --------------
def run_pose_node(layout: str, pose_keypoint: Any = None, mode: str = "add to layout") -> Any:
    from gligen_suite.nodes.pose_encode_node import GligenPoseEncode

    return GligenPoseEncode.execute(layout, pose_keypoint, mode)


@pytest.mark.parametrize("width", [1e308, 10 ** 400, 16385, 0.5], ids=["1e308", "10**400", "16385", "half-pixel"])
@pytest.mark.parametrize("source", ["pasted", "add to layout", "copy always"])
@pytest.mark.bad_input
def test_a_canvas_beyond_the_limit_is_refused_naming_the_source(width: Any, source: str) -> None:
    """An astronomically large canvas_width used to escape as a raw OverflowError (or a 400-digit layout width)."""
    frame = openpose(person())[0] | {"canvas_width": width}
    if source == "pasted":
        text = message_for(lambda: run_pose_node(json.dumps(frame)))
        assert text.startswith("The OpenPose JSON pasted into the layout has canvas_width"), text
    else:
        text = message_for(lambda: run_pose_node("", [frame], source))
        assert text.startswith("The POSE_KEYPOINT input has canvas_width"), text
    assert "each from 1 to 16384" in text and len(text) < 300


def test_a_canvas_at_the_limit_is_accepted() -> None:
    grounding = run_pose_node(json.dumps(openpose(person())[0] | {"canvas_width": 16384})).args[0]
    torch.testing.assert_close(grounding.points[0, 0], torch.tensor([256 / 16384, 100 / 512]))


@pytest.mark.parametrize(("pasted", "needles"), [
    ({"people": [], "canvas_width": 512, "canvas_height": 512}, ("contains no people", "paste a file with")),
    ([5], ('has no "people" list', "paste an OpenPose / DWPose JSON file")),
    ({"people": [{"pose_keypoints_2d": person()}]}, ("has canvas_width None", "each from 1 to 16384")),
    (openpose(person()[:-1])[0], (", person 1: pose_keypoints_2d has 53 numbers",)),
], ids=["no-people", "list-of-numbers", "no-canvas", "53-numbers"])
@pytest.mark.bad_input
def test_pasted_openpose_problems_name_the_pasted_text_not_the_pose_keypoint_input(pasted: Any,
                                                                                    needles: tuple[str, ...]) -> None:
    from gligen_suite.nodes.pose_encode_node import encode_poses

    for run in (lambda: run_pose_node(json.dumps(pasted)), lambda: encode_poses(json.dumps(pasted))):
        text = message_for(run)
        assert text.startswith("The OpenPose JSON pasted into the layout"), text
        assert "POSE_KEYPOINT" not in text and all(needle in text for needle in needles), text
