"""Bad input through a real ComfyUI server: what the user sees is the execution_error's exception_message
(the node's red box), so it must be our message, naming the input and the fix, raised as GligenInputError.
Also: crafted /prompt requests cannot make the loader open files outside models/gligen or run pickled code,
and graph sizes the UI allows (not multiples of 8, batches) just work.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from support.api_graphs import (
    CHECKPOINT,
    FROM_GLIGEN_FILE,
    TEXT_BOX_FILE,
    GraphBuilder,
    Link,
    layout,
    provide_models,
    saved_latents,
)
from support.gligen_files import text_box_state_dict, write_safetensors
from support.server import ComfyServer, PromptFailed, PromptRejected

pytestmark = [pytest.mark.server, pytest.mark.bad_input]

LAYOUT = layout([("a red cube", [16, 32, 256, 448])])
PROBE = "gligen_suite_probe"  # file names written by this module start with it


@pytest.fixture(scope="module")
def srv(server: ComfyServer) -> ComfyServer:
    provide_models(server)
    return server


def loader_graph(name: Any) -> dict[str, Any]:
    """Loader -> Apply -> KSampler: the smallest graph that makes ComfyUI run the loader."""
    g = GraphBuilder()
    base = g.base()
    gligen = [g.add("GLIGENSuite_Loader", gligen_name=name, image_projection=FROM_GLIGEN_FILE), 0]
    g.sampled(base, g.grounded(base, LAYOUT, gligen=gligen), PROBE)
    return g.nodes


def failure(server: ComfyServer, graph: dict[str, Any], node_type: str) -> str:
    """Run `graph`; it must fail in a node of `node_type` with a GligenInputError; returns the message."""
    with pytest.raises(PromptFailed) as info:
        server.run(graph, timeout=300)
    error = info.value
    assert error.node_type == node_type, error
    assert error.exception_type is not None and error.exception_type.endswith("GligenInputError"), error
    message = error.exception_message
    assert "Traceback" not in message and 'File "' not in message and len(message) < 1000
    return message


# ---- the loader only opens what the host lists -------------------------------------------------------
@pytest.mark.parametrize("name", [
    f"../checkpoints/{CHECKPOINT}",             # a real file, one folder up
    "../../models/gligen/" + TEXT_BOX_FILE,      # the listed file, through a detour
    "/etc/hostname",
    "..\\..\\secrets.safetensors",
    f"{TEXT_BOX_FILE}\x00.txt",
], ids=["dotdot-real-file", "dotdot-detour", "absolute", "backslashes", "nul-byte"])
def test_a_crafted_gligen_name_is_refused(srv: ComfyServer, name: str) -> None:
    """ComfyUI 0.3.75 does not check V3 combo values, so the loader's own check is what stands here; a host
    that does check answers 400 naming the value. Either way nothing past the loader runs."""
    try:
        message = failure(srv, loader_graph(name), "GLIGENSuite_Loader")
    except PromptRejected as rejected:  # a host that validates V3 combos
        assert rejected.status == 400 and "value_not_in_list" in str(rejected)
        return
    assert f"GLIGEN file '{name}' is not in models/gligen" in message and "refresh the list" in message


@pytest.mark.parametrize("choice", [f"text_encoders/../checkpoints/{CHECKPOINT}", f"checkpoints/{CHECKPOINT}",
                                    "gligen//etc/hostname"], ids=["dotdot", "other-folder", "absolute"])
def test_a_crafted_image_projection_is_refused(srv: ComfyServer, choice: str) -> None:
    g = GraphBuilder()
    base = g.base()
    gligen = [g.add("GLIGENSuite_Loader", gligen_name=TEXT_BOX_FILE, image_projection=choice), 0]
    g.sampled(base, g.grounded(base, LAYOUT, gligen=gligen), PROBE)
    try:
        message = failure(srv, g.nodes, "GLIGENSuite_Loader")
    except PromptRejected as rejected:  # a host that validates V3 combos
        assert rejected.status == 400 and "value_not_in_list" in str(rejected)
        return
    assert f"image_projection '{choice}' is not a file in models/" in message


def test_a_pickle_with_code_in_models_gligen_never_runs(srv: ComfyServer, tmp_path: Path) -> None:
    import os

    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self) -> tuple:
            return (os.system, (f"touch {marker}",))

    name = f"{PROBE}_exploit.pth"
    torch.save({"model": text_box_state_dict([("input_blocks.1.1", 320)]), "x": Exploit()},
               srv.model_dir("gligen") / name)
    message = failure(srv, loader_graph(name), "GLIGENSuite_Loader")
    assert "contains pickled code" in message and "system" in message and "was not loaded" in message
    assert not marker.exists()


def test_nan_weights_are_named_by_the_loader(srv: ComfyServer) -> None:
    from support.base_models import sd15_transformer_blocks

    state = text_box_state_dict(sd15_transformer_blocks(True))
    state["output_blocks.3.1.transformer_blocks.0.fuser.alpha_attn"] = torch.tensor(float("nan"))
    name = f"{PROBE}_nan.safetensors"
    write_safetensors(state, srv.model_dir("gligen") / name)
    message = failure(srv, loader_graph(name), "GLIGENSuite_Loader")
    assert name in message and "'alpha_attn' contains NaN or infinite values" in message


# ---- node inputs and graph use ------------------------------------------------------------------------
def grounded_graph(layout_json: str = LAYOUT, *, extra: Callable[[GraphBuilder, dict[str, Link], Link], Link]
                   | None = None, positive: Callable[[GraphBuilder, dict[str, Link]], Link] | None = None,
                   negative_mode: str = "null grounding (official)", width: int = 64, height: int = 64,
                   batch: int = 1, schedule: tuple[float, float] | None = None) -> dict[str, Any]:
    g = GraphBuilder()
    base = g.base()
    if positive is not None:
        base["positive"] = positive(g, base)
    model = g.grounded(base, layout_json, negative_mode=negative_mode,
                       schedule=g.schedule("phases", *schedule) if schedule else None)
    if extra is not None:
        model = extra(g, base, model)
    latent = g.add("EmptyLatentImage", width=width, height=height, batch_size=batch)
    samples = g.add("KSampler", model=model, positive=base["positive"], negative=base["negative"],
                    latent_image=[latent, 0], seed=3, steps=2, cfg=5.0, sampler_name="euler", scheduler="normal",
                    denoise=1.0)
    g.add("SaveLatent", samples=[samples, 0], filename_prefix=f"latents/{PROBE}")
    return g.nodes


def second_apply(g: GraphBuilder, base: dict[str, Link], model: Link) -> Link:
    return g.grounded(base, layout([("a blue ball", [0, 0, 128, 128])]), model=model)


def core_gligen_positive(g: GraphBuilder, base: dict[str, Link]) -> Link:
    core = g.add("GLIGENLoader", gligen_name=TEXT_BOX_FILE)
    return [g.add("GLIGENTextBoxApply", conditioning_to=base["positive"], clip=base["clip"],
                  gligen_textbox_model=[core, 0], text="a cube", width=64, height=64, x=0, y=0), 0]


def area_outside(g: GraphBuilder, base: dict[str, Link]) -> Link:
    return [g.add("ConditioningSetArea", conditioning=base["positive"], width=64, height=64, x=1024, y=0,
                  strength=1.0), 0]


NODE_CASES = [
    ("10MB-layout", lambda: grounded_graph(layout([("x" * 100, [0, 0, 8, 8])] * 100_000)),
     "GLIGENSuite_TextBoxEncode", ("characters long", "paste only the layout JSON")),
    ("persons-at-text-box-node", lambda: grounded_graph(json.dumps(
        {"version": 1, "width": 64, "height": 64, "persons": [{"keypoints": [[1, 1]] + [None] * 16}]})),
     "GLIGENSuite_TextBoxEncode", ("persons but no objects", "GLIGEN Pose Encode")),
    ("apply-twice", lambda: grounded_graph(extra=second_apply), "GLIGENSuite_Apply",
     ("already went through a GLIGEN Apply (Suite)", "'append_to'")),
    ("core-gligen-beside-ours", lambda: grounded_graph(positive=core_gligen_positive), "KSampler",
     ("built-in GLIGEN boxes (GLIGENTextBoxApply)", "Use one of them")),
    ("area-outside-the-picture", lambda: grounded_graph(positive=area_outside), "KSampler",
     ("outside the 64x64 picture", "move it inside")),
    ("unknown-negative-mode", lambda: grounded_graph(negative_mode="mirror"), "GLIGENSuite_Apply",
     ("Unknown negative mode 'mirror'",)),
]


@pytest.mark.parametrize(("make", "node_type", "needles"), [c[1:] for c in NODE_CASES], ids=[c[0] for c in NODE_CASES])
def test_node_input_errors_reach_the_user(srv: ComfyServer, make: Callable[[], dict[str, Any]], node_type: str,
                                          needles: tuple[str, ...]) -> None:
    message = failure(srv, make(), node_type)
    for needle in needles:
        assert needle in message, message


def test_an_out_of_range_schedule_value_is_stopped(srv: ComfyServer) -> None:
    """The API accepts any number; ComfyUI checks the widget's range (400), or the node names it."""
    try:
        message = failure(srv, grounded_graph(schedule=(3.0, 0.0)), "GLIGENSuite_Schedule")
    except PromptRejected as rejected:
        assert rejected.status == 400 and "grounding_fraction" in str(rejected)
        assert "value_bigger_than_max" in str(rejected)
        return
    assert "grounding fraction is 3.0" in message


@pytest.mark.parametrize(("width", "height", "batch"), [(100, 60, 1), (72, 136, 3)])
def test_sizes_off_the_8_pixel_grid_and_batches_run(srv: ComfyServer, width: int, height: int, batch: int) -> None:
    history = srv.run(grounded_graph(width=width, height=height, batch=batch), timeout=300)
    assert history["status"]["status_str"] == "success"
    (latent,) = saved_latents(srv, history).values()
    assert latent.shape == (batch, 4, height // 8, width // 8) and torch.isfinite(latent).all()
    if batch > 1:
        assert (latent[0] - latent[1]).abs().max() > 1e-3


def test_the_server_still_answers_after_the_bad_inputs(srv: ComfyServer) -> None:
    history = srv.run(grounded_graph(), timeout=300)
    assert history["status"]["status_str"] == "success"
    assert srv.get_json("/queue") == {"queue_running": [], "queue_pending": []}
