"""Keypoint grounding tokenizer (GLIGEN keypoint checkpoint): 8 persons x 17 COCO joints = 136 tokens."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .fourier import BOX_FOURIER_FREQS, fourier_embed
from .grounding import PoseGrounding
from .pose import JOINTS, MAX_PERSONS
from .position_net import grounding_mlp

POINT_FOURIER_DIM = BOX_FOURIER_FREQS * 2 * 2  # 2: sin/cos, 2: xy


class KeypointPositionNet(nn.Module):
    """Token (person p, joint j) = MLP([person_p + joint_j ; Fourier(x, y)]).

    A missing joint (mask 0) uses `null_person_feature` / `null_xy_feature` instead, as in the
    authors' keypoint_grounding_net. Token order is person-major: index = p * 17 + j.
    """

    def __init__(self, embed_dim: int = 768, out_dim: int = 768, operations: Any = nn) -> None:
        super().__init__()
        self.person_embeddings = nn.Parameter(torch.empty(MAX_PERSONS, embed_dim, device="meta"))
        self.keypoint_embeddings = nn.Parameter(torch.empty(JOINTS, embed_dim, device="meta"))
        self.null_person_feature = nn.Parameter(torch.empty(embed_dim, device="meta"))
        self.null_xy_feature = nn.Parameter(torch.empty(POINT_FOURIER_DIM, device="meta"))
        self.linears = grounding_mlp(embed_dim + POINT_FOURIER_DIM, out_dim, operations)

    def forward(self, points: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """points: (B, 136, 2) normalized xy; masks: (B, 136) 1 = visible joint. Returns (B, 136, out_dim)."""
        dtype = self.person_embeddings.dtype
        m = masks.to(points.device, dtype).unsqueeze(-1)
        identity = (self.person_embeddings[:, None, :] + self.keypoint_embeddings[None, :, :]).flatten(0, 1)
        identity = identity.to(points.device)[None] * m + (1 - m) * self.null_person_feature.to(points.device)
        xy = fourier_embed(points.to(dtype)) * m + (1 - m) * self.null_xy_feature.to(points.device)
        return self.linears(torch.cat([identity, xy], dim=-1))

    def tokens_for(self, grounding: PoseGrounding | None, image_projection: torch.Tensor | None) -> torch.Tensor:
        """(1, 136, out_dim) tokens of a pose grounding (person-major), or the null tokens for None."""
        device, dtype = self.person_embeddings.device, self.person_embeddings.dtype
        points = torch.zeros(1, MAX_PERSONS * JOINTS, 2, device=device, dtype=dtype)
        masks = torch.zeros(1, MAX_PERSONS * JOINTS, device=device, dtype=dtype)
        if grounding is not None:
            n = len(grounding) * JOINTS
            points[0, :n] = grounding.points.reshape(-1, 2).to(device, dtype)
            masks[0, :n] = grounding.visible.reshape(-1).to(device, dtype)
        return self(points, masks)
