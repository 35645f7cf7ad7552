"""Uploaded files into clean text: the one place where bytes a user brings become lines (a leaf: imports only core.errors).

Both the word lists (core.data.corpus) and the sentence collections (core.data.sentences) come through here, so they refuse
and accept the same files with the same sentences:

- `decode_upload`: bytes -> str with a size cap; UTF-8 (with or without a BOM) and UTF-16 / UTF-32 with a BOM,
  plus BOM-less UTF-16 told apart by where its zero bytes sit (ASCII text in UTF-16 LE has a zero at every odd
  position); anything else with a zero byte is a binary file, anything else that is not UTF-8 gets a sentence.
- `csv_rows`: quoted CSV (commas, quotes and line breaks inside quotes) read by the standard `csv` module;
  `open_quote`: where a quote that is never closed swallowed the rest of the file into one cell.
- `clean_line`: one line or cell as the lab keeps it, or the reason it is dropped. Invisible characters
  (zero-width spaces, bidirectional overrides, other controls) are refused, not silently removed: a word that
  differs from another only by an invisible character would be a second "same" word, and a bidi override makes a
  text read differently from what it is.

>>> decode_upload("café".encode("utf-16"), "w.txt", max_bytes=1000)
'café'
>>> clean_line("  two   words\\t"), clean_line("zero\\u200bwidth")
(('two words', None), ('zero\\u200bwidth', 'control or invisible characters'))
"""

from __future__ import annotations

import csv
import io
import unicodedata

from core.errors import LabError

# Unicode categories that print nothing a reader can see, or reorder what they see: controls (Cc), format
# characters (Cf: zero-width spaces and joiners, bidi embeddings / overrides / isolates, the BOM, soft hyphen),
# surrogates (Cs) and private-use code points (Co).
HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co"})
EMPTY = "empty line"
HIDDEN = "control or invisible characters"
SNIFF_BYTES = 8192  # enough of a file to tell text from binary without reading all of it


class UploadRefused(LabError, ValueError):
    """The uploaded file cannot be read as text at all; the message says why in one sentence."""


def short_name(name: str, limit: int = 60) -> str:
    """A file name as echoed in a message: a hostile 5,000-character name must not fill the page.

    >>> short_name("x" * 100 + ".txt", 20)
    'xxxxxxxxxxxxxxx….txt'
    """
    name = "".join(ch if unicodedata.category(ch) not in HIDDEN_CATEGORIES else "?" for ch in str(name))
    if len(name) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    ext = dot + ext if dot and len(ext) <= 8 else ""
    return name[: limit - len(ext) - 1] + "…" + ext


def _utf16_without_bom(head: bytes) -> str | None:
    """'utf-16-le' / 'utf-16-be' when the zero bytes sit (almost) only at odd / even positions, else None.

    Text in a Latin script stored as UTF-16 has a zero high byte in nearly every code unit; binary data has zeros
    at both positions, and UTF-8 text has none at all.
    """
    if len(head) < 4 or len(head) % 2:
        return None
    even_zeros, odd_zeros = head[0::2].count(0), head[1::2].count(0)
    units = len(head) // 2
    if odd_zeros >= 0.3 * units and even_zeros == 0:
        return "utf-16-le"
    if even_zeros >= 0.3 * units and odd_zeros == 0:
        return "utf-16-be"
    return None


def decode_upload(data: bytes, name: str, max_bytes: int) -> str:
    """The text of an uploaded file, or `UploadRefused` with a sentence (too big, binary, not UTF-8 / UTF-16)."""
    shown = short_name(name)
    if len(data) > max_bytes:
        raise UploadRefused(f"'{shown}' is {len(data) / 2**20:.1f} MB; the limit is {max_bytes / 2**20:g} MB.")
    boms = [
        (b"\xff\xfe\x00\x00", "utf-32-le"),
        (b"\x00\x00\xfe\xff", "utf-32-be"),  # before UTF-16: FF FE starts both
        (b"\xef\xbb\xbf", "utf-8"),
        (b"\xff\xfe", "utf-16-le"),
        (b"\xfe\xff", "utf-16-be"),
    ]
    encoding = next((enc for bom, enc in boms if data.startswith(bom)), None)
    if encoding is not None:
        data = data[len(next(bom for bom, enc in boms if enc == encoding)) :]
    else:
        encoding = _utf16_without_bom(data[:SNIFF_BYTES])
    if encoding is None and b"\x00" in data[:SNIFF_BYTES]:
        raise UploadRefused(f"'{shown}' looks like a binary file, not text.")
    try:
        return data.decode(encoding or "utf-8")
    except UnicodeDecodeError as err:
        if encoding not in (None, "utf-8"):
            raise UploadRefused(
                f"'{shown}' starts like {encoding.upper()} text but is not (bad bytes at position {err.start}); "
                f"save it as UTF-8 and try again."
            ) from None
        raise UploadRefused(
            f"'{shown}' is not UTF-8 text (first bad byte at position {err.start}); save it as UTF-8 and try again."
        ) from None


def csv_rows(text: str, name: str) -> list[list[str]]:
    """Every row of a CSV text, quoted cells read properly (`"+SUM(1,2)"` is one cell); blank lines are `[]`."""
    try:
        return list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as err:  # e.g. a cell over the csv module's field size limit
        raise UploadRefused(f"'{short_name(name)}' is not a readable CSV file ({err}).") from None


def open_quote(text: str) -> tuple[int, int] | None:
    """`(line, lines)` when the CSV `text` ends inside a quoted cell: the line where that quote opens and how many
    lines the cell swallowed to the end of the file (the csv module reads them as one cell without a word);
    None otherwise.

    >>> open_quote('text\\na\\n"b, never closed\\nc\\n')
    (3, 2)
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    start, last_start = 0, None
    try:
        for _ in reader:
            last_start, start = start, reader.line_num
    except csv.Error:
        return None  # csv_rows says what is wrong with the file
    if last_start is None:
        return None
    lines = io.StringIO(text, newline="").readlines()
    try:
        list(csv.reader(io.StringIO("".join(lines[last_start:]), newline=""), strict=True))
    except csv.Error as err:
        if "unexpected end of data" in str(err):
            return last_start + 1, len(lines) - last_start
    return None


def clean_line(raw: str) -> tuple[str, str | None]:
    """`(text, reason)`: the line NFC-normalized with its runs of white space made single spaces, and the reason it
    is dropped (`EMPTY`, `HIDDEN`) or None when it is kept."""
    text = " ".join(unicodedata.normalize("NFC", raw).split())
    if not text:
        return text, EMPTY
    if any(unicodedata.category(ch) in HIDDEN_CATEGORIES for ch in text):
        return text, HIDDEN
    return text, None


def visible(text: str) -> str:
    """A dropped item as shown in a summary: its invisible characters written as escapes (`\\u200b`)."""
    return "".join(
        ch if unicodedata.category(ch) not in HIDDEN_CATEGORIES else ch.encode("unicode_escape").decode() for ch in text
    )
