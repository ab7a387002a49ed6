"""GLIGEN Convert to Adapter (Suite): a sharded full-UNet folder (or any GLIGEN file) -> an adapter-only fp16
safetensors in the first models/gligen folder, which the loader reads as it read the source; and its refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open

from devkit.gated_unet_files import XL_TRANSFORMERS, base_unet_tensors, gligen_tensors, scaled, write_shard_set
from devkit.gligen_checkpoints import (
    SD15_BLOCKS,
    official_config_dict,
    official_container,
    to_diffusers_layout,
    variant_state_dict,
)
from devkit.input_errors import message_for

CONTEXT = 64
XL_SMALL = scaled(XL_TRANSFORMERS, 40)  # the 70 transformer blocks of GLIGEN-XL at widths 16 / 32


def xl_folder(root: Path, seed: int = 0) -> tuple[Path, dict[str, torch.Tensor]]:
    """A small GLIGEN-XL unet folder: the full gated UNet (base keys too) in 3 fp32 shards with their index."""
    gligen = gligen_tensors(XL_SMALL, CONTEXT, seed=seed)
    folder = root / "gligen-xl-1024" / "unet"
    write_shard_set(folder, {**base_unet_tensors(), **gligen}, 3)
    return folder, gligen


def convert(name: str, filename: str = "", overwrite: bool = False) -> str:
    from gligen_suite.nodes.convert_node import GligenConvertToAdapter

    output = GligenConvertToAdapter.execute(name, filename, overwrite)
    assert output.result is None
    return output.ui.as_dict()["text"][0]


def file_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """What safetensors' own reader finds in a file."""
    with safe_open(str(path), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()


def test_a_sharded_folder_becomes_an_fp16_adapter_the_loader_reads(models_gligen: Path) -> None:
    from gligen_suite.gligen_model import load_gligen_checkpoint
    from gligen_suite.nodes.loader_node import GligenLoader, gligen_choices

    _, gligen = xl_folder(models_gligen)
    text = convert("gligen-xl-1024/unet/")
    target = models_gligen / "gligen-xl-1024.safetensors"
    size = target.stat().st_size
    assert text.startswith(f"Wrote {target}: 1198 tensors, {size / 1e9:.2f} GB")
    assert sorted(p.name for p in models_gligen.iterdir()) == ["gligen-xl-1024", "gligen-xl-1024.safetensors"]

    tensors, metadata = file_tensors(target)
    assert set(tensors) == set(gligen) and len(tensors) == 1198  # the source's names, no base-UNet key
    for key, tensor in gligen.items():
        assert tensors[key].dtype == torch.float16 and torch.equal(tensors[key], tensor.half()), key
    assert metadata["gligen_suite_adapter"] == "1" and metadata["source"] == "gligen-xl-1024/unet/"
    assert metadata["source_layout"] == "diffusers" and metadata["gligen_suite_variant"] == "text-box"
    assert size == 8 + int.from_bytes(target.read_bytes()[:8], "little") + sum(2 * t.numel() for t in gligen.values())

    adapter, source = load_gligen_checkpoint(target), load_gligen_checkpoint(models_gligen / "gligen-xl-1024/unet")
    assert adapter.layout == "diffusers" and adapter.query_dims == source.query_dims
    assert [f.block for f in adapter.fusers] == [f.block for f in source.fusers]
    assert "gligen-xl-1024.safetensors" in gligen_choices()
    model = GligenLoader.execute("gligen-xl-1024.safetensors").result[0].model
    assert torch.equal(model.fusers[33].ff.net[0].proj.weight,
                       gligen["mid_block.attentions.0.transformer_blocks.9.fuser.ff.net.0.proj.weight"].half())


def test_a_filename_and_overwrite(models_gligen: Path) -> None:
    xl_folder(models_gligen)
    shard = "gligen-xl-1024/unet/diffusion_pytorch_model-00002-of-00003.safetensors"
    convert(shard, "mine.safetensors")
    target = models_gligen / "mine.safetensors"
    first = target.stat().st_ino
    text = message_for(lambda: convert(shard, "mine.safetensors"))
    assert f"'mine.safetensors' already exists in {models_gligen}" in text and "set overwrite" in text
    xl_folder(models_gligen, seed=5)
    convert(shard, "mine.safetensors", overwrite=True)
    assert target.stat().st_ino != first  # a new file renamed over the old one, not rewritten in place
    tensors, _ = file_tensors(target)
    key = "up_blocks.0.attentions.2.transformer_blocks.4.fuser.attn.to_v.weight"
    assert torch.equal(tensors[key], gligen_tensors(XL_SMALL, CONTEXT, seed=5)[key].half())
    assert [p.name for p in models_gligen.iterdir() if p.name.endswith(".part")] == []


@pytest.mark.bad_input
@pytest.mark.parametrize(("filename", "needle"), [
    ("sub/x.safetensors", "has a path separator"),
    ("..\\x.safetensors", "has a path separator"),
    ("../../checkpoints/x.safetensors", "has a path separator"),
    ("x.bin", "does not end in .safetensors"),
    (".safetensors", "does not end in .safetensors"),
])
def test_a_filename_that_is_not_a_bare_safetensors_name_is_refused(models_gligen: Path, filename: str,
                                                                    needle: str) -> None:
    xl_folder(models_gligen)
    text = message_for(lambda: convert("gligen-xl-1024/unet/", filename))
    assert needle in text and "gligen-xl-1024.safetensors" in text
    assert sorted(p.name for p in models_gligen.iterdir()) == ["gligen-xl-1024"]


@pytest.mark.bad_input
def test_the_adapter_never_replaces_its_source(models_gligen: Path) -> None:
    gligen = gligen_tensors(XL_SMALL, CONTEXT)
    shards = write_shard_set(models_gligen, gligen, 2)  # a set directly in models/gligen
    for source in (shards[0].name, shards[1].name):
        text = message_for(lambda s=source: convert(s, shards[1].name, overwrite=True))
        assert f"'{shards[1].name}' is the file being converted" in text
    convert(shards[0].name, "adapter.safetensors")
    text = message_for(lambda: convert("adapter.safetensors", "adapter.safetensors", overwrite=True))
    assert "'adapter.safetensors' is the file being converted" in text
    assert torch.equal(file_tensors(models_gligen / "adapter.safetensors")[0]["position_net.linears.0.bias"],
                       gligen["position_net.linears.0.bias"].half())


@pytest.mark.bad_input
def test_a_source_that_is_not_gligen_writes_nothing(models_gligen: Path) -> None:
    write_shard_set(models_gligen / "sdxl" / "unet", base_unet_tensors(), 2)
    text = message_for(lambda: convert("sdxl/unet/"))
    assert "'sdxl/unet/' holds no GLIGEN fuser weights" in text
    assert sorted(p.name for p in models_gligen.iterdir()) == ["sdxl"]


def test_an_official_spatial_file_keeps_its_downsampler_and_first_conv(models_gligen: Path) -> None:
    """A canny .bin (told apart from depth only by its config): the adapter carries the downsampler, the
    12-channel first conv under the source's names, and the variant in its metadata, so it loads as canny
    under any name."""
    from gligen_suite.gligen_model import Variant, load_gligen_checkpoint

    state = variant_state_dict(SD15_BLOCKS[:2], "canny", seed=3)
    source = models_gligen / "gligen-generation-canny.bin"
    torch.save(official_container(state, official_config_dict("canny")), source)
    text = convert(source.name, "converted.safetensors")
    tensors, metadata = file_tensors(models_gligen / "converted.safetensors")
    assert set(tensors) == set(state) and f"{len(state)} tensors" in text
    assert tensors["input_blocks.0.0.weight"].shape == (320, 12, 3, 3)
    assert metadata["gligen_suite_variant"] == "canny" and metadata["source_layout"] == "official"
    adapter = load_gligen_checkpoint(models_gligen / "converted.safetensors")
    assert adapter.variant is Variant.CANNY and adapter.downsample_net is not None
    for key, tensor in state.items():
        assert torch.equal(tensors[key], tensor.half()), key


def test_a_diffusers_text_image_file_keeps_its_projection(models_gligen: Path) -> None:
    from gligen_suite.gligen_model import load_gligen_checkpoint

    projection = torch.randn(768, 768, generator=torch.Generator().manual_seed(2))
    state = {**to_diffusers_layout(variant_state_dict(SD15_BLOCKS[:2], "text-image-box", seed=4)),
             "image_project.project.weight": projection.T.contiguous()}
    write_shard_set(models_gligen / "gligen-text-image" / "unet", state, 2)
    convert("gligen-text-image/unet/")
    tensors, _ = file_tensors(models_gligen / "gligen-text-image.safetensors")
    assert set(tensors) == set(state)
    adapter = load_gligen_checkpoint(models_gligen / "gligen-text-image.safetensors")
    assert torch.equal(adapter.image_projection, projection.half().float())


@pytest.mark.parametrize(("source", "name"), [
    ("gligen-xl-1024/unet/", "gligen-xl-1024.safetensors"),
    ("gligen-xl-1024/unet/diffusion_pytorch_model-00001-of-00002.safetensors", "gligen-xl-1024.safetensors"),
    ("igligen-sd2.1/unet/diffusion_pytorch_model.safetensors", "igligen-sd2.1.safetensors"),
    ("models/xl/", "xl.safetensors"),
    ("gligen_sd14_textbox_pruned.safetensors", "gligen_sd14_textbox_pruned_adapter.safetensors"),
    ("official/gligen-generation-canny.bin", "gligen-generation-canny_adapter.safetensors"),
    ("diffusion_pytorch_model-00001-of-00002.safetensors", "diffusion_pytorch_model_adapter.safetensors"),
])
def test_the_default_filename_is_named_after_the_source(source: str, name: str) -> None:
    from gligen_suite.gligen_model.adapter_file import adapter_file_name

    assert adapter_file_name(source) == name


def test_the_node_is_registered_as_an_output_node() -> None:
    import asyncio

    from gligen_suite.nodes.extension import GligenSuiteExtension

    nodes: list[Any] = asyncio.run(GligenSuiteExtension().get_node_list())
    schema = next(n for n in nodes if n.__name__ == "GligenConvertToAdapter").define_schema()
    assert schema.node_id == "GLIGENSuite_ConvertToAdapter" and schema.is_output_node
    assert schema.display_name == "GLIGEN Convert to Adapter (Suite)"
    assert [i.id for i in schema.inputs] == ["gligen_name", "filename", "overwrite"]
    assert json.dumps(schema.inputs[1].default) == '""' and schema.inputs[2].default is False
