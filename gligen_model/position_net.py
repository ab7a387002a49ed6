"""Grounding tokenizers ("position nets"): object descriptions -> grounding tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .fourier import BOX_FOURIER_FREQS, fourier_embed
from .grounding import BoxGrounding
from .layout import MAX_OBJECTS

BOX_FOURIER_DIM = BOX_FOURIER_FREQS * 2 * 4  # 2: sin/cos, 4: xyxy
MLP_HIDDEN = 512
IMAGE_FEATURE_NORM = 28.7  # "empirically same as text penultimate feature norm" (authors' tsv_dataset.py)


def grounding_mlp(in_dim: int, out_dim: int, operations: Any) -> nn.Sequential:
    """The position nets' MLP: Linear -> SiLU -> Linear(512, 512) -> SiLU -> Linear (keys 0, 2, 4)."""
    return nn.Sequential(
        operations.Linear(in_dim, MLP_HIDDEN, device="meta"), nn.SiLU(),
        operations.Linear(MLP_HIDDEN, MLP_HIDDEN, device="meta"), nn.SiLU(),
        operations.Linear(MLP_HIDDEN, out_dim, device="meta"),
    )


def project_image_embedding(image_embeds: torch.Tensor, text_projection: torch.Tensor) -> torch.Tensor:
    """CLIP ViT-L/14 `image_embeds` (N, 768) -> the text-feature space the text-image model expects.

    f @ P with P = CLIP-L's text_projection weight (the authors' `project(f, P.T)`), then rescaled
    to norm 28.7. diffusers' CLIPImageProjection holds P^T and applies it as f @ W^T: the same.
    """
    projected = image_embeds.float() @ text_projection.float()
    return projected / projected.norm(dim=-1, keepdim=True) * IMAGE_FEATURE_NORM


@dataclass(frozen=True)
class BoxSlots:
    """A box grounding padded to MAX_OBJECTS slots, batch 1: boxes (1, 30, 4), masks / text_masks /
    image_masks (1, 30), phrases / images (1, 30, entity_dim); images already projected (f @ P, norm 28.7)."""

    boxes: torch.Tensor
    masks: torch.Tensor
    text_masks: torch.Tensor
    image_masks: torch.Tensor
    phrases: torch.Tensor
    images: torch.Tensor


def box_slots(grounding: BoxGrounding | None, entity_dim: int, image_projection: torch.Tensor | None,
              device: torch.device, dtype: torch.dtype) -> BoxSlots:
    """The position nets' inputs for `grounding` (None: every slot empty, CFG's null grounding)."""
    def zeros(*shape: int) -> torch.Tensor:
        return torch.zeros(1, MAX_OBJECTS, *shape, device=device, dtype=dtype)

    slots = BoxSlots(zeros(4), zeros(), zeros(), zeros(), zeros(entity_dim), zeros(entity_dim))
    if grounding is None or not len(grounding):
        return slots
    n = len(grounding)
    slots.boxes[0, :n] = grounding.boxes.to(device, dtype)
    slots.masks[0, :n] = 1
    slots.text_masks[0, :n] = grounding.text_mask.to(device, dtype)
    if grounding.phrase_embeddings.shape[1] == entity_dim:
        slots.phrases[0, :n] = grounding.phrase_embeddings.to(device, dtype)
    if grounding.has_images and image_projection is not None:
        slots.image_masks[0, :n] = grounding.image_mask.to(device, dtype)
        has_image = grounding.image_mask.to(device)[:, None] > 0
        projected = project_image_embedding(grounding.image_embeddings.to(device), image_projection.to(device))
        slots.images[0, :n] = torch.where(has_image, projected, torch.zeros_like(projected)).to(dtype)
    return slots


class TextBoxPositionNet(nn.Module):
    """Phrase + box -> one grounding token per object (GLIGEN text-box checkpoints).

    token = MLP([phrase_embedding ; Fourier(box)]); padded slots (mask 0) use the learned
    `null_positive_feature` / `null_position_feature` instead, so an all-zero mask gives the
    "no grounding" tokens that classifier-free guidance's unconditional branch was trained with.
    """

    def __init__(self, in_dim: int = 768, out_dim: int = 768, operations: Any = nn) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.linears = grounding_mlp(in_dim + BOX_FOURIER_DIM, out_dim, operations)
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

    def tokens_for(self, grounding: BoxGrounding | None, image_projection: torch.Tensor | None) -> torch.Tensor:
        """(1, 30, out_dim) tokens of a box grounding, or the null tokens for None."""
        param = self.null_positive_feature
        slots = box_slots(grounding, self.in_dim, None, param.device, param.dtype)
        return self(slots.boxes, slots.masks, slots.phrases)


class TextImagePositionNet(nn.Module):
    """Phrase and/or reference image + box -> two tokens per object (GLIGEN text-image-box checkpoints).

    Returns [text tokens ; image tokens] (2N tokens). Each object may drop its phrase or its image
    (text/image mask 0 -> the learned null text/image feature); both halves share the box features.
    """

    def __init__(self, in_dim: int = 768, out_dim: int = 768, operations: Any = nn) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.linears_text = grounding_mlp(in_dim + BOX_FOURIER_DIM, out_dim, operations)
        self.linears_image = grounding_mlp(in_dim + BOX_FOURIER_DIM, out_dim, operations)
        self.null_text_feature = nn.Parameter(torch.empty(in_dim, device="meta"))
        self.null_image_feature = nn.Parameter(torch.empty(in_dim, device="meta"))
        self.null_position_feature = nn.Parameter(torch.empty(BOX_FOURIER_DIM, device="meta"))

    def forward(self, boxes: torch.Tensor, masks: torch.Tensor, text_masks: torch.Tensor, image_masks: torch.Tensor,
                text_embeddings: torch.Tensor, image_embeddings: torch.Tensor) -> torch.Tensor:
        """boxes (B, N, 4); masks/text_masks/image_masks (B, N); embeddings (B, N, in_dim) -> (B, 2N, out_dim)."""
        dtype = text_embeddings.dtype
        m, mt, mi = (t.to(dtype).unsqueeze(-1) for t in (masks, text_masks, image_masks))
        positions = fourier_embed(boxes).to(dtype) * m + (1 - m) * self.null_position_feature.to(boxes.device, dtype)
        text = text_embeddings * mt + (1 - mt) * self.null_text_feature.to(boxes.device, dtype)
        image = image_embeddings * mi + (1 - mi) * self.null_image_feature.to(boxes.device, dtype)
        return torch.cat([self.linears_text(torch.cat([text, positions], dim=-1)),
                          self.linears_image(torch.cat([image, positions], dim=-1))], dim=1)

    def tokens_for(self, grounding: BoxGrounding | None, image_projection: torch.Tensor | None) -> torch.Tensor:
        """(1, 60, out_dim) tokens [text ; image] of a box grounding, or the null tokens for None."""
        param = self.null_text_feature
        s = box_slots(grounding, self.in_dim, image_projection, param.device, param.dtype)
        return self(s.boxes, s.masks, s.text_masks, s.image_masks, s.phrases, s.images)
