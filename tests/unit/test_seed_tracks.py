"""Seeding keyframes from a batch of detections: one list of boxes per image at seed_boxes, POSE_KEYPOINT frames at
Pose Encode's copy modes (nodes/editor/seed_tracks.py, seeding.py). Every seeded layout is parsed by the real layout
parser and replayed frame by frame with gligen_model.keyframes.layouts_for_frames."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import pytest

from devkit.pack import import_pack

import_pack()
from gligen_suite.gligen_model import GligenInputError  # noqa: E402
from gligen_suite.gligen_model.keyframes import MAX_FRAMES, MAX_KEYFRAMES, layouts_for_frames  # noqa: E402
from gligen_suite.gligen_model.layout import MAX_OBJECTS, Layout, layout_from_data  # noqa: E402
from gligen_suite.nodes.editor.document import LayoutDocument  # noqa: E402
from gligen_suite.nodes.editor.seed_tracks import TOLERANCE_PX, thin  # noqa: E402
from gligen_suite.nodes.editor.seeding import (  # noqa: E402
    COPY_ALWAYS,
    COPY_WHEN_EMPTY,
    seed_box_layout,
    seed_pose_layout,
)

W, H = 512, 256
SLACK = 1e-6  # float error of normalizing and interpolating


def document(objects: list | None = None, persons: list | None = None) -> LayoutDocument:
    data: dict[str, Any] = {"version": 1, "width": W, "height": H, "objects": objects or []}
    if persons is not None:
        data["persons"] = persons
    return LayoutDocument.decode(json.dumps(data))


def box(text: str, x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    """A BOUNDING_BOXES entry ({x, y, width, height} pixels) with its text."""
    return {"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0, "metadata": {"type": "obj", "text": text}}


def seeded(seed: Any, mode: str = COPY_WHEN_EMPTY, current: LayoutDocument | None = None) -> LayoutDocument:
    result = seed_box_layout(current or document(), seed, mode, (W, H))
    assert result is not None
    data = json.loads(result.text)
    for i, entry in enumerate(data["objects"]):  # boxes without text seed no phrase; the node asks for one
        entry["phrase"] = entry["phrase"] or f"unnamed {i}"
    layout_from_data(data)  # the canonical text parses with the real layout parser
    return result


def pixels(layout: Layout, frames: int) -> list[dict[str, tuple[float, ...]]]:
    """Per frame: phrase -> the box in pixels (objects hidden there are absent)."""
    return [{o.phrase: (o.box[0] * W, o.box[1] * H, o.box[2] * W, o.box[3] * H) for o in frame.objects}
            for frame in layouts_for_frames(layout, frames)]


def assert_reproduces(layout: Layout, expected: list[dict[str, tuple[float, ...]]]) -> None:
    for f, (got, want) in enumerate(zip(pixels(layout, len(expected)), expected, strict=True)):
        assert got.keys() == want.keys(), f"frame {f}"
        for phrase, values in want.items():
            assert all(abs(a - b) <= TOLERANCE_PX + SLACK for a, b in zip(got[phrase], values, strict=True)), (
                f"frame {f}, {phrase}: {got[phrase]} != {values}")


# ---------------------------------------------------------------------------------------- boxes
def test_a_box_moving_over_16_frames_becomes_keyframes_replayed_within_the_tolerance() -> None:
    # fast, then slow to the right; falling faster and faster
    path = [(10 + 12 * f if f <= 7 else 94 + 4 * (f - 7), 20 + f * f / 8) for f in range(16)]
    seed = [[box("a kite", x, y, x + 64, y + 48)] for x, y in path]
    result = seeded(seed)
    (kite,) = result.layout.objects
    assert 2 < len(kite.keyframes) <= 8  # thinned, yet following the curve
    assert_reproduces(result.layout, [{"a kite": (x, y, x + 64, y + 48)} for x, y in path])
    assert json.loads(result.text)["objects"][0]["box"] == [10, 20, 74, 68]  # frame 0's box is the entry's own


def test_a_straight_line_motion_thins_to_its_two_ends() -> None:
    seed = [[box("a car", 4 + 10 * f, 100, 68 + 10 * f, 140)] for f in range(16)]
    result = seeded(seed)
    (car,) = result.layout.objects
    assert [k.frame for k in car.keyframes] == [0, 15]
    assert json.loads(result.text)["objects"][0]["keyframes"] == [{"frame": 15, "box": [154, 100, 218, 140]}]
    assert_reproduces(result.layout, [{"a car": (4 + 10 * f, 100, 68 + 10 * f, 140)} for f in range(16)])


def test_a_box_that_does_not_move_gets_no_keyframes() -> None:
    result = seeded([[box("a lamp", 100, 50, 150, 90)]] * 8)
    assert json.loads(result.text)["objects"] == [{"phrase": "a lamp", "box": [100, 50, 150, 90]}]


def test_an_object_vanishing_and_reappearing_is_hidden_in_between() -> None:
    frames: list[list[dict[str, Any]]] = [[box("a ball", 10 + 8 * f, 60, 42 + 8 * f, 92)] for f in range(12)]
    for f in (4, 5, 6):
        frames[f] = []
    result = seeded(frames)
    (ball,) = json.loads(result.text)["objects"]
    assert ball["keyframes"] == [{"frame": 3, "box": [34, 60, 66, 92]}, {"frame": 4, "hidden": True},
                                 {"frame": 7, "box": [66, 60, 98, 92]}, {"frame": 11, "box": [98, 60, 130, 92]}]
    assert_reproduces(result.layout, [{} if not boxes else {"a ball": (10 + 8 * f, 60, 42 + 8 * f, 92)}
                                      for f, boxes in enumerate(frames)])


def test_a_new_object_at_frame_5_is_hidden_before_it_and_its_own_box_is_its_first() -> None:
    frames = [[box("a tree", 300, 20, 360, 200)] + ([box("a bird", 20 + f, 10, 40 + f, 30)] if f >= 5 else [])
              for f in range(10)]
    result = seeded(frames)
    tree, bird = json.loads(result.text)["objects"]
    assert "keyframes" not in tree
    assert bird["box"] == [25, 10, 45, 30]
    assert bird["keyframes"] == [{"frame": 0, "hidden": True}, {"frame": 5, "box": [25, 10, 45, 30]},
                                 {"frame": 9, "box": [29, 10, 49, 30]}]
    assert_reproduces(result.layout, [{"a tree": (300, 20, 360, 200)} | (
        {"a bird": (20 + f, 10, 40 + f, 30)} if f >= 5 else {}) for f in range(10)])


def test_two_crossing_objects_with_different_texts_are_tracked_by_text() -> None:
    def frame(f: int) -> list[dict[str, Any]]:
        cat = box("a cat", 40 * f, 100, 40 * f + 80, 180)
        dog = box("a dog", 432 - 40 * f, 110, 512 - 40 * f, 190)
        return [dog, cat] if f % 2 else [cat, dog]  # the detector's order changes from frame to frame

    result = seeded([frame(f) for f in range(11)])  # they overlap in frames 4 to 6
    assert [o.phrase for o in result.layout.objects] == ["a cat", "a dog"]
    assert_reproduces(result.layout, [{"a cat": (40 * f, 100, 40 * f + 80, 180),
                                       "a dog": (432 - 40 * f, 110, 512 - 40 * f, 190)} for f in range(11)])


def test_boxes_without_text_follow_the_best_overlap_and_far_ones_start_new_objects() -> None:
    frames = [[[10 + 2 * f, 10, 60 + 2 * f, 60], [400 - 2 * f, 100, 450 - 2 * f, 150]][::1 - 2 * (f % 2)]
              for f in range(6)]
    frames[3].append([200, 200, 230, 230])  # overlaps nothing, far from both: a third object
    data = json.loads(seeded(frames).text)["objects"]
    assert [o["box"] for o in data] == [[10, 10, 60, 60], [400, 100, 450, 150], [200, 200, 230, 230]]
    assert data[0]["keyframes"] == [{"frame": 5, "box": [20, 10, 70, 60]}]
    assert data[2]["keyframes"] == [{"frame": 0, "hidden": True}, {"frame": 3, "box": [200, 200, 230, 230]},
                                    {"frame": 4, "hidden": True}]


def test_random_tracks_with_gaps_are_reproduced_at_every_frame() -> None:
    rng = random.Random(7)
    expected: list[dict[str, tuple[float, ...]]] = []
    frames = []
    positions = {f"object {i}": [rng.uniform(0, 400), rng.uniform(0, 200)] for i in range(5)}
    for _ in range(60):
        boxes, want = [], {}
        for text, at in positions.items():
            at[0] = min(max(at[0] + rng.choice([0, 0, 1.5, -3, 0.25]), 0), 400)
            if rng.random() < 0.85:
                values = (round(at[0], 2), round(at[1], 2), round(at[0], 2) + 40, round(at[1], 2) + 30)
                boxes.append(box(text, *values))
                want[text] = values
        rng.shuffle(boxes)
        frames.append(boxes)
        expected.append(want)
    result = seeded(frames)
    assert len(result.layout.objects) == 5
    assert_reproduces(result.layout, expected)


@pytest.mark.bad_input
def test_more_distinct_objects_than_gligen_takes_are_refused_naming_the_counts() -> None:
    frames = [[box(f"thing {f}-{i}", 10 * i, 10, 10 * i + 8, 18) for i in range(16)] for f in range(2)]
    with pytest.raises(GligenInputError) as info:
        seed_box_layout(document(), frames, COPY_WHEN_EMPTY, (W, H))
    message = str(info.value)
    assert f"make {MAX_OBJECTS + 1} objects" in message and f"at most {MAX_OBJECTS}" in message
    assert "frames 0 to 1 (of 2)" in message and "fewer detections" in message
    with pytest.raises(GligenInputError, match=f"frame 1 holds 31 boxes; GLIGEN takes at most {MAX_OBJECTS}"):
        seed_box_layout(document(), [[], [[0, 0, 4, 4]] * 31], COPY_WHEN_EMPTY, (W, H))


@pytest.mark.bad_input
def test_more_images_than_keyframes_reach_are_refused_before_any_box_is_read() -> None:
    unreadable = [["not a box"]] * (MAX_FRAMES + 1)  # reading any box would fail with another message
    with pytest.raises(GligenInputError, match=f"holds {MAX_FRAMES + 1:,} images .* at most {MAX_FRAMES:,} frames"):
        seed_box_layout(document(), unreadable, COPY_WHEN_EMPTY, (W, H))
    with pytest.raises(GligenInputError, match="seed_boxes frame 1, box 1 is 'not a box'"):
        seed_box_layout(document(), [[], ["not a box"]], COPY_WHEN_EMPTY, (W, H))


@pytest.mark.bad_input
def test_a_track_needing_more_than_the_keyframe_limit_is_refused() -> None:
    zigzag = [[box("a fly", 100 + 5 * (f % 2), 50, 120 + 5 * (f % 2), 70)] for f in range(MAX_KEYFRAMES + 10)]
    with pytest.raises(GligenInputError) as info:
        seed_box_layout(document(), zigzag, COPY_WHEN_EMPTY, (W, H))
    assert "seed_boxes object 1 ('a fly') needs 265 keyframes" in str(info.value)
    assert f"at most {MAX_KEYFRAMES}" in str(info.value) and "Smooth the detections" in str(info.value)


def test_a_single_image_seeds_as_before_without_keyframes() -> None:
    boxes = [box("a cat", 10, 20, 110, 70), [200, 30, 240, 90]]
    expected = ('{"version":1,"width":512,"height":256,"objects":[{"phrase":"a cat","box":[10,20,110,70]},'
                '{"phrase":"","box":[200,30,240,90]}]}')
    assert seeded(boxes).text == expected
    assert seeded([boxes]).text == expected  # one list for one image


def test_copy_when_empty_and_copy_always_with_a_batch() -> None:
    batch = [[box("a boat", 10 + 4 * f, 100, 90 + 4 * f, 150), [300, 10, 340, 40]] for f in range(8)]
    current = document([{"phrase": "a ship", "box": [0, 0, 8, 8], "color": "#123456", "strength": 0.5,
                         "keyframes": [{"frame": 3, "box": [8, 8, 16, 16]}]},
                        {"phrase": "a gull", "box": [0, 0, 4, 4], "keyframes": [{"frame": 2, "hidden": True}]}])
    assert seed_box_layout(current, batch, COPY_WHEN_EMPTY, (W, H)) is None
    boat, gull = json.loads(seeded(batch, COPY_ALWAYS, current).text)["objects"]
    assert boat == {"phrase": "a boat", "box": [10, 100, 90, 150], "strength": 0.5, "color": "#123456",
                    "keyframes": [{"frame": 7, "box": [38, 100, 118, 150]}]}  # the seed's keyframes replace its own
    assert gull == {"phrase": "a gull", "box": [300, 10, 340, 40]}  # the phrase kept by index, no keyframes left
    single = json.loads(seeded(batch[0], COPY_ALWAYS, current).text)["objects"]
    assert all("keyframes" not in o for o in single)  # one image's boxes replace the box and its keyframes


# ---------------------------------------------------------------------------------------- thinning itself
def test_thinning_keeps_run_starts_hidden_frames_and_changed_joint_sets() -> None:
    a, b, c = ((0.0, 0.0), (10.0, 0.0)), ((1.0, 0.0), (11.0, 0.0)), ((2.0, 0.0), (12.0, 0.0))
    assert thin([None, None, a, b]) == [(0, None), (2, a), (3, b)]
    # joint 1 vanishes at frame 3: interpolating c to frame 4 (which lacks it) hides it at frame 3 as the seed does
    assert thin([a, b, c, ((2.0, 0.0), None), ((3.0, 0.0), None)]) == [(0, a), (2, c), (4, ((3.0, 0.0), None))]
    # joint 1 appears at frame 1: interpolating from frame 0 (which lacks it) would hide it, so frame 1 is kept
    first_only = ((0.0, 0.0), None)
    assert thin([first_only, b, c]) == [(0, first_only), (1, b), (2, c)]
    assert thin([a, a, a, None]) == [(0, a), (3, None)]  # held up to the hidden keyframe


# ---------------------------------------------------------------------------------------- poses
CANVAS = (400, 300)


def pose_frame(*people: dict[int, tuple[float, float]], canvas: tuple[int, int] = CANVAS) -> dict[str, Any]:
    """One POSE_KEYPOINT frame: each person as {OpenPose-18 index: (x, y) pixels}."""
    flat_people = []
    for joints in people:
        flat = [0.0] * 54
        for index, (x, y) in joints.items():
            flat[index * 3: index * 3 + 3] = [x, y, 0.9]
        flat_people.append({"pose_keypoints_2d": flat})
    return {"people": flat_people, "canvas_width": canvas[0], "canvas_height": canvas[1]}


def standing(dx: float) -> dict[int, tuple[float, float]]:
    return {0: (100 + dx, 50), 2: (80 + dx, 100), 5: (120 + dx, 100)}  # nose, right / left shoulder


def joints_by_frame(layout: Layout, frames: int) -> list[list[dict[int, tuple[float, float]]]]:
    """Per frame, each visible person's visible COCO joints in pixels."""
    return [[{j: (p[0] * W_POSE, p[1] * H_POSE) for j, p in enumerate(person.joints) if p is not None}
             for person in frame.persons] for frame in layouts_for_frames(layout, frames)]


