"""The SD2 and SDXL stand-ins (devkit/sd2_sdxl_checkpoints.py): ComfyUI loads each as its family (UNet class,
eps, TAESD with the family's scale, fp8 text encoders without a warning), and each GLIGEN stand-in (diffusers
layout, one fuser per transformer block: 4 for SD2, 70 for SDXL) loads through the GLIGEN Loader, fits the
stand-in UNet and changes what it samples. The phrase features are random rows of the family's width: encoding
phrases with SD2 / SDXL CLIPs is the Text-Box Encode node's business (tests/nodes/test_text_box_encode.py)."""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import Any

import pytest
import torch

from devkit.gligen_checkpoints import write_safetensors
from devkit.in_process import sample
from devkit.sd2_sdxl_checkpoints import SDXL_VAE_SCALE, base_for_file_name, stand_in_model
from devkit.sd15_checkpoints import SD15_VAE_SCALE

BASES = {  # base -> (ComfyUI model class, fusers, TAESD scale, the example's file names)
    "sd2": ("SD20", 4, SD15_VAE_SCALE, ("v2-1_512-ema-pruned.safetensors", "igligen-sd2.1.safetensors")),
    "sdxl": ("SDXL", 70, SDXL_VAE_SCALE, ("sd_xl_base_1.0.safetensors", "gligen-xl-1024.safetensors")),
}


def test_file_names_pick_the_base_model() -> None:
    for base, (_, _, _, names) in BASES.items():
        assert {base_for_file_name(name) for name in names} == {base}
    for name in ("v1-5-pruned-emaonly.safetensors", "gligen_sd14_textbox_pruned.safetensors",
                 "gligen-generation-text-image-box.bin", "gligen-inpainting-text-box.bin"):
        assert base_for_file_name(name) == "sd15"
    assert stand_in_model("sdxl", "full") is None  # too large to build here
    assert stand_in_model("sd2", "full").layout.channel_mult == (1, 2, 4, 4)


@pytest.fixture(scope="module", params=list(BASES))
def loaded(request: pytest.FixtureRequest) -> Any:
    """(base, MODEL, VAE, CLIP) of a stand-in checkpoint, loaded as ComfyUI's checkpoint loader does, and the
    warnings ComfyUI logged while loading it."""
    import comfy.sd

    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger().addHandler(handler)
    try:
        path = stand_in_model(request.param, "small").checkpoint()
        model, clip, vae = comfy.sd.load_checkpoint_guess_config(str(path), output_vae=True, output_clip=True)[:3]
    finally:
        logging.getLogger().removeHandler(handler)
    yield request.param, model, vae, clip, [r.getMessage() for r in records]
    del model, clip, vae
    gc.collect()


def test_comfyui_loads_the_stand_in_as_its_family(loaded: Any) -> None:
    import comfy.model_base

    base, model, vae, clip, warnings = loaded
    model_class, fusers, scale, _ = BASES[base]
    assert type(model.model.model_config).__name__ == model_class
    assert model.model.model_type == comfy.model_base.ModelType.EPS
    assert type(vae.first_stage_model).__name__ == "TAESD"
    assert float(vae.first_stage_model.vae_scale.detach()) == pytest.approx(scale)
    assert clip is not None and not warnings, warnings  # no "clip missing", no unknown keys
    assert len(stand_in_model(base, "small").transformer_blocks) == fusers


def grounding(width: int) -> Any:
    from gligen_suite.gligen_model.grounding import BoxGrounding

    generator = torch.Generator().manual_seed(width)
    return BoxGrounding(("a red apple", "a glass vase"), torch.randn(2, width, generator=generator),
                        torch.tensor([[0.1, 0.45, 0.45, 0.9], [0.5, 0.1, 0.95, 0.9]]))


def conds(model: Any, seed: int) -> list:
    """A random cross-attention context of the family's width (SDXL: plus a pooled vector for its adm)."""
    generator = torch.Generator().manual_seed(seed)
    context = model.model.model_config.unet_config["context_dim"]
    extra = {"pooled_output": torch.randn(1, 1280, generator=generator)} if context == 2048 else {}
    return [[torch.randn(1, 77, context, generator=generator), extra]]


def test_the_gligen_stand_in_loads_fits_the_unet_and_grounds_it(loaded: Any, tmp_path: Path) -> None:
    from gligen_suite.gligen_model import BetaSchedule
    from gligen_suite.nodes.apply_node import apply_grounding
    from gligen_suite.nodes.loader_node import load_gligen_patcher
    from gligen_suite.nodes.patch.unet_blocks import transformer_slots

    base, model, _, _, _ = loaded
    stand_in = stand_in_model(base, "small")
    width = stand_in.family.context_dim
    state = stand_in.gligen_state_dict("text-box")
    fuser_keys = [k for k in state if ".fuser." in k]
    assert all(k.startswith(("down_blocks.", "mid_block.", "up_blocks.")) for k in fuser_keys)
    assert {t.dtype for t in state.values()} == {torch.float16}
    path = write_safetensors(state, tmp_path / BASES[base][3][1])
    patcher = load_gligen_patcher(str(path))
    gligen = patcher.model
    slots = transformer_slots(model.model.diffusion_model)
    assert len(slots) == BASES[base][1] == len(fuser_keys) // 17
    assert f"{len(slots)} fusers" in gligen.info and "diffusers layout" in gligen.info

    positive, negative = conds(model, 1), conds(model, 2)
    plain = sample(model, positive, negative, width=64, height=64, steps=2)
    grounded_model = apply_grounding(model, patcher, grounding(width), BetaSchedule.constant(1.0))
    grounded = sample(grounded_model, positive, negative, width=64, height=64, steps=2)
    assert torch.isfinite(grounded).all()
    assert (grounded - plain).abs().max() > 1e-3, "the fusers changed nothing"
    again = sample(model, positive, negative, width=64, height=64, steps=2)
    torch.testing.assert_close(again, plain, rtol=0, atol=0)  # the base model is left as it was
