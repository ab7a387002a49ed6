"""Same random weights in diffusers' GLIGEN modules and ours: same numbers out."""

from __future__ import annotations

import pytest
import torch
from diffusers.models.attention import GatedSelfAttentionDense as DiffusersFuser
from diffusers.models.embeddings import GLIGENTextBoundingboxProjection
from support.gligen_files import text_box_state_dict
from support.pack import import_pack

import_pack()
from gligen_suite.gligen_model import GatedSelfAttentionDense, TextBoxPositionNet  # noqa: E402

pytestmark = pytest.mark.parity


def test_text_box_position_net_matches_diffusers() -> None:
    state = {k[len("position_net."):]: v for k, v in text_box_state_dict([], seed=3).items()}
    theirs = GLIGENTextBoundingboxProjection(positive_len=768, out_dim=768, feature_type="text-only")
    theirs.load_state_dict(state, strict=True)
    ours = TextBoxPositionNet(768, 768)
    ours.load_state_dict(state, strict=True, assign=True)
    gen = torch.Generator().manual_seed(0)
    boxes = torch.rand(2, 30, 4, generator=gen)
    masks = (torch.rand(2, 30, generator=gen) > 0.5).float()
    phrases = torch.randn(2, 30, 768, generator=gen)
    expected = theirs(boxes=boxes, masks=masks, positive_embeddings=phrases)
    got = ours(boxes, masks, phrases)
    assert (got - expected).abs().max() <= 1e-4


@pytest.mark.parametrize("query_dim", [320, 640, 1280])
def test_fuser_matches_diffusers(query_dim: int) -> None:
    prefix = "b.transformer_blocks.0.fuser."
    state = {k[len(prefix):]: v for k, v in text_box_state_dict([("b", query_dim)], seed=4).items()
             if k.startswith(prefix)}
    theirs = DiffusersFuser(query_dim, 768, n_heads=8, d_head=query_dim // 8)
    theirs.load_state_dict(state, strict=True)
    ours = GatedSelfAttentionDense(query_dim, 768)
    ours.load_state_dict(state, strict=True, assign=True)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 64, query_dim, generator=gen)
    objs = torch.randn(2, 30, 768, generator=gen)
    with torch.no_grad():
        assert (ours(x, objs, 1.0, 8) - theirs(x, objs)).abs().max() <= 1e-4
