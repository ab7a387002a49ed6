"""Spatial-map tokenizers (the authors' {hed,canny,depth,normal,sem}_grounding_net.PositionNet) and the
downsamplers whose output widens the UNet's input (`*_grounding_downsampler.GroundingDownsampler`).

Tokenizer: map resized (nearest) to 256 x 256 -> ConvNeXt-T -> 8 x 8 = 64 features; masked by the null
feature for CFG's unconditional branch; + a learned position embedding; -> MLP -> 64 tokens.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .convnext import DIMS, DOWN_FACTOR, ConvNeXtTiny
from .grounding import MapGrounding
from .position_net import grounding_mlp
from .spatial_maps import SEMANTIC_CHANNELS, one_hot_map, semantic_indices, signed_map

TOKENIZER_INPUT = 256  # resize_input of the authors' configs
MAP_TOKENS = (TOKENIZER_INPUT // DOWN_FACTOR) ** 2
FEATURE_DIM = DIMS[-1]


class MapPositionNet(nn.Module):
    """An edge / depth / normal map -> 64 grounding tokens (HED, canny, depth and normal checkpoints)."""

    def __init__(self, in_dim: int = FEATURE_DIM, out_dim: int = 768, operations: Any = nn) -> None:
        super().__init__()
        self.convnext_tiny_backbone = ConvNeXtTiny(operations)
        self.pos_embedding = nn.Parameter(torch.empty(1, MAP_TOKENS, in_dim, device="meta"))
        self.linears = grounding_mlp(in_dim, out_dim, operations)
        self.null_feature = nn.Parameter(torch.empty(in_dim, device="meta"))

    def backbone_input(self, pixels: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """IMAGE (1, H, W, 3) -> (1, 3, 256, 256) in [-1, 1] (the authors' default-mode, i.e. nearest, resize)."""
        return F.interpolate(signed_map(pixels.to(dtype)), size=(TOKENIZER_INPUT, TOKENIZER_INPUT), mode="nearest")

    def tokens_for(self, grounding: MapGrounding | None, image_projection: torch.Tensor | None) -> torch.Tensor:
        """(1, 64, out_dim) tokens of a (fitted) map, or the null tokens for None (CFG's unconditional branch:
        every feature is the null feature; the backbone need not run, its output would be multiplied by 0)."""
        null = self.null_feature
        if grounding is None:
            features = null[None, None].expand(1, MAP_TOKENS, -1)
        else:
            x = self.backbone_input(grounding.pixels.to(null.device), null.dtype)
            features = self.convnext_tiny_backbone(x).flatten(2).transpose(1, 2)
        return self.linears(features + self.pos_embedding.to(features.dtype))


class SemanticPositionNet(MapPositionNet):
    """An ADE20K class-index map -> 64 grounding tokens: one-hot (152 channels) -> 3x3 conv to 3 -> as above."""

    def __init__(self, in_dim: int = FEATURE_DIM, out_dim: int = 768, operations: Any = nn) -> None:
        super().__init__(in_dim, out_dim, operations)
        self.in_conv = operations.Conv2d(SEMANTIC_CHANNELS, 3, 3, 1, 1, device="meta")

    def backbone_input(self, pixels: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        one_hot = one_hot_map(semantic_indices(pixels), (TOKENIZER_INPUT, TOKENIZER_INPUT), dtype)
        return self.in_conv(one_hot)


class HedDownsampler(nn.Module):
    """HED: no weights; the map's first channel resized (bicubic) to the latent. 1 extra UNet channel."""

    out_channels = 1

    def __init__(self, operations: Any = nn) -> None:
        super().__init__()

    def forward(self, pixels: torch.Tensor, latent_hw: tuple[int, int], dtype: torch.dtype) -> torch.Tensor:
        """IMAGE (1, 8H, 8W, 3) -> (1, 1, H, W)."""
        return F.interpolate(signed_map(pixels.to(dtype))[:, :1], size=latent_hw, mode="bicubic")


class ConvDownsampler(nn.Module):
    """Conv(4x4, s2) -> SiLU -> Conv(4x4, s2) on the map resized to 4H x 4W: 8 extra UNet channels.
    in_channels: 1 (canny, depth: the first channel of a grey map) or 3 (normal)."""

    out_channels = 8
    in_channels = 1
    hidden = 4

    def __init__(self, operations: Any = nn) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            operations.Conv2d(self.in_channels, self.hidden, 4, 2, 1, device="meta"), nn.SiLU(),
            operations.Conv2d(self.hidden, self.out_channels, 4, 2, 1, device="meta"))

    def layer_input(self, pixels: torch.Tensor, size: tuple[int, int], dtype: torch.dtype) -> torch.Tensor:
        signed = signed_map(pixels.to(dtype))[:, :self.in_channels]
        return F.interpolate(signed, size=size, mode="bicubic")

    def forward(self, pixels: torch.Tensor, latent_hw: tuple[int, int], dtype: torch.dtype) -> torch.Tensor:
        """IMAGE (1, 8H, 8W, 3) -> (1, 8, H, W)."""
        size = (latent_hw[0] * 4, latent_hw[1] * 4)
        return self.layers(self.layer_input(pixels, size, dtype))


class NormalDownsampler(ConvDownsampler):
    in_channels = 3


class SemanticDownsampler(ConvDownsampler):
    """The one-hot index map (nearest-resized to 4H x 4W) -> Conv 152 -> 16 -> 8."""

    in_channels = SEMANTIC_CHANNELS
    hidden = 16

    def layer_input(self, pixels: torch.Tensor, size: tuple[int, int], dtype: torch.dtype) -> torch.Tensor:
        return one_hot_map(semantic_indices(pixels), size, dtype)
