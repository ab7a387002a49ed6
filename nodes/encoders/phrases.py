"""Phrase features for the position net, exactly as each GLIGEN family was trained.

The recipe is picked by the CLIP's text encoders (the keys of `clip.tokenize`), see
shared/gligen-xl-reference.md 1.5 and 2:
- {"l"} SD1.x: CLIP-L's pooled output (end token after the final LayerNorm), unprojected: 768.
- {"g", "l"} SDXL (GLIGEN-XL): [CLIP-L pooled, unprojected (768) ; OpenCLIP-bigG pooled, projected (1280)] = 2048.
- {"h"} SD2.x (IGLIGEN): OpenCLIP-H's penultimate layer after the final LayerNorm, at the end token: 1024, what the
  23-layer HF text encoder's pooler_output is. ComfyUI's SD2 pooled output comes from the last layer instead.
Training fixed these, so the CLIP's Set Last Layer does not change them.

All phrases go through each text encoder in one batch. ComfyUI's public encode call returns the pooled vector of a
prompt's first section only, so the batch runs the CLIP's inner text models, with the options the host's own
`encode_from_tokens` sets: the recipe's layer and pooling and, on newer ComfyUI (dynamic VRAM), `execution_device`,
the device the text models run on (their weights may stay on the CPU and be streamed in). 0.3.75 ignores that option
and runs where the weights are.
"""

from __future__ import annotations

import logging
import numbers
from dataclasses import dataclass, field
from typing import Any

import torch

from ...gligen_model import GligenInputError

log = logging.getLogger("gligen_suite")


@dataclass(frozen=True)
class _Part:
    """One text encoder's share of the feature: its tokenizer key and name, the clip options it runs with, and
    whether the hidden state at each phrase's first end token is read instead of the pooled output."""

    key: str
    name: str
    options: dict[str, Any] = field(default_factory=dict)
    at_end_token: bool = False


@dataclass(frozen=True)
class _Recipe:
    family: str
    parts: tuple[_Part, ...]  # concatenated in this order


_UNPROJECTED_L = _Part("l", "CLIP-L", {"projected_pooled": False})
RECIPES: dict[frozenset[str], _Recipe] = {
    frozenset({"l"}): _Recipe("SD1.x", (_UNPROJECTED_L,)),
    frozenset({"h"}): _Recipe("SD2.x", (_Part("h", "OpenCLIP-H", {"layer": -2}, at_end_token=True),)),
    frozenset({"g", "l"}): _Recipe("SDXL", (_UNPROJECTED_L, _Part("g", "OpenCLIP-bigG", {"projected_pooled": True}))),
}


def encode_phrases(clip: Any, phrases: list[str]) -> torch.Tensor:
    """Phrase features: (N, D) float32 on the CPU; D = 768 (SD1.x), 1024 (SD2.x) or 2048 (SDXL)."""
    if not phrases:
        return torch.zeros(0, 0)
    token_sets = [clip.tokenize(p) for p in phrases]
    recipe = _recipe_for(token_sets[0])
    for index, (phrase, tokens) in enumerate(zip(phrases, token_sets, strict=True), 1):
        _check_one_section(phrase, tokens, index)
    encoders = [_text_encoder(clip, part.key) for part in recipe.parts]
    missing = [part.name for part, encoder in zip(recipe.parts, encoders, strict=True) if encoder is None]
    if missing:
        return _encode_one_by_one(clip, recipe, token_sets, missing)
    stage = clip.cond_stage_model
    stage.reset_clip_options()
    try:
        clip.load_model()
        device = getattr(getattr(clip, "patcher", None), "load_device", None)
        if device is not None:
            stage.set_clip_options({"execution_device": device})
        for part, encoder in zip(recipe.parts, encoders, strict=True):
            encoder.set_clip_options(part.options)
        features = [_run(encoder, part, [tokens[part.key][0] for tokens in token_sets])
                    for part, encoder in zip(recipe.parts, encoders, strict=True)]
    finally:
        stage.reset_clip_options()
    return torch.cat([f.float().cpu() for f in features], dim=1)


def _recipe_for(tokens: dict[str, Any]) -> _Recipe:
    recipe = RECIPES.get(frozenset(tokens))
    if recipe is None:
        supported = ", ".join(f"{r.family} ({sorted(k)})" for k, r in RECIPES.items())
        raise GligenInputError(
            f"The CLIP has text encoders {sorted(tokens)}: GLIGEN phrases are encoded by the CLIP of an SD1.x, "
            f"SD2.x or SDXL checkpoint, whose text encoders are {supported}. Connect the CLIP of the base model "
            "the GLIGEN file is for to the encode node.")
    return recipe


def _check_one_section(phrase: str, tokens: dict[str, Any], index: int) -> None:
    if any(len(sections) > 1 for sections in tokens.values()):
        raise GligenInputError(
            f"The phrase of object {index} ('{phrase[:40]}...') is longer than CLIP's 75 tokens: shorten it "
            "to a few words naming the object; put details in the prompt.")


def _text_encoder(clip: Any, key: str) -> Any | None:
    """The CLIP's inner text model for tokenizer key `key` (ComfyUI's SDClipModel, whose `encode(batch)`
    returns (hidden states, pooled) per row), or None. SD1/SD2 wrappers name it in `clip`, SDXL's is `clip_<key>`."""
    stage = getattr(clip, "cond_stage_model", None)
    name = getattr(stage, "clip", None) if getattr(stage, "clip_name", None) == key else f"clip_{key}"
    inner = getattr(stage, name, None) if isinstance(name, str) else None
    return inner if hasattr(inner, "encode") and hasattr(inner, "set_clip_options") else None


def _run(encoder: Any, part: _Part, sections: list[list[tuple[Any, float]]]) -> torch.Tensor:
    """One batched run of `encoder` on one 77-token section per phrase: (N, width)."""
    batch = [[token[0] for token in section] for section in sections]
    hidden, pooled = encoder.encode(batch)[:2]
    if not part.at_end_token:
        return pooled
    end = encoder.special_tokens["end"]
    ends = [next(i for i, t in enumerate(row) if isinstance(t, numbers.Integral) and t == end) for row in batch]
    return hidden[torch.arange(len(batch), device=hidden.device), torch.tensor(ends, device=hidden.device)]


def _encode_one_by_one(clip: Any, recipe: _Recipe, token_sets: list[dict[str, Any]],
                       missing: list[str]) -> torch.Tensor:
    """An unusual CLIP wrapper: SD1.x's feature is the public unprojected pooled output, one call per phrase;
    the other recipes need the inner models."""
    if recipe.family != "SD1.x":
        needed = " and ".join(part.name for part in recipe.parts)
        raise GligenInputError(
            f"The CLIP has {recipe.family}'s tokenizers but no {' or '.join(missing)} text model (its text model is "
            f"{type(clip.cond_stage_model).__name__}; an SDXL refiner's CLIP, for one, has only OpenCLIP-bigG): "
            f"{recipe.family} GLIGEN phrases need {needed}. Connect the CLIP of the {recipe.family} base checkpoint "
            "to the encode node.")
    log.info("gligen_suite: encoding %d phrases one by one (unrecognised CLIP wrapper)", len(token_sets))
    pooled = [clip.encode_from_tokens(t, return_pooled="unprojected")[1] for t in token_sets]
    return torch.cat(pooled).float().cpu()
