"""GLIGEN Loader through a real ComfyUI server: crafted /prompt requests cannot make the loader open files
outside models/gligen or run pickled code, and a damaged file is named in what the user sees (the
execution_error's exception_message, the node's red box), raised as GligenInputError.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from devkit.api_graphs import (
    CHECKPOINT,
    FROM_GLIGEN_FILE,
    TEXT_BOX_FILE,
    GraphBuilder,
    layout,
)
from devkit.comfy_server import ComfyServer, PromptRejected
from devkit.gligen_checkpoints import text_box_state_dict, write_safetensors
from devkit.input_errors import server_message_for

pytestmark = [pytest.mark.server, pytest.mark.bad_input]

LAYOUT = layout([("a red cube", [16, 32, 256, 448])])
PROBE = "gligen_suite_probe"  # file names written by this module start with it


def loader_graph(name: Any) -> dict[str, Any]:
    """Loader -> Apply -> KSampler: the smallest graph that makes ComfyUI run the loader."""
    g = GraphBuilder()
    base = g.base()
    gligen = [g.add("GLIGENSuite_Loader", gligen_name=name, image_projection=FROM_GLIGEN_FILE), 0]
    g.sampled(base, g.grounded(base, LAYOUT, gligen=gligen), PROBE)
    return g.nodes


# ---- the loader only opens what the host lists -------------------------------------------------------
@pytest.mark.parametrize("name", [
    f"../checkpoints/{CHECKPOINT}",             # a real file, one folder up
    "../../models/gligen/" + TEXT_BOX_FILE,      # the listed file, through a detour
    "/etc/hostname",
    "..\\..\\secrets.safetensors",
    f"{TEXT_BOX_FILE}\x00.txt",
], ids=["dotdot-real-file", "dotdot-detour", "absolute", "backslashes", "nul-byte"])
def test_a_crafted_gligen_name_is_refused(models_server: ComfyServer, name: str) -> None:
    """ComfyUI 0.3.75 does not check V3 combo values, so the loader's own check is what stands here; a host
    that does check answers 400 naming the value. Either way nothing past the loader runs."""
    try:
        message = server_message_for(models_server, loader_graph(name), "GLIGENSuite_Loader")
    except PromptRejected as rejected:  # a host that validates V3 combos
        assert rejected.status == 400 and "value_not_in_list" in str(rejected)
        return
    assert f"GLIGEN file '{name}' is not in models/gligen" in message and "refresh the list" in message


@pytest.mark.parametrize("choice", [f"text_encoders/../checkpoints/{CHECKPOINT}", f"checkpoints/{CHECKPOINT}",
                                    "gligen//etc/hostname"], ids=["dotdot", "other-folder", "absolute"])
def test_a_crafted_image_projection_is_refused(models_server: ComfyServer, choice: str) -> None:
    g = GraphBuilder()
    base = g.base()
    gligen = [g.add("GLIGENSuite_Loader", gligen_name=TEXT_BOX_FILE, image_projection=choice), 0]
    g.sampled(base, g.grounded(base, LAYOUT, gligen=gligen), PROBE)
    try:
        message = server_message_for(models_server, g.nodes, "GLIGENSuite_Loader")
    except PromptRejected as rejected:  # a host that validates V3 combos
        assert rejected.status == 400 and "value_not_in_list" in str(rejected)
        return
    assert f"image_projection '{choice}' is not a file in models/" in message


def test_a_pickle_with_code_in_models_gligen_never_runs(models_server: ComfyServer, tmp_path: Path) -> None:
    import os

    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self) -> tuple:
            return (os.system, (f"touch {marker}",))

    name = f"{PROBE}_exploit.pth"
    torch.save({"model": text_box_state_dict([("input_blocks.1.1", 320)]), "x": Exploit()},
               models_server.model_dir("gligen") / name)
    message = server_message_for(models_server, loader_graph(name), "GLIGENSuite_Loader")
    assert "contains pickled code" in message and "system" in message and "was not loaded" in message
    assert not marker.exists()


def test_nan_weights_are_named_by_the_loader(models_server: ComfyServer) -> None:
    from devkit.sd15_checkpoints import sd15_transformer_blocks

    state = text_box_state_dict(sd15_transformer_blocks(True))
    state["output_blocks.3.1.transformer_blocks.0.fuser.alpha_attn"] = torch.tensor(float("nan"))
    name = f"{PROBE}_nan.safetensors"
    write_safetensors(state, models_server.model_dir("gligen") / name)
    message = server_message_for(models_server, loader_graph(name), "GLIGENSuite_Loader")
    assert name in message and "'alpha_attn' contains NaN or infinite values" in message
