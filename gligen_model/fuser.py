"""The gated self-attention layer ("fuser") that GLIGEN adds to every transformer block."""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .ops import AttentionFn, sdpa_attention

FF_MULT = 4  # GEGLU inner width is 4 * query_dim


class GEGLU(nn.Module):
    """Linear to 2*inner, then value * gelu(gate) (exact gelu, as trained)."""

    def __init__(self, dim_in: int, dim_inner: int, operations: Any) -> None:
        super().__init__()
        self.proj = operations.Linear(dim_in, dim_inner * 2, device="meta")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.proj(x).chunk(2, dim=-1)
        return value * F.gelu(gate)


class FeedForward(nn.Module):
    """`ff.net.0.proj` / `ff.net.2` in the published key layout (net.1 was dropout)."""

    def __init__(self, dim: int, operations: Any) -> None:
        super().__init__()
        self.net = nn.Sequential(GEGLU(dim, dim * FF_MULT, operations), nn.Identity(),
                                 operations.Linear(dim * FF_MULT, dim, device="meta"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SelfAttentionProjections(nn.Module):
    """`attn.to_q/k/v` (no bias) and `attn.to_out.0` of the published layout."""

    def __init__(self, dim: int, operations: Any) -> None:
        super().__init__()
        self.to_q = operations.Linear(dim, dim, bias=False, device="meta")
        self.to_k = operations.Linear(dim, dim, bias=False, device="meta")
        self.to_v = operations.Linear(dim, dim, bias=False, device="meta")
        self.to_out = nn.Sequential(operations.Linear(dim, dim, device="meta"))


class GatedSelfAttentionDense(nn.Module):
    """GLIGEN's fuser (Li et al. 2023, eq. 3), placed between self- and cross-attention.

        x += beta * tanh(alpha_attn)  * SelfAttn(LN1([x ; Linear(objs)]))[:, :N_visual]
        x += beta * tanh(alpha_dense) * FF(LN2(x))

    Parameters:
        query_dim: channels C of the visual tokens of the block.
        context_dim: width of the grounding tokens (768 for every published SD1.x file).
        operations: layer namespace (`torch.nn` or the host's casting ops).
        attention: attention function with ComfyUI's `optimized_attention(q, k, v, heads)` signature.
    The head count is not a parameter of the weights: `forward` takes the base block's.
    Modules are created on the meta device; load weights with `load_state_dict(..., assign=True)`.
    """

    def __init__(self, query_dim: int, context_dim: int, operations: Any | ModuleType = nn,
                 attention: AttentionFn = sdpa_attention) -> None:
        super().__init__()
        self.linear = operations.Linear(context_dim, query_dim, device="meta")
        self.attn = SelfAttentionProjections(query_dim, operations)
        self.ff = FeedForward(query_dim, operations)
        self.norm1 = operations.LayerNorm(query_dim, device="meta")
        self.norm2 = operations.LayerNorm(query_dim, device="meta")
        self.alpha_attn = nn.Parameter(torch.empty((), device="meta"))
        self.alpha_dense = nn.Parameter(torch.empty((), device="meta"))
        self.attention = attention
        self.gates: tuple[float, float] | None = None

    def freeze_gates(self) -> None:
        """Read tanh(alpha_attn), tanh(alpha_dense) once, as Python floats. They are constants of the file;
        as floats they cost no tanh, no device copy and no extra kernel in each of the run's block calls."""
        self.gates = (math.tanh(self.alpha_attn.item()), math.tanh(self.alpha_dense.item()))

    def forward(self, x: torch.Tensor, objs: torch.Tensor, beta: float | torch.Tensor, heads: int,
                grounding_bias: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, N_visual, C) visual tokens; objs: (B, M, context_dim) grounding tokens; beta: schedule scale, a
        float or a 0-d tensor (what a compiled UNet gets, so one graph serves every beta).
        grounding_bias: (B, M) additive attention logits for the grounding keys (per-object strength), or None."""
        n_visual = x.shape[1]
        grounding = self.linear(objs)                                  # (B, M, C)
        h = self.norm1(torch.cat([x, grounding], dim=1))                # (B, N_visual + M, C)
        # Only the visual rows of the attention output are kept, so only they need queries.
        q = self.attn.to_q(h[:, :n_visual])
        mask = None
        if grounding_bias is not None:  # visual keys get 0; (B, 1, N_visual + M) broadcasts over queries
            visual = grounding_bias.new_zeros(grounding_bias.shape[0], n_visual)
            mask = torch.cat([visual, grounding_bias], dim=1).to(x.device, q.dtype)[:, None, :]
        attended = self.attention(q, self.attn.to_k(h), self.attn.to_v(h), heads, mask=mask)
        tanh_attn, tanh_dense = self.gates or (torch.tanh(self.alpha_attn).to(x.device, x.dtype),
                                               torch.tanh(self.alpha_dense).to(x.device, x.dtype))
        x = x + (beta * tanh_attn) * self.attn.to_out(attended)
        return x + (beta * tanh_dense) * self.ff(self.norm2(x))
