"""Text-Box Encode in-process with ComfyUI's real CLIP: a BOUNDING_BOXES batch (one list of boxes per image) at
seed_boxes seeds keyframes, and frames = 16 grounds each frame on its image's detections."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devkit.in_process import TinyHost

W, H = 512, 256
EMPTY = json.dumps({"version": 1, "width": W, "height": H, "objects": []})


def detection(x0: float, y0: float, x1: float, y1: float, text: str) -> dict[str, Any]:
    return {"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0, "metadata": {"type": "obj", "text": text}}


def test_a_16_image_seed_grounds_every_frame_on_its_images_boxes(host: TinyHost) -> None:
    from gligen_suite.gligen_model.frames import FrameGroundings
    from gligen_suite.nodes.editor.seed_tracks import TOLERANCE_PX
    from gligen_suite.nodes.text_box_encode_node import GligenTextBoxEncode

    def kite(f: int) -> tuple[float, float, float, float]:  # fast then slow to the right, falling ever faster
        x = 10 + 12 * f if f <= 7 else 94 + 4 * (f - 7)
        return (x, 20 + f * f / 8, x + 64, 68 + f * f / 8)

    def tree(f: int) -> tuple[float, float, float, float]:
        return (300, 20, 360, 200)

    seed = [[detection(*tree(f), "a tree")] + ([detection(*kite(f), "a kite")] if f != 9 else []) for f in range(16)]
    out = GligenTextBoxEncode.execute(clip=host.clip, layout=EMPTY, seed_boxes=seed, frames=16)
    grounding = out.args[0]
    assert isinstance(grounding, FrameGroundings) and len(grounding.frames) == 16
    for f, frame in enumerate(grounding.frames):
        want = {"a tree": tree(f)} | ({"a kite": kite(f)} if f != 9 else {})
        assert frame.phrases == tuple(want)  # the kite is hidden in frame 9
        for got, box in zip(frame.boxes.tolist(), want.values(), strict=True):
            normalized = [box[0] / W, box[1] / H, box[2] / W, box[3] / H]
            assert got == pytest.approx(normalized, abs=TOLERANCE_PX / min(W, H) + 1e-6), f"frame {f}"
