"""The message a user would read for a refused input."""

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
