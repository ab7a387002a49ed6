"""Random-weight SDXL and SD2.1 text encoders in the published checkpoint layouts, and HF oracles on the same weights.

State dicts (full size, keys exactly as in the published checkpoints):
- `sdxl_clip_state_dict`: sd_xl_base_1.0.safetensors' text part. CLIP-L under `conditioner.embedders.0.transformer.`
  (transformers 4.x names, `text_model.*`, read off ComfyUI's SD1 CLIP module, plus the int64
  `text_model.embeddings.position_ids`; no text_projection) and OpenCLIP-bigG under
  `conditioner.embedders.1.model.` (OpenCLIP names: `transformer.resblocks.{i}.attn.in_proj_weight`, `ln_final`,
  `text_projection` [1280, 1280] used as x @ P, `positional_embedding`, `token_embedding`, `logit_scale`); 32 layers.
- `sd2_clip_state_dict`: v2-1_512-ema-pruned.safetensors' OpenCLIP-H under `cond_stage_model.model.`, all 24
  layers (SD2 uses the penultimate one at run time).
Weights are seeded per tensor (seed + key, `devkit.sd15_checkpoints._init_tensor`): normal(0, 0.02), LayerNorm
weights 1 and biases 0, so features depend on the phrase.

Oracles: transformers' own models in the diffusers configs (SDXL text_encoder / text_encoder_2, SD2.1 text_encoder,
all with the legacy `eos_token_id` 2, so the pooler takes the argmax of the token ids, i.e. the first end token),
built on the meta device and assigned the state dict's tensors (they share memory, no copy), and HF tokenizers
padded as the diffusers pipelines pad (CLIP-L with the end token, bigG and H with "!", id 0).
`comfy_clip` loads a state dict through ComfyUI's checkpoint loader, the way it loads a real checkpoint's CLIP part;
`meta_other_clip` gives CLIPs no GLIGEN family uses (Flux, SD3, an SDXL refiner's), text models on the meta device.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from .comfy_host import comfy_path, import_comfy
from .sd15_checkpoints import WEIGHT_STD, Init, _init_tensor, _meta_tensors

SDXL_CLIP_L_PREFIX = "conditioner.embedders.0.transformer."
SDXL_CLIP_G_PREFIX = "conditioner.embedders.1.model."
SD2_CLIP_H_PREFIX = "cond_stage_model.model."
VOCAB = 49408
CONTEXT = 77
LOGIT_SCALE = math.log(100.0)  # the trained CLIP value; unused by text features
# diffusers configs: SDXL text_encoder (= openai/clip-vit-large-patch14's text tower), text_encoder_2, SD2.1's
_HF_COMMON = {"vocab_size": VOCAB, "max_position_embeddings": CONTEXT, "layer_norm_eps": 1e-5,
              "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1}
CLIP_L_CONFIG = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
                 "hidden_act": "quick_gelu", "projection_dim": 768}
BIG_G_CONFIG = {"hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32, "num_attention_heads": 20,
                "hidden_act": "gelu", "projection_dim": 1280}
SD21_CONFIG = {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 23, "num_attention_heads": 16,
               "hidden_act": "gelu", "projection_dim": 512}


@dataclass(frozen=True)
class OpenClipText:
    """An OpenCLIP text tower: width, layers (resblocks) and projection width (mlp 4 x width)."""

    width: int
    layers: int
    projection: int


BIG_G = OpenClipText(width=1280, layers=32, projection=1280)
VIT_H = OpenClipText(width=1024, layers=24, projection=1024)


def _openclip_tensors(tower: OpenClipText) -> Iterator[tuple[str, tuple[int, ...], Init]]:
    """(key, shape, init) of each tensor of an OpenCLIP text tower, in OpenCLIP's own names."""
    w = tower.width
    yield "positional_embedding", (CONTEXT, w), WEIGHT_STD
    yield "text_projection", (w, tower.projection), WEIGHT_STD
    yield "token_embedding.weight", (VOCAB, w), WEIGHT_STD
    yield "ln_final.weight", (w,), "ones"
    yield "ln_final.bias", (w,), "zeros"
    for i in range(tower.layers):
        block = f"transformer.resblocks.{i}."
        for norm in ("ln_1", "ln_2"):
            yield f"{block}{norm}.weight", (w,), "ones"
            yield f"{block}{norm}.bias", (w,), "zeros"
        yield f"{block}attn.in_proj_weight", (3 * w, w), WEIGHT_STD  # q, k, v stacked
        yield f"{block}attn.in_proj_bias", (3 * w,), WEIGHT_STD
        yield f"{block}attn.out_proj.weight", (w, w), WEIGHT_STD
        yield f"{block}attn.out_proj.bias", (w,), WEIGHT_STD
        yield f"{block}mlp.c_fc.weight", (4 * w, w), WEIGHT_STD
        yield f"{block}mlp.c_fc.bias", (4 * w,), WEIGHT_STD
        yield f"{block}mlp.c_proj.weight", (w, 4 * w), WEIGHT_STD
        yield f"{block}mlp.c_proj.bias", (w,), WEIGHT_STD


