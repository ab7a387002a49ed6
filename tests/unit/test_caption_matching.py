"""gligen_model/caption.py: does an object's phrase occur in the caption, where, and the caption the node outputs.
Also: the box editor's words (web/js/editor/caption.js) are the matcher's words, and its constants are Python's."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from devkit.pack import import_pack

import_pack()
from gligen_suite.gligen_model import GligenInputError  # noqa: E402
from gligen_suite.gligen_model.caption import (  # noqa: E402
    MAX_CAPTION_CHARS,
    check_caption,
    find_phrase,
    match_caption,
    phrase_spans,
    words,
)
from gligen_suite.gligen_model.layout import MAX_PHRASE_CHARS  # noqa: E402

CAPTION_JS = Path(__file__).resolve().parents[2] / "web" / "js" / "editor" / "caption.js"


def found(caption: str, phrase: str) -> str | None:
    """The caption's text where the phrase occurs, or None."""
    span = find_phrase(caption, phrase)
    return None if span is None else caption[span[0]:span[1]]


# ---- what matches -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("caption", "phrase", "text"), [
    ("A Red Apple on a table", "a red apple", "Red Apple"),
    ("A RED APPLE", "red apple", "RED APPLE"),
    ("GÜZEL bir kedi", "güzel", "GÜZEL"),
    ("Straße am Abend", "STRASSE", "Straße"),  # case folding: ß is ss
], ids=["title-case", "upper", "turkish", "sharp-s"])
def test_case_does_not_matter(caption: str, phrase: str, text: str) -> None:
    assert found(caption, phrase) == text


@pytest.mark.parametrize(("caption", "phrase", "text"), [
    ("two cats on a mat", "a cat", "cats"),
    ("a cat on a mat", "cats", "cat"),
    ("boxes of apples", "a box", "boxes"),
    ("a box of apples", "the boxes", "box"),
    ("a bowl of berries", "berry", "berries"),
    ("one berry", "berries", "berry"),
    ("autumn leaves", "a leaf", "leaves"),
    ("three knives", "a knife", "knives"),
    ("two houses", "a house", "houses"),
    ("glasses of water", "a glass", "glasses"),
    ("red tomatoes", "a red tomato", "red tomatoes"),
    ("two churches", "church", "churches"),
    ("chocolate cookies", "a chocolate cookie", "chocolate cookies"),
    ("toys on the floor", "a toy", "toys"),
    ("three buses", "a bus", "buses"),
    ("two men and children", "a man", "men"),
    ("children", "a child", "children"),
    ("mice in a barn", "a mouse", "mice"),
])
def test_simple_plurals_match_both_ways(caption: str, phrase: str, text: str) -> None:
    assert found(caption, phrase) == text


@pytest.mark.parametrize(("caption", "phrase", "text"), [
    ("a red-brick house.", "red brick house", "red-brick house"),
    ("(red apple:1.2), photo", "a red apple", "red apple"),
    ("an apple; a vase!", "vase", "vase"),
    ("the cat's hat", "cat", "cat"),
    ("a “glass vase” …", "glass vase", "glass vase"),
    ("red\n\tapple", "red apple", "red\n\tapple"),
    ("red apple", "red, apple!", "red apple"),
], ids=["hyphen", "prompt-weight", "semicolon", "apostrophe", "quotes", "white-space", "phrase-punctuation"])
def test_punctuation_and_white_space_do_not_matter(caption: str, phrase: str, text: str) -> None:
    assert found(caption, phrase) == text


def test_leading_articles_of_the_phrase_are_ignored() -> None:
    assert found("the red cat sleeps", "a red cat") == "red cat"
    assert found("a red cat sleeps", "The red cat") == "red cat"
    assert found("an apple", "An Apple") == "apple"
    assert found("red cat", "the a red cat") == "red cat"
    # only at the start: an article inside the phrase must be there
    assert found("a cat on mat", "cat on a mat") is None
    assert found("a cat on a mat", "cat on a mat") == "cat on a mat"
    # a phrase that is only an article is looked for as it is
    assert found("the end", "The") == "the"
    assert found("a theatre", "the") is None


def test_whole_words_only() -> None:
    assert found("a category of cats", "cat") == "cats"
    assert found("a category", "cat") is None
    assert found("concatenate", "cat") is None
    assert found("scat", "cat") is None
    assert found("cat5 cable", "cat") is None
    assert found("the cathedral", "the cat") is None
    assert found("a catalogue", "a cat") is None


