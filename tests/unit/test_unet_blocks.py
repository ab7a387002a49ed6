"""Fusers are addressed by ComfyUI's (block kind, block id, block_index), so deeper SpatialTransformers work."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from devkit.pack import import_pack

import_pack()
from gligen_suite.gligen_model import BetaSchedule  # noqa: E402
from gligen_suite.gligen_model.grounding import BoxGrounding  # noqa: E402
from gligen_suite.nodes.patch.grounding_patch import CallState, GroundingPatch  # noqa: E402
from gligen_suite.nodes.patch.unet_blocks import transformer_slots  # noqa: E402


class Attention(nn.Module):
    def __init__(self, query_dim: int, context_dim: int) -> None:
        super().__init__()
        self.to_q = nn.Linear(query_dim, query_dim)
        self.to_k = nn.Linear(context_dim, query_dim)


class TransformerBlock(nn.Module):
    def __init__(self, query_dim: int, context_dim: int) -> None:
        super().__init__()
        self.attn1 = Attention(query_dim, query_dim)
        self.attn2 = Attention(query_dim, context_dim)


class SpatialTransformer(nn.Module):
    def __init__(self, query_dim: int, depth: int) -> None:
        super().__init__()
        self.transformer_blocks = nn.ModuleList(TransformerBlock(query_dim, 16) for _ in range(depth))


class TinyUNet(nn.Module):
    """input_blocks 0 (a conv), 1 (resnet + a depth-2 transformer); middle (depth 1); output_blocks 0 (depth 3)."""

    def __init__(self) -> None:
        super().__init__()
        self.input_blocks = nn.ModuleList([nn.ModuleList([nn.Conv2d(4, 8, 3)]),
                                           nn.ModuleList([nn.Identity(), SpatialTransformer(8, 2)])])
        self.middle_block = nn.ModuleList([nn.Identity(), SpatialTransformer(12, 1), nn.Identity()])
        self.output_blocks = nn.ModuleList([nn.ModuleList([nn.Identity(), SpatialTransformer(8, 3)])])


def test_every_transformer_block_gets_its_address_and_module_path() -> None:
    slots = transformer_slots(TinyUNet())
    assert [s.address for s in slots] == [("input", 1, 0), ("input", 1, 1), ("middle", 0, 0),
                                          ("output", 0, 0), ("output", 0, 1), ("output", 0, 2)]
    assert slots[1].name == "input_blocks.1.1.transformer_blocks.1"
    assert slots[2].name == "middle_block.1.transformer_blocks.0"
    assert [(s.query_dim, s.context_dim) for s in slots] == [(8, 16)] * 2 + [(12, 16)] + [(8, 16)] * 3


class RecordingFuser:
    """Stands in for a fuser: adds its index to x, so the output says which one ran."""

    def __init__(self, index: int) -> None:
        self.index = index

    def __call__(self, x: torch.Tensor, objs: torch.Tensor, beta: float, heads: int,
                 bias: torch.Tensor | None) -> torch.Tensor:
        return x + self.index


def test_the_middle_patch_runs_the_fuser_at_the_blocks_address() -> None:
    slots = transformer_slots(TinyUNet())
    gligen: Any = type("FakeGligen", (), {"fusers": [RecordingFuser(i) for i in range(len(slots))]})()
    grounding = BoxGrounding(("a cat",), torch.zeros(1, 16), torch.tensor([[0.0, 0.0, 0.5, 0.5]]))
    patch = GroundingPatch(gligen, grounding, BetaSchedule.constant(1.0), ground_negative=False, model_sampling=None,
                           block_addresses=[s.address for s in slots])
    x = torch.zeros(1, 4, 8)
    state = CallState(1.0, torch.zeros(1, 30, 16), None)
    for index, slot in enumerate(slots):
        kind, block_id, block_index = slot.address
        options = {patch.key: state, "block": (kind, block_id), "block_index": block_index, "n_heads": 1,
                   "transformer_index": 0}  # transformer_index alone would pick fuser 0 every time
        assert patch(x, options).max().item() == index
    assert patch(x, {patch.key: None, "block": ("input", 1), "block_index": 1, "n_heads": 1}) is x  # beta 0