def _openclip_state_dict(tower: OpenClipText, prefix: str, seed: int, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    sd = {prefix + key: _init_tensor(prefix + key, torch.empty(shape, device="meta"), init, seed, dtype)
          for key, shape, init in _openclip_tensors(tower)}
    sd[prefix + "logit_scale"] = torch.tensor(LOGIT_SCALE, dtype=dtype)
    return sd


def _hf_config(values: dict[str, Any]) -> Any:
    from transformers import CLIPTextConfig

    return CLIPTextConfig(**_HF_COMMON, **values)


def sdxl_clip_state_dict(seed: int = 0, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """SDXL's CLIP-L (123 M parameters) and OpenCLIP-bigG (695 M) text encoders, keyed as in sd_xl_base_1.0.

    ~3.3 GB in fp32."""
    import_comfy()
    import comfy.sd1_clip

    clip_l = comfy.sd1_clip.SDClipModel(device="meta", dtype=torch.float32).transformer  # text_model.*, projection
    sd = {SDXL_CLIP_L_PREFIX + key: _init_tensor(SDXL_CLIP_L_PREFIX + key, meta, init, seed, dtype)
          for key, meta, init in _meta_tensors(clip_l) if key.startswith("text_model.")}
    sd[SDXL_CLIP_L_PREFIX + "text_model.embeddings.position_ids"] = torch.arange(CONTEXT)[None]
    return sd | _openclip_state_dict(BIG_G, SDXL_CLIP_G_PREFIX, seed, dtype)


def sd2_clip_state_dict(seed: int = 0, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """SD2.x's OpenCLIP-H text encoder (354 M parameters, 24 layers), keyed as in v2-1_512-ema-pruned. ~1.4 GB fp32."""
    return _openclip_state_dict(VIT_H, SD2_CLIP_H_PREFIX, seed, dtype)


# ---- HF oracles -------------------------------------------------------------------------------------------

def _openclip_to_hf(sd: dict[str, torch.Tensor], prefix: str, layers: int) -> dict[str, torch.Tensor]:
    """An OpenCLIP text tower's first `layers` layers under HF CLIPTextModelWithProjection names (views, no copy
    except the transposed projection). OpenCLIP computes x @ text_projection; HF's Linear computes x @ W.T."""
    hf = {"text_model.embeddings.token_embedding.weight": sd[prefix + "token_embedding.weight"],
          "text_model.embeddings.position_embedding.weight": sd[prefix + "positional_embedding"],
          "text_model.final_layer_norm.weight": sd[prefix + "ln_final.weight"],
          "text_model.final_layer_norm.bias": sd[prefix + "ln_final.bias"],
          "text_projection.weight": sd[prefix + "text_projection"].t().contiguous()}
    renames = {"ln_1": "layer_norm1", "ln_2": "layer_norm2", "attn.out_proj": "self_attn.out_proj",
               "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2"}
    for i in range(layers):
        ours, theirs = f"{prefix}transformer.resblocks.{i}.", f"text_model.encoder.layers.{i}."
        for leaf in ("weight", "bias"):
            for old, new in renames.items():
                hf[f"{theirs}{new}.{leaf}"] = sd[f"{ours}{old}.{leaf}"]
            for part, name in zip(sd[f"{ours}attn.in_proj_{leaf}"].chunk(3), ("q", "k", "v"), strict=True):
                hf[f"{theirs}self_attn.{name}_proj.{leaf}"] = part
    return hf


def _assigned(model_class: Any, config: dict[str, Any], weights: dict[str, torch.Tensor]) -> Any:
    """`model_class(config)` in eval mode holding exactly `weights` (assigned, strict). `weights` use the
    checkpoint names (`text_model.*`); transformers 5's CLIPTextModel has no `text_model` level."""
    with torch.device("meta"):
        model = model_class(_hf_config(config))
    if not hasattr(model, "text_model"):
        weights = {k.removeprefix("text_model."): v for k, v in weights.items()}
    model.load_state_dict(weights, strict=True, assign=True)
    for name, buffer in model.named_buffers():  # non-persistent buffers are not in a state dict
        if buffer.is_meta:
            if not name.endswith("embeddings.position_ids"):
                raise AssertionError(f"{model_class.__name__} has an unexpected buffer {name}")
            model.get_submodule(name.rpartition(".")[0]).register_buffer(
                "position_ids", torch.arange(CONTEXT)[None], persistent=False)
    return model.eval().requires_grad_(False)


def sdxl_hf_clip_l(sd: dict[str, torch.Tensor]) -> Any:
    """SDXL's text_encoder (transformers CLIPTextModel) on `sd`'s CLIP-L tensors; `.pooler_output` is its
    GLIGEN-XL feature (final LayerNorm, end token, unprojected)."""
    from transformers import CLIPTextModel

    weights = {k.removeprefix(SDXL_CLIP_L_PREFIX): v for k, v in sd.items()
               if k.startswith(SDXL_CLIP_L_PREFIX) and not k.endswith("position_ids")}
    return _assigned(CLIPTextModel, CLIP_L_CONFIG, weights)


def sdxl_hf_clip_g(sd: dict[str, torch.Tensor]) -> Any:
    """SDXL's text_encoder_2 (transformers CLIPTextModelWithProjection) on `sd`'s bigG tensors; `.text_embeds`
    is its GLIGEN-XL feature (final LayerNorm, end token, projected)."""
    from transformers import CLIPTextModelWithProjection

    return _assigned(CLIPTextModelWithProjection, BIG_G_CONFIG, _openclip_to_hf(sd, SDXL_CLIP_G_PREFIX, BIG_G.layers))


def sd2_hf_text_encoder(sd: dict[str, torch.Tensor]) -> Any:
    """SD2.1's text_encoder (transformers CLIPTextModel, the first 23 of the 24 layers) on `sd`'s tensors;
    `.pooler_output` is the IGLIGEN SD2.1 feature (penultimate layer, final LayerNorm, end token)."""
    from transformers import CLIPTextModel

    weights = _openclip_to_hf(sd, SD2_CLIP_H_PREFIX, SD21_CONFIG["num_hidden_layers"])
    del weights["text_projection.weight"]  # CLIPTextModel has none
    return _assigned(CLIPTextModel, SD21_CONFIG, weights)


def hf_tokenizer(pad_with_end: bool) -> Any:
    """The CLIP tokenizer padded to 77 as diffusers' pipelines do: with the end token (SD1 / SDXL tokenizer) or
    with "!" (id 0: SDXL tokenizer_2, SD2.1). Call it with padding="max_length", max_length=77, truncation=True."""
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(str(comfy_path() / "comfy" / "sd1_tokenizer"))
    if not pad_with_end:
        tokenizer.pad_token = "!"
    return tokenizer


# ---- through ComfyUI's loader -----------------------------------------------------------------------------

def comfy_clip(sd: dict[str, torch.Tensor], family: str, dtype: torch.dtype = torch.float32) -> Any:
    """ComfyUI's CLIP for a checkpoint of `family` ("SDXL" or "SD20") whose text part is `sd`, loaded by
    `comfy.sd.load_state_dict_guess_config` as a real checkpoint is (detection, prefix processing, OpenCLIP
    conversion). The UNet part is a meta placeholder used only for detection; `sd` itself is not changed
    (the loader pops keys from the dict it gets). The text encoders run in `dtype`."""
    import_comfy()
    import comfy.sd

    from .meta_models import PREFIX, meta_unet_model

    unet = {PREFIX + k: v for k, v in meta_unet_model(family).model.diffusion_model.state_dict().items()}
    probe = PREFIX + "output_blocks.11.1.transformer_blocks.0.norm1.bias"  # SD2's eps / v detection reads it
    if probe in unet:
        unet[probe] = torch.zeros(unet[probe].shape)
    clip = comfy.sd.load_state_dict_guess_config(unet | sd, output_vae=False, output_clip=True, output_model=False,
                                                 te_model_options={"dtype": dtype})[1]
    if clip is None:
        raise AssertionError(f"ComfyUI loaded no CLIP from the {family} state dict")
    return clip


def meta_other_clip(kind: str) -> Any:
    """A ComfyUI CLIP whose text encoders no GLIGEN family uses, text models on the meta device (tokenizers real):
    "flux" (CLIP-L + T5-XXL, tokenizer keys l, t5xxl), "sd3" (g, l, t5xxl), "sdxl_refiner" (SDXL's two tokenizers,
    but only OpenCLIP-bigG)."""
    import_comfy()
    import comfy.sd
    import comfy.sdxl_clip
    import comfy.supported_models_base
    import comfy.text_encoders.flux
    import comfy.text_encoders.sd3_clip

    targets = {
        "flux": (comfy.text_encoders.flux.FluxTokenizer, comfy.text_encoders.flux.flux_clip()),
        "sd3": (comfy.text_encoders.sd3_clip.SD3Tokenizer, comfy.text_encoders.sd3_clip.sd3_clip()),
        "sdxl_refiner": (comfy.sdxl_clip.SDXLTokenizer, comfy.sdxl_clip.SDXLRefinerClipModel),
    }
    target = comfy.supported_models_base.ClipTarget(*targets[kind])
    return comfy.sd.CLIP(target=target, model_options={"initial_device": torch.device("meta")})
