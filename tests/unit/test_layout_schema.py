"""Layout JSON schema v1: parsing, normalization, and a clear message for every kind of bad input."""

from __future__ import annotations

import json

import pytest

from devkit.pack import import_pack

import_pack()
from gligen_suite.gligen_model import GligenInputError, parse_layout  # noqa: E402
from gligen_suite.gligen_model.layout import STYLE_BOX, default_layout_json  # noqa: E402


def layout(objects: list, **top: object) -> str:
    return json.dumps({"version": 1, "width": 512, "height": 256, "objects": objects} | top)


def test_boxes_are_normalized_by_the_canvas() -> None:
    parsed = parse_layout(layout([{"phrase": " a cat ", "box": [0, 64, 256, 256], "color": "#f00", "id": 3}]))
    assert parsed.width == 512 and parsed.height == 256
    assert parsed.objects[0].phrase == "a cat"
    assert parsed.objects[0].box == (0.0, 0.25, 0.5, 1.0)


def test_default_layout_parses_and_an_empty_object_list_is_allowed() -> None:
    assert len(parse_layout(default_layout_json()).objects) == 2
    assert parse_layout(layout([])).objects == ()


def test_image_objects_style_objects_and_strength() -> None:
    parsed = parse_layout(layout([
        {"phrase": "a dog", "box": [0, 0, 256, 128], "image": 2, "strength": 1.5},
        {"image": 0, "box": [256, 0, 512, 256]},              # image only, placed by its box
        {"image": 1},                                        # style: no phrase, no box
        {"image": 3, "box": [0, 0, 512, 256], "name": "bg"},  # an image over the whole picture is style too
        {"phrase": "a sky", "box": [0, 0, 512, 256]},         # a phrase over the whole picture is an object
    ]))
    dog, image_only, style, full, sky = parsed.objects
    assert (dog.image, dog.strength, dog.style) == (2, 1.5, False)
    assert image_only.phrase == "" and image_only.box == (0.5, 0.0, 1.0, 1.0) and not image_only.style
    assert style.style and style.box == STYLE_BOX and style.image == 1 and style.strength == 1.0
    assert full.style and full.box == STYLE_BOX
    assert not sky.style and sky.box == (0.0, 0.0, 1.0, 1.0)


def test_person_strength() -> None:
    person = {"keypoints": [[10, 10]] + [None] * 16, "strength": 0.5, "color": "#0f0"}
    parsed = parse_layout(json.dumps({"version": 1, "width": 64, "height": 64, "persons": [person]}))
    assert parsed.persons[0].strength == 0.5 and parsed.objects == ()


def expect_message(text: str, *needles: str) -> None:
    with pytest.raises(GligenInputError) as info:
        parse_layout(text)
    for needle in needles:
        assert needle in str(info.value), str(info.value)


