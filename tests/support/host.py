"""Make a real ComfyUI importable in-process for the tests (no conftest needed)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
_done = False


def comfy_path() -> Path:
    """The ComfyUI checkout to test against: $COMFYUI_PATH, else <repo>/.host/ComfyUI."""
    env = os.environ.get("COMFYUI_PATH")
    return Path(env).resolve() if env else REPO_ROOT / ".host" / "ComfyUI"


def wants_gpu() -> bool:
    """True when the tests were asked to run ComfyUI on its default (GPU) device."""
    return os.environ.get("GLIGEN_TEST_DEVICE", "").lower() == "gpu"


def import_comfy() -> None:
    """Put ComfyUI on sys.path and pin it to the CPU (unless GLIGEN_TEST_DEVICE=gpu). Idempotent.

    Must run before anything imports `comfy.model_management`, which picks its device at import.
    """
    global _done
    if _done:
        return
    path = comfy_path()
    if not (path / "comfy" / "model_management.py").is_file():
        raise RuntimeError(f"no ComfyUI at {path}; run tools/setup_env.sh or set COMFYUI_PATH")
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
    import comfy.cli_args

    if not wants_gpu():
        comfy.cli_args.args.cpu = True
        mm = sys.modules.get("comfy.model_management")
        if mm is not None and not mm.is_device_cpu(mm.get_torch_device()):
            raise RuntimeError("comfy.model_management was imported before import_comfy(); it is not on the CPU")
    _done = True