W_POSE, H_POSE = CANVAS
NOSE, LEFT_SHOULDER, RIGHT_SHOULDER = 0, 5, 6  # COCO-17 indices


def coco(dx: float) -> dict[int, tuple[float, float]]:
    return {NOSE: (100 + dx, 50), LEFT_SHOULDER: (120 + dx, 100), RIGHT_SHOULDER: (80 + dx, 100)}


def test_poses_over_frames_become_person_keyframes_and_a_missing_person_is_hidden() -> None:
    frames = []
    for f in range(10):
        walker, runner = standing(5 * f), standing(200 + 8 * f)
        people = [walker] if f == 4 else ([runner, walker] if f % 3 == 0 and f else [walker, runner])
        frames.append(pose_frame(*people))
    empty = document(persons=[])
    result = seed_pose_layout(empty, frames, COPY_WHEN_EMPTY)
    assert result is not None
    data = json.loads(result.text)
    layout = layout_from_data(data)
    walker, runner = data["persons"]
    assert walker["keypoints"][NOSE] == [100, 50]
    assert [k["frame"] for k in walker["keyframes"]] == [9] and walker["keyframes"][0]["keypoints"][NOSE] == [145, 50]
    assert [(k["frame"], k.get("hidden", False)) for k in runner["keyframes"]] == [(3, False), (4, True), (5, False),
                                                                                  (9, False)]
    replayed = joints_by_frame(layout, 10)
    for f in range(10):
        want = [coco(5 * f)] + ([] if f == 4 else [coco(200 + 8 * f)])
        assert len(replayed[f]) == len(want)
        for got, expected in zip(replayed[f], want, strict=True):
            assert got.keys() == expected.keys()
            assert all(math.dist(got[j], expected[j]) <= TOLERANCE_PX + SLACK for j in expected), f"frame {f}"


