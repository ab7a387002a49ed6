"""What the encode nodes feed back to their editors when the graph runs, in headless Chromium against
the real server: a connected background image appears under the canvas, one node's BOUNDING_BOXES seed
another node's editor (its phrases shown as text), and "last output" puts the newest image under a canvas."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from devkit.browser_page import ComfyPage, example

pytestmark = [pytest.mark.browser, pytest.mark.server]

BOX, CHECKPOINT = 5, 1
PAYLOAD = '<img src=x onerror="window.__xss=1">'
OBJECTS = [{"phrase": PAYLOAD, "box": [32, 32, 224, 160]}, {"phrase": "a hat", "box": [256, 256, 480, 480]}]
EMPTY = '{"version":1,"width":512,"height":512,"objects":[]}'


def test_bounding_boxes_seed_another_editor_and_a_background_shows_under_the_canvas(comfy_page: ComfyPage) -> None:
    page = comfy_page
    Image.new("RGB", (64, 48), (0, 0, 255)).save(page.server.input_dir / "gligen_blue.png")
    page.load_workflow(example("GLIGEN phrases in boxes.json"))
    page.set_widget(BOX, "layout", json.dumps({"version": 1, "width": 512, "height": 512, "objects": OBJECTS}))
    seeded, preview = page.js("""() => {
        const a = app.graph.getNodeById(5);
        const add = (type, pos) => { const n = LiteGraph.createNode(type); n.pos = pos; app.graph.add(n); return n; };
        const b = add("GLIGENSuite_TextBoxEncode", [a.pos[0] + 1300, a.pos[1]]);
        const preview = add("PreviewImage", [b.pos[0] + 500, b.pos[1]]);
        const image = add("LoadImage", [a.pos[0] - 400, a.pos[1] + 200]);
        image.widgets.find((w) => w.name === "image").value = "gligen_blue.png";
        app.graph.getNodeById(1).connect(1, b, b.findInputSlot("clip"));
        a.connect(a.findOutputSlot("bounding_boxes"), b, b.findInputSlot("seed_boxes"));
        b.connect(b.findOutputSlot("preview"), preview, 0);
        image.connect(0, a, a.findInputSlot("background"));
        return [b.id, preview.id];
    }""")
    page.set_widget(seeded, "layout", EMPTY)  # "copy when empty" fills an editor without objects
    page.focus_node(seeded)
    assert page.editor(seeded).locator(".gligen-row[data-key]").count() == 0

    page.small_run()
    entry = page.queue()
    assert entry["status"]["status_str"] == "success", entry["status"]
    # The editors hear from the node over the websocket while the prompt runs.
    page.page.wait_for_function(f"""() => {{ const app = window.comfyAPI.app.app;
        return app.graph.getNodeById({seeded}).widgets.find((w) => w.name === "layout").value.includes("a hat")
            && app.graph.getNodeById({BOX}).properties.gligen_background; }}""")
    layout = page.layout(seeded)
    assert [(o["phrase"], o["box"]) for o in layout["objects"]] == [(o["phrase"], o["box"]) for o in OBJECTS]
    assert [o["color"] for o in layout["objects"]] == ["#e6194b", "#3cb44b"]  # from the metadata palette
    phrases = page.editor(seeded).locator(".gligen-phrase").evaluate_all("(inputs) => inputs.map((i) => i.value)")
    assert phrases == [PAYLOAD, "a hat"]  # shown as text
    assert page.js("() => window.__xss") is None
    assert page.js("() => document.querySelectorAll('img[src=\"x\"]').length") == 0

    (result,) = entry["outputs"][str(preview)]["images"]
    drawn = np.asarray(Image.open(io.BytesIO(page.server.view(**result))).convert("RGB"))
    assert drawn.shape == (512, 512, 3)
    assert drawn[100, 128, 0] > drawn[100, 128, 1] + 20  # inside box 1: the palette's red over grey

    page.focus_node(BOX)
    background = page.js("() => app.graph.getNodeById(5).properties.gligen_background")
    assert background["type"] == "temp" and background["filename"].startswith("gligen_suite_background")
    page.page.wait_for_function("""() => {
        const c = document.querySelector('[data-test-node="5"] .gligen-canvas');
        const [r, g, b] = c.getContext("2d").getImageData(c.width - 6, 6, 1, 1).data;
        return b > r + 100 && b > g + 100;
    }""")  # the blue image under the canvas (top-right corner: no box there)

    # "last output" puts the newest image the run made (the preview's or the saved one) under a canvas.
    page.focus_node(seeded)
    page.editor(seeded).locator(".gligen-toolbar >> text=bg: output").click()
    made = [image for output in entry["outputs"].values() for image in output.get("images", [])]
    assert page.js(f"() => app.graph.getNodeById({seeded}).properties.gligen_background") in made
    page.editor(seeded).locator('.gligen-toolbar button[title="Remove the background image"]').click()
    assert page.js(f"() => app.graph.getNodeById({seeded}).properties.gligen_background") is None
