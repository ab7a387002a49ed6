"""What each GLIGEN variant needs, in one place: how its file is recognised, its position net, what it is
grounded on, how its tokens are laid out, what it adds to the UNet's input, and the authors' schedule.
Adding a variant is one new VariantSpec in VARIANTS.

The variants are the grounding tokenizers of the authors' configs (`configs/*.yaml`, `grounding_tokenizer`):
`ldm.modules.diffusionmodules.text_grounding_net.PositionNet` (text-box),
`text_image_grounding_net.PositionNet` (text-image-box), `keypoint_grounding_net.PositionNet`
(keypoint) and the ConvNeXt `*_grounding_downsampler` / `grounding_net_example` family (spatial maps).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch
from torch import nn

from .grounding import BoxGrounding, MapGrounding, PoseGrounding
from .keypoint_net import KeypointPositionNet
from .layout import MAX_OBJECTS
from .pose import JOINTS, MAX_PERSONS
from .position_net import TextBoxPositionNet, TextImagePositionNet
from .spatial_net import (
    MAP_TOKENS,
    ConvDownsampler,
    HedDownsampler,
    MapPositionNet,
    NormalDownsampler,
    SemanticDownsampler,
    SemanticPositionNet,
)

UNET_LATENT_CHANNELS = 4   # the SD1.x UNet's own input
INPAINT_CHANNELS = 5       # [z0 * mask (4) | mask (1)] of the inpainting files


class Variant(str, Enum):
    TEXT_BOX = "text-box"
    TEXT_IMAGE_BOX = "text-image-box"
    KEYPOINT = "keypoint"
    HED = "hed"
    CANNY = "canny"
    DEPTH = "depth"
    NORMAL = "normal"
    SEMANTIC = "semantic"


@dataclass(frozen=True)
class VariantSpec:
    """One variant.

    markers: position-net keys that identify it (all present), or marker_prefix: a key prefix.
    entity_null_key: the null feature whose length is the entity (phrase) width.
    position_net: the module class (keys and shapes of the file come from it).
    grounding: the grounding type it takes. slots: objects or persons it was trained with;
    tokens_per_slot: tokens each slot makes; kind_major: the tokens come as one block per token kind
    ([all text ; all image]) rather than slot by slot ([person 0's 17 joints, person 1's, ...]).
    forbidden: position-net keys that must be absent. downsampler: the module that turns the map into
    extra UNet input channels (None: the UNet input is the latent only); downsampler_in: the input
    channels of its first conv, which tells the spatial files apart (None: it has no weights).
    words: how the authors' config targets and file names name it ("canny_grounding_net", "..._canny").
    schedule: the authors' alpha_type [on, decay, off] fractions for it (gligen_inference.py examples).
    """

    variant: Variant
    markers: frozenset[str] = frozenset()
    marker_prefix: str | None = None
    entity_null_key: str | None = None
    position_net: type[nn.Module] | None = None
    grounding: type | None = None
    slots: int = 0
    tokens_per_slot: int = 1
    kind_major: bool = False
    reads_images: bool = False
    forbidden: frozenset[str] = frozenset()
    downsampler: type[nn.Module] | None = None
    downsampler_in: int | None = None
    words: tuple[str, ...] = ()
    schedule: tuple[float, float, float] = (0.3, 0.0, 0.7)

    def matches(self, keys: set[str], downsampler_in: int | None = None) -> bool:
        """True when a file's position-net keys (and its downsampler's input width) are this variant's."""
        if keys & self.forbidden or downsampler_in != self.downsampler_in:
            return False
        if self.marker_prefix is not None and not any(k.startswith(self.marker_prefix) for k in keys):
            return False
        return bool(self.markers or self.marker_prefix) and self.markers <= keys

    @property
    def reads_map(self) -> bool:
        return self.grounding is MapGrounding

    @property
    def extra_channels(self) -> int:
        """UNet input channels the downsampler adds to the latent's 4 (0 without one)."""
        return 0 if self.downsampler is None else int(self.downsampler.out_channels)

    def downsampler_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every downsampler tensor and its shape, read off the module (empty without one)."""
        if self.downsampler is None:
            return {}
        return {k: tuple(v.shape) for k, v in self.downsampler().state_dict().items()}

    @property
    def token_count(self) -> int:
        return self.slots * self.tokens_per_slot

    def expected_shapes(self, entity_dim: int, token_dim: int) -> dict[str, tuple[int, ...]]:
        """Every position-net tensor and its shape, read off the module itself (built on the meta device)."""
        assert self.position_net is not None, f"{self.variant.value} has no position net"
        net = self.position_net(entity_dim, token_dim)
        return {k: tuple(v.shape) for k, v in net.state_dict().items()}

    def slot_bias(self, per_slot: torch.Tensor) -> torch.Tensor:
        """(token_count,) attention logits from one value per used slot (n <= slots), 0 for empty slots."""
        padded = torch.zeros(self.slots)
        padded[: len(per_slot)] = per_slot
        if self.kind_major:
            return padded.repeat(self.tokens_per_slot)
        return padded.repeat_interleave(self.tokens_per_slot)


def _map_spec(variant: Variant, downsampler: type[nn.Module], words: tuple[str, ...],
              schedule: tuple[float, float, float]) -> VariantSpec:
    """A spatial-map variant: ConvNeXt tokenizer (64 tokens), told apart by its downsampler's input width."""
    semantic = variant is Variant.SEMANTIC
    in_conv = frozenset({"in_conv.weight"})
    return VariantSpec(
        variant, frozenset({"pos_embedding", "null_feature"}) | (in_conv if semantic else frozenset()),
        "convnext_tiny_backbone.", entity_null_key="null_feature",
        position_net=SemanticPositionNet if semantic else MapPositionNet, grounding=MapGrounding, slots=1,
        tokens_per_slot=MAP_TOKENS, forbidden=frozenset() if semantic else in_conv, downsampler=downsampler,
        downsampler_in=None if downsampler is HedDownsampler else downsampler.in_channels, words=words,
        schedule=schedule)


