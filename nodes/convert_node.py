"""GLIGEN Convert to Adapter: a GLIGEN file or shard set (e.g. GLIGEN-XL's 17.5 GB unet folder) -> an
adapter-only fp16 safetensors in models/gligen (gligen_model/adapter_file.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import folder_paths
import torch
from comfy_api.latest import io, ui

from ..gligen_model import load_gligen_checkpoint
from ..gligen_model.adapter_file import (
    adapter_file_name,
    check_adapter_file_name,
    check_adapter_target,
    write_adapter,
)
from ..gligen_model.weight_sources import source_files
from .loader_node import gligen_choices, gligen_file_path, show_on_node
from .sockets import CATEGORY


def adapter_target(gligen_name: str, filename: str) -> Path:
    """Where the adapter goes: `filename` (empty: named after the source) in the first models/gligen folder."""
    name = check_adapter_file_name(filename or adapter_file_name(gligen_name))
    return Path(folder_paths.get_folder_paths("gligen")[0], name)


class GligenConvertToAdapter(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GLIGENSuite_ConvertToAdapter",
            display_name="GLIGEN Convert to Adapter (Suite)",
            category=CATEGORY,
            description="Writes the GLIGEN part of a GLIGEN file into a new fp16 safetensors in models/gligen: "
                        "the fusers and position net (and a downsampler, widened first conv or text projection "
                        "where the file has them), without the frozen base UNet. For GLIGEN-XL's unet folder "
                        "(17.5 GB) that is 1198 tensors, 3.6 GB, which the GLIGEN Loader reads like the source.",
            inputs=[
                io.Combo.Input("gligen_name", options=gligen_choices(),
                               tooltip="The GLIGEN file, shard, or folder of shards (ending in '/') to convert."),
                io.String.Input("filename", default="",
                                tooltip="Name of the new file in models/gligen, ending in .safetensors; empty: "
                                        "named after the source (gligen-xl-1024/unet/ -> gligen-xl-1024.safetensors)."),
                io.Boolean.Input("overwrite", default=False, tooltip="Replace an existing file of that name."),
            ],
            outputs=[],
            hidden=[io.Hidden.unique_id],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, gligen_name: str, filename: str = "", overwrite: bool = False) -> io.NodeOutput:
        source = gligen_file_path(gligen_name)
        target = adapter_target(gligen_name, filename)
        check_adapter_target(target, source_files(source), overwrite)
        checkpoint = load_gligen_checkpoint(source, dtype=torch.float16)
        written = write_adapter(checkpoint, target, gligen_name)
        text = (f"Wrote {written.path}: {written.tensors} tensors, {written.size / 1e9:.2f} GB "
                f"(fp16 GLIGEN adapter of {gligen_name}; {checkpoint.summary()})")
        logging.info("GLIGEN Suite: %s", text)
        show_on_node(cls, text)
        return io.NodeOutput(ui=ui.PreviewText(text))
