"""Browser tests: the editors in the real ComfyUI page, one headless Chromium for the session."""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


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
    from devkit.browser_page import open_comfy_page

    with open_comfy_page(server, tmp_path_factory.mktemp("browser"), artifacts_dir) as page:
        yield page


@pytest.fixture
def comfy_page(browser_page: Any) -> Iterator[Any]:
    """The shared page; the test fails if it raised a page error or a gligen console error."""
    seen = len(browser_page.errors)
    yield browser_page
    assert not browser_page.new_errors(seen), "\n".join(browser_page.new_errors(seen))
