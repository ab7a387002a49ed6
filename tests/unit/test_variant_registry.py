"""The variant registry (gligen_model/variants.py): one entry says how a variant is recognised, what its
file holds, what it is grounded on and how many tokens it makes."""

from __future__ import annotations

import pytest
import torch

from devkit.gligen_checkpoints import SD15_BLOCKS, variant_state_dict
from devkit.pack import import_pack

import_pack()
from gligen_suite.gligen_model import GligenInputError, GligenModel, parse_gligen_state_dict  # noqa: E402
from gligen_suite.gligen_model.grounding import BoxGrounding, PoseGrounding  # noqa: E402
from gligen_suite.gligen_model.variants import SPECS, VARIANTS, Variant, recognise_variant  # noqa: E402

RUNNING = [spec for spec in VARIANTS if spec.runs]
# Independent of the registry: what each published file's tokenizer makes (the authors' configs).
PUBLISHED_TOKENS = {Variant.TEXT_BOX: 30, Variant.TEXT_IMAGE_BOX: 60, Variant.KEYPOINT: 136}


def test_every_variant_is_registered_once_and_spatial_is_recognised_but_not_run() -> None:
    assert {spec.variant for spec in VARIANTS} == set(Variant) and len(VARIANTS) == len(Variant)
    assert recognise_variant({"convnext_tiny_backbone.stem.0.weight", "pos_embedding"}) is SPECS[Variant.SPATIAL]
    assert not SPECS[Variant.SPATIAL].runs
    assert recognise_variant({"linears.0.weight"}) is None


@pytest.mark.parametrize("spec", RUNNING, ids=lambda spec: spec.variant.value)
def test_a_file_made_from_the_specs_shapes_loads_as_that_variant(spec) -> None:  # noqa: ANN001
    state = variant_state_dict(SD15_BLOCKS[:2], spec.variant.value, seed=3)
    checkpoint = parse_gligen_state_dict(state, "made.safetensors")
    assert checkpoint.variant == spec.variant and checkpoint.phrase_dim == 768
    assert recognise_variant({k.removeprefix("position_net.") for k in state if k.startswith("position_net.")}) is spec
    model = GligenModel(checkpoint)
    assert model.tokens_for(None).shape == (1, spec.token_count, 768)
    assert spec.token_count == PUBLISHED_TOKENS[spec.variant]


@pytest.mark.parametrize("spec", RUNNING, ids=lambda spec: spec.variant.value)
def test_a_missing_or_misshapen_position_net_tensor_is_named(spec) -> None:  # noqa: ANN001
    state = variant_state_dict(SD15_BLOCKS[:2], spec.variant.value, seed=3)
    key = next(k for k in state if k.startswith("position_net.linears") and k.endswith(".bias"))
    state[key] = torch.zeros(7)
    with pytest.raises(GligenInputError, match=rf"'{key.removeprefix('position_net.')}' has shape \(7,\)"):
        parse_gligen_state_dict(state, "bad.safetensors")


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
    assert "given poses" in SPECS[Variant.TEXT_BOX].wrong_grounding
    assert "given boxes" in SPECS[Variant.KEYPOINT].wrong_grounding
