"""Hostile uploads (issue 23, finding 6): word lists and sentence files read the same way, nothing lost silently.

Engine level: the Data page and the Adapter lab feed their uploads to these same functions (their AppTests check
what the pages show). Each case failed before core/data/uploads.py became the one decoder both parsers use.
"""

from __future__ import annotations

import pytest

from core.data.corpus import VocabularyError, csv_columns, parse_vocabulary
from core.data.sentences import sentences_from_paste, sentences_from_upload
from tests.hostile.test_inputs import sentence

HIDDEN = [
    "zero\u200bwidth",
    "bidi \u202eevil\u202c text",
    "joined\u2060word",
    "soft\u00adhyphen",
    "isolate \u2066x\u2069 here",
]


# ---- one text cleaner: invisible characters are dropped from sentences exactly as from words ----------------


@pytest.mark.parametrize("line", HIDDEN)
def test_invisible_characters_are_dropped_from_sentences_as_from_words(line):
    lines = ["first plain line", line, "second plain line"]
    vocab = parse_vocabulary("\n".join(lines).encode(), "w.txt")
    texts = sentences_from_paste("\n".join(lines))
    assert vocab.words == ["first plain line", "second plain line"]
    assert list(texts.texts) == vocab.words  # the same rule on both sides
    assert texts.dropped["control or invisible characters"] == 1  # counted, under the same reason as the words'
    assert "control or invisible characters" in texts.summary()


def test_uploaded_sentences_drop_invisible_characters_too():
    s = sentences_from_upload("t.txt", "a visible text\nan in\u200bvisible one\n".encode())
    assert s.texts == ("a visible text",)


# ---- CSV: quoted cells are one cell, and a row that does not fit the header is counted ---------------------


def test_a_quoted_csv_cell_with_a_comma_stays_whole():
    vocab = parse_vocabulary(b'word\n"+SUM(1,2)"\napple\n"say ""hi"""\n', "f.csv")
    assert vocab.words == ["+SUM(1,2)", "apple", 'say "hi"']
    assert "nothing was dropped" in vocab.summary()


def test_an_unquoted_comma_is_never_silently_cut():
    vocab = parse_vocabulary(b"word\n+SUM(1,2)\napple\npear\n", "f.csv")
    assert "+SUM(1" not in vocab.words and vocab.words == ["apple", "pear"]
    summary = vocab.summary()
    assert "nothing was dropped" not in summary and "dropped 1" in summary and "more cells than the header" in summary


def test_blank_csv_lines_are_counted():
    vocab = parse_vocabulary(b"word\napple\n\n\npear\n", "f.csv")
    assert vocab.words == ["apple", "pear"] and vocab.dropped["empty line"].count == 2


def test_csv_sentences_count_rows_that_do_not_fit_the_header():
    s = sentences_from_upload("t.csv", b'text\n"one, quoted"\ntwo, unquoted\nthree\n')
    assert s.texts == ("one, quoted", "three")
    assert "more cells than the header" in s.summary() and "left out: 1" in s.summary()


# ---- encodings: UTF-16 is text, not "a binary file" ---------------------------------------------------------

WORDS = "café\nnaïve\nstraße\nplain\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_text_in_any_common_encoding_is_read(encoding):
    data = WORDS.encode(encoding)
    assert parse_vocabulary(data, "w.txt").words == ["café", "naïve", "straße", "plain"]
    assert sentences_from_upload("t.txt", data).texts == ("café", "naïve", "straße", "plain")


def test_a_utf16_csv_offers_its_columns():
    data = "id,word\n1,apple\n2,pear\n".encode("utf-16")
    assert csv_columns(data) == ["id", "word"]
    assert parse_vocabulary(data, "f.csv", column="word").words == ["apple", "pear"]


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00", bytes(range(256)) * 4])
def test_binary_files_are_still_refused(data):
    with pytest.raises(VocabularyError, match="binary") as err:
        parse_vocabulary(data, "w.txt")
    sentence(str(err.value))
    with pytest.raises(ValueError, match="binary"):
        sentences_from_upload("t.txt", data)


# ---- one decoder: the same file gets the same sentence from both parsers ------------------------------------


@pytest.mark.parametrize("data", [b"\x00\x01\x02\x03\xff", "café".encode("latin-1"), b"x" * 3000])
def test_words_and_sentences_refuse_a_file_with_the_same_sentence(data):
    from core.data import sentences

    with pytest.raises(VocabularyError) as words_err:
        parse_vocabulary(data, "same.txt", max_bytes=2000)
    limit = sentences.MAX_BYTES
    try:
        sentences.MAX_BYTES = 2000
        with pytest.raises(ValueError) as texts_err:
            sentences_from_upload("same.txt", data)
    finally:
        sentences.MAX_BYTES = limit
    assert str(words_err.value) == str(texts_err.value)


def test_a_five_thousand_character_name_is_not_echoed_in_full():
    name = "x" * 5000 + ".txt"
    with pytest.raises(VocabularyError) as err:
        parse_vocabulary(b"\x00binary", name)
    assert len(str(err.value)) < 200
    sentence(str(err.value))
    with pytest.raises(ValueError) as err:
        sentences_from_upload(name, b"\x00binary")
    assert len(str(err.value)) < 200
    assert len(parse_vocabulary(b"a\nb\n", name).source) <= 40


# ---- the Adapter lab shows a file's name and its texts as text, never as Markdown -------------------------------


@pytest.mark.parametrize("data", [b"one text\nanother text\n", b"\x00binary"], ids=["texts", "refused"])
def test_the_adapter_lab_shows_an_uploaded_name_as_text(data):
    from tests.app.apphelpers import make_app

    at = make_app("adapters")
    at.radio(key="adapter_source").set_value("upload").run()
    at.file_uploader(key="adapter_file").set_value(("**x** [a](http://evil.example).txt", data, "text/plain")).run()
    assert not at.exception, [e.value for e in at.exception]
    rendered = [e.value for kind in (at.markdown, at.caption, at.success, at.info, at.warning, at.error) for e in kind]
    assert any("x" in v and "evil" in v for v in rendered)  # the name is on the page...
    assert not any("**x**" in v or "](http" in v for v in rendered), rendered  # ...as text
