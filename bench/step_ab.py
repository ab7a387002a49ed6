"""Per-step A/B: does an installed but idle GLIGEN patch cost anything on the steps without fusers?

    .venv/bin/python -m bench.step_ab [--size 256] [--steps 10] [--reps 3]

Three variants, interleaved in a rotating order, on the CPU (or the GPU with --device gpu):
- `plain`: the base model;
- `ours_tau03`: GLIGEN Suite with the default schedule (fusers on the first 30 % of the steps);
- `idle_patch`: GLIGEN Suite installed with beta 0 on every step: the wrapper and the middle patch
  run, the fusers never do, and the GLIGEN weights are loaded next to the UNet.
Prints every run and the median time of each step index per variant.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

from .gligen_bench import log


def main(argv: list[str] | None = None) -> int:
    """Run the A/B and print per-step medians."""
    parser = argparse.ArgumentParser(prog="python -m bench.step_ab", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    args = parser.parse_args(argv)
    os.environ["GLIGEN_TEST_DEVICE"] = args.device
    from devkit.comfy_host import import_comfy  # ComfyUI's folder first on sys.path (see devkit's docstring)
    from devkit.pack import import_pack

    import_comfy()
    import_pack()
    from gligen_suite.gligen_model import BetaSchedule
    from gligen_suite.nodes.apply_node import apply_grounding
    from gligen_suite.nodes.text_box_encode_node import encode_layout

    from .measure import RunTiming, sample_timed
    from .workload import Variant, layout_json, load_host, ours_variants, plain_variant, thirty_boxes

    host = load_host()
    boxes = thirty_boxes()
    _, ours03 = ours_variants(host, boxes)
    grounding = encode_layout(host.clip, layout_json(boxes, 256))
    idle_model = apply_grounding(host.model, ours03.gligen, grounding, BetaSchedule.constant(0.0))
    idle = Variant("idle_patch", "ours, beta 0 on every step", idle_model, lambda _size: host.positive,
                   lambda n: [False] * n, ours03.gligen)
    variants = [plain_variant(host), ours03, idle]
    for variant in variants:
        sample_timed(host, variant, args.size, 1)  # warm-up
    runs: dict[str, list[RunTiming]] = {v.name: [] for v in variants}
    for rep in range(args.reps):
        for variant in variants[rep % 3:] + variants[:rep % 3]:
            run = sample_timed(host, variant, args.size, args.steps)
            runs[variant.name].append(run)
            others = "" if run.others_cpu is None else f"  (other processes: {run.others_cpu:.0%} of the CPUs)"
            log(f"rep {rep + 1} {variant.name:<10} {run.total_s:7.2f} s  steps "
                + " ".join(f"{s:.2f}" for s in run.step_s) + others)
    log(f"\nmedians, {args.size} x {args.size}, {args.steps} steps, {args.reps} reps "
        f"(ours_tau03 grounds steps {[i + 1 for i, g in enumerate(ours03.grounded_steps(args.steps)) if g]}):")
    plain_total = statistics.median(r.total_s for r in runs["plain"])
    for name, rs in runs.items():
        total = statistics.median(r.total_s for r in rs)
        per_step = [statistics.median(r.step_s[i] for r in rs) for i in range(args.steps)]
        log(f"{name:<10} run {total:7.2f} s ({total / plain_total:.3f} x plain)  per step "
            + " ".join(f"{s:.2f}" for s in per_step))
    return 0


if __name__ == "__main__":
    sys.exit(main())
