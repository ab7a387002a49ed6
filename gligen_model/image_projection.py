"""CLIP-L's text projection P, which maps CLIP image features into GLIGEN's phrase-feature space.

The text-image checkpoints were trained on `f @ P` (f: CLIP ViT-L/14 `image_embeds`, P: the
768 x 768 weight of CLIP-L's `text_projection` Linear), renormalized to 28.7 (the authors' `project` in
dataset/tsv_dataset.py).
P is published in several places, each stored its own way:

| where                                            | key                        | stored as |
|--------------------------------------------------|----------------------------|-----------|
| CLIP-L text encoders (clip_l.safetensors, HF CLIP)| `...text_projection.weight` | P         |
| the authors' `projection_matrix` file             | a bare tensor, or that key | P         |
| diffusers' `image_project` (CLIPImageProjection)  | `...project.weight`        | P^T       |
| open_clip / ComfyUI's old CLIPSave                | `...text_projection`       | P^T       |

SD1 checkpoints leave P out, and ComfyUI then leaves its CLIP's projection uninitialised, so it
is never read from a CLIP object: it comes from the GLIGEN file or from a file the user names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open

from .errors import GligenInputError
from .file_reading import is_safetensors_header, read_weights_file

PROJECTION_DIM = 768  # CLIP ViT-L/14: text width 768, projection 768
# (key suffix, stored transposed?) in the order they are looked for
PROJECTION_KEYS: tuple[tuple[str, bool], ...] = (
    ("text_projection.weight", False),
    ("projection_matrix", False),
    ("image_project.project.weight", True),
    ("project.weight", True),
    ("text_projection", True),
)


def find_text_projection(state: dict[str, Any]) -> torch.Tensor | None:
    """P (768, 768) float32 from a flat state dict, or None when it holds no CLIP-L text projection.

    Keys may carry any prefix (e.g. `cond_stage_model.transformer.`); tensors of another shape
    (a CLIP-G's 1280 x 1280 projection) are not CLIP-L's and are passed over.
    """
    for suffix, transposed in PROJECTION_KEYS:
        for key, value in state.items():
            if (isinstance(key, str) and (key == suffix or key.endswith("." + suffix))
                    and isinstance(value, torch.Tensor) and tuple(value.shape) == (PROJECTION_DIM, PROJECTION_DIM)
                    and value.is_floating_point()):
                projection = value.float()
                return (projection.T if transposed else projection).contiguous()
    return None


def load_text_projection(path: str | Path) -> torch.Tensor:
    """Read P from a file (safetensors or a torch file, or the authors' bare-tensor `projection_matrix`).

    From a safetensors file only the projection tensor is read (a whole CLIP can be 1.7 GB).
    """
    path = Path(path)
    state = _projection_candidates_from_safetensors(path)
    if state is None:
        raw = read_weights_file(path)
        if isinstance(raw, torch.Tensor):
            raw = {"projection_matrix": raw}
        state = raw if isinstance(raw, dict) else {}
    projection = find_text_projection(state)
    if projection is None:
        raise GligenInputError(
            f"'{path.name}' holds no CLIP-L text projection (a {PROJECTION_DIM} x {PROJECTION_DIM} "
            "'text_projection.weight', the authors' 'projection_matrix', or diffusers' image_project "
            "'project.weight'). Choose clip_l.safetensors, the authors' projection_matrix file, or the "
            "image_project weights of a diffusers GLIGEN text-image pipeline.")
    if not torch.isfinite(projection).all():
        raise GligenInputError(f"The text projection in '{path.name}' contains NaN or infinity; the file is damaged.")
    return projection


def _projection_candidates_from_safetensors(path: Path) -> dict[str, torch.Tensor] | None:
    """The tensors whose keys could hold P, read lazily; None when `path` is not a safetensors file."""
    try:
        with path.open("rb") as f:
            head = f.read(9)
    except OSError as e:
        raise GligenInputError(f"Cannot read '{path.name}': {e.strerror}.") from e
    if not is_safetensors_header(head):
        return None
    suffixes = tuple(suffix for suffix, _ in PROJECTION_KEYS)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return {key: f.get_tensor(key) for key in f.keys()
                    if key in suffixes or key.endswith(tuple("." + s for s in suffixes))}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise GligenInputError(f"'{path.name}' is a corrupt or truncated safetensors file ({e}). "
                               "Download it again.") from e
