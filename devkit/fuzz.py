"""Property-based fuzzing (Hypothesis) of every text and number the nodes read: strategies, the nodes' own steps
without CLIP or a model, and the checks (tests/unit/test_fuzz_*.py, issue 15; docs/reliability.md, "Fuzzing").

The property: a node's step returns a valid object or raises GligenInputError whose message is short, one
paragraph, printable as UTF-8 and names the input (a word from the caller's list); never another exception, and
each example within the deadline (1 s). Budget: `fuzz(n)` runs n examples from a fixed seed (derandomize), no
example database; GLIGEN_FUZZ_EXAMPLES=N runs N per test instead, GLIGEN_FUZZ_RANDOM=1 new random examples each
run (Hypothesis prints a failure's seed).
"""

from __future__ import annotations

import copy
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import torch
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from .comfy_host import import_comfy
from .pack import import_pack

import_comfy()  # the node modules import comfy_api; the phrase check uses ComfyUI's real SD1 tokenizer
import_pack()
from gligen_suite.gligen_model import GligenInputError  # noqa: E402
from gligen_suite.gligen_model.grounding import pose_grounding  # noqa: E402
from gligen_suite.gligen_model.layout import (  # noqa: E402
    MAX_CANVAS,
    MAX_IMAGE_INDEX,
    MAX_OBJECTS,
    MAX_PHRASE_CHARS,
    MAX_STRENGTH,
    STYLE_BOX,
    Layout,
)
from gligen_suite.gligen_model.pose import JOINTS, MAX_PERSONS, Person  # noqa: E402
from gligen_suite.nodes.editor.document import LayoutDocument  # noqa: E402
from gligen_suite.nodes.editor.node_runs import box_outputs, box_run_layout, pose_outputs, pose_run_layout  # noqa: E402
from gligen_suite.nodes.editor.seeding import ADD_TO_LAYOUT, COPY_WHEN_EMPTY  # noqa: E402
from gligen_suite.nodes.pose_encode_node import grounded_persons  # noqa: E402
from gligen_suite.nodes.text_box_encode_node import encode_layout  # noqa: E402

# Hypothesis caches Unicode tables and constants in its home folder (.hypothesis in the working folder by default):
# a temp folder instead, so the tests write nothing into the checkout.
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "gligen_suite_hypothesis"))
MAX_MESSAGE_CHARS = 1000  # what devkit.input_errors.server_message_for allows a message through the server
settings.register_profile("gligen_fuzz", deadline=1000, derandomize=os.environ.get("GLIGEN_FUZZ_RANDOM") != "1",
                          database=None, print_blob=False)
FUZZ = settings.get_profile("gligen_fuzz")


def fuzz(examples: int) -> settings:
    """The profile with `examples` examples per test (CI-sized), or GLIGEN_FUZZ_EXAMPLES where set."""
    return settings(FUZZ, max_examples=int(os.environ.get("GLIGEN_FUZZ_EXAMPLES", examples)))


# ---- the property --------------------------------------------------------------------------------------------
def check_message(message: str, words: tuple[str, ...]) -> None:
    """A message the user can act on: non-empty, one short paragraph, valid text, naming the input."""
    assert message.strip(), "empty message"
    assert "\n" not in message, f"more than one line: {message!r}"
    assert len(message) < MAX_MESSAGE_CHARS, f"{len(message):,} characters: {message[:300]!r}..."
    message.encode("utf-8")  # ComfyUI logs it and sends it as JSON: no lone surrogate
    assert any(word.lower() in message.lower() for word in words), f"names none of {words}: {message!r}"


REFUSED = object()  # what check_refusal returns for a GligenInputError


def check_refusal(call: Callable[[], Any], words: tuple[str, ...]) -> Any:
    """call()'s result, or REFUSED after a GligenInputError with a good message; any other exception fails."""
    try:
        result = call()
    except GligenInputError as error:
        check_message(str(error), words)
        event("refused")
        return REFUSED
    event("accepted")  # --hypothesis-show-statistics shows how many examples were accepted
    return result


def finite_in(value: Any, low: float, high: float) -> bool:
    return isinstance(value, float) and math.isfinite(value) and low <= value <= high


