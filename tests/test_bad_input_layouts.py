"""Node inputs through the nodes' own code with a real CLIP: layout JSON, phrases, poses, schedules.

Adds to tests/test_layout.py (the schema checks one by one) what needs the encode nodes or is about
JSON as it arrives from files, editors and other nodes: huge, nested, unicode, invisible, mixed up.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
from support.comfy_run import TinyHost
from support.errors import message_for

pytestmark = pytest.mark.bad_input


def layout_json(objects: list[Any], **top: Any) -> str:
    return json.dumps({"version": 1, "width": 512, "height": 512, "objects": objects} | top)


def one_object(phrase: str, box: Any = (0, 0, 64, 64)) -> str:
    return layout_json([{"phrase": phrase, "box": list(box)}])


def encode(host: TinyHost, text: str, previous: Any = None) -> Any:
    from gligen_suite.nodes.text_box_encode_node import encode_layout

    return encode_layout(host.clip, text, previous)


@pytest.fixture(scope="module")
def host(tiny_host: TinyHost) -> TinyHost:
    return tiny_host


# ---- text that is not a layout, or a layout too big ---------------------------------------------
BAD_TEXT = [
    ("[" * 100_000 + "]" * 100_000, ("nested too deeply",)),
    ('{"version": 1, "width": ' + "5" * 5000 + ', "height": 64, "objects": []}', ("number JSON cannot read",)),
    (one_object("a cat").replace("[0, 0, 64, 64]", "[0, 0, 1" + "0" * 400 + ", 64]"),
     ("object 1 ('a cat')", "too large", "pixel coordinates")),
    (layout_json([{"phrase": "a cat", "box": [0, 0, 8, 8], "strength": 10 ** 400}]), ('"strength" is', "0 to 5")),
    (layout_json([{"phrase": "a cat", "box": [0, 0, 8, 8]}]) + " x", ("not valid JSON", "line 1")),
    ("{'version': 1, 'width': 512, 'height': 512, 'objects': []}", ("not valid JSON", "double quotes")),
    ('{"version": 1, "width": 512, "height": 512, "objects": [],}', ("not valid JSON", "line 1, column")),
    (json.dumps(layout_json([])), ("must be a JSON object",)),  # the layout JSON encoded twice
    (layout_json([{"phrase": "x" * 100, "box": [0, 0, 8, 8]}] * 100_000), ("characters long", "at most 30 objects")),
    (layout_json([], width="512"), ("\"width\" is '512'", "whole number of pixels")),
    (layout_json([], height=20_000), ('"height" is 20000', "1 to 16384")),
    (layout_json({"phrase": "a cat"}), ('"objects" list',)),
    (layout_json([], persons={"keypoints": []}), ('"persons" must be a list',)),
    (one_object("a cat", ("0", "0", "8", "8")), ("four numbers", "['0', '0', '8', '8']")),
    (one_object("\u200b\u200b"), ("empty phrase", "describe what goes in its box")),  # zero-width spaces only
    (one_object("\x00\x07"), ("empty phrase",)),  # control codes only
    (one_object("\u3000 \t"), ("empty phrase",)),  # ideographic and ordinary white space
    (layout_json([{"phrase": f"o{i}", "box": [0, 0, 8, 8]} for i in range(30)] + [{"phrase": "one more"}]),
     ("31 objects", "at most 30")),
]


@pytest.mark.parametrize(("text", "needles"), BAD_TEXT, ids=[
    "nested", "5000-digit-int", "huge-box-int", "huge-strength", "trailing-garbage", "python-quotes",
    "trailing-comma", "double-encoded", "11MB", "width-string", "canvas-too-big", "objects-dict",
    "persons-dict", "box-strings", "zero-width-phrase", "control-code-phrase", "blank-unicode-phrase", "31-objects"])
def test_bad_layout_text_is_named_at_the_encode_node(host: TinyHost, text: str, needles: tuple[str, ...]) -> None:
    text_message = message_for(lambda: encode(host, text))
    for needle in needles:
        assert needle in text_message, text_message
    assert len(text_message) < 600  # a message, not an echo of the input


def test_a_byte_order_mark_from_a_windows_file_is_accepted(host: TinyHost) -> None:
    assert encode(host, "\ufeff" + one_object("a cat")).phrases == ("a cat",)


# ---- phrases: long, unicode, boundaries ---------------------------------------------------------
@pytest.mark.parametrize("phrase", ["cat " * 250, "猫" * 40, "🐱" * 80], ids=["1000-chars", "cjk-tokens", "emoji"])
def test_phrases_longer_than_clip_are_named_with_the_fix(host: TinyHost, phrase: str) -> None:
    text = message_for(lambda: encode(host, layout_json([{"phrase": "a dog", "box": [0, 0, 8, 8]},
                                                         {"phrase": phrase, "box": [0, 0, 8, 8]}])))
    assert "The phrase of object 2" in text and "longer than CLIP's 75 tokens" in text and "shorten it" in text
    assert len(text) < 400


def test_unicode_phrases_are_encoded(host: TinyHost) -> None:
    """Emoji, CJK, right-to-left script, a combining accent and a stray control code all reach CLIP."""
    phrases = ["🐱 a cat", "一只红色的猫", "قطة حمراء", "cafe\u0301 table", "a\x00cat", "猫" * 20]
    grounding = encode(host, layout_json([{"phrase": p, "box": [0, 0, 64, 64]} for p in phrases]))
    features = grounding.phrase_embeddings
    assert grounding.phrases == tuple(phrases) and features.shape == (6, 768) and torch.isfinite(features).all()
    assert len({tuple(f.tolist()) for f in features}) == 6  # every phrase its own feature


def test_boundaries_are_accepted(host: TinyHost) -> None:
    """30 objects, boxes on the canvas edges and fractional pixels, a tiny canvas: all valid."""
    objects = [{"phrase": f"thing {i}", "box": [0, 0, 512, 512] if i == 0 else [i + 0.5, 1.25, 100.75, 511.9]}
               for i in range(30)]
    grounding = encode(host, layout_json(objects))
    assert len(grounding) == 30 and grounding.boxes[0].tolist() == [0.0, 0.0, 1.0, 1.0]
    tiny = encode(host, json.dumps({"version": 1, "width": 1, "height": 1,
                                    "objects": [{"phrase": "a dot", "box": [0, 0, 1, 1]}]}))
    assert tiny.boxes.tolist() == [[0.0, 0.0, 1.0, 1.0]]


# ---- layouts given to the wrong node, groundings chained the wrong way ------------------------------
def test_a_pose_layout_at_the_text_box_node_and_a_box_layout_at_the_pose_node(host: TinyHost) -> None:
    from gligen_suite.nodes.pose_encode_node import default_pose_layout_json, encode_poses

    text = message_for(lambda: encode(host, default_pose_layout_json()))
    assert "persons but no objects" in text and "GLIGEN Pose Encode" in text
    text = message_for(lambda: encode_poses(one_object("a cat")))
    assert "objects but no persons" in text and "GLIGEN Text-Box Encode" in text


def test_pose_grounding_in_append_to_is_named(host: TinyHost) -> None:
    from gligen_suite.nodes.pose_encode_node import default_pose_layout_json, encode_poses

    text = message_for(lambda: encode(host, one_object("a cat"), encode_poses(default_pose_layout_json())))
    assert "'append_to' got grounding from GLIGEN Pose Encode" in text


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
def test_pose_keypoint_values_that_are_not_finite_numbers(values: list[Any], needle: str) -> None:
    from gligen_suite.nodes.pose_encode_node import encode_poses

    text = message_for(lambda: encode_poses("", openpose(values)))
    assert needle in text and "pose_keypoints_2d" in text


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


# ---- schedule widgets (the API takes any number; the UI's limits do not apply there) -----------------
@pytest.mark.parametrize(("mode", "on", "decay", "strength", "curve", "needle"), [
    ("phases", 1.5, 0.0, 1.0, "", "grounding fraction is 1.5"),
    ("phases", 0.7, 0.5, 1.0, "", "exceed 1"),
    ("phases", 0.3, float("nan"), 1.0, "", "decay fraction is nan"),
    ("constant", 0.3, 0.0, -1.0, "", "strength -1.0 is invalid"),
    ("curve", 0.3, 0.0, 1.0, "", "curve is empty"),
    ("curve", 0.3, 0.0, 1.0, "1, 1, half, 0", "numbers separated by commas"),
    ("curve", 0.3, 0.0, 1.0, "1, nan, 0", "invalid values [nan]"),
    ("curve", 0.3, 0.0, 1.0, "1, -2", "invalid values [-2.0]"),
    ("sometimes", 0.3, 0.0, 1.0, "", "Unknown schedule mode 'sometimes'"),
])
def test_bad_schedule_values(mode: str, on: float, decay: float, strength: float, curve: str, needle: str) -> None:
    from gligen_suite.nodes.schedule_node import build_schedule

    assert needle in message_for(lambda: build_schedule(mode, on, decay, strength, curve))
