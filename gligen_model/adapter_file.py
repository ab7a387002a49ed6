"""An adapter-only GLIGEN file: the trained tensors of a checkpoint (fusers, position net; and where the file has
them the downsampler, the widened first conv, CLIP-L's text projection) without the frozen base UNet.

A GLIGEN-XL `unet/` folder is a full SDXL UNet (17.5 GB fp32); its adapter is 1198 tensors, 3.62 GB in fp16
(reference 1.3, 1.8). Key names are the source's (prefixes such as "unet." aside), so the same parser reads
the adapter. The file is streamed tensor by tensor (safetensors: 8-byte little-endian header length, a JSON
header {key: {"dtype", "shape", "data_offsets"}} plus "__metadata__", padded with spaces to 8 bytes, then the
raw little-endian bytes), into a temporary file renamed at the end: peak memory is the checkpoint plus one
tensor, and an interrupted write leaves no half file under the target's name.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoint import GligenCheckpoint
from .errors import GligenInputError, short_text
from .weight_sources import DTYPES, SHARD_NAME, VARIANT_METADATA

ADAPTER_METADATA = "gligen_suite_adapter"
SAFETENSORS_CODES = {dtype: code for code, dtype in DTYPES.items()}
TRAILING_FOLDERS = ("unet",)  # a diffusers pipeline's UNet folder: the adapter is named after the pipeline


@dataclass(frozen=True)
class WrittenFile:
    """A file written: where, how many tensors, its size in bytes."""

    path: Path
    tensors: int
    size: int


def adapter_tensors(checkpoint: GligenCheckpoint) -> list[tuple[str, torch.Tensor]]:
    """The checkpoint's tensors under the source's key names, in UNet order: fusers, position net, downsampler,
    first conv (`conv_in.` in diffusers files, else `input_blocks.0.0.`), text projection (diffusers'
    `image_project.project.weight` = P^T, else the authors' `projection_matrix` = P)."""
    tensors = [(f"{fuser.block}.fuser.{k}", v) for fuser in checkpoint.fusers for k, v in fuser.state.items()]
    tensors += [(f"position_net.{k}", v) for k, v in checkpoint.position_net.items()]
    tensors += [(f"downsample_net.{k}", v) for k, v in (checkpoint.downsample_net or {}).items()]
    diffusers = checkpoint.layout == "diffusers"
    conv = "conv_in." if diffusers else "input_blocks.0.0."
    tensors += [(conv + k, v) for k, v in (checkpoint.first_conv or {}).items()]
    if checkpoint.image_projection is not None:
        p = checkpoint.image_projection
        tensors.append(("image_project.project.weight", p.T.contiguous()) if diffusers else ("projection_matrix", p))
    return tensors


def adapter_metadata(checkpoint: GligenCheckpoint, source: str) -> dict[str, str]:
    return {"format": "pt", ADAPTER_METADATA: "1", "source": source, "source_layout": checkpoint.layout,
            VARIANT_METADATA: checkpoint.variant.value, "base_model": checkpoint.base_model,
            "fusers": str(len(checkpoint.fusers))}


def adapter_file_name(source: str) -> str:
    """The default name of a source's adapter: "gligen-xl-1024/unet/" (or any shard of it) ->
    "gligen-xl-1024.safetensors"; a plain file "x.bin" -> "x_adapter.safetensors"."""
    parts = [p for p in source.replace("\\", "/").split("/") if p]
    stem = "gligen"
    if parts and not source.endswith(("/", "\\")):
        name = parts.pop()
        shard = SHARD_NAME.match(name)
        stem = shard["stem"] if shard else name.rsplit(".", 1)[0] if "." in name else name
        if not (shard or name.startswith("diffusion_pytorch_model")):
            return f"{stem}_adapter.safetensors"
    while parts and parts[-1].lower() in TRAILING_FOLDERS:
        parts.pop()
    return f"{parts[-1] if parts else stem + '_adapter'}.safetensors"


def check_adapter_file_name(name: str) -> str:
    """`name` when it is a bare file name ending in .safetensors; else a GligenInputError naming the fix."""
    separators = {"/", "\\", os.sep, os.altsep or "/"}
    if not isinstance(name, str) or any(s in name for s in separators) or "\x00" in name:
        raise GligenInputError(
            f"filename {short_text(name)} has a path separator; the adapter is always written into the first "
            "models/gligen folder. Give a bare name such as gligen-xl-1024.safetensors.")
    if not name.lower().endswith(".safetensors") or len(name) <= len(".safetensors"):
        raise GligenInputError(f"filename '{short_text(name)}' does not end in .safetensors; the adapter is a "
                               "safetensors file. Give a name such as gligen-xl-1024.safetensors.")
    return name


def check_adapter_target(target: Path, source_files: Sequence[Path], overwrite: bool) -> None:
    """Refuse writing over one of the source's files, or over an existing file unless overwrite."""
    if target.exists():
        if any(_same_file(target, f) for f in source_files):
            raise GligenInputError(
                f"'{target.name}' is the file being converted; the adapter cannot replace its own source. Give "
                "another filename.")
        if not overwrite:
            raise GligenInputError(f"'{target.name}' already exists in {target.parent}. Give another filename, or "
                                   "set overwrite to replace it.")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def write_safetensors(path: Path, tensors: Sequence[tuple[str, torch.Tensor]], metadata: dict[str, str],
                      dtype: torch.dtype | None = None) -> WrittenFile:
    """Stream `tensors` (floating-point ones cast to `dtype`, one at a time) into a safetensors file at `path`,
    through a temporary file beside it that replaces `path` once complete."""
    out_dtype = [dtype if dtype is not None and t.is_floating_point() else t.dtype for _, t in tensors]
    header: dict[str, object] = {}
    offset = 0
    for (key, tensor), kind in zip(tensors, out_dtype, strict=True):
        size = math.prod(tensor.shape) * kind.itemsize
        header[key] = {"dtype": SAFETENSORS_CODES[kind], "shape": list(tensor.shape),
                       "data_offsets": [offset, offset + size]}
        offset += size
    header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # data starts 8-byte aligned
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(len(text).to_bytes(8, "little") + text)
            for (_, tensor), kind in zip(tensors, out_dtype, strict=True):
                data = tensor.detach().to("cpu", kind).contiguous().reshape(-1)
                f.write(data.view(torch.uint8).numpy().data)  # torch stores little-endian on every host it runs on
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return WrittenFile(path, len(tensors), 8 + len(text) + offset)


def write_adapter(checkpoint: GligenCheckpoint, path: Path, source: str,
                  dtype: torch.dtype = torch.float16) -> WrittenFile:
    """The checkpoint's adapter file at `path`, in `dtype`; metadata names the source."""
    try:
        return write_safetensors(path, adapter_tensors(checkpoint), adapter_metadata(checkpoint, source), dtype)
    except OSError as e:
        raise GligenInputError(f"Cannot write '{path.name}' in {path.parent}: {e.strerror}.") from e
