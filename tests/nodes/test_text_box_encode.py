"""GLIGEN Text-Box Encode with a real CLIP: layout JSON, phrases, batched phrase encoding.

Adds to tests/unit/test_layout_schema.py (the schema checks one by one) what needs the encode nodes or is about
JSON as it arrives from files, editors and other nodes: huge, nested, unicode, invisible, mixed up.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import torch

from devkit.in_process import TinyHost
from devkit.input_errors import message_for


def layout_json(objects: list[Any], **top: Any) -> str:
    return json.dumps({"version": 1, "width": 512, "height": 512, "objects": objects} | top)


def one_object(phrase: Any, box: Any = (0, 0, 64, 64)) -> str:
    return layout_json([{"phrase": phrase, "box": list(box)}])


def encode(host: TinyHost, text: str, previous: Any = None) -> Any:
    from gligen_suite.nodes.text_box_encode_node import encode_layout

    return encode_layout(host.clip, text, previous)


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
    (one_object(5), ("Layout object 1", '"phrase" is 5 (a number)', "must be text")),
    (one_object(["a cat"]), ("Layout object 1", "(a list)", "must be text")),
    (one_object("a \ud800 cat"), ("Layout object 1", "lone UTF-16 surrogate (U+D800, character 3)", "Delete it")),
    (json.dumps({"people": [{"pose_keypoints_2d": [0] * 54}], "canvas_width": 512, "canvas_height": 512}),
     ("OpenPose JSON file", "GLIGEN Pose Encode", "pose_keypoint input")),
    (json.dumps([{"people": [], "canvas_width": 512, "canvas_height": 512}]), ("OpenPose JSON file", "Pose Encode")),
    # what ComfyUI passes on for a layout an API client sent as a JSON object: str() of the dict
    (str(json.loads(one_object("a cat"))), ("not valid JSON", "Python dict", "must be a JSON string", "json.dumps")),
    (one_object("a cat").replace('"objects"', '\ufeff"objects"'),
     ("byte-order mark (U+FEFF) at line 1, column", "delete it")),
]


@pytest.mark.parametrize(("text", "needles"), BAD_TEXT, ids=[
    "nested", "5000-digit-int", "huge-box-int", "huge-strength", "trailing-garbage", "python-quotes",
    "trailing-comma", "double-encoded", "11MB", "width-string", "canvas-too-big", "objects-dict",
    "persons-dict", "box-strings", "zero-width-phrase", "control-code-phrase", "blank-unicode-phrase", "31-objects",
    "number-phrase", "list-phrase", "lone-surrogate", "openpose-at-text-box", "openpose-frames-at-text-box",
    "python-dict-from-api", "byte-order-mark-inside"])
@pytest.mark.bad_input
def test_bad_layout_text_is_named_at_the_encode_node(host: TinyHost, text: str, needles: tuple[str, ...]) -> None:
    text_message = message_for(lambda: encode(host, text))
    for needle in needles:
        assert needle in text_message, text_message
    assert len(text_message) < 600  # a message, not an echo of the input


@pytest.mark.parametrize("start", ["\ufeff", "\ufeff\ufeff", " \n\ufeff"], ids=["one", "two", "after-white-space"])
@pytest.mark.bad_input
def test_a_byte_order_mark_from_a_windows_file_is_accepted(host: TinyHost, start: str) -> None:
    assert encode(host, start + one_object("a cat")).phrases == ("a cat",)


@pytest.mark.bad_input
def test_a_layout_that_is_no_string_is_refused_at_both_encode_nodes(host: TinyHost) -> None:
    """In-process callers (and API clients, whose objects ComfyUI turns into Python text) must send JSON text."""
    from gligen_suite.nodes.pose_encode_node import GligenPoseEncode
    from gligen_suite.nodes.text_box_encode_node import GligenTextBoxEncode

    layout = json.loads(one_object("a cat"))
    for run in (lambda: GligenTextBoxEncode.execute(host.clip, layout), lambda: GligenPoseEncode.execute(layout)):
        text = message_for(run)
        assert "The layout must be a JSON string, got a dict" in text and "json.dumps(layout)" in text


# ---- bounded work: no phrase keeps the node busy ----------------------------------------------------
@contextmanager
def within(seconds: float) -> Iterator[None]:
    """The block must finish within `seconds` of wall time: an alarm stops it there (unbounded work then fails
    the test instead of hanging it), and the time it took is checked too. A bound, not a benchmark."""
    def stop(*_: Any) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    start = time.perf_counter()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.perf_counter() - start < seconds


@pytest.mark.bad_input
def test_a_phrase_padded_with_200000_spaces_is_refused_at_once(host: TinyHost) -> None:
    """CLIP collapses the spaces (the 75-token check passes); the phrase is measured in characters first."""
    from gligen_suite.nodes.text_box_encode_node import GligenTextBoxEncode

    padded = one_object("a cat" + " " * 200_000 + "on a mat")
    with within(2.0):
        text = message_for(lambda: GligenTextBoxEncode.execute(host.clip, padded))
    assert "Layout object 1: the phrase is 200,013 characters long; the limit is 4,000" in text
    assert "Shorten it" in text and len(text) < 400


@pytest.mark.bad_input
def test_a_phrase_at_the_character_limit_is_encoded_and_its_preview_is_quick(host: TinyHost) -> None:
    """4,000 characters, mostly spaces, within CLIP's 75 tokens: encoded; the node's own work on it (the layout, the
    preview label shortened to its box, masks, boxes) takes a few text measurements, not one per character. CLIP's
    encode is the host's work and is not timed."""
    from gligen_suite.gligen_model.layout import MAX_PHRASE_CHARS
    from gligen_suite.nodes.editor.document import LayoutDocument
    from gligen_suite.nodes.editor.node_runs import box_outputs

    phrase = "a cat" + " " * (MAX_PHRASE_CHARS - 13) + "on a mat"
    text = one_object(phrase, (0, 0, 512, 64))
    assert len(phrase) == MAX_PHRASE_CHARS
    with within(2.0):
        preview, masks, _ = box_outputs(LayoutDocument.decode(text), None)
    assert preview.shape == (1, 512, 512, 3) and masks.shape == (1, 512, 512)
    assert encode(host, text).phrases == (phrase,)