VARIANTS: tuple[VariantSpec, ...] = (  # in the order they are recognised
    VariantSpec(Variant.TEXT_BOX, frozenset({"null_positive_feature"}), entity_null_key="null_positive_feature",
                position_net=TextBoxPositionNet, grounding=BoxGrounding, slots=MAX_OBJECTS),
    VariantSpec(Variant.TEXT_IMAGE_BOX, frozenset({"null_text_feature", "null_image_feature"}),
                entity_null_key="null_text_feature", position_net=TextImagePositionNet, grounding=BoxGrounding,
                slots=MAX_OBJECTS, tokens_per_slot=2, kind_major=True, reads_images=True),
    VariantSpec(Variant.KEYPOINT, frozenset({"person_embeddings"}), entity_null_key="null_person_feature",
                position_net=KeypointPositionNet, grounding=PoseGrounding, slots=MAX_PERSONS,
                tokens_per_slot=JOINTS),
    _map_spec(Variant.HED, HedDownsampler, ("hed",), (0.9, 0.0, 0.1)),
    _map_spec(Variant.CANNY, ConvDownsampler, ("canny",), (0.9, 0.0, 0.1)),
    _map_spec(Variant.DEPTH, ConvDownsampler, ("depth",), (0.7, 0.0, 0.3)),
    _map_spec(Variant.NORMAL, NormalDownsampler, ("normal",), (0.7, 0.0, 0.3)),
    _map_spec(Variant.SEMANTIC, SemanticDownsampler, ("sem", "semantic", "ade"), (0.7, 0.0, 0.3)),
)
SPECS: dict[Variant, VariantSpec] = {spec.variant: spec for spec in VARIANTS}


def recognise_variants(position_net_keys: set[str], downsampler_in: int | None = None) -> list[VariantSpec]:
    """Every spec whose markers a file's position-net keys carry (canny and depth files have the same shapes,
    so two may match)."""
    return [spec for spec in VARIANTS if spec.matches(position_net_keys, downsampler_in)]


def recognise_variant(position_net_keys: set[str], downsampler_in: int | None = None) -> VariantSpec | None:
    """The first spec whose markers a file's position-net keys carry, or None."""
    return next(iter(recognise_variants(position_net_keys, downsampler_in)), None)


_GROUNDING_WORDS = {BoxGrounding: "boxes", PoseGrounding: "poses", MapGrounding: "a spatial map"}
_ENCODE_NODES = {BoxGrounding: "GLIGEN Text-Box Encode", PoseGrounding: "GLIGEN Pose Encode",
                 MapGrounding: "GLIGEN Map Encode"}
_FILES_FOR = {BoxGrounding: "a text-box GLIGEN file", PoseGrounding: "the keypoint GLIGEN file",
              MapGrounding: "the spatial-map GLIGEN file of that map (hed, canny, depth, normal or sem)"}


def wrong_grounding_message(spec: VariantSpec, given: type) -> str:
    """What to tell a user who grounds `spec`'s model on another kind of grounding, and the two fixes."""
    return (f"a {spec.variant.value} model is grounded on {_GROUNDING_WORDS[spec.grounding]}, but it was given "
            f"{_GROUNDING_WORDS.get(given, given.__name__)}. Load {_FILES_FOR.get(given, 'a matching GLIGEN file')}, "
            f"or use {_ENCODE_NODES[spec.grounding]}.")
