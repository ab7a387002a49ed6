"""The base models GLIGEN files are made for, told apart by their shapes, and what each needs.

A GLIGEN file and a UNet agree when their cross-attention context width and their transformer blocks
(one fuser each, same widths, same order) agree. The context width names the family:
- SD1.x: context 768, 16 transformer blocks; phrases are CLIP-L's pooled output (unprojected).
- SD2.x: context 1024, 16 blocks (64-dim heads); IGLIGEN phrases are OpenCLIP-H's penultimate layer after
  the final LayerNorm, at the end token (the 23-layer HF text encoder's pooler_output).
- SDXL: context 2048, 70 blocks (depth 2 and 10 SpatialTransformers); GLIGEN-XL phrases are
  [CLIP-L pooled, unprojected (768) ; OpenCLIP-bigG pooled, projected (1280)].
(shared/gligen-xl-reference.md sections 1.5 and 2.)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BaseFamily:
    """One base-model family.

    context_dim: the UNet's cross-attention width, which is also the grounding-token width; blocks: transformer
    blocks (= fusers) of the full UNet; phrase_dim: width of the phrase features its GLIGEN files take;
    phrase_encoder: what makes them; gligen_files / checkpoints: the published files, for messages.
    """

    name: str
    context_dim: int
    blocks: int
    phrase_dim: int
    phrase_encoder: str
    gligen_files: str
    checkpoints: str


FAMILIES: tuple[BaseFamily, ...] = (
    BaseFamily("SD1.x", 768, 16, 768, "SD1.x's CLIP-L",
               "the authors' GLIGEN files (e.g. gligen_sd14_textbox_pruned.safetensors)",
               "an SD 1.4 / 1.5 checkpoint"),
    BaseFamily("SD2.x", 1024, 16, 1024, "SD2's OpenCLIP-H",
               "IGLIGEN SD2.1 (the unet folder of longlian/igligen-sd2.1-v1.0)",
               "an SD 2.1-base checkpoint (v2-1_512-ema-pruned)"),
    BaseFamily("SDXL", 2048, 70, 2048, "SDXL's CLIP-L and OpenCLIP-bigG",
               "GLIGEN-XL (the unet folder of jiuntian/gligen-xl-1024 or -512, or its converted adapter)",
               "an SDXL checkpoint (e.g. sd_xl_base_1.0.safetensors)"),
)


def family_of(context_dim: int) -> BaseFamily | None:
    """The family whose UNet has this cross-attention width, or None."""
    return next((f for f in FAMILIES if f.context_dim == context_dim), None)


def family_of_phrases(width: int) -> BaseFamily | None:
    """The family whose text encoder gives phrase features of this width, or None."""
    return next((f for f in FAMILIES if f.phrase_dim == width), None)


def describe_base_model(context_dim: int, n_blocks: int) -> str:
    """E.g. "SDXL (context 2048, 70 transformer blocks)"."""
    family = family_of(context_dim)
    return f"{family.name if family else 'an unknown model'} (context {context_dim}, {n_blocks} transformer blocks)"


def mismatch_advice(file_context: int, model_context: int) -> str:
    """What to do when a GLIGEN file for one family meets a MODEL of another (or of the same family, but with
    other blocks: a reduced or merged UNet)."""
    made_for, model = family_of(file_context), family_of(model_context)
    if made_for is None:
        return "Use the GLIGEN file made for your base model."
    advice = (f"Use the GLIGEN file made for your base model: this one is for {made_for.name}, so load it with "
              f"{made_for.checkpoints}")
    if model is not None and model is not made_for:
        advice += f"; for this {model.name} MODEL use {model.gligen_files}"
    return advice + "."
