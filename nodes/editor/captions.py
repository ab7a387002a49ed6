"""Text-Box Encode's caption: what the node tells the user and the editor about the phrases the caption names.

- The node's UI text (`text`, as ComfyUI's PreviewText writes it; also in /history): a line per object saying
  whether its phrase is in the caption.
- CAPTION_KEY in the node's UI output: the caption the node ran with and, per object, its phrase and where it
  occurs. The box editor (web/js/editor/caption_strip.js) shows the caption's words to pick phrases from, and marks
  the objects it does not name. Offsets there are UTF-16 code units, as JavaScript strings count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...gligen_model.caption import CaptionMatch, Span
from ...gligen_model.layout import LayoutObject

CAPTION_KEY = "gligen_caption"
NOTE_PHRASE_CHARS = 60  # a phrase is quoted in the UI text up to this many characters


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= NOTE_PHRASE_CHARS else text[:NOTE_PHRASE_CHARS - 1] + "…"


def caption_note(caption: str, match: CaptionMatch, objects: Sequence[LayoutObject]) -> str:
    """One line per object: "1 a red apple: in the caption ("red apple")" or "... not in the caption"."""
    lines = []
    for i, (obj, span) in enumerate(zip(objects, match.spans, strict=True), 1):
        if not obj.phrase:
            lines.append(f"{i} (image {obj.image}): no phrase")
        elif span is None:
            appended = " (appended)" if match.appended else ""
            lines.append(f"{i} {_short(obj.phrase)}: not in the caption{appended}")
        else:
            lines.append(f"{i} {_short(obj.phrase)}: in the caption (\"{_short(caption[span[0]:span[1]])}\")")
    with_phrase = sum(bool(o.phrase) for o in objects)
    head = f"Caption: names {with_phrase - len(match.missing)} of {with_phrase} phrases."
    return "\n".join([head, *lines])


def _utf16(text: str, index: int) -> int:
    """A Python string index as a JavaScript (UTF-16) one: characters outside the BMP count twice."""
    return len(text[:index].encode("utf-16-le", "surrogatepass")) // 2


def _utf16_span(text: str, span: Span | None) -> list[int] | None:
    return None if span is None else [_utf16(text, span[0]), _utf16(text, span[1])]


def caption_ui(caption: str, match: CaptionMatch, objects: Sequence[LayoutObject]) -> dict[str, list[Any]]:
    """The node's UI output for a run with a caption: the note as `text` and the editor's CAPTION_KEY entry."""
    entries = [{"phrase": o.phrase, "span": _utf16_span(caption, s)}
               for o, s in zip(objects, match.spans, strict=True)]
    return {"text": [caption_note(caption, match, objects)],
            CAPTION_KEY: [{"caption": caption, "objects": entries}]}
