"""The server harness and the UI->API converter against a real ComfyUI (cheap core nodes, no models)."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from devkit.comfy_server import ComfyServer, PromptFailed, PromptRejected, ServerStartError
from devkit.workflow_to_api import process_dynamic_prompt, ui_to_api, widget_layout

pytestmark = pytest.mark.server

COLOR = 0x204080  # EmptyImage color; ImageInvert makes it (223, 191, 127)
WIDTH, HEIGHT = 40, 24


def ui_workflow() -> dict[str, Any]:
    """EmptyImage (height from a V3 PrimitiveInt) -> Reroute -> ImageAddNoise(0) -> ImageInvert -> SaveImage.

    Also a Note and a muted SaveImage. EmptyImage's linked `height` keeps a stale widget value (512),
    and the seed / PrimitiveInt values are followed by their "control after generate" entries.
    """
    def node(nid: int, ntype: str, widgets: list[Any], inputs: Sequence[dict[str, Any]] = (), mode: int = 0,
             outputs: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
        return {"id": nid, "type": ntype, "pos": [0, 0], "size": [200, 100], "flags": {}, "order": nid,
                "mode": mode, "inputs": list(inputs), "outputs": list(outputs), "properties": {},
                "widgets_values": widgets}

    nodes = [
        node(1, "EmptyImage", [WIDTH, 512, 1, COLOR],
             inputs=[{"name": "height", "type": "INT", "widget": {"name": "height"}, "link": 1}],
             outputs=[{"name": "IMAGE", "type": "IMAGE", "links": [2]}]),
        node(2, "PrimitiveInt", [HEIGHT, "fixed"], outputs=[{"name": "INT", "type": "INT", "links": [1]}]),
        node(5, "Reroute", [], inputs=[{"name": "", "type": "*", "link": 2}],
             outputs=[{"name": "", "type": "IMAGE", "links": [3]}]),
        node(3, "ImageAddNoise", [123, "randomize", 0.0], inputs=[{"name": "image", "type": "IMAGE", "link": 3}],
             outputs=[{"name": "IMAGE", "type": "IMAGE", "links": [4]}]),
        node(4, "ImageInvert", [], inputs=[{"name": "image", "type": "IMAGE", "link": 4}],
             outputs=[{"name": "IMAGE", "type": "IMAGE", "links": [5, 6]}]),
        node(6, "SaveImage", ["harness_test"], inputs=[{"name": "images", "type": "IMAGE", "link": 5}]),
        node(7, "Note", ["frontend-only, not sent"]),
        node(8, "SaveImage", ["muted"], inputs=[{"name": "images", "type": "IMAGE", "link": 6}], mode=2),
    ]
    links = [[1, 2, 0, 1, 0, "INT"], [2, 1, 0, 5, 0, "IMAGE"], [3, 5, 0, 3, 0, "IMAGE"],
             [4, 3, 0, 4, 0, "IMAGE"], [5, 4, 0, 6, 0, "IMAGE"], [6, 4, 0, 8, 0, "IMAGE"]]
    return {"last_node_id": 8, "last_link_id": 6, "nodes": nodes, "links": links, "groups": [],
            "config": {}, "extra": {}, "version": 0.4}


def test_object_info_has_core_nodes_and_pack_loaded_once(server: ComfyServer, object_info: dict[str, Any]) -> None:
    for name in ("KSampler", "GLIGENLoader", "GLIGENTextBoxApply", "EmptyImage", "SaveImage"):
        assert name in object_info
    listed = [line for line in server.log_text().splitlines()
              if re.search(r"seconds( \(IMPORT FAILED\))?: .*gligen_suite\s*$", line)]
    assert len(listed) == 1, listed  # only the temp custom_nodes copy, not <ComfyUI>/custom_nodes
    assert str(server.custom_nodes_dir) in listed[0]


def test_widget_layout_matches_frontend(object_info: dict[str, Any]) -> None:
    assert widget_layout(object_info["KSampler"]) == [
        "seed", None, "steps", "cfg", "sampler_name", "scheduler", "denoise"]
    assert widget_layout(object_info["LoadImage"]) == ["image", None]  # + "upload" button
    assert widget_layout(object_info["GLIGENTextBoxApply"]) == ["text", "width", "height", "x", "y"]
    assert widget_layout(object_info["PrimitiveInt"]) == ["value", None]


def test_ui_to_api_conversion(object_info: dict[str, Any]) -> None:
    api = ui_to_api(ui_workflow(), object_info)
    assert sorted(api, key=int) == ["1", "2", "3", "4", "6"]
    assert api["1"]["inputs"] == {"width": WIDTH, "height": ["2", 0], "batch_size": 1, "color": COLOR}
    assert api["2"]["inputs"] == {"value": HEIGHT}
    assert api["3"]["inputs"] == {"seed": 123, "strength": 0.0, "image": ["1", 0]}
    assert api["6"]["inputs"] == {"filename_prefix": "harness_test", "images": ["4", 0]}


def test_ui_to_api_rejects_bypass(object_info: dict[str, Any]) -> None:
    wf = ui_workflow()
    wf["nodes"][4]["mode"] = 4
    with pytest.raises(NotImplementedError, match="bypass"):
        ui_to_api(wf, object_info)


def test_dynamic_prompts() -> None:
    assert process_dynamic_prompt("a cat // comment\n/* x */on a mat") == "a cat \non a mat"
    assert process_dynamic_prompt(r"\{literal\}") == "{literal}"
    picks = {process_dynamic_prompt("{red|green|{blue|navy}} box", random.Random(i)) for i in range(40)}
    assert picks == {"red box", "green box", "blue box", "navy box"}


def test_run_ui_workflow(server: ComfyServer, object_info: dict[str, Any]) -> None:
    history = server.run(ui_to_api(ui_workflow(), object_info), timeout=120)
    assert history["status"]["status_str"] == "success"
    images = server.output_images(history)
    assert len(images) == 1
    img = images[0]
    assert img.size == (WIDTH, HEIGHT)
    pixels = np.asarray(img.convert("RGB")).astype(int)
    expected = np.array([255 - 0x20, 255 - 0x40, 255 - 0x80])
    assert np.abs(pixels - expected).max() <= 1
    raw = server.output_images(history, node_id="6", as_pil=False)
    assert raw[0][:8] == b"\x89PNG\r\n\x1a\n"
    record = server.output_files(history)[0]
    assert (server.output_dir / record["subfolder"] / record["filename"]).is_file()


def test_invalid_input_is_rejected(server: ComfyServer) -> None:
    graph = {"1": {"class_type": "EmptyImage", "inputs": {"width": 0, "height": 8, "batch_size": 1, "color": 0}},
             "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "bad"}}}
    with pytest.raises(PromptRejected, match=r"node 1 \(EmptyImage\).*width") as info:
        server.queue_prompt(graph)
    assert info.value.status == 400
    assert "value_smaller_than_min" in str(info.value)
    with pytest.raises(PromptRejected, match="NoSuchNode"):
        server.queue_prompt({"1": {"class_type": "NoSuchNode", "inputs": {}}})


def test_execution_error_raises_prompt_failed(server: ComfyServer) -> None:
    graph = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
             "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "../escape"}}}
    with pytest.raises(PromptFailed, match="outside the output folder") as info:
        server.run(graph, timeout=120)
    assert info.value.node_type == "SaveImage" and info.value.node_id == "2"


def test_free_and_interrupt_when_idle(server: ComfyServer) -> None:
    server.interrupt()
    server.free()
    assert server.get_json("/queue") == {"queue_running": [], "queue_pending": []}


def test_startup_failure_reports_log_tail(tmp_path: Path) -> None:
    with pytest.raises(ServerStartError, match="unrecognized arguments: --no-such-flag"):
        with ComfyServer(tmp_path, extra_args=["--no-such-flag"], startup_timeout=60):
            pass
    assert (tmp_path / "comfyui.log").is_file()
