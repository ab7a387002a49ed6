"""Analytic FLOPs of GLIGEN's fusers on SD1.5, from shapes only (a cross-check of the measured count).

For a fuser at a block with C channels and N visual tokens, M = 30 grounding tokens of width
D = 768, counting 2 FLOPs per multiply-add of the matmuls and ignoring norms, GELU and softmax
(as torch's FlopCounterMode does):

    ours: 2 * [ M*D*C                 objs -> Linear(D, C)
              + N*C^2 + 2*(N+M)*C^2    q for the N visual rows only; k, v for all N+M rows
              + 2*N*(N+M)*C            q.k^T and attn.v (summed over heads)
              + N*C^2                  to_out
              + 12*N*C^2 ]             GEGLU feed-forward: C -> 8C, 4C -> C
    core: the same with queries, attention and to_out for all N+M rows:
          2 * [ M*D*C + 4*(N+M)*C^2 + 2*(N+M)^2*C + 12*N*C^2 ]

SD1.5's 16 transformer blocks, in UNet forward order, at C channels and 1/f of the latent's side
(N = (size/8/f)^2): 2 x (320, 1), 2 x (640, 2), 2 x (1280, 4), middle (1280, 8),
3 x (1280, 4), 3 x (640, 2), 3 x (320, 1).
"""

from __future__ import annotations

OBJECTS = 30
MAP_TOKENS = 64  # a spatial-map file's grounding tokens (the tokenizer's 8 x 8 feature grid)
TOKEN_DIM = 768
POSITION_NET_IN = 768 + 64  # phrase features + Fourier features of the box
SD15_FUSER_BLOCKS: tuple[tuple[int, int], ...] = (
    (320, 1), (320, 1), (640, 2), (640, 2), (1280, 4), (1280, 4), (1280, 8),
    (1280, 4), (1280, 4), (1280, 4), (640, 2), (640, 2), (640, 2), (320, 1), (320, 1), (320, 1),
)


def visual_tokens(size: int, factor: int) -> int:
    """Visual tokens of a block at 1/factor of the latent side, for a size x size image."""
    side = size // 8 // factor
    return side * side


def fuser_flops(channels: int, n_visual: int, objects: int = OBJECTS, token_dim: int = TOKEN_DIM) -> int:
    """One image through one of our fusers (queries for the visual rows only)."""
    c, n, m = channels, n_visual, objects
    macs = m * token_dim * c + n * c * c + 2 * (n + m) * c * c + 2 * n * (n + m) * c + n * c * c + 12 * n * c * c
    return 2 * macs


def core_fuser_flops(channels: int, n_visual: int, objects: int = OBJECTS, token_dim: int = TOKEN_DIM) -> int:
    """One image through ComfyUI core's fuser (all N+M rows are queried, then cut to N)."""
    c, n, m = channels, n_visual, objects
    macs = m * token_dim * c + 4 * (n + m) * c * c + 2 * (n + m) * (n + m) * c + 12 * n * c * c
    return 2 * macs


def sd15_fusers_flops(size: int, batch: int = 1, core: bool = False, objects: int = OBJECTS) -> int:
    """All 16 fusers for `batch` images of size x size, attending to `objects` grounding tokens."""
    per_block = core_fuser_flops if core else fuser_flops
    return batch * sum(per_block(c, visual_tokens(size, f), objects) for c, f in SD15_FUSER_BLOCKS)


def position_net_flops(rows: int = OBJECTS) -> int:
    """The text-box position net (3 linear layers) for `rows` object slots."""
    return 2 * rows * (POSITION_NET_IN * 512 + 512 * 512 + 512 * TOKEN_DIM)
