"""The pack's socket types and the values that travel on them."""

from __future__ import annotations

from comfy_api.latest import io

from ..gligen_model import BetaSchedule

GligenModelSocket = io.Custom("GLIGEN_SUITE_MODEL")   # value: comfy ModelPatcher wrapping a GligenModel
# GLIGEN_GROUNDING also carries frames.FrameGroundings: one of those per frame (Text-Box Encode's `frames`)
GroundingSocket = io.Custom("GLIGEN_GROUNDING")       # value: gligen_model BoxGrounding | PoseGrounding | MapGrounding
InpaintSocket = io.Custom("GLIGEN_INPAINT")           # value: gligen_model.inpainting.InpaintImage
ScheduleSocket = io.Custom("GLIGEN_SCHEDULE")         # value: gligen_model.BetaSchedule
# Newer ComfyUI's core box types (0.3.75 has no io class for them) and KJNodes / SAM2's BBOX.
BoundingBoxSocket = io.Custom("BOUNDING_BOX")          # value: {x, y, width, height}, pixels
BoundingBoxesSocket = io.Custom("BOUNDING_BOXES")      # value: [{x, y, width, height, metadata}], pixels
BboxSocket = io.Custom("BBOX")                         # value: [[x0, y0, x1, y1], ...], pixels
PoseKeypointSocket = io.Custom("POSE_KEYPOINT")        # comfyui_controlnet_aux's OpenPose / DWPose frames


def SeedBoxesInput(name: str, **options: object) -> io.MultiType.Input:  # noqa: N802 - reads like an io class
    """An input socket that takes any of BOUNDING_BOX, BOUNDING_BOXES and BBOX."""
    return io.MultiType.Input(name, [BoundingBoxSocket, BoundingBoxesSocket, BboxSocket], **options)

CATEGORY = "conditioning/gligen_suite"
DEFAULT_SCHEDULE = BetaSchedule.hard_cut(0.3)         # the authors' text-box setting: alpha_type [0.3, 0, 0.7]
# Images and maps a node reads are limited before any work on them (about 8k x 8k pixels).
MAX_IMAGE_PIXELS = 8192 * 8192
