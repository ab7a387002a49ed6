"""diffusers' gated UNet as an oracle: a ComfyUI SD1/SD2/SDXL UNet's base weights plus random GLIGEN weights.

The base UNet (a ComfyUI ModelPatcher) is copied into a diffusers `UNet2DConditionModel(attention_type=
"gated")` with ComfyUI's own diffusers key map; the fusers and the position net get seeded random
weights, returned under their diffusers names so a test can save them as a "diffusers layout" GLIGEN
file and load it through the pack's loader. With `in_channels` 9 (the inpainting files' UNet) the
first conv `conv_in.*` is random too and belongs to the GLIGEN file.

Import ComfyUI first (`devkit.comfy_host.import_comfy`).
"""

from __future__ import annotations

from typing import Any

import torch

FIRST_CONV_PREFIX = "conv_in."
ADD_TIME_DIM = 256  # SDXL: each size/crop number is a 256-wide Timestep embedding


def tiny_sd15_unet() -> Any:
    """The tiny random SD1.5 test checkpoint's UNet as a ComfyUI ModelPatcher (no CLIP, no VAE)."""
    import comfy.sd

    from .sd15_checkpoints import cached_sd15_checkpoint

    return comfy.sd.load_checkpoint_guess_config(
        str(cached_sd15_checkpoint(tiny=True)), output_vae=False, output_clip=False)[0]


def is_gligen_key(key: str) -> bool:
    """A fuser or position-net tensor (diffusers names)."""
    return ".fuser." in key or key.startswith("position_net.")


def diffusers_config(unet_config: dict[str, Any], sample_size: int, in_channels: int | None = None) -> dict[str, Any]:
    """The diffusers UNet2DConditionModel config equivalent to a ComfyUI unet_config of the SD1, SD2 or SDXL
    shape: one res-block count, per level one transformer depth (0: no attention), a fixed head count (SD1) or
    64-dim heads (SD2, SDXL), and SDXL's text_time adm (pooled text + 6 size embeddings) or none."""
    widths = [unet_config["model_channels"] * m for m in unet_config["channel_mult"]]
    num_res_blocks = set(unet_config["num_res_blocks"])
    assert len(num_res_blocks) == 1, "diffusers' UNet has one res-block count for every level"
    per_level = num_res_blocks.pop()
    depths = level_depths(unet_config["transformer_depth"], per_level, len(widths))
    # ComfyUI's output blocks pop their depths from the end of the list: reversed, it is in up-block order
    up_depths = level_depths(unet_config["transformer_depth_output"][::-1], per_level + 1, len(widths))
    assert up_depths == depths[::-1], "diffusers' up blocks mirror the down blocks' depths"
    middle = unet_config["transformer_depth_middle"]
    assert middle >= 1, "diffusers' UNetMidBlock2DCrossAttn has a transformer"
    assert not unet_config.get("use_temporal_attention") and not unet_config.get("use_temporal_resblock")
    # A level without attention ignores its entry, except the last, which diffusers' mid block reads.
    layers = [d or 1 for d in depths]
    assert depths[-1] in (0, middle), "diffusers' mid block has the last level's depth"
    layers[-1] = middle
    config: dict[str, Any] = {
        "sample_size": sample_size,
        "in_channels": in_channels or unet_config["in_channels"],
        "out_channels": unet_config["out_channels"],
        "down_block_types": tuple("CrossAttnDownBlock2D" if d else "DownBlock2D" for d in depths),
        "mid_block_type": "UNetMidBlock2DCrossAttn",
        "up_block_types": tuple("CrossAttnUpBlock2D" if d else "UpBlock2D" for d in depths[::-1]),
        "block_out_channels": tuple(widths),
        "layers_per_block": per_level,
        "transformer_layers_per_block": layers[0] if len(set(layers)) == 1 else tuple(layers),
        "cross_attention_dim": unet_config["context_dim"],
        # diffusers' naming quirk: attention_head_dim is read as the head COUNT (per level)
        "attention_head_dim": head_counts(unet_config, widths, depths),
        "use_linear_projection": bool(unet_config["use_linear_in_transformer"]),
        "attention_type": "gated",
        "norm_num_groups": 32,
        "norm_eps": 1e-5,
        "act_fn": "silu",
        "flip_sin_to_cos": True,
        "freq_shift": 0,
        "downsample_padding": 1,
        "mid_block_scale_factor": 1,
    }
    adm = unet_config.get("adm_in_channels")
    if adm is not None:
        # SDXL's y = [pooled text ; 6 x Timestep(256)] (model_base.SDXL.encode_adm), diffusers' text_time
        assert unet_config.get("num_classes") == "sequential" and adm > 6 * ADD_TIME_DIM
        config.update({"addition_embed_type": "text_time", "addition_time_embed_dim": ADD_TIME_DIM,
                       "projection_class_embeddings_input_dim": adm})
    return config