# ---- phrases: long, unicode, boundaries ---------------------------------------------------------
@pytest.mark.parametrize("phrase", ["cat " * 250, "猫" * 40, "🐱" * 80], ids=["1000-chars", "cjk-tokens", "emoji"])
@pytest.mark.bad_input
def test_phrases_longer_than_clip_are_named_with_the_fix(host: TinyHost, phrase: str) -> None:
    text = message_for(lambda: encode(host, layout_json([{"phrase": "a dog", "box": [0, 0, 8, 8]},
                                                         {"phrase": phrase, "box": [0, 0, 8, 8]}])))
    assert "The phrase of object 2" in text and "longer than CLIP's 75 tokens" in text and "shorten it" in text
    assert len(text) < 400


@pytest.mark.bad_input
def test_unicode_phrases_are_encoded(host: TinyHost) -> None:
    """Emoji, CJK, right-to-left script, a combining accent and a stray control code all reach CLIP."""
    phrases = ["🐱 a cat", "一只红色的猫", "قطة حمراء", "cafe\u0301 table", "a\x00cat", "猫" * 20]
    grounding = encode(host, layout_json([{"phrase": p, "box": [0, 0, 64, 64]} for p in phrases]))
    features = grounding.phrase_embeddings
    assert grounding.phrases == tuple(phrases) and features.shape == (6, 768) and torch.isfinite(features).all()
    assert len({tuple(f.tolist()) for f in features}) == 6  # every phrase its own feature


@pytest.mark.bad_input
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
@pytest.mark.bad_input
def test_a_pose_layout_at_the_text_box_node_and_a_box_layout_at_the_pose_node(host: TinyHost) -> None:
    from gligen_suite.nodes.pose_encode_node import default_pose_layout_json, encode_poses

    text = message_for(lambda: encode(host, default_pose_layout_json()))
    assert "persons but no objects" in text and "GLIGEN Pose Encode" in text
    text = message_for(lambda: encode_poses(one_object("a cat")))
    assert "objects but no persons" in text and "GLIGEN Text-Box Encode" in text


@pytest.mark.bad_input
def test_pose_grounding_in_append_to_is_named(host: TinyHost) -> None:
    from gligen_suite.nodes.pose_encode_node import default_pose_layout_json, encode_poses

    text = message_for(lambda: encode(host, one_object("a cat"), encode_poses(default_pose_layout_json())))
    assert "'append_to' got grounding from GLIGEN Pose Encode" in text


# ---- phrases encoded in one batch, as ComfyUI encodes them one by one --------------------------
def test_batched_phrase_encoding_equals_comfyui_one_by_one(host: TinyHost) -> None:
    from gligen_suite.nodes.encoders.phrases import encode_phrases

    phrases = ["a red cube", "a blue ball that is quite large", "(a cat:1.3)", "tree"]
    batched = encode_phrases(host.clip, phrases)
    one_by_one = torch.cat([host.clip.encode_from_tokens(host.clip.tokenize(p), return_pooled="unprojected")[1]
                            for p in phrases]).float()
    assert batched.shape == (4, 768)
    torch.testing.assert_close(batched, one_by_one, atol=1e-5, rtol=1e-5)


