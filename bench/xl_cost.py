"""What GLIGEN-XL costs on SDXL (`bench/run --xl`): its size, FLOPs per UNet call plain vs grounded, GPU timings.

1. Size: a GLIGEN-XL-shaped model built by the pack itself: a GligenCheckpoint parsed from a state dict of the
   published shapes and names (shared/gligen-xl-reference.md 1.2-1.4: 70 fusers in the diffusers layout, context
   2048, the text-box position net 2112 -> 512 -> 512 -> 2048), then GligenModel. The fusers' tensors are zeros
   in never-written memory maps (no resident memory); the count must be 1,812,438,988.
2. FLOPs: ComfyUI's full SDXL UNet (devkit/meta_models.py, built and detected by ComfyUI on the meta device), one
   UNet call at the CFG batch of 2 (cond and uncond in one call, as the sampler batches them), counted by torch's
   FlopCounterMode: plain, and grounded by our patch (`apply_grounding`, 30 objects, beta 1) with the XL
   model's fusers moved to the meta device. The call goes through BaseModel.apply_model with the patched
   MODEL's wrappers and middle patch, as the sampler's calc_cond_batch passes them. The host's attention is
   counted as torch SDPA (ComfyUI's GPU default) through ComfyUI's `optimized_attention_override`: the CPU
   default (sub-quadratic) asks the device for free memory, which meta tensors do not have; the FLOPs are the
   same. The fusers' count is checked against bench/flops.py's analytic XL formula.
3. Timing (only where ComfyUI picks CUDA): a full-size random-weight SDXL UNet in fp16 loaded by ComfyUI
   (`comfy.sd.load_diffusion_model_state_dict`) and a random GLIGEN-XL model as a ComfyUI-managed model
   (ModelPatcher, loaded with `load_models_gpu` beside the UNet), sampled through ComfyUI's sampler
   (bench/measure.py): interleaved repetitions plain, grounded, plain, ...; each step is one batched UNet call, so
   the per-step medians are the cost of a UNet call. Peak memory per variant as in the SD1.5 benchmark.

Building anything here imports ComfyUI; call `devkit.comfy_host.import_comfy()` first.
"""

from __future__ import annotations

import math
import mmap
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from . import flops
from .report import FUSER_MODULE, UNET_MODULE
from .workload import GRID, Variant, thirty_boxes

XL_PARAMETERS = 1_812_438_988  # shared/gligen-xl-reference.md 1.3
XL_FUSER_PARAMETERS = 1_810_041_740
CONTEXT_DIM = flops.XL_TOKEN_DIM  # SDXL's cross-attention width = GLIGEN-XL's token and phrase width
ADM_DIM = 2816  # SDXL's y: pooled bigG (1280) + 6 x 256 size embeddings
POOLED_DIM = 1280
PROMPT_TOKENS = 77
CFG_BATCH = 2  # cond + uncond in one UNet call
HEAD_DIM = 64
DEFAULT_SIZE = 1024
SEED = 0
# GLIGEN-XL's SpatialTransformers in the diffusers names it is published under, forward order (flops.XL_FUSER_BLOCKS
# gives their widths, token-count factors and depths).
XL_TRANSFORMER_NAMES = (
    "down_blocks.1.attentions.0", "down_blocks.1.attentions.1", "down_blocks.2.attentions.0",
    "down_blocks.2.attentions.1", "mid_block.attentions.0", "up_blocks.0.attentions.0", "up_blocks.0.attentions.1",
    "up_blocks.0.attentions.2", "up_blocks.1.attentions.0", "up_blocks.1.attentions.1", "up_blocks.1.attentions.2",
)
# A reduced SDXL for trying the timing path on a CPU (`--xl-reduced`): every level 320 wide, SDXL's depths, so all
# 70 transformer blocks at C = 320 (283 M UNet parameters); ComfyUI still detects it as SDXL.
REDUCED_UNET = {"channel_mult": [1, 1, 1]}
REDUCED_WIDTH = 320

