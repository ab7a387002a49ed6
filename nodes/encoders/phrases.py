"""Phrase features for the position net: CLIP-L's pooled output before text_projection.

The published models were trained on `pooler_output` of CLIP ViT-L/14's text model (the EOS
token after the final LayerNorm, unprojected). All phrases go through the text encoder in one
batch; ComfyUI's public encode call returns the pooled vector of a prompt's first section only, so
the batch runs the CLIP's inner text model with the options the host's own `encode_from_tokens` sets:
layer, unprojected pooling and, on newer ComfyUI (dynamic VRAM), `execution_device`, the device the
text model runs on (its weights may stay on the CPU and be streamed in). 0.3.75 ignores that option and
runs where the weights are.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from ...gligen_model import GligenInputError

log = logging.getLogger("gligen_suite")


def encode_phrases(clip: Any, phrases: list[str]) -> torch.Tensor:
    """Pooled, unprojected phrase features: (N, D) float32 on the CPU (D = 768 for SD1.x)."""
    if not phrases:
        return torch.zeros(0, 0)
    token_sets = [_tokenize_one_section(clip, p, i) for i, p in enumerate(phrases, 1)]
    encoder = _single_text_encoder(clip)
    if encoder is None:  # an unusual CLIP wrapper: fall back to one public call per phrase
        log.info("gligen_suite: encoding %d phrases one by one (unrecognised CLIP wrapper)", len(phrases))
        pooled = [clip.encode_from_tokens(t, return_pooled="unprojected")[1] for t in token_sets]
        return torch.cat(pooled).float().cpu()
    stage = clip.cond_stage_model
    stage.reset_clip_options()
    if getattr(clip, "layer_idx", None) is not None:
        stage.set_clip_options({"layer": clip.layer_idx})
    stage.set_clip_options({"projected_pooled": False})
    try:
        clip.load_model()
        device = getattr(getattr(clip, "patcher", None), "load_device", None)
        if device is not None:
            stage.set_clip_options({"execution_device": device})
        batch = [[token[0] for token in tokens[_encoder_key(clip)][0]] for tokens in token_sets]
        _, pooled = encoder.encode(batch)[:2]
    finally:
        stage.reset_clip_options()
    return pooled.float().cpu()


def _tokenize_one_section(clip: Any, phrase: str, index: int) -> dict[str, Any]:
    tokens = clip.tokenize(phrase)
    if set(tokens) != {"l"}:
        raise GligenInputError(
            f"The CLIP has text encoders {sorted(tokens)}, not SD1.x's single CLIP-L: GLIGEN phrases must be "
            "encoded by the CLIP of an SD1.x checkpoint. Connect that CLIP to the encode node.")
    if len(tokens["l"]) > 1:
        raise GligenInputError(
            f"The phrase of object {index} ('{phrase[:40]}...') is longer than CLIP's 75 tokens: shorten it "
            "to a few words naming the object; put details in the prompt.")
    return tokens


def _encoder_key(clip: Any) -> str:
    return clip.cond_stage_model.clip_name


def _single_text_encoder(clip: Any) -> Any | None:
    """The SD1 wrapper's inner text model, whose `encode(batch)` returns pooled rows per phrase."""
    stage = getattr(clip, "cond_stage_model", None)
    name = getattr(stage, "clip", None)
    inner = getattr(stage, name, None) if isinstance(name, str) else None
    if inner is None or not hasattr(inner, "encode") or not hasattr(stage, "clip_name"):
        return None
    return inner
