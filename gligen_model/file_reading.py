"""Read a weights file into a flat {key: tensor} dict without ever running code from it."""

from __future__ import annotations

import os
import pickle
import stat
import zipfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from .errors import GligenInputError

# Pickled objects from these modules are configuration data (the official files carry their
# OmegaConf training config). They are rebuilt as inert placeholders, never executed.
CONFIG_MODULES = ("omegaconf", "typing", "argparse", "pathlib")


class InertPickledObject:
    """Stand-in for a pickled configuration object: keeps its state, runs none of its code."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


def is_safetensors_header(head: bytes) -> bool:
    """True when a file's first bytes are a safetensors header: an 8-byte length, then the JSON's "{"."""
    return len(head) >= 9 and head[8:9] == b"{"


def check_regular_file(path: str | Path) -> None:
    """Refuse a dangling link and anything but a regular file (a folder, a FIFO, a device) by name, before it
    is opened: opening a FIFO waits for a writer forever."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as e:
        if not path.is_symlink():
            raise GligenInputError(f"'{path.name}' no longer exists (it was moved or deleted): put it back, "
                                   "then press 'r' to refresh the list.") from e
        try:
            target = f" to '{Path(os.readlink(path)).name}'"
        except OSError:
            target = ""
        raise GligenInputError(
            f"'{path.name}' is a symbolic link{target}, which does not exist (the file it pointed to was moved or "
            "deleted). Point the link at the downloaded checkpoint, or put the file itself in its place.") from e
    except OSError as e:
        raise GligenInputError(f"Cannot read GLIGEN file '{path.name}': {e.strerror}.") from e
    if stat.S_ISDIR(mode):
        raise GligenInputError(
            f"'{path.name}' is a folder, not a weights file. Choose the checkpoint file inside it, or put the "
            "checkpoint itself (e.g. gligen_sd14_textbox_pruned.safetensors) in models/gligen.")
    if not stat.S_ISREG(mode):
        kind = "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        raise GligenInputError(
            f"'{path.name}' is {kind}, not a regular file, so it was not opened (reading it could wait forever). "
            "Replace it with the downloaded checkpoint file.")


def read_head(path: Path) -> bytes:
    """The first 16 bytes of a regular file (fewer for a shorter one), which tell its format."""
    check_regular_file(path)
    try:
        with path.open("rb") as f:
            return f.read(16)
    except OSError as e:
        raise GligenInputError(f"Cannot read GLIGEN file '{path.name}': {e.strerror}.") from e


def read_weights_file(path: str | Path) -> dict[str, Any]:
    """Load a .safetensors or torch (.pt/.pth/.bin/.ckpt) file; raise GligenInputError with a fix."""
    path = Path(path)
    head = read_head(path)
    if not head:
        raise GligenInputError(f"GLIGEN file '{path.name}' is empty (0 bytes): download it again.")
    if head[:2] == b"PK":
        return _read_torch_zip(path)
    if head[:1] == b"\x80":
        return _read_torch_legacy(path)
    if is_safetensors_header(head):
        return _read_safetensors(path)
    raise GligenInputError(
        f"'{path.name}' is neither a safetensors nor a PyTorch file. Put a GLIGEN checkpoint "
        "(e.g. gligen_sd14_textbox_pruned.safetensors) in models/gligen.")


def _read_safetensors(path: Path) -> dict[str, Any]:
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise GligenInputError(
            f"'{path.name}' is a corrupt or truncated safetensors file ({e}). Download it again.") from e


def _read_torch_zip(path: Path) -> dict[str, Any]:
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except (RuntimeError, OSError, zipfile.BadZipFile, pickle.UnpicklingError, EOFError, ValueError) as e:
        raise GligenInputError(
            f"'{path.name}' is a corrupt or truncated PyTorch file ({_first_line(e)}). Download it again.") from e
    code = [name for name in unsafe if not name.startswith(CONFIG_MODULES)]
    if code:
        raise GligenInputError(
            f"'{path.name}' contains pickled code ({', '.join(sorted(code)[:3])}); it was not loaded because "
            "loading it could run that code. Use a safetensors GLIGEN file, or a published checkpoint.")
    stand_ins = [(InertPickledObject, name) for name in unsafe]
    try:
        with torch.serialization.safe_globals(stand_ins):
            return torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    except (RuntimeError, OSError, pickle.UnpicklingError, EOFError, ValueError, zipfile.BadZipFile) as e:
        raise GligenInputError(
            f"'{path.name}' could not be read as a PyTorch file ({_first_line(e)}). It may be corrupt or "
            "truncated: download it again.") from e


def _read_torch_legacy(path: Path) -> dict[str, Any]:
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise GligenInputError(
            f"'{path.name}' is an old-style pickle that needs code to load ({_first_line(e)}); it was not "
            "loaded because that code could do anything. Use a safetensors GLIGEN file.") from e
    except (RuntimeError, OSError, EOFError, ValueError) as e:
        raise GligenInputError(
            f"'{path.name}' is a corrupt or truncated PyTorch file ({_first_line(e)}). Download it again.") from e


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__
