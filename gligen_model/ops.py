"""Pluggable layer ops and attention, so the host can supply its own (dtype casting, optimized kernels).

`operations` is any namespace with `Linear`, `LayerNorm` and `Conv2d` classes that accept torch's
constructor arguments (`torch.nn` itself, or ComfyUI's `comfy.ops.manual_cast`).
`AttentionFn` has ComfyUI's `optimized_attention` signature.

The model code asks its layers for the meta device (`device="meta"`, weights assigned at load). Only
`torch.nn` is sure to honour that: a host's ops may ignore `device=` (newer ComfyUI's lazy Linear under
dynamic VRAM keeps `weight = None` until the state dict assigns one) or honour it again at load time (copy
into the construction device). `placed_on` gives such ops a real device to build on instead.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

LAYER_NAMES = ("Linear", "LayerNorm", "Conv2d")  # every layer class the model builds from `operations`


def placed_on(operations: Any, device: str) -> Any:
    """`operations` whose layers are built on `device` whatever device the model code asks for; `torch.nn`
    itself is returned unchanged (it honours the meta device and assign-loading). The layers are the host's
    own classes (no subclass), so type checks the host makes on them still hold."""
    if operations is nn:
        return operations

    def builder(layer: type[nn.Module]) -> Callable[..., nn.Module]:
        def build(*args: Any, **kwargs: Any) -> nn.Module:
            return layer(*args, **{**kwargs, "device": device})
        return build

    return SimpleNamespace(**{name: builder(getattr(operations, name)) for name in LAYER_NAMES})


class AttentionFn(Protocol):
    def __call__(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int,
                 mask: torch.Tensor | None = None) -> torch.Tensor: ...


def sdpa_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int,
                   mask: torch.Tensor | None = None) -> torch.Tensor:
    """Multi-head attention. q: (B, Nq, H*D), k/v: (B, Nk, H*D) -> (B, Nq, H*D).
    mask: additive logits broadcastable to (B, Nq, Nk), e.g. (B, 1, Nk), or None."""
    q, k, v = (rearrange(t, "b n (h d) -> b h n d", h=heads) for t in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=None if mask is None else mask.unsqueeze(1))
    return rearrange(out, "b h n d -> b n (h d)")
