"""The pack's ComfyExtension: the list of nodes it registers."""

from __future__ import annotations

from comfy_api.latest import ComfyExtension, io

from .apply_node import GligenApply
from .convert_node import GligenConvertToAdapter
from .inpaint_image_node import GligenInpaintImage
from .loader_node import GligenLoader
from .map_encode_node import GligenMapEncode
from .pose_encode_node import GligenPoseEncode
from .schedule_node import GligenSchedule
from .text_box_encode_node import GligenTextBoxEncode


class GligenSuiteExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return [GligenLoader, GligenTextBoxEncode, GligenPoseEncode, GligenMapEncode, GligenInpaintImage,
                GligenSchedule, GligenApply, GligenConvertToAdapter]
