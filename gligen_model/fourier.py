"""Fourier features of box coordinates, as in GLIGEN's FourierEmbedder."""

from __future__ import annotations

import torch

BOX_FOURIER_FREQS = 8
FOURIER_TEMPERATURE = 100.0


def fourier_embed(coords: torch.Tensor, num_freqs: int = BOX_FOURIER_FREQS,
                  temperature: float = FOURIER_TEMPERATURE) -> torch.Tensor:
    """Embed coordinates with frequencies temperature**(k / num_freqs), k < num_freqs (no 2*pi).

    coords: (..., D) in [0, 1]. Returns (..., num_freqs * 2 * D), ordered frequency-major,
    then [sin, cos], then coordinate: the order the published weights were trained with.
    """
    freqs = temperature ** (torch.arange(num_freqs, device=coords.device, dtype=torch.float32) / num_freqs)
    angles = freqs[:, None] * coords.float()[..., None, :]          # (..., F, D)
    features = torch.stack([angles.sin(), angles.cos()], dim=-2)   # (..., F, 2, D)
    return features.flatten(-3).to(coords.dtype)
