"""Installing grounding on a MODEL: a clone with the wrappers, the middle patch and the fusers' ModelPatcher.

The input MODEL is never changed. Which patches a MODEL already carries is kept as a ModelPatcher
attachment (INSTALLED_KEY), which every clone inherits, so a second Apply of one grounding kind
can be refused without reading ComfyUI's patch lists.
"""

from __future__ import annotations

from typing import Any

import comfy.patcher_extension

from ...gligen_model import BetaSchedule, GligenInputError, GligenModel
from ...gligen_model.grounding import PoseGrounding
from ...gligen_model.model import Grounding
from .grounding_patch import GroundingPatch
from .unet_blocks import check_fusers_fit, transformer_slots

ADDITIONAL_MODELS_KEY = "gligen_suite"
INSTALLED_KEY = "gligen_suite.patches"
SECOND_APPLY_FIX = {  # is pose grounding -> (what it is grounded on, how to combine two layouts)
    False: ("boxes", "put all objects into one layout (chain the Text-Box Encode nodes through 'append_to', "
                     "at most 30 objects)"),
    True: ("poses", "put all persons into one GLIGEN Pose Encode (layout persons plus a POSE_KEYPOINT, at most 8)"),
}


def install_grounding(model: Any, gligen_patcher: Any, grounding: Grounding, schedule: BetaSchedule,
                      ground_negative: bool) -> Any:
    """A patched clone of `model` (a ModelPatcher) grounded on `grounding`; `model` is left untouched.
    ground_negative: the negative branch gets the layout too (ComfyUI core's way) instead of null tokens."""
    gligen: GligenModel = gligen_patcher.model
    slots = transformer_slots(model.get_model_object("diffusion_model"))
    check_fusers_fit(gligen.info, tuple(f.linear.out_features for f in gligen.fusers),
                     gligen.fusers[0].linear.in_features, slots)
    gligen.check_accepts(grounding)
    if len(grounding) == 0:
        return model.clone()  # nothing to ground: the plain base model, bit for bit
    refuse_second_apply(model, grounding)
    patch = GroundingPatch(gligen, grounding, schedule, ground_negative=ground_negative,
                           model_sampling=model.get_model_object("model_sampling"),
                           block_addresses=[slot.address for slot in slots])
    patched = model.clone()
    patched.set_model_patch(patch, "middle_patch")
    wrappers = comfy.patcher_extension.WrappersMP
    patched.add_wrapper_with_key(wrappers.SAMPLER_SAMPLE, patch.key, patch.sampler_sample)
    patched.add_wrapper_with_key(wrappers.CALC_COND_BATCH, patch.key, patch.calc_cond_batch)
    patched.add_wrapper_with_key(wrappers.DIFFUSION_MODEL, patch.key, patch.prepare_call)
    others = patched.get_additional_models_with_key(ADDITIONAL_MODELS_KEY)
    patched.set_additional_models(ADDITIONAL_MODELS_KEY, [*others, gligen_patcher])
    patched.set_attachments(INSTALLED_KEY, (*installed_patches(model), patch))
    return patched


def installed_patches(model: Any) -> tuple[GroundingPatch, ...]:
    """The GroundingPatches already installed on a MODEL (by earlier GLIGEN Apply nodes)."""
    return tuple(model.get_attachment(INSTALLED_KEY) or ())


def refuse_second_apply(model: Any, grounding: Grounding) -> None:
    """One layout per grounding kind: a second Apply of the same kind would run the fusers twice per block."""
    for earlier in installed_patches(model):
        if type(earlier.grounding) is type(grounding):
            kind, fix = SECOND_APPLY_FIX[isinstance(grounding, PoseGrounding)]
            raise GligenInputError(
                f"This MODEL already went through a GLIGEN Apply (Suite) grounded on {kind} ({earlier.gligen.info}). "
                "A second layout of the same kind would run GLIGEN's fusers twice in every block, which the model "
                f"was never trained for: {fix} and use one GLIGEN Apply, fed the MODEL from your checkpoint.")
