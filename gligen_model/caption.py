"""Does an object's phrase occur in the caption (the prompt)? GLIGEN places an object best when the prompt also
names it (the paper grounds words of the caption, or adds objects the caption never mentions).

A phrase occurs when its words stand consecutively in the caption, compared word by word:
- case, punctuation and Unicode normalization (NFKC) do not matter: "Red-Apple" is "red apple";
- whole words only: "cat" does not occur in "category";
- simple English plurals match both ways: cat/cats, box/boxes, berry/berries, leaf/leaves, knife/knives,
  house/houses, plus a few irregular ones (man/men, child/children, mouse/mice, ...);
- "a", "an" and "the" at the start of the phrase are ignored ("a red cat" occurs in "the red cat");
- Han ideographs and kana, written without spaces, are one word each, so "猫" occurs in "一只红色的猫";
- a phrase without letters or digits (an emoji, symbols) occurs where its text does, as typed.

Spans are (start, end) character offsets (Python string indices) into the caption, end exclusive.
Pure Python; the work is linear in the caption and the phrase, both bounded before it starts.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import GligenInputError
from .layout import MAX_PHRASE_CHARS

# A long prompt is a few hundred words; ten thousand characters leave room for any prompt CLIP reads in chunks.
MAX_CAPTION_CHARS = 10_000
ARTICLES = frozenset({"a", "an", "the"})
# Plurals the suffix rules below do not reach, as their singulars (both sides are compared as singulars).
IRREGULAR = {"men": "man", "women": "woman", "children": "child", "people": "person", "mice": "mouse",
             "feet": "foot", "teeth": "tooth", "geese": "goose"}
# Scripts written without spaces between words: every character is a word of its own.
_SOLO_RANGES = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3134F))
_CLAUSE_ENDS = (",", ";", ".", "!", "?")  # a caption ending in one of these gets the phrases after a space
_SEPARATOR = "\x00"  # never part of a word's key (keys are made of letters, digits and marks)

Span = tuple[int, int]


@dataclass(frozen=True)
class Word:
    """A word of a text: its comparison key and where it stands (start, end: character offsets)."""

    key: str
    start: int
    end: int


@dataclass(frozen=True)
class CaptionMatch:
    """What the caption says of a list of phrases.

    caption: the caption as the node outputs it (with the missing phrases appended when asked);
    spans: per phrase, where it occurs in the input caption, or None (missing, an empty phrase, no caption);
    missing: indices of the non-empty phrases the caption does not contain; appended: the phrases added.
    """

    caption: str
    spans: tuple[Span | None, ...]
    missing: tuple[int, ...]
    appended: tuple[str, ...]


def check_caption(caption: object) -> str:
    """The caption if it is text of at most MAX_CAPTION_CHARS characters, else a GligenInputError."""
    if not isinstance(caption, str):
        raise GligenInputError(f"The caption must be text (a STRING), got a {type(caption).__name__}: connect the "
                               "prompt's text, e.g. a String node that also feeds CLIP Text Encode.")
    if len(caption) > MAX_CAPTION_CHARS:
        raise GligenInputError(f"The caption is {len(caption):,} characters long; the limit is "
                               f"{MAX_CAPTION_CHARS:,}. Connect the prompt text itself, not a file or a log.")
    return caption


def _is_solo(ch: str) -> bool:
    code = ord(ch)
    return any(low <= code <= high for low, high in _SOLO_RANGES)


def _is_word_char(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LNM"  # letters, digits, combining marks


def _singular(word: str) -> str:
    """A key shared by an English word and its simple plural: the plural's -s / -es dropped, then a final e
    dropped and a final y or f spelt i or v, so berry/berries, house/houses and leaf/leaves meet."""
    word = IRREGULAR.get(word, word)
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if len(word) > 2 and word.endswith("e"):
        word = word[:-1]
    if word.endswith("y"):
        return word[:-1] + "i"
    if word.endswith("f"):
        return word[:-1] + "v"
    return word


def _folded(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def word_key(word: str) -> str:
    """How a word is compared: NFKC, case-folded, and for an English (ASCII) word its singular key."""
    key = _folded(word)
    return _singular(key) if key.isascii() and key.isalpha() else key


def words(text: str) -> list[Word]:
    """The words of `text` (runs of letters, digits and combining marks; a Han or kana character alone)."""
    found: list[Word] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if _is_solo(ch):
            found.append(Word(word_key(ch), i, i + 1))
            i += 1
        elif _is_word_char(ch):
            j = i + 1
            while j < n and _is_word_char(text[j]) and not _is_solo(text[j]):
                j += 1
            found.append(Word(word_key(text[i:j]), i, j))
            i = j
        else:
            i += 1
    return found


def phrase_keys(phrase: str) -> list[str]:
    """The keys of a phrase's words without leading articles (kept when the phrase is nothing else)."""
    if len(phrase) > MAX_PHRASE_CHARS:
        raise GligenInputError(f"The phrase is {len(phrase):,} characters long; the limit is {MAX_PHRASE_CHARS:,}. "
                               "Shorten it to a few words naming the object.")
    found = words(phrase)
    keys = [w.key for w in found]
    start = 0
    while start < len(keys) and _folded(phrase[found[start].start:found[start].end]) in ARTICLES:
        start += 1
    return keys[start:] if start < len(keys) else keys


