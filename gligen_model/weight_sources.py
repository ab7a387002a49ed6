"""Safetensors weights read lazily: one file or a diffusers shard set, and only the tensors asked for.

Every header is parsed and checked against its file's size before any data is read. Tensors are read by byte
range with plain file reads, not through a memory map: the process then holds only the tensors it keeps (a
mapped file's touched pages would count as its memory too), and the bytes of the tensors it skips (a GLIGEN-XL
file's 2.57 B frozen SDXL weights) are never touched. Each tensor is cast to the caller's dtype as it is read.

Shard sets as diffusers' `save_pretrained` writes them (huggingface_hub's splitter, 10 GB per shard by default):
`<stem>-00001-of-00003.safetensors` ... (1-based, 5 digits) beside `<stem>.safetensors.index.json` =
{"metadata": {"total_size": bytes}, "weight_map": {key: shard file name}}. A dtype variant puts its name in the
stem and before the index's ".json": `diffusion_pytorch_model.fp16-00001-of-00002.safetensors`,
`diffusion_pytorch_model.safetensors.index.fp16.json`. The index, when one names the file, is the authority;
else the numbered names are.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .errors import GligenInputError, short_repr, short_text
from .file_reading import check_regular_file, is_safetensors_header, read_head, read_weights_file

MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit
MAX_SHARDS = 1000
MAX_INDEX_BYTES = 32 * 2**20  # GLIGEN-XL's index is ~0.2 MB; the largest published LLM indexes are a few MB
MAX_FOLDER_ENTRIES = 100_000  # entries of one folder looked at for shards and indexes
MAX_LISTED = 3  # names quoted in one message
SHARD_NAME = re.compile(r"^(?P<stem>.+)-(?P<index>\d+)-of-(?P<count>\d+)\.safetensors$")
INDEX_NAME = re.compile(r"^.+\.safetensors\.index(?:\.[^.]+)?\.json$")
VARIANT_METADATA = "gligen_suite_variant"  # safetensors metadata naming the variant (written by adapter_file.py)
DTYPES: dict[str, torch.dtype] = {code: dtype for code, dtype in (
    ("F64", torch.float64), ("F32", torch.float32), ("F16", torch.float16), ("BF16", torch.bfloat16),
    ("F8_E4M3", getattr(torch, "float8_e4m3fn", None)), ("F8_E5M2", getattr(torch, "float8_e5m2", None)),
    ("F8_E4M3FNUZ", getattr(torch, "float8_e4m3fnuz", None)), ("F8_E5M2FNUZ", getattr(torch, "float8_e5m2fnuz", None)),
    ("F8_E8M0", getattr(torch, "float8_e8m0fnu", None)), ("C64", torch.complex64),
    ("I64", torch.int64), ("I32", torch.int32), ("I16", torch.int16), ("I8", torch.int8), ("U8", torch.uint8),
    ("U16", getattr(torch, "uint16", None)), ("U32", getattr(torch, "uint32", None)),
    ("U64", getattr(torch, "uint64", None)), ("BOOL", torch.bool),
) if dtype is not None}


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor's bytes lie: `start` and `end` are absolute byte offsets in `file`."""

    file: Path
    dtype: torch.dtype
    shape: tuple[int, ...]
    start: int
    end: int


@dataclass(frozen=True)
class ShardSet:
    """The files of one shard set, in shard order; `index` is None for a set known by its numbered names."""

    name: str
    shards: tuple[Path, ...]
    index: Path | None = None
    weight_map: dict[str, str] | None = None

    @property
    def files(self) -> tuple[Path, ...]:
        return self.shards + ((self.index,) if self.index is not None else ())


