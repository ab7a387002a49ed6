"""GLIGEN Schedule: beta over the sampling steps (scheduled sampling)."""

from __future__ import annotations

import re

from comfy_api.latest import io

from ..gligen_model import BetaSchedule, GligenInputError
from ..gligen_model.errors import short_repr, short_text
from ..gligen_model.schedule import MAX_BETA, MAX_CURVE_VALUES
from .sockets import CATEGORY, ScheduleSocket

MODES = ["phases", "constant", "curve"]
# A curve value: a plain decimal number (ASCII digits, optional sign and point; no exponent, underscore, nan, inf).
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_MAX_VALUE_CHARS = 32  # of one curve value; "0.333..." needs no more
MAX_CURVE_CHARS = MAX_CURVE_VALUES * 8  # the whole curve text, checked before it is split


def parse_curve(text: str) -> list[float]:
    """'1, 1, 0.5, 0' -> [1.0, 1.0, 0.5, 0.0]; commas or spaces separate values, each a plain decimal number
    from 0 to MAX_BETA; at most MAX_CURVE_VALUES of them."""
    if len(text) > MAX_CURVE_CHARS:
        raise GligenInputError(f"The beta curve is {len(text):,} characters long; the limit is {MAX_CURVE_CHARS:,} "
                               f"(at most {MAX_CURVE_VALUES:,} values): give one value per step or fewer.")
    parts = text.replace(",", " ").split()
    if len(parts) > MAX_CURVE_VALUES:
        raise GligenInputError(f"The beta curve has {len(parts):,} values; the limit is {MAX_CURVE_VALUES:,} (one per "
                               "step): give fewer, they are spread evenly over the steps.")
    values = []
    for position, part in enumerate(parts, 1):
        if len(part) > _MAX_VALUE_CHARS or not _DECIMAL.fullmatch(part):
            raise GligenInputError(f"The beta curve's value {position} ('{short_text(part, 20)}') is not a plain "
                                   "decimal number: write numbers separated by commas, like '1, 1, 0.5, 0' (0 to 2).")
        value = float(part)
        if not 0.0 <= value <= MAX_BETA:
            raise GligenInputError(f"The beta curve's value {position} ({part}) is outside 0 to {MAX_BETA:g}: beta 1 "
                                   "grounds as trained, 0 not at all; use values in that range.")
        values.append(value)
    return values


def build_schedule(mode: str, grounding_fraction: float, decay_fraction: float, strength: float,
                   curve: str) -> BetaSchedule:
    if mode == "phases":
        return BetaSchedule.phases(grounding_fraction, decay_fraction, strength)
    if mode == "constant":
        return BetaSchedule.constant(strength)
    if mode == "curve":
        return BetaSchedule.curve(parse_curve(curve), strength)
    raise GligenInputError(f"Unknown schedule mode {short_repr(mode)}; choose one of {MODES}.")


class GligenSchedule(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GLIGENSuite_Schedule",
            display_name="GLIGEN Schedule (Suite)",
            category=CATEGORY,
            description="Scheduled sampling: grounding sets the layout in the first steps, then the plain base "
                        "model adds detail. 'phases' = the authors' [on, decay, off] (text-box default: 0.3 on, "
                        "0 decay); 'constant' = always on (ComfyUI core); 'curve' = one beta per step.",
            inputs=[
                io.Combo.Input("mode", options=MODES, default="phases"),
                io.Float.Input("grounding_fraction", default=0.3, min=0.0, max=1.0, step=0.01,
                               tooltip="phases: fraction of the steps with full grounding (tau in the paper)."),
                io.Float.Input("decay_fraction", default=0.0, min=0.0, max=1.0, step=0.01,
                               tooltip="phases: fraction of the steps over which beta falls linearly to 0."),
                io.Float.Input("strength", default=1.0, min=0.0, max=2.0, step=0.01,
                               tooltip="Multiplies beta everywhere; 1 = as trained, 0 = the plain base model."),
                io.String.Input("curve", default="1, 1, 1, 0.5, 0, 0, 0, 0, 0, 0",
                                tooltip="curve: beta values (0 to 2, 1 = as trained) spread evenly over the steps."),
            ],
            outputs=[ScheduleSocket.Output(display_name="schedule")],
        )

    @classmethod
    def execute(cls, mode: str, grounding_fraction: float, decay_fraction: float, strength: float,
                curve: str) -> io.NodeOutput:
        return io.NodeOutput(build_schedule(mode, grounding_fraction, decay_fraction, strength, curve))
