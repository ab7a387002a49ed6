"""GLIGEN Text-Box Encode: layout JSON + CLIP -> grounding (phrase features and boxes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from comfy_api.latest import io

from ..gligen_model import GligenInputError
from ..gligen_model.caption import check_caption, match_caption
from ..gligen_model.frames import FrameGroundings, grounding_kind
from ..gligen_model.grounding import BoxGrounding, concat_box_groundings
from ..gligen_model.keyframes import check_frame_count, entries_for_frames, layouts_for_frames, max_keyframe
from ..gligen_model.layout import MAX_OBJECTS, Layout, LayoutObject, empty_layout_json
from .editor.browser import background_ui, frames_ui
from .editor.captions import caption_ui
from .editor.document import LayoutDocument, as_document
from .editor.node_runs import MASKS_TOOLTIP, PREVIEW_TOOLTIP, box_frame_outputs, box_outputs, box_run_layout
from .editor.seeding import COPY_WHEN_EMPTY, SEED_MODES
from .encoders.images import reference_image_embeddings
from .encoders.phrases import encode_phrases
from .frame_inputs import frame_count, frames_input, latent_input
from .sockets import CATEGORY, BoundingBoxesSocket, GroundingSocket, SeedBoxesInput


def encode_layout(clip: Any, layout: str | LayoutDocument, previous: BoxGrounding | FrameGroundings | None = None,
                  clip_vision: Any = None, images: torch.Tensor | None = None,
                  crop_to_box: bool = False) -> BoxGrounding | FrameGroundings:
    """Embed the layout's phrases in one CLIP batch and its reference images with CLIP vision, and append the
    objects to `previous` if given (to each of its frames, for a per-frame grounding). layout: the widget text
    or its decoded document."""
    layout = as_document(layout).layout
    _check_layout_and_previous(layout, previous)
    objects = layout.objects
    image_embeddings = reference_image_embeddings(clip_vision, images, objects, crop_to_box)
    with_phrase = [i for i, o in enumerate(objects) if o.phrase]
    embedded = encode_phrases(clip, [objects[i].phrase for i in with_phrase])
    phrase_embeddings = torch.zeros(len(objects), embedded.shape[1])
    phrase_embeddings[with_phrase] = embedded
    grounding = _box_grounding(objects, phrase_embeddings, image_embeddings)
    if previous is None:
        return grounding
    if isinstance(previous, FrameGroundings):
        return FrameGroundings(tuple(_chain(p, grounding) for p in previous.frames))
    return _chain(previous, grounding)


def encode_layout_frames(clip: Any, layout: str | LayoutDocument, frames: int,
                         previous: BoxGrounding | FrameGroundings | None = None, clip_vision: Any = None,
                         images: torch.Tensor | None = None,
                         crop_to_box: bool = False) -> FrameGroundings | BoxGrounding:
    """One grounding per frame 0 .. frames - 1: the keyframed layout at each frame (layouts_for_frames), appended
    to `previous` (its frame of the same index, for a per-frame grounding). The distinct phrases are encoded in
    one CLIP batch, the distinct reference images (crops, with crop_to_box) in one CLIP vision batch. A layout
    without keyframes gives encode_layout's grounding (the same for every frame), after the same checks."""
    layout_document = as_document(layout)
    layout = layout_document.layout
    _check_layout_and_previous(layout, previous)
    if isinstance(previous, FrameGroundings) and len(previous.frames) != frames:
        raise GligenInputError(f"'append_to' has {len(previous.frames)} frames, but this node's frames is {frames}: "
                               "set both encode nodes to the same frames.")
    check_frame_count(layout, frames)
    if max_keyframe(layout) is None:  # nothing moves: one grounding serves every frame, with no per-frame work
        return encode_layout(clip, layout_document, previous, clip_vision, images, crop_to_box)
    per_frame = [f.objects for f in layouts_for_frames(layout, frames)]

    def image_key(o: LayoutObject) -> tuple[int | None, Any]:
        return o.image, o.box if crop_to_box and not o.style else None  # what reference_image_embeddings reads

    pictured = {image_key(o): o for objects in per_frame for o in objects if o.image is not None}
    image_rows = dict(zip(pictured, reference_image_embeddings(clip_vision, images, list(pictured.values()),
                                                                crop_to_box) if pictured else (), strict=True))
    phrases = list(dict.fromkeys(o.phrase for objects in per_frame for o in objects if o.phrase))
    embedded = encode_phrases(clip, phrases)
    phrase_rows = dict(zip(phrases, embedded, strict=True))
    width = embedded.shape[1]
    # Frames showing the same entries share one feature tensor: 4,096 frames of 30 SDXL phrases would
    # otherwise hold 4,096 copies (1 GB); the groundings never change their tensors in place.
    shared: dict[tuple[Any, ...], torch.Tensor] = {}

    def phrase_features(objects: Sequence[LayoutObject]) -> torch.Tensor:
        key = ("phrases", *(o.phrase for o in objects))
        if key not in shared:
            shared[key] = torch.stack([phrase_rows[o.phrase] if o.phrase else torch.zeros(width)
                                       for o in objects]) if objects else torch.zeros(0, width)
        return shared[key]

    def image_features(objects: Sequence[LayoutObject]) -> torch.Tensor | None:
        if not any(o.image is not None for o in objects):
            return None
        key = ("images", *(image_key(o) for o in objects))
        if key not in shared:
            image_width = next(iter(image_rows.values())).shape[0]
            shared[key] = torch.stack([image_rows[image_key(o)] if o.image is not None else torch.zeros(image_width)
                                       for o in objects])
        return shared[key]

    groundings = []
    for f, objects in enumerate(per_frame):
        grounding = _box_grounding(objects, phrase_features(objects), image_features(objects))
        before = previous.frames[f] if isinstance(previous, FrameGroundings) else previous
        groundings.append(grounding if before is None else _chain(before, grounding))
    return FrameGroundings(tuple(groundings))


