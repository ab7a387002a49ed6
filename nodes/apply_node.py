"""GLIGEN Apply: clone the MODEL and install the fusers with a layout and a schedule."""

from __future__ import annotations

from typing import Any

import comfy.patcher_extension
from comfy_api.latest import io

from ..gligen_model import BetaSchedule, GligenInputError, GligenModel
from ..gligen_model.model import Grounding
from .grounding_patch import GroundingPatch
from .socket_types import (
    CATEGORY,
    DEFAULT_SCHEDULE,
    GligenModelSocket,
    GroundingSocket,
    ScheduleSocket,
)
from .unet_layout import check_fusers_fit, transformer_slots

NEGATIVE_MODES = ["null grounding (official)", "same as positive (ComfyUI core)"]
ADDITIONAL_MODELS_KEY = "gligen_suite"


def apply_grounding(model: Any, gligen_patcher: Any, grounding: Grounding, schedule: BetaSchedule,
                    negative: str = NEGATIVE_MODES[0]) -> Any:
    """Return a patched clone of `model`; the input model is left untouched."""
    gligen: GligenModel = gligen_patcher.model
    info = gligen.info
    check_fusers_fit(info, tuple(f.linear.out_features for f in gligen.fusers),
                     gligen.fusers[0].linear.in_features, transformer_slots(model.get_model_object("diffusion_model")))
    gligen.check_accepts(grounding)
    if negative not in NEGATIVE_MODES:
        raise GligenInputError(f"Unknown negative mode '{negative}'; choose one of {NEGATIVE_MODES}.")
    if len(grounding) == 0:
        return model.clone()  # nothing to ground: the plain base model, bit for bit
    patch = GroundingPatch(gligen, grounding, schedule, ground_negative=negative == NEGATIVE_MODES[1],
                           model_sampling=model.get_model_object("model_sampling"))
    patched = model.clone()
    patched.set_model_patch(patch, "middle_patch")
    patched.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, patch.key, patch.prepare_call)
    others = patched.get_additional_models_with_key(ADDITIONAL_MODELS_KEY)
    patched.set_additional_models(ADDITIONAL_MODELS_KEY, [*others, gligen_patcher])
    return patched


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
