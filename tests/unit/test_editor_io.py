"""The encode nodes' editor side without a server: canonical layout text, seeding from BOUNDING_BOX(ES) /
BBOX / POSE_KEYPOINT / pasted OpenPose JSON, and the outputs beside the grounding (preview, masks,
BOUNDING_BOXES)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
from PIL import Image, ImageDraw

from devkit.pack import import_pack

import_pack()
from gligen_suite.gligen_model import GligenInputError, parse_layout  # noqa: E402
from gligen_suite.gligen_model.layout import (  # noqa: E402
    Layout,
    LayoutObject,
    canonical_layout_json,
    default_layout_json,
)
from gligen_suite.gligen_model.pose import Person  # noqa: E402
from gligen_suite.nodes.editor.colors import PALETTE, entry_colors  # noqa: E402
from gligen_suite.nodes.editor.document import LayoutDocument  # noqa: E402
from gligen_suite.nodes.editor.outputs import (  # noqa: E402
    MAX_OUTPUT_EDGE,
    bounding_boxes,
    object_masks,
    output_size,
    person_masks,
)
from gligen_suite.nodes.editor.preview import (  # noqa: E402
    MAX_LABEL_CHARS,
    _fit,
    _font,
    render_box_preview,
    render_pose_preview,
)
from gligen_suite.nodes.editor.seeding import (  # noqa: E402
    ADD_TO_LAYOUT,
    COPY_ALWAYS,
    COPY_WHEN_EMPTY,
)
from gligen_suite.nodes.editor.seeding import seed_box_layout as seed_box_document  # noqa: E402
from gligen_suite.nodes.editor.seeding import seed_pose_layout as seed_pose_document  # noqa: E402
from gligen_suite.nodes.editor.seeding import unnamed_seeded_objects as unnamed_in_document  # noqa: E402


def seed_box_layout(text: str, seed: object, mode: str, canvas: tuple[int, int] | None = None) -> str | None:
    """The seeded layout's text (None: unchanged), for widget text."""
    seeded = seed_box_document(LayoutDocument.decode(text), seed, mode, canvas)
    return None if seeded is None else seeded.text


def seed_pose_layout(text: str, pose_keypoint: object, mode: str) -> str | None:
    seeded = seed_pose_document(LayoutDocument.decode(text), pose_keypoint, mode)
    return None if seeded is None else seeded.text


def unnamed_seeded_objects(text: str) -> list[int]:
    return unnamed_in_document(LayoutDocument.decode(text))


def layout_text(objects: list, width: int = 512, height: int = 256, **top: object) -> str:
    return json.dumps({"version": 1, "width": width, "height": height, "objects": objects} | top)


def objects_of(text: str) -> list[dict]:
    return json.loads(text)["objects"]


# ---------------------------------------------------------------------------------------- canonical text
def test_canonical_text_orders_keys_and_writes_whole_numbers_as_integers() -> None:
    data = {"objects": [{"locked": True, "color": "#ff0000", "box": [1.0, 2.5, 30.0, 40.0], "phrase": "a cat",
                         "strength": 1.0}], "height": 256.0, "width": 512, "version": 1}
    text = canonical_layout_json(data)
    assert text == ('{"version":1,"width":512,"height":256,"objects":[{"phrase":"a cat","box":[1,2.5,30,40],'
                    '"strength":1,"color":"#ff0000","locked":true}]}')
    assert parse_layout(text).objects[0].box == (1 / 512, 2.5 / 256, 30 / 512, 40 / 256)


def test_canonical_text_keeps_non_ascii_and_unknown_keys_for_the_parser_to_name() -> None:
    text = canonical_layout_json({"version": 1, "width": 8, "height": 8, "extra": 1,
                                  "objects": [{"phrase": "ein Käfer 🐞", "box": [0, 0, 8, 8]}]})
    assert "Käfer 🐞" in text and text.endswith(',"extra":1}')
    with pytest.raises(GligenInputError, match=r"unknown keys \['extra'\]"):
        parse_layout(text)


