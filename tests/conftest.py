"""Shared test set-up: make `support` importable (pytest runs with --import-mode=importlib)."""

import sys
from pathlib import Path

TESTS_DIR = str(Path(__file__).resolve().parent)
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)


# ---- one real ComfyUI server shared by the server tests (each start costs ~10 s) ----------------
from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from support.server import ComfyServer

    with ComfyServer(tmp_path_factory.mktemp("comfy_server")) as srv:
        yield srv


@pytest.fixture(scope="session")
def object_info(server: Any) -> dict[str, Any]:
    return server.object_info()
