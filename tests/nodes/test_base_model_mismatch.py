"""A GLIGEN file for one base-model family on a MODEL (or with phrases from a CLIP) of another is refused, naming both.

Every pair of SD1.x, SD2.x and SDXL. The UNets are ComfyUI's own, built on the meta device in each family's
published layout and detected by ComfyUI (devkit/meta_models.py); the GLIGEN side is each published file's
fuser list (widths and context, shared/gligen-xl-reference.md 1.2 and 2). Apply's fit check
(`check_fusers_fit`, which install_grounding runs before anything else) sees exactly these two. A full-size
GLIGEN-XL file (1.8 B parameters) is loaded in tests/unit/test_full_size_xl_files.py; here only its shapes
matter. The phrase side uses small GLIGEN files of each family's context and phrase widths, through the loader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from devkit.gligen_checkpoints import write_safetensors
from devkit.input_errors import message_for
from devkit.meta_models import meta_unet_model
from devkit.pack import import_pack

import_pack()
from gligen_suite.gligen_model.base_models import FAMILIES, describe_base_model  # noqa: E402
from gligen_suite.nodes.patch.unet_blocks import check_fusers_fit, transformer_slots  # noqa: E402

pytestmark = pytest.mark.bad_input

SD1_WIDTHS = [320, 320, 640, 640, 1280, 1280, 1280, 1280, 1280, 1280, 640, 640, 640, 320, 320, 320]
# GLIGEN-XL's 70 fusers in forward order: down 1 (2 x depth 2), down 2 (2 x 10), mid (10), up 0 (3 x 10), up 1 (3 x 2)
XL_WIDTHS = [640] * 4 + [1280] * 20 + [1280] * 10 + [1280] * 30 + [640] * 6
FILES = {  # family -> (context width, fuser widths, meta UNet family name in devkit/meta_models.py)
    "SD1.x": (768, SD1_WIDTHS, "SD15"),
    "SD2.x": (1024, SD1_WIDTHS, "SD20"),
    "SDXL": (2048, XL_WIDTHS, "SDXL"),
}
PAIRS = [(file, model) for file in FILES for model in FILES if file != model]


@pytest.fixture(scope="module")
def unets() -> dict[str, Any]:
    return {family: transformer_slots(meta_unet_model(meta).get_model_object("diffusion_model"))
            for family, (_, _, meta) in FILES.items()}


def test_each_published_file_fits_its_own_family(unets: dict[str, Any]) -> None:
    """The counterpart of the refusals: the same check accepts each file on its own family's UNet."""
    for family, (context, widths, _) in FILES.items():
        check_fusers_fit(f"GLIGEN for {family}", tuple(widths), context, unets[family])
        assert len(unets[family]) == len(widths)
    assert len(unets["SDXL"]) == 70 and len({s.address for s in unets["SDXL"]}) == 70


@pytest.mark.parametrize(("file", "model"), PAIRS)
def test_a_file_for_another_family_is_refused_naming_both(unets: dict[str, Any], file: str, model: str) -> None:
    context, widths, _ = FILES[file]
    info = (f"gligen_{file}.safetensors: GLIGEN text-box, {len(widths)} fusers, "
            f"{describe_base_model(context, len(widths))}")
    text = message_for(lambda: check_fusers_fit(info, tuple(widths), context, unets[model]))
    families = {f.name: f for f in FAMILIES}
    model_context = FILES[model][0]
    assert info in text  # the file, with its own family
    assert f"which is {describe_base_model(model_context, len(unets[model]))}" in text  # the MODEL's family
    assert f"this one is for {file}, so load it with {families[file].checkpoints}" in text
    assert f"for this {model} MODEL use {families[model].gligen_files}" in text
    assert len(text) < 1000


# ---- phrases from another family's CLIP ---------------------------------------------------------------

def small_gligen(tmp_path: Path, width: int) -> Any:
    """A 7-fuser GLIGEN file (the tiny SD1.5's blocks) with context and phrase width `width`, through the loader."""
    from gligen_suite.nodes.loader_node import load_gligen_patcher

    from devkit.gligen_checkpoints import text_box_state_dict
    from devkit.sd15_checkpoints import sd15_transformer_blocks

    state = text_box_state_dict(sd15_transformer_blocks(True), context_dim=width, phrase_dim=width, seed=width)
    return load_gligen_patcher(str(write_safetensors(state, tmp_path / f"gligen_{width}.safetensors")))


@pytest.mark.parametrize("file", list(FILES))
def test_phrases_of_another_family_are_refused_naming_both_encoders(tmp_path: Path, file: str) -> None:
    from gligen_suite.gligen_model.grounding import BoxGrounding

    families = {f.name: f for f in FAMILIES}
    gligen = small_gligen(tmp_path, families[file].phrase_dim).model
    for clip_family, family in families.items():
        grounding = BoxGrounding(("a cat",), torch.randn(1, family.phrase_dim), torch.tensor([[0.1, 0.1, 0.6, 0.6]]))
        if clip_family == file:
            gligen.check_accepts(grounding)  # the right CLIP passes
            continue
        text = message_for(lambda g=grounding: gligen.check_accepts(g))
        assert f"encoded to {family.phrase_dim} values each (by {family.phrase_encoder}, an {clip_family} CLIP)" in text
        assert f"expects {families[file].phrase_dim} ({families[file].phrase_encoder})" in text
        assert f"Connect the CLIP of your {file} checkpoint to the encode node" in text