def check_layout(layout: Layout) -> None:
    assert isinstance(layout, Layout)
    for side in (layout.width, layout.height):
        assert type(side) is int and 1 <= side <= MAX_CANVAS
    assert len(layout.objects) <= MAX_OBJECTS and len(layout.persons) <= MAX_PERSONS
    for obj in layout.objects:
        assert isinstance(obj.phrase, str) and len(obj.phrase) <= MAX_PHRASE_CHARS
        obj.phrase.encode("utf-8")
        assert obj.phrase or obj.image is not None
        assert obj.image is None or (type(obj.image) is int and 0 <= obj.image <= MAX_IMAGE_INDEX)
        assert finite_in(obj.strength, 0.0, MAX_STRENGTH)
        if obj.style:
            assert obj.box == STYLE_BOX
        else:
            x0, y0, x1, y1 = obj.box
            assert all(finite_in(v, 0.0, 1.0) for v in obj.box) and x0 < x1 and y0 < y1
    check_persons(layout.persons)


def check_persons(persons: Any) -> None:
    assert isinstance(persons, tuple) and len(persons) <= MAX_PERSONS
    for person in persons:
        assert isinstance(person, Person) and len(person.joints) == JOINTS
        assert finite_in(person.strength, 0.0, MAX_STRENGTH)
        for joint in person.joints:
            assert joint is None or (len(joint) == 2 and all(finite_in(v, 0.0, 1.0) for v in joint))


# ---- the nodes' own steps, without CLIP or a model -----------------------------------------------------------
class ReachedTextModel(Exception):  # noqa: N818 - not an error: the phrases passed every check before CLIP runs
    pass


class TokenizingClip:
    """A CLIP stand-in: ComfyUI's real SD1 tokenizer (what the encode node's phrase checks read), no text model."""

    def __init__(self) -> None:
        import comfy.sd1_clip

        self.tokenizer = comfy.sd1_clip.SD1Tokenizer()

    def tokenize(self, text: str) -> dict[str, Any]:
        return self.tokenizer.tokenize_with_weights(text)

    def encode_from_tokens(self, tokens: Any, return_pooled: Any = False) -> Any:
        raise ReachedTextModel


@cache
def tokenizing_clip() -> TokenizingClip:
    return TokenizingClip()  # about 3 s (transformers): made once, before the first timed example (warm_up)


def background_of(canvas: tuple[int, int] | None) -> torch.Tensor | None:
    """An IMAGE of that (width, height) for the seed canvas, as a view (no pixels are allocated)."""
    return None if canvas is None else torch.zeros(1, 1, 1, 3).expand(1, canvas[1], canvas[0], 3)


def run_text_box_encode(text: str, seed: Any = None, mode: Any = COPY_WHEN_EMPTY,
                        canvas: tuple[int, int] | None = None) -> LayoutDocument:
    """GLIGEN Text-Box Encode's steps up to its text model: decode, seeding, validation, reference-image and
    phrase checks (real tokenizer), then the preview, masks and BOUNDING_BOXES."""
    document = box_run_layout(None, LayoutDocument.decode(text), seed, mode, background_of(canvas))
    try:
        encode_layout(tokenizing_clip(), document)
    except ReachedTextModel:
        pass
    layout = document.layout
    check_layout(layout)
    preview, masks, boxes = box_outputs(document, None)
    assert preview.ndim == 4 and masks.shape[0] == max(1, len(layout.objects)) and len(boxes) == len(layout.objects)
    return document


def run_pose_encode(text: str, pose_keypoint: Any = None, mode: Any = ADD_TO_LAYOUT) -> tuple[Person, ...]:
    """GLIGEN Pose Encode's steps: decode (a layout or pasted OpenPose JSON), seeding from the POSE_KEYPOINT,
    the persons, the preview and masks, and the keypoint grounding tensors."""
    document, extra = pose_run_layout(None, LayoutDocument.decode(text), pose_keypoint, mode)
    persons = grounded_persons(document, extra)
    check_persons(persons)
    pose_outputs(document, persons, extra, None)
    grounding = pose_grounding(persons)
    assert bool(torch.isfinite(grounding.points).all())
    return persons


