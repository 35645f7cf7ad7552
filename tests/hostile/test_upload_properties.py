"""Property tests for the upload parsers (issue 23): any bytes in -> a result or the parser's sentence, never another
exception; and whatever is kept holds no control, zero-width or bidirectional-control character.

1,000 examples per parser (hypothesis profile "ci", tests/conftest.py; `make test-fast` uses "dev": 50); small
inputs on purpose (the parsers are line by line, so long inputs add time, not cases).
"""

from __future__ import annotations

import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.data.corpus import VocabularyError, csv_columns, parse_vocabulary
from core.data.sentences import sentences_from_paste, sentences_from_upload

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
HIDDEN = {"Cc", "Cf", "Cs", "Co"}

# Text that goes near the edges: controls, zero-width and bidi characters, BOMs, quotes, commas, markup, emoji.
TRICKY = st.sampled_from(
    list("\x00\x07\t\r\n\x1b\x7f\x85\u200b\u200d\u2060\u202e\u2066\ufeff\u00ad\ud7ff\ue000\"',;=+*_$[]()<>`\\ éß日😀")
)
TEXT = st.lists(st.one_of(st.characters(), TRICKY), max_size=30).map("".join)
ENCODED = st.tuples(TEXT, st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])).map(
    lambda te: te[0].encode(te[1], errors="surrogatepass")
)
CELL = st.one_of(TEXT, st.sampled_from(["word", "text", "+SUM(1,2)", '"quoted, cell"', '""', "a\nb", ""]))
CSVISH = st.lists(st.lists(CELL, min_size=0, max_size=3), max_size=5).map(
    lambda rows: "\n".join(",".join(row) for row in rows)
)
ANY_UPLOAD = st.one_of(
    st.binary(max_size=200), ENCODED, CSVISH.map(lambda s: s.encode("utf-8", errors="surrogatepass"))
)


def is_sentence(message: str) -> bool:
    return bool(message.strip()) and "\n" not in message and "Traceback" not in message


def visible_only(items) -> bool:
    return all(unicodedata.category(ch) not in HIDDEN for item in items for ch in item)


@SETTINGS
@given(
    data=ANY_UPLOAD,
    name=st.sampled_from(["w.txt", "w.csv", "W.CSV"]),
    column=st.sampled_from([None, "word", "text", ""]),
)
def test_any_upload_gives_a_vocabulary_or_a_sentence(data, name, column):
    try:
        vocab = parse_vocabulary(data, name, column)
    except VocabularyError as err:
        assert is_sentence(str(err)), str(err)
    else:
        assert len(vocab.words) >= 2 and len(set(vocab.words)) == len(vocab.words)
        assert visible_only(vocab.words) and all(w == w.strip() and w for w in vocab.words)
        assert is_sentence(vocab.summary())


@SETTINGS
@given(data=ANY_UPLOAD)
def test_any_upload_offers_columns_or_none(data):
    columns = csv_columns(data)
    assert isinstance(columns, list) and all(isinstance(c, str) for c in columns)


@SETTINGS
@given(data=ANY_UPLOAD, name=st.sampled_from(["t.txt", "t.csv"]))
def test_any_upload_gives_sentences_or_a_sentence(data, name):
    try:
        texts = sentences_from_upload(name, data)
    except ValueError as err:
        assert is_sentence(str(err)), str(err)
    else:
        assert texts.texts and visible_only(texts.texts) and is_sentence(texts.summary())


@SETTINGS
@given(text=st.one_of(TEXT, CSVISH))
def test_any_paste_gives_sentences_or_a_sentence(text):
    try:
        texts = sentences_from_paste(text)
    except ValueError as err:
        assert is_sentence(str(err)), str(err)
    else:
        assert texts.texts and visible_only(texts.texts) and all("  " not in t for t in texts.texts)