# ---------------------------------------------------------------------------------------- box seeds
CORE_BOXES = [{"x": 10, "y": 20, "width": 100, "height": 50, "metadata": {"type": "obj", "text": "a cat",
                                                                          "palette": ["#00ff00"]}},
              {"x": 200, "y": 30, "width": 40, "height": 60, "metadata": {"desc": "a hat"}}]


def test_bounding_boxes_seed_an_empty_layout_with_their_text_and_colour() -> None:
    seeded = seed_box_layout("", CORE_BOXES, COPY_WHEN_EMPTY)
    assert seeded is not None
    assert json.loads(seeded)["width"] == 512 and json.loads(seeded)["height"] == 512
    assert objects_of(seeded) == [{"phrase": "a cat", "box": [10, 20, 110, 70], "color": "#00ff00"},
                                  {"phrase": "a hat", "box": [200, 30, 240, 90]}]
    assert seeded == canonical_layout_json(json.loads(seeded))


@pytest.mark.parametrize(("seed", "expected"), [
    ({"x": 8, "y": 16, "width": 32, "height": 64}, [[8, 16, 40, 80]]),           # BOUNDING_BOX
    ([[CORE_BOXES[0]]], [[10, 20, 110, 70]]),                                    # one list for one image
    ([[CORE_BOXES[0]], [CORE_BOXES[1]]], [[10, 20, 110, 70], [200, 30, 240, 90]]),  # two images: two tracks
    ([[1, 2, 30, 40], (50, 60, 70, 80)], [[1, 2, 30, 40], [50, 60, 70, 80]]),    # BBOX, xyxy pixels
    ([5, 6, 7, 8], [[5, 6, 7, 8]]),                                             # a single BBOX
    ([[0.25, 0.5, 0.75, 1.0]], [[128, 128, 384, 256]]),                          # BBOX fractions of the canvas
    ([[-10, -5, 600, 100]], [[0, 0, 512, 100]]),                                 # clipped to the canvas
    ([], []),
])
def test_every_box_type_seeds_pixel_boxes_on_the_canvas(seed: object, expected: list) -> None:
    seeded = seed_box_layout(layout_text([]), seed, COPY_WHEN_EMPTY)
    assert seeded is not None
    assert [o["box"] for o in objects_of(seeded)] == expected


def test_copy_when_empty_leaves_a_layout_with_objects_alone() -> None:
    assert seed_box_layout(default_layout_json(), CORE_BOXES, COPY_WHEN_EMPTY) is None
    assert seed_box_layout(default_layout_json(), None, COPY_ALWAYS) is None


def test_copy_always_replaces_boxes_but_keeps_each_objects_settings_by_index() -> None:
    current = layout_text([{"phrase": "a dog", "box": [0, 0, 8, 8], "color": "#123456", "strength": 0.5,
                            "image": 2, "name": "left", "locked": True}])
    seeded = seed_box_layout(current, [[16, 16, 64, 64], [100, 100, 120, 120]], COPY_ALWAYS)
    assert seeded is not None
    first, second = objects_of(seeded)
    assert first == {"phrase": "a dog", "box": [16, 16, 64, 64], "image": 2, "strength": 0.5, "name": "left",
                     "color": "#123456", "locked": True}
    assert second == {"phrase": "", "box": [100, 100, 120, 120]}
    assert unnamed_seeded_objects(seeded) == [2]


def test_a_background_gives_the_seeded_layout_its_canvas() -> None:
    seeded = seed_box_layout(layout_text([]), [[600, 10, 900, 300]], COPY_WHEN_EMPTY, canvas=(1024, 768))
    assert seeded is not None
    data = json.loads(seeded)
    assert (data["width"], data["height"]) == (1024, 768) and data["objects"][0]["box"] == [600, 10, 900, 300]


@pytest.mark.bad_input
@pytest.mark.parametrize(("seed", "needle"), [
    ([[600, 10, 900, 300]], "no area inside the 512x256 canvas"),
    ([[10, 10, 5, 40]], "no area inside"),
    ([{"x": 1, "y": 2}], "needs numbers x, y, width, height"),
    (["a cat"], "expected {x, y, width, height} or [x0, y0, x1, y1]"),
    ("boxes", "seed_boxes got a str"),
    ([[0, 0, 1, float("nan")]], "NaN or infinity"),
    ([[0, 0, 4, 4]] * 31, "31 boxes; GLIGEN takes at most 30"),
])
def test_bad_seed_boxes_get_a_message_naming_the_box(seed: object, needle: str) -> None:
    with pytest.raises(GligenInputError) as info:
        seed_box_layout(layout_text([]), seed, COPY_WHEN_EMPTY)
    assert needle in str(info.value)


