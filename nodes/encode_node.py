"""GLIGEN Text-Box Encode: layout JSON + CLIP -> grounding (phrase features and boxes)."""

from __future__ import annotations

from typing import Any

import torch
from comfy_api.latest import io

from ..gligen_model import GligenInputError, parse_layout
from ..gligen_model.grounding import BoxGrounding
from ..gligen_model.layout import MAX_OBJECTS, default_layout_json
from .editor_bridge import background_ui
from .editor_io import box_outputs, box_run_layout
from .layout_seed import COPY_WHEN_EMPTY, SEED_MODES
from .phrase_encoding import encode_phrases
from .socket_types import CATEGORY, BoundingBoxesSocket, GroundingSocket, SeedBoxesInput


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
                        "for GLIGEN Apply. Draw the boxes in the node's editor. All phrases are encoded by the "
                        "CLIP in one batch.",
            inputs=[
                io.Clip.Input("clip", tooltip="The CLIP of your SD1.x checkpoint."),
                io.String.Input("layout", multiline=True, default=default_layout_json(), socketless=True,
                                tooltip='The box editor\'s state: {"version": 1, "width": W, "height": H, "objects": '
                                        '[{"phrase": "...", "box": [x0, y0, x1, y1]}]}; pixels on a W x H canvas.'),
                GroundingSocket.Input("append_to", optional=True,
                                      tooltip="Grounding from another encode node to add these objects to."),
                SeedBoxesInput("seed_boxes", optional=True,
                               tooltip="Boxes to copy into the editor (BOUNDING_BOX, BOUNDING_BOXES, or BBOX "
                                       "[x0, y0, x1, y1]); phrases come from their metadata text."),
                io.Combo.Input("seed_mode", options=list(SEED_MODES), default=COPY_WHEN_EMPTY, optional=True,
                               tooltip="copy when empty: seed_boxes fill a layout without objects, then you edit "
                                       "them; copy always: every run replaces the boxes, keeping phrases by index."),
                io.Image.Input("background", optional=True,
                               tooltip="An image shown under the editor's canvas and the preview."),
            ],
            outputs=[GroundingSocket.Output(display_name="grounding"),
                     io.Image.Output(display_name="preview"),
                     io.Mask.Output(display_name="masks"),
                     BoundingBoxesSocket.Output(display_name="bounding_boxes")],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, clip: Any, layout: str, append_to: BoxGrounding | None = None, seed_boxes: Any = None,
                seed_mode: str = COPY_WHEN_EMPTY, background: torch.Tensor | None = None) -> io.NodeOutput:
        if clip is None:
            raise GligenInputError("The encode node needs a CLIP: connect the CLIP output of your SD1.x checkpoint.")
        layout = box_run_layout(cls.hidden.unique_id if cls.hidden else None, layout, seed_boxes, seed_mode, background)
        grounding = encode_layout(clip, layout, append_to)
        return io.NodeOutput(grounding, *box_outputs(layout, background), ui=background_ui(background))
