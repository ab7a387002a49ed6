"""The pack's socket types and the values that travel on them."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from comfy_api.latest import io

from ..gligen_model import BetaSchedule

GligenModelSocket = io.Custom("GLIGEN_SUITE_MODEL")   # value: comfy ModelPatcher wrapping a GligenModel
GroundingSocket = io.Custom("GLIGEN_GROUNDING")       # value: TextBoxGrounding
ScheduleSocket = io.Custom("GLIGEN_SCHEDULE")         # value: gligen_model.BetaSchedule

CATEGORY = "conditioning/gligen_suite"
DEFAULT_SCHEDULE = BetaSchedule.hard_cut(0.3)         # the authors' text-box setting: alpha_type [0.3, 0, 0.7]


@dataclass(frozen=True)
class TextBoxGrounding:
    """Encoded objects: phrases, their pooled CLIP embeddings (N, D) and boxes (N, 4) normalized xyxy."""

    phrases: tuple[str, ...]
    phrase_embeddings: torch.Tensor
    boxes: torch.Tensor

    def __len__(self) -> int:
        return len(self.phrases)