@pytest.mark.bad_input
def test_seeding_a_malformed_layout_names_the_json_error_and_unknown_modes_are_refused() -> None:
    with pytest.raises(GligenInputError, match="not valid JSON"):
        seed_box_layout('{"version": 1, "objects": [', CORE_BOXES, COPY_ALWAYS)
    with pytest.raises(GligenInputError, match="seed_mode is 'sometimes'"):
        seed_box_layout("", CORE_BOXES, "sometimes")


# ---------------------------------------------------------------------------------------- pose seeds
def openpose_people(*dxs: float) -> list[list[float]]:
    people = []
    for dx in dxs:
        flat = [0.0] * 54
        for index, (x, y) in {0: (100, 50), 2: (80, 100), 5: (120, 100)}.items():  # nose, r/l shoulder
            flat[index * 3: index * 3 + 3] = [x + dx, y, 0.9]
        people.append(flat)
    return people


def pose_keypoint(*dxs: float, width: int = 400, height: int = 300) -> list[dict]:
    return [{"people": [{"pose_keypoints_2d": p} for p in openpose_people(*dxs)],
             "canvas_width": width, "canvas_height": height}]


def test_pasted_openpose_json_becomes_an_editable_layout_in_coco_order() -> None:
    text = json.dumps(pose_keypoint(0)[0])
    converted = seed_pose_layout(text, None, ADD_TO_LAYOUT)
    assert converted is not None
    data = json.loads(converted)
    assert (data["width"], data["height"]) == (400, 300)
    keypoints = data["persons"][0]["keypoints"]
    assert keypoints[0] == [100, 50] and keypoints[5] == [120, 100] and keypoints[6] == [80, 100]
    assert sum(k is not None for k in keypoints) == 3
    assert parse_layout(converted).persons[0].joints[0] == (0.25, 50 / 300)


def test_pose_keypoint_is_copied_when_empty_or_always_and_added_otherwise() -> None:
    layout = json.dumps({"version": 1, "width": 512, "height": 512, "persons": [
        {"keypoints": [[10, 10]] + [None] * 16, "color": "#abcdef", "strength": 0.5}]})
    assert seed_pose_layout(layout, pose_keypoint(0), ADD_TO_LAYOUT) is None
    assert seed_pose_layout(layout, pose_keypoint(0), COPY_WHEN_EMPTY) is None
    empty = json.dumps({"version": 1, "width": 512, "height": 512, "persons": []})
    copied = seed_pose_layout(empty, pose_keypoint(0, 150), COPY_WHEN_EMPTY)
    assert copied is not None and len(json.loads(copied)["persons"]) == 2
    replaced = seed_pose_layout(layout, pose_keypoint(150), COPY_ALWAYS)
    assert replaced is not None
    (person,) = json.loads(replaced)["persons"]
    assert person["keypoints"][0] == [250, 50] and person["color"] == "#abcdef" and person["strength"] == 0.5
    assert json.loads(replaced)["width"] == 400


@pytest.mark.bad_input
def test_pose_seeds_with_too_many_persons_or_a_bad_mode_are_refused() -> None:
    with pytest.raises(GligenInputError, match="9 persons"):
        seed_pose_layout("", pose_keypoint(*range(9)), COPY_ALWAYS)
    with pytest.raises(GligenInputError, match="pose_keypoint_mode is 'merge'"):
        seed_pose_layout("", None, "merge")


