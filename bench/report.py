"""Medians, fuser share, floors, targets, the table and the RESULT line."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from .flops import MAP_TOKENS, position_net_flops, sd15_fusers_flops
from .measure import CONTENDED, RunTiming, WarmUp

VARIANTS = ("plain", "core", "ours_tau1", "ours_tau03", "ours_depth", "ours_inpaint")
LABELS = {"plain": "plain SD1.5", "core": "ComfyUI core GLIGEN", "ours_tau1": "ours, tau = 1.0",
          "ours_tau03": "ours, tau = 0.3", "ours_depth": "ours, depth map (file default, tau = 0.7)",
          "ours_inpaint": "ours, inpainting (text-box file, every step)"}
FUSER_MODULE = "GatedSelfAttentionDense"  # the class name of both ours and core's fusers
POSITION_NET_MODULES = ("TextBoxPositionNet", "PositionNet")
UNET_MODULE = "UNetModel"
GIB = 1024**3


@dataclass
class SizeResult:
    """Everything measured at one image size."""

    size: int
    steps: int
    runs: list[RunTiming]
    warmups: dict[str, WarmUp]
    grounded: dict[str, list[bool]]  # per variant: which of the `steps` steps run fusers
    fuser_bytes: int  # our 16 fusers' weights


@dataclass
class SizeSummary:
    """Medians, FLOPs and peaks of one size, and the ratios the targets are about."""

    size: int
    steps: int
    run_s: dict[str, float]
    all_run_s: dict[str, list[float]]
    step_s: dict[str, float]
    grounded_step_s: float | None
    ungrounded_step_s: float | None
    plain_unet_flops: int
    fuser_flops: int
    fuser_flops_analytic: int
    core_fuser_flops: int | None
    core_fuser_flops_analytic: int
    step_flops: dict[str, int | None]
    grounded_fraction: float
    map_fuser_flops_analytic: int  # the 16 fusers on 64 map tokens
    fractions: dict[str, float]  # per variant: the share of the steps that run fusers
    peak_bytes: dict[str, int]
    fuser_bytes: int
    finite: bool
    others_cpu: dict[str, list[float | None]]
    used: dict[str, list[bool]]  # per run: counted in the median (False: contended, excluded)

    @property
    def fuser_share(self) -> float:
        """FLOPs of our 16 fusers / FLOPs of the UNet call without them.

        The fusers' count is the analytic one (bench/flops.py), which torch's FlopCounterMode
        matches as long as it sees the attention as matmuls; torch's fused SDPA kernel on the CPU
        (what the fusers use there) is not counted by it, so the measured number is a cross-check
        only (printed beside it)."""
        return self.fuser_flops_analytic / self.plain_unet_flops

    @property
    def floor03(self) -> float:
        return 1.0 + self.grounded_fraction * self.fuser_share

    @property
    def floor1(self) -> float:
        return 1.0 + self.fuser_share

    @property
    def map_fuser_share(self) -> float:
        """The fuser share of a spatial-map file: 64 grounding tokens instead of 30."""
        return self.map_fuser_flops_analytic / self.plain_unet_flops

    @property
    def floor_depth(self) -> float:
        """1 + (grounded steps / steps) x the map fusers' share (the first conv and the once-per-prompt
        tokenizer and downsampler are left out: under 1 % of a step)."""
        return 1.0 + self.fractions["ours_depth"] * self.map_fuser_share

    @property
    def floor_inpaint(self) -> float:
        """1 + (grounded steps / steps) x share: the 9-channel conv and the re-imposition are element-wise."""
        return 1.0 + self.fractions["ours_inpaint"] * self.fuser_share

    @property
    def has_file_kinds(self) -> bool:
        """Whether the depth-map and inpainting rows were measured (not with --compile)."""
        return "ours_depth" in self.run_s and "ours_inpaint" in self.run_s

    def over(self, a: str, b: str) -> float:
        """Median run time of variant a / that of variant b."""
        return self.run_s[a] / self.run_s[b]

    @property
    def ours_peak(self) -> int:
        """Our higher peak of the two schedules."""
        return max(self.peak_bytes["ours_tau1"], self.peak_bytes["ours_tau03"])

    @property
    def memory_limit(self) -> float:
        """The memory target: (plain's peak + our fusers' weights) x 1.05."""
        return (self.peak_bytes["plain"] + self.fuser_bytes) * 1.05


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _module_flops(warm: WarmUp, names: tuple[str, ...]) -> int:
    return sum(warm.flops_by_module.get(n, 0) for n in names)


def summarize(result: SizeResult) -> SizeSummary:
    """Medians per variant and the measured fuser share of one UNet call at this size."""
    present = [v for v in VARIANTS if v in result.grounded]  # --compile leaves the map and inpainting rows out
    every_run = {v: [r for r in result.runs if r.variant == v] for v in present}
    # Medians use the runs no other process disturbed, where a variant has any (measure.timed_reps).
    runs = {v: [r for r in rs if not r.contended] or rs for v, rs in every_run.items()}
    steps03 = [(s, g) for r in runs["ours_tau03"] for s, g in zip(r.step_s, result.grounded["ours_tau03"], strict=True)]
    plain, ours1 = result.warmups["plain"], result.warmups["ours_tau1"]
    plain_unet = plain.flops_by_module.get(UNET_MODULE) or plain.flops_total or 0
    # Our fusers, measured in one grounded step; cross-checked with the growth of the whole step.
    fuser = ours1.flops_by_module.get(FUSER_MODULE)
    if fuser is None:
        fuser = (ours1.flops_total or 0) - (plain.flops_total or 0) - _module_flops(ours1, POSITION_NET_MODULES)
    core = result.warmups["core"]
    core_fuser = core.flops_by_module.get(FUSER_MODULE)
    grounded03 = result.grounded["ours_tau03"]
    return SizeSummary(
        size=result.size, steps=result.steps,
        run_s={v: _median([r.total_s for r in runs[v]]) for v in present},
        all_run_s={v: [r.total_s for r in every_run[v]] for v in present},
        step_s={v: _median([s for r in runs[v] for s in r.step_s]) for v in present},
        grounded_step_s=_median([s for s, g in steps03 if g]) if any(grounded03) else None,
        ungrounded_step_s=_median([s for s, g in steps03 if not g]) if not all(grounded03) else None,
        plain_unet_flops=plain_unet, fuser_flops=fuser,
        fuser_flops_analytic=sd15_fusers_flops(result.size, batch=2),
        core_fuser_flops=core_fuser, core_fuser_flops_analytic=sd15_fusers_flops(result.size, batch=2, core=True),
        step_flops={v: w.flops_total for v, w in result.warmups.items()},
        grounded_fraction=sum(grounded03) / len(grounded03),
        map_fuser_flops_analytic=sd15_fusers_flops(result.size, batch=2, objects=MAP_TOKENS),
        fractions={v: sum(g) / len(g) for v, g in result.grounded.items()},
        peak_bytes={v: w.peak_bytes for v, w in result.warmups.items()},
        fuser_bytes=result.fuser_bytes,
        finite=all(r.finite for r in result.runs),
        others_cpu={v: [r.others_cpu for r in every_run[v]] for v in present},
        used={v: [r in runs[v] for r in every_run[v]] for v in present},
    )


@dataclass
class Target:
    """One target of the issue, whether this run meets it, and the numbers."""

    name: str
    met: bool | None  # None: not a target on this device
    detail: str


def targets(s: SizeSummary, on_cpu: bool) -> list[Target]:
    """The issue's targets at one size."""
    r03, r1 = s.over("ours_tau03", "plain"), s.over("ours_tau1", "plain")
    c03, c1 = s.over("core", "ours_tau03"), s.over("core", "ours_tau1")
    peak, limit = s.ours_peak, s.memory_limit
    found = [
        Target("ours tau 0.3 within 3% of its floor", r03 <= s.floor03 * 1.03,
               f"{r03:.4f} vs floor {s.floor03:.4f} ({(r03 / s.floor03 - 1) * 100:+.1f}%)"),
        Target("ours tau 1.0 within 5% of its floor", r1 <= s.floor1 * 1.05,
               f"{r1:.4f} vs floor {s.floor1:.4f} ({(r1 / s.floor1 - 1) * 100:+.1f}%)"),
        Target("core / ours tau 0.3 >= 1.25 (CPU)", c03 >= 1.25 if on_cpu else None, f"{c03:.4f}"),
        Target("core / ours tau 1.0 >= 1.0", c1 >= 1.0, f"{c1:.4f}"),
        Target("ours peak <= (plain + fuser weights) x 1.05", peak <= limit,
               f"{peak / GIB:.3f} GiB vs limit {limit / GIB:.3f} GiB "
               f"(plain {s.peak_bytes['plain'] / GIB:.3f} + fusers {s.fuser_bytes / GIB:.3f})"),
    ]
    if s.has_file_kinds:
        found[4:4] = [
            Target("ours, depth map, within 5% of its floor", s.over("ours_depth", "plain") <= s.floor_depth * 1.05,
                   _vs_floor(s.over("ours_depth", "plain"), s.floor_depth)),
            Target("ours, inpainting, within 5% of its floor",
                   s.over("ours_inpaint", "plain") <= s.floor_inpaint * 1.05,
                   _vs_floor(s.over("ours_inpaint", "plain"), s.floor_inpaint)),
        ]
    return found


