"""GLIGEN Apply: clone the MODEL and install the fusers with a layout and a schedule."""

from __future__ import annotations

from typing import Any

from comfy_api.latest import io

from ..gligen_model import BetaSchedule, GligenInputError
from ..gligen_model.model import Grounding
from .patch.install import install_grounding
from .sockets import CATEGORY, DEFAULT_SCHEDULE, GligenModelSocket, GroundingSocket, ScheduleSocket

NEGATIVE_MODES = ["null grounding (official)", "same as positive (ComfyUI core)"]


def apply_grounding(model: Any, gligen_patcher: Any, grounding: Grounding, schedule: BetaSchedule,
                    negative: str = NEGATIVE_MODES[0]) -> Any:
    """Return a patched clone of `model`; the input model is left untouched."""
    if negative not in NEGATIVE_MODES:
        raise GligenInputError(f"Unknown negative mode '{negative}'; choose one of {NEGATIVE_MODES}.")
    return install_grounding(model, gligen_patcher, grounding, schedule, ground_negative=negative == NEGATIVE_MODES[1])


class GligenApply(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GLIGENSuite_Apply",
            display_name="GLIGEN Apply (Suite)",
            category=CATEGORY,
            description="Adds GLIGEN's gated self-attention to a copy of the MODEL, grounded on the layout. "
                        "Without a schedule input, grounding runs for the first 30% of the steps (the authors' "
                        "text-box setting). The negative prompt gets GLIGEN's learned null grounding, as in "
                        "training; 'same as positive' reproduces ComfyUI core's built-in GLIGEN nodes.",
            inputs=[
                io.Model.Input("model", tooltip="An SD1.x MODEL."),
                GligenModelSocket.Input("gligen", tooltip="From GLIGEN Loader (Suite)."),
                GroundingSocket.Input("grounding", tooltip="From GLIGEN Text-Box Encode (Suite)."),
                ScheduleSocket.Input("schedule", optional=True,
                                     tooltip="From GLIGEN Schedule (Suite); default: on for 30% of the steps."),
                io.Combo.Input("negative", options=NEGATIVE_MODES, default=NEGATIVE_MODES[0],
                               tooltip="What the unconditional (negative) branch of CFG is grounded on."),
            ],
            outputs=[io.Model.Output(display_name="model")],
        )

    @classmethod
    def execute(cls, model: Any, gligen: Any, grounding: Grounding, negative: str,
                schedule: BetaSchedule | None = None) -> io.NodeOutput:
        return io.NodeOutput(apply_grounding(model, gligen, grounding, schedule or DEFAULT_SCHEDULE, negative))