def test_pose_frames_with_changing_joints_parse_and_replay_exactly_their_visible_joints() -> None:
    rng = random.Random(3)
    frames, expected = [], []
    for f in range(40):
        joints = {i: (50 + 3 * f + 10 * i + rng.choice([0, 0, 2]), 40 + 5 * i) for i in (0, 2, 5, 8, 11)
                  if rng.random() < 0.7}
        frames.append(pose_frame(joints) if joints else pose_frame())
        expected.append(joints)
    result = seed_pose_layout(document(persons=[]), frames, COPY_ALWAYS)
    assert result is not None
    replayed = joints_by_frame(layout_from_data(json.loads(result.text)), 40)  # check_shared_joints passes too
    for f, joints in enumerate(expected):
        assert len(replayed[f]) == (1 if joints else 0), f"frame {f}"
        if joints:
            assert len(replayed[f][0]) == len(joints), f"frame {f}"


def test_pose_copy_modes_keep_settings_by_index_and_scale_other_canvases_to_the_first() -> None:
    frames = [pose_frame(standing(0)), pose_frame({k: (2 * x, 2 * y) for k, (x, y) in standing(10).items()},
                                                  canvas=(800, 600))]
    current = document(persons=[{"keypoints": [[10, 10]] + [None] * 16, "color": "#abcdef", "strength": 0.5,
                                 "keyframes": [{"frame": 1, "hidden": True}]}])
    assert seed_pose_layout(current, frames, COPY_WHEN_EMPTY) is None
    result = seed_pose_layout(current, frames, COPY_ALWAYS)
    assert result is not None
    data = json.loads(result.text)
    (person,) = data["persons"]
    assert (data["width"], data["height"]) == CANVAS
    assert person["color"] == "#abcdef" and person["strength"] == 0.5
    assert person["keyframes"] == [{"frame": 1, "keypoints": [[k[0] + 10, k[1]] if k else None
                                                               for k in person["keypoints"]]}]


@pytest.mark.bad_input
def test_pose_batches_that_are_too_long_or_show_nobody_are_refused() -> None:
    with pytest.raises(GligenInputError, match=f"holds {MAX_FRAMES + 1:,} frames"):
        seed_pose_layout(document(persons=[]), [{"people": "unread"}] * (MAX_FRAMES + 1), COPY_ALWAYS)
    with pytest.raises(GligenInputError, match="shows nobody in any of its 3 frames"):
        seed_pose_layout(document(persons=[]), [pose_frame()] * 3, COPY_ALWAYS)
    with pytest.raises(GligenInputError, match="frame 1 holds 9 persons"):
        seed_pose_layout(document(persons=[]), [pose_frame(standing(0)), pose_frame(*[standing(9 * i)
                                                                                     for i in range(9)])],
                         COPY_ALWAYS)
