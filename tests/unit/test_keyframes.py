"""Keyframed layouts (issue 13): the schema, the per-frame math, the round trip, and every refusal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devkit.pack import import_pack

import_pack()
from gligen_suite.gligen_model import GligenInputError, parse_layout  # noqa: E402
from gligen_suite.gligen_model.keyframes import (  # noqa: E402
    MAX_FRAMES,
    MAX_KEYFRAMES,
    LastKeyframe,
    check_frame_count,
    layout_at,
    layouts_for_frames,
    max_keyframe,
)
from gligen_suite.gligen_model.layout import LayoutObject, canonical_layout_json  # noqa: E402
from gligen_suite.gligen_model.pose import Person  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "js" / "fixtures" / "keyframed_layouts.json"
W, H = 200, 100


def layout(objects: list | None = None, persons: list | None = None) -> str:
    data: dict = {"version": 1, "width": W, "height": H, "objects": objects or []}
    if persons is not None:
        data["persons"] = persons
    return json.dumps(data)


def keypoints(*points: object) -> list:
    """17 COCO keypoints: the given ones first, the rest hidden."""
    return [list(p) if p else None for p in points] + [None] * (17 - len(points))


def normalized(box: list[float]) -> tuple[float, ...]:
    return (box[0] / W, box[1] / H, box[2] / W, box[3] / H)


def lerp_box(a: list[float], b: list[float], t: float) -> tuple[float, ...]:
    return normalized([p + (q - p) * t for p, q in zip(a, b, strict=True)])


def boxes_by_frame(text: str, frames: int) -> list[list[tuple[float, ...]]]:
    return [[o.box for o in frame.objects] for frame in layouts_for_frames(parse_layout(text), frames)]


# ------------------------------------------------------------------------------------------------- the math
START, MIDDLE, END = [0, 0, 40, 20], [100, 40, 140, 60], [160, 80, 200, 100]


def test_box_corners_move_linearly_between_keyframes_and_hold_after_the_last() -> None:
    text = layout([{"phrase": "a ball", "box": START,
                    "keyframes": [{"frame": 4, "box": MIDDLE}, {"frame": 10, "box": END}]}])
    frames = boxes_by_frame(text, 14)
    for f in range(5):
        assert frames[f] == [pytest.approx(lerp_box(START, MIDDLE, f / 4))], f
    for f in range(4, 11):
        assert frames[f] == [pytest.approx(lerp_box(MIDDLE, END, (f - 4) / 6))], f
    assert frames[0] == [normalized(START)] and frames[4] == [normalized(MIDDLE)]  # keyframes exactly
    assert frames[7] == [pytest.approx(normalized([130, 60, 170, 80]))]  # the midpoint of frames 4 and 10
    assert all(f == [normalized(END)] for f in frames[10:])  # held after the last keyframe


def test_a_hidden_keyframe_removes_the_object_until_the_next_box_which_it_takes_without_sliding_in() -> None:
    text = layout([
        {"phrase": "a ball", "box": START,
         "keyframes": [{"frame": 2, "box": MIDDLE}, {"frame": 4, "hidden": True}, {"frame": 7, "box": END}]},
        {"phrase": "a tree", "box": [0, 0, 10, 10]},  # static: in every frame
    ])
    frames = boxes_by_frame(text, 9)
    tree = normalized([0, 0, 10, 10])
    assert frames[1] == [pytest.approx(lerp_box(START, MIDDLE, 0.5)), tree]
    assert frames[2] == frames[3] == [normalized(MIDDLE), tree]  # held up to the hidden keyframe
    assert frames[4] == frames[5] == frames[6] == [tree]  # vanished
    assert frames[7] == frames[8] == [normalized(END), tree]  # back with its box, not interpolated from frame 2


def test_an_object_hidden_at_frame_0_appears_at_its_first_box_and_a_last_hidden_keyframe_holds() -> None:
    text = layout([{"phrase": "a dog", "box": START, "keyframes": [{"frame": 0, "hidden": True},
                                                                   {"frame": 3, "box": MIDDLE}]},
                   {"phrase": "a cat", "box": START, "keyframes": [{"frame": 2, "hidden": True}]}])
    parsed = parse_layout(text)
    dog, cat = parsed.objects
    names = [[o.phrase for o in frame.objects] for frame in layouts_for_frames(parsed, 6)]
    assert names == [["a cat"], ["a cat"], [], ["a dog"], ["a dog"], ["a dog"]]
    assert layout_at(parsed, 3).objects == (LayoutObject("a dog", normalized(MIDDLE)),)
    assert dog.box == normalized(START)  # what nodes without per-frame grounding use
    assert layout_at(parsed, 1).objects[0] == LayoutObject("a cat", normalized(START))


def test_frame_layouts_are_static_copies_that_keep_everything_but_the_box() -> None:
    text = layout([{"phrase": "a ball", "box": START, "image": 2, "strength": 0.5, "color": "#ff0000",
                    "keyframes": [{"frame": 4, "box": MIDDLE}]}])
    parsed = parse_layout(text)
    frame = layout_at(parsed, 2)
    assert (frame.width, frame.height) == (W, H)
    assert frame.objects == (LayoutObject("a ball", pytest.approx(lerp_box(START, MIDDLE, 0.5)), 2, 0.5),)
    assert layout_at(frame, 0) == frame  # a frame's layout has no keyframes left
    assert max_keyframe(frame) is None


def test_joints_move_between_keyframes_only_where_both_show_them() -> None:
    first = keypoints((10, 10), (20, 20), None, (30, 30))
    second = keypoints((50, 30), None, (40, 40), (70, 70))
    text = layout(persons=[{"keypoints": first, "strength": 0.5, "keyframes": [{"frame": 4, "keypoints": second}]}])
    frames = layouts_for_frames(parse_layout(text), 6)
    joints = [f.persons[0].joints for f in frames]
    assert joints[0][:4] == ((0.05, 0.1), (0.1, 0.2), None, (0.15, 0.3))  # frame 0: its own keypoints, all of them
    for f in (1, 2, 3):
        t = f / 4
        assert joints[f][0] == pytest.approx(((10 + 40 * t) / W, (10 + 20 * t) / H))
        assert joints[f][3] == pytest.approx(((30 + 40 * t) / W, (30 + 40 * t) / H))
        assert joints[f][1] is None and joints[f][2] is None  # shown by only one of the two keyframes
    assert joints[4] == joints[5] == parse_layout(layout(persons=[{"keypoints": second}])).persons[0].joints
    assert all(f.persons[0].strength == 0.5 and f.persons[0].keyframes == () for f in frames)


def test_a_person_hidden_in_a_frame_is_left_out_of_it() -> None:
    pose = keypoints((10, 10))
    text = layout(persons=[{"keypoints": pose, "keyframes": [{"frame": 1, "hidden": True},
                                                             {"frame": 2, "keypoints": pose}]},
                           {"keypoints": keypoints((90, 90))}])
    counts = [len(f.persons) for f in layouts_for_frames(parse_layout(text), 3)]
    assert counts == [2, 1, 2]
    assert layout_at(parse_layout(text), 1).persons == (Person(((0.45, 0.9),) + (None,) * 16),)


def test_sweeping_all_frames_gives_what_each_frame_gives_alone() -> None:
    text = layout(
        [{"phrase": f"thing {i}", "box": START, "keyframes": [
            {"frame": 1 + i, "box": MIDDLE}, {"frame": 3 + 2 * i, "hidden": True}, {"frame": 9 + i, "box": END}]}
         for i in range(3)],
        [{"keypoints": keypoints((1, 1), (2, 2)), "keyframes": [{"frame": 5, "keypoints": keypoints((9, 9))}]}])
    parsed = parse_layout(text)
    swept = layouts_for_frames(parsed, 16)
    assert swept == [layout_at(parsed, f) for f in range(16)]
    for frame in swept:  # interpolated boxes stay valid boxes on the canvas
        assert all(0 <= o.box[0] < o.box[2] <= 1 and 0 <= o.box[1] < o.box[3] <= 1 for o in frame.objects)


def test_a_layout_without_keyframes_is_todays_layout_for_every_frame() -> None:
    text = layout([{"phrase": "a cat", "box": START, "keyframes": []}, {"image": 0, "keyframes": None}],
                  [{"keypoints": keypoints((1, 1)), "keyframes": []}])
    parsed = parse_layout(text)
    assert parsed == parse_layout(layout([{"phrase": "a cat", "box": START}, {"image": 0}],
                                         [{"keypoints": keypoints((1, 1))}]))
    assert parsed.objects[0] == LayoutObject("a cat", normalized(START))  # keyframes=() by default
    assert max_keyframe(parsed) is None
    assert layout_at(parsed, 100) is parsed
    assert all(frame is parsed for frame in layouts_for_frames(parsed, 8))


def test_max_keyframe_names_the_latest_keyframe_and_its_owner() -> None:
    text = layout([{"phrase": "a  very\nlong phrase about a small red ball rolling", "box": START,
                    "keyframes": [{"frame": 12, "hidden": True}]},
                   {"image": 1, "box": START, "keyframes": [{"frame": 20, "box": END}]}],
                  [{"keypoints": keypoints((1, 1)), "keyframes": [{"frame": 20, "hidden": True}]}])
    assert max_keyframe(parse_layout(text)) == LastKeyframe(20, "Layout object 2 (image 1)")
    text = layout([{"phrase": "a ball", "box": START, "keyframes": [{"frame": 12, "hidden": True}]}])
    assert max_keyframe(parse_layout(text)) == LastKeyframe(12, "Layout object 1 ('a ball')")
    check_frame_count(parse_layout(text), 13)  # frames 0 .. 12: enough


def test_the_largest_layout_builds_every_frame() -> None:
    keyframes = [{"frame": 16 * (k + 1) - 1, "box": END if k % 2 else MIDDLE} for k in range(MAX_KEYFRAMES)]
    parsed = parse_layout(layout([{"phrase": f"thing {i}", "box": START, "keyframes": keyframes}
                                  for i in range(30)]))
    frames = layouts_for_frames(parsed, MAX_FRAMES)
    assert len(frames) == MAX_FRAMES and all(len(f.objects) == 30 for f in frames)
    assert frames[-1].objects[0].box == normalized(END) and frames[15].objects[0].box == normalized(MIDDLE)


# ---------------------------------------------------------------------------------------------- round trip
@pytest.mark.parametrize("case", json.loads(FIXTURES.read_text(encoding="utf-8")), ids=lambda c: c["what"][:40])
def test_python_writes_the_canonical_text_the_editors_write(case: dict[str, str]) -> None:
    assert canonical_layout_json(json.loads(case["input"])) == case["canonical"]


def test_a_keyframed_layout_round_trips_through_its_canonical_text() -> None:
    text = layout([{"keyframes": [{"box": [100.0, 40, 140, 60.0], "frame": 3}, {"hidden": True, "frame": 5}],
                    "phrase": "a ball", "box": START}],
                  [{"keypoints": keypoints((1, 1)), "keyframes": [{"frame": 2, "keypoints": keypoints((3, 3))}]}])
    canonical = canonical_layout_json(json.loads(text))
    assert '"keyframes":[{"frame":3,"box":[100,40,140,60]},{"frame":5,"hidden":true}]' in canonical
    assert parse_layout(canonical) == parse_layout(text)
    assert canonical_layout_json(json.loads(canonical)) == canonical


# ------------------------------------------------------------------------------------------------ refusals
def expect_message(text: str, *needles: str) -> None:
    with pytest.raises(GligenInputError) as info:
        parse_layout(text)
    for needle in needles:
        assert needle in str(info.value), str(info.value)


def ball(*keyframes: object) -> str:
    return layout([{"phrase": "a ball", "box": START, "keyframes": list(keyframes)}])


def posed(*keyframes: object) -> str:
    return layout(persons=[{"keypoints": keypoints((10, 10)), "keyframes": list(keyframes)}])


BALL = "Layout object 1 ('a ball')"


@pytest.mark.bad_input
@pytest.mark.parametrize(("text", "needles"), [
    (layout([{"phrase": "a ball", "box": START, "keyframes": {"frame": 1}}]), (BALL, '"keyframes" is', "a list")),
    (ball("frame 4"), (f"{BALL}, keyframe 1 is 'frame 4'", "JSON object")),
    (ball({"frame": 4, "box": MIDDLE, "ease": "in"}), (f"{BALL}, keyframe 1 has unknown keys ['ease']",)),
    (ball({"frame": -1, "box": MIDDLE}), (f"{BALL}, keyframe 1: \"frame\" is -1", "0 to 4095")),
    (ball({"frame": MAX_FRAMES, "box": MIDDLE}), ('"frame" is 4096',)),
    (ball({"frame": 2.5, "box": MIDDLE}), ('"frame" is 2.5', "whole number")),
    (ball({"frame": True, "box": MIDDLE}), ('"frame" is True',)),
    (ball({"box": MIDDLE}), ('keyframe 1: "frame" is None',)),
    (ball({"frame": 8, "box": MIDDLE}, {"frame": 4, "box": END}),
     (f"{BALL}, keyframe 2 (frame 4) comes after the keyframe at frame 8", "increasing frame order")),
    (ball({"frame": 4, "box": MIDDLE}, {"frame": 4, "hidden": True}),
     (f"{BALL}: keyframes 1 and 2 are both at frame 4", "Keep one")),
    (ball({"frame": 0, "hidden": True}, {"frame": 0, "box": MIDDLE}), ("keyframes 1 and 2 are both at frame 0",)),
    (ball({"frame": 0, "box": START}), (f"{BALL}, keyframe 1 (frame 0) has \"box\"", "drop this keyframe")),
    (ball({"frame": 3, "box": MIDDLE, "hidden": True}), ("keyframe 1 (frame 3) is hidden and has a \"box\"",)),
    (ball({"frame": 3, "hidden": "yes"}), ("keyframe 1 (frame 3): \"hidden\" is 'yes'",)),
    (ball({"frame": 3}), ("keyframe 1 (frame 3) has no \"box\"", '"hidden": true')),
    (ball({"frame": 3, "hidden": False}), ("keyframe 1 (frame 3) has no \"box\"",)),
    (ball({"frame": 3, "box": [0, 0, 300, 50]}), (f"{BALL}, keyframe 1 (frame 3): the box", "outside the 200x100")),
    (ball({"frame": 3, "box": [10, 10, 10, 50]}), ("keyframe 1 (frame 3): the box", "zero or negative area")),
    (ball({"frame": 3, "box": [0, 0, 10]}), ("keyframe 1 (frame 3): \"box\" must be four numbers",)),
    ('{"version": 1, "width": 8, "height": 8, "objects": [{"phrase": "x", "box": [0, 0, 1, 1], '
     '"keyframes": [{"frame": 1, "box": [0, 0, NaN, 1]}]}]}', ("keyframe 1 (frame 1): the box", "NaN")),
    (ball(*({"frame": f, "hidden": True} for f in range(1, MAX_KEYFRAMES + 2))),
     (f"{BALL} has 257 keyframes; the limit is {MAX_KEYFRAMES}",)),
    (layout([{"image": 0, "keyframes": [{"frame": 2, "hidden": True}]}]),
     ("Layout object 1 (image 0) is a style image", 'remove its "keyframes"')),
    (layout([{"image": 0, "box": [0, 0, W, H], "keyframes": [{"frame": 2, "box": START}]}]), ("is a style image",)),
    (posed({"frame": 2, "keypoints": [[1, 1]]}), ("Layout person 1, keyframe 1 (frame 2) has 1 keypoints", "17")),
    (posed({"frame": 2, "keypoints": "none"}), ("keyframe 1 (frame 2) has keypoints 'none'",)),
    (posed({"frame": 2, "keypoints": keypoints((500, 10))}), ("keyframe 1 (frame 2): the nose", "outside")),
    (posed({"frame": 2, "keypoints": keypoints()}), ("keyframe 1 (frame 2) has no visible keypoint",
                                                     '"hidden": true')),
    (posed({"frame": 2, "box": START}), ("keyframe 1 has unknown keys ['box']", "'keypoints'")),
    (posed({"frame": 4, "keypoints": keypoints(None, (20, 20))}),
     ("Layout person 1: the keyframes at frames 0 and 4 share no visible joint",)),
])
def test_bad_keyframes_get_a_message_naming_the_entry_the_keyframe_and_the_fix(text: str,
                                                                                needles: tuple[str, ...]) -> None:
    expect_message(text, *needles)


@pytest.mark.bad_input
def test_disjoint_joints_are_allowed_on_neighbouring_frames_and_across_a_hidden_keyframe() -> None:
    """Refused only where frames lie between the two poses; a hidden keyframe between them is no such gap."""
    assert parse_layout(posed({"frame": 1, "keypoints": keypoints(None, (20, 20))})).persons[0].keyframes
    parse_layout(posed({"frame": 1, "hidden": True}, {"frame": 5, "keypoints": keypoints(None, (20, 20))}))
    expect_message(posed({"frame": 1, "keypoints": keypoints((10, 10))},
                         {"frame": 5, "keypoints": keypoints(None, (20, 20))}), "frames 1 and 5 share no visible")


@pytest.mark.bad_input
def test_a_keyframe_past_the_latents_frames_is_refused_naming_the_object_its_frame_and_the_frame_count() -> None:
    parsed = parse_layout(layout([{"phrase": "a cat", "box": START},
                                  {"phrase": "a ball", "box": START, "keyframes": [{"frame": 12, "box": END}]}]))
    with pytest.raises(GligenInputError) as info:
        layouts_for_frames(parsed, 8)
    message = str(info.value)
    for needle in ("Layout object 2 ('a ball') has a keyframe at frame 12", "the latent has 8 frames (0 to 7)",
                   "at least 13 frames", "frame 7 or earlier"):
        assert needle in message, message
    with pytest.raises(GligenInputError, match="keyframe at frame 12, but the latent has 12 frames"):
        check_frame_count(parsed, 12)
    person = parse_layout(posed({"frame": 3, "hidden": True}))
    with pytest.raises(GligenInputError, match=r"Layout person 1 has a keyframe at frame 3, but the latent has 1 frame "
                                               r"\(0 to 0\)"):
        layouts_for_frames(person, 1)


@pytest.mark.bad_input
@pytest.mark.parametrize("frames", [0, -1, MAX_FRAMES + 1, True, 2.0])
def test_a_frame_count_outside_1_to_max_frames_is_refused_before_any_work(frames: object) -> None:
    with pytest.raises(GligenInputError, match=f"The latent has {frames!r} frames; a keyframed layout covers 1 to "
                                               f"{MAX_FRAMES:,}"):
        layouts_for_frames(parse_layout(ball({"frame": 1, "box": END})), frames)  # type: ignore[arg-type]


@pytest.mark.bad_input
@pytest.mark.parametrize("frame", [-1, MAX_FRAMES, 1.0, None])
def test_layout_at_refuses_a_frame_outside_the_schema(frame: object) -> None:
    with pytest.raises(GligenInputError, match="outside a keyframed layout: frames run from 0 to 4095"):
        layout_at(parse_layout(ball({"frame": 1, "box": END})), frame)  # type: ignore[arg-type]
