"""GLIGEN files in every published layout load through the real reading code; bad files get a message."""

from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path

import pytest
import torch

from devkit.gligen_checkpoints import (
    SD15_BLOCKS,
    official_container,
    text_box_state_dict,
    to_diffusers_layout,
    variant_state_dict,
    write_safetensors,
)
from devkit.pack import import_pack

import_pack()
from gligen_suite.gligen_model import GligenInputError, GligenModel, Variant, load_gligen_checkpoint  # noqa: E402


@pytest.fixture(scope="module")
def full_state() -> dict[str, torch.Tensor]:
    return text_box_state_dict(SD15_BLOCKS, seed=7, dtype=torch.float16)


def fake_omegaconf_config() -> object:
    """An object pickled under omegaconf's class name, as in the authors' training files."""
    module = types.ModuleType("omegaconf.dictconfig")

    class DictConfig:
        def __init__(self) -> None:
            self._content = {"model": {"params": {"grounding_tokenizer": {"target": "text_grounding_net"}}}}

    DictConfig.__module__ = "omegaconf.dictconfig"
    DictConfig.__qualname__ = "DictConfig"
    module.DictConfig = DictConfig
    sys.modules.setdefault("omegaconf", types.ModuleType("omegaconf"))
    sys.modules["omegaconf.dictconfig"] = module
    return DictConfig()


def assert_same_weights(path: Path, reference: dict[str, torch.Tensor], layout: str) -> None:
    checkpoint = load_gligen_checkpoint(path)
    assert checkpoint.layout == layout
    assert checkpoint.variant == Variant.TEXT_BOX
    assert checkpoint.query_dims == tuple(dim for _, dim in SD15_BLOCKS)
    assert checkpoint.base_model.startswith("SD1.x")
    model = GligenModel(checkpoint)
    assert sum(p.numel() for p in model.parameters()) == 209_102_240
    key = "output_blocks.6.1.transformer_blocks.0.fuser.ff.net.0.proj.weight"
    assert torch.equal(model.fusers[10].ff.net[0].proj.weight, reference[key])
    assert torch.equal(model.position_net.linears[4].bias, reference["position_net.linears.4.bias"])


def test_comfyui_pruned_safetensors_loads(tmp_path: Path, full_state: dict[str, torch.Tensor]) -> None:
    path = write_safetensors(full_state, tmp_path / "gligen_sd14_textbox_pruned_fp16.safetensors")
    assert_same_weights(path, full_state, "comfyui-pruned")


def test_diffusers_gated_unet_weights_load(tmp_path: Path, full_state: dict[str, torch.Tensor]) -> None:
    diffusers_state = to_diffusers_layout(full_state)
    diffusers_state["conv_in.weight"] = torch.zeros(320, 4, 3, 3, dtype=torch.float16)  # base UNet keys ride along
    path = write_safetensors(diffusers_state, tmp_path / "diffusion_pytorch_model.safetensors")
    assert_same_weights(path, full_state, "diffusers")


