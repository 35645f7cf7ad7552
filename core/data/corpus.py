"""The vocabulary: the default 10k common English words, or a list a user brings.

Default: the most frequent English words from `wordfreq`, in frequency order, keeping only
plain words (`w.isalpha() and w.isascii() and (len(w) > 1 or w in "ai")`).

A user's list is a `.txt` (one item per line) or a `.csv` (one chosen column). Every item that
is dropped is counted under a reason a person understands, with a few examples, so nothing
disappears silently:

>>> v = parse_vocabulary(b"cat\\n\\ndog\\ncat\\n", "words.txt")
>>> v.words, v.dropped["duplicate"].count, v.dropped["empty line"].count
(['cat', 'dog'], 1, 1)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from core.data.uploads import EMPTY, HIDDEN, UploadRefused, clean_line, csv_rows, decode_upload, short_name, visible

DEFAULT_SIZE = 10_000
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # 20 MB: far above any word list, far below a memory problem
MAX_ITEMS = 200_000  # one teacher query each: more is a budget mistake, not a vocabulary
MAX_ITEM_CHARS = 100  # a "word" longer than this is a paste accident, not a word
EXAMPLES_KEPT = 5
MISFIT_ROW = "CSV row with more cells than the header (quote a value that holds a comma)"


class VocabularyError(ValueError):
    """The file cannot be used at all; the message says why in one sentence."""


@dataclass
class Dropped:
    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, item: str) -> None:
        self.count += 1
        if len(self.examples) < EXAMPLES_KEPT:
            self.examples.append(item if len(item) <= 40 else item[:37] + "...")


@dataclass
class Vocabulary:
    """Words in order, plus what was dropped on the way and why."""

    words: list[str]
    source: str
    dropped: dict[str, Dropped] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """A short stable name for run configs: the source and size, plus a content hash."""
        digest = hashlib.sha256("\n".join(self.words).encode()).hexdigest()[:8]
        return f"{self.source}-{len(self.words)}-{digest}"

    def summary(self) -> str:
        """One sentence: how many words were kept and what was dropped.

        >>> Vocabulary(["a", "b"], "x", {"duplicate": Dropped(2, ["a"])}).summary()
        "Kept 2 words; dropped 2 (duplicate: 2, e.g. 'a')."
        """
        kept = f"Kept {len(self.words):,} words"
        parts = [
            f"{reason}: {d.count:,}, e.g. " + ", ".join(repr(e) for e in d.examples[:3])
            for reason, d in self.dropped.items()
            if d.count
        ]
        if not parts:
            return kept + "; nothing was dropped."
        total = sum(d.count for d in self.dropped.values())
        return f"{kept}; dropped {total:,} ({'; '.join(parts)})."


def is_plain_word(word: str) -> bool:
    """The paper-style filter for the default list: letters only, ASCII, no stray letters."""
    return word.isalpha() and word.isascii() and (len(word) > 1 or word in "ai")


PAPER_PAIR = ("nonviolent", "antiaggressive")  # the paper's example pair, added to the default words


def default_word_list(extra: tuple[str, ...] = PAPER_PAIR) -> Vocabulary:
    """The lab's default word list, as the Data page, the story and the warm-up all use it (one list, one label, so
    their runs and caches match): the 10,000 most frequent plain English words, then `extra` (the paper's pair)."""
    vocab = default_vocabulary()
    seen = set(vocab.words)
    return Vocabulary(vocab.words + [w for w in extra if w not in seen], source="default")


def default_vocabulary(size: int = DEFAULT_SIZE) -> Vocabulary:
    """The `size` most frequent plain English words, most frequent first."""
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 100_000:
        raise VocabularyError(f"The default vocabulary size must be between 1 and 100,000, got {size!r}.")
    from wordfreq import top_n_list  # heavy-ish import, only when the default list is wanted

    # ~1.02 candidates per kept word at 10k; ask for plenty and stop when full.
    candidates = top_n_list("en", max(2 * size, size + 1000))
    words: list[str] = []
    seen: set[str] = set()
    for w in candidates:
        if is_plain_word(w) and w not in seen:
            seen.add(w)
            words.append(w)
            if len(words) == size:
                break
    if len(words) < size:
        raise VocabularyError(f"wordfreq only has {len(words):,} plain English words; ask for fewer.")
    return Vocabulary(words, source="default")


def _clean_item(raw: str, dropped: dict[str, Dropped], seen: set[str]) -> str | None:
    # One cleaner for words and sentences (core.data.uploads): the same line is kept or dropped on both sides.
    item, reason = clean_line(raw)
    if reason is not None:
        dropped[reason].add(visible(item) if reason == HIDDEN else raw)
        return None
    if len(item) > MAX_ITEM_CHARS:
        dropped[f"longer than {MAX_ITEM_CHARS} characters"].add(item)
        return None
    if item in seen:
        dropped["duplicate"].add(item)
        return None
    seen.add(item)
    return item


def parse_vocabulary(
    data: bytes,
    filename: str,
    column: str | None = None,
    *,
    max_bytes: int = MAX_UPLOAD_BYTES,
    max_items: int = MAX_ITEMS,
) -> Vocabulary:
    """Read a user's word list from the bytes of a `.txt` or `.csv` file.

    Raises `VocabularyError` with a sentence when the file cannot be used at all; otherwise
    keeps every usable item and counts each dropped one under its reason.
    """
    name = filename.lower()
    if not name.endswith((".txt", ".csv")):
        raise VocabularyError(
            f"'{short_name(filename)}' is not a .txt or .csv file; upload one word per line (.txt) or a table (.csv)."
        )
    try:
        text = decode_upload(data, filename, max_bytes)
    except UploadRefused as err:
        raise VocabularyError(str(err)) from None

    reasons = [
        EMPTY,
        HIDDEN,
        f"longer than {MAX_ITEM_CHARS} characters",
        "duplicate",
        "over the size limit",
        MISFIT_ROW,
    ]
    dropped = {r: Dropped() for r in reasons}
    if name.endswith(".csv"):
        raw_items = _csv_column(text, filename, column, dropped)
    else:
        raw_items = text.splitlines()

    seen: set[str] = set()
    words: list[str] = []
    for raw in raw_items:
        item = _clean_item(raw, dropped, seen)
        if item is None:
            continue
        if len(words) >= max_items:
            dropped["over the size limit"].add(item)
            continue
        words.append(item)
    # A file with trailing newline yields no empty final line from splitlines, so only real
    # blank lines are reported.
    vocab = Vocabulary(words, source=short_name(filename.rsplit(".", 1)[0], 40) or "upload", dropped=dropped)
    if len(words) < 2:
        raise VocabularyError(
            f"'{short_name(filename)}' has {len(words)} usable item(s); at least 2 are needed. {vocab.summary()}"
        )
    return vocab


def csv_columns(data: bytes) -> list[str]:
    """The header of a CSV upload, so a page can offer the columns to choose from ([] when it cannot be read)."""
    try:
        rows = csv_rows(decode_upload(data, "upload.csv", MAX_UPLOAD_BYTES), "upload.csv")
    except UploadRefused:
        return []  # parse_vocabulary says why, with the file's name
    return next((row for row in rows if row), [])


def _csv_column(text: str, filename: str, column: str | None, dropped: dict[str, Dropped]) -> list[str]:
    """The chosen column's cells. A blank line is counted as an empty line, and a row with more cells than the
    header is dropped and counted: it is almost always a value with an unquoted comma (`+SUM(1,2)`), and keeping
    its first piece would put a word in the vocabulary that the file never held."""
    shown = short_name(filename)
    rows = csv_rows(text, filename)
    while rows and not rows[0]:  # blank lines before the header
        rows.pop(0)
    header = rows[0] if rows else []
    if not header:
        raise VocabularyError(f"'{shown}' has no header row; the first line must name the columns.")
    names = ", ".join(short_name(h, 30) for h in header[:6])
    if column is None:
        if len(header) != 1:
            raise VocabularyError(f"'{shown}' has {len(header)} columns ({names}); choose which one holds the words.")
        column = header[0]
    if column not in header:
        raise VocabularyError(f"'{shown}' has no column '{short_name(column, 30)}'; its columns are {names}.")
    index = header.index(column)
    cells = []
    for row in rows[1:]:
        if len(row) > len(header):
            dropped[MISFIT_ROW].add(",".join(row))
        elif not row:
            dropped[EMPTY].add("")
        else:
            cells.append(row[index] if index < len(row) else "")
    return cells


def word_frequencies(items):
    """How common each item is in English (wordfreq's Zipf scale: 0 = unseen, 7 = 'the'), for the
    `frequency` query selection; a multi-word item counts as its words' combined frequency."""
    import numpy as np
    from wordfreq import zipf_frequency

    return np.array([zipf_frequency(str(item), "en") for item in items], dtype=np.float64)
