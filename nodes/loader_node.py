"""GLIGEN Loader: a file from models/gligen -> a GligenModel under ComfyUI's memory management."""

from __future__ import annotations

import comfy.model_management
import comfy.model_patcher
import comfy.ops
import folder_paths
from comfy.ldm.modules.attention import optimized_attention
from comfy_api.latest import io

from ..gligen_model import GligenInputError, GligenModel, load_gligen_checkpoint
from .socket_types import CATEGORY, GligenModelSocket


def gligen_file_path(name: str) -> str:
    """Resolve a name from the models/gligen list; refuse anything the host does not list."""
    if name not in folder_paths.get_filename_list("gligen"):
        raise GligenInputError(
            f"GLIGEN file '{name}' is not in models/gligen. Put the file there (e.g. "
            "gligen_sd14_textbox_pruned.safetensors) and press 'r' to refresh the list.")
    return folder_paths.get_full_path_or_raise("gligen", name)


def load_gligen_patcher(path: str) -> comfy.model_patcher.ModelPatcher:
    """Read a GLIGEN file strictly and wrap it so ComfyUI loads/offloads it with the UNet."""
    checkpoint = load_gligen_checkpoint(path)
    model = GligenModel(checkpoint, operations=comfy.ops.manual_cast, attention=optimized_attention)
    if comfy.model_management.should_use_fp16():
        model = model.half()
    return comfy.model_patcher.ModelPatcher(
        model, load_device=comfy.model_management.get_torch_device(),
        offload_device=comfy.model_management.unet_offload_device())


class GligenLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GLIGENSuite_Loader",
            display_name="GLIGEN Loader (Suite)",
            category=CATEGORY,
            description="Loads a GLIGEN checkpoint from models/gligen: ComfyUI's pruned safetensors, the "
                        "authors' official file, or diffusers' gated UNet weights.",
            inputs=[io.Combo.Input("gligen_name", options=folder_paths.get_filename_list("gligen"),
                                   tooltip="A GLIGEN file in models/gligen.")],
            outputs=[GligenModelSocket.Output(display_name="gligen")],
        )

    @classmethod
    def execute(cls, gligen_name: str) -> io.NodeOutput:
        return io.NodeOutput(load_gligen_patcher(gligen_file_path(gligen_name)))