def test_the_phrase_words_must_be_consecutive_and_in_order() -> None:
    assert found("a red shiny apple", "red apple") is None
    assert found("an apple, red", "red apple") is None
    assert found("red, apple", "red apple") == "red, apple"  # punctuation between words does not break them
    assert find_phrase("a cat and a cat", "cat") == (2, 5)  # the first occurrence


@pytest.mark.parametrize(("caption", "phrase", "text"), [
    ("un cafe\u0301 noir", "café", "cafe\u0301"),  # é decomposed in the caption, composed in the phrase
    ("un café noir", "a cafe\u0301", "café"),
    ("ｒｅｄ ａｐｐｌｅ", "red apple", "ｒｅｄ ａｐｐｌｅ"),  # full-width letters
    ("一只红色的猫在睡觉", "红色的猫", "红色的猫"),  # Han characters are words of their own
    ("ねこがいる", "ねこ", "ねこ"),
    ("красная кошка", "Кошка", "кошка"),
    ("قطة حمراء", "حمراء", "حمراء"),
    ("a 🐱 on a mat", "🐱", "🐱"),  # no letters: the text as typed
    ("a 🐱 on a mat", "🐶", None),
    ("🐱 kitten", "kitten", "kitten"),
], ids=["decomposed-caption", "decomposed-phrase", "full-width", "han", "kana", "cyrillic", "arabic", "emoji",
        "other-emoji", "after-emoji"])
def test_unicode(caption: str, phrase: str, text: str | None) -> None:
    assert found(caption, phrase) == text


def test_unicode_spans_are_python_string_indices() -> None:
    caption = "🐱🐱 a red apple"
    start, end = find_phrase(caption, "red apple")
    assert (start, end) == (5, 14) and caption[start:end] == "red apple"


@pytest.mark.parametrize(("caption", "phrase"), [("", "a cat"), ("a cat", ""), ("", ""), ("   ", "   "),
                                                 ("a cat", "!!!"), ("...", "a cat")])
def test_empty_strings_match_nothing(caption: str, phrase: str) -> None:
    assert find_phrase(caption, phrase) is None


def test_words_are_runs_of_letters_digits_and_marks() -> None:
    text = "A red-brick house, 2 cats & 猫猫 🐱"
    assert [text[w.start:w.end] for w in words(text)] == ["A", "red", "brick", "house", "2", "cats", "猫", "猫"]
    assert words("") == [] and words(" ,.;🐱 ") == []


# ---- limits ------------------------------------------------------------------------------------------------
@pytest.mark.bad_input
def test_a_caption_over_the_limit_is_refused_before_any_work() -> None:
    check_caption("a" * MAX_CAPTION_CHARS)
    with pytest.raises(GligenInputError) as error:
        start = time.perf_counter()
        find_phrase("a " * 1_000_000, "a cat")
    assert time.perf_counter() - start < 0.1
    assert "The caption is 2,000,000 characters long; the limit is 10,000" in str(error.value)


@pytest.mark.bad_input
@pytest.mark.parametrize("caption", [5, None, ["a cat"], b"a cat"], ids=["int", "none", "list", "bytes"])
def test_a_caption_that_is_no_text_is_named(caption: object) -> None:
    with pytest.raises(GligenInputError, match="The caption must be text"):
        check_caption(caption)


@pytest.mark.bad_input
def test_a_phrase_over_the_limit_is_refused() -> None:
    assert find_phrase("a cat", "x" * MAX_PHRASE_CHARS) is None
    with pytest.raises(GligenInputError, match="The phrase is 4,001 characters long; the limit is 4,000"):
        find_phrase("a cat", "x" * (MAX_PHRASE_CHARS + 1))


