"""Bad input through a real ComfyUI server: what the user sees is the execution_error's exception_message
(the node's red box), so it must be our message, naming the input and the fix, raised as GligenInputError.
Also: graph sizes the UI allows (not multiples of 8, batches) just work. The loader's files and names over
HTTP are in test_loader_over_http.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import torch

from devkit.api_graphs import (
    TEXT_BOX_FILE,
    GraphBuilder,
    Link,
    layout,
    saved_latents,
)
from devkit.comfy_server import ComfyServer, PromptRejected
from devkit.input_errors import server_message_for

pytestmark = [pytest.mark.server, pytest.mark.bad_input]

LAYOUT = layout([("a red cube", [16, 32, 256, 448])])
PROBE = "gligen_suite_probe"  # file names written by this module start with it


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
]


@pytest.mark.parametrize(("make", "node_type", "needles"), [c[1:] for c in NODE_CASES], ids=[c[0] for c in NODE_CASES])
def test_node_input_errors_reach_the_user(models_server: ComfyServer, make: Callable[[], dict[str, Any]],
                                          node_type: str, needles: tuple[str, ...]) -> None:
    message = server_message_for(models_server, make(), node_type)
    for needle in needles:
        assert needle in message, message


def host_combo_refusal(rejected: PromptRejected, node_type: str, input_name: str, value: Any) -> bool:
    """True when the 400 is ComfyUI's own `value_not_in_list` for `input_name` of a `node_type` node (newer hosts
    validate V3 combo values before any node runs; 0.3.75 checks V1 list combos only)."""
    errors = [e for node in rejected.node_errors.values() if node.get("class_type") == node_type
              for e in node.get("errors", [])]
    return rejected.status == 400 and any(
        e.get("type") == "value_not_in_list" and e.get("extra_info", {}).get("input_name") == input_name
        and e.get("extra_info", {}).get("received_value") == value for e in errors)


@pytest.mark.parametrize(("make", "node_type", "input_name", "value", "needle"), [
    (lambda: grounded_graph(negative_mode="mirror"), "GLIGENSuite_Apply", "negative", "mirror",
     "Unknown negative mode 'mirror'"),
], ids=["unknown-negative-mode"])
def test_a_value_outside_a_combo_is_refused_by_the_host_or_the_node(
        models_server: ComfyServer, make: Callable[[], dict[str, Any]], node_type: str, input_name: str, value: Any,
        needle: str) -> None:
    """Either ComfyUI's 400 naming the input and the value, or our node's message; a prompt that runs fails."""
    try:
        message = server_message_for(models_server, make(), node_type)
    except PromptRejected as rejected:
        assert host_combo_refusal(rejected, node_type, input_name, value), rejected
        return
    assert needle in message, message


def test_the_hosts_own_combo_refusal_is_recognised(models_server: ComfyServer) -> None:
    """The host's 400 as 0.3.75 sends it for a V1 combo (core KSampler's sampler_name), read by the same check."""
    graph = grounded_graph()
    (sampler,) = [node for node in graph.values() if node["class_type"] == "KSampler"]
    sampler["inputs"]["sampler_name"] = "no_such_sampler"
    with pytest.raises(PromptRejected) as info:
        models_server.run(graph, timeout=300)
    assert host_combo_refusal(info.value, "KSampler", "sampler_name", "no_such_sampler")
    assert not host_combo_refusal(info.value, "KSampler", "scheduler", "no_such_sampler")
    assert not host_combo_refusal(info.value, "GLIGENSuite_Apply", "sampler_name", "no_such_sampler")


def test_an_out_of_range_schedule_value_is_stopped(models_server: ComfyServer) -> None:
    """The API accepts any number; ComfyUI checks the widget's range (400), or the node names it."""
    try:
        message = server_message_for(models_server, grounded_graph(schedule=(3.0, 0.0)), "GLIGENSuite_Schedule")
    except PromptRejected as rejected:
        assert rejected.status == 400 and "grounding_fraction" in str(rejected)
        assert "value_bigger_than_max" in str(rejected)
        return
    assert "grounding fraction is 3.0" in message


@pytest.mark.parametrize(("width", "height", "batch"), [(100, 60, 1), (72, 136, 3)])
def test_sizes_off_the_8_pixel_grid_and_batches_run(models_server: ComfyServer, width: int, height: int,
                                                    batch: int) -> None:
    history = models_server.run(grounded_graph(width=width, height=height, batch=batch), timeout=300)
    assert history["status"]["status_str"] == "success"
    (latent,) = saved_latents(models_server, history).values()
    assert latent.shape == (batch, 4, height // 8, width // 8) and torch.isfinite(latent).all()
    if batch > 1:
        assert (latent[0] - latent[1]).abs().max() > 1e-3


def test_the_server_still_answers_after_the_bad_inputs(models_server: ComfyServer) -> None:
    history = models_server.run(grounded_graph(), timeout=300)
    assert history["status"]["status_str"] == "success"
    assert models_server.get_json("/queue") == {"queue_running": [], "queue_pending": []}
