"""Nothing lost, nothing leaked: prompts on a real ComfyUI server give, bit for bit, what the same prompt gives
alone on a fresh server, after 100 mixed prompts, beside other Apply nodes, after an interrupt, and when the
host unloads its models.

Four kinds of prompt (tiny SD1.5, 64 x 64, 2 steps, saved as latents): plain, two different box layouts,
and keypoint grounding. Each kind's reference comes from its own fresh server that runs only that prompt.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch

from devkit.api_graphs import GraphBuilder, Link, layout, provide_models, saved_latents
from devkit.comfy_host import wants_gpu
from devkit.comfy_server import ComfyServer, PromptInterrupted

pytestmark = pytest.mark.server

SIZE, STEPS = 64, 2
LAYOUT_A = layout([("a red cube", [16, 32, 256, 448]), ("a blue ball", [272, 64, 480, 400])])
LAYOUT_B = layout([("a green lamp", [300, 20, 500, 300]), ("a dog", [20, 200, 250, 500]),
                   ("a book", [200, 380, 330, 500])])
POSE = json.dumps({"version": 1, "width": 512, "height": 512, "persons": [{"keypoints": [
    [256, 96], [268, 84], [244, 84], [282, 92], [230, 92], [300, 150], [212, 150], [318, 220], [194, 220],
    [326, 286], [186, 286], [286, 290], [226, 290], [290, 380], [222, 380], [292, 466], [220, 466]]}]})
KINDS = ("boxes_a", "boxes_b", "pose", "plain")


def branch(g: GraphBuilder, base: dict[str, Link], kind: str, gligen: Link | None = None) -> Link:
    """The MODEL that the kind's KSampler gets."""
    if kind == "boxes_a":
        return g.grounded(base, LAYOUT_A, gligen=gligen)
    if kind == "boxes_b":
        return g.grounded(base, LAYOUT_B, gligen=gligen, schedule=g.schedule("phases", 0.5, 0.5))
    if kind == "pose":
        return g.posed(base, POSE)
    return base["model"]


def single(kind: str, prefix: str, steps: int = STEPS, schedule: Callable[[GraphBuilder], Link] | None = None
           ) -> dict[str, Any]:
    g = GraphBuilder()
    base = g.base()
    model = g.grounded(base, LAYOUT_A, schedule=schedule(g)) if schedule else branch(g, base, kind)
    g.sampled(base, model, prefix, size=SIZE, steps=steps)
    return g.nodes


def executed_nodes(history: dict[str, Any]) -> set[str]:
    """Ids of the prompt's nodes that ran (not taken from ComfyUI's cache)."""
    cached = {n for event, data in history["status"]["messages"] if event == "execution_cached"
              for n in data.get("nodes", [])}
    return set(history["prompt"][2]) - cached


def only_latent(server: ComfyServer, history: dict[str, Any]) -> torch.Tensor:
    """The one saved latent; the KSampler must have run (a cached result would prove nothing)."""
    assert history["status"]["status_str"] == "success", history["status"]
    graph = history["prompt"][2]
    samplers = {n for n, node in graph.items() if node["class_type"] == "KSampler"}
    assert samplers <= executed_nodes(history), "the KSampler came from ComfyUI's cache"
    (latent,) = saved_latents(server, history).values()
    return latent


def run_one(server: ComfyServer, kind: str, prefix: str) -> torch.Tensor:
    return only_latent(server, server.run(single(kind, prefix), timeout=300))


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> dict[str, torch.Tensor]:
    """Each kind run alone, as the first and only prompt of a fresh server."""
    out = {}
    for kind in KINDS:
        with ComfyServer(tmp_path_factory.mktemp(f"fresh_{kind}")) as fresh:
            provide_models(fresh)
            out[kind] = run_one(fresh, kind, "reference")
    assert all(torch.isfinite(t).all() for t in out.values())
    for a, b in itertools.combinations(KINDS, 2):
        assert (out[a] - out[b]).abs().max() > 1e-3, (a, b)  # four different images
    return out


def assert_exact(latent: torch.Tensor, reference: torch.Tensor, what: str) -> None:
    assert torch.equal(latent, reference), f"{what}: max difference {(latent - reference).abs().max():.3g}"


def test_100_queued_prompts_none_lost_each_exact(models_server: ComfyServer,
                                                 references: dict[str, torch.Tensor]) -> None:
    kinds = [KINDS[i % len(KINDS)] for i in range(100)]
    prompt_ids = [models_server.queue_prompt(single(kind, f"queue_{i}")) for i, kind in enumerate(kinds)]
    files = set()
    for i, (kind, prompt_id) in enumerate(zip(kinds, prompt_ids, strict=True)):
        models_server.wait(prompt_id, timeout=300)
        history = models_server.history(prompt_id)
        assert_exact(only_latent(models_server, history), references[kind], f"prompt {i} ({kind})")
        files |= {r["filename"] for out in history["outputs"].values() for r in out["latents"]}
    assert len(files) == 100
    assert models_server.get_json("/queue") == {"queue_running": [], "queue_pending": []}


