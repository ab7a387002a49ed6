"""Node tests: the nodes run in-process against the real ComfyUI, on one tiny random-weight SD1.5.

The tiny host is loaded once for the whole run (`host`, session scope). Tests must never change it:
patching goes through `apply_grounding`, which clones the MODEL (tests/nodes/test_apply_sampling.py checks
that the input model is left untouched). A test that needs another host (seed, model) builds its own
fixture under a name that says how it differs.
"""

import pytest

from devkit.comfy_host import import_comfy
from devkit.in_process import TinyHost, load_tiny_host
from devkit.pack import import_pack

import_comfy()  # before anything imports comfy.model_management, folder_paths or `nodes`
import_pack()

@pytest.fixture(scope="session")
def host(tmp_path_factory: pytest.TempPathFactory) -> TinyHost:
    """The tiny SD1.5 (model, clip) and a matching text-box GLIGEN file, loaded in-process once per run."""
    return load_tiny_host(tmp_path_factory.mktemp("tiny_host"))
