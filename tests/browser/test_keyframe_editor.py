"""The editors' timeline (web/js/editor/timeline.js) in headless Chromium against the real ComfyUI server: a box
dragged and a joint moved at a frame are keyed there, frames between show them interpolated, keyframes are
removed, hidden and undone from the timeline, and they reach the saved workflow and the executed prompt,
which the node's parser accepts (the run succeeds)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devkit.browser_page import ComfyPage, example, mirrored_pose

pytestmark = [pytest.mark.browser, pytest.mark.server]

NODE = 5  # the encode node in both example workflows below
APPLE = {"phrase": "a red apple", "box": [48, 240, 224, 448]}


def timeline(page: ComfyPage) -> Any:
    return page.editor(NODE).locator(".gligen-timeline")


def go_to_frame(page: ComfyPage, frame: int) -> None:
    field = timeline(page).locator(".gligen-frame")
    field.fill(str(frame))
    field.press("Enter")
    page.settle()
    assert timeline(page).get_attribute("data-frame") == str(frame)


def markers(page: ComfyPage) -> list[int]:
    return [int(f) for f in timeline(page).locator(".gligen-key-marker").evaluate_all(
        "(markers) => markers.map((m) => m.dataset.frame)")]


def reddish(rgb: list[int]) -> bool:
    r, g, b = rgb
    return r > g + 12 and r > b + 12


def reload(page: ComfyPage, other: str) -> None:
    """Save the workflow, open another, and open the saved one again."""
    saved = page.serialize()
    page.load_workflow(example(other))
    page.load_workflow(saved)
    page.focus_node(NODE)


def test_a_box_dragged_at_a_frame_is_keyed_there_and_reaches_the_executed_prompt(comfy_page: ComfyPage) -> None:
    page = comfy_page
    page.load_workflow(example("GLIGEN phrases in boxes.json"))
    page.focus_node(NODE)
    editor = page.editor(NODE)
    assert timeline(page).is_hidden()  # a static layout with frames 0: the editor as it always was
    page.set_widget(NODE, "frames", 16)
    page.settle()
    assert timeline(page).is_visible()
    assert timeline(page).locator(".gligen-frame-slider").get_attribute("max") == "15"

    page.click(NODE, (136, 344))  # select the apple
    go_to_frame(page, 15)
    page.drag(NODE, (136, 344), (200, 280))  # by (64, -64)
    keyed = [112, 176, 288, 384]
    assert page.layout(NODE)["objects"][0] == {**APPLE, "keyframes": [{"frame": 15, "box": keyed}]}
    assert markers(page) == [0, 15]
    # Frame 7: the apple is 7/15 of the way, its right edge at 224 + 64 * 7 / 15 = 253.9.
    go_to_frame(page, 7)
    assert reddish(page.canvas_rgb(NODE, 242, 262)) and not reddish(page.canvas_rgb(NODE, 262, 262))
    go_to_frame(page, 0)
    assert not reddish(page.canvas_rgb(NODE, 242, 262))
    page.screenshot_node(NODE, "keyframe_box_editor")

    # Remove the keyframe from the timeline (at its marker), then undo that.
    timeline(page).locator('.gligen-key-marker[data-frame="15"]').click()
    assert timeline(page).get_attribute("data-frame") == "15"
    timeline(page).locator(".gligen-key-remove").click()
    assert page.layout(NODE)["objects"][0] == APPLE
    editor.locator(".gligen-undo").click()
    assert page.layout(NODE)["objects"][0]["keyframes"] == [{"frame": 15, "box": keyed}]
    # Hide it from frame 12: gone there, back at 15.
    go_to_frame(page, 12)
    timeline(page).locator(".gligen-key-hide").click()
    keyframes = [{"frame": 12, "hidden": True}, {"frame": 15, "box": keyed}]
    assert page.layout(NODE)["objects"][0]["keyframes"] == keyframes
    assert not reddish(page.canvas_rgb(NODE, 136, 344))

    text = page.widget(NODE, "layout")
    reload(page, "GLIGEN poses drawn in the layout.json")
    assert page.widget(NODE, "layout") == text
    assert page.widget(NODE, "frames") == 16
    assert timeline(page).is_visible()
    page.click(NODE, (136, 344))
    assert markers(page) == [0, 12, 15]

    page.small_run()
    entry = page.queue()
    assert entry["status"]["status_str"] == "success", entry["status"]
    executed = entry["prompt"][2][str(NODE)]["inputs"]
    assert executed["frames"] == 16 and executed["layout"] == text
    assert json.loads(executed["layout"])["objects"][0]["keyframes"] == keyframes


def test_a_joint_moved_at_a_frame_is_keyed_there_and_reaches_the_executed_prompt(comfy_page: ComfyPage) -> None:
    page = comfy_page
    page.load_workflow(example("GLIGEN poses drawn in the layout.json"))
    page.focus_node(NODE)
    editor = page.editor(NODE)
    assert timeline(page).is_hidden()
    # A keyframe at frame 15 (pasted as JSON): the timeline spans frames 0 to 15 without a frames widget.
    layout = page.layout(NODE)
    first = layout["persons"][0]["keypoints"]
    moved = [[x + 48, y] for x, y in first]
    layout["persons"][0]["keyframes"] = [{"frame": 15, "keypoints": moved}]
    editor.locator(".gligen-json-btn").click()
    editor.locator(".gligen-json textarea").fill(json.dumps(layout))
    editor.locator(".gligen-json >> text=apply").click()
    assert timeline(page).is_visible()
    assert timeline(page).locator(".gligen-frame-slider").get_attribute("max") == "15"

    # Frame 5: the person is a third of the way (16 px right); drag its nose.
    go_to_frame(page, 5)
    page.drag(NODE, (192, 96), (199, 121))  # snapped to the 8 px grid
    at_five = [[x + 16, y] for x, y in first]
    at_five[0] = [200, 120]
    person = page.layout(NODE)["persons"][0]
    assert person["keypoints"] == first
    assert person["keyframes"] == [{"frame": 5, "keypoints": at_five}, {"frame": 15, "keypoints": moved}]
    assert markers(page) == [0, 5, 15]
    # Mirroring flips every keyframe (each about its own middle, so the person keeps its path).
    editor.locator(".gligen-toolbar >> text=mirror").click()
    person = page.layout(NODE)["persons"][0]
    assert person["keypoints"] == mirrored_pose(first)
    assert [k["keypoints"] for k in person["keyframes"]] == [mirrored_pose(at_five), mirrored_pose(moved)]

    text = page.widget(NODE, "layout")
    reload(page, "GLIGEN phrases in boxes.json")
    assert page.widget(NODE, "layout") == text
    assert timeline(page).is_visible()

    page.small_run()
    entry = page.queue()
    assert entry["status"]["status_str"] == "success", entry["status"]
    executed = json.loads(entry["prompt"][2][str(NODE)]["inputs"]["layout"])
    assert [k["frame"] for k in executed["persons"][0]["keyframes"]] == [5, 15]


def test_a_video_background_follows_the_timeline_and_a_latent_sets_its_length(comfy_page: ComfyPage) -> None:
    """A red and a blue picture batched as the background, the example's latent (batch 2) in `latent`, frames 0:
    after a run the timeline spans the latent's 2 frames, and each frame shows its own picture under the
    canvas."""
    from PIL import Image

    page = comfy_page
    for name, rgb in (("gligen_red.png", (255, 0, 0)), ("gligen_blue.png", (0, 0, 255))):
        Image.new("RGB", (64, 64), rgb).save(page.server.input_dir / name)
    page.load_workflow(example("GLIGEN phrases in boxes.json"))
    page.js("""() => {
        const box = app.graph.getNodeById(5), latent = app.graph.getNodeById(8);
        const add = (type, pos) => { const n = LiteGraph.createNode(type); n.pos = pos; app.graph.add(n); return n; };
        const batch = add("ImageBatch", [box.pos[0] - 400, box.pos[1] + 500]);
        ["gligen_red.png", "gligen_blue.png"].forEach((name, i) => {
            const image = add("LoadImage", [box.pos[0] - 800, box.pos[1] + 400 * i]);
            image.widgets.find((w) => w.name === "image").value = name;
            image.connect(0, batch, i);
        });
        batch.connect(0, box, box.findInputSlot("background"));
        latent.connect(0, box, box.findInputSlot("latent"));
    }""")
    page.set_widget(8, "batch_size", 2)
    page.focus_node(NODE)
    assert timeline(page).is_hidden()  # frames 0, no keyframes, no run yet
    page.small_run()
    entry = page.queue()
    assert entry["status"]["status_str"] == "success", entry["status"]
    page.page.wait_for_function("""() => { const p = window.comfyAPI.app.app.graph.getNodeById(5).properties;
        return p.gligen_run_frames === 2 && p.gligen_background_frames?.length === 2; }""")
    page.settle()
    assert timeline(page).is_visible()
    assert timeline(page).locator(".gligen-frame-slider").get_attribute("max") == "1"

    def corner_is(channel: int) -> None:  # the top-right corner: no box there
        page.page.wait_for_function(f"""() => {{
            const c = document.querySelector('[data-test-node="{NODE}"] .gligen-canvas');
            const px = c.getContext("2d").getImageData(c.width - 6, 6, 1, 1).data;
            return px[{channel}] > px[{2 - channel}] + 100; }}""")

    corner_is(0)  # frame 0: red
    go_to_frame(page, 1)
    corner_is(2)  # frame 1: blue
    go_to_frame(page, 0)
    corner_is(0)
