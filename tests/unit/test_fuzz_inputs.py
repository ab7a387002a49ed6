"""Property-based fuzzing (Hypothesis) of the layout text every encode node reads (issue 15).

The property, for every text a user can type or an API client can send as `layout`: the node's own steps
(decode, seeding, validation, the phrase tokenizer, the preview, masks and boxes) give a valid result or raise
GligenInputError with a short one-paragraph message naming the input, never another exception, within the
deadline. Poses and seed boxes: tests/unit/test_fuzz_poses_and_seeds.py; schedules, combos and tensors:
tests/unit/test_fuzz_numbers_and_tensors.py; the strategies and the checks: devkit/fuzz.py.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from devkit.fuzz import (
    BOX_LAYOUT,
    IMAGE_LAYOUT,
    POSE_LAYOUT,
    check_layout,
    check_refusal,
    fuzz,
    json_values,
    layout_texts,
    mutated,
    raw_texts,
    run_pose_encode,
    run_text_box_encode,
)

pytestmark = pytest.mark.bad_input
TEXT_BOX_WORDS = ("layout", "phrase", "object")
POSE_WORDS = ("layout", "openpose", "person")
LONG = "x" * 1000  # quoted whole, a value this long made a message of over 1,000 characters (found here, now cut)


def changed(base: dict, **fields: object) -> str:
    return json.dumps({**base, **fields})


@fuzz(200)
@given(raw_texts)
@example("\ufeff")  # issue 15's cases: a lone byte-order mark, a phrase with a lone surrogate
@example('{"version": 1, "width": 8, "height": 8, "objects": [{"phrase": "\\ud800", "box": [0, 0, 8, 8]}]}')
def test_any_text_at_text_box_encode(text: str) -> None:
    check_refusal(lambda: run_text_box_encode(text), TEXT_BOX_WORDS)


@fuzz(200)
@given(json_values.flatmap(layout_texts))
def test_any_json_value_as_the_layout(text: str) -> None:
    check_refusal(lambda: run_text_box_encode(text), TEXT_BOX_WORDS)
    check_refusal(lambda: run_pose_encode(text), POSE_WORDS)


@fuzz(200)
@given(st.sampled_from([BOX_LAYOUT, IMAGE_LAYOUT, POSE_LAYOUT]).flatmap(mutated).flatmap(layout_texts))
@example(changed(BOX_LAYOUT, version=LONG))
@example(changed(BOX_LAYOUT, width=LONG))
@example(changed(BOX_LAYOUT, objects=[{"image": LONG, "box": [0, 0, 8, 8]}]))
@example(changed(BOX_LAYOUT, objects=[{"phrase": "a sky", "box": [0, 0, "\u200b" * 4000, 8]}]))  # 24,108 characters
@example(changed(POSE_LAYOUT, persons=[{"keypoints": [LONG] + [None] * 16}]))
def test_a_valid_layout_with_one_field_changed(text: str) -> None:
    check_refusal(lambda: run_text_box_encode(text), TEXT_BOX_WORDS)
    check_refusal(lambda: run_pose_encode(text), POSE_WORDS)


def test_the_valid_layouts_are_valid() -> None:
    """The mutations start from layouts the nodes accept."""
    check_layout(run_text_box_encode(json.dumps(BOX_LAYOUT)).layout)
    assert len(run_pose_encode(json.dumps(POSE_LAYOUT))) == 1
