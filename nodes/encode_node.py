"""GLIGEN Text-Box Encode: layout JSON + CLIP -> grounding (phrase features and boxes)."""

from __future__ import annotations

from typing import Any

import torch
from comfy_api.latest import io

from ..gligen_model import GligenInputError, parse_layout
from ..gligen_model.grounding import BoxGrounding
from ..gligen_model.layout import MAX_OBJECTS, default_layout_json
from .phrase_encoding import encode_phrases
from .socket_types import CATEGORY, GroundingSocket


def encode_layout(clip: Any, layout_json: str, previous: BoxGrounding | None = None) -> BoxGrounding:
    """Parse the layout, embed all phrases in one CLIP batch, and append to `previous` if given."""
    layout = parse_layout(layout_json)
    with_images = [i for i, o in enumerate(layout.objects, 1) if o.image is not None]
    if with_images:
        raise GligenInputError(f"Layout objects {with_images} refer to reference images, which this version of the "
                               "encode node cannot embed yet. Remove their \"image\" keys.")
    phrases = [o.phrase for o in layout.objects]
    embeddings = encode_phrases(clip, phrases)
    boxes = torch.tensor([o.box for o in layout.objects], dtype=torch.float32).reshape(-1, 4)
    if previous is None or len(previous) == 0:
        return BoxGrounding(tuple(phrases), embeddings, boxes)
    if not phrases:
        return previous
    total = len(previous) + len(phrases)
    if total > MAX_OBJECTS:
        raise GligenInputError(f"The chained layouts hold {total} objects; GLIGEN takes at most {MAX_OBJECTS}. "
                               "Remove objects from one of the encode nodes.")
    if previous.phrase_embeddings.shape[1] != embeddings.shape[1]:
        raise GligenInputError("The chained encode nodes used different CLIP models; use the same SD1.x CLIP.")
    return BoxGrounding(previous.phrases + tuple(phrases),
                            torch.cat([previous.phrase_embeddings, embeddings]), torch.cat([previous.boxes, boxes]))


class GligenTextBoxEncode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GLIGENSuite_TextBoxEncode",
            display_name="GLIGEN Text-Box Encode (Suite)",
            category=CATEGORY,
            description="Turns a layout (phrases with boxes, JSON schema v1, see docs/nodes.md) into grounding "
                        "for GLIGEN Apply. All phrases are encoded by the CLIP in one batch.",
            inputs=[
                io.Clip.Input("clip", tooltip="The CLIP of your SD1.x checkpoint."),
                io.String.Input("layout", multiline=True, default=default_layout_json(),
                                tooltip='{"version": 1, "width": W, "height": H, "objects": '
                                        '[{"phrase": "...", "box": [x0, y0, x1, y1]}]}; pixels on a W x H canvas.'),
                GroundingSocket.Input("append_to", optional=True,
                                      tooltip="Grounding from another encode node to add these objects to."),
            ],
            outputs=[GroundingSocket.Output(display_name="grounding")],
        )

    @classmethod
    def execute(cls, clip: Any, layout: str, append_to: BoxGrounding | None = None) -> io.NodeOutput:
        if clip is None:
            raise GligenInputError("The encode node needs a CLIP: connect the CLIP output of your SD1.x checkpoint.")
        return io.NodeOutput(encode_layout(clip, layout, append_to))
