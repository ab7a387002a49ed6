"""GLIGEN-XL / IGLIGEN files as published (full diffusers gated UNets, one file or a diffusers shard set) read
lazily: a merged file, the unet folder, any shard, with or without the index json, fp16 or fp32; only the GLIGEN
tensors' bytes are read, cast as read; every way a shard set can be broken gets its own message; the loader's
"<folder>/" entries.

The UNets are the real layouts (70 XL / 16 SD2.1 transformer blocks, diffusers key names) at reduced widths;
tests/unit/test_full_size_xl_files.py has them at full size.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch

from devkit.comfy_host import import_comfy
from devkit.gated_unet_files import (
    SD21_TRANSFORMERS,
    XL_TRANSFORMERS,
    Sparse,
    base_unet_tensors,
    gligen_tensors,
    index_name,
    scaled,
    write_safetensors_layout,
    write_shard_set,
)
from devkit.input_errors import message_for
from devkit.pack import import_pack

import_comfy()
import_pack()
from gligen_suite.gligen_model import load_gligen_checkpoint, weight_sources  # noqa: E402

CONTEXT = 64  # reduced: XL / SD2.1 widths / 40 and / 20, context 2048 / 1024 -> 64
LAYOUTS = {"xl": scaled(XL_TRANSFORMERS, 40), "sd21": scaled(SD21_TRANSFORMERS, 20)}
INDEX = index_name()


def unet_tensors(layout: str = "xl", dtype: torch.dtype = torch.float32, seed: int = 0) -> dict[str, torch.Tensor]:
    """A full gated UNet in diffusers' order: base keys first and last, GLIGEN tensors in between."""
    base = base_unet_tensors(dtype)
    head = {k: v for k, v in base.items() if k.startswith(("conv_in", "time_", "down_blocks.0"))}
    return {**head, **gligen_tensors(LAYOUTS[layout], CONTEXT, seed=seed, dtype=dtype),
            **{k: v for k, v in base.items() if k not in head}}


def gligen_part(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in tensors.items() if ".fuser." in k or k.startswith("position_net.")}


def assert_loaded(checkpoint: Any, written: dict[str, torch.Tensor], layout: str = "xl",
                  dtype: torch.dtype | None = None) -> None:
    """The checkpoint holds every GLIGEN tensor written, in UNet order, equal (cast to dtype, if given)."""
    assert checkpoint.layout == "diffusers"
    assert [f.block for f in checkpoint.fusers] == [block for block, _ in LAYOUTS[layout]]
    loaded = {f"{f.block}.fuser.{k}": v for f in checkpoint.fusers for k, v in f.state.items()}
    loaded.update({f"position_net.{k}": v for k, v in checkpoint.position_net.items()})
    expected = gligen_part(written)
    assert set(loaded) == set(expected)
    for key, tensor in expected.items():
        want = tensor.reshape(loaded[key].shape).to(dtype or tensor.dtype)
        assert loaded[key].dtype == want.dtype and torch.equal(loaded[key], want), key


def write_merged(path: Path, tensors: dict[str, torch.Tensor]) -> Path:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"format": "pt"})
    return path


def sharded(tmp_path: Path, shards: int = 3, *, index: bool = True, dtype: torch.dtype = torch.float32,
            layout: str = "xl") -> tuple[Path, list[Path], dict[str, torch.Tensor]]:
    tensors = unet_tensors(layout, dtype)
    folder = tmp_path / "gligen-xl-1024" / "unet"
    return folder, write_shard_set(folder, tensors, shards, index=index), tensors


# ---- files that load ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["xl", "sd21"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["fp32", "fp16"])
def test_a_merged_full_unet_file_loads_its_gligen_tensors(tmp_path: Path, layout: str, dtype: torch.dtype) -> None:
    written = unet_tensors(layout, dtype)
    path = write_merged(tmp_path / "diffusion_pytorch_model.safetensors", written)
    checkpoint = load_gligen_checkpoint(path)
    assert_loaded(checkpoint, written, layout)
    assert checkpoint.name == path.name and len(checkpoint.fusers) == len(LAYOUTS[layout])
    assert checkpoint.first_conv is None  # the base model's own 4-channel conv_in is not part of GLIGEN