def _vs_floor(ratio: float, floor: float) -> str:
    return f"{ratio:.4f} vs floor {floor:.4f} ({(ratio / floor - 1) * 100:+.1f}%)"


def _verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("MET" if met else "NOT MET")


def _gflop(value: int | None) -> str:
    return "-" if value is None else f"{value / 1e9:.1f}"


def _step_gflop(s: SizeSummary, variant: str) -> str:
    """GFLOP of one step; ours from the analytic fuser count (torch's counter misses the fused CPU kernel)."""
    if variant == "ours_tau1":
        return _gflop(s.plain_unet_flops + s.fuser_flops_analytic)
    if variant == "ours_tau03":  # the mean over the run's steps
        return f"{(s.plain_unet_flops + s.grounded_fraction * s.fuser_flops_analytic) / 1e9:.1f} (mean)"
    return _gflop(s.step_flops.get(variant))


def _run_cell(seconds: float, others: float | None, used: bool) -> str:
    cell = f"{seconds:.2f}" + ("" if others is None else f" ({others:.0%})")
    return cell if used else f"~~{cell}~~"


def format_size(s: SizeSummary, on_cpu: bool) -> str:
    """A markdown table of one size, then its FLOP accounting and its targets."""
    lines = [f"### {s.size} x {s.size}, {s.steps} steps, CFG (cond + uncond), "
             f"interleaved repetitions, medians of the counted runs (struck out: other processes used "
             f"> {CONTENDED:.0%} of the CPUs during the run, not counted)",
             "",
             "| variant | run s (median) | runs s (other processes' CPU share) | step s (median) | vs plain "
             "| GFLOP / step | peak mem GiB |",
             "|---|---:|---|---:|---:|---:|---:|"]
    for v in s.run_s:
        runs = " ".join(_run_cell(x, o, u) for x, o, u in zip(s.all_run_s[v], s.others_cpu[v], s.used[v],
                                                                  strict=True))
        lines.append(f"| {LABELS[v]} | {s.run_s[v]:.2f} | {runs} | {s.step_s[v]:.2f} | "
                     f"{s.over(v, 'plain'):.3f} | {_step_gflop(s, v)} | "
                     f"{s.peak_bytes.get(v, 0) / GIB:.3f} |")
    lines.append("")
    if s.grounded_step_s is not None and s.ungrounded_step_s is not None:
        lines.append(f"ours tau 0.3 per step: grounded {s.grounded_step_s:.2f} s "
                     f"({s.grounded_step_s / s.step_s['plain']:.3f} x plain), fusers off "
                     f"{s.ungrounded_step_s:.2f} s ({s.ungrounded_step_s / s.step_s['plain']:.3f} x plain)")
    n_on = round(s.grounded_fraction * s.steps)
    lines += [
        f"UNet call (no fusers): {s.plain_unet_flops / 1e9:.1f} GFLOP; our 16 fusers: "
        f"{s.fuser_flops_analytic / 1e9:.1f} GFLOP analytic (batch 2 = cond + uncond), {s.fuser_flops / 1e9:.1f} "
        "measured by torch's counter" + (" (it does not count the fused CPU attention kernel)"
                                         if s.fuser_flops < 0.99 * s.fuser_flops_analytic else ""),
        f"core's 16 fusers: {_gflop(s.core_fuser_flops)} GFLOP measured, "
        f"{s.core_fuser_flops_analytic / 1e9:.1f} analytic, plus its position net "
        f"{2 * position_net_flops() / 1e9:.2f} GFLOP per step",
        f"fuser_share = {s.fuser_share:.4f}; floor1 = 1 + share = {s.floor1:.4f}; floor03 = 1 + "
        f"{s.grounded_fraction:.3f} x share = {s.floor03:.4f} (tau 0.3 grounds {n_on} of {s.steps} steps)",
    ]
    if s.has_file_kinds:
        lines.append(f"depth map: 64 tokens, share {s.map_fuser_share:.4f}, grounded "
                     f"{s.fractions['ours_depth']:.3f} of the steps: floor {s.floor_depth:.4f}; inpainting: grounded "
                     f"{s.fractions['ours_inpaint']:.3f}, floor {s.floor_inpaint:.4f} (both count the fusers only)")
    if not s.finite:
        lines.append("WARNING: some sampled latents are not finite")
    lines.append("")
    lines += [f"- {_verdict(t.met)}: {t.name}: {t.detail}" for t in targets(s, on_cpu)]
    return "\n".join(lines)


