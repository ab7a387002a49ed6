"""Phrase features of SDXL and SD2.x CLIPs are the ones each GLIGEN family was trained on (HF transformers oracles).

The CLIPs are full size with random weights in the published checkpoint layouts (devkit/text_encoder_checkpoints.py),
loaded by ComfyUI's own checkpoint loader. The oracles are transformers' models in the diffusers configs on the
same tensors, fed by HF tokenizers padded as the diffusers pipelines pad (shared/gligen-xl-reference.md 1.5, 2):
- SDXL (GLIGEN-XL): [CLIP-L pooler_output (768) ; bigG text_embeds (1280)].
- SD2.1 (IGLIGEN): the 23-layer text encoder's pooler_output (1024).
One CLIP is loaded per class (SDXL: ~3.3 GB fp32, ~7 GB RSS while loading; SD2: ~1.4 GB) and freed after it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import torch

from devkit.input_errors import message_for
from devkit.text_encoder_checkpoints import (
    comfy_clip,
    hf_tokenizer,
    meta_other_clip,
    sd2_clip_state_dict,
    sd2_hf_text_encoder,
    sdxl_clip_state_dict,
    sdxl_hf_clip_g,
    sdxl_hf_clip_l,
)

pytestmark = pytest.mark.parity

# 3, 14 and 75 word tokens: 75 fills a section, so its end token is the last of the 77 and there is no padding
PHRASES = ["a red cat", "a big blue ball on a wooden table next to the open window in the morning", "cat " * 75]
MIXED = ["tree", "a small green frog sitting on a leaf", "(a cat:1.3) " * 30]
TOLERANCE = 1e-4  # relative, fp32
APART = 0.05  # relative: a wrong recipe's feature is at least this far off (random weights: 0.2 to 1.8)


@dataclass
class Loaded:
    """A ComfyUI CLIP and, for PHRASES, the oracle's features and a plausible wrong feature."""

    clip: Any
    oracle: torch.Tensor
    wrong: torch.Tensor


def relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    """The largest per-phrase ||ours - reference|| / ||reference||."""
    return ((ours - reference).norm(dim=-1) / reference.norm(dim=-1)).max().item()


def hf_ids(phrases: list[str], pad_with_end: bool) -> torch.Tensor:
    tokenizer = hf_tokenizer(pad_with_end)
    return tokenizer(phrases, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids


def comfy_ids(clip: Any, phrase: str, key: str) -> list[int]:
    (section,) = clip.tokenize(phrase)[key]
    return [token for token, _ in section]


def encode(clip: Any, phrases: list[str]) -> torch.Tensor:
    from gligen_suite.nodes.encoders.phrases import encode_phrases

    return encode_phrases(clip, phrases)


def free(loaded: Loaded) -> None:
    import comfy.model_management

    del loaded.clip
    gc.collect()
    comfy.model_management.cleanup_models()  # its loaded-model entry holds only a weak reference


def set_last_layer(clip: Any, layer: int) -> Any:
    """What ComfyUI's CLIP Set Last Layer node outputs."""
    import nodes

    return nodes.CLIPSetLastLayer().set_last_layer(clip, layer)[0]


def assert_options_restored(clip: Any, keys: str) -> None:
    stage = clip.cond_stage_model
    for key in keys:
        inner = getattr(stage, f"clip_{key}")
        assert (inner.layer, inner.layer_idx, inner.return_projected_pooled) == inner.options_default


def assert_unchanged_by_set_last_layer(clip: Any, layer: int) -> None:
    """The phrase features stay; the prompt's cond (so the layer setting) does change."""
    prompt = clip.tokenize(MIXED[1])
    other = set_last_layer(clip, layer)
    assert (other.encode_from_tokens(prompt) - clip.encode_from_tokens(prompt)).abs().max() > 1e-2  # it is live
    torch.testing.assert_close(encode(other, MIXED[:2]), encode(clip, MIXED[:2]), atol=1e-6, rtol=1e-6)


def assert_batch_equals_each_alone(clip: Any) -> None:
    """1, 8 and 60 word tokens (the last with prompt weights, which phrases ignore) in one batch."""
    batched = encode(clip, MIXED)
    alone = torch.cat([encode(clip, [phrase]) for phrase in MIXED])
    assert len({tuple(row.tolist()) for row in batched}) == len(MIXED)
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-5)


# ---- SDXL: GLIGEN-XL's [CLIP-L pooled, unprojected ; bigG pooled, projected] ----------------------------------

@pytest.fixture(scope="class")
def sdxl() -> Iterator[Loaded]:
    sd = sdxl_clip_state_dict()
    ids_g = hf_ids(PHRASES, pad_with_end=False)
    with torch.no_grad():
        clip_l = sdxl_hf_clip_l(sd)(hf_ids(PHRASES, pad_with_end=True)).pooler_output
        big_g = sdxl_hf_clip_g(sd)(ids_g)
    unprojected = big_g.last_hidden_state[torch.arange(len(PHRASES)), ids_g.argmax(dim=-1)]  # end token, final LN
    loaded = Loaded(comfy_clip(sd, "SDXL"), torch.cat([clip_l, big_g.text_embeds], dim=1), unprojected)
    del sd, big_g
    yield loaded
    free(loaded)