TensorMaker = Callable[[str, tuple[int, ...]], torch.Tensor]


# ---- 1. the GLIGEN-XL model -----------------------------------------------------------------------------------
def xl_state_dict(make: TensorMaker, width: int | None = None) -> dict[str, torch.Tensor]:
    """GLIGEN-XL's trained tensors in its published (diffusers) names: 70 fusers + `position_net.*`.
    make(key, shape) gives each tensor; width: one width for every fuser instead of the published 640 / 1280."""
    from devkit.gligen_checkpoints import fuser_shapes, text_box_position_net_shapes

    state: dict[str, torch.Tensor] = {}
    for name, (channels, _factor, depth) in zip(XL_TRANSFORMER_NAMES, flops.XL_FUSER_BLOCKS, strict=True):
        for t in range(depth):
            for key, shape in fuser_shapes(width or channels, CONTEXT_DIM).items():
                full = f"{name}.transformer_blocks.{t}.fuser.{key}"
                state[full] = make(full, shape)
    for key, shape in text_box_position_net_shapes(CONTEXT_DIM, CONTEXT_DIM).items():
        state[f"position_net.{key}"] = make(f"position_net.{key}", shape)
    return state


def untouched_zeros(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """Zeros in a private anonymous memory map that nothing writes: the kernel maps its zero page for every read,
    so even a full read (the loader's finite-values check) costs no resident memory."""
    count = math.prod(shape)
    size = max(1, count * torch.empty((), dtype=dtype).element_size())
    buffer = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)  # private: reads map the zero page
    return torch.frombuffer(buffer, dtype=dtype, count=count).view(shape)  # the tensor keeps the map alive


