"""The base MODEL's transformer blocks, how ComfyUI addresses them, and whether a GLIGEN file's fusers fit.

A fuser belongs to one transformer block. ComfyUI tells a middle patch where it runs through
`extra_options`: "block" = ("input" | "middle" | "output", block id) and "block_index" = the
transformer block inside that SpatialTransformer. `transformer_index` counts SpatialTransformers
only, so it cannot tell the blocks of a deeper SpatialTransformer apart (SDXL has 2 and 10 per
transformer); the address (kind, block id, block_index) can, and ComfyUI's own attn patches key on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ...gligen_model import GligenInputError
from ...gligen_model.base_models import describe_base_model, mismatch_advice

BlockAddress = tuple[str, int, int]  # ComfyUI's (block kind, block id, block_index)


@dataclass(frozen=True)
class TransformerSlot:
    """One transformer block of the UNet, in forward order.

    address: how ComfyUI's middle patch sees it; name: its module path (e.g.
    "input_blocks.1.1.transformer_blocks.0"); query_dim / context_dim: channels of its visual tokens
    and width of its cross-attention context.
    """

    address: BlockAddress
    name: str
    query_dim: int
    context_dim: int


def transformer_slots(diffusion_model: Any) -> list[TransformerSlot]:
    """Every transformer block of every SpatialTransformer, in forward order (input, middle, output blocks)."""
    slots: list[TransformerSlot] = []
    for kind, block_id, prefix, group in _block_groups(diffusion_model):
        for j, layer in enumerate(group):
            for index, block in enumerate(getattr(layer, "transformer_blocks", None) or ()):
                slots.append(TransformerSlot((kind, block_id, index), f"{prefix}.{j}.transformer_blocks.{index}",
                                             block.attn1.to_q.in_features, block.attn2.to_k.in_features))
    return slots


def _block_groups(diffusion_model: Any) -> Iterator[tuple[str, int, str, Any]]:
    """(kind, block id, module path, block) as ComfyUI's UNet sets transformer_options["block"]."""
    for i, block in enumerate(getattr(diffusion_model, "input_blocks", None) or []):
        yield "input", i, f"input_blocks.{i}", block
    middle = getattr(diffusion_model, "middle_block", None)
    if middle is not None:
        yield "middle", 0, "middle_block", middle
    for i, block in enumerate(getattr(diffusion_model, "output_blocks", None) or []):
        yield "output", i, f"output_blocks.{i}", block


def check_fusers_fit(gligen_info: str, fuser_dims: tuple[int, ...], context_dim: int,
                     slots: list[TransformerSlot]) -> None:
    """Raise a GligenInputError naming both models when the fusers cannot map 1:1 onto the UNet's blocks."""
    if not slots:
        raise GligenInputError(
            f"{gligen_info}. The MODEL has no UNet transformer blocks (input_blocks / middle_block / "
            "output_blocks), so GLIGEN cannot attach to it: use an SD1.x checkpoint (e.g. SD 1.4 / 1.5), or "
            "SD 2.1 / SDXL with their GLIGEN files (IGLIGEN, GLIGEN-XL).")
    model_context = slots[0].context_dim
    fits = (len(slots) == len(fuser_dims) and model_context == context_dim
            and all(s.query_dim == d for s, d in zip(slots, fuser_dims, strict=False)))
    if not fits:
        raise GligenInputError(
            f"{gligen_info}. It does not fit this MODEL, which is "
            f"{describe_base_model(model_context, len(slots))} with block widths "
            f"{_widths(s.query_dim for s in slots)}; the GLIGEN file needs widths {_widths(fuser_dims)}. "
            f"{mismatch_advice(context_dim, model_context)}")


def _widths(widths: Iterable[int]) -> str:
    """A block-width list for a message, runs shortened: [320, 640 x 2, 1280 x 10, ...]."""
    runs: list[list[int]] = []
    for width in widths:
        if runs and runs[-1][0] == width:
            runs[-1][1] += 1
        else:
            runs.append([width, 1])
    shown = [str(w) if n == 1 else f"{w} x {n}" for w, n in runs[:12]]
    return "[" + ", ".join(shown) + (", ..." if len(runs) > 12 else "") + "]"