@pytest.mark.parametrize("how", ["folder", "first shard", "last shard", "folder, no index", "middle shard, no index"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["fp32", "fp16"])
def test_a_shard_set_loads_whole_from_its_folder_or_any_shard(tmp_path: Path, how: str, dtype: torch.dtype) -> None:
    folder, shards, written = sharded(tmp_path, index="no index" not in how, dtype=dtype)
    assert len(shards) == 3 and all(gligen_part({k: written[k] for k in shard_keys(s)}) for s in shards)
    chosen = {"folder": folder, "first shard": shards[0], "last shard": shards[2], "folder, no index": folder,
              "middle shard, no index": shards[1]}[how]
    checkpoint = load_gligen_checkpoint(chosen)
    assert_loaded(checkpoint, written)
    assert checkpoint.name == "gligen-xl-1024/unet/"
    assert checkpoint.summary().startswith("gligen-xl-1024/unet/: GLIGEN text-box, 70 fusers")


def shard_keys(path: Path) -> list[str]:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return list(f.keys())


def test_the_index_names_shards_of_any_name(tmp_path: Path) -> None:
    """Shards not named -0000k-of-0000n are a set when an index beside them lists them; any of them loads it."""
    folder, shards, written = sharded(tmp_path, 2)
    index = json.loads((folder / INDEX).read_text())
    renamed = {s.name: f"part_{'ab'[i]}.safetensors" for i, s in enumerate(shards)}
    for old, new in renamed.items():
        (folder / old).rename(folder / new)
    index["weight_map"] = {k: renamed[v] for k, v in index["weight_map"].items()}
    (folder / INDEX).write_text(json.dumps(index))
    assert_loaded(load_gligen_checkpoint(folder / "part_b.safetensors"), written)
    assert_loaded(load_gligen_checkpoint(folder), written)


def test_a_dtype_variant_set_with_its_index_loads(tmp_path: Path) -> None:
    """diffusers' fp16 variant: diffusion_pytorch_model.fp16-0000k-of-0000n + ...safetensors.index.fp16.json."""
    written = unet_tensors(dtype=torch.float16)
    folder = tmp_path / "unet"
    shards = write_shard_set(folder, written, 2, variant="fp16")
    assert shards[0].name == "diffusion_pytorch_model.fp16-00001-of-00002.safetensors"
    assert (folder / "diffusion_pytorch_model.safetensors.index.fp16.json").is_file()
    assert_loaded(load_gligen_checkpoint(folder), written)
    assert_loaded(load_gligen_checkpoint(shards[1]), written)


@pytest.mark.parametrize("source", [torch.float32, torch.float16, torch.bfloat16], ids=["fp32", "fp16", "bf16"])
def test_tensors_are_cast_to_the_dtype_asked_for_as_they_are_read(tmp_path: Path, source: torch.dtype) -> None:
    folder, _, written = sharded(tmp_path, 2, dtype=source)
    assert_loaded(load_gligen_checkpoint(folder, dtype=torch.float16), written, dtype=torch.float16)


def test_a_torch_file_is_cast_too(tmp_path: Path) -> None:
    written = unet_tensors("sd21")
    path = tmp_path / "diffusion_pytorch_model.bin"
    torch.save(written, path)
    assert_loaded(load_gligen_checkpoint(path, dtype=torch.float16), written, "sd21", dtype=torch.float16)


class ReadRecorder:
    """Stands in for `open` in weight_sources: records every byte range read from tensor data."""

    def __init__(self) -> None:
        self.ranges: list[tuple[str, int, int]] = []

    def __call__(self, file: Any, *args: Any, **kwargs: Any) -> Any:
        real = open(file, *args, **kwargs)  # noqa: SIM115 - closed by the caller's with
        recorder = self

        class Recording:
            def __enter__(self) -> Recording:
                return self

            def __exit__(self, *exc: Any) -> None:
                real.close()

            def seek(self, offset: int) -> int:
                return real.seek(offset)

            def readinto(self, buffer: Any) -> int:
                start = real.tell()
                got = real.readinto(buffer)
                recorder.ranges.append((Path(file).name, start, start + got))
                return got

        return Recording()


def header_ranges(path: Path) -> dict[str, tuple[int, int]]:
    """Each tensor's absolute byte range, from the header (read here without the pack's code)."""
    with path.open("rb") as f:
        length = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(length))
    header.pop("__metadata__", None)
    return {k: (8 + length + v["data_offsets"][0], 8 + length + v["data_offsets"][1]) for k, v in header.items()}


