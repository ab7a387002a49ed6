"""What a layout becomes before the position net: boxes with phrase features, or poses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .pose import JOINTS, Person


@dataclass(frozen=True)
class BoxGrounding:
    """N objects: phrases and/or reference images, placed by boxes.

    phrases: N strings ("" for an image-only object); phrase_embeddings (N, D): pooled CLIP-L
    features (zeros where there is no phrase); boxes (N, 4) normalized xyxy (the authors'
    [0, 1, 0, 1] for a style image); image_embeddings (N, E) CLIP ViT-L/14 `image_embeds`
    before the text projection (zeros where there is no image), or None when no object has one;
    text_mask / image_mask (N,): 1 where the object has a phrase / an image; strengths (N,):
    attention weight of each object's tokens (1 = as trained). Masks and strengths default to
    "every object has a phrase, none an image, strength 1".
    """

    phrases: tuple[str, ...]
    phrase_embeddings: torch.Tensor
    boxes: torch.Tensor
    image_embeddings: torch.Tensor | None = None
    text_mask: torch.Tensor | None = None
    image_mask: torch.Tensor | None = None
    strengths: torch.Tensor | None = None

    def __post_init__(self) -> None:
        n = len(self.phrases)
        defaults = {"text_mask": torch.ones(n), "image_mask": torch.zeros(n), "strengths": torch.ones(n)}
        for name, default in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)

    def __len__(self) -> int:
        return len(self.phrases)

    @property
    def has_images(self) -> bool:
        return bool(self.image_mask.any())


@dataclass(frozen=True)
class PoseGrounding:
    """Persons: points (P, 17, 2) normalized xy in COCO-17 order, visible (P, 17) 1 = joint present,
    strengths (P,) attention weight of each person's tokens (default 1)."""

    points: torch.Tensor
    visible: torch.Tensor
    strengths: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.strengths is None:
            object.__setattr__(self, "strengths", torch.ones(int(self.points.shape[0])))

    def __len__(self) -> int:
        return int(self.points.shape[0])


def concat_box_groundings(first: BoxGrounding, second: BoxGrounding) -> BoxGrounding:
    """All objects of `first`, then those of `second` (chained encode nodes)."""
    if len(first) == 0:
        return second
    if len(second) == 0:
        return first
    phrases = _stack_rows([first.phrase_embeddings, second.phrase_embeddings], [len(first), len(second)])
    images = None
    if first.image_embeddings is not None or second.image_embeddings is not None:
        images = _stack_rows([first.image_embeddings, second.image_embeddings], [len(first), len(second)])
    def both(name: str) -> torch.Tensor:
        return torch.cat([getattr(first, name), getattr(second, name)])

    return BoxGrounding(first.phrases + second.phrases, phrases, both("boxes"), images, both("text_mask"),
                        both("image_mask"), both("strengths"))


def pose_grounding(persons: Sequence[Person]) -> PoseGrounding:
    """Persons (COCO-17, normalized, None = hidden joint) -> tensors for the keypoint position net."""
    points = torch.zeros(len(persons), JOINTS, 2)
    visible = torch.zeros(len(persons), JOINTS)
    for p, person in enumerate(persons):
        for j, joint in enumerate(person.joints):
            if joint is not None:
                points[p, j] = torch.tensor(joint)
                visible[p, j] = 1.0
    return PoseGrounding(points, visible, torch.tensor([float(p.strength) for p in persons]))


def _stack_rows(parts: list[torch.Tensor | None], rows: list[int]) -> torch.Tensor:
    """Concatenate (n_i, D) feature rows; a missing or 0-wide part (no such features) becomes zeros."""
    width = max((p.shape[1] for p in parts if p is not None), default=0)
    return torch.cat([p if p is not None and p.shape[1] == width else torch.zeros(n, width)
                      for p, n in zip(parts, rows, strict=True)])


@dataclass(frozen=True)
class MapGrounding:
    """A spatial map (edge, depth, normal or semantic index map) that grounds the whole picture.

    pixels (1, H, W, 3): the map as ComfyUI's IMAGE holds it, values in [0, 1] (a semantic map: class
    index / 255 in every channel). strength: attention weight of its tokens (1 = as trained).
    """

    pixels: torch.Tensor
    strength: float = 1.0

    def __len__(self) -> int:
        return 1

    @property
    def strengths(self) -> torch.Tensor:
        return torch.tensor([float(self.strength)])

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return int(self.pixels.shape[1]), int(self.pixels.shape[2])
