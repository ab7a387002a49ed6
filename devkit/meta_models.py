"""Base models as ComfyUI builds them, on the meta device: full SD1.5, SD2, SDXL and SD3 layouts.

GLIGEN Apply only looks at the MODEL's structure (its transformer blocks and their widths), and
the encode node only at the CLIP's tokenizer, so these need no weights: each UNet is ComfyUI's own
class in the family's real layout, its state dict (shapes only) goes through ComfyUI's model
detection, which must name the intended family, and ComfyUI builds the model from that. Costs
well under a second and no memory; the models cannot sample (meta tensors hold no data).
"""

from __future__ import annotations

from typing import Any

import torch

from .comfy_host import import_comfy

PREFIX = "model.diffusion_model."
_UNET_COMMON = {"in_channels": 4, "out_channels": 4, "use_spatial_transformer": True, "legacy": False,
                "image_size": 32, "use_checkpoint": False, "use_temporal_resblock": False}
# Full published layouts (the unet_config ComfyUI's detection reports for them; like detection, the output
# depths are listed last block first, as UNetModel pops them from the end).
UNET_LAYOUTS: dict[str, dict[str, Any]] = {
    "SD20": {"model_channels": 320, "context_dim": 1024, "use_linear_in_transformer": True, "adm_in_channels": None,
             "num_res_blocks": [2, 2, 2, 2], "channel_mult": [1, 2, 4, 4],
             "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0], "transformer_depth_middle": 1,
             "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
             "num_heads": -1, "num_head_channels": 64},
    "SDXL": {"model_channels": 320, "context_dim": 2048, "use_linear_in_transformer": True, "adm_in_channels": 2816,
             "num_classes": "sequential", "num_res_blocks": [2, 2, 2], "channel_mult": [1, 2, 4],
             "transformer_depth": [0, 0, 2, 2, 10, 10], "transformer_depth_middle": 10,
             "transformer_depth_output": [0, 0, 0, 2, 2, 2, 10, 10, 10], "num_heads": -1, "num_head_channels": 64},
    "SD15": {"model_channels": 320, "context_dim": 768, "use_linear_in_transformer": False, "adm_in_channels": None,
             "num_res_blocks": [2, 2, 2, 2], "channel_mult": [1, 2, 4, 4],
             "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0], "transformer_depth_middle": 1,
             "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0], "num_heads": 8},
}


def _patcher(base_model: Any) -> Any:
    import comfy.model_patcher

    cpu = torch.device("cpu")
    return comfy.model_patcher.ModelPatcher(base_model, load_device=cpu, offload_device=cpu)


def _detected(state_dict: dict[str, torch.Tensor], expected: str) -> Any:
    """ComfyUI's model config for a (meta) state dict; fails unless it is the `expected` family."""
    import comfy.model_detection

    config = comfy.model_detection.model_config_from_unet(state_dict, PREFIX)
    if type(config).__name__ != expected:
        raise AssertionError(f"ComfyUI detects {type(config).__name__}, not {expected}")
    return config


def meta_unet_model(family: str) -> Any:
    """A MODEL (ModelPatcher) of the family in UNET_LAYOUTS, detected and built by ComfyUI on the meta device."""
    import_comfy()
    import comfy.ops
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    with torch.device("meta"):
        unet = UNetModel(**{**_UNET_COMMON, **UNET_LAYOUTS[family]}, operations=comfy.ops.disable_weight_init)
    state_dict = {PREFIX + k: v for k, v in unet.state_dict().items()}
    # SD2 detection reads this bias's spread to tell eps from v-prediction: give it real (zero) values
    probe = PREFIX + "output_blocks.11.1.transformer_blocks.0.norm1.bias"
    if probe in state_dict:
        state_dict[probe] = torch.zeros(state_dict[probe].shape)
    config = _detected(state_dict, family)
    return _patcher(config.get_model(state_dict, PREFIX, device="meta"))


def meta_sd3_model() -> Any:
    """A two-block SD3 MMDiT MODEL: a transformer without any UNet blocks."""
    import_comfy()
    import comfy.ops
    from comfy.ldm.modules.diffusionmodules.mmdit import MMDiT

    with torch.device("meta"):
        mmdit = MMDiT(input_size=None, patch_size=2, in_channels=16, depth=2, adm_in_channels=2048,
                      context_embedder_config={"target": "torch.nn.Linear",
                                               "params": {"in_features": 4096, "out_features": 128}},
                      pos_embed_max_size=192, num_patches=192 * 192, out_channels=16,
                      operations=comfy.ops.disable_weight_init)
    state_dict = {PREFIX + k: v for k, v in mmdit.state_dict().items()}
    return _patcher(_detected(state_dict, "SD3").get_model(state_dict, PREFIX, device="meta"))


def meta_clip(family: str) -> Any:
    """ComfyUI's CLIP object of a model family ("SD20", "SDXL"): the real tokenizer, text encoders on meta."""
    import_comfy()
    import comfy.sd
    import comfy.supported_models

    model_config = getattr(comfy.supported_models, family)(dict(UNET_LAYOUTS[family]))
    return comfy.sd.CLIP(target=model_config.clip_target(), model_options={"initial_device": torch.device("meta")})
