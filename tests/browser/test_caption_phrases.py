"""Phrases linked to the caption, on the real page in headless Chromium: a String node feeds Text-Box Encode's
`caption`; after a run the editor shows the caption's words, marks the object the caption does not name, and a
phrase picked from the words becomes a new box's phrase and the selected object's phrase."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devkit.browser_page import ComfyPage, example

pytestmark = [pytest.mark.browser, pytest.mark.server]

BOX = 5  # GLIGENSuite_TextBoxEncode in example_workflows/GLIGEN phrases in boxes.json
CAPTION = "A red apple beside a glass jar on a wooden table, soft light"
APPLE = {"phrase": "a red apple", "box": [48, 240, 224, 448]}
VASE = {"phrase": "a glass vase with sunflowers", "box": [272, 64, 480, 448]}


def objects(page: ComfyPage) -> list[dict[str, Any]]:
    return page.layout(BOX)["objects"]


def pick(page: ComfyPage, first: str, last: str, how: str) -> None:
    """Pick the caption's words `first` .. `last`: click then Shift+click, or drag from one to the other."""
    words = page.editor(BOX).locator(".gligen-caption-text .gligen-word")
    start, end = words.filter(has_text=first).first, words.filter(has_text=last).first
    if how == "shift-click":
        start.click()
        end.click(modifiers=["Shift"])
    else:
        start.hover()
        page.page.mouse.down()
        words.filter(has_text=last).first.hover()
        page.page.mouse.up()
    page.settle()


def test_a_phrase_picked_from_the_caption_makes_a_box_and_renames_an_object(comfy_page: ComfyPage) -> None:
    page = comfy_page
    page.load_workflow(example("GLIGEN phrases in boxes.json"))
    text_node, shown = page.js("""(caption) => {
        const box = app.graph.getNodeById(5);
        const add = (type, pos) => { const n = LiteGraph.createNode(type); n.pos = pos; app.graph.add(n); return n; };
        const text = add("PrimitiveStringMultiline", [box.pos[0] - 450, box.pos[1] + 400]);
        text.widgets.find((w) => w.name === "value").value = caption;
        text.connect(0, box, box.findInputSlot("caption"));
        const shown = add("PreviewAny", [box.pos[0] + 520, box.pos[1] + 600]);
        box.connect(box.findOutputSlot("caption"), shown, 0);
        return [text.id, shown.id];
    }""", CAPTION)
    page.set_widget(BOX, "append_missing_phrases", True)
    page.focus_node(BOX)
    strip = page.editor(BOX).locator(".gligen-caption")
    assert strip.is_hidden()  # no run with a caption yet

    page.small_run()
    entry = page.queue()
    assert entry["status"]["status_str"] == "success", entry["status"]
    outputs = entry["outputs"]
    assert outputs[str(shown)]["text"] == [f"{CAPTION}, {VASE['phrase']}"]  # the caption output, phrase appended
    note = outputs[str(BOX)]["text"][0]
    assert '1 a red apple: in the caption ("red apple")' in note
    assert "2 a glass vase with sunflowers: not in the caption (appended)" in note

    # The editor shows the caption it ran with, the apple's words underlined, the vase marked.
    strip.wait_for(state="visible")
    words = page.editor(BOX).locator(".gligen-caption-text .gligen-word")
    assert words.evaluate_all("(ws) => ws.map((w) => w.textContent)") == [
        "A", "red", "apple", "beside", "a", "glass", "jar", "on", "a", "wooden", "table", "soft", "light"]
    assert page.editor(BOX).locator(".gligen-caption-text").inner_text() == CAPTION
    used = words.evaluate_all("(ws) => ws.filter((w) => w.classList.contains('gligen-word-used'))"
                              ".map((w) => w.textContent)")
    assert used == ["red", "apple"]
    phrases = page.editor(BOX).locator(".gligen-phrase")
    assert phrases.evaluate_all("(ps) => ps.map((p) => p.classList.contains('gligen-uncaptioned'))") == [False, True]
    assert "Object 2: not in the caption" in page.editor(BOX).locator(".gligen-status").inner_text()

    # Click "wooden", Shift+click "table", "+ box": a new box with that phrase, selected, in the middle.
    pick(page, "wooden", "table", "shift-click")
    assert page.editor(BOX).locator(".gligen-caption-pick").inner_text() == "“wooden table”"
    page.editor(BOX).locator(".gligen-caption-box").click()
    page.settle()
    added = objects(page)[2]
    assert (added["phrase"], added["box"]) == ("wooden table", [192, 192, 320, 320])
    assert page.editor(BOX).locator(".gligen-row.gligen-selected .gligen-phrase").input_value() == "wooden table"

    # Select the vase on the canvas, drag over "glass" .. "jar", "→ phrase": the vase is renamed, no longer marked.
    page.click(BOX, (440, 100))
    pick(page, "glass", "jar", "drag")
    page.editor(BOX).locator(".gligen-caption-phrase").click()
    page.settle()
    assert [o["phrase"] for o in objects(page)] == [APPLE["phrase"], "glass jar", "wooden table"]
    assert objects(page)[1]["box"] == VASE["box"]
    assert phrases.evaluate_all("(ps) => ps.map((p) => p.classList.contains('gligen-uncaptioned'))") == [
        False, False, False]  # the vase's phrase changed since the run: not known to be missing
    page.page.keyboard.press("Control+z")
    assert objects(page)[1]["phrase"] == VASE["phrase"]  # one undo step
    page.page.keyboard.press("Control+Shift+z")
    page.screenshot_node(BOX, "caption_phrases")

    # The layout holds phrases only; the switch is the node's fourth widget; the caption is a link.
    (node,) = [n for n in page.serialize()["nodes"] if n["id"] == BOX]
    text = page.widget(BOX, "layout")
    assert node["widgets_values"][:4] == [text, "copy when empty", False, True]
    assert set(json.loads(text)) == {"version", "width", "height", "objects"}
    inputs = page.prompt()[str(BOX)]["inputs"]
    assert [str(v) for v in inputs["caption"]] == [str(text_node), "0"] and inputs["append_missing_phrases"] is True

    entry = page.queue()
    assert entry["status"]["status_str"] == "success", entry["status"]
    note = entry["outputs"][str(BOX)]["text"][0]
    assert "2 glass jar: in the caption" in note and "3 wooden table: in the caption" in note
    assert entry["outputs"][str(shown)]["text"] == [CAPTION]  # nothing to append now
