"""GLIGEN Schedule: beta over the sampling steps (scheduled sampling)."""

from __future__ import annotations

from comfy_api.latest import io

from ..gligen_model import BetaSchedule, GligenInputError
from .sockets import CATEGORY, ScheduleSocket

MODES = ["phases", "constant", "curve"]


def parse_curve(text: str) -> list[float]:
    """'1, 1, 0.5, 0' -> [1.0, 1.0, 0.5, 0.0]; commas or spaces separate values."""
    parts = [p for p in text.replace(",", " ").split() if p]
    try:
        return [float(p) for p in parts]
    except ValueError as e:
        raise GligenInputError(f"The beta curve '{text[:60]}' must be numbers separated by commas, "
                               "e.g. '1, 1, 0.5, 0'.") from e


def build_schedule(mode: str, grounding_fraction: float, decay_fraction: float, strength: float,
                   curve: str) -> BetaSchedule:
    if mode == "phases":
        return BetaSchedule.phases(grounding_fraction, decay_fraction, strength)
    if mode == "constant":
        return BetaSchedule.constant(strength)
    if mode == "curve":
        return BetaSchedule.curve(parse_curve(curve), strength)
    raise GligenInputError(f"Unknown schedule mode '{mode}'; choose one of {MODES}.")


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
                                tooltip="curve: beta values spread evenly over the steps."),
            ],
            outputs=[ScheduleSocket.Output(display_name="schedule")],
        )

    @classmethod
    def execute(cls, mode: str, grounding_fraction: float, decay_fraction: float, strength: float,
                curve: str) -> io.NodeOutput:
        return io.NodeOutput(build_schedule(mode, grounding_fraction, decay_fraction, strength, curve))
