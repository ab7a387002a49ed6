"""Keypoint grounding pieces against hand-computed official formulas and hand-made poses."""

from __future__ import annotations

import math

import pytest
import torch

from devkit.pack import import_pack

import_pack()
from gligen_suite.gligen_model import GligenInputError  # noqa: E402
from gligen_suite.gligen_model.keypoint_net import KeypointPositionNet  # noqa: E402
from gligen_suite.gligen_model.pose import (  # noqa: E402
    COCO17_JOINTS,
    OPENPOSE18_TO_COCO17,
    person_from_openpose18,
)


def random_keypoint_net(seed: int = 0) -> KeypointPositionNet:
    gen = torch.Generator().manual_seed(seed)
    shapes = {"person_embeddings": (8, 768), "keypoint_embeddings": (17, 768), "null_person_feature": (768,),
              "null_xy_feature": (32,), "linears.0.weight": (512, 800), "linears.0.bias": (512,),
              "linears.2.weight": (512, 512), "linears.2.bias": (512,), "linears.4.weight": (768, 512),
              "linears.4.bias": (768,)}
    net = KeypointPositionNet()
    net.load_state_dict({k: torch.randn(s, generator=gen) * 0.05 for k, s in shapes.items()}, strict=True, assign=True)
    return net


def test_keypoint_tokens_follow_the_official_formula() -> None:
    net = random_keypoint_net()
    points = torch.zeros(1, 136, 2)
    masks = torch.zeros(1, 136)
    person, joint, xy = 2, 9, (0.25, 0.75)  # person slot 2, left wrist
    index = person * 17 + joint
    points[0, index] = torch.tensor(xy)
    masks[0, index] = 1
    tokens = net(points, masks)
    fourier = []
    for k in range(8):  # official FourierEmbedder over (x, y): [sin(f x), sin(f y), cos(f x), cos(f y)] per f
        f = 100 ** (k / 8)
        fourier += [math.sin(f * xy[0]), math.sin(f * xy[1]), math.cos(f * xy[0]), math.cos(f * xy[1])]
    base = net.person_embeddings[person] + net.keypoint_embeddings[joint]
    expected = net.linears(torch.cat([base, torch.tensor(fourier)]))
    torch.testing.assert_close(tokens[0, index], expected, rtol=1e-5, atol=1e-5)
    missing = net.linears(torch.cat([net.null_person_feature, net.null_xy_feature]))
    torch.testing.assert_close(tokens[0, 0], missing)
    torch.testing.assert_close(tokens[0, 135], missing)


def test_openpose18_to_coco17_mapping_by_name() -> None:
    assert len(OPENPOSE18_TO_COCO17) == 17 and 1 not in OPENPOSE18_TO_COCO17  # the neck is dropped
    assert dict(zip(COCO17_JOINTS, OPENPOSE18_TO_COCO17, strict=True)) == {
        "nose": 0, "left_eye": 15, "right_eye": 14, "left_ear": 17, "right_ear": 16, "left_shoulder": 5,
        "right_shoulder": 2, "left_elbow": 6, "right_elbow": 3, "left_wrist": 7, "right_wrist": 4,
        "left_hip": 11, "right_hip": 8, "left_knee": 12, "right_knee": 9, "left_ankle": 13, "right_ankle": 10}


def test_hand_made_openpose_person_in_pixels() -> None:
    flat = [0.0] * 54
    flat[0:3] = [256, 100, 0.9]       # nose
    flat[3:6] = [256, 150, 0.9]       # neck: dropped
    flat[6:9] = [200, 160, 0.8]       # right shoulder
    flat[15:18] = [312, 160, 0.02]    # left shoulder, below the confidence threshold
    person = person_from_openpose18(flat, 512, 512)
    assert person.joints[0] == (0.5, 100 / 512)
    assert person.joints[COCO17_JOINTS.index("right_shoulder")] == (200 / 512, 160 / 512)
    assert person.joints[COCO17_JOINTS.index("left_shoulder")] is None
    assert sum(j is not None for j in person.joints) == 2


def test_normalized_openpose_coordinates_are_kept() -> None:
    flat = [0.0] * 54
    flat[0:3] = [0.5, 0.2, 1.0]
    assert person_from_openpose18(flat, 512, 768).joints[0] == (0.5, 0.2)


@pytest.mark.bad_input
def test_wrong_length_pose_is_refused() -> None:
    with pytest.raises(GligenInputError, match="needs 54"):
        person_from_openpose18([0.0] * 51, 512, 512)
