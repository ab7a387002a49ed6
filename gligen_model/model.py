"""The trainable GLIGEN parts as one module: 16 fusers (one per UNet transformer) + a position net."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .checkpoint import GligenCheckpoint, Variant
from .errors import GligenInputError
from .fuser import GatedSelfAttentionDense
from .layout import MAX_OBJECTS
from .ops import AttentionFn, sdpa_attention
from .position_net import TextBoxPositionNet


class GligenModel(nn.Module):
    """Fusers in UNet forward order (index = the host's transformer index) and the position net."""

    def __init__(self, checkpoint: GligenCheckpoint, operations: Any = nn,
                 attention: AttentionFn = sdpa_attention) -> None:
        super().__init__()
        if checkpoint.variant != Variant.TEXT_BOX:
            raise GligenInputError(
                f"{checkpoint.summary()}: this pack does not run the {checkpoint.variant.value} variant yet. "
                "Use a text-box GLIGEN file (gligen_sd14_textbox_pruned.safetensors).")
        self.info = checkpoint.summary()
        self.variant = checkpoint.variant
        self.fusers = nn.ModuleList(
            GatedSelfAttentionDense(f.query_dim, f.context_dim, operations, attention) for f in checkpoint.fusers)
        self.position_net = TextBoxPositionNet(checkpoint.phrase_dim, checkpoint.context_dim, operations)
        state = {f"fusers.{i}.{k}": v for i, f in enumerate(checkpoint.fusers) for k, v in f.state.items()}
        state.update({f"position_net.{k}": v for k, v in checkpoint.position_net.items()})
        # The checkpoint was validated key by key, so strict loading cannot hide anything here.
        self.load_state_dict(state, strict=True, assign=True)

    @property
    def phrase_dim(self) -> int:
        return self.position_net.in_dim

    def grounding_tokens(self, boxes: torch.Tensor, phrase_embeddings: torch.Tensor) -> torch.Tensor:
        """Tokens for one layout, padded with null tokens to the trained 30 slots.

        boxes: (N, 4) normalized xyxy; phrase_embeddings: (N, phrase_dim); N may be 0.
        Returns (1, 30, context_dim) on the position net's device, in its dtype.
        """
        param = self.position_net.null_positive_feature
        n = boxes.shape[0]
        padded_boxes = torch.zeros(1, MAX_OBJECTS, 4, device=param.device, dtype=param.dtype)
        padded_phrases = torch.zeros(1, MAX_OBJECTS, self.phrase_dim, device=param.device, dtype=param.dtype)
        masks = torch.zeros(1, MAX_OBJECTS, device=param.device, dtype=param.dtype)
        padded_boxes[0, :n] = boxes.to(param.device, param.dtype)
        padded_phrases[0, :n] = phrase_embeddings.to(param.device, param.dtype)
        masks[0, :n] = 1
        return self.position_net(padded_boxes, masks, padded_phrases)

    def null_tokens(self) -> torch.Tensor:
        """The all-null grounding the unconditional branch was trained with: (1, 30, context_dim)."""
        param = self.position_net.null_positive_feature
        return self.grounding_tokens(torch.zeros(0, 4, device=param.device), torch.zeros(0, self.phrase_dim))
