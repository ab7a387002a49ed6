"""Grounded inpainting, one sampler call: ComfyUI with our nodes vs diffusers' text-box inpainting semantics.

The oracle is diffusers' `UNet2DConditionModel(attention_type="gated", in_channels=9)`, the UNet of the
text-box inpainting file, with the tiny SD1.5's base weights and a random 9-channel `conv_in` plus
random fusers and position net (devkit/diffusers_oracle.py). Those GLIGEN tensors, under diffusers
names, are in the file our loader reads: the whole diffusers UNet, as diffusers publishes the text-box
inpainting model. Our patch grafts its conv onto the 4-channel ComfyUI model.

What `StableDiffusionGLIGENPipeline` does per step when given `gligen_inpaint_image`, written out here
with its own pieces (its scheduler's `add_noise`, its `draw_inpaint_mask_from_boxes`):
    latents = add_noise(z0, noise, t) * mask + latents * (1 - mask)
    eps     = unet([latents | z0 * mask | mask], t, gligen={boxes, phrases, masks (0 for uncond)})
and CFG on [uncond; cond]. Our side is ComfyUI's real sampler entry (`sample_custom`) with a one-call
sampler that records what the denoiser returns. The known region must come back as z0 itself, the
repainted one as diffusers' x0 prediction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from devkit.comfy_host import import_comfy
from devkit.diffusers_oracle import gated_unet_like, tiny_sd15_unet
from devkit.gligen_checkpoints import write_safetensors
from devkit.pack import import_pack

pytestmark = pytest.mark.parity

SEED = 31
LATENT = 16  # square: diffusers' mask helper scales x by the height (fine only on square latents)
TIMESTEP = 600  # the training timestep of the one call (diffusers' t; ComfyUI's sigma is taken from it)
CFG = 4.0
BOXES = [[0.10, 0.20, 0.55, 0.70], [0.50, 0.05, 0.90, 0.45]]
MAX_OBJECTS = 30
INPAINT_IN_CHANNELS = 9


@dataclass
class Oracle:
    comfy_model: Any  # ModelPatcher of the plain tiny SD1.5 (4 input channels)
    unet: Any  # diffusers gated UNet, 9 input channels, same base weights
    gligen_file: Path  # the whole diffusers UNet: base weights, conv_in, fusers, position net


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Oracle:
    import_comfy()
    import_pack()
    comfy_model = tiny_sd15_unet()
    unet, gligen = gated_unet_like(comfy_model, seed=SEED, sample_size=LATENT, in_channels=INPAINT_IN_CHANNELS)
    assert tuple(gligen["conv_in.weight"].shape)[:2] == (320, INPAINT_IN_CHANNELS)
    # The whole diffusers UNet, as diffusers publishes the file (unet/diffusion_pytorch_model.safetensors):
    # its SD1.4 base weights ride along, the loader takes conv_in, the fusers and the position net.
    path = tmp_path_factory.mktemp("gligen") / "diffusion_pytorch_model.safetensors"
    return Oracle(comfy_model, unet, write_safetensors(dict(unet.state_dict()), path))


@pytest.fixture(scope="module")
def inputs() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(SEED + 1)
    return {
        "picture": torch.randn(1, 4, LATENT, LATENT, generator=gen) * 5,  # a raw VAE latent (before scaling)
        "noise": torch.randn(1, 4, LATENT, LATENT, generator=gen),
        "cond": torch.randn(1, 77, 768, generator=gen),
        "uncond": torch.randn(1, 77, 768, generator=gen),
        "phrases": torch.randn(len(BOXES), 768, generator=gen),
    }


def ours(oracle: Oracle, inputs: dict[str, torch.Tensor], sigma: float) -> dict[str, torch.Tensor]:
    """One denoiser call at `sigma` through ComfyUI's sampler, from an empty latent: (x, denoised)."""
    import comfy.sample
    import comfy.samplers
    from gligen_suite.gligen_model.grounding import BoxGrounding
    from gligen_suite.gligen_model.inpainting import InpaintImage
    from gligen_suite.nodes.apply_node import apply_grounding
    from gligen_suite.nodes.loader_node import load_gligen_patcher

    gligen = load_gligen_patcher(str(oracle.gligen_file))
    assert gligen.model.inpainting
    grounding = BoxGrounding(("a cat", "a lamp"), inputs["phrases"], torch.tensor(BOXES))
    patched = apply_grounding(oracle.comfy_model, gligen, grounding, None, inpaint=InpaintImage(inputs["picture"]))
    seen: dict[str, torch.Tensor] = {}

    def one_call(model: Any, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict, callback: Any = None,
                 disable: Any = None) -> torch.Tensor:
        seen["x"] = x.clone()
        seen["denoised"] = model(x, sigmas[0] * x.new_ones([x.shape[0]]), **extra_args)
        return seen["denoised"]

    with torch.no_grad():
        comfy.sample.sample_custom(patched, inputs["noise"], CFG, comfy.samplers.KSAMPLER(one_call),
                                   torch.tensor([sigma, 0.0]), [[inputs["cond"], {}]], [[inputs["uncond"], {}]],
                                   torch.zeros_like(inputs["picture"]), seed=0)
    return seen