def test_two_apply_nodes_on_one_base_model_do_not_interfere(models_server: ComfyServer,
                                                            references: dict[str, torch.Tensor]) -> None:
    """One graph, one checkpoint MODEL, one GLIGEN loader: two Apply nodes with different layouts, a keypoint
    Apply and a plain KSampler, each exactly what it gives alone."""
    g = GraphBuilder()
    base = g.base()
    gligen = [g.loader(), 0]
    saves = {kind: g.sampled(base, branch(g, base, kind, gligen), f"together_{kind}", size=SIZE, steps=STEPS)
             for kind in KINDS}
    history = models_server.run(g.nodes, timeout=300)
    assert history["status"]["status_str"] == "success", history["status"]
    latents = saved_latents(models_server, history)
    for kind, node_id in saves.items():
        assert_exact(latents[node_id], references[kind], kind)


def test_interrupt_mid_sampling_leaves_nothing_patched(models_server: ComfyServer,
                                                       references: dict[str, torch.Tensor]) -> None:
    long_run = single("boxes_a", "interrupted", steps=400, schedule=lambda g: g.schedule("constant"))
    prompt_id = models_server.queue_prompt(long_run)
    models_server.wait_for_progress(prompt_id, 2)  # the fusers have run; raised from the next step's first layer
    models_server.interrupt()
    with pytest.raises(PromptInterrupted):
        models_server.wait(prompt_id, timeout=300)
    for kind in ("plain", "boxes_a", "plain"):
        assert_exact(run_one(models_server, kind, "after_interrupt"), references[kind], f"{kind} after the interrupt")


def test_interrupt_inside_a_grounded_step_then_the_same_prompt_is_exact(models_server: ComfyServer,
                                                                        tmp_path_factory: pytest.TempPathFactory
                                                                        ) -> None:
    """POST /interrupt while a grounded step runs. ComfyUI 0.3.75 checks for it in every comfy.ops layer, the
    fusers' too, so it is raised from inside a UNet call: once right after a step's progress message (the next
    step's first layer), once half a step later (mid-UNet). The identical prompt then runs again (loader, encode
    and Apply from ComfyUI's cache, the KSampler anew) and gives bit for bit what a fresh server gives."""
    steps = 40 if wants_gpu() else 8  # long enough that both interrupts arrive before the last step
    grounded = single("boxes_a", "grounded_step", steps=steps, schedule=lambda g: g.schedule("constant"))
    with ComfyServer(tmp_path_factory.mktemp("fresh_grounded_step")) as fresh:
        provide_models(fresh)
        reference = only_latent(fresh, fresh.run(grounded, timeout=300))
    step_time = 0.0
    for attempt in range(2):
        prompt_id = models_server.queue_prompt(grounded)
        models_server.wait_for_progress(prompt_id, 1)
        started = time.monotonic()
        if attempt == 0:
            models_server.wait_for_progress(prompt_id, 2)
            step_time = time.monotonic() - started
        else:
            time.sleep(step_time / 2)
        models_server.interrupt()
        with pytest.raises(PromptInterrupted) as info:
            models_server.wait(prompt_id, timeout=300)
        assert info.value.node_type == "KSampler", info.value
    history = models_server.run(grounded, timeout=300)
    assert_exact(only_latent(models_server, history), reference, "the grounded prompt after two interrupts")


def test_models_freed_by_the_host_reload_and_stay_exact(models_server: ComfyServer,
                                                        references: dict[str, torch.Tensor]) -> None:
    """POST /free (unload every model, drop the node cache) lands between two prompts: everything loads again,
    same numbers. The worker reads /free's flags after the prompt it is running, so /free is sent while one
    runs and the compared prompt is queued behind it."""
    busy = models_server.queue_prompt(single("plain", "busy", steps=60))
    models_server.wait_for_progress(busy, 1)
    models_server.free(unload_models=True, free_memory=True)
    after = models_server.queue_prompt(single("boxes_a", "after_free"))
    models_server.wait(busy, timeout=300)
    models_server.wait(after, timeout=300)
    history = models_server.history(after)
    assert {"1", "4"} <= executed_nodes(history)  # checkpoint and GLIGEN loaders ran again
    assert_exact(only_latent(models_server, history), references["boxes_a"], "after /free")
    assert_exact(run_one(models_server, "pose", "after_free"), references["pose"], "pose after /free")


@pytest.fixture(scope="module")
def forgetful(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComfyServer]:
    """A host that keeps nothing: no node cache, models unloaded after each prompt, low-VRAM loading."""
    low_vram = ["--lowvram"] if wants_gpu() else []  # ComfyUI refuses --lowvram beside --cpu
    with ComfyServer(tmp_path_factory.mktemp("forgetful"),
                     extra_args=["--cache-none", "--disable-smart-memory", *low_vram]) as models_server:
        provide_models(models_server)
        yield models_server


def test_a_host_that_reloads_everything_every_prompt(forgetful: ComfyServer,
                                                     references: dict[str, torch.Tensor]) -> None:
    for i, kind in enumerate(("boxes_a", "plain", "boxes_b", "boxes_a", "pose")):
        assert_exact(run_one(forgetful, kind, f"forgetful_{i}"), references[kind], f"{kind} (prompt {i})")
