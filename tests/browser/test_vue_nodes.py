"""The editors in the frontend's Vue node renderer ("Nodes 2.0", setting Comfy.VueNodes.Enabled), in
headless Chromium: drawing and dragging on the canvas edit the layout and never drag the node."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devkit.browser_page import ComfyPage, example

pytestmark = [pytest.mark.browser, pytest.mark.server]

NODE = 5


@pytest.fixture
def vue_page(comfy_page: ComfyPage) -> Iterator[ComfyPage]:
    comfy_page.set_setting("Comfy.VueNodes.Enabled", True)
    try:
        yield comfy_page
    finally:
        comfy_page.set_setting("Comfy.VueNodes.Enabled", False)


def node_pos(page: ComfyPage) -> list[float]:
    return page.js(f"() => [...app.graph.getNodeById({NODE}).pos]")


def test_box_and_pose_editors_work_in_vue_nodes(vue_page: ComfyPage) -> None:
    page = vue_page
    page.load_workflow(example("gligen_text_box.json"))
    page.focus_node(NODE)
    editor = page.editor(NODE)
    assert editor.evaluate("(el) => !!el.closest('.lg-node')")  # rendered inside a Vue node
    assert page.js("() => document.querySelectorAll('.lg-node textarea.comfy-multiline-input').length") == 0
    start = node_pos(page)
    page.drag(NODE, (16, 16), (144, 112))
    page.page.keyboard.type("a paper kite")
    page.drag(NODE, (376, 256), (408, 288))  # the vase, by its body
    objects = page.layout(NODE)["objects"]
    assert objects[1]["box"] == [304, 96, 512, 480]
    assert objects[2] == {"phrase": "a paper kite", "box": [16, 16, 144, 112], "color": "#4363d8"}
    assert node_pos(page) == start
    page.screenshot_node(NODE, "box_editor_vue_nodes")

    page.load_workflow(example("gligen_keypoints.json"))
    page.focus_node(NODE)
    start = node_pos(page)
    page.drag(NODE, (176, 96), (200, 64))  # the first person's nose
    assert page.layout(NODE)["persons"][0]["keypoints"][0] == [200, 64]
    assert node_pos(page) == start
