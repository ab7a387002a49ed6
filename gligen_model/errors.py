"""The one exception type users see from this package, and how its messages quote what the user gave."""

from __future__ import annotations

from typing import Any

# Characters that would break a message's one line (str.splitlines' boundaries).
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")


class GligenInputError(ValueError):
    """Bad user input (file, layout, model combination); the message names the input and the fix."""


def short_repr(value: Any, limit: int = 40) -> str:
    """repr(value) for a message, at most `limit` characters: a value sent as a megabyte of text still gives a
    one-line message (repr escapes line breaks, lone surrogates and direction controls), and so do integers of
    thousands of digits (Python has no repr for them) and structures nested too deeply to print."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {len(str(value)) if value.bit_length() < 4000 else 'over 1,000'} digits"
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        text = f"a {type(value).__name__} that cannot be printed"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def short_text(value: Any, limit: int = 120) -> str:
    """Text as a message quotes it (file and combo names): as typed, cut to `limit` characters, with line breaks
    and lone UTF-16 surrogates escaped, so the message stays one line of valid UTF-8. Other values: short_repr."""
    if not isinstance(value, str):
        return short_repr(value, limit)
    text = value if len(value) <= limit else value[:limit - 3] + "..."
    return "".join(ascii(ch)[1:-1] if ch in _LINE_BREAKS or "\ud800" <= ch <= "\udfff" else ch for ch in text)
