"""The pack's socket types and the values that travel on them."""

from __future__ import annotations

from comfy_api.latest import io

from ..gligen_model import BetaSchedule

GligenModelSocket = io.Custom("GLIGEN_SUITE_MODEL")   # value: comfy ModelPatcher wrapping a GligenModel
GroundingSocket = io.Custom("GLIGEN_GROUNDING")       # value: gligen_model BoxGrounding | PoseGrounding
ScheduleSocket = io.Custom("GLIGEN_SCHEDULE")         # value: gligen_model.BetaSchedule

CATEGORY = "conditioning/gligen_suite"
DEFAULT_SCHEDULE = BetaSchedule.hard_cut(0.3)         # the authors' text-box setting: alpha_type [0.3, 0, 0.7]
