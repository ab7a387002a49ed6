"""GLIGEN Suite benchmark: plain SD1.5, ComfyUI core GLIGEN, ours at tau 1.0 and 0.3, ours with a depth
map and with the inpainting file, in one process.

    bench/run [--quick] [--compile] [--device auto|cpu|gpu] [--sizes 256 512] [--steps N] [--reps N] [--budget-s S]
    bench/run --xl [--device auto|cpu|gpu] [--sizes 512] [--steps N] [--reps N]

With --xl it reports what GLIGEN-XL costs on SDXL instead (bench/xl_cost.py): the XL model's parameters and
bytes, FLOPs of one SDXL UNet call plain vs grounded at 1024 x 1024 and the sizes given, and on a GPU timed
interleaved plain vs grounded UNet calls and their peak memory.

With --compile, plain, core and ours at tau 1.0 / 0.3 are each compiled through ComfyUI's own
`set_torch_compile_wrapper` (what its TorchCompileModel node does, inductor) and timed compiled; their
FLOPs and peaks are counted eagerly first, and a full-length run per variant compiles every graph it needs
before the clock starts.

Order of work (see docs/performance.md):
1. Load the random-weight full-size SD1.5 and encode the prompts.
2. Warm up each variant with a 1-step run that measures its peak memory (plain first, before any
   GLIGEN weights are loaded; then ours; then core, whose peak also holds ours' weights) and
   counts FLOPs (plain, ours at tau 1, core); then the depth-map and inpainting variants.
3. Per size, interleaved timed repetitions plain, core, ours tau 1, ours tau 0.3, depth, inpainting, ...;
   medians.
4. The table and the targets per size; the last line is RESULT for the largest size.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Config:
    """What to run, from the command line and the device's defaults."""

    sizes: tuple[int, ...]
    steps: int
    reps: int
    budget_s: float | None  # for the timed repetitions of all sizes, from the start of the process
    device: str  # "cpu" or "gpu"
    compile: bool = False  # plain, core and ours compiled (inductor); the map and inpainting rows left out
    xl: bool = False  # GLIGEN-XL's cost on SDXL (bench/xl_cost.py) instead of the SD1.5 benchmark
    xl_reduced: bool = False  # --xl's timing on a reduced SDXL, to try that path on a CPU


def parse_args(argv: list[str] | None = None) -> Config:
    """Command line -> Config; --quick and the device pick the defaults of what is not given."""
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="size 256 only, fewer steps and repetitions, within a time budget")
    parser.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto",
                        help="auto: the GPU when torch sees one (fp16 there), else the CPU")
    parser.add_argument("--sizes", type=int, nargs="+", help="square image sizes in pixels (multiples of 256)")
    parser.add_argument("--steps", type=int, help="sampling steps per run")
    parser.add_argument("--reps", type=int, help="most interleaved repetitions per size")
    parser.add_argument("--compile", action="store_true",
                        help="time plain, core and ours compiled by ComfyUI's torch.compile wrapper (inductor)")
    parser.add_argument("--xl", action="store_true",
                        help="GLIGEN-XL on SDXL: parameters, bytes, UNet-call FLOPs plain vs grounded at 1024 (and "
                             "--sizes); on a GPU also timed UNet calls and peak memory")
    parser.add_argument("--xl-reduced", action="store_true",
                        help="with --xl: time a reduced SDXL (every level 320 wide) on any device, to try the timing "
                             "path without a GPU (its timings are not GLIGEN-XL's)")
    parser.add_argument("--budget-s", type=float,
                        help="start another repetition only if it fits before this many seconds from the start "
                             "(default: 420 with --quick on the CPU, none otherwise)")
    args = parser.parse_args(argv)
    device = args.device
    if device == "auto":
        import torch

        device = "gpu" if torch.cuda.is_available() else "cpu"
    on_cpu = device == "cpu"
    if args.xl_reduced and not args.xl:
        parser.error("--xl-reduced goes with --xl")
    if args.xl:  # 1024 is always counted (bench/xl_cost.py adds it); the GPU's steps are one batched call each
        sizes, steps, reps, budget = (), 1 if on_cpu else 20, 1 if on_cpu else 10, None
    elif args.quick:
        sizes, steps, reps, budget = (256,), 3 if on_cpu else 10, 3 if on_cpu else 5, 420.0 if on_cpu else None
    else:
        sizes, steps, reps, budget = (256, 512), 10 if on_cpu else 20, 3 if on_cpu else 10, None
    if args.compile and budget is not None:
        budget += 600.0  # inductor compiles the full-size UNet's graphs in the warm-up runs
    config = Config(tuple(args.sizes or sizes), args.steps or steps, args.reps or reps,
                    args.budget_s if args.budget_s is not None else budget, device, args.compile, args.xl,
                    args.xl_reduced)
    if any(s % 256 for s in config.sizes) or config.steps < 1 or config.reps < 1:
        parser.error("sizes must be multiples of 256 (boxes on a 1/32 grid), steps and reps >= 1")
    return config


