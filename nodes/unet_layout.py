"""The base MODEL's transformer blocks, and whether a GLIGEN file's fusers fit them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..gligen_model import GligenInputError
from ..gligen_model.checkpoint import describe_base_model


@dataclass(frozen=True)
class TransformerSlot:
    """One SpatialTransformer of the UNet, in forward (transformer_index) order."""

    name: str
    query_dim: int
    context_dim: int


def transformer_slots(diffusion_model: Any) -> list[TransformerSlot]:
    """Transformers in forward order (input, middle, output blocks), as ComfyUI counts transformer_index."""
    slots: list[TransformerSlot] = []
    for prefix, group in _block_groups(diffusion_model):
        for j, layer in enumerate(group):
            blocks_inside = getattr(layer, "transformer_blocks", None)
            if blocks_inside:
                first = blocks_inside[0]
                slots.append(TransformerSlot(f"{prefix}.{j}", first.attn1.to_q.in_features,
                                             first.attn2.to_k.in_features))
    return slots


def _block_groups(diffusion_model: Any) -> Iterator[tuple[str, Any]]:
    for i, block in enumerate(getattr(diffusion_model, "input_blocks", None) or []):
        yield f"input_blocks.{i}", block
    middle = getattr(diffusion_model, "middle_block", None)
    if middle is not None:
        yield "middle_block", middle
    for i, block in enumerate(getattr(diffusion_model, "output_blocks", None) or []):
        yield f"output_blocks.{i}", block


def check_fusers_fit(gligen_info: str, fuser_dims: tuple[int, ...], context_dim: int,
                     slots: list[TransformerSlot]) -> None:
    """Raise a GligenInputError naming both models when the fusers cannot map 1:1 onto the UNet."""
    if not slots:
        raise GligenInputError(
            f"{gligen_info}. The MODEL has no UNet transformer blocks (input_blocks / middle_block / "
            "output_blocks), so GLIGEN cannot attach to it: use an SD1.x checkpoint (e.g. SD 1.4 / 1.5).")
    model_context = slots[0].context_dim
    fits = (len(slots) == len(fuser_dims) and model_context == context_dim
            and all(s.query_dim == d for s, d in zip(slots, fuser_dims, strict=False)))
    if not fits:
        raise GligenInputError(
            f"{gligen_info}. It does not fit this MODEL, which is "
            f"{describe_base_model(model_context, len(slots))} with block widths "
            f"{[s.query_dim for s in slots][:16]}; the GLIGEN file needs widths {list(fuser_dims)[:16]}. "
            "Use the GLIGEN file made for your base model (the published ones are for SD1.x: load an "
            "SD 1.4 / 1.5 checkpoint).")
