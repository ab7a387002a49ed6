"""The trainable GLIGEN parts as one module: one fuser per UNet transformer, the position net, and for
spatial-map and inpainting files the widened first conv (and the map's downsampler)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .base_models import family_of_phrases
from .checkpoint import GligenCheckpoint
from .errors import GligenInputError
from .frames import FrameGroundings
from .fuser import GatedSelfAttentionDense
from .grounding import BoxGrounding, MapGrounding, PoseGrounding
from .ops import AttentionFn, placed_on, sdpa_attention
from .schedule import BetaSchedule
from .spatial_maps import fit_map, semantic_indices
from .variants import SPECS, Variant, wrong_grounding_message

Grounding = BoxGrounding | PoseGrounding | MapGrounding
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
        operations = placed_on(operations, "cpu")  # the host's ops get a real device, whatever they do with it
        self.spec = SPECS[checkpoint.variant]
        self.info = checkpoint.summary()
        self.inpainting = checkpoint.inpainting
        self.variant = checkpoint.variant
        self.fusers = nn.ModuleList(
            GatedSelfAttentionDense(f.query_dim, f.context_dim, operations, attention) for f in checkpoint.fusers)
        self.position_net = self.spec.position_net(checkpoint.phrase_dim, checkpoint.context_dim, operations)
        state = {f"fusers.{i}.{k}": v for i, f in enumerate(checkpoint.fusers) for k, v in f.state.items()}
        state.update({f"position_net.{k}": v for k, v in checkpoint.position_net.items()})
        self.first_conv: nn.Module | None = None
        if checkpoint.first_conv is not None:
            out_channels, in_channels = checkpoint.first_conv["weight"].shape[:2]
            self.first_conv = operations.Conv2d(in_channels, out_channels, 3, padding=1, device="meta")
            state.update({f"first_conv.{k}": v for k, v in checkpoint.first_conv.items()})
        self.downsampler = None if self.spec.downsampler is None else self.spec.downsampler(operations)
        state.update({f"downsampler.{k}": v for k, v in (checkpoint.downsample_net or {}).items()})
        self._load_strictly(state)
        for fuser in self.fusers:
            fuser.freeze_gates()
        self.phrase_dim = checkpoint.phrase_dim
        projection = image_projection if image_projection is not None else checkpoint.image_projection
        self.image_projection: torch.Tensor | None
        self.register_buffer("image_projection", None if projection is None else projection.float().clone())

    def _load_strictly(self, state: dict[str, torch.Tensor]) -> None:
        """Load every tensor of the (key by key validated) checkpoint, then prove it: each of the model's tensors
        is the file's, none left on the meta device or as construction memory. Layer ops may assign the file's
        tensor (torch, ComfyUI 0.3.75), create the weight only now (newer ComfyUI's lazy Linear) or copy into
        what they built; each way ends in the file's values."""
        self.load_state_dict(state, strict=True, assign=True)
        unloaded = _unloaded_tensors(self, state)
        if unloaded:
            raise RuntimeError(
                f"GLIGEN: the layer ops ({_ops_name(self)}) did not load {len(unloaded)} tensor(s) of the file, "
                f"e.g. {unloaded[:3]}; they are still empty or on the meta device. Report this with your "
                "ComfyUI version.")

    def check_accepts(self, grounding: Grounding | FrameGroundings) -> None:
        """Raise a GligenInputError when the grounding's kind does not fit this checkpoint (a per-frame
        grounding: when any frame's does not)."""
        if isinstance(grounding, FrameGroundings):
            if self.inpainting:
                raise GligenInputError(f"{self.info}: an inpainting file repaints one picture with one layout, "
                                       "but the grounding has a layout per frame. Set the encode node's frames "
                                       "to 0, or load a generation file.")
            for frame in grounding.frames:
                self.check_accepts(frame)
            return
        if not isinstance(grounding, self.spec.grounding):
            raise GligenInputError(f"{self.info}: {wrong_grounding_message(self.spec, type(grounding))}")
        if isinstance(grounding, BoxGrounding) and len(grounding):
            self._check_box_grounding(grounding)
        if isinstance(grounding, MapGrounding) and self.variant is Variant.SEMANTIC:
            try:
                semantic_indices(grounding.pixels)
            except GligenInputError as e:
                raise GligenInputError(f"{self.info}: the map given to GLIGEN Map Encode: {e}") from e

    def prepared(self, grounding: Grounding, latent_hw: tuple[int, int]) -> Grounding:
        """The grounding as the model reads it for an (H, W) latent: maps fitted to the picture, others as given."""
        if isinstance(grounding, MapGrounding):
            return fit_map(grounding, latent_hw, semantic=self.variant is Variant.SEMANTIC)
        return grounding

    @property
    def default_schedule(self) -> BetaSchedule:
        """The authors' schedule for this file (gligen_inference.py): their variant's alpha_type; inpainting
        files always on (the authors' inpainting examples set none)."""
        if self.inpainting:
            return BetaSchedule.constant()
        on, decay, _off = self.spec.schedule
        return BetaSchedule.phases(on, decay)

    @property
    def widens_input(self) -> bool:
        """True when the UNet's first conv is the file's (spatial maps, inpainting) rather than the base model's."""
        return self.first_conv is not None

    def map_channels(self, grounding: MapGrounding, latent_hw: tuple[int, int]) -> torch.Tensor:
        """The downsampler's extra UNet input (1, k, H, W) for a fitted map (k = 1 for HED, else 8), on the
        model's device and in its dtype."""
        assert self.downsampler is not None, f"{self.variant.value} has no downsampler"
        param = self.first_conv.weight
        return self.downsampler(grounding.pixels.to(param.device), latent_hw, param.dtype)

    def widened_first_conv(self, x: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        """The file's first conv on [x (B, 4, H, W) ; extra (B, k, H, W)] -> (B, 320, H, W)."""
        return self.first_conv(torch.cat([x, extra.to(x.dtype)], dim=1))

    def _check_box_grounding(self, grounding: BoxGrounding) -> None:
        image_only = [i for i, has in enumerate(grounding.text_mask.tolist(), 1) if not has]
        if not self.spec.reads_images and (grounding.has_images or image_only):
            raise GligenInputError(
                f"{self.info}: the layout grounds objects on reference images, which only the text-image-box "
                "checkpoint (gligen-generation-text-image-box) can read. Load that file, or give every object a "
                "phrase and remove its \"image\".")
        if grounding.text_mask.any() and grounding.phrase_embeddings.shape[1] != self.phrase_dim:
            raise GligenInputError(phrase_width_message(grounding.phrase_embeddings.shape[1], self.phrase_dim,
                                                        self.info))
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


def phrase_width_message(given: int, expected: int, gligen_info: str) -> str:
    """Phrases encoded by one family's CLIP for a GLIGEN file of another: name both and the fix."""
    theirs, ours = family_of_phrases(given), family_of_phrases(expected)
    by = f" (by {theirs.phrase_encoder}, an {theirs.name} CLIP)" if theirs else ""
    wanted = f" ({ours.phrase_encoder})" if ours else ""
    fix = (f"Connect the CLIP of your {ours.name} checkpoint to the encode node" if ours
           else "Connect the CLIP of the base model this GLIGEN file was made for to the encode node")
    return (f"The phrases were encoded to {given} values each{by}, but {gligen_info} expects {expected}{wanted}. "
            f"{fix}, the same CLIP as the prompt's.")


def _unloaded_tensors(model: nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Names of the model's tensors that do not hold the file's values: on the meta device, missing, of
    another shape, or neither sharing the file tensor's memory (assigned) nor equal to it (copied)."""
    own = model.state_dict(keep_vars=True)
    named = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    wrong = sorted(name for name, tensor in named.items() if tensor is not None and tensor.is_meta)
    for key, source in state.items():
        tensor = own.get(key)
        if tensor is None or tensor.is_meta or tensor.shape != source.shape:
            wrong.append(key)
        elif tensor.data_ptr() != source.data_ptr() and not torch.equal(tensor.detach(), source.to(tensor.dtype)):
            wrong.append(key)
    return sorted(set(wrong))


def _ops_name(model: nn.Module) -> str:
    """The module path of the first layer class in the model, e.g. 'comfy.ops.manual_cast.Linear'."""
    layer = next((m for m in model.modules() if hasattr(m, "weight")), model)
    return f"{type(layer).__module__}.{type(layer).__qualname__}"
