"""Reduced SD2- and SDXL-shaped UNets: ComfyUI's own model classes with small layouts and seeded random weights.

Each family keeps what makes its GLIGEN fusers differ from SD1's: context width (1024, 2048), 64-dim
heads, linear proj_in/proj_out, and for SDXL no transformer at the first level, SpatialTransformers of
depth > 1 (several fusers per SpatialTransformer) and the text_time adm (y = pooled 1280 + 6 x 256). The
widths and level counts are cut down so a 16x16 latent runs in well under a second on a CPU.

The ModelPatcher is built the way ComfyUI builds a loaded checkpoint's (the family's supported_models
config -> its get_model -> model_base.SDXL / BaseModel), in float32, and every weight is then filled:
matrices and convs normal / sqrt(fan-in), norm scales near 1, biases near 0, so activations stay O(1)
through the whole UNet (and a fuser's contribution is neither lost nor dominant).
"""

from __future__ import annotations

from typing import Any

import torch

from .comfy_host import import_comfy

_COMMON: dict[str, Any] = {"in_channels": 4, "out_channels": 4, "use_spatial_transformer": True, "legacy": False,
                           "image_size": 32, "use_checkpoint": False, "use_temporal_resblock": False,
                           "use_temporal_attention": False}
# ComfyUI's unet_config keys as its model detection reports them (output depths listed last block first: the
# UNet pops them from the end). Family name = the comfy.supported_models class.
REDUCED_LAYOUTS: dict[str, dict[str, Any]] = {
    # SDXL: [0, 0, 2, 2, 10, 10] at 320/640/1280 -> [0, 0, 2, 2, 3, 3] at 64/128/192 (2 and 3 heads)
    "SDXL": {"model_channels": 64, "channel_mult": [1, 2, 3], "num_res_blocks": [2, 2, 2],
             "transformer_depth": [0, 0, 2, 2, 3, 3], "transformer_depth_middle": 3,
             "transformer_depth_output": [0, 0, 0, 2, 2, 2, 3, 3, 3], "context_dim": 2048,
             "use_linear_in_transformer": True, "adm_in_channels": 2816, "num_classes": "sequential"},
    # SD2: [1, 1, 1, 1, 1, 1, 0, 0] at 320/640/1280/1280 -> [1, 1, 1, 1, 0, 0] at 64/128/128; middle depth 1
    "SD20": {"model_channels": 64, "channel_mult": [1, 2, 2], "num_res_blocks": [2, 2, 2],
             "transformer_depth": [1, 1, 1, 1, 0, 0], "transformer_depth_middle": 1,
             "transformer_depth_output": [1, 1, 1, 1, 1, 1, 0, 0, 0], "context_dim": 1024,
             "use_linear_in_transformer": True, "adm_in_channels": None},
}


def reduced_unet_config(family: str) -> dict[str, Any]:
    """A copy of the family's reduced unet_config (before the family's extra config: heads, precision)."""
    return {**_COMMON, **REDUCED_LAYOUTS[family]}


def random_unet_model(family: str, unet_config: dict[str, Any] | None = None, *, seed: int = 0) -> Any:
    """A ModelPatcher of comfy.supported_models.<family> built on `unet_config` (default: the reduced layout),
    float32, every UNet weight seeded random. The model type is what the family's own detection picks for a
    state dict without its markers (eps for SD20 and SDXL)."""
    import_comfy()
    import comfy.model_management
    import comfy.model_patcher
    import comfy.supported_models

    model_config = getattr(comfy.supported_models, family)(unet_config or reduced_unet_config(family))
    model_config.set_inference_dtype(torch.float32, None)
    base_model = model_config.get_model({}, device=torch.device("cpu"))
    fill_random_weights(base_model.diffusion_model, seed)
    return comfy.model_patcher.ModelPatcher(base_model, load_device=comfy.model_management.get_torch_device(),
                                            offload_device=comfy.model_management.unet_offload_device())


def fill_random_weights(module: torch.nn.Module, seed: int) -> None:
    """Overwrite every parameter of `module` (ComfyUI builds them uninitialised) with seeded O(1)-keeping values."""
    gen = torch.Generator().manual_seed(seed)
    norms = (torch.nn.GroupNorm, torch.nn.LayerNorm)
    with torch.no_grad():
        for layer in module.modules():
            for name, param in layer.named_parameters(recurse=False):
                param.copy_(_random_weight(isinstance(layer, norms), name, param.shape, gen))


def _random_weight(is_norm: bool, name: str, shape: torch.Size, gen: torch.Generator) -> torch.Tensor:
    if is_norm:
        return (1.0 if name == "weight" else 0.0) + 0.1 * torch.randn(shape, generator=gen)
    if len(shape) == 1:  # biases
        return 0.1 * torch.randn(shape, generator=gen)
    fan_in = shape[1:].numel()
    return torch.randn(shape, generator=gen) / fan_in**0.5