@pytest.mark.bad_input
@pytest.mark.parametrize(("text", "needles"), [
    ('{"version": 1, "objects": [', ("not valid JSON", "line 1")),
    ("", ("empty",)),
    ("[1, 2]", ("must be a JSON object",)),
    (json.dumps({"version": 2, "width": 512, "height": 512, "objects": []}), ("version 2", "update the pack")),
    (layout([], extra=1), ("unknown keys ['extra']",)),
    (layout([], width=0), ('"width" is 0',)),
    (layout([], height=1.5), ('"height" is 1.5',)),
    (json.dumps({"version": 1, "width": 64, "height": 64}), ('"objects" list',)),
    (layout([{"phrase": "", "box": [0, 0, 8, 8]}]), ("object 1 has an empty phrase",)),
    (layout([{"phrase": "   ", "box": [0, 0, 8, 8]}]), ("empty phrase",)),
    (layout([{"phrase": 5, "box": [0, 0, 8, 8]}]), ('object 1: "phrase" is 5 (a number); it must be text',)),
    (layout([{"phrase": {"en": "a dog"}, "box": [0, 0, 8, 8]}]), ("(a JSON object); it must be text",)),
    (layout([{"phrase": "a \udc31 dog", "box": [0, 0, 8, 8]}]), ("object 1: the phrase holds a lone UTF-16 surrogate",
                                                                 "Delete it")),
    (layout([{"phrase": "a dog", "box": [0, 0, 8]}]), ("'a dog'", "four numbers")),
    (layout([{"phrase": "a dog", "box": [0, 0, True, 8]}]), ("four numbers",)),
    (layout([{"phrase": "a dog", "box": [0, 0, 600, 100]}]), ("outside the 512x256 canvas",)),
    (layout([{"phrase": "a dog", "box": [-1, 0, 10, 100]}]), ("outside",)),
    (layout([{"phrase": "a dog", "box": [10, 10, 10, 50]}]), ("zero or negative area",)),
    (layout([{"phrase": "a dog", "box": [50, 10, 10, 50]}]), ("zero or negative area",)),
    (layout([{"phrase": "a dog", "box": [0, 0, 10, 10], "size": 3}]), ("unknown keys ['size']",)),
    (layout(["a dog"]), ("object 1 must be a JSON object",)),
    ('{"version": 1, "width": 64, "height": 64, "objects": [{"phrase": "x", "box": [NaN, 0, 1, 1]}]}',
     ("NaN or infinity",)),
    ('{"version": 1, "width": 64, "height": 64, "objects": [{"phrase": "x", "box": [0, 0, Infinity, 1]}]}',
     ("NaN or infinity",)),
    (layout([{"phrase": f"thing {i}", "box": [0, 0, 8, 8]} for i in range(31)]), ("31 objects", "at most 30")),
    ("{" + " " * 1_000_001 + "}", ("characters long",)),
    (layout([{"phrase": "a dog", "box": [0, 0, 8, 8], "image": -1}]), ('"image" is -1', "IMAGE batch")),
    (layout([{"phrase": "a dog", "box": [0, 0, 8, 8], "image": "0"}]), ("\"image\" is '0'",)),
    (layout([{"phrase": "a dog", "box": [0, 0, 8, 8], "image": True}]), ('"image" is True',)),
    (layout([{"phrase": "a dog", "box": [0, 0, 8, 8], "strength": -0.1}]), ('"strength" is -0.1', "0 to 5")),
    (layout([{"phrase": "a dog", "box": [0, 0, 8, 8], "strength": 9}]), ('"strength" is 9',)),
    ('{"version": 1, "width": 64, "height": 64, "objects": [{"phrase": "x", "box": [0, 0, 1, 1], '
     '"strength": NaN}]}', ('"strength" is nan',)),
    (layout([{"phrase": "a dog"}]), ("'a dog'", 'no "box"', "style image")),
    (layout([{"image": 0, "box": None}]), ('no "box"',)),
    (layout([{"box": [0, 0, 8, 8]}]), ("empty phrase", "reference \"image\"")),
    (json.dumps({"version": 1, "width": 64, "height": 64,
                 "persons": [{"keypoints": [[1, 1]] + [None] * 16, "strength": "x"}]}), ('"strength" is \'x\'',)),
])
def test_bad_layouts_get_a_message_naming_the_problem(text: str, needles: tuple[str, ...]) -> None:
    expect_message(text, *needles)


@pytest.mark.bad_input
def test_phrases_are_limited_in_characters_before_anything_reads_them() -> None:
    """CLIP collapses white space, so the token limit alone lets a phrase of any length through."""
    from gligen_suite.gligen_model.layout import MAX_PHRASE_CHARS

    at_limit = "a" + " " * (MAX_PHRASE_CHARS - 2) + "b"
    assert parse_layout(layout([{"phrase": at_limit, "box": [0, 0, 8, 8]}])).objects[0].phrase == at_limit
    expect_message(layout([{"phrase": at_limit + "c", "box": [0, 0, 8, 8]}]),
                   "object 1: the phrase is 4,001 characters long; the limit is 4,000", "Shorten it")
