"""The layout widget's text, decoded once per node run, with everything the steps of a run need.

Seeding, encoding and the outputs all read one LayoutDocument: its decoded JSON (`data`, editor
keys such as "color" included, which `Layout` leaves out) and its validated `layout`, made on first
use. A seeded or converted layout becomes a new document built from its dict, so no step decodes
text again (`tests/nodes/test_layout_document.py` counts the decodes).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ...gligen_model.layout import (
    Layout,
    canonical_layout_data,
    canonical_text,
    decode_layout_text,
    layout_from_data,
)
from ...gligen_model.pose import is_openpose_data

DEFAULT_CANVAS = 512  # pixels, the canvas of a layout that does not name one


@dataclass(frozen=True)
class LayoutDocument:
    """One layout text and its decoded JSON.

    text: what the node runs with (and the editor shows); data: the decoded JSON value, None for blank
    text. `layout` validates on first use and raises the layout's GligenInputError for bad input.
    """

    text: str
    data: Any

    @classmethod
    def decode(cls, text: str) -> LayoutDocument:
        """Decode widget text (blank text gives data None; malformed text, or a value that is no text, raises the
        layout's message)."""
        return cls(text, None if isinstance(text, str) and not text.strip() else decode_layout_text(text))

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> LayoutDocument:
        """A document for a layout dict made by the pack (seeded, converted): its canonical text."""
        canonical = canonical_layout_data(data)
        return cls(canonical_text(canonical), canonical)

    @property
    def blank(self) -> bool:
        """True for text with nothing but white space."""
        return self.data is None

    @property
    def openpose(self) -> bool:
        """True when the text is an OpenPose JSON file (or POSE_KEYPOINT frames) rather than a layout."""
        return is_openpose_data(self.data)

    @property
    def fields(self) -> dict[str, Any]:
        """The top-level dict ({} for blank text; an OpenPose file's dict as it is); JSON that is no object raises the
        layout's message."""
        if self.blank:
            return {}
        if not isinstance(self.data, dict):
            layout_from_data(self.data)  # raises "must be a JSON object"
        return self.data

    @cached_property
    def layout(self) -> Layout:
        """The validated layout, made once; blank text raises "the layout is empty"."""
        if self.blank:
            decode_layout_text(self.text)  # raises the layout's "empty" message
        return layout_from_data(self.data)

    def entries(self, key: str) -> list[Any]:
        """The raw "objects" / "persons" list (editor keys included); [] when absent or not a list."""
        value = self.fields.get(key)
        return value if isinstance(value, list) else []

    def canvas(self) -> tuple[int, int]:
        """(width, height) of the layout canvas; DEFAULT_CANVAS squared for blank text."""
        if self.blank:
            return DEFAULT_CANVAS, DEFAULT_CANVAS
        return self.layout.width, self.layout.height


def as_document(layout: str | LayoutDocument) -> LayoutDocument:
    """A document for widget text (decoded here) or the document itself."""
    return layout if isinstance(layout, LayoutDocument) else LayoutDocument.decode(layout)
