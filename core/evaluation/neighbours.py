"""Word arithmetic and neighbours: the paper's "linguistic math" and synonym checks.

All functions take a matrix of unit rows (one per item) and the items' texts, so the same call
answers for the teacher and for a student:

>>> import numpy as np
>>> m = np.eye(3, dtype=np.float32)
>>> nearest(m, ["a", "b", "c"], "a", k=1)
[('b', 0.0)]
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

import numpy as np

from core.vectors import unit_rows


class UnknownWord(KeyError):
    """A word is not in the vocabulary; str() is a sentence."""

    def __str__(self) -> str:
        return self.args[0]


def _index(items: Sequence[str]) -> dict[str, int]:
    return {w: i for i, w in enumerate(items)}


def lookup(items: Sequence[str], words: Sequence[str], index: dict[str, int] | None = None) -> list[int]:
    index = index or _index(items)
    missing = [w for w in words if w not in index]
    if missing:
        raise UnknownWord(f"Not in this vocabulary: {', '.join(repr(m) for m in missing)}.")
    return [index[w] for w in words]


def top_k(
    matrix: np.ndarray, query: np.ndarray, items: Sequence[str], k: int, exclude: set[int]
) -> list[tuple[str, float]]:
    """The k items most cosine-similar to `query` (a vector), skipping `exclude` indices."""
    scores = matrix @ unit_rows(query)
    if exclude:
        scores[list(exclude)] = -np.inf
    k = min(k, len(items) - len(exclude))
    best = np.argpartition(-scores, k - 1)[:k] if k > 0 else np.array([], dtype=int)
    best = best[np.argsort(-scores[best])]
    return [(items[i], float(scores[i])) for i in best]


def nearest(
    matrix: np.ndarray, items: Sequence[str], word: str, k: int = 10, skip: Collection[int] = ()
) -> list[tuple[str, float]]:
    """The word's k nearest neighbours by cosine (the word itself excluded, and the items at the indices `skip`:
    e.g. `core.words.offensive.offensive_indices`, what a projector should not show).

    >>> nearest(np.eye(3, dtype=np.float32) + 0.1, ["a", "b", "c"], "a", k=1, skip={1})[0][0]
    'c'
    """
    (i,) = lookup(items, [word])
    return top_k(matrix, matrix[i], items, k, {i, *skip})


ANALOGY = re.compile(r"^\s*([^\s+\-]+)\s*-\s*([^\s+\-]+)\s*\+\s*([^\s+\-]+)\s*$")


def parse_analogy(text: str) -> tuple[str, str, str]:
    """'king - man + woman' -> ('king', 'man', 'woman'); a sentence if the form is wrong.

    >>> parse_analogy("paris − france + poland")
    ('paris', 'france', 'poland')
    """
    normalized = text.replace("−", "-").replace("–", "-").strip().lower()
    match = ANALOGY.match(normalized)
    if not match:
        raise ValueError("Write the analogy as 'a - b + c', for example 'king - man + woman'.")
    return match.group(1), match.group(2), match.group(3)


def analogy(
    matrix: np.ndarray, items: Sequence[str], a: str, b: str, c: str, k: int = 5, skip: Collection[int] = ()
) -> list[tuple[str, float]]:
    """3CosAdd: the items closest to a - b + c (unit vectors), the three question words excluded (and `skip`)."""
    ia, ib, ic = lookup(items, [a, b, c])
    return top_k(matrix, matrix[ia] - matrix[ib] + matrix[ic], items, k, {ia, ib, ic, *skip})


def pair_cosine(matrix: np.ndarray, items: Sequence[str], a: str, b: str) -> float:
    ia, ib = lookup(items, [a, b])
    return float(matrix[ia] @ matrix[ib])


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """One pair a line, separated by a comma, a dash or spaces: 'cat, dog'.

    >>> parse_pairs("cat, dog\\nking - queen\\n\\nhot cold")
    [('cat', 'dog'), ('king', 'queen'), ('hot', 'cold')]
    """
    pairs = []
    for n, line in enumerate(text.splitlines(), start=1):
        parts = [p for p in re.split(r"[,;\t]|\s+-\s+|\s+", line.strip().lower()) if p]
        if not parts:
            continue
        if len(parts) != 2:
            raise ValueError(f"Line {n} ('{line.strip()[:40]}') should hold exactly two words, like 'cat, dog'.")
        pairs.append((parts[0], parts[1]))
    return pairs


def neighbour_overlap(teacher: np.ndarray, student: np.ndarray, items: Sequence[str], word: str, k: int = 10) -> float:
    """How many of the word's k teacher neighbours are also among its k student neighbours (0..1)."""
    t = {w for w, _ in nearest(teacher, items, word, k)}
    s = {w for w, _ in nearest(student, items, word, k)}
    return len(t & s) / max(1, len(t))
