"""Python and the editors (web/js/editor/constants.js) agree on every constant and on the canonical text."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from devkit.comfy_host import import_comfy
from devkit.pack import import_pack

REPO = Path(__file__).resolve().parents[2]
CONSTANTS_JS = REPO / "web" / "js" / "editor" / "constants.js"
CANONICAL_FIXTURES = REPO / "tests" / "js" / "fixtures" / "canonical_layouts.json"
JS_ONLY = {"GRID"}  # the editors' snap step; Python has no grid


def js_constants() -> dict[str, Any]:
    """constants.js as plain Node reads it."""
    node = shutil.which("node")
    assert node, "node is missing: tools/setup_env.sh installs Debian's nodejs"
    script = f"import * as c from {json.dumps(str(CONSTANTS_JS))}; console.log(JSON.stringify(c))"
    printed = subprocess.run([node, "--input-type=module", "-e", script], check=True, capture_output=True, text=True)
    return json.loads(printed.stdout)


def python_constants() -> dict[str, Any]:
    """The Python value of each constant constants.js carries, as JSON would hold it."""
    import_comfy()
    import_pack()
    from gligen_suite.gligen_model import layout, pose
    from gligen_suite.nodes.editor import browser, colors, preview
    from gligen_suite.nodes.pose_encode_node import STANDING_PERSON

    joints = pose.COCO17_JOINTS
    left_right = [[i, joints.index(name.replace("left_", "right_"))] for i, name in enumerate(joints)
                  if name.startswith("left_")]
    values = {
        "LAYOUT_VERSION": layout.LAYOUT_VERSION, "MAX_OBJECTS": layout.MAX_OBJECTS, "MAX_CANVAS": layout.MAX_CANVAS,
        "MAX_STRENGTH": layout.MAX_STRENGTH, "MAX_LAYOUT_CHARS": layout.MAX_LAYOUT_CHARS,
        "TOP_ORDER": layout._TOP_ORDER, "OBJECT_ORDER": layout._OBJECT_ORDER,
        "PERSON_ORDER": layout._PERSON_ORDER, "MAX_PERSONS": pose.MAX_PERSONS,
        "JOINT_NAMES": [name.replace("_", " ") for name in joints], "SKELETON": pose.COCO17_SKELETON,
        "LEFT_RIGHT_PAIRS": left_right, "STANDING_PERSON": STANDING_PERSON, "PALETTE": colors.PALETTE,
        "LAYOUT_EVENT": browser.LAYOUT_EVENT, "BACKGROUND_KEY": browser.BACKGROUND_KEY,
        "BACKGROUND_FRAMES_KEY": browser.BACKGROUND_FRAMES_KEY, "FRAMES_KEY": browser.FRAMES_KEY,
        "BIDI_CONTROLS": preview.BIDI_CONTROLS,
    }
    return json.loads(json.dumps(values))  # tuples as lists, as in the JS


def test_every_constant_the_editors_share_has_the_python_value() -> None:
    js, py = js_constants(), python_constants()
    assert set(js) - JS_ONLY == set(py), "a constant is on one side only: add it to both (or to JS_ONLY)"
    assert {name: js[name] for name in py} == py


@pytest.mark.parametrize("case", json.loads(CANONICAL_FIXTURES.read_text(encoding="utf-8")),
                         ids=lambda case: case["what"][:40])
def test_python_writes_the_canonical_text_the_editors_write(case: dict[str, str]) -> None:
    import_pack()
    from gligen_suite.gligen_model.layout import canonical_layout_json

    assert canonical_layout_json(json.loads(case["input"])) == case["canonical"]
