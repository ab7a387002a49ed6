"""Built test files (random-weight checkpoints) kept between runs in one temp folder, written race-free."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

CACHE_DIR_NAME = "gligen_suite_test_cache"


def cache_dir() -> Path:
    """Where built checkpoints are kept between test runs."""
    return Path(tempfile.gettempdir()) / CACHE_DIR_NAME


def cached_file(name: str, write: Callable[[Path], None]) -> Path:
    """cache_dir()/name, written by `write(path)` on first use; safe when processes race."""
    path = cache_dir() / name
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.partial")
    try:
        write(partial)
        partial.chmod(0o644)  # safetensors writes 0600; let a ComfyUI server running as another user read it
        os.replace(partial, path)  # atomic: readers see no file or a whole one
    finally:
        partial.unlink(missing_ok=True)
    return path