class SafetensorsSource:
    """The tensors of one safetensors file or shard set, by key. Key names, shapes and dtypes come from the
    headers; a tensor's data is read only by `read`."""

    def __init__(self, name: str, entries: dict[str, TensorEntry], files: tuple[Path, ...],
                 metadata: dict[str, str]) -> None:
        self.name, self.entries, self.files, self.metadata = name, entries, files, metadata

    def keys(self) -> list[str]:
        return list(self.entries)

    def __contains__(self, key: object) -> bool:
        return key in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def read(self, keys: Iterable[str], dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
        """The tensors of `keys` (in that order), floating-point ones cast to `dtype` one by one as read."""
        keys = list(dict.fromkeys(keys))
        entries = [self.entries[k] for k in keys]
        # Tensors to cast are read into one reused buffer: per-tensor buffers, freed between the kept casts,
        # would fragment the heap (+0.5 GB for GLIGEN-XL's fp32 -> fp16).
        to_cast = [e.end - e.start for e in entries if _casts(e.dtype, dtype)]
        scratch = torch.empty(max(to_cast, default=0), dtype=torch.uint8)
        tensors: dict[str, torch.Tensor] = {}
        by_file = sorted(zip(keys, entries, strict=True), key=lambda item: (str(item[1].file), item[1].start))
        for file, group in itertools.groupby(by_file, key=lambda item: item[1].file):
            try:
                with open(file, "rb", buffering=0) as f:
                    for key, entry in group:
                        buffer = scratch[:entry.end - entry.start] if _casts(entry.dtype, dtype) else None
                        tensor = read_entry(f, entry, buffer)
                        tensors[key] = cast_tensor(tensor, dtype, f"'{file.name}': '{key}'")
            except OSError as e:
                raise GligenInputError(f"Cannot read GLIGEN file '{file.name}': {e.strerror}.") from e
        return {k: tensors[k] for k in keys}


def read_entry(f: Any, entry: TensorEntry, buffer: torch.Tensor | None = None) -> torch.Tensor:
    """One tensor's bytes from an open (unbuffered) file, as a tensor of its dtype and shape, in `buffer`
    (uint8, exactly its size) or a new tensor."""
    data = torch.empty(entry.end - entry.start, dtype=torch.uint8) if buffer is None else buffer
    view, done = memoryview(data.numpy()), 0
    f.seek(entry.start)
    while done < len(view):  # one read() returns at most ~2 GB on Linux
        got = f.readinto(view[done:])
        if not got:
            raise _corrupt(entry.file, f"it ends at byte {entry.start + done:,}, inside a tensor (it became shorter "
                                       "while being read)")
        done += got
    # safetensors data is little-endian, as torch's own on every host it supports
    return data.view(entry.dtype).reshape(entry.shape)


def _casts(stored: torch.dtype, dtype: torch.dtype | None) -> bool:
    """True when cast_tensor makes a new tensor of a stored one."""
    return dtype is not None and stored.is_floating_point and dtype.is_floating_point and stored != dtype


def cast_tensor(tensor: torch.Tensor, dtype: torch.dtype | None, what: str) -> torch.Tensor:
    """`tensor` in `dtype` when both are floating point (others are left as they are, for the parser to name).
    Refuses finite values that the cast turns into infinity (fp32 weights beyond fp16's 65504)."""
    if not _casts(tensor.dtype, dtype):
        return tensor
    assert dtype is not None
    if torch.finfo(dtype).max < torch.finfo(tensor.dtype).max and tensor.numel() and tensor.element_size() > 1:
        # the cast is monotonic: if both extremes stay finite, every value does (aminmax: one fast pass)
        ends = torch.stack(torch.aminmax(tensor))
        if bool(torch.isfinite(ends).all()) and not bool(torch.isfinite(ends.to(dtype)).all()):
            kind = str(dtype).removeprefix("torch.")
            raise GligenInputError(
                f"{what} holds values beyond the range of {kind} (largest {torch.finfo(dtype).max:g}), which would "
                f"become infinity in {kind}. Load the file in float32 (start ComfyUI with --force-fp32); a {kind} "
                "copy of it cannot hold these weights.")
    return tensor.to(dtype)


# ---- headers ----------------------------------------------------------------------------------------------
def read_header(path: Path) -> tuple[dict[str, TensorEntry], dict[str, str]]:
    """A safetensors file's tensors (checked against the file's size) and its metadata; no data is read."""
    check_regular_file(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            length = int.from_bytes(f.read(8), "little") if size >= 8 else 0
            if size < 8:
                raise _corrupt(path, f"it is only {size} bytes long")
            if length > size - 8:
                raise _corrupt(path, f"its header says it is {length:,} bytes long, but the file has only "
                                     f"{size - 8:,} bytes after it")
            if length > MAX_HEADER_BYTES:
                raise _corrupt(path, f"its header of {length:,} bytes is longer than safetensors allows "
                                     f"({MAX_HEADER_BYTES:,})")
            text = f.read(length)
    except OSError as e:
        raise GligenInputError(f"Cannot read GLIGEN file '{path.name}': {e.strerror}.") from e
    try:
        header = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise _corrupt(path, "its header is not valid JSON") from e
    if not isinstance(header, dict):
        raise _corrupt(path, "its header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    metadata = {k: v for k, v in metadata.items() if isinstance(v, str)} if isinstance(metadata, dict) else {}
    data_start = 8 + length
    entries = {key: _entry(path, key, info, data_start, size) for key, info in header.items()}
    return entries, metadata


def _entry(path: Path, key: str, info: Any, data_start: int, size: int) -> TensorEntry:
    what = f"tensor '{short_text(key, 80)}'"
    if not isinstance(info, dict):
        raise _corrupt(path, f"{what} has no dtype, shape and data offsets")
    dtype = DTYPES.get(info.get("dtype")) if isinstance(info.get("dtype"), str) else None
    if dtype is None:
        raise GligenInputError(
            f"'{path.name}': {what} has the dtype {short_repr(info.get('dtype'), 20)}, which cannot be read here "
            "(GLIGEN weights are floating point: F16, BF16 or F32). Use the published file, or convert it with the "
            "tool that made it.")
    shape, offsets = info.get("shape"), info.get("data_offsets")
    if not (isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape)):
        raise _corrupt(path, f"{what} has the shape {short_text(shape, 40)}, not a list of sizes")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(n) is int for n in offsets)
            and 0 <= offsets[0] <= offsets[1]):
        raise _corrupt(path, f"{what} has the data offsets {short_text(offsets, 40)}, not [begin, end]")
    nbytes = math.prod(shape) * dtype.itemsize
    if offsets[1] - offsets[0] != nbytes:
        raise _corrupt(path, f"{what} of shape {tuple(shape)} needs {nbytes:,} bytes, but its data offsets span "
                             f"{offsets[1] - offsets[0]:,}")
    if data_start + offsets[1] > size:
        raise _corrupt(path, f"{what} ends at byte {data_start + offsets[1]:,}, past the end of the file "
                             f"({size:,} bytes)")
    return TensorEntry(path, dtype, tuple(shape), data_start + offsets[0], data_start + offsets[1])


