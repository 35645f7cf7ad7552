"""Sentence collections for the adapter lab: a default one that installs offline, and the user's own texts.

The default comes from the test data shipped inside the gensim wheel (already a requirement, for the
analogy benchmarks), read from the installed package, never copied here:
- `lee_background.cor` and `lee.cor`: the Lee corpus (Lee, Pincombe & Welsh 2005), 350 short news articles
  from the Australian Broadcasting Corporation, split into sentences;
- `pang_lee_polarity.cor`: 200 movie-review sentences (Pang & Lee's sentence polarity data), labels removed.
gensim distributes them under its LGPL-2.1 licence as research/test data; the articles' copyright stays with
their publishers, so the lab uses them for measurement and teaching, as gensim does. About 2,900 sentences.

User texts: a `.txt` (one text per line), a `.csv` (its column named text / sentence, or its only column),
or pasted lines. Each input is validated where it enters, by the same decoder and line cleaner as the word lists
(core.data.uploads): empty, binary, too long or too many lines get a sentence, not a traceback, and duplicates, blank
lines, lines with invisible characters and CSV rows that do not fit the header (more cells, or none in the text column) are
dropped and counted, and so are the lines a quote that is never closed swallowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from core.data.uploads import EMPTY, HIDDEN, clean_line, csv_rows, decode_upload, open_quote, short_name

MAX_TEXTS = 20_000
MAX_CHARS = 1_000  # per text
MAX_BYTES = 10 * 2**20
MISFIT_ROW = "CSV rows with more cells than the header (quote a text that holds a comma)"
SHORT_ROW = "CSV rows with fewer cells than the header (no cell in the text column)"
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")


class SentencesUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Sentences:
    texts: tuple[str, ...]
    source: str
    dropped: dict[str, int] = field(default_factory=dict)
    kind: str = "upload"  # 'default', 'upload' or 'paste'

    @property
    def label(self) -> str:
        """A short name that changes when the texts do: kind, count and a hash."""
        import hashlib

        digest = hashlib.sha1("\n".join(self.texts).encode("utf-8")).hexdigest()[:8]
        return f"{self.kind}-{len(self.texts)}-{digest}"

    def summary(self) -> str:
        parts = [f"{len(self.texts):,} texts from {self.source}"]
        dropped = [f"{n:,} {why}" for why, n in self.dropped.items() if n]
        if dropped:
            parts.append("left out: " + ", ".join(dropped))
        return "; ".join(parts) + "."


def _clean(lines, source: str, kind: str = "upload", misfits: int = 0, left_out: dict | None = None) -> Sentences:
    """Kept texts in order and a count per reason for the rest; `misfits` CSV rows were already left out, and so
    were the rows counted in `left_out` (reason -> count)."""
    seen, texts = set(), []
    dropped = {
        "empty": 0,
        "duplicate": 0,
        f"longer than {MAX_CHARS} characters": 0,
        HIDDEN: 0,
        "over the limit": 0,
        MISFIT_ROW: misfits,
        **(left_out or {}),
    }
    for raw in lines:
        # The same cleaner as the vocabulary's (core.data.uploads): a line is kept or dropped on both sides alike.
        text, reason = clean_line(str(raw))
        if reason is not None:
            dropped["empty" if reason == EMPTY else reason] += 1
        elif len(text) > MAX_CHARS:
            dropped[f"longer than {MAX_CHARS} characters"] += 1
        elif text in seen:
            dropped["duplicate"] += 1
        elif len(texts) >= MAX_TEXTS:
            dropped["over the limit"] += 1
        else:
            seen.add(text)
            texts.append(text)
    if not texts:
        raise ValueError(
            f"No usable text in {source}: every line was empty, too long, repeated or held invisible characters."
        )
    return Sentences(tuple(texts), source, dropped, kind)


def default_sentences() -> Sentences:
    """The bundled collection (see the module's docstring), in a fixed order."""
    import importlib.util

    # gensim's own `gensim.test.utils.datapath` would import gensim (scipy and more: 15-20 s on a busy 2-core
    # machine, paid by every warm-up's "is it done?"); the files lie in the installed package, found without it.
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover - gensim is a requirement
        raise SentencesUnavailable("The default sentences come with gensim; install the requirements (make test).")
    folder = Path(list(spec.submodule_search_locations)[0]) / "test" / "test_data"

    def read(name: str) -> str:
        data = (folder / name).read_bytes()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("latin-1")  # the Lee corpus is Latin-1 (its pound signs)

    lines: list[str] = []
    for name in ("lee_background.cor", "lee.cor"):
        for paragraph in read(name).splitlines():
            lines.extend(SENTENCE_END.split(paragraph.strip()))
    for line in read("pang_lee_polarity.cor").splitlines():
        lines.append(re.sub(r"^__label__\w+\s*", "", line))
    return _clean(lines, "the Lee news corpus and Pang & Lee's review sentences (gensim test data)", "default")


def sentences_from_upload(name: str, data: bytes) -> Sentences:
    """A user's `.txt` / `.csv` file as texts; a ValueError with a sentence when it cannot be used."""
    text = decode_upload(data, name, MAX_BYTES)  # UploadRefused is a ValueError with the sentence
    shown = short_name(name)
    if name.lower().endswith(".csv"):
        rows = csv_rows(text, name)
        left_out: dict[str, int] = {}
        opened = open_quote(text)
        if opened is not None:  # the rest of the file in one cell is not a text: left out, and its lines counted
            rows = rows[:-1]
            line, swallowed = opened
            where = f"line (line {line:,})" if swallowed == 1 else f"lines from line {line:,} on"
            left_out[f"{where}: a quote opened there is never closed"] = swallowed
        rows = [r for r in rows if r]  # blank lines: nothing to count as a text
        if not rows and opened is not None:
            raise ValueError(
                f"{shown}: the quote opened on line {opened[0]:,} is never closed; close it and try again."
            )
        if not rows:
            raise ValueError(f"{shown} is empty.")
        header = [h.strip().lower() for h in rows[0]]
        column = next((i for i, h in enumerate(header) if h in ("text", "texts", "sentence", "sentences")), None)
        if column is not None:
            body, width = rows[1:], len(header)
        elif max(len(r) for r in rows) == 1:
            body, column, width = rows, 0, 1  # a single column without a header: every row is a text
        else:
            raise ValueError(
                f"{shown} has several columns and none is named 'text' or 'sentence': name the column that holds the texts 'text'."
            )
        # A row with more cells than the header is a text with an unquoted comma: left out and counted, never cut.
        lines = [r[column] for r in body if column < len(r) <= width]
        misfits = sum(len(r) > width for r in body)
        left_out[SHORT_ROW] = sum(len(r) <= column for r in body)
        # A cell starting with = + - @ is kept as text, never evaluated (and shown as text, not a formula).
        return _clean(lines, shown, misfits=misfits, left_out=left_out)
    return _clean(text.splitlines(), shown)


def sentences_from_paste(text: str) -> Sentences:
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise ValueError(f"The pasted text is over {MAX_BYTES // 2**20} MB.")
    return _clean(text.splitlines(), "pasted text", "paste")