def result_line(s: SizeSummary) -> str:
    """The last line of the output, for the size given."""
    fields = {
        "plain_s": f"{s.run_s['plain']:.3f}", "core_s": f"{s.run_s['core']:.3f}",
        "ours_tau1_s": f"{s.run_s['ours_tau1']:.3f}", "ours_tau03_s": f"{s.run_s['ours_tau03']:.3f}",
        "fuser_share": f"{s.fuser_share:.4f}",
        "ours03_over_plain": f"{s.over('ours_tau03', 'plain'):.4f}", "floor03": f"{s.floor03:.4f}",
        "ours1_over_plain": f"{s.over('ours_tau1', 'plain'):.4f}", "floor1": f"{s.floor1:.4f}",
        "core_over_ours03": f"{s.over('core', 'ours_tau03'):.4f}",
        "core_over_ours1": f"{s.over('core', 'ours_tau1'):.4f}",
        "peak_mem_over_plain": f"{s.ours_peak / s.peak_bytes['plain']:.4f}",
    }
    if s.has_file_kinds:
        fields |= {"depth_over_plain": f"{s.over('ours_depth', 'plain'):.4f}", "floor_depth": f"{s.floor_depth:.4f}",
                   "inpaint_over_plain": f"{s.over('ours_inpaint', 'plain'):.4f}",
                   "floor_inpaint": f"{s.floor_inpaint:.4f}"}
    return "RESULT " + " ".join(f"{k}={v}" for k, v in fields.items())