def test_matching_is_linear_at_the_limits() -> None:
    """The worst cases of a naive word-by-word search (a caption of one repeated word, a long phrase of it that
    almost matches everywhere) take milliseconds: the caption is read once, each phrase is one substring search."""
    caption = ("x " * (MAX_CAPTION_CHARS // 2 - 1)).strip()
    phrases = [("x " * 1999 + "y").strip()] * 30  # 30 objects with 4,000-character phrases
    start = time.perf_counter()
    assert phrase_spans(caption, phrases) == [None] * 30
    end = len(caption) + 2
    assert phrase_spans(caption + " y", phrases[:1]) == [(end - len(phrases[0]), end)]
    mixed = "猫🐱é\u0301 Ab, " * (MAX_CAPTION_CHARS // 12)
    assert len(phrase_spans(mixed, ["猫 é\u0301 ab"] * 30)) == 30
    assert time.perf_counter() - start < 1.0


# ---- the caption the node outputs ----------------------------------------------------------------------------
def test_without_a_caption_the_output_is_the_phrases_joined() -> None:
    match = match_caption(None, ["a red ball", "", "a lamp", "the red balls"], append_missing=True)
    assert match.caption == "a red ball, a lamp"  # empty and repeated phrases (same words) once
    assert match.spans == (None, None, None, None) and match.missing == () and match.appended == ()
    assert match_caption(None, []).caption == ""


def test_with_a_caption_the_output_is_unchanged_unless_asked() -> None:
    phrases = ["a cat", "a red ball", "", "a lamp"]
    match = match_caption("A cat on a mat", phrases)
    assert match.caption == "A cat on a mat"
    assert match.spans == ((2, 5), None, None, None) and match.missing == (1, 3) and match.appended == ()


@pytest.mark.parametrize(("caption", "output"), [
    ("A cat on a mat", "A cat on a mat, a red ball, a lamp"),
    ("A cat on a mat,  ", "A cat on a mat, a red ball, a lamp"),
    ("A cat on a mat.", "A cat on a mat. a red ball, a lamp"),
], ids=["plain", "trailing-comma", "full-stop"])
def test_missing_phrases_are_appended(caption: str, output: str) -> None:
    match = match_caption(caption, ["a cat", "a red ball", "", "a lamp", "A red ball"], append_missing=True)
    assert match.caption == output
    assert match.missing == (1, 3, 4) and match.appended == ("a red ball", "a lamp")  # "A red ball" once


@pytest.mark.parametrize("caption", ["", "   "], ids=["empty", "blank"])
def test_an_empty_caption_gets_all_phrases_appended(caption: str) -> None:
    match = match_caption(caption, ["a cat", "", "a lamp"], append_missing=True)
    assert match.caption == "a cat, a lamp" and match.missing == (0, 2)
    assert match_caption(caption, ["a cat"]).caption == caption


def test_nothing_is_appended_when_every_phrase_is_there() -> None:
    match = match_caption("two cats and a lamp ", ["a cat", "the lamp", ""], append_missing=True)
    assert match.caption == "two cats and a lamp " and match.missing == () and match.appended == ()


# ---- the editor reads the same words --------------------------------------------------------------------------
def run_node(script: str) -> object:
    node = shutil.which("node")
    assert node, "node is missing: tools/setup_env.sh installs Debian's nodejs"
    module = f"import * as c from {json.dumps(str(CAPTION_JS))};\n{script}"
    printed = subprocess.run([node, "--input-type=module", "-e", module], check=True, capture_output=True, text=True)
    return json.loads(printed.stdout)


def utf16(text: str, index: int) -> int:
    return len(text[:index].encode("utf-16-le", "surrogatepass")) // 2


def test_the_editor_splits_a_caption_into_the_words_the_matcher_compares() -> None:
    captions = ["A red-brick house, 2 cats & 猫猫 🐱", "un cafe\u0301 noir… ｒｅｄ", "ねこがいる 一只红色的猫",
                "𝐁𝐨𝐥𝐝 𠀀𠀁 text", "", " ,;. ", "красная кошка; قطة حمراء", "a_b c-d e'f 3.5"]
    script = "console.log(JSON.stringify(%s.map((t) => c.captionWords(t).map((w) => [w.start, w.end]))))"
    editor = run_node(script % json.dumps(captions, ensure_ascii=True))
    python = [[[utf16(t, w.start), utf16(t, w.end)] for w in words(t)] for t in captions]
    assert editor == python


def test_the_editor_constants_are_the_python_ones() -> None:
    from devkit.comfy_host import import_comfy

    import_comfy()
    from gligen_suite.nodes.editor.captions import CAPTION_KEY

    values = run_node("console.log(JSON.stringify([c.CAPTION_KEY, c.MAX_CAPTION_CHARS, c.MAX_PHRASE_CHARS]))")
    assert values == [CAPTION_KEY, MAX_CAPTION_CHARS, MAX_PHRASE_CHARS]
