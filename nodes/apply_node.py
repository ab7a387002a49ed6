"""GLIGEN Apply: clone the MODEL and install the fusers with a layout and a schedule."""

from __future__ import annotations

from typing import Any

from comfy_api.latest import io

from ..gligen_model import BetaSchedule, GligenInputError
from ..gligen_model.errors import short_repr
from ..gligen_model.grounding import MapGrounding
from ..gligen_model.inpainting import InpaintImage
from ..gligen_model.model import Grounding
from .patch.install import install_grounding
from .sockets import CATEGORY, DEFAULT_SCHEDULE, GligenModelSocket, GroundingSocket, InpaintSocket, ScheduleSocket

NEGATIVE_MODES = ["null grounding (official)", "same as positive (ComfyUI core)"]


def apply_grounding(model: Any, gligen_patcher: Any, grounding: Grounding, schedule: BetaSchedule | None,
                    negative: str = NEGATIVE_MODES[0], inpaint: InpaintImage | None = None) -> Any:
    """Return a patched clone of `model`; the input model is left untouched.
    schedule None: the authors' schedule for the file (30% of the steps for boxes and poses, see docs/nodes.md)."""
    if negative not in NEGATIVE_MODES:
        raise GligenInputError(f"Unknown negative mode {short_repr(negative)}; choose one of {NEGATIVE_MODES}.")
    if schedule is None:
        gligen = gligen_patcher.model
        widened = gligen.inpainting or isinstance(grounding, MapGrounding)
        schedule = gligen.default_schedule if widened else DEFAULT_SCHEDULE
    return install_grounding(model, gligen_patcher, grounding, schedule,
                             ground_negative=negative == NEGATIVE_MODES[1], inpaint=inpaint)


class GligenApply(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GLIGENSuite_Apply",
            display_name="GLIGEN Apply (Suite)",
            category=CATEGORY,
            description="Adds GLIGEN's gated self-attention to a copy of the MODEL, grounded on the layout or map. "
                        "Without a schedule input, the authors' schedule for the file is used: grounding for the "
                        "first 30% of the steps for boxes and poses, 90% for HED / canny maps, 70% for depth, "
                        "normal and semantic maps, every step for inpainting. The negative prompt gets GLIGEN's "
                        "learned null grounding, as in training; 'same as positive' reproduces ComfyUI core's "
                        "built-in GLIGEN nodes. Inpainting files also need the inpaint input.",
            inputs=[
                io.Model.Input("model", tooltip="An SD1.x, SD2.x or SDXL MODEL, of the GLIGEN file's family."),
                GligenModelSocket.Input("gligen", tooltip="From GLIGEN Loader (Suite)."),
                GroundingSocket.Input("grounding", tooltip="From GLIGEN Text-Box Encode, Pose Encode or Map Encode "
                                                           "(Suite)."),
                ScheduleSocket.Input("schedule", optional=True,
                                     tooltip="From GLIGEN Schedule (Suite); default: the authors' schedule for the "
                                             "file (30% of the steps for boxes and poses)."),
                io.Combo.Input("negative", options=NEGATIVE_MODES, default=NEGATIVE_MODES[0],
                               tooltip="What the unconditional (negative) branch of CFG is grounded on."),
                InpaintSocket.Input("inpaint", optional=True,
                                    tooltip="Only for GLIGEN's inpainting files: from GLIGEN Inpaint Image (Suite)."),
            ],
            outputs=[io.Model.Output(display_name="model")],
        )

    @classmethod
    def execute(cls, model: Any, gligen: Any, grounding: Grounding, negative: str,
                schedule: BetaSchedule | None = None, inpaint: InpaintImage | None = None) -> io.NodeOutput:
        return io.NodeOutput(apply_grounding(model, gligen, grounding, schedule, negative, inpaint))
