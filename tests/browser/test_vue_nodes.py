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
    page.load_workflow(example("GLIGEN phrases in boxes.json"))
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

    page.load_workflow(example("GLIGEN poses drawn in the layout.json"))
    page.focus_node(NODE)
    start = node_pos(page)
    page.drag(NODE, (176, 96), (200, 64))  # the first person's nose
    assert page.layout(NODE)["persons"][0]["keypoints"][0] == [200, 64]
    assert node_pos(page) == start


LOD_SETTING = "LiteGraph.Canvas.MinFontSizeForLOD"  # 8 px (the front end's default) -> LOD below zoom 8/14
EDITOR_ON_SCREEN = """() => {
    const rect = (el) => el.getBoundingClientRect().toJSON();
    const editors = [...document.querySelectorAll('.gligen-editor')];
    const node = document.querySelector('[data-node-id="5"]');
    return { lowQuality: app.canvas.low_quality,
             paneLOD: !!document.querySelector('[data-testid="transform-pane"].isLOD'),
             frontEndHasLOD: [...document.styleSheets].some((sheet) => {
                 try { return [...sheet.cssRules].some((rule) => rule.cssText.includes('.isLOD')); }
                 catch { return false; } }),
             stray: editors.filter((el) => !el.closest('.lg-node')).length,
             editor: rect(editors[0]), node: rect(node) };
}"""


def zoom_with_wheel(page: ComfyPage, below: float | None = None, above: float | None = None) -> None:
    """Wheel-zoom about the middle of the screen until the zoom is below `below` (or above `above`)."""
    page.page.mouse.move(800, 900)  # clear of the editor
    for _ in range(40):
        scale = page.js("() => app.canvas.ds.scale")
        if (below is not None and scale < below) or (above is not None and scale > above):
            return
        page.page.mouse.wheel(0, 300 if below is not None else -300)
        page.settle()
    raise AssertionError(f"the wheel did not zoom past {below or above}: {scale}")


@pytest.mark.parametrize("workflow", ["GLIGEN phrases in boxes.json", "GLIGEN poses drawn in the layout.json"])
def test_the_editor_survives_the_low_zoom_level_of_detail(vue_page: ComfyPage, workflow: str) -> None:
    page = vue_page
    default = page.js(f"() => app.extensionManager.setting.get('{LOD_SETTING}')")
    page.set_setting(LOD_SETTING, 8)
    try:
        page.load_workflow(example(workflow))
        page.focus_node(NODE)
        before = page.layout(NODE)
        zoom_with_wheel(page, below=0.4)
        state = page.js(EDITOR_ON_SCREEN)
        assert state["lowQuality"]  # the front end's low-quality mode is on
        assert state["paneLOD"] == state["frontEndHasLOD"]  # and Nodes 2.0's LOD, where it has one (1.32)
        assert state["stray"] == 0  # no editor outside a Vue node
        editor, node = state["editor"], state["node"]
        assert node["left"] <= editor["left"] and editor["right"] <= node["right"] + 0.5
        assert node["top"] <= editor["top"] and editor["bottom"] <= node["bottom"] + 0.5
        assert page.layout(NODE) == before
        zoom_with_wheel(page, above=0.9)
        assert not page.js(EDITOR_ON_SCREEN)["paneLOD"]
    finally:
        page.set_setting(LOD_SETTING, default)
    page.focus_node(NODE)
    if workflow == "GLIGEN phrases in boxes.json":
        page.drag(NODE, (16, 16), (144, 112))
        assert page.layout(NODE)["objects"][-1]["box"] == [16, 16, 144, 112]
    else:
        page.drag(NODE, (176, 96), (200, 64))
        assert page.layout(NODE)["persons"][0]["keypoints"][0] == [200, 64]
