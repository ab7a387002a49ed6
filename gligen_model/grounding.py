"""What a layout becomes before the position net: boxes with phrase features, or poses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .pose import JOINTS, Person


@dataclass(frozen=True)
class BoxGrounding:
    """Objects: phrases, their pooled CLIP-L features (N, D) and boxes (N, 4) normalized xyxy."""

    phrases: tuple[str, ...]
    phrase_embeddings: torch.Tensor
    boxes: torch.Tensor

    def __len__(self) -> int:
        return len(self.phrases)


@dataclass(frozen=True)
class PoseGrounding:
    """Persons: points (P, 17, 2) normalized xy in COCO-17 order, visible (P, 17) 1 = joint present."""

    points: torch.Tensor
    visible: torch.Tensor

    def __len__(self) -> int:
        return int(self.points.shape[0])


def pose_grounding(persons: Sequence[Person]) -> PoseGrounding:
    """Persons (COCO-17, normalized, None = hidden joint) -> tensors for the keypoint position net."""
    points = torch.zeros(len(persons), JOINTS, 2)
    visible = torch.zeros(len(persons), JOINTS)
    for p, person in enumerate(persons):
        for j, joint in enumerate(person.joints):
            if joint is not None:
                points[p, j] = torch.tensor(joint)
                visible[p, j] = 1.0
    return PoseGrounding(points, visible)
