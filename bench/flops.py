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

GLIGEN-XL (SDXL, shared/gligen-xl-reference.md 1.2): the same fuser with D = 2048, one per transformer
block, 70 in all. Its 11 SpatialTransformers in forward order as (C, f, depth): 2 x (640, 2, 2),
2 x (1280, 4, 10), middle (1280, 4, 10), 3 x (1280, 4, 10), 3 x (640, 2, 2); at 1024 x 1024,
N = 64 x 64 = 4096 at C = 640 and 32 x 32 = 1024 at C = 1280. Its position net is
Linear(2048 + 64, 512), Linear(512, 512), Linear(512, 2048).
"""

from __future__ import annotations

OBJECTS = 30
MAP_TOKENS = 64  # a spatial-map file's grounding tokens (the tokenizer's 8 x 8 feature grid)
TOKEN_DIM = 768
FOURIER_DIM = 64  # Fourier features of a box (8 frequencies x sin, cos x 4 coordinates)
POSITION_NET_IN = 768 + FOURIER_DIM  # phrase features + Fourier features of the box
POSITION_NET_HIDDEN = 512
XL_TOKEN_DIM = 2048  # GLIGEN-XL: grounding tokens, phrase features and SDXL's context are all 2048 wide
SD15_FUSER_BLOCKS: tuple[tuple[int, int], ...] = (
    (320, 1), (320, 1), (640, 2), (640, 2), (1280, 4), (1280, 4), (1280, 8),
    (1280, 4), (1280, 4), (1280, 4), (640, 2), (640, 2), (640, 2), (320, 1), (320, 1), (320, 1),
)

# GLIGEN-XL's SpatialTransformers in forward order: (C, 1/f of the latent side, transformer blocks = fusers)
XL_FUSER_BLOCKS: tuple[tuple[int, int, int], ...] = (
    (640, 2, 2), (640, 2, 2), (1280, 4, 10), (1280, 4, 10), (1280, 4, 10),
    (1280, 4, 10), (1280, 4, 10), (1280, 4, 10), (640, 2, 2), (640, 2, 2), (640, 2, 2),
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


def position_net_flops(rows: int = OBJECTS, phrase_dim: int = 768, token_dim: int = TOKEN_DIM) -> int:
    """The text-box position net (3 linear layers) for `rows` object slots."""
    hidden = POSITION_NET_HIDDEN
    return 2 * rows * ((phrase_dim + FOURIER_DIM) * hidden + hidden * hidden + hidden * token_dim)


def xl_fuser_count() -> int:
    """GLIGEN-XL's fusers: one per transformer block of SDXL (70)."""
    return sum(depth for _c, _f, depth in XL_FUSER_BLOCKS)


def xl_fusers_by_block(size: int, objects: int = OBJECTS) -> list[tuple[int, int, int, int]]:
    """(C, N, depth, FLOPs of one fuser there) per SpatialTransformer, one size x size image."""
    return [(c, visual_tokens(size, f), depth, fuser_flops(c, visual_tokens(size, f), objects, XL_TOKEN_DIM))
            for c, f, depth in XL_FUSER_BLOCKS]


def xl_fusers_flops(size: int, batch: int = 1, objects: int = OBJECTS) -> int:
    """All 70 GLIGEN-XL fusers for `batch` images of size x size, attending to `objects` grounding tokens."""
    return batch * sum(depth * flops for _c, _n, depth, flops in xl_fusers_by_block(size, objects))


def xl_position_net_flops(rows: int = OBJECTS) -> int:
    """GLIGEN-XL's text-box position net (2048-wide phrases and tokens) for `rows` object slots."""
    return position_net_flops(rows, XL_TOKEN_DIM, XL_TOKEN_DIM)
