"""The message a user would read for a refused input: in-process (`message_for`) or from a server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .pack import import_pack


def message_for(fn: Callable[[], Any]) -> str:
    """Call fn, which must raise GligenInputError, and return its message.

    try/except rather than pytest.raises: an ExceptionInfo kept in a frame of its own traceback is a reference
    cycle, and the models in those frames would outlive the test until the next garbage collection (ComfyUI
    then reports them as leaked)."""
    import_pack()
    from gligen_suite.gligen_model import GligenInputError

    try:
        fn()
    except GligenInputError as error:
        return str(error)
    pytest.fail(f"{fn} raised no GligenInputError")


def server_message_for(server: Any, graph: dict[str, Any], node_type: str) -> str:
    """Run `graph` on a `comfy_server.ComfyServer`; it must fail in a node of `node_type` with a
    GligenInputError; returns the message (what the user reads in the node's red box)."""
    from .comfy_server import PromptFailed

    with pytest.raises(PromptFailed) as info:
        server.run(graph, timeout=300)
    error = info.value
    assert error.node_type == node_type, error
    assert error.exception_type is not None and error.exception_type.endswith("GligenInputError"), error
    message = error.exception_message
    assert "Traceback" not in message and 'File "' not in message and len(message) < 1000
    return message
