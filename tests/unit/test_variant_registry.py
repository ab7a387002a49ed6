"""The variant registry (gligen_model/variants.py): one entry says how a variant is recognised, what its
file holds, what it is grounded on and how many tokens it makes."""

from __future__ import annotations

import pytest
import torch

from devkit.gligen_checkpoints import SD15_BLOCKS, variant_state_dict
from devkit.pack import import_pack

import_pack()
from gligen_suite.gligen_model import GligenInputError, GligenModel, parse_gligen_state_dict  # noqa: E402
from gligen_suite.gligen_model.grounding import BoxGrounding, MapGrounding, PoseGrounding  # noqa: E402
from gligen_suite.gligen_model.variants import (  # noqa: E402
    SPECS,
    VARIANTS,
    Variant,
    recognise_variants,
    wrong_grounding_message,
)

# Independent of the registry: what each published file's tokenizer makes (the authors' configs) and the
# first conv's input channels (openaimodel.py: 4 + the downsampler's out_dim).
PUBLISHED_TOKENS = {Variant.TEXT_BOX: 30, Variant.TEXT_IMAGE_BOX: 60, Variant.KEYPOINT: 136, Variant.HED: 64,
                    Variant.CANNY: 64, Variant.DEPTH: 64, Variant.NORMAL: 64, Variant.SEMANTIC: 64}
PUBLISHED_FIRST_CONV = {Variant.HED: 5, Variant.CANNY: 12, Variant.DEPTH: 12, Variant.NORMAL: 12, Variant.SEMANTIC: 12}


def downsampler_in(state: dict[str, torch.Tensor]) -> int | None:
    weight = state.get("downsample_net.layers.0.weight")
    return None if weight is None else int(weight.shape[1])


def test_every_variant_is_registered_once_and_only_canny_and_depth_share_shapes() -> None:
    assert {spec.variant for spec in VARIANTS} == set(Variant) and len(VARIANTS) == len(Variant)
    assert recognise_variants({"linears.0.weight"}) == []
    for spec in VARIANTS:
        state = variant_state_dict(SD15_BLOCKS[:1], spec.variant.value, seed=1)
        keys = {k.removeprefix("position_net.") for k in state if k.startswith("position_net.")}
        matches = {s.variant for s in recognise_variants(keys, downsampler_in(state))}
        assert matches == ({Variant.CANNY, Variant.DEPTH} if spec.variant in matches & {Variant.CANNY, Variant.DEPTH}
                           else {spec.variant})


@pytest.mark.parametrize("spec", VARIANTS, ids=lambda spec: spec.variant.value)
def test_a_file_made_from_the_specs_shapes_loads_as_that_variant(spec) -> None:  # noqa: ANN001
    state = variant_state_dict(SD15_BLOCKS[:2], spec.variant.value, seed=3)
    checkpoint = parse_gligen_state_dict(state, f"gligen_{spec.variant.value}.safetensors")
    assert checkpoint.variant == spec.variant and checkpoint.phrase_dim == 768 and not checkpoint.inpainting
    model = GligenModel(checkpoint)
    assert model.tokens_for(None).shape == (1, spec.token_count, 768)
    assert spec.token_count == PUBLISHED_TOKENS[spec.variant]
    first_conv = None if model.first_conv is None else model.first_conv.in_channels
    assert first_conv == PUBLISHED_FIRST_CONV.get(spec.variant)


@pytest.mark.parametrize("spec", VARIANTS, ids=lambda spec: spec.variant.value)
def test_a_missing_or_misshapen_position_net_tensor_is_named(spec) -> None:  # noqa: ANN001
    state = variant_state_dict(SD15_BLOCKS[:2], spec.variant.value, seed=3)
    key = next(k for k in state if k.startswith("position_net.linears") and k.endswith(".bias"))
    state[key] = torch.zeros(7)
    with pytest.raises(GligenInputError, match=rf"'{key.removeprefix('position_net.')}' has shape \(7,\)"):
        parse_gligen_state_dict(state, f"bad_{spec.variant.value}.safetensors")


def test_strength_bias_follows_each_variants_token_order() -> None:
    logits = torch.tensor([1.0, 2.0])
    text_image = SPECS[Variant.TEXT_IMAGE_BOX].slot_bias(logits)  # [30 text ; 30 image]
    assert text_image.shape == (60,) and text_image[[0, 1, 30, 31]].tolist() == [1, 2, 1, 2]
    assert text_image[2:30].eq(0).all() and text_image[32:].eq(0).all()
    keypoint = SPECS[Variant.KEYPOINT].slot_bias(logits)  # person-major: person p's 17 joints together
    assert keypoint.shape == (136,) and keypoint[:17].eq(1).all() and keypoint[17:34].eq(2).all()
    assert keypoint[34:].eq(0).all()


def test_each_variant_names_the_grounding_it_takes() -> None:
    assert SPECS[Variant.TEXT_BOX].grounding is BoxGrounding and SPECS[Variant.KEYPOINT].grounding is PoseGrounding
    assert SPECS[Variant.DEPTH].grounding is MapGrounding
    assert "given poses" in wrong_grounding_message(SPECS[Variant.TEXT_BOX], PoseGrounding)
    assert "given boxes" in wrong_grounding_message(SPECS[Variant.KEYPOINT], BoxGrounding)
    text = wrong_grounding_message(SPECS[Variant.CANNY], BoxGrounding)
    assert "grounded on a spatial map, but it was given boxes" in text and "GLIGEN Map Encode" in text
