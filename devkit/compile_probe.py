"""Grounded sampling under ComfyUI's torch.compile wrapper: how many graphs, how many recompiles, how close.

Run as its own process (dynamo's caches and counters are per process, and the attention function is chosen
when ComfyUI is imported)::

    python -m devkit.compile_probe --attention pytorch --specialize-float 0 --out result.json

It loads the tiny random SD1.5, then:
1. the plain model, compiled through ComfyUI's own `set_torch_compile_wrapper` (what TorchCompileModel
   does), one run; its graph count and its compiled-vs-eager difference are the reference;
2. for every schedule kind (constant, hard cut, phases with decay, per-step curve) and both wiring
   orders (compile then Apply, Apply then compile), a fresh Apply and one run: the new graphs, and the
   compiled-vs-eager difference of that grounded model;
3. further runs, each with a fresh Apply (another layout of the same object count, another seed, the
   schedules and orders in turn): graphs they compile (should be none).
The JSON says, per phase, the graphs compiled, dynamo's recompile-limit hits (function names; with the host's
split graphs the plain model itself may hit it) and the differences (max |a - b| / max |b|). Used by
tests/nodes/test_torch_compile.py.
"""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

STEPS = 3
SIZE = 64  # pixels; the tiny UNet's blocks see 8x8 .. 2x2 latents
SCHEDULE_KINDS = ("constant", "hard_cut", "phases", "curve")
ORDERS = ("compile_then_apply", "apply_then_compile")


class LimitHits(logging.Handler):
    """Collects dynamo's "hit config.recompile_limit" warnings (the function then runs uncompiled)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.functions: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "hit config." in message:
            line = next((part for part in message.splitlines() if "function:" in part), message)
            self.functions.append(line.strip())

    def take(self) -> list[str]:
        """The hits since the last take."""
        taken, self.functions = self.functions, []
        return taken


def layout_json(variant: int) -> str:
    """Three objects; `variant` moves the boxes and changes a phrase (same object count, same token shapes)."""
    shift = 4 * (variant % 5)
    return json.dumps({"version": 1, "width": SIZE, "height": SIZE, "objects": [
        {"phrase": f"a red cube number {variant}", "box": [2 + shift, 4, 30 + shift, 40]},
        {"phrase": "a blue ball", "box": [34, 8 + shift, 60, 44 + shift]},
        {"phrase": "a green plant", "box": [4, 44, 60 - shift, 62]},
    ]})


def schedule(kind: str) -> Any:
    from gligen_suite.gligen_model import BetaSchedule

    return {"constant": BetaSchedule.constant(),
            "hard_cut": BetaSchedule.hard_cut(0.5),
            "phases": BetaSchedule.phases(0.3, 0.4),
            "curve": BetaSchedule.curve([1.0, 0.7, 0.35])}[kind]


def relative_difference(a: Any, b: Any) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attention", choices=("pytorch", "sub_quad"), default="pytorch",
                        help="pytorch: --use-pytorch-cross-attention (the GPU default); sub_quad: the CPU default")
    parser.add_argument("--specialize-float", type=int, choices=(0, 1), default=0)
    parser.add_argument("--backend", default="inductor")
    parser.add_argument("--further-runs", type=int, default=10)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    from devkit.comfy_host import import_comfy

    import_comfy()
    import comfy.cli_args

    comfy.cli_args.args.use_pytorch_cross_attention = args.attention == "pytorch"
    from devkit.pack import import_pack

    import_pack()
    import torch
    import torch._dynamo
    from torch._dynamo.utils import counters

    torch._dynamo.config.specialize_float = bool(args.specialize_float)
    hits = LimitHits()
    logging.getLogger("torch._dynamo").addHandler(hits)

    from comfy_api.torch_helpers import set_torch_compile_wrapper
    from gligen_suite.nodes.apply_node import NEGATIVE_MODES, apply_grounding
    from gligen_suite.nodes.loader_node import load_gligen_patcher
    from gligen_suite.nodes.text_box_encode_node import encode_layout

    from devkit.in_process import encode_prompt, load_tiny_host, sample

    scratch = tempfile.mkdtemp(prefix="compile_probe_")
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)  # each probe process wrote 134 MB and left it
    host = load_tiny_host(Path(scratch))
    gligen = load_gligen_patcher(str(host.gligen_path))

    def graphs() -> int:
        return int(counters["stats"]["unique_graphs"])

    def compiled(model: Any) -> Any:
        clone = model.clone()
        set_torch_compile_wrapper(clone, backend=args.backend)
        return clone

    def grounded(kind: str, order: str, variant: int) -> tuple[Any, Any]:
        """(compiled grounded model, the same grounding uncompiled) from a fresh Apply."""
        grounding = encode_layout(host.clip, layout_json(variant))
        eager = apply_grounding(host.model, gligen, grounding, schedule(kind), NEGATIVE_MODES[0])
        if order == "apply_then_compile":
            return compiled(eager), eager
        return apply_grounding(compiled(host.model), gligen, grounding, schedule(kind), NEGATIVE_MODES[0]), eager

    def run(model: Any, seed: int) -> Any:
        positive = encode_prompt(host.clip, "a red cube, a blue ball and a green plant")
        negative = encode_prompt(host.clip, "blurry")
        return sample(model, positive, negative, width=SIZE, height=SIZE, steps=STEPS, seed=seed)

    result: dict[str, Any] = {"attention": args.attention, "specialize_float": args.specialize_float,
                              "backend": args.backend, "torch": torch.__version__}
    started = time.perf_counter()
    plain_eager = run(host.model, 0)
    before = graphs()
    plain_compiled = run(compiled(host.model), 0)
    result["plain"] = {"graphs": graphs() - before, "difference": relative_difference(plain_compiled, plain_eager),
                       "seconds": round(time.perf_counter() - started, 1), "recompile_limit_hits": hits.take()}

    first: dict[str, Any] = {}
    for kind in SCHEDULE_KINDS:
        for order in ORDERS:
            started, before = time.perf_counter(), graphs()
            model, eager = grounded(kind, order, 0)
            out = run(model, 0)
            first[f"{kind}/{order}"] = {"graphs": graphs() - before,
                                        "difference": relative_difference(out, run(eager, 0)),
                                        "changed_by_grounding": relative_difference(out, plain_eager),
                                        "seconds": round(time.perf_counter() - started, 1)}
    result["first_runs"] = first
    result["grounded_graphs"] = sum(entry["graphs"] for entry in first.values())
    result["grounded_recompile_limit_hits"] = hits.take()

    started, before = time.perf_counter(), graphs()
    combos = [(kind, order) for kind in SCHEDULE_KINDS for order in ORDERS]
    for i in range(args.further_runs):
        kind, order = combos[i % len(combos)]
        model, _ = grounded(kind, order, i + 1)
        run(model, 100 + i)
    result["further_runs"] = {"runs": args.further_runs, "graphs": graphs() - before,
                              "seconds": round(time.perf_counter() - started, 1), "recompile_limit_hits": hits.take()}
    result["graph_breaks"] = {reason.splitlines()[0][:160]: n for reason, n in counters["graph_break"].items()}
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
