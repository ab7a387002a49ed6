"""Server tests: prompts through a real ComfyUI server (the session's `server`, from tests/conftest.py)."""

from typing import Any

import pytest

from devkit.api_graphs import provide_models


@pytest.fixture(scope="session")
def models_server(server: Any) -> Any:
    """The session's server with the tiny stand-in checkpoint and GLIGEN files in its models folders."""
    provide_models(server)
    return server
