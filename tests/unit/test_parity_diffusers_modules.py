"""Same random weights in diffusers' GLIGEN modules and ours: same numbers out."""

from __future__ import annotations

import pytest
import torch
from diffusers.models.attention import GatedSelfAttentionDense as DiffusersFuser
from diffusers.models.embeddings import GLIGENTextBoundingboxProjection

from devkit.gligen_checkpoints import text_box_state_dict
from devkit.pack import import_pack

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


def test_text_image_position_net_matches_diffusers() -> None:
    from gligen_suite.gligen_model.position_net import TextImagePositionNet

    gen = torch.Generator().manual_seed(5)
    theirs = GLIGENTextBoundingboxProjection(positive_len=768, out_dim=768, feature_type="text-image")
    state = {k: torch.randn(v.shape, generator=gen) * 0.05 for k, v in theirs.state_dict().items()}
    theirs.load_state_dict(state, strict=True)
    ours = TextImagePositionNet(768, 768)
    ours.load_state_dict(state, strict=True, assign=True)
    boxes = torch.rand(2, 30, 4, generator=gen)
    masks, text_masks, image_masks = ((torch.rand(2, 30, generator=gen) > 0.4).float() for _ in range(3))
    text, image = torch.randn(2, 30, 768, generator=gen), torch.randn(2, 30, 768, generator=gen)
    expected = theirs(boxes=boxes, masks=masks, phrases_masks=text_masks, image_masks=image_masks,
                      phrases_embeddings=text, image_embeddings=image)
    got = ours(boxes, masks, text_masks, image_masks, text, image)
    assert got.shape == (2, 60, 768)
    assert (got - expected).abs().max() <= 1e-4


def test_image_projection_matches_diffusers_clip_image_projection() -> None:
    from diffusers.pipelines.stable_diffusion.clip_image_project_model import CLIPImageProjection
    from gligen_suite.gligen_model.position_net import project_image_embedding

    gen = torch.Generator().manual_seed(6)
    text_projection = torch.randn(768, 768, generator=gen) / 28
    image_embeds = torch.randn(3, 768, generator=gen)
    theirs = CLIPImageProjection(hidden_size=768)
    theirs.project.weight.data = text_projection.T.contiguous()  # diffusers stores P^T, applies f @ W^T
    projected = theirs(image_embeds)
    expected = projected / projected.norm(dim=-1, keepdim=True) * 28.7  # the text-image pipeline's renorm
    got = project_image_embedding(image_embeds, text_projection)
    assert (got - expected).abs().max() <= 1e-4
    torch.testing.assert_close(got.norm(dim=-1), torch.full((3,), 28.7))