def _corrupt(path: Path, problem: str) -> GligenInputError:
    return GligenInputError(f"'{path.name}' is a corrupt or truncated safetensors file: {problem}. "
                            "Download it again.")


# ---- shard sets ---------------------------------------------------------------------------------------------
def is_shard_name(name: str) -> bool:
    """True for a numbered shard's file name (`X-00002-of-00003.safetensors`)."""
    return SHARD_NAME.match(name) is not None


def holds_shard_index(folder: str | Path) -> bool:
    """True when `folder` holds a safetensors index json (looking at a bounded number of its entries)."""
    return bool(_index_files(Path(folder), refuse_huge=False))


def set_name(folder: Path) -> str:
    """How messages name a shard set: its folder and the folder's parent, e.g. "gligen-xl-1024/unet/"."""
    return f"{folder.parent.name}/{folder.name}/" if folder.parent.name else f"{folder.name}/"


def find_shard_set(path: str | Path) -> ShardSet | None:
    """The shard set `path` names: a folder's (it must hold one), or the set a file belongs to (an index json
    beside it lists it, or it has a numbered shard's name); None for a file of no set."""
    path = Path(path)
    if path.is_dir():
        return _folder_set(path)
    for index in _index_files(path.parent):
        weight_map = read_index(index)
        if path.name in weight_map.values():
            return _indexed_set(index, weight_map)
    match = SHARD_NAME.match(path.name)
    return _numbered_set(path.parent, path.name) if match else None


def source_files(path: str | Path) -> tuple[Path, ...]:
    """Every file a load of `path` reads (a set's shards and index), without reading any weights."""
    found = find_shard_set(path)
    return found.files if found is not None else (Path(path),)


