"""One node run decodes the layout text once: seeding, encoding and the outputs share one LayoutDocument."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devkit.in_process import TinyHost

POSE_FRAMES = [{"people": [{"pose_keypoints_2d": [100.0, 50.0, 0.9] + [0.0] * 51}],
                "canvas_width": 200, "canvas_height": 100}]


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every text json.loads decodes while the test runs."""
    texts: list[str] = []
    original: Callable[..., Any] = json.loads

    def counting(text: Any, *args: Any, **kwargs: Any) -> Any:
        texts.append(text)
        return original(text, *args, **kwargs)

    monkeypatch.setattr(json, "loads", counting)
    yield texts


def box_layout(objects: list[dict[str, Any]]) -> str:
    return json.dumps({"version": 1, "width": 512, "height": 256, "objects": objects})


@pytest.mark.parametrize("seed", [None, [{"x": 0, "y": 0, "width": 128, "height": 64, "metadata": {"text": "a kite"}}]],
                         ids=["drawn", "seeded"])
def test_a_text_box_run_decodes_its_layout_once(host: TinyHost, decoded: list[str], seed: Any) -> None:
    from gligen_suite.nodes.text_box_encode_node import GligenTextBoxEncode

    text = box_layout([] if seed else [{"phrase": "a cat", "box": [0, 0, 256, 128], "color": "#123456"}])
    out = GligenTextBoxEncode.execute(clip=host.clip, layout=text, seed_boxes=seed, seed_mode="copy always")
    assert len(out.args[0]) == 1 and len(out.args[3]) == 1  # grounding and BOUNDING_BOXES made
    assert decoded == [text]


@pytest.mark.parametrize(("layout", "mode"), [
    ("default", "add to layout"),
    ("default", "copy always"),
    ("openpose", "add to layout"),
], ids=["add", "copy", "pasted-openpose"])
def test_a_pose_run_decodes_its_layout_once(decoded: list[str], layout: str, mode: str) -> None:
    from gligen_suite.nodes.pose_encode_node import GligenPoseEncode, default_pose_layout_json

    text = json.dumps(POSE_FRAMES[0]) if layout == "openpose" else default_pose_layout_json()
    decoded.clear()  # default_pose_layout_json writes, it does not read; start the count at the run
    out = GligenPoseEncode.execute(layout=text, pose_keypoint=POSE_FRAMES, pose_keypoint_mode=mode)
    assert len(out.args[0]) >= 1
    assert decoded == [text]


def test_the_document_keeps_editor_keys_that_the_layout_leaves_out() -> None:
    from gligen_suite.nodes.editor.document import LayoutDocument

    document = LayoutDocument.decode(box_layout([{"phrase": "a cat", "box": [0, 0, 256, 128], "color": "#123456",
                                                  "locked": True}]))
    assert document.entries("objects")[0]["color"] == "#123456"
    assert document.layout.objects[0].phrase == "a cat" and document.layout is document.layout  # validated once
