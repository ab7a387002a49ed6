"""Phrases are user data: script-like phrases typed or loaded into the editors are shown as text and never
run. A page-level flag (window.__xss) that every payload would set if it ran stays unset, and the editors
hold no element that markup in a phrase could have created. Issue 6 (hardening) relies on this test."""

from __future__ import annotations

import json

import pytest

from devkit.browser_page import ComfyPage, example

pytestmark = [pytest.mark.browser, pytest.mark.server]

BOX, POSE = 5, 5
PAYLOADS = [
    '<img src=x onerror="window.__xss=1">',
    "<svg onload=window.__xss=2>",
    '"><script>window.__xss=3</script>',
    "javascript:window.__xss=4",
    '<iframe src="javascript:parent.__xss=5"></iframe>',
    "'><img src=x onerror=window.__xss=6>",
    "<body onload=window.__xss=7>",
    "<details open ontoggle=window.__xss=8>",
    "<math><mtext><table><mglyph><style><img src=x onerror=window.__xss=9>",
    "</textarea><img src=x onerror=window.__xss=10>",
    "{{constructor.constructor('window.__xss=11')()}}",
    "<a href=\"javascript:window.__xss=12\" id=gligen-xss-link>link</a>",
    "\u2028<img src=x onerror=window.__xss=13>",
    "<style>@import 'javascript:window.__xss=14';</style>",
]
MARKUP = "img, svg, script, iframe, details, math, style, a, body"


def flag(page: ComfyPage) -> object:
    return page.js("() => window.__xss")


def test_script_like_phrases_are_shown_as_text_and_never_run(comfy_page: ComfyPage) -> None:
    page = comfy_page
    workflow = example("GLIGEN phrases in boxes.json")
    (node,) = [n for n in workflow["nodes"] if n["id"] == BOX]
    objects = [{"phrase": text, "box": [8 * (i % 8) * 8, 64 * (i // 8), 8 * (i % 8) * 8 + 56, 64 * (i // 8) + 56],
                "name": text, "color": f'red" onmouseover="window.__xss={i}'} for i, text in enumerate(PAYLOADS[1:])]
    node["widgets_values"][0] = json.dumps({"version": 1, "width": 512, "height": 512, "objects": objects})
    page.load_workflow(workflow)
    page.focus_node(BOX)
    editor = page.editor(BOX)
    # One more, typed into a new box's phrase field.
    page.drag(BOX, (200, 400), (300, 480))
    page.page.keyboard.type(PAYLOADS[0])
    # Everything is shown as text: the phrase fields hold the payloads, the canvas drew them.
    values = editor.locator(".gligen-phrase").evaluate_all("(inputs) => inputs.map((i) => i.value)")
    assert values == PAYLOADS[1:] + [PAYLOADS[0]]
    assert [o["phrase"] for o in page.layout(BOX)["objects"]] == values
    assert editor.locator(MARKUP).count() == 0
    assert page.js("() => document.querySelectorAll('img[src=\"x\"], #gligen-xss-link, iframe').length") == 0
    swatches = editor.locator(".gligen-swatch[type=color]").evaluate_all("(inputs) => inputs.map((i) => i.value)")
    assert all(len(v) == 7 and v.startswith("#") for v in swatches)  # invalid colours fall back to the palette
    # The JSON view shows them as text too.
    editor.locator(".gligen-json-btn").click()
    shown = editor.locator(".gligen-json textarea").input_value()
    assert all(json.dumps(p)[1:-1] in shown or p in shown for p in PAYLOADS[1:])
    editor.locator(".gligen-json >> text=cancel").click()
    page.page.mouse.move(*page.to_screen(BOX, 30, 30))  # hover, in case anything bound mouse events
    page.settle()
    assert flag(page) is None

    # The pose editor shows OpenPose JSON it cannot edit as a message: text only.
    page.load_workflow(example("GLIGEN poses drawn in the layout.json"))
    page.focus_node(POSE)
    pose = page.editor(POSE)
    pose.locator(".gligen-json-btn").click()
    pose.locator(".gligen-json textarea").fill(json.dumps({"people": [], "canvas_width": 64, "canvas_height": 64,
                                                           "note": PAYLOADS[0]}))
    pose.locator(".gligen-json >> text=apply").click()
    assert "OpenPose JSON" in pose.locator(".gligen-status").inner_text()
    pose.locator(".gligen-json-btn").click()
    pose.locator(".gligen-json textarea").fill(PAYLOADS[2])
    pose.locator(".gligen-json >> text=apply").click()
    assert pose.locator(".gligen-json-error").inner_text().startswith("Not a layout: not valid JSON")
    assert pose.locator(MARKUP).count() == 0
    assert flag(page) is None
