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

import csv
import hashlib
import io
import unicodedata
from dataclasses import dataclass, field

DEFAULT_SIZE = 10_000
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # 20 MB: far above any word list, far below a memory problem
MAX_ITEMS = 200_000  # one teacher query each: more is a budget mistake, not a vocabulary
MAX_ITEM_CHARS = 100  # a "word" longer than this is a paste accident, not a word
EXAMPLES_KEPT = 5


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
    item = unicodedata.normalize("NFC", raw).strip()
    if not item:
        dropped["empty line"].add(raw)
        return None
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co") for c in item):
        dropped["control or invisible characters"].add(item.encode("unicode_escape").decode())
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
        raise VocabularyError(f"'{filename}' is not a .txt or .csv file; upload one word per line (.txt) or a table (.csv).")
    if len(data) > max_bytes:
        raise VocabularyError(f"'{filename}' is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB.")
    if b"\x00" in data[:8192]:
        raise VocabularyError(f"'{filename}' looks like a binary file, not text.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise VocabularyError(
            f"'{filename}' is not UTF-8 text (first bad byte at position {err.start}); save it as UTF-8 and try again."
        ) from None

    if name.endswith(".csv"):
        raw_items = _csv_column(text, filename, column)
    else:
        raw_items = text.splitlines()

    reasons = ["empty line", "control or invisible characters", f"longer than {MAX_ITEM_CHARS} characters", "duplicate", "over the size limit"]
    dropped = {r: Dropped() for r in reasons}
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
    vocab = Vocabulary(words, source=filename.rsplit(".", 1)[0][:40] or "upload", dropped=dropped)
    if len(words) < 2:
        raise VocabularyError(f"'{filename}' has {len(words)} usable item(s); at least 2 are needed. {vocab.summary()}")
    return vocab


def csv_columns(data: bytes) -> list[str]:
    """The header of a CSV upload, so a page can offer the columns to choose from."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return []
    reader = csv.reader(io.StringIO(text))
    return next(reader, [])


def _csv_column(text: str, filename: str, column: str | None) -> list[str]:
    try:
        reader = csv.DictReader(io.StringIO(text))
        header = reader.fieldnames or []
        if not header:
            raise VocabularyError(f"'{filename}' has no header row; the first line must name the columns.")
        if column is None:
            if len(header) != 1:
                raise VocabularyError(f"'{filename}' has {len(header)} columns ({', '.join(header[:6])}); choose which one holds the words.")
            column = header[0]
        if column not in header:
            raise VocabularyError(f"'{filename}' has no column '{column}'; its columns are {', '.join(header[:10])}.")
        return [row.get(column) or "" for row in reader]
    except csv.Error as err:
        raise VocabularyError(f"'{filename}' is not a readable CSV file ({err}).") from None
