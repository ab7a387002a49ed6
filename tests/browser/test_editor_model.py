"""The editors' pure modules (web/js/editor/geometry.js, history.js, layout_model.js), imported in the
page the way ComfyUI serves them, against hand-computed values and the Python canonical layout text."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devkit.browser_page import ComfyPage
from devkit.pack import import_pack

import_pack()
from gligen_suite.gligen_model.layout import canonical_layout_json  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.server]

MODULES = "/extensions/gligen_suite/js/editor"


def run(page: ComfyPage, module: str, body: str, arg: Any = None) -> Any:
    """Evaluate `body` (statements ending in a return) with the module imported as `m`."""
    return page.page.evaluate(f"async (arg) => {{ const m = await import('{MODULES}/{module}.js'); {body} }}", arg)


def test_geometry_quantizes_moves_resizes_and_mirrors(comfy_page: ComfyPage) -> None:
    out = run(comfy_page, "geometry", """return {
        q: m.quantize(0.3, 512, 8),
        move: m.moveRect([0.5, 0.5, 0.9, 0.7], 0.3, -0.6),
        resize: m.resizeRect([0.2, 0.2, 0.4, 0.4], "nw", [0.5, 0.1], [0.05, 0.05]),
        grow: m.resizeRect([0.2, 0.2, 0.4, 0.4], "se", [1.4, 0.3], [0.05, 0.05]),
        handle: m.handleAt([0.41, 0.19], [0.2, 0.2, 0.4, 0.4], [0.02, 0.02]),
        none: m.handleAt([0.3, 0.3], [0.2, 0.2, 0.4, 0.4], [0.02, 0.02]),
        mirror: m.mirrorPoints([[0.1, 0.5], [0.3, 0.6], null], [[0, 2]]),
        fit: m.fitContain(400, 300, 2),
    };""")
    assert out["q"] == 152 / 512
    assert out["move"] == pytest.approx([0.6, 0.0, 1.0, 0.2])  # clamped inside, size kept
    assert out["resize"] == pytest.approx([0.35, 0.1, 0.4, 0.4])  # x0 stops min-width short of x1
    assert out["grow"] == pytest.approx([0.2, 0.2, 1.0, 0.3])
    assert (out["handle"], out["none"]) == ("ne", None)
    # reflected about x = 0.2 (the middle of the visible joints), then entries 0 and 2 swapped
    assert out["mirror"][0] is None
    assert out["mirror"][1:] == [pytest.approx([0.1, 0.6]), pytest.approx([0.3, 0.5])]
    assert out["fit"] == {"width": 400, "height": 200, "left": 0, "top": 50}


def test_history_merges_typing_and_forgets_redo_after_a_new_edit(comfy_page: ComfyPage) -> None:
    out = run(comfy_page, "history", """
        const h = new m.History();
        h.reset("a");
        h.record("ab", "phrase:1"); h.record("abc", "phrase:1"); h.record("abcd", null);
        const steps = [h.undo(), h.undo(), h.undo()];
        const redo = h.redo();
        h.record("x");
        return { steps, redo, canRedo: h.canRedo, current: h.current };""")
    assert out == {"steps": ["abc", "a", None], "redo": "abc", "canRedo": False, "current": "x"}


def test_layout_text_round_trips_to_the_python_canonical_form(comfy_page: ComfyPage) -> None:
    layout = {"height": 256, "version": 1, "width": 512, "objects": [
        {"locked": True, "box": [10, 20.5, 100, 200], "phrase": "a cat 🐈", "color": "#00ff00", "strength": 0.5,
         "image": 2, "id": "c1", "name": "left"},
        {"image": 0}],
        "persons": [{"keypoints": [[256, 128]] + [None] * 15 + [[1.25, 2]], "strength": 2, "color": "#123456"}]}
    text = json.dumps(layout, indent=3)
    out = run(comfy_page, "layout_model", """
        const parsed = m.parseLayout(arg);
        return { text: m.serializeLayout(parsed.layout), box: parsed.layout.objects[0].box,
                 openpose: m.parseLayout('{"people": [{}, {}]}'),
                 errors: ['{"version": 2, "width": 8, "height": 8}', '{"version": 1, "width": 0, "height": 8}',
                          '{"version": 1, "width": 8, "height": 8, "objects": [{"box": [1, 2]}]}',
                          '{"version": 1, "width": 8, "height": 8, "persons": [{"keypoints": [[1, 1]]}]}',
                          '{"version": 1, '].map((t) => m.parseLayout(t).error) };""", text)
    assert out["text"] == canonical_layout_json(layout)
    assert out["box"] == [10 / 512, 20.5 / 256, 100 / 512, 200 / 256]
    assert out["openpose"] == {"error": "OpenPose JSON", "openpose": 2}
    assert out["errors"][:4] == ["schema version 2, not 1", "width and height must be whole pixels from 1 to 16384",
                                 'object 1 is not {"phrase": ..., "box": [x0, y0, x1, y1]}',
                                 "person 1 does not have 17 keypoints [x, y] or null"]
    assert out["errors"][4].startswith("not valid JSON")