def device_name(device: object) -> str:
    """The GPU's name, or the CPU's model name and core count."""
    import torch

    if getattr(device, "type", "cpu") == "cuda":
        return torch.cuda.get_device_name(device)
    cpuinfo = Path("/proc/cpuinfo")
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
              if line.startswith("model name")] if cpuinfo.is_file() else []
    return f"{models[0] if models else platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def log(message: str) -> None:
    """Print a line of the run log at once (the log is read while the benchmark runs)."""
    print(message, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the last line printed is the RESULT line."""
    start = time.perf_counter()
    config = parse_args(argv)
    # devkit.comfy_host.import_comfy pins ComfyUI to the CPU unless GLIGEN_TEST_DEVICE=gpu
    os.environ["GLIGEN_TEST_DEVICE"] = config.device
    from devkit.comfy_host import import_comfy  # ComfyUI's folder first on sys.path (see devkit's docstring)
    from devkit.pack import import_pack

    import_comfy()
    import_pack()
    import torch

    def time_left() -> float:
        if config.budget_s is None:
            return float("inf")
        return config.budget_s - (time.perf_counter() - start)

    if config.xl:
        from .xl_cost import run_xl

        log(f"GLIGEN-XL cost on SDXL: torch {torch.__version__} with {torch.get_num_threads()} threads; "
            f"set-up {time.perf_counter() - start:.1f} s")
        return run_xl(config.sizes, config.steps, config.reps, time_left, log, config.xl_reduced)

    from .measure import PeakMemory, timed_reps, warm_up
    from .report import SizeResult, format_size, result_line, summarize
    from .workload import (
        Variant,
        compiled_variant,
        core_variant,
        depth_variant,
        fuser_weight_bytes,
        inpaint_variant,
        load_host,
        ours_variants,
        plain_variant,
        thirty_boxes,
    )

    host = load_host()
    on_cpu = host.device.type == "cpu"
    if config.device == "gpu" and on_cpu:
        log("WARNING: --device gpu, but ComfyUI chose the CPU")
    log(f"device {host.device} ({device_name(host.device)}), "
        f"UNet dtype {host.dtype}, torch {torch.__version__} with {torch.get_num_threads()} threads; "
        f"sizes {list(config.sizes)}, {config.steps} steps, <= {config.reps} reps"
        + (f", budget {config.budget_s:.0f} s" if config.budget_s else "")
        + f"; set-up {time.perf_counter() - start:.1f} s")

    memory = PeakMemory(host.device)
    boxes = thirty_boxes()
    warmups = {}

    def warm(variant: Variant, size: int, count_flops: bool) -> None:
        result = warm_up(host, variant, size, memory, count_flops)
        warmups[variant.name, size] = result
        flops = "" if result.flops_total is None else f", {result.flops_total / 1e9:.1f} GFLOP"
        log(f"  warm-up {variant.name:<12} {size}: peak {result.peak_bytes / 2**30:.3f} GiB{flops}")

    plain = plain_variant(host)
    for size in config.sizes:  # before any GLIGEN weights are in memory
        warm(plain, size, count_flops=True)
    ours1, ours03 = ours_variants(host, boxes)
    for size in config.sizes:
        warm(ours1, size, count_flops=True)
        warm(ours03, size, count_flops=False)
    core = core_variant(host, boxes)
    for size in config.sizes:
        warm(core, size, count_flops=True)
    others: list[Variant] = []
    if not config.compile:
        # The other file kinds last: their peaks hold every GLIGEN model loaded so far (no memory target).
        others = [depth_variant(host), inpaint_variant(host, boxes)]
        for variant in others:
            for size in config.sizes:
                warm(variant, size, count_flops=False)
    log(f"warm-up runs done at {time.perf_counter() - start:.1f} s; peak memory by {memory.method}")

    variants = [plain, core, ours1, ours03, *others]
    if config.compile:
        variants = [compiled_variant(v) for v in variants]
        for variant in variants:  # every graph (grounded and beta 0) is compiled here, outside the timed runs
            for size in config.sizes:
                began = time.perf_counter()
                warm_up(host, variant, size, memory, count_flops=False, steps=config.steps)
                log(f"  compiled {variant.name:<12} {size}: {time.perf_counter() - began:.1f} s")

    summaries = []
    for size in config.sizes:
        runs = timed_reps(host, variants, size, config.steps, config.reps, time_left, log)
        summaries.append(summarize(SizeResult(
            size, config.steps, runs, {v.name: warmups[v.name, size] for v in variants},
            {v.name: v.grounded_steps(config.steps) for v in variants}, fuser_weight_bytes(ours1))))
        log("")
        log(format_size(summaries[-1], on_cpu))  # each size's table as soon as it is measured
        log("")

    log(f"GLIGEN Suite benchmark on {host.device} ({device_name(host.device)}, {host.dtype}), 30 objects, "
        f"euler, cfg 7.5{', compiled (inductor)' if config.compile else ''}, total {time.perf_counter() - start:.0f} s")
    log(f"RESULT line for {summaries[-1].size} x {summaries[-1].size}:")
    log(result_line(summaries[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
