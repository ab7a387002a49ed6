"""Make a real ComfyUI importable in-process (for tests, bench and tools), pinned to the CPU by default."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
_done = False


def comfy_path() -> Path:
    """The ComfyUI checkout to test against: $COMFYUI_PATH, else <repo>/.host/ComfyUI."""
    env = os.environ.get("COMFYUI_PATH")
    return Path(env).resolve() if env else REPO_ROOT / ".host" / "ComfyUI"


def wants_gpu() -> bool:
    """True when the tests were asked to run ComfyUI on its default (GPU) device."""
    return os.environ.get("GLIGEN_TEST_DEVICE", "").lower() == "gpu"


def _put_comfy_first(path: Path) -> None:
    """ComfyUI's folder at sys.path[0], ahead of the repository root (see the devkit package docstring).

    ComfyUI's top-level `nodes` (nodes.py) and this pack's `nodes/` package share a name; whichever folder
    comes first on sys.path wins `import nodes`. `python -m ...` from the repository root puts the root
    first, so an append is not enough: the ComfyUI entry is moved to the front."""
    entry = str(path)
    sys.path[:] = [p for p in sys.path if p != entry]
    sys.path.insert(0, entry)
    imported = getattr(sys.modules.get("nodes"), "__file__", None)
    if imported is not None and Path(imported).resolve() != (path / "nodes.py").resolve():
        raise RuntimeError(f"`nodes` was imported from {imported} before import_comfy(); "
                           f"it must be ComfyUI's {path / 'nodes.py'}")


def import_comfy() -> None:
    """Put ComfyUI first on sys.path and pin it to the CPU (unless GLIGEN_TEST_DEVICE=gpu). Idempotent.

    Must run before anything imports `comfy.model_management`, which picks its device at import, and
    before anything imports `nodes` (ComfyUI's nodes.py, not this pack's nodes/ package).
    """
    global _done
    if _done:
        return
    path = comfy_path()
    if not (path / "comfy" / "model_management.py").is_file():
        raise RuntimeError(f"no ComfyUI at {path}; run tools/setup_env.sh or set COMFYUI_PATH")
    _put_comfy_first(path)
    import comfy.cli_args

    if not wants_gpu():
        comfy.cli_args.args.cpu = True
        mm = sys.modules.get("comfy.model_management")
        if mm is not None and not mm.is_device_cpu(mm.get_torch_device()):
            raise RuntimeError("comfy.model_management was imported before import_comfy(); it is not on the CPU")
    _done = True