def test_base_unet_tensors_are_never_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Of the base UNet only the key names are looked at (and conv_in, the first conv a spatial file widens);
    every byte read from tensor data lies in a tensor the parser needs."""
    folder, shards, written = sharded(tmp_path, 3)
    recorder = ReadRecorder()
    monkeypatch.setattr(weight_sources, "open", recorder, raising=False)
    assert_loaded(load_gligen_checkpoint(folder), written)
    needed = set(gligen_part(written)) | {"conv_in.weight", "conv_in.bias"}
    read_keys: set[str] = set()
    for shard in shards:
        for key, (start, end) in header_ranges(shard).items():
            touched = [r for r in recorder.ranges if r[0] == shard.name and r[1] < end and start < r[2]]
            if touched:
                read_keys.add(key)
                assert touched == [(shard.name, start, end)], key  # one read, of exactly its bytes
    assert read_keys == needed


def test_a_hole_of_base_weights_is_never_touched(tmp_path: Path) -> None:
    """A 64 GB base tensor stored as a hole (the file takes no disk): the load takes as long as a small one's,
    and the file's data beyond the GLIGEN tensors is never read."""
    written = unet_tensors()
    layout: dict[str, torch.Tensor | Sparse] = dict(written)
    layout["down_blocks.0.resnets.0.conv1.weight"] = Sparse((2**14, 2**14, 8, 8), torch.float32)
    path = write_safetensors_layout(tmp_path / "diffusion_pytorch_model.safetensors", layout)
    assert path.stat().st_size > 64 * 2**30 and path.stat().st_blocks * 512 < 2**26
    assert_loaded(load_gligen_checkpoint(path), written)


def test_weights_beyond_fp16_are_refused_when_read_as_fp16(tmp_path: Path) -> None:
    written = unet_tensors()
    key = "down_blocks.2.attentions.1.transformer_blocks.7.fuser.ff.net.2.weight"
    written[key] = written[key] * 1e6
    path = write_merged(tmp_path / "wide.safetensors", written)
    assert len(load_gligen_checkpoint(path).fusers) == 70  # as stored (fp32): fine
    text = message_for(lambda: load_gligen_checkpoint(path, dtype=torch.float16))
    assert f"'wide.safetensors': '{key}' holds values beyond the range of float16 (largest 65504)" in text
    assert "--force-fp32" in text


# ---- broken shard sets ------------------------------------------------------------------------------------
@pytest.mark.bad_input
def test_a_missing_numbered_shard_is_named(tmp_path: Path) -> None:
    folder, shards, _ = sharded(tmp_path, 3, index=False)
    shards[1].unlink()
    text = message_for(lambda: load_gligen_checkpoint(shards[0]))
    assert "'diffusion_pytorch_model-00001-of-00003.safetensors' is shard 1 of 3, but 1 shard(s) of its set are not " \
           "in 'gligen-xl-1024/unet/': diffusion_pytorch_model-00002-of-00003.safetensors" in text
    assert "Download the missing shard(s)" in text
    assert "diffusion_pytorch_model-00002-of-00003.safetensors" in message_for(lambda: load_gligen_checkpoint(folder))


