"""GLIGEN Apply: clone the MODEL and install the fusers with a layout and a schedule."""

from __future__ import annotations

from typing import Any

import comfy.patcher_extension
from comfy_api.latest import io

from ..gligen_model import BetaSchedule, GligenInputError, GligenModel
from ..gligen_model.grounding import PoseGrounding
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
SECOND_APPLY_FIX = {  # is pose grounding -> (what it is grounded on, how to combine two layouts)
    False: ("boxes", "put all objects into one layout (chain the Text-Box Encode nodes through 'append_to', "
                     "at most 30 objects)"),
    True: ("poses", "put all persons into one GLIGEN Pose Encode (layout persons plus a POSE_KEYPOINT, at most 8)"),
}


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
    refuse_second_apply(model, grounding)
    patch = GroundingPatch(gligen, grounding, schedule, ground_negative=negative == NEGATIVE_MODES[1],
                           model_sampling=model.get_model_object("model_sampling"))
    patched = model.clone()
    patched.set_model_patch(patch, "middle_patch")
    wrappers = comfy.patcher_extension.WrappersMP
    patched.add_wrapper_with_key(wrappers.SAMPLER_SAMPLE, patch.key, patch.sampler_sample)
    patched.add_wrapper_with_key(wrappers.CALC_COND_BATCH, patch.key, patch.calc_cond_batch)
    patched.add_wrapper_with_key(wrappers.DIFFUSION_MODEL, patch.key, patch.prepare_call)
    others = patched.get_additional_models_with_key(ADDITIONAL_MODELS_KEY)
    patched.set_additional_models(ADDITIONAL_MODELS_KEY, [*others, gligen_patcher])
    return patched


def grounding_patches(model: Any) -> list[GroundingPatch]:
    """The GroundingPatches already installed on a MODEL (by earlier GLIGEN Apply nodes)."""
    patches = model.model_options.get("transformer_options", {}).get("patches", {}).get("middle_patch", [])
    return [p for p in patches if isinstance(p, GroundingPatch)]


def refuse_second_apply(model: Any, grounding: Grounding) -> None:
    """One layout per grounding kind: a second Apply of the same kind would run the fusers twice per block."""
    for earlier in grounding_patches(model):
        if type(earlier.grounding) is type(grounding):
            kind, fix = SECOND_APPLY_FIX[isinstance(grounding, PoseGrounding)]
            raise GligenInputError(
                f"This MODEL already went through a GLIGEN Apply (Suite) grounded on {kind} ({earlier.gligen.info}). "
                "A second layout of the same kind would run GLIGEN's fusers twice in every block, which the model "
                f"was never trained for: {fix} and use one GLIGEN Apply, fed the MODEL from your checkpoint.")


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
