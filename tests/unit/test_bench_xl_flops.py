"""bench/flops.py's analytic GLIGEN-XL count against torch's FlopCounterMode, and the XL model bench/xl_cost.py
builds: GLIGEN-XL's published size. Everything runs on the meta device or on untouched memory (fast, no RAM)."""

from __future__ import annotations

import pytest
import torch
from gligen_suite.gligen_model.fuser import GatedSelfAttentionDense
from torch.utils.flop_counter import FlopCounterMode

from bench import flops

XL_PARAMETERS = 1_812_438_988  # shared/gligen-xl-reference.md 1.3: 70 fusers + the position net


@pytest.mark.parametrize(("channels", "n_visual"), [(640, 4096), (1280, 1024), (1280, 256)])
def test_analytic_xl_fuser_flops_equal_the_counted_ones(channels: int, n_visual: int) -> None:
    """One XL fuser (D = 2048, 64-dim heads, 30 objects) at a block's token count, one image, on meta."""
    fuser = GatedSelfAttentionDense(channels, flops.XL_TOKEN_DIM)  # torch.nn layers, built on the meta device
    x = torch.empty(1, n_visual, channels, device="meta")
    objs = torch.empty(1, flops.OBJECTS, flops.XL_TOKEN_DIM, device="meta")
    counter = FlopCounterMode(display=False)
    with counter:
        out = fuser(x, objs, 1.0, channels // 64)
    assert out.shape == x.shape
    assert counter.get_total_flops() == flops.fuser_flops(channels, n_visual, flops.OBJECTS, flops.XL_TOKEN_DIM)


def test_xl_blocks_are_70_fusers_at_the_published_token_counts() -> None:
    assert flops.xl_fuser_count() == 70
    by_block = flops.xl_fusers_by_block(1024)
    assert {(c, n) for c, n, _depth, _flops in by_block} == {(640, 4096), (1280, 1024)}
    assert sum(depth for c, _n, depth, _f in by_block if c == 640) == 10
    assert flops.xl_fusers_flops(1024, batch=2) == 2 * flops.xl_fusers_flops(1024)


def test_sd15_position_net_count_is_unchanged() -> None:
    assert flops.position_net_flops() == 2 * 30 * (832 * 512 + 512 * 512 + 512 * 768)
    assert flops.xl_position_net_flops() == 2 * 30 * (2112 * 512 + 512 * 512 + 512 * 2048)


def test_the_pack_builds_gligen_xl_at_its_published_size() -> None:
    """GligenModel from a GligenCheckpoint of GLIGEN-XL's published shapes (diffusers layout), weights untouched."""
    from bench.xl_cost import XL_PARAMETERS as BENCH_COUNT
    from bench.xl_cost import build_xl_model, empty_xl_checkpoint, parameter_counts

    checkpoint = empty_xl_checkpoint()
    assert checkpoint.layout == "diffusers" and len(checkpoint.fusers) == 70
    assert checkpoint.query_dims == tuple(c for c, _f, depth in flops.XL_FUSER_BLOCKS for _ in range(depth))
    model = build_xl_model(checkpoint)
    fusers, position_net = parameter_counts(model)
    assert (fusers, position_net) == (1_810_041_740, 2_397_248)
    assert fusers + position_net == XL_PARAMETERS == BENCH_COUNT