def test_the_phrase_batch_runs_with_the_options_and_device_of_the_hosts_own_encode(
        host: TinyHost, monkeypatch: pytest.MonkeyPatch) -> None:
    """One text-model run on all phrases, with the layer, pooling and device of the host's own encode of a
    single phrase, and the host's `execution_device` option (its CLIP patcher's load device: newer hosts run
    the text model there under dynamic VRAM; 0.3.75 ignores the option)."""
    from gligen_suite.nodes.encoders.phrases import encode_phrases

    clip = host.clip
    stage = clip.cond_stage_model
    inner = getattr(stage, stage.clip)
    options: list[dict[str, Any]] = []
    host_set = stage.set_clip_options
    monkeypatch.setattr(stage, "set_clip_options", lambda o: (options.append(dict(o)), host_set(o))[1])
    runs: list[dict[str, Any]] = []

    def seen(module: Any, args: tuple[Any, ...], output: Any) -> None:
        runs.append({"rows": len(args[0]), "device": output[1].device, "projected": module.return_projected_pooled,
                     "layer": module.layer})

    handle = inner.register_forward_hook(seen)
    try:
        batched = encode_phrases(clip, ["a red cube", "a blue ball", "tree"])
        ours = runs.copy()
        runs.clear()
        single = clip.encode_from_tokens(clip.tokenize("a red cube"), return_pooled="unprojected")[1]
    finally:
        handle.remove()
    assert [r["rows"] for r in ours] == [3]
    (theirs,) = runs
    assert ours[0] == theirs | {"rows": 3} and theirs["projected"] is False
    assert {"execution_device": clip.patcher.load_device} in options
    assert batched.device.type == "cpu" and batched.dtype == torch.float32
    torch.testing.assert_close(batched[:1], single.float().cpu(), atol=1e-5, rtol=1e-5)


@pytest.mark.bad_input
def test_overlong_phrase_and_too_many_chained_objects(host: TinyHost) -> None:
    from gligen_suite.nodes.text_box_encode_node import encode_layout

    long_phrase = json.dumps({"version": 1, "width": 64, "height": 64,
                              "objects": [{"phrase": "cat " * 100, "box": [0, 0, 8, 8]}]})
    assert "longer than CLIP's 75 tokens" in message_for(lambda: encode_layout(host.clip, long_phrase))
    many = json.dumps({"version": 1, "width": 64, "height": 64,
                       "objects": [{"phrase": f"thing {i}", "box": [0, 0, 8, 8]} for i in range(20)]})
    first = encode_layout(host.clip, many)
    assert "hold 40 objects" in message_for(lambda: encode_layout(host.clip, many, first))


# ---- the caption: which phrases the prompt names, and the caption output ------------------------------------------
APPLE_AND_LAMP = layout_json([{"phrase": "a red apple", "box": [0, 0, 256, 256]},
                              {"phrase": "a lamp", "box": [256, 256, 512, 512]}])


def run_node(host: TinyHost, layout: str = APPLE_AND_LAMP, **inputs: Any) -> Any:
    from gligen_suite.nodes.text_box_encode_node import GligenTextBoxEncode

    return GligenTextBoxEncode.execute(host.clip, layout, **inputs)


def test_the_caption_input_switch_and_output_leave_saved_workflows_as_they_were() -> None:
    """`caption` is an optional socket without a widget, the switch an optional widget after the existing ones, the
    caption output the last: saved links (output indices) and widget values (by position) keep their meaning."""
    from gligen_suite.nodes.text_box_encode_node import GligenTextBoxEncode

    from devkit.comfy_host import REPO_ROOT
    from devkit.workflow_to_api import widget_layout

    info = GligenTextBoxEncode.GET_NODE_INFO_V1()
    kind, options = info["input"]["optional"]["caption"]
    assert kind == "STRING" and options["forceInput"] is True and "caption" not in info["input"]["required"]
    assert info["input"]["optional"]["append_missing_phrases"][0] == "BOOLEAN"
    assert info["input"]["optional"]["append_missing_phrases"][1]["default"] is False
    assert info["output"] == ["GLIGEN_GROUNDING", "IMAGE", "MASK", "BOUNDING_BOXES", "STRING"]
    assert info["output_name"][-1] == "caption"
    before = ["layout", "seed_mode", "crop_images_to_boxes"]
    assert widget_layout(info)[:5] == [*before, "append_missing_phrases", "frames"]
    saved = [(path.stem, node) for path in sorted((REPO_ROOT / "example_workflows").glob("*.json"))
             for node in json.loads(path.read_text(encoding="utf-8"))["nodes"]
             if node["type"] == "GLIGENSuite_TextBoxEncode"]
    assert saved
    for example, node in saved:  # each saved value still lands on the widget it was saved from
        values = node["widgets_values"]
        assert len(values) in (3, 4, 5) and isinstance(json.loads(values[0]), dict)
        assert values[1] in ("copy when empty", "copy always") and isinstance(values[2], bool)
        # the examples keep the new widgets' defaults; the caption example appends the missing phrases
        appends = example == "GLIGEN phrases linked to the prompt"
        assert values[3:] == [True, 0] if appends else values[3:] in ([], [False], [False, 0]), example


