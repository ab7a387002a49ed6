"""The box editor on GLIGEN Text-Box Encode, driven with the mouse and keyboard in headless Chromium
against the real ComfyUI server: what is drawn reaches the saved workflow and the executed prompt."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devkit.browser_page import ComfyPage, example

pytestmark = [pytest.mark.browser, pytest.mark.server]

BOX = 5  # GLIGENSuite_TextBoxEncode in example_workflows/GLIGEN phrases in boxes.json
APPLE = {"phrase": "a red apple", "box": [48, 240, 224, 448]}
VASE = {"phrase": "a glass vase with sunflowers", "box": [272, 64, 480, 448]}
PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231"]


def objects(page: ComfyPage) -> list[dict[str, Any]]:
    return page.layout(BOX)["objects"]


def phrases_in_list(page: ComfyPage) -> list[str]:
    return page.editor(BOX).locator(".gligen-phrase").evaluate_all("(inputs) => inputs.map((i) => i.value)")


@pytest.fixture
def box_page(comfy_page: ComfyPage) -> ComfyPage:
    comfy_page.load_workflow(example("GLIGEN phrases in boxes.json"))
    comfy_page.focus_node(BOX)
    assert objects(comfy_page) == [APPLE, VASE]
    return comfy_page


def test_boxes_drawn_with_the_mouse_reach_the_workflow_and_the_executed_prompt(box_page: ComfyPage) -> None:
    page = box_page
    keyboard = page.page.keyboard
    # Delete the apple from the keyboard; undo and redo it.
    page.click(BOX, (136, 344))
    keyboard.press("Delete")
    vase = {**VASE, "color": PALETTE[1]}  # keeps the colour it had as object 2
    assert objects(page) == [vase]
    keyboard.press("Control+z")
    assert objects(page) == [APPLE, VASE]
    keyboard.press("Control+Shift+z")
    assert objects(page) == [vase]
    # Draw two boxes; after each the phrase field has the keyboard.
    page.drag(BOX, (16, 16), (144, 112))
    keyboard.type("a red cat")
    page.drag(BOX, (160, 24), (256, 208))
    keyboard.type("a blue hat")
    # Move the cat by its body, then select the hat and resize it by its south-east handle.
    page.drag(BOX, (80, 64), (144, 96))
    page.click(BOX, (232, 120))
    page.drag(BOX, (256, 208), (296, 240))
    cat = {"phrase": "a red cat", "box": [80, 48, 208, 144], "color": PALETTE[0]}  # the first free colour
    hat = {"phrase": "a blue hat", "box": [160, 24, 296, 240], "color": PALETTE[2]}
    assert objects(page) == [vase, cat, hat]
    assert phrases_in_list(page) == [VASE["phrase"], "a red cat", "a blue hat"]
    r, g, b = page.canvas_rgb(BOX, 150, 120)  # inside the cat, drawn in its red
    assert r > g + 12 and r > b + 12, (r, g, b)

    workflow = page.serialize()
    (node,) = [n for n in workflow["nodes"] if n["id"] == BOX]
    text = page.widget(BOX, "layout")
    assert node["widgets_values"] == [text, "copy when empty", False, False, 0]  # the canvas widget is not saved
    assert json.loads(text)["objects"] == [vase, cat, hat]
    assert set(page.prompt()[str(BOX)]["inputs"]) == {"clip", "layout", "seed_mode", "crop_images_to_boxes",
                                                     "append_missing_phrases", "frames"}
    page.screenshot_node(BOX, "box_editor")

    page.small_run()
    entry = page.queue()
    assert entry["status"]["status_str"] == "success", entry["status"]
    executed = entry["prompt"][2][str(BOX)]["inputs"]
    assert executed["layout"] == text and json.loads(executed["layout"])["objects"] == [vase, cat, hat]


def test_keyboard_nudges_snap_and_lock(box_page: ComfyPage) -> None:
    page = box_page
    keyboard = page.page.keyboard
    page.click(BOX, (376, 256))  # the vase
    keyboard.press("ArrowRight")  # one 8 px grid step with snap on
    assert objects(page)[1]["box"] == [280, 64, 488, 448]
    keyboard.press("Shift+ArrowLeft")  # four grid steps
    assert objects(page)[1]["box"] == [248, 64, 456, 448]
    keyboard.press("Control+z")
    assert objects(page)[1]["box"] == VASE["box"]  # consecutive nudges are one undo step

    page.editor(BOX).locator(".gligen-snap").click()
    (node,) = [n for n in page.serialize()["nodes"] if n["id"] == BOX]
    assert node["properties"]["gligen_snap"] is False  # a view setting, saved with the workflow
    page.click(BOX, (376, 256))
    keyboard.press("ArrowDown")
    keyboard.press("Shift+ArrowUp")
    assert objects(page)[1]["box"] == [272, 55, 480, 439]  # +1, then -10 layout pixels
    page.drag(BOX, (13, 13), (101, 77))
    drawn = objects(page)[2]["box"]
    assert all(isinstance(v, int) for v in drawn) and any(v % 8 for v in drawn), drawn
    page.editor(BOX).locator(".gligen-keys").focus()
    keyboard.press("Control+z")
    assert len(objects(page)) == 2

    # A locked box cannot be picked: dragging on it draws a new box over it instead.
    page.editor(BOX).locator(".gligen-row[data-key] >> text=lock").nth(1).click()
    assert objects(page)[1]["locked"] is True
    before = objects(page)[1]["box"]
    page.drag(BOX, (300, 200), (400, 300))
    assert objects(page)[1]["box"] == before and len(objects(page)) == 3
    page.click(BOX, (376, 420))  # on the locked vase, outside the new box: selects nothing
    keyboard.press("Delete")
    assert len(objects(page)) == 3 and objects(page)[1]["box"] == before


def test_reloading_a_saved_workflow_restores_the_exact_layout(box_page: ComfyPage) -> None:
    page = box_page
    page.drag(BOX, (24, 24), (128, 96))
    page.page.keyboard.type("a small red boat")
    page.editor(BOX).locator(".gligen-strength").nth(2).fill("0.75")
    page.editor(BOX).locator(".gligen-image").nth(2).fill("1")
    page.editor(BOX).locator(".gligen-image").nth(2).press("Enter")
    saved = page.serialize()
    text = page.widget(BOX, "layout")
    assert json.loads(text)["objects"][2] == {"phrase": "a small red boat", "box": [24, 24, 128, 96], "image": 1,
                                              "strength": 0.75, "color": PALETTE[2]}

    page.load_workflow(example("GLIGEN poses drawn in the layout.json"))
    page.load_workflow(saved)
    page.focus_node(BOX)
    assert page.widget(BOX, "layout") == text  # exactly the saved text
    assert phrases_in_list(page) == [APPLE["phrase"], VASE["phrase"], "a small red boat"]
    r, g, b = page.canvas_rgb(BOX, 100, 80)  # the boat, drawn in blue again
    assert b > r + 12 and b > g + 12, (r, g, b)


def test_canvas_size_fields_rescale_the_layout_and_snapped_boxes_stay_inside(box_page: ComfyPage) -> None:
    page = box_page
    editor = page.editor(BOX)
    editor.locator(".gligen-size input").nth(0).fill("500")
    editor.locator(".gligen-size input").nth(1).fill("300")
    editor.locator(".gligen-size input").nth(1).press("Enter")
    layout = page.layout(BOX)
    assert (layout["width"], layout["height"]) == (500, 300)
    scale = (500 / 512, 300 / 512, 500 / 512, 300 / 512)
    expected = [v * s for v, s in zip(APPLE["box"], scale, strict=True)]
    assert layout["objects"][0]["box"] == pytest.approx(expected, abs=0.0051)  # two decimals
    # 500 and 300 are no multiples of the 8 px grid: a box dragged past the corner ends on the canvas edge.
    page.drag(BOX, (16, 8), (520, 320))
    assert objects(page)[2]["box"] == [16, 8, 500, 300]
    page.page.keyboard.type("a wide sky")
    page.small_run()
    entry = page.queue()
    assert entry["status"]["status_str"] == "success", entry["status"]


def test_selecting_a_box_by_dragging_it_moves_nothing_under_the_mouse(box_page: ComfyPage) -> None:
    # The pose editor's joint chips once pushed its canvas up at pointer-down; selecting a box must not
    # change the box panel's height either, so the first drag of a box not selected lands under the mouse.
    page = box_page
    editor = page.editor(BOX)
    rect = "(c) => c.getBoundingClientRect().toJSON()"
    assert editor.locator(".gligen-row.gligen-selected").count() == 0
    before = editor.locator(".gligen-canvas").evaluate(rect)
    page.drag(BOX, (376, 256), (408, 288))  # the vase, by its body, not selected
    assert objects(page)[1]["box"] == [304, 96, 512, 480]
    assert editor.locator(".gligen-row.gligen-selected").count() == 1
    assert editor.locator(".gligen-canvas").evaluate(rect) == before
