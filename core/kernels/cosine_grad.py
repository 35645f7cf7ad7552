"""The paper's loss on a training step's batches and its gradient, in one kernel (the grouped CPU loop).

For each row y of the head's raw output and its target t (a unit teacher vector, or zero for a padding row):

    s = y / max(|y|, 1e-12)    cos = s.t    loss = 1 - cos    d loss / d y = (s cos - t) / (max(|y|, 1e-12) count)

averaged over the `count` real rows of the run's batch — the same formulas as the torch ops of the dense loop
(`core.kernels.grouped`, `core.kernels.heads.cosine_loss_and_grad`), in two passes over each row while it is in cache
instead of seven over the whole batch; it also sums the gradient over the rows (the last layer's bias
gradient). A padding row (t = 0) has cos = 0 and a zero gradient, as there.
"""

from __future__ import annotations

import math

import numpy as np

from core.kernels import jit


def _cosine_grad(y, t, counts, cos_sums, bias_grad):
    n, rows, dim = y.shape
    with_bias = bias_grad.shape[0] > 0
    for r in range(n):
        if with_bias:
            bias_grad[r, :] = 0.0
        total = np.float32(0.0)
        count = counts[r]
        for i in range(rows):
            row, target = y[r, i], t[r, i]
            squares = np.float32(0.0)
            dot = np.float32(0.0)
            for k in range(dim):
                squares += row[k] * row[k]
                dot += row[k] * target[k]
            norm = max(np.float32(math.sqrt(squares)), np.float32(1e-12))
            cos = dot / norm
            total += cos
            inv = np.float32(1.0) / norm
            factor = np.float32(1.0) / (norm * count)
            for k in range(dim):
                grad = (row[k] * inv * cos - target[k]) * factor
                row[k] = grad
                if with_bias:
                    bias_grad[r, k] += grad
        cos_sums[r] = total


available = jit.available  # without numba the grouped loop uses the torch ops

if available():
    # "reassoc" lets the row's sums run in vector lanes (their order is the only change).
    _cosine_grad = jit.kernel(_cosine_grad, nogil=True, error_model="numpy", fastmath={"reassoc", "contract"})

_NO_BIAS = np.empty((0, 1), np.float32)


def cosine_grad(
    y: np.ndarray, t: np.ndarray, counts: np.ndarray, cos_sums: np.ndarray, bias_grad: np.ndarray | None = None
) -> None:
    """For a step's batches y, t (float32, (runs, rows, dim)) with `counts` real rows per run (float32): writes
    each run's sum of cosines into cos_sums[run], replaces y by the gradient of each run's mean loss with respect
    to it, and (if given) writes its sum over the rows into bias_grad[run] (float32, (runs, dim))."""
    _cosine_grad(y, t, counts, cos_sums, _NO_BIAS if bias_grad is None else bias_grad)


def warm_up() -> None:
    """Compile the kernel (or load it from numba's disk cache)."""
    if available():
        y = np.ones((1, 2, 4), np.float32)
        cosine_grad(y, y.copy(), np.ones(1, np.float32), np.empty(1, np.float32), np.empty((1, 4), np.float32))
