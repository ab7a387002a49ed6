"""Import this repository as the package `gligen_suite`, the way ComfyUI imports a custom node."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from .comfy_host import REPO_ROOT

PACK_NAME = "gligen_suite"


def import_pack() -> ModuleType:
    """The pack's root package; `gligen_suite.gligen_model` needs no ComfyUI, `gligen_suite.nodes` does."""
    if PACK_NAME in sys.modules:
        return sys.modules[PACK_NAME]
    spec = importlib.util.spec_from_file_location(
        PACK_NAME, REPO_ROOT / "__init__.py", submodule_search_locations=[str(REPO_ROOT)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACK_NAME] = module
    spec.loader.exec_module(module)
    return module