# ---- strategies ----------------------------------------------------------------------------------------------
def evenly(*strategies: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Each strategy about equally often (st.one_of lets Hypothesis favour a branch: a valid combo value beside
    any JSON came up in 1 % of the examples)."""
    return st.integers(0, len(strategies) - 1).flatmap(lambda i: strategies[i])


BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
SPECIAL_CHARS = tuple(BIDI) + ("\ud800", "\udbff", "\udc00", "\udfff", "\ufeff", "\u200b", "\u00a0", "\u3000",
                               "\x00", "\x07", "\x1b", "\x7f", "\r", "\n", "\t", "\u0301", "\U0001f408", "\u732b",
                               "\u0639", "\\", '"', "'", "{", "}", "[", "]", ",", ":", "1", "e", "-", ".")
characters = st.characters() | st.sampled_from(SPECIAL_CHARS)  # st.characters() has no surrogates; these add them
short_texts = st.text(characters, max_size=24)
long_texts = st.builds(lambda unit, count: unit * count,
                       st.sampled_from(["x", " ", "\ufeff", "\u200b", "\u732b", "a cat, ", "\U0001f408", "\ud800"]),
                       st.sampled_from([1000, MAX_PHRASE_CHARS, MAX_PHRASE_CHARS + 1, 200_000, 1_000_001]))
texts = evenly(short_texts, short_texts, short_texts, long_texts)
raw_texts = evenly(st.text(characters, max_size=200), st.text(st.characters(codec="ascii"), max_size=200),
                      st.from_regex(r"[\x20-\x7e]*", fullmatch=True), long_texts)
SPECIAL_NUMBERS = (0, -0.0, 1, -1, 0.5, 8, 511.999, 512, 16384, 16385, 2**53 + 1, 2**63, 10**20, 10**309, -10**309,
                   10**4000, 1e308, -1e308, 5e-324, math.nan, math.inf, -math.inf)
numbers = st.one_of(st.integers(), st.floats(), st.sampled_from(SPECIAL_NUMBERS))
plausible = st.one_of(st.integers(-16, 1100), st.floats(-16, 1100))  # numbers near a 512 px canvas, to find edges
KEYS = ("version", "width", "height", "objects", "persons", "phrase", "box", "image", "strength", "id", "name",
        "color", "locked", "keypoints", "people", "pose_keypoints_2d", "canvas_width", "canvas_height", "x", "y",
        "metadata", "text", "__proto__", "")
keys = st.sampled_from(KEYS) | short_texts
json_leaves = evenly(st.none(), st.booleans(), numbers, plausible, texts)
json_values = st.recursive(json_leaves, lambda c: st.lists(c, max_size=5) | st.dictionaries(keys, c, max_size=5),
                           max_leaves=12)
# What another node may put on a socket: JSON values, tuples, and an integer no repr can print.
python_values = st.recursive(
    json_leaves | st.builds(pow, st.just(10), st.just(5000)),
    lambda c: st.lists(c, max_size=5) | st.tuples(c, c, c, c) | st.dictionaries(keys, c, max_size=5), max_leaves=12)


def combo(options: Any) -> st.SearchStrategy[Any]:
    """A combo value: one of `options`, or (half the time) any JSON value, which ComfyUI 0.3.75 passes to V3 nodes
    unchecked from an API client."""
    return evenly(st.sampled_from(list(options)), json_values)


def layout_texts(value: Any) -> st.SearchStrategy[str]:
    """Texts of a JSON value as they reach the layout widget: JSON (ASCII or not, indented or not), ComfyUI's str()
    of a JSON object sent through the API, with byte-order marks or trailing garbage, or cut off."""
    text = json.dumps(value)
    return evenly(
        st.builds(lambda ascii_, indent: json.dumps(value, ensure_ascii=ascii_, indent=indent),
                  st.booleans(), st.sampled_from([None, 1])),
        st.just(str(value)),
        st.builds(lambda head, tail: head + text + tail, st.sampled_from(["", "\ufeff", " \ufeff\n", "\ufeff\ufeff"]),
                  st.sampled_from(["", " x", ",", "\ufeff", "}"])),
        st.integers(0, len(text)).map(lambda cut: text[:cut]),
    )


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield from _paths(item, path + (key,))


@st.composite
def _one_change(draw: st.DrawFn, base: Any, values: st.SearchStrategy[Any]) -> Any:
    """`base` with one field (any depth) replaced, deleted, repeated or given an extra key."""
    holder = {"root": copy.deepcopy(base)}
    path = ("root",) + draw(st.sampled_from(list(_paths(holder["root"]))))
    parent = holder
    for key in path[:-1]:
        parent = parent[key]
    key, target = path[-1], parent[path[-1]]
    change = draw(st.sampled_from(["replace", "number", "text", "delete", "add key", "repeat"]))
    if change == "delete" and key != "root":
        del parent[key]
    elif change == "add key" and isinstance(target, dict):
        target[draw(keys)] = draw(values)
    elif change == "repeat" and isinstance(target, list):
        parent[key] = target * draw(st.sampled_from([0, 2, 8, 9, 30, 31]))
    else:
        parent[key] = draw({"number": evenly(plausible, numbers), "text": texts}.get(change, values))
    return holder["root"]


def mutated(base: Any, values: st.SearchStrategy[Any] = json_values) -> st.SearchStrategy[Any]:
    """A valid value with one field changed, sometimes two."""
    return evenly(_one_change(base, values), _one_change(base, values).flatmap(lambda v: _one_change(v, values)))


# Valid inputs the mutations start from.
STANDING = [[256, 96], [268, 84], [244, 84], None, [230, 92], [300, 150], [212, 150], [318, 220], [194, 220],
            [326, 286], [186, 286], [286, 290], [226, 290], [290, 380], [222, 380], [292, 466], [220, 466]]
BOX_LAYOUT = {"version": 1, "width": 512, "height": 384, "objects": [
    {"phrase": "a red cat", "box": [32, 48, 256.5, 300], "strength": 1.5, "id": 1, "name": "cat", "color": "#ff0000",
     "locked": False},
    {"phrase": "a sky", "box": [0, 0, 512, 384]}]}
IMAGE_LAYOUT = {"version": 1, "width": 64, "height": 64, "objects": [
    {"image": 0, "box": [8, 8, 32, 32]}, {"image": 1}, {"phrase": "a dog", "box": [0, 0, 64, 64], "image": 2}]}
POSE_LAYOUT = {"version": 1, "width": 512, "height": 512, "persons": [
    {"keypoints": STANDING, "strength": 0.8, "color": "#00ff00", "locked": True}]}
OPENPOSE_FRAME = {"people": [{"pose_keypoints_2d": [v for xy in STANDING[:1] + STANDING[:17] for v in
                                                    (xy + [0.9] if xy else [0, 0, 0])]}],
                  "canvas_width": 512, "canvas_height": 768}


# Seed boxes (BOUNDING_BOX, BOUNDING_BOXES, BBOX) and poses (POSE_KEYPOINT, OpenPose files) as other nodes send them.
seed_numbers = plausible | numbers
bbox_colors = st.sampled_from(["#ff0000", "#FFF", "#12345g", "red", ""]) | short_texts
metadata = st.fixed_dictionaries({}, optional={"text": texts | json_values, "desc": texts, "label": texts,
                                               "phrase": json_values, "color": bbox_colors | json_values,
                                               "palette": st.lists(bbox_colors | json_values, max_size=3)})
bounding_box = st.fixed_dictionaries({"x": seed_numbers, "y": seed_numbers, "width": seed_numbers,
                                      "height": seed_numbers}, optional={"metadata": metadata | python_values})
xyxy = st.lists(seed_numbers, min_size=4, max_size=4) | st.tuples(*[seed_numbers] * 4)
seed_values = evenly(
    bounding_box, st.lists(bounding_box, max_size=32), st.lists(st.lists(bounding_box, max_size=4), max_size=3),
    xyxy, st.lists(xyxy, max_size=32), st.lists(st.lists(xyxy, max_size=4), max_size=3),
    st.lists(bounding_box | xyxy | python_values, max_size=4), python_values)


def pose_frames(leaf_numbers: st.SearchStrategy[Any], values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """POSE_KEYPOINT frames (a list) or one frame (an OpenPose file), with numbers from `leaf_numbers` and any
    other field from `values`."""
    detected = st.lists(evenly(st.floats(-0.5, 1.5), st.integers(0, 700)), min_size=54, max_size=54)
    flat = evenly(detected, st.lists(leaf_numbers, min_size=54, max_size=54), st.lists(leaf_numbers, max_size=60),
                  values)
    person = st.fixed_dictionaries({"pose_keypoints_2d": flat},
                                   optional={"face_keypoints_2d": values, "hand_left_keypoints_2d": values})
    people = evenly(st.lists(st.fixed_dictionaries({"pose_keypoints_2d": detected}), min_size=1, max_size=MAX_PERSONS),
                    st.lists(person, max_size=10), st.lists(evenly(person, values), max_size=3), values)
    canvas = evenly(st.integers(1, 4096), st.integers(-2, 20_000), leaf_numbers, texts)
    frame = st.fixed_dictionaries({"people": people, "canvas_width": canvas, "canvas_height": canvas},
                                  optional={"version": values, "animals": values})
    return evenly(frame, st.lists(frame, max_size=3), mutated(OPENPOSE_FRAME, values),
                     mutated([OPENPOSE_FRAME], values), values)


def warm_up() -> None:
    """What a first call pays once (the tokenizer, the preview's font), so it counts against no example."""
    run_text_box_encode(json.dumps(BOX_LAYOUT))
    run_pose_encode(json.dumps(POSE_LAYOUT))


warm_up()