def _weight_or_zeros(key: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """Untouched zeros for a weight; real values where they are read as values (the gates, read once as floats;
    the position net, small, run on the CPU for the grounding tokens)."""
    if key.startswith("position_net."):
        return torch.randn(shape, generator=torch.Generator().manual_seed(len(key)), dtype=dtype) * 0.02
    if key.endswith(("alpha_attn", "alpha_dense")):
        return torch.full(shape, 0.5, dtype=dtype)
    return untouched_zeros(shape, dtype)


def empty_xl_checkpoint(dtype: torch.dtype = torch.float16) -> Any:
    """A GligenCheckpoint of GLIGEN-XL's published shapes whose big tensors take no memory (untouched zeros)."""
    from gligen_suite.gligen_model.checkpoint import parse_gligen_state_dict

    state = xl_state_dict(lambda key, shape: _weight_or_zeros(key, shape, dtype))
    return parse_gligen_state_dict(state, "gligen-xl-1024 (published shapes, no weights)")


def random_xl_checkpoint(device: torch.device, dtype: torch.dtype, width: int | None = None, seed: int = SEED) -> Any:
    """A GligenCheckpoint of GLIGEN-XL's shapes with random weights, made on `device` and held on the CPU (as a
    file read there would be); trained-like gates (tanh(alpha) 0.3-0.95) and unit norms."""
    from gligen_suite.gligen_model.checkpoint import parse_gligen_state_dict

    gen = torch.Generator(device=device).manual_seed(seed)

    def make(key: str, shape: tuple[int, ...]) -> torch.Tensor:
        if key.endswith(("alpha_attn", "alpha_dense")):
            value = torch.rand(shape, generator=gen, device=device) * 1.5 + 0.3
        elif key.endswith(("norm1.weight", "norm2.weight")):
            value = 1 + 0.1 * torch.randn(shape, generator=gen, device=device)
        else:
            fan_in = shape[-1] if len(shape) == 2 else 1
            value = torch.randn(shape, generator=gen, device=device, dtype=dtype) / fan_in ** 0.5
        return value.to("cpu", dtype)

    return parse_gligen_state_dict(xl_state_dict(make, width), "gligen-xl (random weights)")


def build_xl_model(checkpoint: Any, operations: Any = None, attention: Any = None) -> Any:
    """The pack's GligenModel for a GLIGEN-XL checkpoint (torch.nn layers and torch SDPA unless given)."""
    from gligen_suite.gligen_model import GligenModel
    from gligen_suite.gligen_model.ops import sdpa_attention
    from torch import nn

    return GligenModel(checkpoint, operations=operations or nn, attention=attention or sdpa_attention)


def parameter_counts(model: Any) -> tuple[int, int]:
    """(parameters of the fusers, parameters of the position net)."""
    return (sum(p.numel() for p in model.fusers.parameters()), sum(p.numel() for p in model.position_net.parameters()))


def xl_grounding(seed: int = SEED) -> Any:
    """The benchmark's 30 boxes (normalized) with random 2048-wide phrase features, as Text-Box Encode gives them."""
    from gligen_suite.gligen_model.grounding import BoxGrounding

    boxes = thirty_boxes()
    gen = torch.Generator().manual_seed(seed)
    features = torch.randn(len(boxes), CONTEXT_DIM, generator=gen)
    xyxy = torch.tensor([[b.x0, b.y0, b.x1, b.y1] for b in boxes], dtype=torch.float32) / GRID
    return BoxGrounding(tuple(b.phrase for b in boxes), features, xyxy)


def gligen_patcher(model: Any, load_device: torch.device, offload_device: torch.device) -> Any:
    """The GLIGEN model wrapped the way the loader node wraps it (nodes/loader_node.py load_gligen_patcher)."""
    import comfy.model_patcher

    return comfy.model_patcher.ModelPatcher(model, load_device=load_device, offload_device=offload_device)


# ---- 2. FLOPs per UNet call -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CallFlops:
    """One counted UNet call (CFG batch of 2) at a size: totals and by module."""

    size: int
    plain: int
    grounded: int
    fusers: int  # GatedSelfAttentionDense, the 70 fusers
    unet_in_grounded: int  # UNetModel in the grounded call (its blocks plus the fusers they call)

    @property
    def ratio(self) -> float:
        return self.grounded / self.plain

    @property
    def analytic_fusers(self) -> int:
        return flops.xl_fusers_flops(self.size, batch=CFG_BATCH)

    @property
    def other(self) -> int:
        """Grounded minus plain minus fusers: the position net (layout and null tokens, once per patch)."""
        return self.grounded - self.plain - self.fusers


def _sdpa_override(func: Any, *args: Any, **kwargs: Any) -> Any:
    """ComfyUI's optimized_attention_override: every host attention as attention_pytorch (torch SDPA)."""
    from comfy.ldm.modules.attention import attention_pytorch

    return attention_pytorch(*args, **kwargs)


def count_unet_call(model: Any, size: int) -> FlopCounterMode:
    """FlopCounterMode of one UNet call of `model` (a meta-device ModelPatcher) for a CFG batch of size x size
    latents, through BaseModel.apply_model with the MODEL's patches and wrappers as the sampler passes them."""
    import comfy.patcher_extension

    base = model.model
    options = comfy.patcher_extension.merge_nested_dicts({}, model.model_options.get("transformer_options", {}))
    options["wrappers"] = comfy.patcher_extension.merge_nested_dicts({}, model.wrappers)
    side = size // 8
    meta = torch.device("meta")
    options.update(cond_or_uncond=[0, 1], uuids=[None, None], sigmas=torch.empty(CFG_BATCH, device=meta),
                   optimized_attention_override=_sdpa_override)
    x = torch.empty(CFG_BATCH, 4, side, side, device=meta)
    context = torch.empty(CFG_BATCH, PROMPT_TOKENS, CONTEXT_DIM, device=meta)
    y = torch.empty(CFG_BATCH, ADM_DIM, device=meta)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        out = base.apply_model(x, options["sigmas"], c_crossattn=context, transformer_options=options, y=y)
    assert out.shape == x.shape, out.shape
    return counter


def _module_total(counter: FlopCounterMode, name: str) -> int:
    return sum(counter.get_flop_counts().get(name, {}).values())


def meta_sdxl() -> Any:
    """ComfyUI's full SDXL MODEL on the meta device, its sampling schedule there too (sigma is a meta tensor)."""
    from devkit.meta_models import meta_unet_model

    model = meta_unet_model("SDXL")
    model.get_model_object("model_sampling").to("meta")
    return model


def count_flops(sizes: tuple[int, ...], xl_model: Any) -> list[CallFlops]:
    """Plain vs grounded UNet-call FLOPs of full SDXL per size; xl_model's fusers must be on the meta device."""
    from gligen_suite.gligen_model import BetaSchedule
    from gligen_suite.nodes.apply_node import apply_grounding

    plain_model = meta_sdxl()
    cpu = torch.device("cpu")
    patcher = gligen_patcher(xl_model, cpu, cpu)
    grounding = xl_grounding()
    results = []
    for size in sizes:
        plain = count_unet_call(plain_model, size)
        grounded_model = apply_grounding(plain_model, patcher, grounding, BetaSchedule.constant())  # fresh caches
        grounded = count_unet_call(grounded_model, size)
        results.append(CallFlops(size, plain.get_total_flops(), grounded.get_total_flops(),
                                 _module_total(grounded, FUSER_MODULE), _module_total(grounded, UNET_MODULE)))
    return results


# ---- 3. timing on a GPU ---------------------------------------------------------------------------------------
def random_unet_state_dict(unet_config: dict[str, Any], device: torch.device, dtype: torch.dtype,
                           seed: int = SEED) -> dict[str, torch.Tensor]:
    """Random weights for ComfyUI's UNetModel of `unet_config`, made on `device`: weights ~ N(0, 1/fan_in), norm
    scales 1, biases 0 (what a real file's statistics are near; speed depends on shapes only)."""
    import comfy.ops
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    with torch.device("meta"):
        unet = UNetModel(**unet_config, operations=comfy.ops.disable_weight_init)
    gen = torch.Generator(device=device).manual_seed(seed)
    state = {}
    for key, tensor in unet.state_dict().items():
        shape = tuple(tensor.shape)
        if len(shape) >= 2:
            fan_in = max(1, tensor[0].numel())
            state[key] = torch.randn(shape, generator=gen, device=device, dtype=dtype) / fan_in ** 0.5
        elif "norm" in key and key.endswith("weight"):
            state[key] = torch.ones(shape, device=device, dtype=dtype)
        else:
            state[key] = torch.zeros(shape, device=device, dtype=dtype)
    return state


def sdxl_unet_config(reduced: bool) -> dict[str, Any]:
    """ComfyUI's SDXL unet_config (devkit/meta_models.py's layout), or the reduced one."""
    from devkit.meta_models import _UNET_COMMON, UNET_LAYOUTS

    return {**_UNET_COMMON, **UNET_LAYOUTS["SDXL"], **(REDUCED_UNET if reduced else {})}


def load_random_sdxl(reduced: bool) -> Any:
    """A random-weight SDXL UNet loaded by ComfyUI as a diffusion model (fp16 on a GPU, the host's dtype on a CPU)."""
    import comfy.model_management
    import comfy.sd

    device = comfy.model_management.get_torch_device()
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    state = random_unet_state_dict(sdxl_unet_config(reduced), device, dtype)
    model = comfy.sd.load_diffusion_model_state_dict(state, model_options={"dtype": dtype})
    if model is None or type(model.model).__name__ != "SDXL":
        raise RuntimeError(f"ComfyUI did not load the random UNet as SDXL: {None if model is None else model.model}")
    return model


def xl_gligen_for_device(reduced: bool) -> Any:
    """A random GLIGEN-XL model wrapped like the loader node does (nodes/loader_node.py load_gligen_patcher): the
    host's casting ops, the fusers' attention for the device, fp16 where ComfyUI computes in fp16."""
    import comfy.model_management
    import comfy.ops
    from gligen_suite.nodes.patch.fuser_attention import fuser_attention

    load_device = comfy.model_management.get_torch_device()
    fp16 = comfy.model_management.should_use_fp16(load_device)
    checkpoint = random_xl_checkpoint(load_device, torch.float16 if fp16 else torch.float32,
                                      REDUCED_WIDTH if reduced else None)
    model = build_xl_model(checkpoint, comfy.ops.manual_cast, fuser_attention(load_device.type))
    return gligen_patcher(model, load_device, comfy.model_management.unet_offload_device())


def sdxl_conds(size: int, seed: int) -> list:
    """A random SDXL prompt cond (context + pooled output) for a size x size image."""
    gen = torch.Generator().manual_seed(seed)
    return [[torch.randn(1, PROMPT_TOKENS, CONTEXT_DIM, generator=gen),
             {"pooled_output": torch.randn(1, POOLED_DIM, generator=gen), "width": size, "height": size}]]


@dataclass(frozen=True)
class SizeTiming:
    """Timed UNet calls at one size: per-call medians (seconds) and peaks (bytes) of plain and grounded."""

    size: int
    plain_call_s: float
    grounded_call_s: float
    plain_run_s: float
    grounded_run_s: float
    plain_peak: int
    grounded_peak: int
    calls: int  # per variant, in the medians

    @property
    def ratio(self) -> float:
        return self.grounded_call_s / self.plain_call_s


def _per_call_times(runs: list[Any], name: str) -> tuple[list[float], list[float]]:
    """(UNet-call times, run times) of a variant's uncontended runs (all runs if every one was contended); a run's
    first step also holds the sampler's set-up, so it is left out where a run has more than one step."""
    mine = [r for r in runs if r.variant == name]
    used = [r for r in mine if not r.contended] or mine
    calls = [s for r in used for s in (r.step_s[1:] if len(r.step_s) > 1 else r.step_s)]
    return calls, [r.total_s for r in used]


def time_on_device(sizes: tuple[int, ...], steps: int, reps: int, time_left: Callable[[], float],
                   log: Callable[[str], None], reduced: bool = False) -> tuple[list[SizeTiming], dict[str, Any]]:
    """Interleaved plain vs grounded sampling runs per size; returns the timings and what was loaded."""
    import comfy.model_management
    from gligen_suite.gligen_model import BetaSchedule
    from gligen_suite.nodes.apply_node import apply_grounding

    from .measure import PeakMemory, timed_reps, warm_up
    from .workload import Host

    unet = load_random_sdxl(reduced)
    gligen = xl_gligen_for_device(reduced)
    positive = {size: sdxl_conds(size, 1) for size in sizes}
    negative = sdxl_conds(DEFAULT_SIZE, 2)
    host = Host(unet, None, negative, negative)
    grounded_model = apply_grounding(unet, gligen, xl_grounding(), BetaSchedule.constant())
    plain = Variant("plain", "plain SDXL", unet, positive.__getitem__, lambda n: [False] * n)
    grounded = Variant("gligen_xl", "GLIGEN-XL, 30 objects, tau 1", grounded_model, positive.__getitem__,
                       lambda n: [True] * n, gligen)
    memory = PeakMemory(host.device)
    peaks: dict[tuple[str, int], int] = {}
    for size in sizes:  # before GLIGEN-XL is on the device
        peaks["plain", size] = warm_up(host, plain, size, memory, count_flops=False).peak_bytes
        log(f"  warm-up plain     {size}: peak {peaks['plain', size] / 2**30:.3f} GiB")
    comfy.model_management.load_models_gpu([grounded_model, gligen])  # the fusers as a ComfyUI-managed model
    loaded = {type(m.model.model).__name__: m.model.loaded_size() for m in comfy.model_management.current_loaded_models}
    log("  loaded by ComfyUI: " + ", ".join(f"{name} {size / 2**30:.3f} GiB" for name, size in loaded.items()))
    for size in sizes:
        peaks["gligen_xl", size] = warm_up(host, grounded, size, memory, count_flops=False).peak_bytes
        log(f"  warm-up gligen_xl {size}: peak {peaks['gligen_xl', size] / 2**30:.3f} GiB")
    timings = []
    for size in sizes:
        runs = timed_reps(host, [plain, grounded], size, steps, reps, time_left, log)
        if not all(r.finite for r in runs):
            log(f"  note: some outputs at {size} are not finite (random weights); the timings do not depend on values")
        plain_calls, plain_runs = _per_call_times(runs, "plain")
        grounded_calls, grounded_runs = _per_call_times(runs, "gligen_xl")
        timings.append(SizeTiming(size, statistics.median(plain_calls), statistics.median(grounded_calls),
                                  statistics.median(plain_runs), statistics.median(grounded_runs),
                                  peaks["plain", size], peaks["gligen_xl", size],
                                  min(len(plain_calls), len(grounded_calls))))
    info = {"device": str(host.device), "dtype": str(host.dtype), "loaded": loaded,
            "gligen_bytes": sum(p.numel() * p.element_size() for p in gligen.model.parameters())}
    return timings, info


# ---- the report -----------------------------------------------------------------------------------------------
def _gb(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.3f} GB ({n_bytes / 2**30:.3f} GiB)"


def size_lines(fusers: int, position_net: int) -> list[str]:
    total = fusers + position_net
    verdict = "= the published 1,812,438,988" if total == XL_PARAMETERS else f"!= the published {XL_PARAMETERS:,}"
    return [
        f"GLIGEN-XL (pack's GligenModel, published shapes): {total:,} parameters {verdict}",
        f"  70 fusers:    {fusers:>13,} parameters, fp16 {_gb(2 * fusers)}, fp32 {_gb(4 * fusers)}",
        f"  position net: {position_net:>13,} parameters, fp16 {_gb(2 * position_net)}, fp32 {_gb(4 * position_net)}",
        f"  together:     {total:>13,} parameters, fp16 {_gb(2 * total)}, fp32 {_gb(4 * total)}",
    ]


def flop_lines(result: CallFlops) -> list[str]:
    fusers_at: dict[tuple[int, int, int], int] = {}
    for c, n, depth, f in flops.xl_fusers_by_block(result.size):
        fusers_at[c, n, f] = fusers_at.get((c, n, f), 0) + depth
    per_block = "; ".join(f"C {c}, N {n}: {f / 1e9:.2f} ({count} fusers)" for (c, n, f), count in fusers_at.items())
    inside = result.unet_in_grounded - result.plain
    where = ("all inside the UNet's forward (our middle patch)" if inside == result.fusers
             else f"UNetModel grew by {inside / 1e12:.3f} TFLOP only")
    difference = result.fusers - result.analytic_fusers
    match = "equal" if difference == 0 else f"differ by {difference:,}"
    return [
        f"{result.size} x {result.size}, one UNet call (CFG batch of 2), FlopCounterMode:",
        f"  plain SDXL UNet          {result.plain / 1e12:9.3f} TFLOP",
        f"  grounded (70 fusers)     {result.grounded / 1e12:9.3f} TFLOP   ratio {result.ratio:.4f}",
        f"  70 fusers counted        {result.fusers / 1e12:9.3f} TFLOP, analytic {result.analytic_fusers / 1e12:.3f} "
        f"TFLOP ({match}); fuser share {result.fusers / result.plain:.4f}; {where}",
        f"  rest (position net)      {result.other / 1e9:9.3f} GFLOP, analytic "
        f"{CFG_BATCH * flops.xl_position_net_flops() / 1e9:.3f} GFLOP (layout + null tokens, once per patch)",
        f"  analytic GFLOP per fuser and image: {per_block}",
    ]


def timing_lines(t: SizeTiming, flop_ratio: float | None) -> list[str]:
    floor = f" (FLOP ratio {flop_ratio:.4f})" if flop_ratio else ""
    return [
        f"{t.size} x {t.size}, UNet call (one sampling step, CFG batch of 2), medians of {t.calls} calls each:",
        f"  plain     {t.plain_call_s * 1e3:9.2f} ms   run {t.plain_run_s:.3f} s   peak {t.plain_peak / 2**30:.3f} GiB",
        f"  gligen_xl {t.grounded_call_s * 1e3:9.2f} ms   run {t.grounded_run_s:.3f} s   peak "
        f"{t.grounded_peak / 2**30:.3f} GiB (+{(t.grounded_peak - t.plain_peak) / 2**30:.3f})",
        f"  grounded / plain per call {t.ratio:.4f}{floor}",
    ]


def result_line(fusers: int, position_net: int, counted: list[CallFlops], timed: list[SizeTiming],
                reduced: bool = False) -> str:
    total = fusers + position_net
    fields = [f"xl_params={total}", f"xl_fuser_params={fusers}", f"xl_position_net_params={position_net}",
              f"xl_fp16_gb={2 * total / 1e9:.3f}", f"xl_fp32_gb={4 * total / 1e9:.3f}"]
    for c in counted:
        fields += [f"plain_tflop_{c.size}={c.plain / 1e12:.3f}", f"grounded_tflop_{c.size}={c.grounded / 1e12:.3f}",
                   f"flop_ratio_{c.size}={c.ratio:.4f}"]
    if timed and reduced:
        fields.append("timed_on_reduced_sdxl=1")  # the timings below are not GLIGEN-XL's
    for t in timed:
        fields += [f"call_ratio_{t.size}={t.ratio:.4f}", f"plain_ms_{t.size}={t.plain_call_s * 1e3:.2f}",
                   f"grounded_ms_{t.size}={t.grounded_call_s * 1e3:.2f}",
                   f"peak_plain_gib_{t.size}={t.plain_peak / 2**30:.3f}",
                   f"peak_grounded_gib_{t.size}={t.grounded_peak / 2**30:.3f}"]
    return "RESULT " + " ".join(fields)


def run_xl(sizes: tuple[int, ...], steps: int, reps: int, time_left: Callable[[], float],
           log: Callable[[str], None], reduced: bool = False) -> int:
    """`bench/run --xl`: size, FLOPs and (on CUDA) timings; the last line printed is RESULT."""
    import comfy.model_management

    from .gligen_bench import device_name

    sizes = tuple(dict.fromkeys((DEFAULT_SIZE, *sizes)))
    model = build_xl_model(empty_xl_checkpoint())
    fusers, position_net = parameter_counts(model)
    for line in size_lines(fusers, position_net):
        log(line)
    if fusers + position_net != XL_PARAMETERS:
        log("ERROR: the GLIGEN-XL model does not have the published parameter count")
    model.fusers.to("meta")  # the untouched weights go; the FLOP count needs shapes only
    log("")
    counted = count_flops(sizes, model)
    for result in counted:
        for line in flop_lines(result):
            log(line)
        log("")
    del model
    device = comfy.model_management.get_torch_device()
    timed: list[SizeTiming] = []
    if device.type == "cuda" or reduced:
        if reduced:
            log("WARNING: --xl-reduced: a reduced SDXL (every level 320 wide) and 320-wide fusers, to try the timing "
                "path; these timings are NOT GLIGEN-XL's")
        log(f"timing on {device} ({device_name(device)}), torch {torch.__version__}: {steps} steps, <= {reps} reps")
        timed, info = time_on_device(sizes, steps, reps, time_left, log, reduced)
        log(f"UNet dtype {info['dtype']}; GLIGEN weights {info['gligen_bytes'] / 2**30:.3f} GiB")
        ratios = {c.size: c.ratio for c in counted}
        log("")
        for t in timed:
            for line in timing_lines(t, None if reduced else ratios.get(t.size)):
                log(line)
            log("")
    else:
        log(f"GPU timing: ComfyUI runs on {device}, and the timed plain vs grounded SDXL UNet calls need a GPU "
            "(bench/run --xl --device gpu where ComfyUI picks CUDA); only the counted numbers are reported.")
    log(result_line(fusers, position_net, counted, timed, reduced))
    return 0