class TestSDXL:
    def test_features_are_clip_l_pooled_and_big_g_projected(self, sdxl: Loaded) -> None:
        ours = encode(sdxl.clip, PHRASES)
        assert ours.shape == (3, 2048) and ours.dtype == torch.float32 and ours.device.type == "cpu"
        assert relative_error(ours, sdxl.oracle) <= TOLERANCE
        assert relative_error(ours[:, 768:], sdxl.wrong) > APART  # not bigG's unprojected pooled output
        assert_options_restored(sdxl.clip, "lg")

    def test_both_tokenizers_agree_with_the_pipeline_tokenizers(self, sdxl: Loaded) -> None:
        for key, pad_with_end in (("l", True), ("g", False)):
            ids = hf_ids(PHRASES, pad_with_end)
            assert [comfy_ids(sdxl.clip, p, key) for p in PHRASES] == ids.tolist()

    def test_a_batch_of_phrases_of_different_lengths_equals_each_phrase_alone(self, sdxl: Loaded) -> None:
        assert_batch_equals_each_alone(sdxl.clip)

    def test_clip_set_last_layer_does_not_change_the_features(self, sdxl: Loaded) -> None:
        assert_unchanged_by_set_last_layer(sdxl.clip, -6)

    @pytest.mark.bad_input
    def test_a_phrase_longer_than_one_section_is_refused(self, sdxl: Loaded) -> None:
        from gligen_suite.nodes.text_box_encode_node import encode_layout

        layout = ('{"version": 1, "width": 64, "height": 64, "objects": [{"phrase": "a dog", "box": [0, 0, 8, 8]}, '
                  '{"phrase": "' + "cat " * 76 + '", "box": [0, 0, 8, 8]}]}')
        text = message_for(lambda: encode_layout(sdxl.clip, layout))
        assert "The phrase of object 2" in text and "longer than CLIP's 75 tokens" in text


# ---- SD2.x: IGLIGEN's penultimate layer after the final LayerNorm, at the end token ----------------------------

@pytest.fixture(scope="class")
def sd2() -> Iterator[Loaded]:
    sd = sd2_clip_state_dict()
    with torch.no_grad():
        oracle = sd2_hf_text_encoder(sd)(hf_ids(PHRASES, pad_with_end=False)).pooler_output
    clip = comfy_clip(sd, "SD20")
    del sd
    comfy_pooled = torch.cat([clip.encode_from_tokens(clip.tokenize(p), return_pooled=True)[1] for p in PHRASES])
    loaded = Loaded(clip, oracle, comfy_pooled.float())
    yield loaded
    free(loaded)


class TestSD2:
    def test_features_are_the_23_layer_pooler_output(self, sd2: Loaded) -> None:
        ours = encode(sd2.clip, PHRASES)
        assert ours.shape == (3, 1024) and ours.dtype == torch.float32
        assert relative_error(ours, sd2.oracle) <= TOLERANCE
        assert relative_error(ours, sd2.wrong) > APART  # not ComfyUI's SD2 pooled output (the last layer's)
        assert_options_restored(sd2.clip, "h")
        unprojected = torch.cat([sd2.clip.encode_from_tokens(sd2.clip.tokenize(p), return_pooled="unprojected")[1]
                                 for p in PHRASES]).float()
        assert relative_error(ours, unprojected) > APART  # nor its unprojected one (the last layer's)

    def test_the_end_token_is_found_after_comfyuis_zero_padding(self, sd2: Loaded) -> None:
        """ComfyUI pads SD2 phrases with 0 ("!") after one end token (49407), as the pipeline's tokenizer does."""
        ids = hf_ids(PHRASES, pad_with_end=False)
        assert [comfy_ids(sd2.clip, p, "h") for p in PHRASES] == ids.tolist()
        assert ids[0, :6].tolist() == [49406, 320, 736, 2368, 49407, 0] and ids[2, -1].item() == 49407

    def test_a_batch_of_phrases_of_different_lengths_equals_each_phrase_alone(self, sd2: Loaded) -> None:
        assert_batch_equals_each_alone(sd2.clip)

    def test_clip_set_last_layer_does_not_change_the_features(self, sd2: Loaded) -> None:
        assert_unchanged_by_set_last_layer(sd2.clip, -1)  # SD2's true last layer: not what IGLIGEN used


# ---- CLIPs no GLIGEN family uses ------------------------------------------------------------------------------

@pytest.mark.bad_input
@pytest.mark.parametrize(("kind", "encoders"), [("flux", "['l', 't5xxl']"), ("sd3", "['g', 'l', 't5xxl']")])
def test_a_clip_of_another_model_is_refused_naming_its_encoders(kind: str, encoders: str) -> None:
    text = message_for(lambda: encode(meta_other_clip(kind), ["a cat"]))
    assert f"The CLIP has text encoders {encoders}" in text
    assert "SD1.x (['l'])" in text and "SD2.x (['h'])" in text and "SDXL (['g', 'l'])" in text
    assert "Connect the CLIP of the base model the GLIGEN file is for to the encode node" in text


@pytest.mark.bad_input
def test_an_sdxl_refiner_clip_is_refused_naming_the_missing_encoder() -> None:
    text = message_for(lambda: encode(meta_other_clip("sdxl_refiner"), ["a cat"]))
    assert "SDXL's tokenizers but no CLIP-L text model" in text and "need CLIP-L and OpenCLIP-bigG" in text
    assert "Connect the CLIP of the SDXL base checkpoint" in text
