"""The trainable GLIGEN parts as one module: one fuser per UNet transformer + the position net."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .checkpoint import GligenCheckpoint
from .errors import GligenInputError
from .fuser import GatedSelfAttentionDense
from .grounding import BoxGrounding, PoseGrounding
from .ops import AttentionFn, sdpa_attention
from .variants import SPECS

Grounding = BoxGrounding | PoseGrounding
# Attention logit added for a token of strength 0: exp(-1e4) is 0 in every float type, and
# -1e4 stays finite in fp16, so no kernel sees an infinity.
ZERO_STRENGTH_BIAS = -1e4


class GligenModel(nn.Module):
    """Fusers in UNet forward order (index = the host's transformer index) and the position net.

    Token counts per variant (variants.py): text-box 30, text-image-box 60 (a text and an image token per
    slot), keypoint 136 (8 persons x 17 joints); unused slots hold the learned null features.
    """

    def __init__(self, checkpoint: GligenCheckpoint, operations: Any = nn,
                 attention: AttentionFn = sdpa_attention, image_projection: torch.Tensor | None = None) -> None:
        """image_projection: CLIP-L's text projection P (768, 768) for reference images; default: the file's."""
        super().__init__()
        self.spec = SPECS[checkpoint.variant]
        if not self.spec.runs:
            raise GligenInputError(
                f"{checkpoint.summary()}: this pack does not run the {checkpoint.variant.value} variant yet. "
                "Use a text-box GLIGEN file (gligen_sd14_textbox_pruned.safetensors).")
        self.info = checkpoint.summary()
        self.variant = checkpoint.variant
        self.fusers = nn.ModuleList(
            GatedSelfAttentionDense(f.query_dim, f.context_dim, operations, attention) for f in checkpoint.fusers)
        self.position_net = self.spec.position_net(checkpoint.phrase_dim, checkpoint.context_dim, operations)
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
        if not isinstance(grounding, self.spec.grounding):
            raise GligenInputError(f"{self.info}: {self.spec.wrong_grounding}")
        if isinstance(grounding, BoxGrounding) and len(grounding):
            self._check_box_grounding(grounding)

    def _check_box_grounding(self, grounding: BoxGrounding) -> None:
        image_only = [i for i, has in enumerate(grounding.text_mask.tolist(), 1) if not has]
        if not self.spec.reads_images and (grounding.has_images or image_only):
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
        return self.position_net.tokens_for(grounding, self.image_projection)

    def token_bias(self, grounding: Grounding) -> torch.Tensor | None:
        """Additive attention logits (1, M) for the grounding tokens: log(strength) of the object or person
        each token belongs to, 0 for empty slots. None when every strength is 1 (no bias at all)."""
        strengths = grounding.strengths.float()
        if len(grounding) == 0 or bool((strengths == 1).all()):
            return None
        logits = torch.where(strengths > 0, strengths.clamp_min(1e-30).log(), torch.tensor(ZERO_STRENGTH_BIAS))
        return self.spec.slot_bias(logits)[None]
