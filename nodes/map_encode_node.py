"""GLIGEN Map Encode: an IMAGE holding a spatial map (HED / canny / depth / normal / semantic) -> grounding."""

from __future__ import annotations

import torch
from comfy_api.latest import io

from ..gligen_model import GligenInputError
from ..gligen_model.grounding import MapGrounding
from .sockets import CATEGORY, MAX_IMAGE_PIXELS, GroundingSocket

MIN_MAP_SIDE = 8


def map_grounding(image: torch.Tensor, strength: float = 1.0) -> MapGrounding:
    """ComfyUI IMAGE (1, H, W, C) in [0, 1] -> MapGrounding (grey maps are spread to 3 channels, alpha dropped)."""
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.is_complex():
        raise GligenInputError("GLIGEN Map Encode's map is not an IMAGE: connect an image (e.g. a Load Image or a "
                               "ControlNet preprocessor's output).")
    batch, height, width, channels = (int(v) for v in image.shape)
    if batch != 1:
        raise GligenInputError(
            f"GLIGEN Map Encode got a batch of {batch} maps; it grounds every picture on one map. Pick one with "
            "ImageFromBatch (batch_index, length 1).")
    if min(height, width) < MIN_MAP_SIDE or height * width > MAX_IMAGE_PIXELS:
        raise GligenInputError(f"The map is {width}x{height} pixels; GLIGEN Map Encode takes maps from "
                               f"{MIN_MAP_SIDE}x{MIN_MAP_SIDE} up to {MAX_IMAGE_PIXELS} pixels (the model reads it at "
                               "the picture's size).")
    if channels not in (1, 3, 4):
        raise GligenInputError(f"The map has {channels} colour channels; GLIGEN Map Encode takes grey, RGB or RGBA.")
    pixels = image[..., :3] if channels != 1 else image.expand(-1, -1, -1, 3)
    pixels = pixels.float().cpu()
    if not bool(torch.isfinite(pixels).all()):
        raise GligenInputError("The map contains NaN or infinite values: check the node that made it.")
    if not 0.0 <= float(strength) <= 2.0:
        raise GligenInputError(f"GLIGEN Map Encode's strength is {strength}; it must be between 0 and 2.")
    return MapGrounding(pixels.clamp(0, 1).contiguous(), float(strength))


class GligenMapEncode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GLIGENSuite_MapEncode",
            display_name="GLIGEN Map Encode (Suite)",
            category=CATEGORY,
            description="A spatial map for GLIGEN's HED, canny, depth, normal and semantic files: an edge map "
                        "(white edges on black, e.g. Canny with thresholds 100 / 200 or HED), a depth map (near = "
                        "bright, e.g. MiDaS), a normal map (RGB), or for the semantic file an ADE20K class-index "
                        "map (grey values = class numbers 0..150, not a colour-coded picture). The map is fitted to "
                        "the picture being sampled (centre crop to its shape, then resized), like ControlNet hints.",
            inputs=[
                io.Image.Input("map", tooltip="The map, one image (e.g. from a ControlNet preprocessor or Load "
                                              "Image)."),
                io.Float.Input("strength", default=1.0, min=0.0, max=2.0, step=0.05,
                               tooltip="Weight of the map's grounding tokens in attention (1 = as trained)."),
            ],
            outputs=[GroundingSocket.Output(display_name="grounding")],
        )

    @classmethod
    def execute(cls, map: torch.Tensor, strength: float = 1.0) -> io.NodeOutput:  # noqa: A002 - the socket's name
        return io.NodeOutput(map_grounding(map, strength))