def level_depths(depths: list[int], per_level: int, levels: int) -> list[int]:
    """ComfyUI's per-res-block transformer depths -> one depth per level (diffusers' granularity)."""
    assert len(depths) == per_level * levels, (depths, per_level, levels)
    chunks = [depths[i * per_level:(i + 1) * per_level] for i in range(levels)]
    assert all(len(set(c)) == 1 for c in chunks), f"a level with several depths: {depths}"
    return [c[0] for c in chunks]


def head_counts(unet_config: dict[str, Any], widths: list[int], depths: list[int]) -> int | tuple[int, ...]:
    """Heads per level: SD1's fixed count, or width / head width (64-dim heads of SD2 and SDXL)."""
    head_dim = unet_config["num_head_channels"]
    if head_dim == -1:
        assert unet_config["num_heads"] > 0
        return int(unet_config["num_heads"])
    attended = [w for w, d in zip(widths, depths, strict=True) if d] + [widths[-1]]  # + the mid block
    assert all(w % head_dim == 0 for w in attended), (widths, head_dim)
    return tuple(max(1, w // head_dim) for w in widths)


def random_gligen_tensor(key: str, shape: torch.Size, gen: torch.Generator) -> torch.Tensor:
    """Seeded weights for one fuser / position-net / first-conv tensor, scaled so activations stay O(1)."""
    leaf = key.rsplit(".", 1)[-1]
    if leaf.startswith("alpha_"):
        return 0.5 + torch.rand((), generator=gen)  # tanh(alpha) well away from 0: the gates are open
    if len(shape) == 4:  # a conv: 1 / sqrt(fan-in)
        return torch.randn(shape, generator=gen) / (shape[1] * shape[2] * shape[3]) ** 0.5
    if len(shape) == 2:
        return torch.randn(shape, generator=gen) / shape[1] ** 0.5
    if ".norm" in key and leaf == "weight":
        return 1 + 0.1 * torch.randn(shape, generator=gen)
    if leaf == "bias" or ".norm" in key:
        return 0.1 * torch.randn(shape, generator=gen)
    return torch.randn(shape, generator=gen)  # the position net's learned null features


def gated_unet_like(comfy_model: Any, *, seed: int, sample_size: int,
                    in_channels: int | None = None) -> tuple[Any, dict[str, torch.Tensor]]:
    """(diffusers gated UNet in eval mode, its GLIGEN tensors under diffusers names) for a ComfyUI SD1/SD2/SDXL
    ModelPatcher; every base weight is the ComfyUI model's (checked both ways), except a widened conv_in."""
    import comfy.utils
    from diffusers import UNet2DConditionModel

    unet_config = comfy_model.model.model_config.unet_config
    comfy_sd = comfy_model.model.diffusion_model.state_dict()
    widened = in_channels is not None and in_channels != unet_config["in_channels"]
    with torch.device("meta"):
        unet = UNet2DConditionModel(**diffusers_config(unet_config, sample_size, in_channels))
    key_map = comfy.utils.unet_to_diffusers(unet_config)  # diffusers key -> ComfyUI (LDM) key
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    gligen: dict[str, torch.Tensor] = {}
    unmapped = []
    for key, meta in unet.state_dict().items():
        if is_gligen_key(key) or (widened and key.startswith(FIRST_CONV_PREFIX)):
            state[key] = gligen[key] = random_gligen_tensor(key, meta.shape, gen)
        elif key_map.get(key) in comfy_sd:
            state[key] = comfy_sd[key_map[key]]
            assert state[key].shape == meta.shape, key
        else:
            unmapped.append(key)
    assert not unmapped, f"diffusers keys without a ComfyUI weight: {unmapped[:8]}"
    used = {key_map[k] for k in state if k not in gligen}
    left = set(comfy_sd) - used - ({key_map[k] for k in gligen if k in key_map} if widened else set())
    assert not left, f"ComfyUI weights not copied: {sorted(left)[:8]}"
    unet.load_state_dict(state, strict=True, assign=True)
    meta_left = [n for n, t in [*unet.named_parameters(), *unet.named_buffers()] if t.is_meta]
    assert not meta_left, meta_left
    return unet.eval(), gligen


def comfy_eps(model: Any, x: torch.Tensor, context: torch.Tensor, sigma: float, cond_or_uncond: list[int],
              y: torch.Tensor | None = None) -> torch.Tensor:
    """One UNet call on a ComfyUI ModelPatcher as its sampler makes it (calc_cond_batch: the patcher's
    transformer_options and wrappers, `cond_or_uncond` chunks, the run's sigmas), turned back into eps.
    x: (B, C, H, W) noisy latent at `sigma`; context: (B, 77, D); y: (B, adm) SDXL's vector, else None."""
    import comfy.model_management
    import comfy.patcher_extension

    comfy.model_management.load_models_gpu([model, *model.get_nested_additional_models()])
    sigmas = torch.full((x.shape[0],), sigma)
    options = comfy.patcher_extension.copy_nested_dicts(model.model_options.get("transformer_options", {}))
    options["wrappers"] = comfy.patcher_extension.copy_nested_dicts(model.wrappers)
    options["cond_or_uncond"] = list(cond_or_uncond)
    options["sigmas"] = sigmas
    options["sample_sigmas"] = torch.tensor([sigma, 0.0])
    extra = {} if y is None else {"y": y}
    with torch.no_grad():
        denoised = model.model.apply_model(x, sigmas, c_crossattn=context, transformer_options=options, **extra)
    return ((x - denoised.to(x.device)) / sigma).cpu()


def gligen_kwargs(boxes: torch.Tensor, phrases: torch.Tensor, cond_or_uncond: list[int], rows_per_chunk: int,
                  max_objects: int = 30) -> dict[str, Any]:
    """diffusers' `cross_attention_kwargs` for one CFG call, as its GLIGEN pipelines build them: the objects'
    boxes (N, 4) and phrase features (N, D) in the cond chunks' rows, masks 0 (null grounding) in the uncond
    chunks'. Chunks of `rows_per_chunk` rows, in `cond_or_uncond` order (0 = cond)."""
    batch, (n, width) = rows_per_chunk * len(cond_or_uncond), phrases.shape
    padded_boxes = torch.zeros(batch, max_objects, 4)
    padded_phrases = torch.zeros(batch, max_objects, width)
    masks = torch.zeros(batch, max_objects)
    for chunk, kind in enumerate(cond_or_uncond):
        if kind == 0:
            rows = slice(chunk * rows_per_chunk, (chunk + 1) * rows_per_chunk)
            padded_boxes[rows, :n] = boxes
            padded_phrases[rows, :n] = phrases
            masks[rows, :n] = 1
    return {"gligen": {"boxes": padded_boxes, "positive_embeddings": padded_phrases, "masks": masks}}
