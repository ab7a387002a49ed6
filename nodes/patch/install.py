"""Installing grounding on a MODEL: a clone with the wrappers, the middle patch and the fusers' ModelPatcher.

The input MODEL is never changed. Which patches a MODEL already carries is kept as a ModelPatcher
attachment (INSTALLED_KEY), which every clone inherits, so a second Apply of one grounding kind
can be refused without reading ComfyUI's patch lists.
"""

from __future__ import annotations

from typing import Any

import comfy.patcher_extension

from ...gligen_model import BetaSchedule, GligenInputError, GligenModel
from ...gligen_model.frames import FrameGroundings, grounding_kind
from ...gligen_model.grounding import BoxGrounding, MapGrounding, PoseGrounding
from ...gligen_model.inpainting import InpaintImage
from ...gligen_model.model import Grounding
from .grounding_patch import GroundingPatch
from .unet_blocks import check_fusers_fit, transformer_slots
from .unet_input import WidenedInput

ADDITIONAL_MODELS_KEY = "gligen_suite"
INSTALLED_KEY = "gligen_suite.patches"
SECOND_APPLY_FIX = {  # grounding type -> (what it is grounded on, how to combine two layouts)
    BoxGrounding: ("boxes", "put all objects into one layout (chain the Text-Box Encode nodes through 'append_to', "
                            "at most 30 objects)"),
    PoseGrounding: ("poses", "put all persons into one GLIGEN Pose Encode (layout persons plus a POSE_KEYPOINT, "
                             "at most 8)"),
    MapGrounding: ("a spatial map", "choose one map"),
}


def install_grounding(model: Any, gligen_patcher: Any, grounding: Grounding | FrameGroundings, schedule: BetaSchedule,
                      ground_negative: bool, inpaint: InpaintImage | None = None) -> Any:
    """A patched clone of `model` (a ModelPatcher) grounded on `grounding`; `model` is left untouched.
    ground_negative: the negative branch gets the layout too (ComfyUI core's way) instead of null tokens.
    inpaint: the picture to edit, for GLIGEN's inpainting files (required by them, refused by the others)."""
    gligen: GligenModel = gligen_patcher.model
    diffusion_model = model.get_model_object("diffusion_model")
    slots = transformer_slots(diffusion_model)
    check_fusers_fit(gligen.info, tuple(f.linear.out_features for f in gligen.fusers),
                     gligen.fusers[0].linear.in_features, slots)
    gligen.check_accepts(grounding)
    check_inpaint_input(gligen, grounding, inpaint)
    if len(grounding) == 0 and not gligen.widens_input:
        return model.clone()  # nothing to ground: the plain base model, bit for bit
    refuse_second_apply(model, grounding)
    unet_input = None
    if gligen.widens_input:
        refuse_second_widening(model, gligen)
        boxes = grounding.boxes if isinstance(grounding, BoxGrounding) else None
        unet_input = WidenedInput(gligen, diffusion_model.input_blocks[0][0], model.get_model_object("model_sampling"),
                                  inpaint, model.get_model_object("latent_format"), boxes)
    patch = GroundingPatch(gligen, grounding, schedule, ground_negative=ground_negative,
                           model_sampling=model.get_model_object("model_sampling"),
                           block_addresses=[slot.address for slot in slots], unet_input=unet_input,
                           slot=len(installed_patches(model)))
    patched = model.clone()
    patched.set_model_patch(patch, "middle_patch")
    wrappers = comfy.patcher_extension.WrappersMP
    if unet_input is not None:
        patched.set_model_input_block_patch(patch.input_block)
    if inpaint is not None:
        patched.add_wrapper_with_key(wrappers.PREDICT_NOISE, patch.key, patch.predict_noise)
    patched.add_wrapper_with_key(wrappers.SAMPLER_SAMPLE, patch.key, patch.sampler_sample)
    patched.add_wrapper_with_key(wrappers.CALC_COND_BATCH, patch.key, patch.calc_cond_batch)
    patched.add_wrapper_with_key(wrappers.APPLY_MODEL, patch.key, patch.apply_model)
    if unet_input is not None:
        patched.add_wrapper_with_key(wrappers.DIFFUSION_MODEL, patch.key, patch.diffusion_input)
    others = patched.get_additional_models_with_key(ADDITIONAL_MODELS_KEY)
    patched.set_additional_models(ADDITIONAL_MODELS_KEY, [*others, gligen_patcher])
    patched.set_attachments(INSTALLED_KEY, (*installed_patches(model), patch))
    return patched


def installed_patches(model: Any) -> tuple[GroundingPatch, ...]:
    """The GroundingPatches already installed on a MODEL (by earlier GLIGEN Apply nodes)."""
    return tuple(model.get_attachment(INSTALLED_KEY) or ())


def refuse_second_apply(model: Any, grounding: Grounding | FrameGroundings) -> None:
    """One layout per grounding kind: a second Apply of the same kind would run the fusers twice per block."""
    for earlier in installed_patches(model):
        if grounding_kind(earlier.grounding) is grounding_kind(grounding):
            kind, fix = SECOND_APPLY_FIX[grounding_kind(grounding)]
            raise GligenInputError(
                f"This MODEL already went through a GLIGEN Apply (Suite) grounded on {kind} ({earlier.gligen.info}). "
                "A second layout of the same kind would run GLIGEN's fusers twice in every block, which the model "
                f"was never trained for: {fix} and use one GLIGEN Apply, fed the MODEL from your checkpoint.")


def check_inpaint_input(gligen: GligenModel, grounding: Grounding, inpaint: InpaintImage | None) -> None:
    """Inpainting files need the picture to edit and something to repaint; other files take no picture."""
    if gligen.inpainting and inpaint is None:
        raise GligenInputError(
            f"{gligen.info}: an inpainting file edits a picture, and none was given. Connect GLIGEN Inpaint Image "
            "(Suite), fed the image and your VAE, to GLIGEN Apply's inpaint input, or load a generation file.")
    if inpaint is not None and not gligen.inpainting:
        raise GligenInputError(
            f"{gligen.info}: GLIGEN Apply got a picture to edit (inpaint input), but this is not one of GLIGEN's "
            "inpainting files. Load gligen-inpainting-text-box (or -text-image-box), or disconnect the inpaint input.")
    if inpaint is not None and inpaint.regenerate is None and len(grounding) == 0:
        raise GligenInputError(
            "GLIGEN inpainting repaints the layout's boxes (or a mask), but the layout has no objects and GLIGEN "
            "Inpaint Image has no mask: draw boxes around what to replace, or connect a MASK.")


def refuse_second_widening(model: Any, gligen: GligenModel) -> None:
    """One widened first conv per MODEL: two spatial / inpainting Applies would each replace the same conv."""
    for earlier in installed_patches(model):
        if earlier.unet_input is not None:
            raise GligenInputError(
                f"This MODEL already went through a GLIGEN Apply (Suite) with {earlier.gligen.info}, which feeds "
                f"the UNet's first conv; {gligen.info} would feed it too. The authors trained no model with both: "
                "use one spatial-map or inpainting GLIGEN Apply per MODEL.")