# ---------------------------------------------------------------------------------------- outputs
def test_one_mask_per_object_covering_its_box_and_a_zero_mask_for_an_empty_layout() -> None:
    layout = parse_layout(layout_text([{"phrase": "a", "box": [0, 0, 256, 128]}, {"phrase": "b", "box": [8, 8, 16, 24]},
                                       {"image": 0}]))
    masks = object_masks(layout)
    assert masks.shape == (3, 256, 512) and masks.dtype == torch.float32
    assert masks[0, :128, :256].min() == 1 and masks[0].sum() == 256 * 128
    assert masks[1, 8:24, 8:16].min() == 1 and masks[1].sum() == 8 * 16
    assert masks[2].min() == 1  # a style image applies to the whole picture
    empty = object_masks(parse_layout(layout_text([])))
    assert empty.shape == (1, 256, 512) and empty.max() == 0


def test_person_masks_cover_the_visible_joints() -> None:
    person = Person(((0.25, 0.5), None, (0.5, 0.75)) + (None,) * 14)
    masks = person_masks([person, Person((None,) * 16 + ((0.5, 0.5),))], (400, 200))
    assert masks.shape == (2, 200, 400)
    assert masks[0].sum() == 100 * 50 and masks[0, 100:150, 100:200].min() == 1
    assert masks[1].sum() == 1  # a single joint still marks its pixel
    assert person_masks([], (64, 32)).shape == (1, 32, 64)


