"""The editors' life on the page, in headless Chromium: one editor per node however the node is made, the
editor's DOM gone with the node, ComfyUI's own undo and the node menu's JSON view working with the editor,
and front-end code that builds no markup from strings and waits on no timers."""

from __future__ import annotations

import json
import re

import pytest

from devkit.browser_page import ComfyPage, example
from devkit.comfy_host import REPO_ROOT

pytestmark = [pytest.mark.browser, pytest.mark.server]

BOX = 5
WEB = REPO_ROOT / "web"
COUNT_EDITORS = """() => ({
    box: document.querySelectorAll('.gligen-box-editor').length,
    pose: document.querySelectorAll('.gligen-pose-editor').length,
    widgets: app.graph.nodes.map((n) => (n.widgets ?? []).filter((w) => w.name === 'layout_editor').length),
})"""


def test_an_editor_is_built_once_per_node_and_removed_with_it(comfy_page: ComfyPage) -> None:
    page = comfy_page
    page.load_workflow(example("GLIGEN phrases in boxes.json"))
    counts = page.js(COUNT_EDITORS)
    assert (counts["box"], counts["pose"], sorted(counts["widgets"])[-1]) == (1, 0, 1)
    added = page.js("""() => {
        const add = (node, x) => { node.pos = [x, 2000]; app.graph.add(node); return node.id; };
        return [add(LiteGraph.createNode("GLIGENSuite_TextBoxEncode"), 0),
                add(LiteGraph.createNode("GLIGENSuite_PoseEncode"), 600),
                add(app.graph.getNodeById(5).clone(), 1200)];   // what copy and paste does
    }""")
    page.settle()
    counts = page.js(COUNT_EDITORS)
    assert (counts["box"], counts["pose"]) == (3, 1) and max(counts["widgets"]) == 1
    clone = added[2]
    assert page.widget(clone, "layout") == page.widget(BOX, "layout")
    page.js("(ids) => ids.forEach((id) => app.graph.remove(app.graph.getNodeById(id)))", added)
    page.settle()
    counts = page.js(COUNT_EDITORS)
    assert (counts["box"], counts["pose"]) == (1, 0)
    page.load_workflow(example("GLIGEN poses drawn in the layout.json"))
    page.settle()
    counts = page.js(COUNT_EDITORS)
    assert (counts["box"], counts["pose"]) == (0, 1)


def test_comfyui_undo_and_the_node_menus_json_view_work_with_the_editor(comfy_page: ComfyPage) -> None:
    page = comfy_page
    page.load_workflow(example("GLIGEN phrases in boxes.json"))
    page.focus_node(BOX)
    original = page.widget(BOX, "layout")
    page.drag(BOX, (24, 24), (120, 120))
    assert len(page.layout(BOX)["objects"]) == 3
    # ComfyUI's graph-level undo (Ctrl+Z on the graph) reloads the graph; the rebuilt editor follows.
    page.js("async () => { await app.extensionManager.workflow.activeWorkflow.changeTracker.undo(); }")
    page.focus_node(BOX)
    assert page.widget(BOX, "layout") == original
    assert page.editor(BOX).locator(".gligen-row[data-key]").count() == 2

    # The mouse wheel over the canvas zooms the graph, as it does elsewhere.
    scale = page.js("() => app.canvas.ds.scale")
    page.page.mouse.move(*page.to_screen(BOX, 256, 256))
    page.page.mouse.wheel(0, -200)
    page.settle()
    assert page.js("() => app.canvas.ds.scale") > scale
    page.focus_node(BOX)

    labels = page.js("""() => { const options = app.canvas.getNodeMenuOptions(app.graph.getNodeById(5));
        const entry = options.find((o) => o?.content === "Edit layout JSON");
        entry.callback();
        return options.map((o) => o?.content); }""")
    assert "Edit layout JSON" in labels
    editor = page.editor(BOX)
    textarea = editor.locator(".gligen-json textarea")
    assert json.loads(textarea.input_value()) == json.loads(original)
    textarea.fill('{"version": 1, "objects": [')
    editor.locator(".gligen-json >> text=apply").click()
    assert editor.locator(".gligen-json-error").inner_text().startswith("Not a layout: not valid JSON")
    assert page.widget(BOX, "layout") == original
    textarea.fill(json.dumps({"objects": [{"box": [0, 0, 64, 64], "phrase": "a kite"}], "height": 256,
                              "width": 256, "version": 1}, indent=2))
    editor.locator(".gligen-json >> text=apply").click()
    assert page.widget(BOX, "layout") == ('{"version":1,"width":256,"height":256,'
                                          '"objects":[{"phrase":"a kite","box":[0,0,64,64]}]}')
    assert "gligen-json-open" not in editor.get_attribute("class")
    assert editor.locator(".gligen-phrase").input_value() == "a kite"


def test_the_front_end_builds_no_markup_from_strings_and_waits_on_no_timers() -> None:
    sources = {path.relative_to(WEB).as_posix(): path.read_text(encoding="utf-8") for path in WEB.rglob("*.js")}
    assert "js/editor/editor.js" in sources and "js/box_editor.js" in sources
    banned = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|setTimeout|setInterval|\beval\(")
    found = {name: banned.findall(text) for name, text in sources.items() if banned.search(text)}
    assert not found, found