def _check_layout_and_previous(layout: Layout, previous: Any) -> None:
    if layout.persons and not layout.objects:
        raise GligenInputError("The layout holds persons but no objects: persons are read by GLIGEN Pose Encode "
                               "(Suite). Connect this layout to that node, or add objects with phrases and boxes.")
    if previous is not None and grounding_kind(previous) is not BoxGrounding:
        raise GligenInputError("'append_to' got grounding from GLIGEN Pose Encode; only Text-Box Encode grounding "
                               "can be extended with objects. Connect a Text-Box Encode node's output there.")


def _box_grounding(objects: Sequence[LayoutObject], phrase_embeddings: torch.Tensor,
                   image_embeddings: torch.Tensor | None) -> BoxGrounding:
    return BoxGrounding(
        phrases=tuple(o.phrase for o in objects),
        phrase_embeddings=phrase_embeddings,
        boxes=torch.tensor([o.box for o in objects], dtype=torch.float32).reshape(-1, 4),
        image_embeddings=image_embeddings,
        text_mask=torch.tensor([float(bool(o.phrase)) for o in objects]),
        image_mask=torch.tensor([float(o.image is not None) for o in objects]),
        strengths=torch.tensor([o.strength for o in objects], dtype=torch.float32),
    )


def _chain(previous: BoxGrounding, grounding: BoxGrounding) -> BoxGrounding:
    """The objects of `previous`, then those of `grounding` (chained encode nodes)."""
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
                        "checkpoint) by CLIP ViT-L/14. Connect the prompt's text to `caption` to see which "
                        "phrases it names.",
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
                io.String.Input("caption", optional=True, force_input=True,
                                tooltip="The prompt's text (e.g. a String node that also feeds CLIP Text Encode): "
                                        "the node shows which phrases it names (GLIGEN places an object best when "
                                        "the prompt names it too), and the editor offers its words as phrases."),
                io.Boolean.Input("append_missing_phrases", default=False, optional=True,
                                 tooltip="The caption output gets the phrases the caption does not name appended "
                                         "(\", a red ball, a lamp\"); off: the caption unchanged."),
                frames_input(),
                latent_input(),
            ],
            outputs=[GroundingSocket.Output(display_name="grounding"),
                     io.Image.Output(display_name="preview", tooltip=PREVIEW_TOOLTIP),
                     io.Mask.Output(display_name="masks", tooltip=MASKS_TOOLTIP),
                     BoundingBoxesSocket.Output(display_name="bounding_boxes",
                                                tooltip="The objects' boxes in pixels; per frame: one list per "
                                                        "frame (objects hidden there left out)."),
                     io.String.Output(display_name="caption",
                                      tooltip="The caption, with the missing phrases appended when "
                                              "append_missing_phrases is on; without a caption input, the "
                                              "phrases joined by commas.")],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, clip: Any, layout: str, append_to: BoxGrounding | None = None, seed_boxes: Any = None,
                seed_mode: str = COPY_WHEN_EMPTY, background: torch.Tensor | None = None, clip_vision: Any = None,
                images: torch.Tensor | None = None, crop_images_to_boxes: bool = False, caption: str | None = None,
                append_missing_phrases: bool = False, frames: int = 0, latent: Any = None) -> io.NodeOutput:
        if clip is None:
            raise GligenInputError("The encode node needs a CLIP: connect the CLIP output of your checkpoint "
                                   "(SD1.x, SD2.x or SDXL, the base model the GLIGEN file is for).")
        if caption is not None:
            check_caption(caption)  # before any work on the layout
        frames = frame_count(frames, latent)
        node_id = cls.hidden.unique_id if cls.hidden else None
        document = box_run_layout(node_id, LayoutDocument.decode(layout), seed_boxes, seed_mode, background)
        if frames > 0:
            grounding = encode_layout_frames(clip, document, frames, append_to, clip_vision, images,
                                             crop_images_to_boxes)
        else:
            grounding = encode_layout(clip, document, append_to, clip_vision, images, crop_images_to_boxes)
        objects = document.layout.objects
        match = match_caption(caption, [o.phrase for o in objects], append_missing_phrases)
        if frames > 0 and max_keyframe(document.layout) is not None:
            outputs = box_frame_outputs(document, entries_for_frames(document.layout, frames), background,
                                        match.missing)
        else:
            outputs = box_outputs(document, background, match.missing)
        ui = ((background_ui(background, frames) or {}) | frames_ui(frames)
              | (caption_ui(caption, match, objects) if caption is not None else {}))
        return io.NodeOutput(grounding, *outputs, match.caption, ui=ui or None)