def test_without_a_caption_the_output_is_the_phrases_joined(host: TinyHost) -> None:
    out = run_node(host, append_missing_phrases=True)
    assert out.args[4] == "a red apple, a lamp" and out.ui is None  # no caption, nothing to show


def test_the_caption_output_is_the_caption_with_or_without_the_missing_phrases(host: TinyHost) -> None:
    assert run_node(host, caption="A red apple on a table").args[4] == "A red apple on a table"
    assert run_node(host, caption="A red apple on a table", append_missing_phrases=True).args[4] == \
        "A red apple on a table, a lamp"
    assert run_node(host, caption="Red apples, lamps", append_missing_phrases=True).args[4] == "Red apples, lamps"
    assert run_node(host, caption="", append_missing_phrases=True).args[4] == "a red apple, a lamp"


def test_the_node_shows_per_object_whether_the_caption_names_its_phrase(host: TinyHost) -> None:
    from gligen_suite.nodes.editor.captions import CAPTION_KEY

    caption = "🐱 A red apple"
    out = run_node(host, caption=caption, append_missing_phrases=True)
    assert out.ui["text"] == ['Caption: names 1 of 2 phrases.\n1 a red apple: in the caption ("red apple")\n'
                              "2 a lamp: not in the caption (appended)"]
    # For the editor: the caption it ran with, and per object its phrase and where it occurs, in JavaScript's
    # string offsets (the cat is two UTF-16 units): "red apple" is caption[4:13] in Python, [5, 14] there.
    assert caption[4:13] == "red apple"
    assert out.ui[CAPTION_KEY] == [{"caption": caption, "objects": [{"phrase": "a red apple", "span": [5, 14]},
                                                                    {"phrase": "a lamp", "span": None}]}]
    assert "(appended)" not in run_node(host, caption=caption).ui["text"][0]


def test_the_preview_labels_an_object_the_caption_does_not_name_on_red(host: TinyHost) -> None:
    plain = run_node(host).args[1]
    named = run_node(host, caption="a red apple and a lamp").args[1]
    marked = run_node(host, caption="a red apple").args[1]
    assert torch.equal(plain, named)
    changed = (marked - plain).abs().sum(-1)[0] > 0.05  # (H, W)
    rows, cols = changed.nonzero(as_tuple=True)
    assert len(rows) > 50  # the lamp's label, a few dozen pixels
    assert rows.min() >= 256 and rows.max() < 300 and cols.min() >= 256  # at the top-left of the lamp's box
    red, green = (marked - plain)[0, rows, cols, 0], (marked - plain)[0, rows, cols, 1]
    assert (red > green).float().mean() > 0.9


def test_chained_encode_nodes_pass_the_caption_on(host: TinyHost) -> None:
    first = run_node(host, caption="a cat", append_missing_phrases=True)
    chair = layout_json([{"phrase": "the lamp", "box": [0, 0, 64, 64]}, {"phrase": "a chair", "box": [0, 0, 64, 64]}])
    second = run_node(host, chair, append_to=first.args[0], caption=first.args[4], append_missing_phrases=True)
    assert first.args[4] == "a cat, a red apple, a lamp"
    assert second.args[4] == "a cat, a red apple, a lamp, a chair"
    assert "1 the lamp: in the caption (\"lamp\")" in second.ui["text"][0]


@pytest.mark.bad_input
def test_a_caption_too_long_or_no_text_is_named_before_the_layout_is_read(host: TinyHost) -> None:
    with within(2.0):
        text = message_for(lambda: run_node(host, "not json", caption="a cat, " * 100_000))
    assert "The caption is 700,000 characters long; the limit is 10,000" in text and len(text) < 300
    text = message_for(lambda: run_node(host, caption=5))
    assert "The caption must be text (a STRING), got a int" in text
