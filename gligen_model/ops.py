"""Pluggable layer ops and attention, so the host can supply its own (dtype casting, optimized kernels).

`operations` is any namespace with `Linear` and `LayerNorm` classes that accept torch's
constructor arguments (`torch.nn` itself, or ComfyUI's `comfy.ops.manual_cast`).
`AttentionFn` has ComfyUI's `optimized_attention` signature.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F
from einops import rearrange


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
