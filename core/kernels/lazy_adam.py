"""Adam for lookup-table rows, several steps per pass: the same updates as dense Adam, without its memory traffic.

A table row of the paper's students gets a gradient once per epoch (at the step where its word is in the
batch). Dense Adam still updates it at every other step, with a zero gradient: m <- b1 m, v <- b2 v and
p <- p - lr_t m / (sqrt(v) / c_t + eps). That is most of a CPU sweep's time: for p = 1 every step reads and
writes all 10,000 rows' p, m and v (28 bytes per element), to move each row by a decaying amount.

Nothing reads a row between its own batches except the end-of-epoch scoring. So a row can take its
zero-gradient steps late, all at once: just before its batch (the steps since the epoch began), then its
gradient step and every remaining step of the epoch right after its backward pass. Each row's p, m and v are
then read and written twice per epoch instead of once per step, while it sits in cache, and every row has
taken every step of the epoch by the epoch's end. The arithmetic is dense Adam's, regrouped: during a row's
run of zero-gradient steps sqrt(v) is taken once (sqrt(b2^j v) = b2^(j/2) sqrt(v)) and m and v are scaled by
b1^J and b2^J once. The run's move is then m * sum_j c_j / (r s_j + eps), r = sqrt(v), with per-step scalars
c_j, s_j. Where the s_j of a chunk of steps stay within 10 % of their middle s (late in training: bias
corrections settle), the sum is a short series in the spread, 1/X sum_k (-u)^k T_k with X = r s + eps and
u = r s / X in [0, 1): eight terms leave a remainder below 1e-8 of the sum, whatever r is against eps, and a
40-step run costs one division per element instead of forty. Elsewhere (early epochs) steps go two at a time,
their moves sharing one division. Only rounding differs from stepping: tested against `torch.optim.Adam` step
for step, with moves compared to 2e-6 relative.

The kernel is compiled by numba (installed with umap-learn) on first use and cached on disk (`core.kernels.jit`: in
memory where no cache can be written); it runs in the
calling thread (numba releases the GIL), so concurrent trainings in a shared server cannot collide in a
thread pool. Without numba, or on a GPU (where dense fused Adam is bandwidth-cheap), training uses dense Adam.
"""

from __future__ import annotations

import math

import numpy as np

from core.kernels import cosine_grad, jit, row_scores

available = jit.available  # without numba (or on a GPU) the rows take dense fused Adam


def used_on(device) -> bool:
    """Whether training on `device` steps the table rows with this kernel: on the CPU, when it can run."""
    return str(device).split(":")[0] == "cpu" and available()


_TERMS = 8  # terms of the series (up to d^7): with |d| <= SPREAD its remainder is below 1e-8 of the sum
_SPREAD = 0.1
_SERIES_FROM = 4  # chunks of fewer steps go step by step (as cheap)


def _scale(beta2, t, j):
    """Zero step number t, the j-th of its run: sqrt(v) is b2^(j/2) sqrt(v_0), and Adam divides it by sqrt(1 - b2^t)."""
    return beta2 ** (0.5 * j) / math.sqrt(1.0 - beta2**t)


