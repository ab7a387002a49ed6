"""Where the fusers' time goes: our 16 fusers vs the same math in bare torch ops.

    .venv/bin/python -m bench.fuser_kernels [--size 256] [--reps 5]

On SD1.5's 16 fuser shapes for one CFG step (batch 2, 30 grounding tokens), times:
- `ours`: GLIGEN Suite's `GatedSelfAttentionDense` as the loader builds it (ComfyUI's casting
  ops, and on the CPU ComfyUI's `attention_pytorch` rather than its default there, see
  nodes/patch/fuser_attention.py);
- `core`: ComfyUI core's `GatedSelfAttentionDense` (queries for the 30 grounding rows too);
- `bare_host_attention`: the same math as ours in bare torch functions, with the host's attention;
- `bare_torch_sdpa`: the same with `torch.nn.functional.scaled_dot_product_attention`.
ours vs bare_torch_sdpa is the overhead of our module code; bare_host_attention vs bare_torch_sdpa
is what the host's default attention kernel would cost the fusers on this device.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .flops import SD15_FUSER_BLOCKS, visual_tokens
from .gligen_bench import log

Attention = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, int], torch.Tensor]


def torch_sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, N, H*D) attention with torch's fused kernel."""
    b, n, c = q.shape
    q, k, v = (t.view(b, -1, heads, c // heads).transpose(1, 2) for t in (q, k, v))
    return F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, c)


def bare_fuser(f: torch.nn.Module, x: torch.Tensor, objs: torch.Tensor, heads: int,
               attention: Attention) -> torch.Tensor:
    """Our fuser's math (beta 1) written with torch functions on the module's weights."""
    c = x.shape[-1]
    grounding = F.linear(objs, f.linear.weight, f.linear.bias)
    h = F.layer_norm(torch.cat([x, grounding], 1), (c,), f.norm1.weight, f.norm1.bias)
    q = F.linear(h[:, : x.shape[1]], f.attn.to_q.weight)
    attended = attention(q, F.linear(h, f.attn.to_k.weight), F.linear(h, f.attn.to_v.weight), heads)
    out = f.attn.to_out[0]
    x = x + torch.tanh(f.alpha_attn) * F.linear(attended, out.weight, out.bias)
    proj, down = f.ff.net[0].proj, f.ff.net[2]
    value, gate = F.linear(F.layer_norm(x, (c,), f.norm2.weight, f.norm2.bias), proj.weight, proj.bias).chunk(2, -1)
    return x + torch.tanh(f.alpha_dense) * F.linear(value * F.gelu(gate), down.weight, down.bias)


def main(argv: list[str] | None = None) -> int:
    """Time the four implementations, interleaved, and print medians."""
    parser = argparse.ArgumentParser(prog="python -m bench.fuser_kernels", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)
    os.environ["GLIGEN_TEST_DEVICE"] = "cpu"
    from devkit.comfy_host import import_comfy  # ComfyUI's folder first on sys.path (see devkit's docstring)
    from devkit.pack import import_pack

    import_comfy()
    import_pack()
    import comfy.sd
    from comfy.ldm.modules.attention import optimized_attention
    from gligen_suite.nodes.loader_node import load_gligen_patcher

    from .workload import cached_gligen_file

    ours = load_gligen_patcher(str(cached_gligen_file())).model
    core = comfy.sd.load_gligen(str(cached_gligen_file())).model
    generator = torch.Generator().manual_seed(0)
    objs = torch.randn(2, 30, 768, generator=generator)
    xs = [torch.randn(2, visual_tokens(args.size, f), c, generator=generator) for c, f in SD15_FUSER_BLOCKS]
    heads = 8  # SD1.5: 8 heads in every block
    variants: dict[str, Callable[[int, torch.Tensor], torch.Tensor]] = {
        "ours": lambda i, x: ours.fusers[i](x, objs, 1.0, heads),
        "core": lambda i, x: core.module_list[i](x, objs),
        "bare_host_attention": lambda i, x: bare_fuser(ours.fusers[i], x, objs, heads, optimized_attention),
        "bare_torch_sdpa": lambda i, x: bare_fuser(ours.fusers[i], x, objs, heads, torch_sdpa),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    with torch.no_grad():
        for name, fn in variants.items():  # warm-up, and the bare versions must match ours
            out = [fn(i, x) for i, x in enumerate(xs)]
            if name.startswith("bare"):
                reference = [variants["ours"](i, x) for i, x in enumerate(xs)]
                error = max(float((a - b).abs().max()) for a, b in zip(out, reference, strict=True))
                log(f"{name}: max |difference| to ours {error:.2e}")
        for _ in range(args.reps):
            for name, fn in variants.items():
                start = time.perf_counter()
                for i, x in enumerate(xs):
                    fn(i, x)
                times[name].append(time.perf_counter() - start)
    log(f"16 fusers, {args.size} x {args.size}, batch 2, {torch.get_num_threads()} threads, "
        f"host's default attention: {optimized_attention.__name__}, ours: {ours.fusers[0].attention.__name__}")
    for name, values in times.items():
        log(f"{name:<20} median {statistics.median(values):.3f} s  runs " + " ".join(f"{v:.3f}" for v in values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
