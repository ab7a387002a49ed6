"""The pose editor on GLIGEN Pose Encode, driven with the mouse and keyboard in headless Chromium against
the real ComfyUI server: persons added, joints dragged, hidden and mirrored reach the saved workflow and
the executed prompt; pasted OpenPose JSON is converted by the node and taken over by the editor."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from devkit.browser_page import ComfyPage, example, mirrored_pose

pytestmark = [pytest.mark.browser, pytest.mark.server]

POSE = 5  # GLIGENSuite_PoseEncode in example_workflows/GLIGEN poses drawn in the layout.json
# The standing template of the editor, placed at x = 0.75 of the 512 canvas (the third person's slot).
THIRD = [[384, 96], [396, 84], [372, 84], [410, 92], [358, 92], [428, 150], [340, 150], [446, 220], [322, 220],
         [454, 286], [314, 286], [414, 290], [354, 290], [418, 380], [350, 380], [420, 466], [348, 466]]


def persons(page: ComfyPage) -> list[dict[str, Any]]:
    return page.layout(POSE)["persons"]


def canvas_rgb_when(page: ComfyPage, at: list[int], drawn: Callable[[list[int]], bool],
                    timeout: float = 10.0) -> list[int]:
    """The pose canvas's colour at layout pixel `at` once `drawn(rgb)` holds, else the last one read after
    `timeout` s. The editor redraws on the animation frame after an edit, so a read right after a key press
    (Ctrl+Z) can still see the frame before it."""
    deadline = time.monotonic() + timeout
    while True:
        rgb = page.canvas_rgb(POSE, *at)
        if drawn(rgb) or time.monotonic() >= deadline:
            return rgb
        page.settle()


@pytest.fixture
def pose_page(comfy_page: ComfyPage) -> ComfyPage:
    comfy_page.load_workflow(example("GLIGEN poses drawn in the layout.json"))
    comfy_page.focus_node(POSE)
    assert len(persons(comfy_page)) == 2
    return comfy_page


def test_posed_persons_reach_the_workflow_and_the_executed_prompt(pose_page: ComfyPage) -> None:
    page = pose_page
    editor = page.editor(POSE)
    keyboard = page.page.keyboard
    originals = persons(page)
    editor.locator(".gligen-add").click()
    assert persons(page)[2] == {"keypoints": THIRD, "color": "#4363d8"}
    # Drag the new person's nose (snapped to the 8 px grid), hide its left wrist from the joint chips and its
    # right wrist by double-clicking it on the canvas.
    page.drag(POSE, (384, 96), (399, 121))
    editor.locator(".gligen-chip", has_text="left wrist").click()
    page.click(POSE, (314, 286), count=2)
    expected = [[400, 120], *THIRD[1:]]
    expected[9] = expected[10] = None
    assert persons(page)[2]["keypoints"] == expected
    assert editor.locator('.gligen-chip[aria-pressed="false"]').all_text_contents() == ["left wrist", "right wrist"]
    # Mirror it from the toolbar; then Delete (the keys stay with the editor) and undo.
    editor.locator(".gligen-toolbar >> text=mirror").click()
    expected = mirrored_pose(expected)
    assert persons(page)[2]["keypoints"] == expected
    page.screenshot_node(POSE, "pose_editor")
    keyboard.press("Delete")
    assert persons(page) == [{**originals[0], "color": "#e6194b"}, {**originals[1], "color": "#3cb44b"}]
    keyboard.press("Control+z")
    assert persons(page)[2]["keypoints"] == expected
    # The nose, a joint drawn in the third person's blue (on the frame after the key press).
    r, g, b = canvas_rgb_when(page, expected[0], lambda rgb: rgb[2] > rgb[0] + 40 and rgb[2] > rgb[1] + 20)
    assert b > r + 40 and b > g + 20, (r, g, b)

    workflow = page.serialize()
    (node,) = [n for n in workflow["nodes"] if n["id"] == POSE]
    text = page.widget(POSE, "layout")
    assert node["widgets_values"] == [text, "add to layout", 0]  # layout, pose_keypoint_mode, frames
    assert set(page.prompt()[str(POSE)]["inputs"]) == {"layout", "pose_keypoint_mode", "frames"}

    page.small_run()
    entry = page.queue()
    assert entry["status"]["status_str"] == "success", entry["status"]
    executed = json.loads(entry["prompt"][2][str(POSE)]["inputs"]["layout"])
    assert [p["keypoints"] for p in executed["persons"]] == [originals[0]["keypoints"], originals[1]["keypoints"],
                                                             expected]


def test_pasted_openpose_json_is_converted_by_the_node_and_shown_for_editing(pose_page: ComfyPage) -> None:
    page = pose_page
    editor = page.editor(POSE)
    flat = [0.0] * 54
    for index, (x, y) in {0: (200, 60), 1: (200, 100), 2: (170, 100), 5: (230, 100), 8: (180, 200),
                          11: (220, 200)}.items():
        flat[index * 3: index * 3 + 3] = [x, y, 0.9]
    openpose = json.dumps({"people": [{"pose_keypoints_2d": flat}], "canvas_width": 400, "canvas_height": 300})
    editor.locator(".gligen-json-btn").click()
    editor.locator(".gligen-json textarea").fill(openpose)
    editor.locator(".gligen-json >> text=apply").click()
    assert page.widget(POSE, "layout") == openpose
    assert "OpenPose JSON with 1 people" in editor.locator(".gligen-status").inner_text()
    assert editor.locator(".gligen-row").count() == 0

    page.small_run()
    entry = page.queue()
    assert entry["status"]["status_str"] == "success", entry["status"]
    assert entry["prompt"][2][str(POSE)]["inputs"]["layout"] == openpose
    page.page.wait_for_function(f"""() => window.comfyAPI.app.app.graph.getNodeById({POSE})
        .widgets.find((w) => w.name === 'layout').value.startsWith('{{"version"')""")
    layout = page.layout(POSE)
    assert (layout["width"], layout["height"]) == (400, 300)
    keypoints = layout["persons"][0]["keypoints"]
    assert keypoints[0] == [200, 60] and keypoints[5] == [230, 100] and keypoints[6] == [170, 100]
    assert sum(k is not None for k in keypoints) == 5  # the neck has no COCO joint
    assert editor.locator(".gligen-row").count() == 1
    assert editor.locator(".gligen-status").inner_text() == ""


def canvas_rect(page: ComfyPage) -> dict[str, float]:
    return page.editor(POSE).locator(".gligen-canvas").evaluate("(c) => c.getBoundingClientRect().toJSON()")


def test_the_first_drag_on_a_person_not_selected_lands_under_the_mouse(pose_page: ComfyPage) -> None:
    # Selecting a person shows its joint chips under the list; the canvas must not move or shrink for it,
    # during the gesture (the joint would land off the mouse) or after it (the next one would).
    page = pose_page
    editor = page.editor(POSE)
    assert editor.locator(".gligen-row.gligen-selected").count() == 0
    before = canvas_rect(page)
    page.drag(POSE, (356, 100), (400, 136))  # the second person's nose, that person not selected
    assert persons(page)[1]["keypoints"][0] == [400, 136]
    assert editor.locator(".gligen-row.gligen-selected").count() == 1
    assert canvas_rect(page) == before
    page.drag(POSE, (176, 96), (120, 64))  # the first person's nose: selecting it moves nothing either
    assert persons(page)[0]["keypoints"][0] == [120, 64]
    assert canvas_rect(page) == before
    page.page.keyboard.press("Escape")  # nobody selected again
    page.settle()
    assert editor.locator(".gligen-row.gligen-selected").count() == 0
    assert canvas_rect(page) == before