def _adam_rows(
    p,
    m,
    v,
    idx,
    block,
    first,
    count,
    grads,
    gathered,
    relu_out,
    relu_shift,
    lr,
    beta1,
    beta2,
    eps,
    skip,
    relu,
    targets,
    targets_out,
):
    """Adam steps for the table rows idx[i] (rows of p, m, v; updated in place).

    Row i belongs to block i // block; block b takes `count[b]` consecutive steps numbered first[b], first[b] + 1, ...
    If `grads` has rows, the first of those steps is a gradient step with grads[i], the others have a zero
    gradient; otherwise all are zero-gradient steps. If `gathered` has rows, gathered[i] receives row idx[i] of
    p after its steps (zeros for the row `skip`, the padding row, which is never updated). If `relu_out` has rows,
    row idx[i] + relu_shift[block] of it receives max(row, 0) after the steps (the scoring's first input, written
    while the row is in cache).
    With `relu` (a training step's two halves), gathered[i] receives max(row, 0) instead — the ReLU's output, the
    head's input — and grads[i] is the gradient with respect to it: the step zeroes it where the row is <= 0 (the
    ReLU's backward). If `targets_out` has rows, targets_out[i] receives targets[idx[i]] (for every row).
    """
    n_rows, dim = idx.shape[0], p.shape[1]
    n_blocks = first.shape[0]
    with_grad = grads.shape[0] > 0
    longest = 1
    for b in range(n_blocks):
        longest = max(longest, count[b])
    step_size = np.empty((n_blocks, longest), np.float32)  # lr / (1 - b1^t)
    bias2 = np.empty((n_blocks, longest), np.float32)  # sqrt(1 - b2^t)
    scale = np.empty((n_blocks, longest), np.float32)  # zero step j of a run: b2^(j/2) / sqrt(1 - b2^t)
    coef = np.empty((n_blocks, longest), np.float32)  # zero step j of a run: b1^j lr / (1 - b1^t) (m is b1^j m)
    decay_m = np.empty(n_blocks, np.float32)  # m after the run of zero steps: b1^(its length)
    decay_v = np.empty(n_blocks, np.float32)  # v after the run of zero steps: b2^(its length)
    zero_from = 1 if with_grad else 0
    for b in range(n_blocks):
        for j in range(count[b]):
            t = first[b] + j
            size = lr / (1.0 - beta1**t)
            step_size[b, j] = size
            bias2[b, j] = math.sqrt(1.0 - beta2**t)
            scale[b, j] = _scale(beta2, t, j - zero_from + 1)
            coef[b, j] = size * beta1 ** (j - zero_from + 1)
        decay_m[b] = beta1 ** max(0, count[b] - zero_from)
        decay_v[b] = beta2 ** max(0, count[b] - zero_from)
    # The run of zero steps in chunks: a chunk over which the scale s_j varies little (by at most SPREAD around
    # its middle s) takes all its steps in one pass, as a short series (in the row loop below); other chunks step by step.
    n_chunks = np.zeros(n_blocks, np.int64)
    chunk_lo = np.empty((n_blocks, longest), np.int64)
    chunk_hi = np.empty((n_blocks, longest), np.int64)
    chunk_mid = np.zeros((n_blocks, longest), np.float32)  # the series' s; 0 for a chunk taken step by step
    chunk_terms = np.zeros((n_blocks, longest, _TERMS), np.float32)
    for b in range(n_blocks):
        lo = zero_from
        while lo < count[b]:
            s_lo = _scale(beta2, first[b] + lo, lo - zero_from + 1)
            hi = lo + 1
            while hi < count[b]:
                s_hi = _scale(beta2, first[b] + hi, hi - zero_from + 1)
                if s_lo - s_hi > _SPREAD * (s_lo + s_hi):  # the scale only falls along a run
                    break
                hi += 1
            c = n_chunks[b]
            chunk_lo[b, c], chunk_hi[b, c] = lo, hi
            if hi - lo >= _SERIES_FROM:
                s_end = _scale(beta2, first[b] + hi - 1, hi - 1 - zero_from + 1)
                mid = 0.5 * (s_lo + s_end)
                chunk_mid[b, c] = mid
                for j in range(lo, hi):
                    delta = _scale(beta2, first[b] + j, j - zero_from + 1) / mid - 1.0
                    weight = (lr / (1.0 - beta1 ** (first[b] + j))) * beta1 ** (
                        j - zero_from + 1
                    )  # coef[b, j], in float64
                    for term in range(_TERMS):
                        chunk_terms[b, c, term] += weight * delta**term
            n_chunks[b] = c + 1
            lo = hi
    b1, b2, e = np.float32(beta1), np.float32(beta2), np.float32(eps)
    one_b1, one_b2 = np.float32(1.0 - beta1), np.float32(1.0 - beta2)
    root_v = np.empty(dim, np.float32)
    for i in range(n_rows):
        # The next row's p, m, v (and where its max(row, 0) goes) are requested now, so they arrive while this row
        # is computed: the rows are scattered, so the hardware cannot guess them (measured: docs/BENCHMARKS.md, 'Why the code is shaped so').
        if i + 1 < n_rows:
            ahead = idx[i + 1]
            if targets_out.shape[0] > 0:
                prefetch_row(targets, ahead)
            if ahead != skip:
                prefetch_row(p, ahead)
                prefetch_row(m, ahead)
                prefetch_row(v, ahead)
                if relu_out.shape[0] > 0:
                    prefetch_row(relu_out, ahead + relu_shift[(i + 1) // block])
        r = idx[i]
        if targets_out.shape[0] > 0:
            targets_out[i, :] = targets[r]
        if r == skip:
            if gathered.shape[0] > 0:
                gathered[i, :] = 0.0
            continue
        b = i // block
        steps = count[b]
        pr, mr, vr = p[r], m[r], v[r]
        if with_grad and steps > 1 and n_chunks[b] == 1 and chunk_mid[b, 0] > 0:
            # The usual gradient half late in training, in one pass per element: the gradient step, then the rest of
            # the epoch as one series chunk, their two divisions as one (1/(X1 X2), times X2 and X1).
            size, c = step_size[b, 0], bias2[b, 0]
            inv_c = np.float32(1.0) / c
            mid = chunk_mid[b, 0]
            t0, t1, t2, t3 = chunk_terms[b, 0, 0], chunk_terms[b, 0, 1], chunk_terms[b, 0, 2], chunk_terms[b, 0, 3]
            t4, t5, t6, t7 = chunk_terms[b, 0, 4], chunk_terms[b, 0, 5], chunk_terms[b, 0, 6], chunk_terms[b, 0, 7]
            dm, dv = decay_m[b], decay_v[b]
            gr = grads[i]
            for k in range(dim):
                g = np.float32(0.0) if relu and pr[k] <= 0.0 else gr[k]
                mk = b1 * mr[k] + one_b1 * g
                vk = b2 * vr[k] + one_b2 * g * g
                root = np.sqrt(vk)
                x1 = root * inv_c + e
                x2 = root * mid + e
                both = np.float32(1.0) / (x1 * x2)
                inv = x1 * both
                w = e * inv - np.float32(1.0)
                series = ((((((t7 * w + t6) * w + t5) * w + t4) * w + t3) * w + t2) * w + t1) * w + t0
                pr[k] = pr[k] - mk * (size * (x2 * both) + series * inv)
                mr[k] = mk * dm
                vr[k] = vk * dv
        elif steps > 0:
            if with_grad:
                size, c = step_size[b, 0], bias2[b, 0]
                gr = grads[i]
                for k in range(dim):
                    g = np.float32(0.0) if relu and pr[k] <= 0.0 else gr[k]  # with relu: the ReLU's backward
                    mk = b1 * mr[k] + one_b1 * g
                    vk = b2 * vr[k] + one_b2 * g * g
                    mr[k] = mk
                    vr[k] = vk
                    root_v[k] = np.sqrt(vk)
                    pr[k] = pr[k] - size * (mk / (root_v[k] / c + e))
            else:
                for k in range(dim):
                    root_v[k] = np.sqrt(vr[k])
            for c in range(n_chunks[b]):
                mid = chunk_mid[b, c]
                if mid > 0:
                    # All the chunk's steps at once: p -= m * sum_j c_j / (r s_j + e) = m / X * sum_k (-u)^k T_k,
                    # with X = r s + e, u = r s / X in [0, 1), T_k = sum_j c_j d_j^k, s_j = s (1 + d_j), |d_j| <= SPREAD.
                    t0, t1, t2, t3 = (
                        chunk_terms[b, c, 0],
                        chunk_terms[b, c, 1],
                        chunk_terms[b, c, 2],
                        chunk_terms[b, c, 3],
                    )
                    t4, t5, t6, t7 = (
                        chunk_terms[b, c, 4],
                        chunk_terms[b, c, 5],
                        chunk_terms[b, c, 6],
                        chunk_terms[b, c, 7],
                    )
                    for k in range(dim):
                        inv = np.float32(1.0) / (root_v[k] * mid + e)
                        w = e * inv - np.float32(1.0)  # -u
                        series = ((((((t7 * w + t6) * w + t5) * w + t4) * w + t3) * w + t2) * w + t1) * w + t0
                        pr[k] = pr[k] - mr[k] * (series * inv)
                    continue
                # Step by step, two at a time: a/x1 + b/x2 = (a x2 + b x1) / (x1 x2), one division instead of
                # two (division bounds this loop; the sum differs from two steps' by rounding; docs/BENCHMARKS.md).
                j = chunk_lo[b, c]
                hi = chunk_hi[b, c]
                while j + 1 < hi:
                    c1, c2, s1, s2 = coef[b, j], coef[b, j + 1], scale[b, j], scale[b, j + 1]
                    for k in range(dim):
                        x1 = root_v[k] * s1 + e
                        x2 = root_v[k] * s2 + e
                        pr[k] = pr[k] - mr[k] * ((c1 * x2 + c2 * x1) / (x1 * x2))
                    j += 2
                if j < hi:
                    c1, s1 = coef[b, j], scale[b, j]
                    for k in range(dim):
                        pr[k] = pr[k] - mr[k] * (c1 / (root_v[k] * s1 + e))
            if steps > zero_from:
                dm, dv = decay_m[b], decay_v[b]
                for k in range(dim):
                    mr[k] = mr[k] * dm
                    vr[k] = vr[k] * dv
        if gathered.shape[0] > 0:
            if relu:
                _relu_into(gathered[i], pr)
            else:
                gathered[i, :] = pr
        if relu_out.shape[0] > 0:
            _relu_into(relu_out[r + relu_shift[b]], pr)


def _relu_into(out, row):
    for k in range(row.shape[0]):
        out[k] = max(row[k], np.float32(0.0))


if available():
    from core.kernels.prefetch import prefetch_row

    _scale = jit.kernel(_scale)
    _relu_into = jit.kernel(_relu_into, inline="always")
    # error_model="numpy": no zero-division checks, so the inner loops vectorize (docs/BENCHMARKS.md).
    _adam_rows = jit.kernel(_adam_rows, nogil=True, error_model="numpy")

_NONE = np.empty((0, 1), np.float32)
_NO_SHIFT = np.zeros(1, np.int64)


def adam_rows(
    p: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    idx: np.ndarray,
    block: int,
    first: np.ndarray,
    count: np.ndarray,
    *,
    grads: np.ndarray | None = None,
    gathered: np.ndarray | None = None,
    relu_out: np.ndarray | None = None,
    relu_shift: np.ndarray | None = None,
    relu: bool = False,
    targets: np.ndarray | None = None,
    targets_out: np.ndarray | None = None,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    skip: int = -1,
) -> None:
    """Run Adam steps on rows `idx` of the (rows, dim) float32 arrays p, m, v, in place (see `_adam_rows`).

    `first` / `count` (int64, one per block of `block` consecutive entries of idx): the number of the first
    step and how many steps that block's rows take. With `grads` (len(idx), dim) the first step uses them.
    With `relu_out` (and `relu_shift`, int64 per block), max(row, 0) is written to row idx + shift of it.
    With `relu`, `gathered` receives max(row, 0) and `grads` are taken with respect to it. With `targets` and
    `targets_out`, targets_out[i] = targets[idx[i]].
    """
    if len(idx) == 0:
        return
    _adam_rows(
        p,
        m,
        v,
        idx,
        block,
        first,
        count,
        _NONE if grads is None else grads,
        _NONE if gathered is None else gathered,
        _NONE if relu_out is None else relu_out,
        _NO_SHIFT if relu_shift is None else relu_shift,
        float(lr),
        float(beta1),
        float(beta2),
        float(eps),
        int(skip),
        bool(relu),
        _NONE if targets is None else targets,
        _NONE if targets_out is None else targets_out,
    )


def warm_up() -> None:
    """Compile the CPU kernels of training (this one, and the grouped loop's `core.kernels.cosine_grad` and
    `core.kernels.row_scores`), or load them from the disk cache, now, so that a first training does not wait ~3 s."""
    if available():
        cosine_grad.warm_up()
        row_scores.warm_up()
        p = np.zeros((2, 4), np.float32)
        adam_rows(
            p,
            p.copy(),
            p.copy(),
            np.array([0], np.int64),
            1,
            np.array([1], np.int64),
            np.array([1], np.int64),
            gathered=np.empty((1, 4), np.float32),
            lr=0.1,
        )


class LazyRows:
    """A table's rows under lazy Adam, in plain words: p (the rows, float32 (rows, dim), updated in place) with
    its Adam moments m and v, the learning rate and Adam's constants kept once, and the two things a training
    step asks of them. (The grouped loop's fused extras — ReLU on the way in and out, targets gathered alongside —
    go through `adam_rows`' keyword arguments.)"""

    def __init__(self, p: np.ndarray, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        self.p, self.m, self.v = p, np.zeros_like(p), np.zeros_like(p)
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps

    def _steps(self, idx, first_step: int, count: int, grads=None, read_into=None) -> None:
        adam_rows(
            self.p,
            self.m,
            self.v,
            np.asarray(idx, np.int64),
            max(1, len(idx)),
            np.array([first_step], np.int64),
            np.array([count], np.int64),
            grads=grads,
            gathered=read_into,
            lr=self.lr,
            beta1=self.beta1,
            beta2=self.beta2,
            eps=self.eps,
        )

    def idle_steps(self, idx, first_step: int, count: int, read_into: np.ndarray | None = None) -> None:
        """Rows `idx` take `count` zero-gradient steps numbered from `first_step`; then, if asked, row idx[i] is
        copied into read_into[i]."""
        self._steps(idx, first_step, count, read_into=read_into)

    def gradient_step(self, idx, grads: np.ndarray, first_step: int, count: int) -> None:
        """Rows `idx` take step `first_step` with gradient grads[i], then `count` - 1 zero-gradient steps."""
        self._steps(idx, first_step, count, grads=grads)
