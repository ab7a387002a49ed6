"""Entry colours: the "#rrggbb" an object or person is drawn in by the editors, the preview and BOUNDING_BOXES."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Default colours by index when an entry has no "color" (web/js/editor/constants.js: PALETTE).
PALETTE = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45",
           "#fabed4", "#469990", "#dcbeff", "#9a6324", "#fffac8", "#800000", "#aaffc3", "#ffd8b1")


def is_hex_color(value: Any) -> bool:
    """True for "#rrggbb" (the only colour form the editors and the preview use)."""
    return (isinstance(value, str) and len(value) == 7 and value[0] == "#"
            and all(c in "0123456789abcdefABCDEF" for c in value[1:]))


def entry_colors(entries: Sequence[Any], count: int) -> list[str]:
    """"#rrggbb" per entry: its own "color" when valid, else the palette colour of its index."""
    colors = []
    for i in range(count):
        own = entries[i].get("color") if i < len(entries) and isinstance(entries[i], dict) else None
        colors.append(own if is_hex_color(own) else PALETTE[i % len(PALETTE)])
    return colors
