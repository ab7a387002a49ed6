"""The GLIGEN Loader says in the UI when its file is a dev stand-in (safetensors metadata "stand_in", written
by tools/stand_ins.py), and a new Text-Box Encode node starts without objects while the examples keep theirs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from devkit.comfy_host import REPO_ROOT
from devkit.gligen_checkpoints import text_box_state_dict
from devkit.in_process import TinyHost
from devkit.sd15_checkpoints import sd15_transformer_blocks


@pytest.fixture
def models_gligen(host: TinyHost, tmp_path: Path) -> Path:
    """A fresh folder the in-process ComfyUI lists for models/gligen (names made unique by the test's folder)."""
    import folder_paths

    folder = tmp_path / "gligen"
    folder.mkdir()
    folder_paths.add_model_folder_path("gligen", str(folder))
    return folder


def test_a_stand_in_gligen_file_is_reported_as_noise_and_a_real_one_is_not(models_gligen: Path) -> None:
    from gligen_suite.nodes.loader_node import STAND_IN_NOTE, GligenLoader, stand_in_note

    state = text_box_state_dict(sd15_transformer_blocks(True), seed=3)
    prefix = models_gligen.parent.name
    stand_in = models_gligen / f"{prefix}_stand_in.bin"  # safetensors under a .bin name, as tools/stand_ins.py
    save_file(state, str(stand_in), metadata={"stand_in": "random weights (small): for trying the graph"})
    plain = models_gligen / f"{prefix}_plain.safetensors"
    save_file(state, str(plain), metadata={"format": "pt"})
    pickled = models_gligen / f"{prefix}_pickled.bin"
    torch.save(state, pickled)

    assert stand_in_note(str(stand_in)) == f"{stand_in.name}: {STAND_IN_NOTE}"
    assert stand_in_note(str(plain)) is None and stand_in_note(str(pickled)) is None
    assert GligenLoader.execute(stand_in.name).ui.as_dict() == {"text": (f"{stand_in.name}: {STAND_IN_NOTE}",)}
    assert GligenLoader.execute(plain.name).ui is None
    assert GligenLoader.execute(pickled.name).ui is None


def test_a_new_text_box_encode_node_starts_empty_and_the_examples_keep_their_boxes() -> None:
    from gligen_suite.gligen_model.layout import parse_layout
    from gligen_suite.nodes.text_box_encode_node import GligenTextBoxEncode

    (layout,) = [i for i in GligenTextBoxEncode.define_schema().inputs if i.id == "layout"]
    assert parse_layout(layout.default).objects == ()
    counts = {}
    for path in sorted((REPO_ROOT / "example_workflows").glob("*.json")):
        for node in json.loads(path.read_text(encoding="utf-8"))["nodes"]:
            if node["type"] == "GLIGENSuite_TextBoxEncode":
                counts[path.stem] = len(parse_layout(node["widgets_values"][0]).objects)
    assert counts["GLIGEN phrases in boxes"] == 2 and all(n > 0 for n in counts.values()), counts
