"""ConvNeXt-T, the backbone of GLIGEN's spatial-map tokenizers (Liu et al. 2022, as the authors vendor it in
ldm/modules/diffusionmodules/convnext.py): stages of dims 96/192/384/768 and depths 3/3/9/3, without the
classification head and the final norm. Key names match the files (`downsample_layers.*`, `stages.*`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

DIMS = (96, 192, 384, 768)
DEPTHS = (3, 3, 9, 3)
DOWN_FACTOR = 32  # a 256 px map gives an 8 x 8 feature grid
LAYER_NORM_EPS = 1e-6


class ChannelsFirstLayerNorm(nn.Module):
    """LayerNorm over the channel axis of (N, C, H, W) maps; parameters `weight`, `bias` (C,)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels, device="meta"))
        self.bias = nn.Parameter(torch.empty(channels, device="meta"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = self.weight.to(x.device, x.dtype), self.bias.to(x.device, x.dtype)
        h = nn.functional.layer_norm(x.permute(0, 2, 3, 1), weight.shape, weight, bias, LAYER_NORM_EPS)
        return h.permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """x + gamma * Linear(GELU(Linear(LayerNorm(depthwise 7x7 conv(x))))), on (N, C, H, W)."""

    def __init__(self, dim: int, operations: Any) -> None:
        super().__init__()
        self.dwconv = operations.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim, device="meta")
        self.norm = operations.LayerNorm(dim, eps=LAYER_NORM_EPS, device="meta")
        self.pwconv1 = operations.Linear(dim, 4 * dim, device="meta")
        self.act = nn.GELU()
        self.pwconv2 = operations.Linear(4 * dim, dim, device="meta")
        self.gamma = nn.Parameter(torch.empty(dim, device="meta"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dwconv(x).permute(0, 2, 3, 1)
        h = self.pwconv2(self.act(self.pwconv1(self.norm(h))))
        h = self.gamma.to(h.device, h.dtype) * h
        return x + h.permute(0, 3, 1, 2)


class ConvNeXtTiny(nn.Module):
    """(N, 3, H, W) -> (N, 768, H / 32, W / 32) features."""

    def __init__(self, operations: Any = nn) -> None:
        super().__init__()
        stem = nn.Sequential(operations.Conv2d(3, DIMS[0], kernel_size=4, stride=4, device="meta"),
                             ChannelsFirstLayerNorm(DIMS[0]))
        self.downsample_layers = nn.ModuleList([stem] + [
            nn.Sequential(ChannelsFirstLayerNorm(DIMS[i]),
                          operations.Conv2d(DIMS[i], DIMS[i + 1], kernel_size=2, stride=2, device="meta"))
            for i in range(3)])
        self.stages = nn.ModuleList(nn.Sequential(*(ConvNeXtBlock(dim, operations) for _ in range(depth)))
                                    for dim, depth in zip(DIMS, DEPTHS, strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for downsample, stage in zip(self.downsample_layers, self.stages, strict=True):
            x = stage(downsample(x))
        return x