def test_outputs_are_capped_on_the_long_edge() -> None:
    assert output_size(512, 768) == (512, 768)
    assert output_size(8192, 4096) == (MAX_OUTPUT_EDGE, MAX_OUTPUT_EDGE // 2)
    assert object_masks(parse_layout(layout_text([], width=16384, height=1024))).shape == (1, 128, 2048)


def test_bounding_boxes_carry_pixels_phrases_and_colours_and_seed_the_same_layout_back() -> None:
    text = layout_text([{"phrase": "a cat", "box": [10, 20, 110, 70], "color": "#00ff00", "strength": 0.5},
                        {"phrase": "a hat", "box": [200.5, 30, 240, 90], "image": 1}])
    layout = parse_layout(text)
    boxes = bounding_boxes(layout, objects_of(text))
    assert boxes[0] == {"x": 10, "y": 20, "width": 100, "height": 50,
                        "metadata": {"type": "obj", "text": "a cat", "desc": "a cat", "palette": ["#00ff00"],
                                     "strength": 0.5}}
    assert boxes[1]["x"] == 200.5 and boxes[1]["metadata"]["palette"] == [PALETTE[1]]
    assert boxes[1]["metadata"]["image"] == 1
    seeded = seed_box_layout(layout_text([]), boxes, COPY_WHEN_EMPTY)
    assert seeded is not None
    assert [(o.phrase, o.box) for o in parse_layout(seeded).objects] == [(o.phrase, o.box) for o in layout.objects]


def test_entry_colours_use_valid_own_colours_and_the_palette_otherwise() -> None:
    entries = [{"color": "#010203"}, {"color": "red; background: url(x)"}, {}]
    assert entry_colors(entries, 4) == ["#010203", PALETTE[1], PALETTE[2], PALETTE[3]]


def test_box_preview_draws_each_box_in_its_colour_over_the_background() -> None:
    layout = parse_layout(layout_text([{"phrase": "a cat", "box": [100, 50, 300, 200]}]))
    background = torch.zeros(1, 64, 128, 3)
    background[..., 2] = 1.0  # blue
    preview = render_box_preview(layout, ["#ff0000"], background)
    assert preview.shape == (1, 256, 512, 3)
    assert torch.allclose(preview[0, 10, 10], torch.tensor([0.0, 0.0, 1.0]))  # background, stretched
    assert torch.allclose(preview[0, 120, 100], torch.tensor([1.0, 0.0, 0.0]))  # left edge, red outline
    inside = preview[0, 150, 250]
    assert inside[0] > 0.1 and inside[2] > 0.5  # light red fill over blue
    plain = render_box_preview(layout, ["#ff0000"], None)
    assert torch.allclose(plain[0, 10, 10], torch.tensor([48 / 255] * 3))


def linear_fit(draw: ImageDraw.ImageDraw, text: str, font: Any, width: float) -> str:
    """The label cut as it used to be, one character per measurement: the reference for short text."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…" if text else ""


def test_preview_labels_are_cut_as_one_character_at_a_time_would_cut_them() -> None:
    draw, font = ImageDraw.Draw(Image.new("RGBA", (8, 8))), _font(512)
    for text in ("7 a red cat on a mat", "1 猫🐱 cafe\u0301", "2 x", "3 w w w w"):
        for width in range(0, 200, 3):
            assert _fit(draw, text, font, width) == linear_fit(draw, text, font, width), (text, width)


@pytest.mark.bad_input
def test_a_long_label_takes_a_few_measurements(monkeypatch: pytest.MonkeyPatch) -> None:
    """A phrase of thousands of characters used to be shortened one character per measurement (hours of work for
    200,000 characters): now a binary search, after a cap, draws the preview with a bounded number."""
    measure = ImageDraw.ImageDraw.textlength
    calls = []

    def counted(self: ImageDraw.ImageDraw, text: str, *args: Any, **kwargs: Any) -> float:
        calls.append(len(text))
        assert len(calls) <= 64, "the label is measured once per character"
        return measure(self, text, *args, **kwargs)

    monkeypatch.setattr(ImageDraw.ImageDraw, "textlength", counted)
    phrase = "a cat" + " " * 200_000 + "on a mat"  # a Layout made in code: no phrase limit applies
    long = Layout(512, 512, (LayoutObject(phrase, (0.0, 0.0, 0.5, 0.5)), LayoutObject("a dog", (0.5, 0.5, 1.0, 1.0))))
    assert render_box_preview(long, ["#ff0000", "#00ff00"], None).shape == (1, 512, 512, 3)
    assert len(calls) <= 2 * 16 and max(calls) <= MAX_LABEL_CHARS + 1


@pytest.mark.bad_input
def test_direction_controls_in_a_phrase_are_drawn_as_visible_markers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A right-to-left override would make "a cat<RLO> god a" read "a cat a dog" where the text engine applies
    it: the preview draws each control as a marker instead."""
    drawn: list[str] = []
    draw_text = ImageDraw.ImageDraw.text
    monkeypatch.setattr(ImageDraw.ImageDraw, "text",
                        lambda self, xy, text, *a, **k: (drawn.append(text), draw_text(self, xy, text, *a, **k))[1])
    layout = Layout(512, 512, (LayoutObject("a cat\u202e god a", (0.0, 0.0, 1.0, 0.5)),
                               LayoutObject("a \u2067dog\u2069", (0.0, 0.5, 1.0, 1.0))))
    render_box_preview(layout, ["#ff0000", "#00ff00"], None)
    assert drawn == ["1 a cat<U+202E> god a", "2 a <U+2067>dog<U+2069>"]


@pytest.mark.bad_input
@pytest.mark.parametrize(("phrase", "refused"), [(5, "must be text"), (["a cat"], "must be text"),
                                                 (None, "empty phrase")], ids=["number", "list", "null"])
def test_copy_always_keeps_a_phrase_that_is_no_text_as_it_was_so_it_is_refused(phrase: object, refused: str) -> None:
    """Not turned into the text "5" or "None" and grounded as such."""
    text = json.dumps({"version": 1, "width": 512, "height": 512,
                       "objects": [{"phrase": phrase, "box": [0, 0, 100, 100]}]})
    seeded = seed_box_layout(text, [[10, 10, 200, 200]], COPY_ALWAYS)
    assert seeded is not None and json.loads(seeded)["objects"][0]["phrase"] == phrase
    with pytest.raises(GligenInputError, match=refused):
        parse_layout(seeded)


def test_pose_preview_draws_joints_and_limbs_in_the_persons_colour() -> None:
    joints: list = [None] * 17
    joints[5], joints[7] = (0.25, 0.25), (0.25, 0.75)  # left shoulder - left elbow: one limb
    preview = render_pose_preview([Person(tuple(joints))], ["#00ff00"], (200, 100), None)
    assert preview.shape == (1, 100, 200, 3)
    assert torch.allclose(preview[0, 50, 50], torch.tensor([0.0, 1.0, 0.0]))  # on the limb
    assert torch.allclose(preview[0, 50, 150], torch.tensor([48 / 255] * 3))
