"""The encode nodes' execute in-process with ComfyUI's real CLIP: the outputs beside the grounding, the
background saved for the editor, and seeding that fails naming what to fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from devkit.in_process import TinyHost

EMPTY = '{"version":1,"width":512,"height":256,"objects":[]}'


@pytest.fixture
def temp_dir(tmp_path: Path) -> Any:
    """ComfyUI's temp folder (where the editor's copy of the background goes) moved into a test dir."""
    import folder_paths

    previous = folder_paths.get_temp_directory()
    folder_paths.set_temp_directory(str(tmp_path))
    yield tmp_path
    folder_paths.set_temp_directory(previous)


def test_box_node_outputs_preview_masks_and_bounding_boxes_beside_the_grounding(host: TinyHost,
                                                                               temp_dir: Path) -> None:
    from gligen_suite.gligen_model.layout import default_layout_json
    from gligen_suite.nodes.text_box_encode_node import GligenTextBoxEncode

    background = torch.rand(2, 96, 64, 3)
    out = GligenTextBoxEncode.execute(clip=host.clip, layout=default_layout_json(), background=background)
    grounding, preview, masks, boxes = out.args[:4]
    assert grounding.phrases == ("a red apple", "a glass vase with sunflowers")
    assert preview.shape == (1, 512, 512, 3) and masks.shape == (2, 512, 512)
    assert masks[0].sum() == 176 * 208 and masks[0, 240:448, 48:224].min() == 1
    assert [b["metadata"]["text"] for b in boxes] == list(grounding.phrases)
    assert boxes[1] == {"x": 272, "y": 64, "width": 208, "height": 384,
                        "metadata": {"type": "obj", "text": "a glass vase with sunflowers",
                                     "desc": "a glass vase with sunflowers", "palette": ["#3cb44b"]}}
    (saved,) = out.ui["gligen_background"]
    assert saved["type"] == "temp" and (temp_dir / saved["subfolder"] / saved["filename"]).is_file()
    assert GligenTextBoxEncode.execute(clip=host.clip, layout=default_layout_json()).ui is None


def test_seed_boxes_fill_an_empty_layout_and_boxes_without_phrases_are_refused_naming_them(host: TinyHost) -> None:
    from gligen_suite.gligen_model import GligenInputError
    from gligen_suite.nodes.text_box_encode_node import GligenTextBoxEncode

    seed = [{"x": 0, "y": 0, "width": 128, "height": 64, "metadata": {"text": "a kite"}}]
    out = GligenTextBoxEncode.execute(clip=host.clip, layout=EMPTY, seed_boxes=seed)
    assert out.args[0].phrases == ("a kite",)
    assert out.args[0].boxes.tolist() == [[0.0, 0.0, 0.25, 0.25]]
    with pytest.raises(GligenInputError) as info:
        GligenTextBoxEncode.execute(clip=host.clip, layout=EMPTY, seed_boxes=[[0, 0, 64, 64], [64, 64, 128, 128]])
    assert "gave objects [1, 2] no phrase" in str(info.value) and "type a phrase for each box" in str(info.value)


def test_pose_node_outputs_and_copies_a_pose_keypoint_into_the_layout(host: TinyHost) -> None:
    from gligen_suite.nodes.pose_encode_node import GligenPoseEncode, default_pose_layout_json

    flat = [0.0] * 54
    flat[0:3] = [100.0, 50.0, 0.9]  # nose
    frames = [{"people": [{"pose_keypoints_2d": flat}], "canvas_width": 200, "canvas_height": 100}]
    added = GligenPoseEncode.execute(layout=default_pose_layout_json(), pose_keypoint=frames)
    grounding, preview, masks = added.args
    assert len(grounding) == 2 and preview.shape == (1, 512, 512, 3) and masks.shape == (2, 512, 512)
    assert masks[1].sum() == 1 and masks[1, 256, 256] == 1  # the keypoint person's one joint, mid-canvas
    copied = GligenPoseEncode.execute(layout=json.dumps({"version": 1, "width": 64, "height": 64, "persons": []}),
                                      pose_keypoint=frames, pose_keypoint_mode="copy when empty")
    grounding, preview, masks = copied.args
    assert len(grounding) == 1 and preview.shape == (1, 100, 200, 3) and masks.shape == (1, 100, 200)
    assert grounding.points[0, 0].tolist() == [0.5, 0.5]