def diffusers_x0(oracle: Oracle, inputs: dict[str, torch.Tensor], x_vp: torch.Tensor,
                 with_inpaint_channels: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """diffusers' pipeline step at TIMESTEP on latents x_vp (its variance-preserving space): (x0 prediction,
    keep mask), both (1, ., H, W); x0 in ComfyUI's latent space (the same as VP's x0)."""
    from diffusers import DDPMScheduler, StableDiffusionGLIGENPipeline

    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                              beta_schedule="scaled_linear")
    t = torch.tensor([TIMESTEP])
    z0 = oracle.comfy_model.model.latent_format.process_in(inputs["picture"])  # vae scaling_factor
    mask = StableDiffusionGLIGENPipeline.draw_inpaint_mask_from_boxes(None, BOXES, (LATENT, LATENT))[None, None]
    latents = scheduler.add_noise(z0, inputs["noise"], t) * mask + x_vp * (1 - mask)
    extra = torch.cat([z0 * mask, mask], dim=1)
    if not with_inpaint_channels:
        extra = torch.zeros_like(extra)
    model_input = torch.cat([torch.cat([latents] * 2), extra.expand(2, -1, -1, -1)], dim=1)
    n = len(BOXES)
    boxes = torch.zeros(2, MAX_OBJECTS, 4)
    phrases = torch.zeros(2, MAX_OBJECTS, 768)
    masks = torch.zeros(2, MAX_OBJECTS)
    boxes[:, :n], phrases[:, :n] = torch.tensor(BOXES), inputs["phrases"]
    masks[1, :n] = 1  # row 0 is uncond: null grounding, as the pipeline zeroes its masks
    with torch.no_grad():
        eps_uncond, eps_cond = oracle.unet(
            model_input, t, encoder_hidden_states=torch.cat([inputs["uncond"], inputs["cond"]]),
            cross_attention_kwargs={"gligen": {"boxes": boxes, "positive_embeddings": phrases, "masks": masks}},
        ).sample.chunk(2)
    eps = eps_uncond + CFG * (eps_cond - eps_uncond)
    alpha_bar = scheduler.alphas_cumprod[TIMESTEP]
    return (latents - (1 - alpha_bar) ** 0.5 * eps) / alpha_bar**0.5, mask


def test_inpainting_call_matches_diffusers_pipeline_semantics(oracle: Oracle, inputs: dict[str, torch.Tensor]
                                                              ) -> None:
    sampling = oracle.comfy_model.get_model_object("model_sampling")
    sigma = float(sampling.sigmas[TIMESTEP])
    assert round(float(sampling.timestep(torch.tensor([sigma]))[0])) == TIMESTEP
    seen = ours(oracle, inputs, sigma)
    # ComfyUI's x is diffusers' latents times sqrt(1 + sigma^2); from an empty latent it is noise * sigma
    assert torch.allclose(seen["x"], inputs["noise"] * sigma)
    x0, keep = diffusers_x0(oracle, inputs, seen["x"] / (1 + sigma**2) ** 0.5)
    z0 = oracle.comfy_model.model.latent_format.process_in(inputs["picture"])
    repaint = keep == 0
    assert 0.2 < float(repaint.float().mean()) < 0.8  # both regions are there
    region = repaint.expand_as(x0)
    assert (seen["denoised"][region] - x0[region]).abs().max() <= 1e-4 * x0.abs().max()
    assert torch.equal(seen["denoised"][~region], z0[~region])  # the known region is the picture itself
    # the 5 extra channels matter, so agreement above is about them too
    x0_without, _ = diffusers_x0(oracle, inputs, seen["x"] / (1 + sigma**2) ** 0.5, with_inpaint_channels=False)
    assert (x0_without[region] - x0[region]).abs().max() > 1e-2
