"""Timing, peak memory and FLOP counting of one sampling run through ComfyUI's real sampler.

Peak memory:
- CUDA: `torch.cuda.max_memory_allocated` after `reset_peak_memory_stats` (tensors on the GPU:
  every model resident there plus the run's activations).
- CPU: the process's resident-set high-water mark (`VmHWM` in /proc/self/status), reset before
  the run by writing 5 to /proc/self/clear_refs. It counts everything resident (all loaded
  weights, activations, allocator slack). Where clear_refs is not writable it falls back to
  `ru_maxrss`, which never goes down, and says so.
"""

from __future__ import annotations

import gc
import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from .workload import Host, Variant

CFG = 7.5
SAMPLER = "euler"
SCHEDULER = "normal"
SEED = 0
CLEAR_REFS = Path("/proc/self/clear_refs")
PROC_STAT = Path("/proc/stat")
CONTENDED = 0.10  # other processes' share of all CPUs above which a timed run is run again
MAX_RETRIES = 2


@dataclass
class RunTiming:
    """One timed sampling run: its wall time and the time of each step (step 0 includes set-up)."""

    variant: str
    size: int
    total_s: float
    step_s: list[float]
    finite: bool
    others_cpu: float | None  # share of all cores used by other processes during the run

    @property
    def contended(self) -> bool:
        """Other processes used more than CONTENDED of the CPUs during the run."""
        return self.others_cpu is not None and self.others_cpu > CONTENDED


CpuReading = tuple[float, float] | None


def _cpu_seconds() -> CpuReading:
    """(busy CPU seconds of the whole machine, CPU seconds of this process); None without /proc/stat."""
    try:
        fields = [float(v) for v in PROC_STAT.read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    busy = sum(fields[:8]) - fields[3] - fields[4]  # user..steal, less idle and iowait
    own = os.times()
    return busy / os.sysconf("SC_CLK_TCK"), own.user + own.system


def others_cpu_share(before: CpuReading, after: CpuReading, wall_s: float) -> float | None:
    """How much of the machine other processes used between two `_cpu_seconds()` readings (0 to 1)."""
    if before is None or after is None or wall_s <= 0:
        return None
    others = (after[0] - before[0]) - (after[1] - before[1])
    return max(0.0, others / (wall_s * (os.cpu_count() or 1)))


def fixed_noise(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(empty latent, noise) for one size x size image; the same noise for every variant."""
    import comfy.sample

    latent = torch.zeros(1, 4, size // 8, size // 8)
    return latent, comfy.sample.prepare_noise(latent, SEED)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def sample_timed(host: Host, variant: Variant, size: int, steps: int) -> RunTiming:
    """Sample one image like KSampler (euler, normal, cfg 7.5, fixed noise) and time it per step."""
    import comfy.sample

    latent, noise = fixed_noise(size)
    positive = variant.positive_for(size)  # built before the clock starts (core: 30 CLIP calls once)
    stamps: list[float] = []

    def on_step(*_args: Any) -> None:
        _synchronize(host.device)
        stamps.append(time.perf_counter())

    _synchronize(host.device)
    cpu_before = _cpu_seconds()
    start = time.perf_counter()
    out = comfy.sample.sample(variant.model_at(size), noise, steps, CFG, SAMPLER, SCHEDULER, positive, host.negative,
                              latent, denoise=1.0, disable_pbar=True, seed=SEED, callback=on_step)
    _synchronize(host.device)
    end = time.perf_counter()
    others = others_cpu_share(cpu_before, _cpu_seconds(), end - start)
    edges = [start, *stamps]
    step_s = [b - a for a, b in zip(edges, edges[1:], strict=False)]
    return RunTiming(variant.name, size, end - start, step_s, bool(torch.isfinite(out).all()), others)


class PeakMemory:
    """Peak memory of a block of work on the host's device (see the module docstring)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.method = "torch.cuda.max_memory_allocated" if device.type == "cuda" else "VmHWM (peak RSS)"
        if device.type != "cuda" and not self._can_reset_rss():
            self.method = "ru_maxrss (process-wide, never reset: an upper bound)"

    @staticmethod
    def _can_reset_rss() -> bool:
        try:
            CLEAR_REFS.write_text("5")
            return True
        except OSError:
            return False

    def reset(self) -> None:
        """Start a new peak from what is in memory now."""
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
        elif self.method.startswith("VmHWM"):
            CLEAR_REFS.write_text("5")

    def peak_bytes(self) -> int:
        """The peak since the last reset."""
        if self.device.type == "cuda":
            return int(torch.cuda.max_memory_allocated(self.device))
        if self.method.startswith("VmHWM"):
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class WarmUp:
    """The first (1-step) run of a variant at a size: its peak memory and, if counted, its FLOPs."""

    variant: str
    size: int
    peak_bytes: int
    flops_total: int | None
    flops_by_module: dict[str, int]


def warm_up(host: Host, variant: Variant, size: int, memory: PeakMemory, count_flops: bool,
            steps: int = 1) -> WarmUp:
    """One 1-step run: loads what the variant needs, measures its peak memory, optionally counts FLOPs.

    FLOPs are those of torch's FlopCounterMode (matmuls, convolutions, attention kernels; 2 per
    multiply-add), for the one batched UNet call of a CFG step (two calls for core), by module.
    """
    variant.positive_for(size)  # core's 30 CLIP calls happen here, outside the measurement
    memory.reset()
    if count_flops:
        counter = FlopCounterMode(display=False)
        with counter:
            sample_timed(host, variant, size, steps)
        by_module = {name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()}
        flops: int | None = counter.get_total_flops()
    else:
        sample_timed(host, variant, size, steps)
        by_module, flops = {}, None
    return WarmUp(variant.name, size, memory.peak_bytes(), flops, by_module)


def timed_reps(host: Host, variants: list[Variant], size: int, steps: int, max_reps: int,
               time_left: Callable[[], float], log: Callable[[str], None]) -> list[RunTiming]:
    """Interleaved repetitions (v1, v2, ..., v1, v2, ...) until max_reps or the time budget runs out.

    At least one repetition always runs; another starts only if the last one fits in the time left.
    A run during which other processes used more than CONTENDED of the CPUs is kept (marked
    `contended`) and run again right away, at most MAX_RETRIES times and only if it fits in the
    time left; medians use the uncontended runs where a variant has any.
    """
    runs: list[RunTiming] = []
    for rep in range(max_reps):
        rep_start = time.perf_counter()
        for variant in variants:
            for attempt in range(MAX_RETRIES + 1):
                run = sample_timed(host, variant, size, steps)
                runs.append(run)
                others = "" if run.others_cpu is None else f"  (other processes: {run.others_cpu:.0%} of the CPUs)"
                log(f"  size {size} rep {rep + 1} {variant.name:<12} {run.total_s:8.2f} s  steps "
                    + " ".join(f"{s:.2f}" for s in run.step_s) + others + ("  contended" if run.contended else ""))
                fastest = min(r.total_s for r in runs if r.variant == variant.name)
                if not run.contended or attempt == MAX_RETRIES or fastest > time_left():
                    break
        if time.perf_counter() - rep_start > time_left():
            break
    return runs