def test_official_container_with_pickled_config_loads_without_running_it(
        tmp_path: Path, full_state: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "diffusion_pytorch_model.bin"
    torch.save(official_container(full_state, config=fake_omegaconf_config()), path)
    sys.modules.pop("omegaconf.dictconfig")  # the loader must not need omegaconf at all
    assert_same_weights(path, full_state, "official")


def test_inpainting_file_is_recognised(tmp_path: Path) -> None:
    state = official_container(text_box_state_dict(SD15_BLOCKS[:1]))
    state["model"]["input_blocks.0.0.weight"] = torch.zeros(320, 9, 3, 3)
    path = tmp_path / "inpaint.pth"
    torch.save(state, path)
    assert load_gligen_checkpoint(path).inpainting


# ---- bad files ------------------------------------------------------------------------------------

def message_for(path: Path) -> str:
    with pytest.raises(GligenInputError) as info:
        GligenModel(load_gligen_checkpoint(path))
    return str(info.value)


@pytest.mark.bad_input
def test_a_base_checkpoint_is_not_a_gligen_file(tmp_path: Path) -> None:
    path = write_safetensors({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(320, 4, 3, 3)},
                             tmp_path / "sd15.safetensors")
    text = message_for(path)
    assert "not a GLIGEN checkpoint" in text and "models/gligen" in text


@pytest.mark.bad_input
def test_truncated_safetensors(tmp_path: Path, full_state: dict[str, torch.Tensor]) -> None:
    path = write_safetensors(text_box_state_dict(SD15_BLOCKS[:2]), tmp_path / "cut.safetensors")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert "corrupt or truncated" in message_for(path)


@pytest.mark.bad_input
def test_corrupt_safetensors_header(tmp_path: Path) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes((40).to_bytes(8, "little") + b'{"a": {"dtype": "F32", "shape": [2], "data_' + b"x" * 40)
    assert "corrupt or truncated" in message_for(path)


@pytest.mark.bad_input
def test_truncated_torch_zip(tmp_path: Path) -> None:
    path = tmp_path / "cut.pth"
    torch.save(official_container(text_box_state_dict(SD15_BLOCKS[:1])), path)
    path.write_bytes(path.read_bytes()[:5000])
    assert "corrupt or truncated" in message_for(path)


@pytest.mark.bad_input
def test_text_file_is_neither_format(tmp_path: Path) -> None:
    path = tmp_path / "notes.safetensors"
    path.write_text("this is a readme, not weights")
    assert "neither a safetensors nor a PyTorch file" in message_for(path)


@pytest.mark.bad_input
def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.safetensors"
    path.write_bytes(b"")
    assert "empty" in message_for(path)


class RunsCode:
    def __reduce__(self) -> tuple:
        import os
        return (os.system, ("echo pwned > /dev/null",))


@pytest.mark.bad_input
def test_pickle_with_code_is_refused_and_not_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    path = tmp_path / "evil.pth"
    torch.save({"model": text_box_state_dict(SD15_BLOCKS[:1]), "payload": RunsCode()}, path)
    calls: list[str] = []
    monkeypatch.setattr(os, "system", lambda cmd: calls.append(cmd))
    text = message_for(path)
    assert "pickled code" in text and "system" in text
    assert calls == []


@pytest.mark.bad_input
def test_legacy_pickle_with_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil_legacy.ckpt"
    path.write_bytes(pickle.dumps({"payload": RunsCode()}, protocol=2))
    assert "not loaded" in message_for(path)


@pytest.mark.bad_input
def test_missing_and_misshaped_fuser_tensors_are_listed(tmp_path: Path) -> None:
    state = text_box_state_dict(SD15_BLOCKS[:2])
    del state["input_blocks.1.1.transformer_blocks.0.fuser.attn.to_k.weight"]
    state["input_blocks.2.1.transformer_blocks.0.fuser.norm1.weight"] = torch.zeros(7)
    text = message_for(write_safetensors(state, tmp_path / "damaged.safetensors"))
    assert "missing 'attn.to_k.weight'" in text
    assert "'norm1.weight' has shape (7,), expected (320,)" in text


@pytest.mark.bad_input
def test_integer_weights_are_refused(tmp_path: Path) -> None:
    state = text_box_state_dict(SD15_BLOCKS[:1])
    key = "input_blocks.1.1.transformer_blocks.0.fuser.linear.bias"
    state[key] = state[key].to(torch.int32)
    assert "expected a floating-point tensor" in message_for(write_safetensors(state, tmp_path / "int.safetensors"))


@pytest.mark.bad_input
def test_incomplete_spatial_file_is_named_as_one(tmp_path: Path) -> None:
    state = {k: v for k, v in text_box_state_dict(SD15_BLOCKS[:1]).items() if ".fuser." in k}
    state["position_net.convnext_tiny_backbone.downsample_layers.0.0.weight"] = torch.zeros(96, 3, 4, 4)
    state["position_net.pos_embedding"] = torch.zeros(1, 64, 768)  # no null_feature, no downsample_net
    text = message_for(write_safetensors(state, tmp_path / "canny.safetensors"))
    assert "spatial-map position net" in text and "no downsampler" in text and "download" in text


def other_variant_state(variant: str) -> dict[str, torch.Tensor]:
    """Fusers of one block plus a random position net of `variant`, in the published key names."""
    return variant_state_dict(SD15_BLOCKS[:2], variant, seed=2)


@pytest.mark.parametrize(("variant", "tokens"), [("keypoint", 136), ("text-image-box", 60)])
def test_keypoint_and_text_image_files_load_with_their_token_counts(tmp_path: Path, variant: str,
                                                                    tokens: int) -> None:
    path = tmp_path / f"{variant}.pth"
    torch.save(official_container(other_variant_state(variant)), path)
    checkpoint = load_gligen_checkpoint(path)
    assert checkpoint.variant == Variant(variant) and checkpoint.layout == "official"
    assert GligenModel(checkpoint).tokens_for(None).shape == (1, tokens, 768)


@pytest.mark.bad_input
def test_incomplete_keypoint_position_net_is_listed(tmp_path: Path) -> None:
    state = other_variant_state("keypoint")
    del state["position_net.null_xy_feature"]
    state["position_net.person_embeddings"] = torch.zeros(9, 768)
    text = message_for(write_safetensors(state, tmp_path / "kp.safetensors"))
    assert "position net: missing 'null_xy_feature'" in text
    assert "'person_embeddings' has shape (9, 768), expected (8, 768)" in text


@pytest.mark.bad_input
def test_fusers_without_position_net(tmp_path: Path) -> None:
    state = {k: v for k, v in text_box_state_dict(SD15_BLOCKS[:1]).items() if ".fuser." in k}
    assert "no position net" in message_for(write_safetensors(state, tmp_path / "half.safetensors"))


@pytest.mark.parametrize("layout", ["official", "diffusers", "comfyui-pruned"])
def test_text_image_files_load_in_every_layout_with_their_projection(tmp_path: Path, layout: str) -> None:
    """Official container (+ the authors' projection_matrix merged in), diffusers UNet + image_project, pruned."""
    from gligen_suite.gligen_model.image_projection import load_text_projection

    state = other_variant_state("text-image-box")
    projection = torch.randn(768, 768, generator=torch.Generator().manual_seed(9))
    if layout == "official":
        path = tmp_path / "text_image.pth"
        torch.save(official_container({**state, "projection_matrix": projection}), path)
    elif layout == "diffusers":
        state = {**to_diffusers_layout(state), "image_project.project.weight": projection.T.contiguous()}
        path = write_safetensors(state, tmp_path / "diffusion_pytorch_model.safetensors")
    else:
        path = write_safetensors(state, tmp_path / "text_image_pruned.safetensors")
    checkpoint = load_gligen_checkpoint(path)
    assert checkpoint.variant == Variant.TEXT_IMAGE_BOX and checkpoint.layout == layout
    if layout == "comfyui-pruned":
        assert checkpoint.image_projection is None
    else:
        assert torch.equal(checkpoint.image_projection, projection)
    bare = tmp_path / "projection_matrix"  # the authors' separate file: one bare tensor
    torch.save(projection, bare)
    assert torch.equal(load_text_projection(bare), projection)
    assert torch.equal(GligenModel(checkpoint, image_projection=projection).image_projection, projection)


# ---- files that are not regular files; a GLIGEN file that is incomplete in itself ----------------------
def read_within(path: Path, seconds: float = 10.0) -> str:
    """The message for reading `path`, failing (not hanging) when the read blocks: a FIFO's open waits for a
    writer, so a stuck reader is released by opening the write end once the time is up."""
    import os
    import threading

    from gligen_suite.gligen_model.file_reading import read_weights_file

    outcome: list[BaseException | None] = []

    def read() -> None:
        try:
            read_weights_file(path)
            outcome.append(None)
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            outcome.append(e)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(seconds)
    if reader.is_alive():
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(5)
        pytest.fail(f"reading {path.name} blocked for {seconds:.0f} s")
    assert outcome and isinstance(outcome[0], GligenInputError), outcome
    return str(outcome[0])


@pytest.mark.bad_input
def test_a_dangling_link_a_folder_and_a_fifo_are_named_without_being_opened(tmp_path: Path) -> None:
    import os

    dangling = tmp_path / "moved.safetensors"
    dangling.symlink_to(tmp_path / "downloads" / "gligen_sd14_textbox_pruned.safetensors")
    folder = tmp_path / "folder.safetensors"
    folder.mkdir()
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    text = read_within(dangling)
    assert "'moved.safetensors' is a symbolic link to 'gligen_sd14_textbox_pruned.safetensors', which does not " \
           "exist" in text and "Point the link at the downloaded checkpoint" in text
    text = read_within(folder)
    assert "'folder.safetensors' is a folder, not a weights file" in text and "Choose the checkpoint file" in text
    text = read_within(fifo)
    assert "'pipe.safetensors' is a named pipe (FIFO), not a regular file, so it was not opened" in text
    assert "Replace it with the downloaded checkpoint file" in text


def without_block(blocks: list[tuple[str, int]], block: str) -> dict[str, torch.Tensor]:
    return text_box_state_dict([b for b in blocks if b[0] != block], seed=3)


@pytest.mark.bad_input
@pytest.mark.parametrize(("layout", "block", "named"), [
    ("comfyui-pruned", "input_blocks.4.1", "input_blocks.4.1"),
    ("diffusers", "input_blocks.4.1", "down_blocks.1.attentions.0"),
    ("comfyui-pruned", "middle_block.1", "middle_block.1"),
    ("comfyui-pruned", "output_blocks.11.1", "output_blocks.11.1"),
])
def test_a_gap_in_the_files_own_block_list_is_named(tmp_path: Path, layout: str, block: str, named: str) -> None:
    """Fusers for input_blocks.1, 2, 5, ... but not 4: Apply used to call this a GLIGEN file for another base
    model; it is a damaged one, and the missing block is named."""
    state = without_block(SD15_BLOCKS, block)
    path = write_safetensors(to_diffusers_layout(state) if layout == "diffusers" else state,
                             tmp_path / "gap.safetensors")
    text = message_for(path)
    assert f"'gap.safetensors' is an incomplete GLIGEN file: it has no fuser for {named}, a transformer block " \
           "of the UNet its other fusers are made for" in text and "download the checkpoint again" in text


@pytest.mark.bad_input
def test_a_whole_level_missing_on_one_side_is_named(tmp_path: Path) -> None:
    state = text_box_state_dict(SD15_BLOCKS[2:], seed=3)  # input_blocks.1 and 2 gone, their output blocks kept
    text = message_for(write_safetensors(state, tmp_path / "half_level.safetensors"))
    assert "incomplete GLIGEN file: its input blocks have fusers at the widths [640, 1280], its output blocks at " \
           "[1280, 640, 320]" in text


@pytest.mark.parametrize("count", range(1, 8))
def test_a_block_list_that_stops_before_the_output_blocks_loads(tmp_path: Path, count: int) -> None:
    """The first blocks only (the tests' small files): as far as the file tells, a smaller UNet's."""
    path = write_safetensors(text_box_state_dict(SD15_BLOCKS[:count]), tmp_path / "short.safetensors")
    assert len(load_gligen_checkpoint(path).fusers) == count


@pytest.mark.bad_input
def test_a_position_net_for_phrases_of_another_width_is_named(tmp_path: Path) -> None:
    """1024-wide phrases beside SD1.x fusers (context 768): used to pass here and be blamed on the CLIP later."""
    state = text_box_state_dict(SD15_BLOCKS, phrase_dim=1024)
    text = message_for(write_safetensors(state, tmp_path / "wide_phrases.safetensors"))
    assert "'wide_phrases.safetensors' is a damaged GLIGEN file: its position net takes phrases of 1024 values " \
           "('null_positive_feature' has shape (1024,)), but its fusers are for context 768 (SD1.x), whose text " \
           "encoder (SD1.x's CLIP-L) gives 768" in text and "download the checkpoint again" in text
