"""GLIGEN Text-Box Encode: layout JSON + CLIP -> grounding (phrase features and boxes)."""

from __future__ import annotations

from typing import Any

import torch
from comfy_api.latest import io

from ..gligen_model import GligenInputError
from ..gligen_model.grounding import BoxGrounding, concat_box_groundings
from ..gligen_model.layout import MAX_OBJECTS, empty_layout_json
from .editor.browser import background_ui
from .editor.document import LayoutDocument, as_document
from .editor.node_runs import box_outputs, box_run_layout
from .editor.seeding import COPY_WHEN_EMPTY, SEED_MODES
from .encoders.images import reference_image_embeddings
from .encoders.phrases import encode_phrases
from .sockets import CATEGORY, BoundingBoxesSocket, GroundingSocket, SeedBoxesInput


def encode_layout(clip: Any, layout: str | LayoutDocument, previous: BoxGrounding | None = None,
                  clip_vision: Any = None, images: torch.Tensor | None = None,
                  crop_to_box: bool = False) -> BoxGrounding:
    """Embed the layout's phrases in one CLIP batch and its reference images with CLIP vision, and append the
    objects to `previous` if given. layout: the widget text or its decoded document."""
    layout = as_document(layout).layout
    if layout.persons and not layout.objects:
        raise GligenInputError("The layout holds persons but no objects: persons are read by GLIGEN Pose Encode "
                               "(Suite). Connect this layout to that node, or add objects with phrases and boxes.")
    if previous is not None and not isinstance(previous, BoxGrounding):
        raise GligenInputError("'append_to' got grounding from GLIGEN Pose Encode; only Text-Box Encode grounding "
                               "can be extended with objects. Connect a Text-Box Encode node's output there.")
    objects = layout.objects
    image_embeddings = reference_image_embeddings(clip_vision, images, objects, crop_to_box)
    with_phrase = [i for i, o in enumerate(objects) if o.phrase]
    embedded = encode_phrases(clip, [objects[i].phrase for i in with_phrase])
    phrase_embeddings = torch.zeros(len(objects), embedded.shape[1])
    phrase_embeddings[with_phrase] = embedded
    grounding = BoxGrounding(
        phrases=tuple(o.phrase for o in objects),
        phrase_embeddings=phrase_embeddings,
        boxes=torch.tensor([o.box for o in objects], dtype=torch.float32).reshape(-1, 4),
        image_embeddings=image_embeddings,
        text_mask=torch.tensor([float(bool(o.phrase)) for o in objects]),
        image_mask=torch.tensor([float(o.image is not None) for o in objects]),
        strengths=torch.tensor([o.strength for o in objects], dtype=torch.float32),
    )
    if previous is None:
        return grounding
    total = len(previous) + len(grounding)
    if total > MAX_OBJECTS:
        raise GligenInputError(f"The chained layouts hold {total} objects; GLIGEN takes at most {MAX_OBJECTS}. "
                               "Remove objects from one of the encode nodes.")
    widths = {g.phrase_embeddings.shape[1] for g in (previous, grounding) if g.text_mask.any()}
    if len(widths) > 1:
        raise GligenInputError(f"The chained encode nodes used CLIPs of different base models (phrases of "
                               f"{' and '.join(map(str, sorted(widths)))} values): connect the same CLIP, your base "
                               "checkpoint's, to both.")
    return concat_box_groundings(previous, grounding)


class GligenTextBoxEncode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GLIGENSuite_TextBoxEncode",
            display_name="GLIGEN Text-Box Encode (Suite)",
            category=CATEGORY,
            description="Turns a layout (phrases and/or reference images with boxes, JSON schema v1, see "
                        "docs/nodes.md) into grounding for GLIGEN Apply. Draw the boxes in the node's editor. All "
                        "phrases are encoded by the CLIP in one batch; reference images (text-image-box "
                        "checkpoint) by CLIP ViT-L/14.",
            inputs=[
                io.Clip.Input("clip", tooltip="The CLIP of your SD1.x, SD2.x or SDXL checkpoint, the base model the "
                                              "GLIGEN file is for."),
                io.String.Input("layout", multiline=True, default=empty_layout_json(), socketless=True,
                                tooltip='The box editor\'s state: {"version": 1, "width": W, "height": H, "objects": '
                                        '[{"phrase": "...", "box": [x0, y0, x1, y1]}]}; pixels on a W x H canvas. '
                                        'A new node starts with no objects: draw the boxes in the editor.'),
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
                io.ClipVision.Input("clip_vision", optional=True,
                                    tooltip="CLIP ViT-L/14 (Load CLIP Vision), for objects with an \"image\"."),
                io.Image.Input("images", optional=True,
                               tooltip="Reference images; an object's \"image\" is its index in this batch."),
                io.Boolean.Input("crop_images_to_boxes", default=False, optional=True,
                                 tooltip="Embed only the part of each reference image inside the object's box (as in "
                                         "training, which used crops); off: the whole image."),
            ],
            outputs=[GroundingSocket.Output(display_name="grounding"),
                     io.Image.Output(display_name="preview"),
                     io.Mask.Output(display_name="masks"),
                     BoundingBoxesSocket.Output(display_name="bounding_boxes")],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, clip: Any, layout: str, append_to: BoxGrounding | None = None, seed_boxes: Any = None,
                seed_mode: str = COPY_WHEN_EMPTY, background: torch.Tensor | None = None, clip_vision: Any = None,
                images: torch.Tensor | None = None, crop_images_to_boxes: bool = False) -> io.NodeOutput:
        if clip is None:
            raise GligenInputError("The encode node needs a CLIP: connect the CLIP output of your checkpoint "
                                   "(SD1.x, SD2.x or SDXL, the base model the GLIGEN file is for).")
        node_id = cls.hidden.unique_id if cls.hidden else None
        document = box_run_layout(node_id, LayoutDocument.decode(layout), seed_boxes, seed_mode, background)
        grounding = encode_layout(clip, document, append_to, clip_vision, images, crop_images_to_boxes)
        return io.NodeOutput(grounding, *box_outputs(document, background), ui=background_ui(background))
