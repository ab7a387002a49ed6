"""A random-weight CLIP ViT-L/14 vision model in the host's key layout, and CLIP-L text projections.

The file has exactly the keys and shapes of openai/clip-vit-large-patch14's vision tower as
ComfyUI stores it (`vision_model.*`, `visual_projection.weight`), taken from ComfyUI's own
`CLIPVisionModelProjection` built from its `clip_vision_config_vitl.json`, so the host's
`CLIPVisionLoader` detects it as ViT-L/14 (224 px). Like openai's full CLIP file it also carries
CLIP-L's `text_projection.weight` (the host ignores it; GLIGEN's image projection reads it).
Weights are float8_e4m3fn (half the bytes of fp16; the host casts them up on load), normal(0,
0.02), LayerNorms 1 / 0: enough for image features that depend on the image. Building imports
ComfyUI (see `devkit.comfy_host.import_comfy`).
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import torch
from safetensors.torch import save_file

from .comfy_host import comfy_path, import_comfy
from .file_cache import cached_file

BUILDER_VERSION = "2"
STORE_DTYPE = torch.float8_e4m3fn
WEIGHT_STD = 0.02
PROJECTION_DIM = 768


def vit_l14_config_path() -> Path:
    """ComfyUI's config for ViT-L/14 at 224 px."""
    return comfy_path() / "comfy" / "clip_vision_config_vitl.json"


def _meta_vision_state_dict() -> dict[str, torch.Tensor]:
    import_comfy()
    import comfy.clip_model
    import comfy.ops

    config = json.loads(vit_l14_config_path().read_text())
    with torch.device("meta"):
        model = comfy.clip_model.CLIPVisionModelProjection(config, torch.float32, "meta",
                                                           comfy.ops.disable_weight_init)
    return model.state_dict()


def build_vit_l14_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Every tensor of the random ViT-L/14 vision tower, seeded per key."""
    out: dict[str, torch.Tensor] = {}
    for key, meta in _meta_vision_state_dict().items():
        if "layer_norm" in key or "layrnorm" in key:
            value = torch.ones(meta.shape) if key.endswith("weight") else torch.zeros(meta.shape)
        else:
            gen = torch.Generator().manual_seed(((seed << 32) ^ zlib.crc32(key.encode())) % 2**63)
            value = torch.empty(meta.shape).normal_(0.0, WEIGHT_STD, generator=gen)
        out[key] = value.to(STORE_DTYPE)
    out["text_projection.weight"] = random_text_projection(seed).to(torch.float16)
    return out


def cached_vit_l14_file() -> Path:
    """The seed-0 random ViT-L/14 file (about 300 MB), built on first use."""
    return cached_file(f"clip_vision_vit_l14_seed0_v{BUILDER_VERSION}.safetensors", lambda path: save_file(
        build_vit_l14_state_dict(), str(path), metadata={"gligen_suite_test": "random CLIP ViT-L/14"}))


def random_text_projection(seed: int = 0) -> torch.Tensor:
    """A stand-in for CLIP-L's text projection weight P (768, 768)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(PROJECTION_DIM, PROJECTION_DIM, generator=gen) / PROJECTION_DIM**0.5


def write_clip_l_text_encoder(path: Path, projection: torch.Tensor) -> Path:
    """A file shaped like clip_l.safetensors where it matters here: `text_projection.weight` = P, plus a
    few text-model tensors so it is not only the projection."""
    state = {"text_projection.weight": projection.contiguous(),
             "text_model.final_layer_norm.weight": torch.ones(768),
             "text_model.final_layer_norm.bias": torch.zeros(768)}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return path
