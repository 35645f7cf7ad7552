"""Students that can embed words they never saw.

The paper's Model A / B are lookup tables: a word outside the training fraction keeps its random
initial vector. These students compute a word's vector from something every word has:

- `RidgeAdapter`: a cheap local encoder's embedding of the word (e.g. all-MiniLM-L6-v2 for an
  all-mpnet-base-v2 teacher), mapped to the teacher's space by closed-form ridge regression, then
  unit-normalized. The ridge strength is chosen by exact leave-one-out error on the training words
  (from one SVD), so no held-out word is ever looked at.
- `MLPAdapter`: the same features; the ridge map plus a learnt non-linear correction
  (Linear -> GELU -> Dropout -> Linear, starting at zero, so epoch 0 *is* the ridge adapter),
  trained with the paper's cosine loss and Adam.
- `KernelAdapter`: the cheap encoder's last six layers (mean-pooled, concatenated) mapped by
  kernel ridge regression (an RBF plus a linear kernel) around the training words; the ridge
  strength again by exact leave-one-out. Above 3,000 training words, 3,000 of them serve as
  centres and every training word still fits the map (subset of regressors).
- `SubwordStudent`: no cheap model at all. Hashed character n-grams (3-5, with word boundaries,
  plus the whole word) -> an embedding bag (mean) -> a linear map -> unit norm, like fastText.

Every student is a `core.words.base.Student`: `forward(index)` / `predict(index)` (autograd on, for training),
`predict_all()`, and its traits (`closed_form`, `reads`). They train through the reference loop
(`core.words.train`). Their inputs (cheap features, n-gram ids) are rebuilt from the items at load time, never
stored.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.poisoning.defence import fit_defended
from core.poisoning.poison import ridge_loo_losses
from core.words.base import Student

RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-3, 3, 13))
MLP_HIDDEN = 1024
SUBWORD_BUCKETS = 1 << 15
SUBWORD_WIDTH = 64
NGRAMS = (3, 4, 5)


# --- ridge regression -------------------------------------------------------------------------


def fit_ridge(
    x: torch.Tensor, y: torch.Tensor, alphas: Sequence[float] = RIDGE_ALPHAS, weights: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """min_W sum_i w_i |(x_i - mx) W - (y_i - my)|^2 + alpha |W|^2, with alpha picked by exact leave-one-out error.

    Returns (weight (d_out, d_in) as nn.Linear stores it, bias (d_out,), alpha). In float64.
    Leave-one-out without refitting: with the hat matrix H = U diag(s^2 / (s^2 + alpha)) U^T of the
    centered x, the left-out residual of row i is r_i / (1 - H_ii - 1/n) (the 1/n is the intercept).
    `weights` (the robust defence's) default to 1; they are rescaled to average 1, the means become
    weighted means and each row is scaled by sqrt(w_i) (so the data's weight against alpha stays that of
    n rows; a zero weight therefore is not the same as leaving the row out of the data).
    """
    x64, y64 = x.double(), y.double()
    if weights is None:
        w = torch.full((x64.shape[0],), 1.0 / x64.shape[0], dtype=torch.float64)
    else:
        w = weights.double().cpu().clamp_min(0)
        w = w / w.sum().clamp_min(1e-300)
    mx, my = w @ x64, w @ y64
    root = (w * x64.shape[0]).sqrt()[:, None]
    xc, yc = (x64 - mx) * root, (y64 - my) * root
    n = xc.shape[0]
    u, s, vt = torch.linalg.svd(xc, full_matrices=False)
    uty = u.T @ yc
    best_alpha, best_err = float(alphas[len(alphas) // 2]), float("inf")
    if n >= 3:
        for alpha in alphas:
            shrink = s**2 / (s**2 + alpha)
            fitted = u @ (shrink[:, None] * uty)
            leverage = (u**2 @ shrink) + w
            loo = (yc - fitted) / (1.0 - leverage).clamp_min(1e-9)[:, None]
            err = float((loo**2).sum())
            if err < best_err:
                best_alpha, best_err = float(alpha), err
    coef = vt.T @ ((s / (s**2 + best_alpha))[:, None] * uty)  # (d_in, d_out)
    bias = my - mx @ coef
    return coef.T.float(), bias.float(), best_alpha


# --- the students ------------------------------------------------------------------------------


def _checked_features(config, features: np.ndarray | None, device) -> torch.Tensor:
    """An adapter's input matrix, after checking it has one row per item and the right width."""
    if features is None or features.shape != (config.vocab_size, config.in_dim):
        shape = None if features is None else features.shape
        raise ValueError(f"This adapter needs {config.vocab_size} × {config.in_dim} cheap features, got {shape}.")
    return torch.as_tensor(np.asarray(features, dtype=np.float32), device=device)


class _FeatureStudent(Student):
    """Base of the adapters: reads a fixed (n_items, d_in) feature matrix (not saved with the
    weights: it is the cheap model's cached output, rebuilt at load)."""

    reads = "features"

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.register_buffer("features", torch.zeros(config.vocab_size, config.in_dim), persistent=False)
        self.register_buffer("alpha", torch.zeros(()))  # the chosen ridge strength, kept for the run card
        self.linear = nn.Linear(config.in_dim, config.dim)

    def set_inputs(self, items: Sequence[str], features: np.ndarray | None) -> None:
        self.features = _checked_features(self.config, features, self.linear.weight.device)

    def reset_parameters(self, generator: torch.Generator) -> None:
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    @torch.no_grad()
    def fit_linear(self, train_idx: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None) -> None:
        weight, bias, alpha = fit_ridge(self.features[train_idx].cpu(), targets[train_idx].cpu(), weights=weights)
        self.linear.weight.copy_(weight)
        self.linear.bias.copy_(bias)
        self.alpha.fill_(alpha)

    @torch.no_grad()
    def loo_losses(self, train_idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Each answer's leave-one-out cosine loss under the ridge map (at the fitted alpha)."""
        return ridge_loo_losses(self.features[train_idx].cpu(), targets[train_idx].cpu(), float(self.alpha)).float()

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)

    def predict(self, index: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.raw(self.features[index]), dim=-1)

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        return self.predict(index)

    @torch.no_grad()
    def predict_all(self) -> torch.Tensor:
        was = self.training
        self.eval()
        out = torch.cat(
            [F.normalize(self.raw(self.features[s : s + 65536]), dim=-1) for s in range(0, len(self.features), 65536)]
        )
        self.train(was)
        return out


class RidgeAdapter(_FeatureStudent):
    """cheap features -> ridge regression -> unit norm (closed form; defences in `core.poisoning.defence.fit_defended`)."""

    closed_form = True

    @torch.no_grad()
    def fit(self, train_idx: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None) -> None:
        self.fit_linear(train_idx, targets, weights)


class MLPAdapter(_FeatureStudent):
    """cheap features -> ridge map + a learnt non-linear correction -> unit norm."""

    def __init__(self, config):
        super().__init__(config)
        hidden = config.hidden or MLP_HIDDEN
        self.inner = nn.Linear(config.in_dim, hidden)
        self.outer = nn.Linear(hidden, config.dim)
        self.dropout = nn.Dropout(0.5)

    def reset_parameters(self, generator: torch.Generator) -> None:
        super().reset_parameters(generator)
        nn.init.kaiming_uniform_(self.inner.weight, a=5**0.5, generator=generator)
        nn.init.zeros_(self.inner.bias)
        nn.init.zeros_(self.outer.weight)  # the correction starts at zero: epoch 0 is the ridge map
        nn.init.zeros_(self.outer.bias)

    def fit(self, train_idx: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None) -> None:
        self.fit_linear(train_idx, targets, weights)

    def predict_linear(self, index: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.linear(self.features[index]), dim=-1)

    def prepare(self, train_idx: torch.Tensor, targets: torch.Tensor, defence: str = "none", trim: float = 0.0) -> None:
        """The ridge map, fitted under the run's defence (so poison does not get in through it), then frozen."""
        fit_defended(_LinearPart(self), train_idx, targets, defence, trim)
        self.linear.requires_grad_(False)  # the ridge map stays; only the correction learns

    def raw(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + self.outer(self.dropout(F.gelu(self.inner(x))))


class _LinearPart:
    """The MLP adapter's ridge map seen as a closed-form adapter (for `fit_defended`)."""

    def __init__(self, mlp: MLPAdapter):
        self.mlp = mlp

    def fit(self, idx, targets, weights=None):
        self.mlp.fit(idx, targets, weights)

    def loo_losses(self, idx, targets):
        return self.mlp.loo_losses(idx, targets)

    def predict(self, idx):
        return self.mlp.predict_linear(idx)


def ngram_ids(word: str, buckets: int = SUBWORD_BUCKETS) -> list[int]:
    """The hashed character n-grams of '<word>' and the whole '<word>' (stable across processes:
    crc32, not Python's salted hash).

    >>> len(ngram_ids("cat"))   # <ca cat at> | <cat ca at> | <cat> | <cat>
    7
    """
    marked = f"<{word}>"
    grams = [marked[i : i + n] for n in NGRAMS for i in range(len(marked) - n + 1)]
    grams.append(marked)
    return [zlib.crc32(g.encode("utf-8")) % buckets for g in grams]


class SubwordStudent(Student):
    """hashed character n-grams -> embedding bag (mean) -> linear -> unit norm."""

    reads = "texts"

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.buckets = config.buckets or SUBWORD_BUCKETS
        width = config.hidden or SUBWORD_WIDTH
        # One extra row is the padding (ignored by the mean).
        self.bag = nn.EmbeddingBag(self.buckets + 1, width, mode="mean", padding_idx=self.buckets)
        self.linear = nn.Linear(width, config.dim)
        self.register_buffer(
            "ids", torch.full((config.vocab_size, 1), self.buckets, dtype=torch.long), persistent=False
        )

    def set_inputs(self, items: Sequence[str], features: np.ndarray | None = None) -> None:
        if len(items) != self.config.vocab_size:
            raise ValueError(f"This student was built for {self.config.vocab_size} items, got {len(items)}.")
        rows = [ngram_ids(w, self.buckets) for w in items]
        width = max(1, max(map(len, rows), default=1))
        ids = np.full((len(rows), width), self.buckets, dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
        self.ids = torch.from_numpy(ids).to(self.linear.weight.device)

    def reset_parameters(self, generator: torch.Generator) -> None:
        nn.init.normal_(self.bag.weight, std=0.1, generator=generator)
        with torch.no_grad():
            self.bag.weight[self.buckets].zero_()
        nn.init.zeros_(self.linear.weight)  # with `prepare`'s bias: epoch 0 is the average-vector baseline
        nn.init.zeros_(self.linear.bias)

    @torch.no_grad()
    def prepare(self, train_idx: torch.Tensor, targets: torch.Tensor, defence: str = "none", trim: float = 0.0):
        # Start from the average answer (the baseline every student must beat); the n-grams learn
        # what moves a word away from it.
        self.linear.bias.copy_(targets[train_idx].mean(0))

    def predict(self, index: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.linear(self.bag(self.ids[index])), dim=-1)

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        return self.predict(index)

    @torch.no_grad()
    def predict_all(self) -> torch.Tensor:
        return torch.cat(
            [
                self.predict(torch.arange(s, min(s + 8192, len(self.ids)), device=self.ids.device))
                for s in range(0, len(self.ids), 8192)
            ]
        )


KERNEL_ALPHAS = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
KERNEL_GAMMAS = (1.0, 2.0, 4.0)  # exp(-gamma |a - b|^2) on unit feature rows (|a - b|^2 is in [0, 4])
KERNEL_LINEAR = 0.1  # weight of the linear kernel a.b added to the RBF
MAX_CENTRES = 3000  # exact kernel ridge up to this many training words (an n^3 eigendecomposition)
# Above 2x this many centres, gamma is first screened on a seeded sample of this many of them (`choose_kernel_setting`):
# one eigendecomposition of the full kernel instead of one per gamma, which is most of a fit (3,000 centres on the
# 2-core box under load: eigh ~200 s per gamma, the kernel ~10 s, the leave-one-out errors ~10 s). Measured on the
# story's words (MiniLM's layers -> MiniLM, p = 0.3, 3,000 centres): best errors per gamma 1 / 2 / 4 of 75 / 170 / 405
# on every centre, 97 / 134 / 204 on a 500-sample: the same ranking, by far more than the margin below.
KERNEL_SCREEN_CENTRES = 500
# A gamma whose screened error is within this share of the best one's is decided on every centre too, so a close call
# is never left to the sample.
KERNEL_SCREEN_MARGIN = 0.1


def kernel_parts(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(squared distances clamped at 0, dot products) of the rows of a and b: what every gamma's kernel is made of."""
    dot = a @ b.T
    sq = (a * a).sum(1, keepdim=True) + (b * b).sum(1)[None, :] - 2 * dot
    return sq.clamp_min(0), dot


def kernel_from_parts(sq: torch.Tensor, dot: torch.Tensor, gamma: float, linear: float = KERNEL_LINEAR) -> torch.Tensor:
    return torch.exp(-gamma * sq) + linear * dot


def kernel_matrix(a: torch.Tensor, b: torch.Tensor, gamma: float, linear: float = KERNEL_LINEAR) -> torch.Tensor:
    return kernel_from_parts(*kernel_parts(a, b), gamma, linear)


def _loo_errors(kernel: torch.Tensor, ym: torch.Tensor, alphas: Sequence[float]) -> tuple[list[float], tuple]:
    """The exact leave-one-out error of kernel ridge for each alpha, from one eigendecomposition of the kernel
    (returned too: (w, v, v^T y)). Left-out residual of row i: r_i / (1 - H_ii), H = V diag(w / (w + alpha)) V^T."""
    w, v = torch.linalg.eigh(kernel)
    vty = v.T @ ym
    v2 = v**2
    errors = []
    for alpha in alphas:
        shrink = w / (w + alpha)
        leverage = (v2 * shrink).sum(1)
        loo = (ym - v @ (shrink[:, None] * vty)) / (1.0 - leverage).clamp_min(1e-9)[:, None]
        errors.append(float((loo**2).sum()))
    return errors, (w, v, vty)


def choose_kernel_setting_exhaustive(
    sq: torch.Tensor, dot: torch.Tensor, ym: torch.Tensor, alphas: Sequence[float], gammas: Sequence[float]
) -> tuple[float, float, tuple]:
    """The reference choice: the (alpha, gamma) of least exact leave-one-out error over every pair, one
    eigendecomposition per gamma (`sq`, `dot`: `kernel_parts` of the centres; `ym`: their centred targets).
    Returns (alpha, gamma, the chosen gamma's (w, v, v^T y)). Below 3 centres nothing can be compared: the first ones."""
    best: tuple | None = None
    for gamma in gammas:
        errors, eig = _loo_errors(kernel_from_parts(sq, dot, gamma), ym, alphas)
        if len(ym) < 3:
            return float(alphas[0]), float(gamma), eig
        for alpha, err in zip(alphas, errors):
            if best is None or err < best[0]:
                best = (err, float(alpha), float(gamma), eig)
    return best[1], best[2], best[3]


def choose_kernel_setting(
    sq: torch.Tensor,
    dot: torch.Tensor,
    ym: torch.Tensor,
    alphas: Sequence[float],
    gammas: Sequence[float],
    screen: int = KERNEL_SCREEN_CENTRES,
    margin: float = KERNEL_SCREEN_MARGIN,
) -> tuple[float, float, tuple]:
    """`choose_kernel_setting_exhaustive`'s choice with fewer eigendecompositions of the full kernel (an m^3 each).
    Above 2 x `screen` centres, every gamma is first scored on a seeded sample of `screen` of them (its best error over
    the alphas); only the best gamma, and any within `margin` of it, are then decided exactly on every centre. The
    alpha is always chosen on every centre. Same result as the exhaustive choice whenever the sample ranks the best
    gamma among its finalists (tested against it; measured on the story's data)."""
    m = len(ym)
    if m <= 2 * screen or len(gammas) < 2:
        return choose_kernel_setting_exhaustive(sq, dot, ym, alphas, gammas)
    sub = torch.randperm(m, generator=torch.Generator().manual_seed(0))[:screen].sort().values
    sq_s, dot_s, ym_s = sq[sub][:, sub], dot[sub][:, sub], ym[sub]
    screened = [min(_loo_errors(kernel_from_parts(sq_s, dot_s, g), ym_s, alphas)[0]) for g in gammas]
    best = min(screened)
    finalists = [g for g, err in zip(gammas, screened) if err <= best * (1.0 + margin)]  # in the given order
    return choose_kernel_setting_exhaustive(sq, dot, ym, alphas, finalists)


def fit_kernel_ridge(
    x: torch.Tensor,
    y: torch.Tensor,
    centres: torch.Tensor,
    alphas: Sequence[float] = KERNEL_ALPHAS,
    gammas: Sequence[float] = KERNEL_GAMMAS,
    exhaustive: bool = False,
):
    """Kernel ridge from rows x to targets y, expanded on x[centres]: returns (coef (m, d_out),
    mean (d_out,), alpha, gamma). (alpha, gamma) minimize the exact leave-one-out error of the
    kernel ridge on the centres (`choose_kernel_setting`; `exhaustive`: the reference, one eigendecomposition per
    gamma); with every row a centre this is plain kernel ridge, otherwise all rows fit the coefficients (subset of
    regressors)."""
    x64, y64 = x.double(), y.double()
    mean = y64.mean(0)
    yc = y64 - mean
    xm, ym = x64[centres], yc[centres]
    sq, dot = kernel_parts(xm, xm)  # shared by every gamma's kernel
    choose = choose_kernel_setting_exhaustive if exhaustive else choose_kernel_setting
    alpha, gamma, (w, v, vty) = choose(sq, dot, ym, alphas, gammas)
    if len(centres) == len(x):
        coef = v @ ((1.0 / (w + alpha))[:, None] * vty)
    else:
        kmm = kernel_from_parts(sq, dot, gamma)
        knm = kernel_matrix(x64, xm, gamma)
        coef = torch.linalg.solve(
            knm.T @ knm + alpha * kmm + 1e-9 * torch.eye(len(centres), dtype=torch.float64), knm.T @ yc
        )
    return coef.float(), mean.float(), alpha, gamma


def weighted_kernel_ridge(
    x: torch.Tensor, y: torch.Tensor, centres: torch.Tensor, alpha: float, gamma: float, weights: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """min_c sum_i w_i |k_i c - (y_i - m)|^2 + alpha c^T Kmm c (weighted mean m): the robust defence's refit."""
    x64, y64 = x.double(), y.double()
    w = weights.double().clamp_min(0)
    w = w / w.sum().clamp_min(1e-300) * len(w)
    mean = (w @ y64) / w.sum()
    yc = y64 - mean
    xm = x64[centres]
    knm = kernel_matrix(x64, xm, gamma)
    kmm = kernel_matrix(xm, xm, gamma)
    weighted = knm * w[:, None]
    coef = torch.linalg.solve(
        knm.T @ weighted + alpha * kmm + 1e-9 * torch.eye(len(centres), dtype=torch.float64), weighted.T @ yc
    )
    return coef.float(), mean.float()


class KernelAdapter(Student):
    """cheap encoder's layers -> kernel ridge around training words -> unit norm (closed form)."""

    closed_form = True
    reads = "features"

    def __init__(self, config):
        super().__init__()
        self.config = config
        m = max(1, config.centres)
        self.register_buffer("features", torch.zeros(config.vocab_size, config.in_dim), persistent=False)
        self.register_buffer("centres", torch.zeros(m, dtype=torch.long))  # item indices
        self.register_buffer("coef", torch.zeros(m, config.dim))
        self.register_buffer("mean", torch.zeros(config.dim))
        self.register_buffer("alpha", torch.zeros(()))
        self.register_buffer("gamma", torch.ones(()))

    def set_inputs(self, items: Sequence[str], features: np.ndarray | None) -> None:
        self.features = _checked_features(self.config, features, self.coef.device)

    def reset_parameters(self, generator: torch.Generator) -> None:
        self._generator = generator

    @torch.no_grad()
    def fit(self, train_idx: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None) -> None:
        """Kernel ridge on these training words. With `weights` (the robust defence's reweighting) the
        centres, alpha and gamma of the last plain fit stay and only the coefficients are refitted."""
        x, y = self.features[train_idx].cpu(), targets[train_idx].cpu()
        if weights is not None:
            pick = torch.searchsorted(train_idx.cpu(), self.centres.cpu())
            if not torch.equal(train_idx.cpu()[pick.clamp_max(len(train_idx) - 1)], self.centres.cpu()):
                raise ValueError("A weighted kernel refit needs the centres of a plain fit on the same words.")
            coef, mean = weighted_kernel_ridge(x, y, pick, float(self.alpha), float(self.gamma), weights.cpu())
            self.coef.copy_(coef)
            self.mean.copy_(mean)
            return
        n, m = len(train_idx), self.config.centres
        if m >= n:
            pick = torch.arange(n)
        else:  # a seeded sample of the training words as centres
            pick = torch.randperm(n, generator=getattr(self, "_generator", None))[:m].sort().values
        coef, mean, alpha, gamma = fit_kernel_ridge(x, y, pick)
        if len(pick) < len(
            self.centres
        ):  # fewer words than the centres it was built for (a trimmed refit): pad with zero weight
            pad = len(self.centres) - len(pick)
            coef = torch.cat([coef, torch.zeros(pad, coef.shape[1])])
            pick = torch.cat([pick, pick[:1].expand(pad)])
        self.centres.copy_(train_idx.cpu()[pick])
        self.coef.copy_(coef)
        self.mean.copy_(mean)
        self.alpha.fill_(alpha)
        self.gamma.fill_(gamma)

    @torch.no_grad()
    def loo_losses(self, train_idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Each answer's leave-one-out cosine loss under the kernel map (after a plain `fit` on train_idx)."""
        x, y = self.features[train_idx].cpu().double(), targets[train_idx].cpu().double()
        mean = y.mean(0)
        yc = y - mean
        gamma, alpha = float(self.gamma), float(self.alpha)
        n = len(x)
        if len(torch.unique(self.centres)) >= n:
            # Exact kernel ridge: LOO residual_i = [(K + aI)^-1 y]_i / [(K + aI)^-1]_ii.
            inv = torch.cholesky_inverse(
                torch.linalg.cholesky(kernel_matrix(x, x, gamma) + alpha * torch.eye(n, dtype=torch.float64))
            )
            loo_residual = (inv @ yc) / inv.diagonal()[:, None]
            left_out = yc - loo_residual
        else:
            # Subset of regressors: H = Knm A^-1 Knm^T with A = Knm^T Knm + a Kmm.
            xm = self.features[self.centres].cpu().double()
            knm = kernel_matrix(x, xm, gamma)
            a = knm.T @ knm + alpha * kernel_matrix(xm, xm, gamma) + 1e-9 * torch.eye(len(xm), dtype=torch.float64)
            chol = torch.linalg.cholesky(a)
            b = torch.linalg.solve_triangular(chol, knm.T, upper=False)
            leverage = (b**2).sum(0)  # the mean is not refitted, as in the exact branch
            fitted = knm @ torch.cholesky_solve(knm.T @ yc, chol)
            left_out = yc - (yc - fitted) / (1.0 - leverage).clamp_min(1e-9)[:, None]
        return (1.0 - F.cosine_similarity(left_out + mean, y, dim=1)).float()

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        return self.predict(index)

    def predict(self, index: torch.Tensor) -> torch.Tensor:
        k = kernel_matrix(self.features[index], self.features[self.centres], float(self.gamma))
        return F.normalize(k @ self.coef + self.mean, dim=-1)

    @torch.no_grad()
    def predict_all(self) -> torch.Tensor:
        n = len(self.features)
        return torch.cat(
            [self.predict(torch.arange(s, min(s + 4096, n), device=self.features.device)) for s in range(0, n, 4096)]
        )
