"""What every test level shares: the dev kit on sys.path, and one real ComfyUI server for the session.

Levels, each with its own conftest.py: unit/ (no node runs), nodes/ (the nodes in-process against the real
ComfyUI), server/ (prompts through a real ComfyUI server), browser/ (the real page in headless Chromium);
js/ holds the editors' plain-Node tests (`node --test`).
"""

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# `devkit` lives at the repository root. Appended, never inserted: the root also holds the pack's nodes/
# package, which must not shadow ComfyUI's nodes.py (see the `nodes` rule in devkit/__init__.py).
REPO_ROOT = str(Path(__file__).resolve().parents[1])
if REPO_ROOT not in sys.path:
    sys.path.append(REPO_ROOT)


# ---- one real ComfyUI server shared by the server and browser tests (each start costs ~10 s) ------
@pytest.fixture(scope="session")
def installed_front_end_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The server with the front end installed beside ComfyUI; the browser tests' matrix reuses it."""
    from devkit.comfy_server import ComfyServer

    with ComfyServer(tmp_path_factory.mktemp("comfy_server")) as srv:
        yield srv


@pytest.fixture(scope="session")
def server(installed_front_end_server: Any) -> Any:
    """The shared server (tests/browser/conftest.py gives each front end of its matrix its own)."""
    return installed_front_end_server


@pytest.fixture(scope="session")
def object_info(server: Any) -> dict[str, Any]:
    return server.object_info()


# ---- an empty models/gligen for one test (the loader's list and the converter's target) ------------------
@pytest.fixture
def models_gligen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """models/gligen = one fresh folder, the only one (so the converter writes its adapter there), for this test
    only. Needs ComfyUI imported (devkit.comfy_host.import_comfy)."""
    import folder_paths

    root = tmp_path / "models_gligen"
    root.mkdir()
    monkeypatch.setitem(folder_paths.folder_names_and_paths, "gligen",
                        ([str(root)], folder_paths.folder_names_and_paths["gligen"][1]))
    return root
