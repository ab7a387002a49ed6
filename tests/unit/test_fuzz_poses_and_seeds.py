"""Property-based fuzzing (Hypothesis) of the seed inputs and poses other nodes send (issue 15): BOUNDING_BOX,
BOUNDING_BOXES and BBOX at Text-Box Encode's seed_boxes, POSE_KEYPOINT frames at Pose Encode, OpenPose JSON pasted
into either encode node's layout, and the seed_mode / pose_keypoint_mode combos. The property and the budget:
devkit/fuzz.py.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from devkit.fuzz import (
    BOX_LAYOUT,
    OPENPOSE_FRAME,
    POSE_LAYOUT,
    REFUSED,
    check_refusal,
    combo,
    evenly,
    fuzz,
    json_values,
    layout_texts,
    mutated,
    numbers,
    pose_frames,
    python_values,
    run_pose_encode,
    run_text_box_encode,
    seed_values,
)
from devkit.pack import import_pack

import_pack()
from gligen_suite.nodes.editor.colors import is_hex_color  # noqa: E402
from gligen_suite.nodes.editor.seeding import POSE_KEYPOINT_MODES, SEED_MODES, seed_boxes  # noqa: E402

pytestmark = pytest.mark.bad_input
SEED_WORDS = ("seed_boxes", "seed_mode", "layout", "phrase", "object")
POSE_WORDS = ("pose_keypoint", "layout", "openpose", "person")
TEXT_BOX_WORDS = ("layout", "phrase", "object")
EMPTY_LAYOUT = json.dumps({"version": 1, "width": 512, "height": 512, "objects": []})
box_layouts = evenly(st.sampled_from(["", "{}", EMPTY_LAYOUT, json.dumps(BOX_LAYOUT)]),
                     mutated(BOX_LAYOUT).map(json.dumps))
pose_layouts = evenly(st.sampled_from(["", json.dumps(POSE_LAYOUT), json.dumps({**POSE_LAYOUT, "persons": []})]),
                      mutated(POSE_LAYOUT).map(json.dumps))
canvases = evenly(st.none(), st.tuples(st.integers(1, 1024), st.integers(1, 1024)),
                  st.tuples(st.integers(0, 20_000), st.integers(0, 20_000)))


@fuzz(250)
@given(seed_values, st.integers(1, 2048), st.integers(1, 2048))
@example({"x": 0, "y": 0, "width": 0, "height": 10**400}, 1, 1)  # found: a raw OverflowError (int too large)
@example([0, 0, 10**400, 8], 8, 8)  # the same in a BBOX
def test_seed_boxes_are_clipped_to_the_canvas_or_named(seed: object, width: int, height: int) -> None:
    boxes = check_refusal(lambda: seed_boxes(seed, width, height), ("seed_boxes",))
    for box in [] if boxes is REFUSED else boxes:
        x0, y0, x1, y1 = box.box
        assert all(math.isfinite(v) for v in box.box) and 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
        assert isinstance(box.text, str) and (box.color is None or is_hex_color(box.color))


@fuzz(200)
@given(box_layouts, seed_values, combo(SEED_MODES), canvases)
@example(EMPTY_LAYOUT, [0, 0, 8, 8], "x" * 1000, None)  # found: seed_mode quoted whole, a 1,066-character message
def test_seed_boxes_at_text_box_encode(text: str, seed: object, mode: object, canvas: tuple[int, int] | None) -> None:
    check_refusal(lambda: run_text_box_encode(text, seed, mode, canvas), SEED_WORDS)


@fuzz(200)
@given(pose_layouts, pose_frames(numbers, python_values), combo(POSE_KEYPOINT_MODES))
@example(json.dumps(POSE_LAYOUT), OPENPOSE_FRAME, 10**999)  # found: pose_keypoint_mode quoted whole (1,000 digits)
def test_pose_keypoint_at_pose_encode(text: str, pose_keypoint: object, mode: object) -> None:
    check_refusal(lambda: run_pose_encode(text, pose_keypoint, mode), POSE_WORDS)


@fuzz(200)
@given(pose_frames(numbers, json_values).flatmap(layout_texts))
@example(json.dumps({**OPENPOSE_FRAME, "version": "x" * 1000}))  # found: "Layout schema version 'xxx...'" in full
def test_openpose_json_pasted_into_either_encode_node(text: str) -> None:
    check_refusal(lambda: run_pose_encode(text), POSE_WORDS)
    check_refusal(lambda: run_text_box_encode(text), TEXT_BOX_WORDS)
