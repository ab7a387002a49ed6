"""What each GLIGEN variant needs, in one place: how its file is recognised, its position net, what it is
grounded on, and how its tokens are laid out. Adding a variant is one new VariantSpec in VARIANTS.

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

from .grounding import BoxGrounding, PoseGrounding
from .keypoint_net import KeypointPositionNet
from .layout import MAX_OBJECTS
from .pose import JOINTS, MAX_PERSONS
from .position_net import TextBoxPositionNet, TextImagePositionNet


class Variant(str, Enum):
    TEXT_BOX = "text-box"
    TEXT_IMAGE_BOX = "text-image-box"
    KEYPOINT = "keypoint"
    SPATIAL = "spatial"  # hed / canny / depth / normal / sem


@dataclass(frozen=True)
class VariantSpec:
    """One variant.

    markers: position-net keys that identify it (all present), or marker_prefix: a key prefix.
    entity_null_key: the null feature whose length is the entity (phrase) width; None = not run yet.
    position_net: the module class (keys and shapes of the file come from it); None = not run yet.
    grounding: the grounding type it takes. slots: objects or persons it was trained with;
    tokens_per_slot: tokens each slot makes; kind_major: the tokens come as one block per token kind
    ([all text ; all image]) rather than slot by slot ([person 0's 17 joints, person 1's, ...]).
    wrong_grounding: the message (after the file's summary) for grounding of the other kind.
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
    wrong_grounding: str = ""

    def matches(self, keys: set[str]) -> bool:
        """True when a file's position-net keys are this variant's."""
        if self.marker_prefix is not None:
            return any(k.startswith(self.marker_prefix) for k in keys)
        return bool(self.markers) and self.markers <= keys

    @property
    def runs(self) -> bool:
        return self.position_net is not None

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


_BOXES_GIVEN_POSES = ("this model is grounded on boxes, but it was given poses. Load the keypoint GLIGEN file, or "
                      "use GLIGEN Text-Box Encode.")
VARIANTS: tuple[VariantSpec, ...] = (  # in the order they are recognised
    VariantSpec(Variant.TEXT_BOX, frozenset({"null_positive_feature"}), entity_null_key="null_positive_feature",
                position_net=TextBoxPositionNet, grounding=BoxGrounding, slots=MAX_OBJECTS,
                wrong_grounding=_BOXES_GIVEN_POSES),
    VariantSpec(Variant.TEXT_IMAGE_BOX, frozenset({"null_text_feature", "null_image_feature"}),
                entity_null_key="null_text_feature", position_net=TextImagePositionNet, grounding=BoxGrounding,
                slots=MAX_OBJECTS, tokens_per_slot=2, kind_major=True, reads_images=True,
                wrong_grounding=_BOXES_GIVEN_POSES),
    VariantSpec(Variant.KEYPOINT, frozenset({"person_embeddings"}), entity_null_key="null_person_feature",
                position_net=KeypointPositionNet, grounding=PoseGrounding, slots=MAX_PERSONS,
                tokens_per_slot=JOINTS,
                wrong_grounding="a keypoint model is grounded on poses, but it was given boxes. Use GLIGEN Pose "
                                "Encode, or load a text-box GLIGEN file."),
    VariantSpec(Variant.SPATIAL, marker_prefix="convnext_tiny_backbone."),
)
SPECS: dict[Variant, VariantSpec] = {spec.variant: spec for spec in VARIANTS}


def recognise_variant(position_net_keys: set[str]) -> VariantSpec | None:
    """The spec whose markers a file's position-net keys carry, or None."""
    return next((spec for spec in VARIANTS if spec.matches(position_net_keys)), None)
