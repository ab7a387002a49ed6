"""Browser tests: the editors in the real ComfyUI page, one headless Chromium page per front end.

Every test that uses `server`, `browser_page` or `comfy_page` runs once per front end of
`devkit.browser_page.FRONT_ENDS` (ids fe1.32, fe1.58): the one ComfyUI's requirements pin, on the server the
server tests share, and today's, on a second server started with `--front-end-root`. pytest groups the
tests by front end, so each server and page starts once.
"""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devkit.browser_page import FRONT_ENDS, FrontEnd


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Screenshots go to $GLIGEN_ARTIFACTS_DIR when set, else to a pytest temp dir."""
    folder = os.environ.get("GLIGEN_ARTIFACTS_DIR")
    if not folder:
        return tmp_path_factory.mktemp("browser_artifacts")
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session", params=FRONT_ENDS, ids=[front_end.id for front_end in FRONT_ENDS])
def front_end(request: pytest.FixtureRequest) -> FrontEnd:
    return request.param


@pytest.fixture(scope="session")
def server(front_end: FrontEnd, request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The installed front end's server is the shared one; another front end gets its own server."""
    if front_end.root is None:
        yield request.getfixturevalue("installed_front_end_server")
        return
    from devkit.comfy_server import ComfyServer

    with ComfyServer(tmp_path_factory.mktemp(f"comfy_server_{front_end.id}"), front_end_root=front_end.root) as srv:
        yield srv


@pytest.fixture(scope="session")
def stand_ins_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stand-in model files, written once and linked into every front end's server."""
    return tmp_path_factory.mktemp("stand_ins")


@pytest.fixture(scope="session")
def browser_page(server: Any, front_end: FrontEnd, artifacts_dir: Path, stand_ins_dir: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One page per front end; screenshots of any but the installed one go to a sub-folder named by its id."""
    from devkit.browser_page import open_comfy_page

    artifacts = artifacts_dir if front_end.root is None else artifacts_dir / front_end.id
    artifacts.mkdir(parents=True, exist_ok=True)
    with open_comfy_page(server, tmp_path_factory.mktemp(f"browser_{front_end.id}"), artifacts, front_end,
                         stand_ins_dir) as page:
        yield page


@pytest.fixture
def comfy_page(browser_page: Any) -> Iterator[Any]:
    """The shared page; the test fails if it raised a page error or a gligen console error."""
    seen = len(browser_page.errors)
    yield browser_page
    assert not browser_page.new_errors(seen), "\n".join(browser_page.new_errors(seen))
