"""Every item's scores against the teacher in one pass over the student's raw outputs (the grouped CPU loop).

After every epoch a sweep scores each run on the whole vocabulary: normalize each output row, then its cosine
and Euclidean distance to the clean teacher vector and the mean of its components (the paper's
embedding-mean figures). Done with torch that is six passes over two 15 MB arrays per run and epoch
(normalize, two products, their sums, the means); here it is one: per row, |y|^2, y.t and sum(y) of the raw
output y, from which (with s = y / max(|y|, 1e-12) and |t| = 1):

    cos = (s.t) / max(|s|, 1e-12)    euclidean = sqrt(max(|s|^2 + 1 - 2 s.t, 0))    mean = sum(s) / dim

the same formulas as `core.evaluation.records.score_against_teacher` on the normalized rows (tested against it), only the
order of the sums differs. The rows of y may be in any order: row i is scored against teacher row order[i].
"""

from __future__ import annotations

import math

import numpy as np

from core.kernels import jit


def _row_scores(y, clean, order, cosine, euclidean, means):
    n, dim = y.shape
    for i in range(n):
        if i + 1 < n:  # the next teacher row (rows in the run's order are scattered in the teacher's)
            prefetch_row(clean, order[i + 1])
        row, target = y[i], clean[order[i]]
        squares = np.float32(0.0)
        dot = np.float32(0.0)
        total = np.float32(0.0)
        for k in range(dim):
            value = row[k]
            squares += value * value
            dot += value * target[k]
            total += value
        norm = max(math.sqrt(squares), 1e-12)
        s_dot, s_squares = dot / norm, squares / (norm * norm)  # of the normalized row s
        cosine[i] = s_dot / max(math.sqrt(s_squares), 1e-12)
        euclidean[i] = math.sqrt(max(s_squares + 1.0 - 2.0 * s_dot, 0.0))
        means[order[i]] = total / norm / dim


available = jit.available  # without numba the grouped loop scores with torch

if available():
    from core.kernels.prefetch import prefetch_row

    # "reassoc" lets the three sums run in vector lanes (their order is the only change); no other fast-math.
    _row_scores = jit.kernel(_row_scores, nogil=True, error_model="numpy", fastmath={"reassoc", "contract"})


def row_scores(y: np.ndarray, clean: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cosine, euclidean) of each row of y (float32, (n, dim)) against clean[order[i]], in y's row order, and
    each row's component mean in teacher order (means[order[i]])."""
    n = y.shape[0]
    cosine, euclidean = np.empty(n, np.float32), np.empty(n, np.float32)
    means = np.empty(clean.shape[0], np.float32)
    _row_scores(y, clean, order, cosine, euclidean, means)
    return cosine, euclidean, means


def warm_up() -> None:
    """Compile the kernel (or load it from numba's disk cache)."""
    if available():
        y = np.ones((1, 4), np.float32)
        row_scores(y, y, np.zeros(1, np.int64))
