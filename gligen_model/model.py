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
from .position_net import TextBoxPositionNet, TextImagePositionNet

Grounding = BoxGrounding | PoseGrounding
POSITION_NETS = {Variant.TEXT_BOX: TextBoxPositionNet, Variant.TEXT_IMAGE_BOX: TextImagePositionNet,
                 Variant.KEYPOINT: KeypointPositionNet}


class GligenModel(nn.Module):
    """Fusers in UNet forward order (index = the host's transformer index) and the position net.

    Token counts per variant: text-box 30, text-image-box 60 (a text and an image token per slot),
    keypoint 136 (8 persons x 17 joints); unused slots hold the learned null features.
    """

    def __init__(self, checkpoint: GligenCheckpoint, operations: Any = nn,
                 attention: AttentionFn = sdpa_attention) -> None:
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
        self.phrase_dim = checkpoint.phrase_dim

    def check_accepts(self, grounding: Grounding) -> None:
        """Raise a GligenInputError when the grounding's kind does not fit this checkpoint."""
        wants_poses = self.variant == Variant.KEYPOINT
        if wants_poses and not isinstance(grounding, PoseGrounding):
            raise GligenInputError(f"{self.info}: a keypoint model is grounded on poses, but it was given boxes. "
                                   "Use GLIGEN Pose Encode, or load a text-box GLIGEN file.")
        if not wants_poses and isinstance(grounding, PoseGrounding):
            raise GligenInputError(f"{self.info}: this model is grounded on boxes, but it was given poses. "
                                   "Load the keypoint GLIGEN file, or use GLIGEN Text-Box Encode.")
        if isinstance(grounding, BoxGrounding) and len(grounding) and (
                grounding.phrase_embeddings.shape[1] != self.phrase_dim):
            raise GligenInputError(
                f"The phrases were encoded to {grounding.phrase_embeddings.shape[1]} values each, but {self.info} "
                f"expects {self.phrase_dim} (SD1.x CLIP-L). Connect the CLIP of your SD1.x checkpoint to the "
                "encode node.")

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
        if grounding is not None and len(grounding):
            n = len(grounding)
            boxes[0, :n] = grounding.boxes.to(device, dtype)
            phrases[0, :n] = grounding.phrase_embeddings.to(device, dtype)
            masks[0, :n] = 1
        if self.variant == Variant.TEXT_IMAGE_BOX:  # phrase-only objects: every image slot is null
            return self.position_net(boxes, masks, masks, torch.zeros_like(masks), phrases, torch.zeros_like(phrases))
        return self.position_net(boxes, masks, phrases)