@pytest.mark.bad_input
def test_a_shard_the_index_names_that_is_absent_is_named(tmp_path: Path) -> None:
    folder, shards, _ = sharded(tmp_path, 3)
    shards[2].unlink()
    for chosen in (folder, shards[0]):
        text = message_for(lambda c=chosen: load_gligen_checkpoint(c))
        assert f"Shard index '{INDEX}' names 1 shard(s) that are not in 'gligen-xl-1024/unet/': " \
               "diffusion_pytorch_model-00003-of-00003.safetensors. Download the missing shard(s)" in text


@pytest.mark.bad_input
def test_a_truncated_shard_is_named(tmp_path: Path) -> None:
    folder, shards, _ = sharded(tmp_path, 3)
    shards[1].write_bytes(shards[1].read_bytes()[: shards[1].stat().st_size // 2])
    text = message_for(lambda: load_gligen_checkpoint(folder))
    assert f"'{shards[1].name}' is a corrupt or truncated safetensors file: tensor '" in text
    assert "past the end of the file" in text and "Download it again" in text


def with_header(path: Path, header: bytes, length: int | None = None, data: bytes = b"") -> None:
    path.write_bytes((len(header) if length is None else length).to_bytes(8, "little") + header + data)


@pytest.mark.bad_input
@pytest.mark.parametrize(("header", "length", "data", "needle"), [
    (b'{"a": 1}', 10**9, b"", "its header says it is 1,000,000,000 bytes long, but the file has only 8 bytes after it"),
    (b'{"a": {"dtype": "F32", "shape": [2], "data_', None, b"", "its header is not valid JSON"),
    (b'{"a": {"dtype": "F32", "shape": [1000], "data_offsets": [0, 4000]}}', None, b"\0" * 16,
     "tensor 'a' ends at byte 4,075, past the end of the file (91 bytes)"),
    (b'{"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}', None, b"\0" * 8,
     "tensor 'a' of shape (3,) needs 12 bytes, but its data offsets span 8"),
    (b"[1, 2]", None, b"", "its header is not a JSON object"),
], ids=["header-longer-than-file", "bad-json", "offsets-past-end", "offsets-wrong-size", "not-an-object"])
def test_a_corrupt_shard_header_is_named_before_any_data_is_read(tmp_path: Path, header: bytes, length: int | None,
                                                                 data: bytes, needle: str) -> None:
    folder, shards, _ = sharded(tmp_path, 3)
    with_header(shards[2], header, length, data)
    text = message_for(lambda: load_gligen_checkpoint(shards[0]))
    assert f"'{shards[2].name}' is a corrupt or truncated safetensors file: {needle}" in text, text


@pytest.mark.bad_input
def test_a_dtype_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    folder, shards, _ = sharded(tmp_path, 2)
    with_header(shards[1], b'{"a": {"dtype": "F4", "shape": [2], "data_offsets": [0, 1]}}', data=b"\0" * 8)
    text = message_for(lambda: load_gligen_checkpoint(folder))
    assert f"'{shards[1].name}': tensor 'a' has the dtype 'F4', which cannot be read here" in text


@pytest.mark.bad_input
@pytest.mark.parametrize(("content", "needle"), [
    ('{"weight_map": {"a": "diffusion_pytorch_model-00001-of', "is not valid JSON"),
    ('{"metadata": {"total_size": 5}}', 'has no "weight_map"'),
    ('{"weight_map": {}}', 'has no "weight_map"'),
    ('[1]', 'has no "weight_map"'),
    ('{"weight_map": {"a": "../../checkpoints/sd_xl_base_1.0.safetensors"}}',
     "names shard files that are not .safetensors files beside it ('../../checkpoints/sd_xl_base_1.0.safetensors')"),
], ids=["bad-json", "no-weight-map", "empty-weight-map", "not-an-object", "path-outside"])
def test_a_broken_index_is_named(tmp_path: Path, content: str, needle: str) -> None:
    folder, shards, _ = sharded(tmp_path, 2)
    (folder / INDEX).write_text(content)
    for chosen in (folder, shards[1]):
        text = message_for(lambda c=chosen: load_gligen_checkpoint(c))
        assert f"Shard index '{INDEX}' " in text and needle in text, text


@pytest.mark.bad_input
def test_an_index_too_large_is_refused_unread(tmp_path: Path) -> None:
    folder, shards, _ = sharded(tmp_path, 2)
    with (folder / INDEX).open("r+b") as f:
        f.truncate(weight_sources.MAX_INDEX_BYTES + 1)  # a hole: reading it would take 32 MB
    text = message_for(lambda: load_gligen_checkpoint(folder))
    assert f"Shard index '{INDEX}' is 33,554,433 bytes, more than an index can be" in text


@pytest.mark.bad_input
def test_too_many_shards_are_refused(tmp_path: Path) -> None:
    path = write_merged(tmp_path / "diffusion_pytorch_model-00001-of-01001.safetensors", unet_tensors())
    text = message_for(lambda: load_gligen_checkpoint(path))
    assert "is named as shard 1 of 1001, which no shard set can be" in text and "at most 1000" in text
    index = {"weight_map": {f"k{i}": f"s{i}.safetensors" for i in range(1001)}}
    (tmp_path / INDEX).write_text(json.dumps(index))
    assert "names 1,001 shard files, more than 1000" in message_for(lambda: load_gligen_checkpoint(tmp_path))


@pytest.mark.bad_input
def test_a_key_in_two_shards_is_refused(tmp_path: Path) -> None:
    written = unet_tensors()
    key = "position_net.linears.4.bias"
    folder = tmp_path / "unet"
    write_shard_set(folder, written, 2, index=False)
    second = folder / "diffusion_pytorch_model-00002-of-00002.safetensors"
    other = {k: written[k] for k in shard_keys(second)}
    write_merged(folder / "diffusion_pytorch_model-00001-of-00002.safetensors",
                 {**{k: written[k] for k in written if k not in other}, key: written[key]})
    text = message_for(lambda: load_gligen_checkpoint(folder))
    assert f"The shards of '{tmp_path.name}/unet/' do not fit together: the tensor '{key}' is in both" in text
    assert "download the whole folder again" in text


@pytest.mark.bad_input
def test_shards_and_index_that_disagree_are_refused(tmp_path: Path) -> None:
    folder, shards, written = sharded(tmp_path, 2)
    index = json.loads((folder / INDEX).read_text())
    moved = next(k for k, v in index["weight_map"].items() if v == shards[0].name and ".fuser." in k)
    index["weight_map"][moved] = shards[1].name
    (folder / INDEX).write_text(json.dumps(index))
    text = message_for(lambda: load_gligen_checkpoint(folder))
    assert f"'{shards[0].name}' holds '{moved}', which the index puts in '{shards[1].name}'" in text
    index["weight_map"][moved] = shards[0].name
    index["weight_map"]["position_net.extra"] = shards[1].name
    (folder / INDEX).write_text(json.dumps(index))
    text = message_for(lambda: load_gligen_checkpoint(folder))
    assert f"the index puts 'position_net.extra' in '{shards[1].name}', which does not hold it" in text


@pytest.mark.bad_input
def test_a_folder_without_a_set_or_with_several_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "holds no shard set" in message_for(lambda: load_gligen_checkpoint(empty))
    folder, _, written = sharded(tmp_path, 2)
    write_shard_set(folder, written, 2, variant="fp16")
    assert "holds several shard indexes" in message_for(lambda: load_gligen_checkpoint(folder))
    assert_loaded(load_gligen_checkpoint(folder / "diffusion_pytorch_model.fp16-00002-of-00002.safetensors"), written)
    (folder / INDEX).unlink()
    (folder / "diffusion_pytorch_model.safetensors.index.fp16.json").unlink()
    assert "holds several shard sets" in message_for(lambda: load_gligen_checkpoint(folder))


# ---- the loader's folder entries ----------------------------------------------------------------------------
def test_the_loader_lists_one_entry_per_shard_folder(models_gligen: Path) -> None:
    from gligen_suite.nodes.loader_node import gligen_choices

    tensors = unet_tensors()
    write_shard_set(models_gligen / "gligen-xl-1024" / "unet", tensors, 3)
    write_shard_set(models_gligen / "numbered", tensors, 2, index=False)
    custom = models_gligen / "custom"
    write_merged(custom / "weights_a.safetensors", tensors)
    (custom / INDEX).write_text(json.dumps({"weight_map": {k: "weights_a.safetensors" for k in tensors}}))
    write_merged(models_gligen / "plain" / "gligen_sd14.safetensors", gligen_part(tensors))
    write_shard_set(models_gligen, tensors, 2)  # a set directly in the root: its shards are the entries
    choices = gligen_choices()
    folders = [c for c in choices if c.endswith("/")]
    assert folders == ["custom/", "gligen-xl-1024/unet/", "numbered/"]
    assert {"gligen-xl-1024/unet/diffusion_pytorch_model-00002-of-00003.safetensors", "plain/gligen_sd14.safetensors",
            "diffusion_pytorch_model-00001-of-00002.safetensors"} <= set(choices)
    assert choices == sorted(choices)


def test_a_folder_entry_and_a_shard_load_the_set_through_the_loader(models_gligen: Path) -> None:
    from gligen_suite.nodes.loader_node import GligenLoader

    written = unet_tensors()
    write_shard_set(models_gligen / "gligen-xl-1024" / "unet", written, 3)
    for name in ("gligen-xl-1024/unet/", "gligen-xl-1024/unet/diffusion_pytorch_model-00003-of-00003.safetensors"):
        gligen = GligenLoader.execute(name).result[0]
        assert gligen.model.info.startswith("gligen-xl-1024/unet/: GLIGEN text-box, 70 fusers")
        key = "up_blocks.1.attentions.2.transformer_blocks.1.fuser.linear.weight"
        assert torch.equal(gligen.model.fusers[69].linear.weight, written[key])


@pytest.mark.bad_input
@pytest.mark.parametrize("name", ["../", "../../etc/", "/etc/", "gligen-xl-1024/unet/../../../", "gligen-xl-1024/",
                                  "gligen-xl-1024/unet/./", "gligen-xl-1024//unet/", "plain/"])
def test_folder_names_the_loader_does_not_list_are_refused(models_gligen: Path, name: str) -> None:
    from gligen_suite.nodes.loader_node import GligenLoader

    write_shard_set(models_gligen / "gligen-xl-1024" / "unet", unet_tensors(), 2)
    write_merged(models_gligen / "plain" / "gligen_sd14.safetensors", gligen_part(unet_tensors()))
    text = message_for(lambda: GligenLoader.execute(name))
    assert "is not in models/gligen (or holds no shard set)" in text
    assert GligenLoader.fingerprint_inputs(name) is None


def test_the_fingerprint_covers_every_file_of_a_set(models_gligen: Path) -> None:
    """A shard replaced under its name (or a new index) changes the fingerprint of the folder entry and of
    every shard's entry, so ComfyUI reads the set again."""
    from gligen_suite.nodes.loader_node import GligenLoader

    folder = models_gligen / "gligen-xl-1024" / "unet"
    shards = write_shard_set(folder, unet_tensors(), 3)
    names = ["gligen-xl-1024/unet/", f"gligen-xl-1024/unet/{shards[0].name}"]
    before = [GligenLoader.fingerprint_inputs(n) for n in names]
    assert all(b is not None and len(b) == 5 for b in before)  # 3 shards, the index, the projection choice
    assert before == [GligenLoader.fingerprint_inputs(n) for n in names]
    replacement = folder / "new.part"
    replacement.write_bytes(shards[2].read_bytes())
    os.replace(replacement, shards[2])
    after = [GligenLoader.fingerprint_inputs(n) for n in names]
    assert all(a != b for a, b in zip(after, before, strict=True))
    (folder / INDEX).write_text((folder / INDEX).read_text() + " ")
    assert all(a != b for a, b in zip((GligenLoader.fingerprint_inputs(n) for n in names), after, strict=True))
