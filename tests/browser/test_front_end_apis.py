"""The editors on the front-end APIs that changed between the front ends we support (1.32.9 and 1.58.1), in
headless Chromium: no deprecation warning from our code while the editors are loaded, made and edited, and
the node menu's "Edit layout JSON" entry exactly once, from the getNodeMenuItems hook where the front end
has one."""

from __future__ import annotations

import pytest

from devkit.browser_page import ComfyPage, example

pytestmark = [pytest.mark.browser, pytest.mark.server]

NODE = 5  # the encode node in both example workflows
ENTRY = "Edit layout JSON"
# Every deprecation the page reports (LiteGraph's warnDeprecated, which repeats only when asked, and
# console.warn, where the change tracker's checkState() warns once per session), with the stack it came from.
RECORD_DEPRECATIONS = """() => {
    window.__gligenDeprecations = [];
    Error.stackTraceLimit = 50;
    const record = (message) => window.__gligenDeprecations.push({ message: String(message),
                                                                   stack: new Error().stack ?? "" });
    LiteGraph.alwaysRepeatWarnings = true;
    LiteGraph.onDeprecationWarning.push(record);
    const tracker = app.extensionManager?.workflow?.activeWorkflow?.changeTracker;
    tracker?.constructor?.resetCheckStateWarningForTest?.();
    window.__gligenWarn = console.warn;
    console.warn = function (...args) {
        if (/deprecated/i.test(String(args[0]))) record(args[0]);
        return window.__gligenWarn.apply(this, args);
    };
    return Array.isArray(LiteGraph.onDeprecationWarning);
}"""
STOP_RECORDING = """() => {
    LiteGraph.alwaysRepeatWarnings = false;
    LiteGraph.onDeprecationWarning.pop();
    console.warn = window.__gligenWarn;
    return window.__gligenDeprecations;
}"""


def test_no_deprecation_warning_comes_from_the_editors(comfy_page: ComfyPage) -> None:
    page = comfy_page
    assert page.js(RECORD_DEPRECATIONS)
    try:
        for workflow, start, end in (("GLIGEN phrases in boxes.json", (16, 16), (144, 112)),
                                     ("GLIGEN poses drawn in the layout.json", (176, 96), (200, 64))):
            page.load_workflow(example(workflow))  # onNodeCreated, then onConfigure
            page.focus_node(NODE)
            page.drag(NODE, start, end)  # an edit: the widget written, the change tracker told
            page.js("(id) => app.canvas.getNodeMenuOptions(app.graph.getNodeById(id))", NODE)
        page.js("""() => { const node = LiteGraph.createNode("GLIGENSuite_TextBoxEncode");
            node.pos = [0, 2000]; app.graph.add(node); app.graph.remove(node); }""")
    finally:
        records = page.js(STOP_RECORDING)
    ours = [r["message"] for r in records if "/extensions/gligen_suite/" in r["stack"]]
    assert ours == []


def menu_entries(page: ComfyPage, node_id: int) -> list[str | None]:
    """The node menu as the front end builds it (the classic canvas's right click; 1.58's Vue menus too)."""
    return page.js("(id) => app.canvas.getNodeMenuOptions(app.graph.getNodeById(id)).map((o) => o?.content ?? null)",
                   node_id)


@pytest.mark.parametrize("workflow", ["GLIGEN phrases in boxes.json", "GLIGEN poses drawn in the layout.json"])
def test_the_node_menu_offers_the_json_view_once(comfy_page: ComfyPage, workflow: str) -> None:
    page = comfy_page
    page.load_workflow(example(workflow))
    page.focus_node(NODE)
    assert menu_entries(page, NODE).count(ENTRY) == 1
    sampler = page.js("() => app.graph.nodes.find((n) => n.type === 'KSampler').id")
    assert ENTRY not in menu_entries(page, sampler)
    # Both front ends build node menus from the extensions' getNodeMenuItems hook as well as the node's
    # getExtraMenuOptions: the entry comes from the hook, and only from it.
    assert page.js("(id) => app.collectNodeMenuItems(app.graph.getNodeById(id)).map((o) => o?.content)",
                   NODE).count(ENTRY) == 1
    assert page.js("""(id) => { const options = [];
        app.graph.getNodeById(id).getExtraMenuOptions?.(app.canvas, options);
        return options.filter((o) => o?.content === "Edit layout JSON").length; }""", NODE) == 0
    page.js("""([id, entry]) => app.canvas.getNodeMenuOptions(app.graph.getNodeById(id))
        .find((o) => o?.content === entry).callback()""", [NODE, ENTRY])
    assert "gligen-json-open" in page.editor(NODE).get_attribute("class")
    page.editor(NODE).locator(".gligen-json >> text=cancel").click()
