"""The trainable GLIGEN parts as one module: one fuser per UNet transformer + the position net."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .checkpoint import GligenCheckpoint, Variant
from .errors import GligenInputError
from .fuser import GatedSelfAttentionDense
from .grounding import BoxGrounding, PoseGrounding
from .keypoint_net import KeypointPositionNet
from .layout import MAX_OBJECTS
from .ops import AttentionFn, sdpa_attention
from .pose import JOINTS, MAX_PERSONS
from .position_net import TextBoxPositionNet, TextImagePositionNet, project_image_embedding

Grounding = BoxGrounding | PoseGrounding
POSITION_NETS = {Variant.TEXT_BOX: TextBoxPositionNet, Variant.TEXT_IMAGE_BOX: TextImagePositionNet,
                 Variant.KEYPOINT: KeypointPositionNet}
# Attention logit added for a token of strength 0: exp(-1e4) is 0 in every float type, and
# -1e4 stays finite in fp16, so no kernel sees an infinity.
ZERO_STRENGTH_BIAS = -1e4


class GligenModel(nn.Module):
    """Fusers in UNet forward order (index = the host's transformer index) and the position net.

    Token counts per variant: text-box 30, text-image-box 60 (a text and an image token per slot),
    keypoint 136 (8 persons x 17 joints); unused slots hold the learned null features.
    """

    def __init__(self, checkpoint: GligenCheckpoint, operations: Any = nn,
                 attention: AttentionFn = sdpa_attention, image_projection: torch.Tensor | None = None) -> None:
        """image_projection: CLIP-L's text projection P (768, 768) for reference images; default: the file's."""
        super().__init__()
        if checkpoint.variant not in POSITION_NETS:
            raise GligenInputError(
                f"{checkpoint.summary()}: this pack does not run the {checkpoint.variant.value} variant yet. "
                "Use a text-box GLIGEN file (gligen_sd14_textbox_pruned.safetensors).")
        self.info = checkpoint.summary()
        self.variant = checkpoint.variant
        self.fusers = nn.ModuleList(
            GatedSelfAttentionDense(f.query_dim, f.context_dim, operations, attention) for f in checkpoint.fusers)
        self.position_net = POSITION_NETS[self.variant](checkpoint.phrase_dim, checkpoint.context_dim, operations)
        state = {f"fusers.{i}.{k}": v for i, f in enumerate(checkpoint.fusers) for k, v in f.state.items()}
        state.update({f"position_net.{k}": v for k, v in checkpoint.position_net.items()})
        # The checkpoint was validated key by key, so strict loading cannot hide anything here.
        self.load_state_dict(state, strict=True, assign=True)
        for fuser in self.fusers:
            fuser.freeze_gates()
        self.phrase_dim = checkpoint.phrase_dim
        projection = image_projection if image_projection is not None else checkpoint.image_projection
        self.image_projection: torch.Tensor | None
        self.register_buffer("image_projection", None if projection is None else projection.float().clone())

    def check_accepts(self, grounding: Grounding) -> None:
        """Raise a GligenInputError when the grounding's kind does not fit this checkpoint."""
        wants_poses = self.variant == Variant.KEYPOINT
        if wants_poses and not isinstance(grounding, PoseGrounding):
            raise GligenInputError(f"{self.info}: a keypoint model is grounded on poses, but it was given boxes. "
                                   "Use GLIGEN Pose Encode, or load a text-box GLIGEN file.")
        if not wants_poses and isinstance(grounding, PoseGrounding):
            raise GligenInputError(f"{self.info}: this model is grounded on boxes, but it was given poses. "
                                   "Load the keypoint GLIGEN file, or use GLIGEN Text-Box Encode.")
        if isinstance(grounding, BoxGrounding) and len(grounding):
            self._check_box_grounding(grounding)

    def _check_box_grounding(self, grounding: BoxGrounding) -> None:
        image_only = [i for i, has in enumerate(grounding.text_mask.tolist(), 1) if not has]
        if self.variant != Variant.TEXT_IMAGE_BOX and (grounding.has_images or image_only):
            raise GligenInputError(
                f"{self.info}: the layout grounds objects on reference images, which only the text-image-box "
                "checkpoint (gligen-generation-text-image-box) can read. Load that file, or give every object a "
                "phrase and remove its \"image\".")
        if grounding.text_mask.any() and grounding.phrase_embeddings.shape[1] != self.phrase_dim:
            raise GligenInputError(
                f"The phrases were encoded to {grounding.phrase_embeddings.shape[1]} values each, but {self.info} "
                f"expects {self.phrase_dim} (SD1.x CLIP-L). Connect the CLIP of your SD1.x checkpoint to the "
                "encode node.")
        if grounding.has_images:
            if self.image_projection is None:
                raise GligenInputError(
                    f"{self.info}: reference images need CLIP-L's text projection, and this file does not carry "
                    "it. On GLIGEN Loader (Suite), set image_projection to a file that holds it: "
                    "clip_l.safetensors (models/text_encoders), the authors' projection_matrix, or diffusers' "
                    "image_project weights.")
            width = grounding.image_embeddings.shape[1]
            if width != self.image_projection.shape[0]:
                raise GligenInputError(
                    f"The reference images were embedded to {width} values each, but {self.info} expects "
                    f"{self.image_projection.shape[0]} (CLIP ViT-L/14 image_embeds). Load CLIP ViT-L/14 in "
                    "Load CLIP Vision.")

    def tokens_for(self, grounding: Grounding | None) -> torch.Tensor:
        """Grounding tokens (1, M, context_dim); None gives the all-null tokens (CFG's uncond)."""
        param = next(self.position_net.parameters())
        device, dtype = param.device, param.dtype
        if self.variant == Variant.KEYPOINT:
            points = torch.zeros(1, MAX_PERSONS * JOINTS, 2, device=device, dtype=dtype)
            masks = torch.zeros(1, MAX_PERSONS * JOINTS, device=device, dtype=dtype)
            if grounding is not None:
                n = len(grounding) * JOINTS
                points[0, :n] = grounding.points.reshape(-1, 2).to(device, dtype)
                masks[0, :n] = grounding.visible.reshape(-1).to(device, dtype)
            return self.position_net(points, masks)
        boxes = torch.zeros(1, MAX_OBJECTS, 4, device=device, dtype=dtype)
        phrases = torch.zeros(1, MAX_OBJECTS, self.phrase_dim, device=device, dtype=dtype)
        masks = torch.zeros(1, MAX_OBJECTS, device=device, dtype=dtype)
        text_masks = torch.zeros(1, MAX_OBJECTS, device=device, dtype=dtype)
        image_masks = torch.zeros(1, MAX_OBJECTS, device=device, dtype=dtype)
        images = torch.zeros(1, MAX_OBJECTS, self.phrase_dim, device=device, dtype=dtype)
        if grounding is not None and len(grounding):
            n = len(grounding)
            boxes[0, :n] = grounding.boxes.to(device, dtype)
            masks[0, :n] = 1
            text_masks[0, :n] = grounding.text_mask.to(device, dtype)
            if grounding.phrase_embeddings.shape[1] == self.phrase_dim:
                phrases[0, :n] = grounding.phrase_embeddings.to(device, dtype)
            if grounding.has_images and self.image_projection is not None:
                image_masks[0, :n] = grounding.image_mask.to(device, dtype)
                has_image = grounding.image_mask.to(device)[:, None] > 0
                projected = project_image_embedding(grounding.image_embeddings.to(device), self.image_projection)
                images[0, :n] = torch.where(has_image, projected, torch.zeros_like(projected)).to(dtype)
        if self.variant == Variant.TEXT_IMAGE_BOX:
            return self.position_net(boxes, masks, text_masks, image_masks, phrases, images)
        return self.position_net(boxes, masks, phrases)

    def token_bias(self, grounding: Grounding) -> torch.Tensor | None:
        """Additive attention logits (1, M) for the grounding tokens: log(strength) of the object or person
        each token belongs to, 0 for empty slots. None when every strength is 1 (no bias at all)."""
        strengths = grounding.strengths.float()
        if len(grounding) == 0 or bool((strengths == 1).all()):
            return None
        logits = torch.where(strengths > 0, strengths.clamp_min(1e-30).log(), torch.tensor(ZERO_STRENGTH_BIAS))
        if self.variant == Variant.KEYPOINT:
            bias = torch.zeros(MAX_PERSONS * JOINTS)
            bias[: len(grounding) * JOINTS] = logits.repeat_interleave(JOINTS)
        else:
            bias = torch.zeros(MAX_OBJECTS)
            bias[: len(grounding)] = logits
            if self.variant == Variant.TEXT_IMAGE_BOX:  # [text tokens ; image tokens]
                bias = torch.cat([bias, bias])
        return bias[None]