class _Caption:
    """A caption's words, joined once so that each phrase is one substring search."""

    def __init__(self, caption: str) -> None:
        self.text = check_caption(caption)
        self.words = words(caption)
        self.joined = _SEPARATOR + _SEPARATOR.join(w.key for w in self.words) + _SEPARATOR
        self.starts: list[int] = []  # where each word's key starts in `joined`
        offset = 1
        for word in self.words:
            self.starts.append(offset)
            offset += len(word.key) + 1

    def find(self, phrase: str) -> Span | None:
        keys = phrase_keys(phrase)
        if not keys:  # no letters or digits (an emoji, symbols): the text itself, as typed
            symbols = phrase.strip()
            at = self.text.find(symbols) if symbols else -1
            return (at, at + len(symbols)) if at >= 0 else None
        at = self.joined.find(_SEPARATOR + _SEPARATOR.join(keys) + _SEPARATOR)
        if at < 0:
            return None
        first = bisect_left(self.starts, at + 1)
        return self.words[first].start, self.words[first + len(keys) - 1].end


def find_phrase(caption: str, phrase: str) -> Span | None:
    """Where `phrase` first occurs in `caption` (see the module docstring), or None."""
    return _Caption(caption).find(phrase)


def phrase_spans(caption: str, phrases: Sequence[str]) -> list[Span | None]:
    """find_phrase for each phrase, reading the caption once."""
    text = _Caption(caption)
    return [text.find(p) for p in phrases]


def _identity(phrase: str) -> tuple[str, ...]:
    """What makes two phrases the same for the caption: their word keys (the text for a phrase without words);
    () for an empty phrase."""
    keys = phrase_keys(phrase)
    symbols = phrase.strip()
    return tuple(keys) if keys else ((symbols,) if symbols else ())


def distinct_phrases(phrases: Sequence[str]) -> list[str]:
    """The non-empty phrases, stripped, each only the first time its words occur."""
    seen: set[tuple[str, ...]] = set()
    kept: list[str] = []
    for phrase in phrases:
        identity = _identity(phrase)
        if identity and identity not in seen:
            seen.add(identity)
            kept.append(phrase.strip())
    return kept


def match_caption(caption: str | None, phrases: Sequence[str], append_missing: bool = False) -> CaptionMatch:
    """Which phrases the caption contains, and the caption to output: without a caption (None) the phrases
    joined ("a red ball, a lamp"); with one, the caption as it is, or (append_missing) with the phrases it does
    not contain appended after ", " (after a space where the caption ends in , ; . ! or ?)."""
    if caption is None:
        return CaptionMatch(", ".join(distinct_phrases(phrases)), (None,) * len(phrases), (), ())
    spans = tuple(phrase_spans(caption, phrases))
    missing = tuple(i for i, (p, s) in enumerate(zip(phrases, spans, strict=True)) if s is None and _identity(p))
    if not append_missing or not missing:
        return CaptionMatch(caption, spans, missing, ())
    appended = tuple(distinct_phrases([phrases[i] for i in missing]))
    head = caption.rstrip()
    separator = "" if not head else " " if head.endswith(_CLAUSE_ENDS) else ", "
    return CaptionMatch(head + separator + ", ".join(appended), spans, missing, appended)
