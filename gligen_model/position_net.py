"""Grounding tokenizers ("position nets"): object descriptions -> grounding tokens."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .fourier import BOX_FOURIER_FREQS, fourier_embed

BOX_FOURIER_DIM = BOX_FOURIER_FREQS * 2 * 4  # 2: sin/cos, 4: xyxy
MLP_HIDDEN = 512


class TextBoxPositionNet(nn.Module):
    """Phrase + box -> one grounding token per object (GLIGEN text-box checkpoints).

    token = MLP([phrase_embedding ; Fourier(box)]); padded slots (mask 0) use the learned
    `null_positive_feature` / `null_position_feature` instead, so an all-zero mask gives the
    "no grounding" tokens that classifier-free guidance's unconditional branch was trained with.
    """

    def __init__(self, in_dim: int = 768, out_dim: int = 768, operations: Any = nn) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.linears = nn.Sequential(
            operations.Linear(in_dim + BOX_FOURIER_DIM, MLP_HIDDEN, device="meta"), nn.SiLU(),
            operations.Linear(MLP_HIDDEN, MLP_HIDDEN, device="meta"), nn.SiLU(),
            operations.Linear(MLP_HIDDEN, out_dim, device="meta"),
        )
        self.null_positive_feature = nn.Parameter(torch.empty(in_dim, device="meta"))
        self.null_position_feature = nn.Parameter(torch.empty(BOX_FOURIER_DIM, device="meta"))

    def forward(self, boxes: torch.Tensor, masks: torch.Tensor, phrase_embeddings: torch.Tensor) -> torch.Tensor:
        """boxes: (B, N, 4) normalized xyxy; masks: (B, N) 1 = object, 0 = padding;
        phrase_embeddings: (B, N, in_dim). Returns (B, N, out_dim)."""
        dtype = phrase_embeddings.dtype
        m = masks.to(dtype).unsqueeze(-1)
        null_phrase = self.null_positive_feature.to(boxes.device, dtype)
        null_box = self.null_position_feature.to(boxes.device, dtype)
        phrases = phrase_embeddings * m + (1 - m) * null_phrase
        positions = fourier_embed(boxes).to(dtype) * m + (1 - m) * null_box
        return self.linears(torch.cat([phrases, positions], dim=-1))
