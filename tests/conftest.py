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


# ---- one headless Chromium on one ComfyUI page, shared by the browser tests --------------------
import os  # noqa: E402
from pathlib import Path  # noqa: E402


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Screenshots go to $GLIGEN_ARTIFACTS_DIR when set, else to a pytest temp dir."""
    folder = os.environ.get("GLIGEN_ARTIFACTS_DIR")
    if not folder:
        return tmp_path_factory.mktemp("browser_artifacts")
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def browser_page(server: Any, artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from support.browser import open_comfy_page

    with open_comfy_page(server, tmp_path_factory.mktemp("browser"), artifacts_dir) as page:
        yield page


@pytest.fixture
def comfy_page(browser_page: Any) -> Iterator[Any]:
    """The shared page; the test fails if it raised a page error or a gligen console error."""
    seen = len(browser_page.errors)
    yield browser_page
    assert not browser_page.new_errors(seen), "\n".join(browser_page.new_errors(seen))


@pytest.fixture(scope="session")
def tiny_host(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The tiny SD1.5 (model, clip) and a matching GLIGEN file, loaded in-process once for the bad_input modules."""
    from support.comfy_run import load_tiny_host

    return load_tiny_host(tmp_path_factory.mktemp("tiny_host"))
