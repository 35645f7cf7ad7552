"""Unit vectors, the one way the lab makes them: every embedding it compares is a unit row, and the student
that learns nothing answers the unit average of the answers it was given. numpy only; imports nothing of core.

    >>> [[round(float(v), 3) for v in row] for row in unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))]
    [[0.6, 0.8], [0.0, 0.0]]
    >>> [round(float(v), 3) for v in average_answer(np.array([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]), [0, 1])]
    [0.707, 0.707]
"""

from __future__ import annotations

import numpy as np

EPSILON = 1e-12  # a zero row stays zero instead of dividing by zero


def unit_rows(x, dtype=np.float32) -> np.ndarray:
    """`x` (a vector, or vectors along the last axis) scaled to length 1, as `dtype` (float32; None: the
    input's own floats, for a computation that wants float64); a zero vector stays zero."""
    x = np.asarray(x, dtype=dtype)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), EPSILON)


def average_answer(answers, rows) -> np.ndarray:
    """The learn-nothing student's answer for every word or text it was not told about: the unit average of the
    `answers` at `rows` (the ones paid for, poisoned ones included); a zero vector when `rows` is empty."""
    answers = np.asarray(answers, dtype=np.float32)
    rows = np.asarray(rows, dtype=np.int64)
    if not len(rows):
        return np.zeros(answers.shape[-1], dtype=np.float32)
    return unit_rows(answers[rows].mean(axis=0))