def read_index(index: Path) -> dict[str, str]:
    """An index json's weight_map {key: shard file name}, checked: a bare .safetensors name per key, at most
    MAX_SHARDS files."""
    check_regular_file(index)
    fix = f"Download '{index.name}' again, or delete it to load the numbered shards without it."
    try:
        size = index.stat().st_size
        text = index.read_bytes() if size <= MAX_INDEX_BYTES else b""
    except OSError as e:
        raise GligenInputError(f"Cannot read shard index '{index.name}': {e.strerror}.") from e
    if size > MAX_INDEX_BYTES:
        raise GligenInputError(f"Shard index '{index.name}' is {size:,} bytes, more than an index can be "
                               f"({MAX_INDEX_BYTES:,}): it is not a safetensors index. {fix}")
    try:
        content = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise GligenInputError(f"Shard index '{index.name}' is not valid JSON (it is damaged or cut short). "
                               f"{fix}") from e
    weight_map = content.get("weight_map") if isinstance(content, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise GligenInputError(f"Shard index '{index.name}' has no \"weight_map\" (which names the shard of each "
                               f"tensor), so it is not a safetensors index. {fix}")
    bad = sorted({repr(v)[:60] for v in weight_map.values() if not _is_bare_shard_name(v)})
    if bad or not all(isinstance(k, str) for k in weight_map):
        raise GligenInputError(
            f"Shard index '{index.name}' names shard files that are not .safetensors files beside it "
            f"({', '.join(bad[:MAX_LISTED]) or 'keys that are not strings'}); only files in its own folder are "
            f"read. {fix}")
    if len(set(weight_map.values())) > MAX_SHARDS:
        raise GligenInputError(f"Shard index '{index.name}' names {len(set(weight_map.values())):,} shard files, "
                               f"more than {MAX_SHARDS}; no GLIGEN file is split that finely. {fix}")
    return weight_map


def open_shard_set(found: ShardSet) -> SafetensorsSource:
    """The set's tensors from all its headers, which must agree: no key in two shards, and with an index,
    each key in the shard the index names."""
    entries: dict[str, TensorEntry] = {}
    metadata: dict[str, str] = {}
    for shard in found.shards:
        shard_entries, shard_metadata = read_header(shard)
        metadata = metadata or shard_metadata
        for key, entry in shard_entries.items():
            if key in entries:
                raise _disagree(found, f"the tensor '{short_text(key, 80)}' is in both '{entries[key].file.name}' "
                                       f"and '{shard.name}'")
            if found.weight_map is not None and found.weight_map.get(key) != shard.name:
                named = found.weight_map.get(key)
                where = f"in '{named}'" if named else "nowhere"
                raise _disagree(found, f"'{shard.name}' holds '{short_text(key, 80)}', which the index puts {where}")
            entries[key] = entry
    if found.weight_map is not None:
        absent = [k for k in found.weight_map if k not in entries]
        if absent:
            raise _disagree(found, f"the index puts '{short_text(absent[0], 80)}' in '{found.weight_map[absent[0]]}', "
                                   f"which does not hold it ({len(absent)} tensor(s) of the index are missing)")
    return SafetensorsSource(found.name, entries, found.files, metadata)


def _disagree(found: ShardSet, problem: str) -> GligenInputError:
    return GligenInputError(
        f"The shards of '{found.name}' do not fit together: {problem}. They come from different downloads or "
        "saves: download the whole folder again (every shard and the index).")


def _is_bare_shard_name(name: Any) -> bool:
    return (isinstance(name, str) and name.endswith(".safetensors") and "/" not in name and "\\" not in name
            and "\x00" not in name and name not in (".safetensors", "..safetensors"))


def _folder_entries(folder: Path) -> list[str]:
    try:
        with os.scandir(folder) as scan:
            names = [entry.name for entry in itertools.islice(scan, MAX_FOLDER_ENTRIES + 1)]
    except OSError:
        return []
    if len(names) > MAX_FOLDER_ENTRIES:
        raise GligenInputError(f"Folder '{folder.name}' holds more than {MAX_FOLDER_ENTRIES:,} entries; a GLIGEN "
                               "shard set is looked for only in a folder of its own. Move the shards into one.")
    return names


def _index_files(folder: Path, refuse_huge: bool = True) -> list[Path]:
    try:
        names = _folder_entries(folder)
    except GligenInputError:
        if refuse_huge:
            raise
        return []
    return [folder / name for name in sorted(names) if INDEX_NAME.match(name) and (folder / name).is_file()]


def _folder_set(folder: Path) -> ShardSet:
    indexes = _index_files(folder)
    if len(indexes) == 1:
        return _indexed_set(indexes[0], read_index(indexes[0]))
    if len(indexes) > 1:
        listed = ", ".join(p.name for p in indexes[:MAX_LISTED])
        raise GligenInputError(
            f"Folder '{set_name(folder)}' holds several shard indexes ({listed}), i.e. several shard sets (e.g. "
            "fp32 and fp16). Choose one shard of the set to load instead of the folder.")
    first_of: dict[tuple[str, str], str] = {}
    for name in sorted(_folder_entries(folder)):
        if (match := SHARD_NAME.match(name)) is not None:
            first_of.setdefault((match["stem"], match["count"]), name)
    if len(first_of) == 1:
        return _numbered_set(folder, next(iter(first_of.values())))
    if first_of:
        sets = ", ".join(f"{stem}-*-of-{count}" for stem, count in list(first_of)[:MAX_LISTED])
        raise GligenInputError(f"Folder '{set_name(folder)}' holds several shard sets ({sets}). Choose one shard of "
                               "the set to load instead of the folder.")
    raise GligenInputError(
        f"Folder '{set_name(folder)}' holds no shard set (files named like diffusion_pytorch_model-00001-of-00002"
        ".safetensors, or a .safetensors.index.json). Choose the weights file inside it, or put the whole unet "
        "folder of the download there.")


def _indexed_set(index: Path, weight_map: dict[str, str]) -> ShardSet:
    folder = index.parent
    names = sorted(set(weight_map.values()))
    files = _present_shards(folder, names, f"Shard index '{index.name}' names {{missing}} shard(s) that are not in")
    return ShardSet(set_name(folder), files, index, weight_map)


def _numbered_set(folder: Path, chosen: str) -> ShardSet:
    match = SHARD_NAME.match(chosen)
    assert match is not None
    index, count, width = int(match["index"]), int(match["count"]), len(match["index"])
    if not 1 <= count <= MAX_SHARDS or not 1 <= index <= count:
        raise GligenInputError(
            f"'{short_text(chosen)}' is named as shard {index} of {count}, which no shard set can be (shards count "
            f"from 1, at most {MAX_SHARDS}). Rename it as it was downloaded.")
    names = [f"{match['stem']}-{k:0{width}d}-of-{match['count']}.safetensors" for k in range(1, count + 1)]
    files = _present_shards(folder, names,
                            f"'{short_text(chosen)}' is shard {index} of {count}, but {{missing}} shard(s) of its set "
                            "are not in")
    return ShardSet(set_name(folder), files)


def _present_shards(folder: Path, names: list[str], missing_message: str) -> tuple[Path, ...]:
    """The shard files `names` in `folder`, each a regular file; else GligenInputError: `missing_message` (with
    "{missing}", the count) + the folder and the missing names."""
    missing = [n for n in names if not os.path.lexists(folder / n)]
    if missing:
        raise GligenInputError(
            f"{missing_message.format(missing=len(missing))} '{set_name(folder)}': {', '.join(missing[:MAX_LISTED])}. "
            "Download the missing shard(s) into that folder; the whole set is read.")
    for name in names:
        check_regular_file(folder / name)
    return tuple(folder / n for n in names)


# ---- the entry point -----------------------------------------------------------------------------------------
def open_weights(path: str | Path) -> SafetensorsSource | dict[str, Any]:
    """A weights file, shard set or shard folder: safetensors as a lazy SafetensorsSource, torch files (.pth,
    .bin, .ckpt) read as file_reading.read_weights_file reads them."""
    path = Path(path)
    if path.is_dir():
        return open_shard_set(_folder_set(path))
    if not is_safetensors_header(read_head(path)):
        return read_weights_file(path)
    found = find_shard_set(path)
    if found is not None:
        return open_shard_set(found)
    entries, metadata = read_header(path)
    return SafetensorsSource(path.name, entries, (path,), metadata)
