"""Defences against poisoned teacher answers, for every student.

- `none`: the paper's plain training (every answer counts the same).
- `trimmed`: answers whose loss is an outlier are left out. Students trained in epochs leave them out of the
  next epoch, which is decided again after every epoch. Closed-form adapters (ridge, kernel) judge each answer by
  its *leave-one-out* loss and refit without the outliers, twice.
- `small-loss`: only the answers the student already fits best count (co-teaching's small-loss trick).
  Within every batch, the highest-loss share is skipped; that share grows from 0 to its target over the first
  `RAMP_EPOCHS` epochs, because early on every answer has a high loss. Closed-form adapters refit on the answers
  with the smallest in-sample loss.
- `robust`: a bounded loss instead of a selection. Up to the median loss m it is the paper's cosine loss ℓ; above,
  it is m + s·(1 − exp(−(ℓ − m)/s)) (Welsch's shape), which stops growing: an answer far from what the student
  predicts pulls with weight exp(−(ℓ − m)/s), so no single answer can drag the student far, while the better
  half of the answers count fully. s = 3 × 1.4826 × the median absolute deviation of the losses (three robust
  spreads), so an answer 3 spreads above the median pulls with weight 0.37 and one 9 spreads above with 0.05
  (a tighter s also discounts honest answers that are merely hard, and costs quality on clean data). m and s come from the last epoch; closed-form
  adapters take them from their plain fit and refit by iteratively reweighted least squares.

How much to leave out (`trim`): 0 means "decide from the losses": an answer is an outlier when its loss lies more
than 3 robust standard deviations (1.4826 × median absolute deviation) above the median (`core.poisoning.poison.outliers`).
A fraction in (0, 0.5] leaves out exactly that share of the highest losses instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from core.config import DEFENCES, MAX_TRIM, check_trim
from core.poisoning.poison import outliers

RAMP_EPOCHS = 5  # small-loss: epochs over which the skipped share grows to its target
CLOSED_ROUNDS = 2  # trimmed / small-loss refits of a closed-form adapter
IRLS_ROUNDS = 3  # robust reweighting rounds of a closed-form adapter
ROBUST_SPREADS = 3.0  # the robust loss's scale, in robust spreads of the losses
MIN_SCALE = 1e-3


def flag(losses: torch.Tensor, trim: float = 0.0) -> torch.Tensor:
    """Which answers a defence leaves out: the top `trim` share of the losses, or (trim = 0) the outliers."""
    losses = losses.detach()
    n = losses.numel()
    if trim > 0:
        count = min(n - 1, int(math.ceil(trim * n))) if n > 1 else 0
        out = torch.zeros(n, dtype=torch.bool, device=losses.device)
        if count > 0:
            out[torch.topk(losses, count).indices] = True
        return out

    return torch.from_numpy(outliers(losses.double().cpu().numpy())).to(losses.device)


def loss_scale(losses: torch.Tensor) -> tuple[float, float]:
    """(median, ROBUST_SPREADS x 1.4826 x median absolute deviation) of the losses: the robust defence's scale."""
    losses = losses.detach().double()
    median = float(losses.median())
    return median, max(ROBUST_SPREADS * 1.4826 * float((losses - median).abs().median()), MIN_SCALE)


def welsch_weights(losses: torch.Tensor, scale: tuple[float, float]) -> torch.Tensor:
    """d rho / d loss of the robust defence's bounded loss: 1 up to the median, exp(-(l - m) / s) above."""
    median, spread = scale
    return torch.exp(-(losses.detach() - median).clamp_min(0) / spread)


@dataclass
class TrainReport:
    """What a training loop tells about the training answers, for detection and the defence's account.

    item_losses: each training answer's loss at the end (training order). For students trained in epochs: the
    final student's cosine loss; for closed-form adapters: the leave-one-out loss under the plain fit (an answer
    is judged by a model that never saw it, which a closed-form fit needs: it can memorize an answer).
    dropped: which answers the defence left out at the end (selection defences), else None.
    """

    item_losses: np.ndarray | None = None
    dropped: np.ndarray | None = None


class EpochDefence:
    """A defence's state across the epochs of a student trained by gradient steps."""

    def __init__(self, kind: str, trim: float, n_train: int, device):
        if kind not in DEFENCES:
            raise ValueError(f"defence must be one of {', '.join(DEFENCES)}, got {kind!r}.")
        self.kind, self.trim, self.n_train, self.device = kind, check_trim(trim), n_train, device
        self.epoch = 0
        self.active: torch.Tensor | None = None  # trimmed: training positions used next epoch (None: all)
        self.dropped = torch.zeros(n_train, dtype=torch.bool)  # trimmed: left out of the NEXT epoch
        self.skipped = torch.zeros(n_train, dtype=torch.bool)  # trimmed: left out of the epoch just trained
        self.skip_share = 0.0  # small-loss: share of each batch skipped this epoch
        self._target_share = trim
        self.scale: tuple[float, float] | None = None  # robust: (median, spread) of the last epoch's losses

    @property
    def weighs_batches(self) -> bool:
        return self.kind in ("small-loss", "robust")

    def order(self, permutation: torch.Tensor) -> torch.Tensor:
        """The epoch's permutation of training positions, without the ones a trimmed defence leaves out."""
        if self.active is None:
            self.skipped = torch.zeros(self.n_train, dtype=torch.bool)
            return permutation
        keep = torch.zeros(self.n_train, dtype=torch.bool, device=permutation.device)
        keep[self.active] = True
        self.skipped = (~keep).cpu()
        return permutation[keep[permutation]]

    def after_epoch(self, losses: torch.Tensor) -> None:
        """Update from every training answer's loss under the student at the end of an epoch."""
        self.epoch += 1
        if self.kind == "none":
            return
        flagged = flag(losses, self.trim)
        if self.kind == "trimmed":
            self.dropped = flagged.cpu()
            self.active = torch.nonzero(~flagged).squeeze(1).to(self.device) if flagged.any() else None
        elif self.kind == "small-loss":
            if self.trim == 0 and self.epoch == 1:
                self._target_share = min(MAX_TRIM, float(flagged.float().mean()))  # decided once, from the first epoch
            self.skip_share = self._target_share * min(1.0, self.epoch / RAMP_EPOCHS)
        elif self.kind == "robust":
            self.scale = loss_scale(losses)

    def weights(self, losses: torch.Tensor) -> torch.Tensor | None:
        """Per answer of a batch: its weight in the batch's loss (they replace the plain mean's 1/B);
        None for plain training."""
        b = losses.numel()
        if self.kind == "small-loss" and self.skip_share > 0:
            keep = max(1, b - int(round(self.skip_share * b)))
            w = torch.zeros_like(losses)
            w[torch.topk(losses.detach(), keep, largest=False).indices] = 1.0 / keep
            return w
        if self.kind == "robust":
            scale = self.scale if self.scale is not None else loss_scale(losses)
            return welsch_weights(losses, scale) / b
        return None

    def final_dropped(self) -> np.ndarray | None:
        """Trimmed: the answers the last trained epoch really left out (what the run's weights reflect)."""
        return self.skipped.numpy() if self.kind == "trimmed" else None


def fit_defended(model, train_idx: torch.Tensor, targets: torch.Tensor, kind: str, trim: float) -> TrainReport:
    """Fit a closed-form adapter (ridge, kernel; also the MLP adapter's ridge part) under a defence.

    The adapter offers `fit(idx, targets, weights=None)`, `loo_losses(idx, targets)` (after a plain fit on idx)
    and `predict(idx)`.
    """
    trim = check_trim(trim)
    model.fit(train_idx, targets)
    report = TrainReport(item_losses=model.loo_losses(train_idx, targets).cpu().numpy())
    n = len(train_idx)

    def in_sample() -> torch.Tensor:
        with torch.no_grad():
            return 1.0 - (model.predict(train_idx) * targets[train_idx]).sum(1)

    if kind == "trimmed":
        keep = torch.ones(n, dtype=torch.bool)
        losses = torch.from_numpy(report.item_losses)
        for _ in range(CLOSED_ROUNDS if trim == 0 else 1):
            kept = torch.nonzero(keep).squeeze(1)
            out = flag(losses, trim)
            if not out.any():
                break
            keep[kept[out.cpu()]] = False
            model.fit(train_idx[keep.to(train_idx.device)], targets)
            if keep.sum() < 3:
                break
            losses = model.loo_losses(train_idx[keep.to(train_idx.device)], targets).cpu()
        report.dropped = (~keep).numpy()
    elif kind == "small-loss":
        share = trim if trim > 0 else min(MAX_TRIM, float(flag(in_sample()).float().mean()))
        keep = torch.ones(n, dtype=torch.bool)
        for _ in range(CLOSED_ROUNDS):
            out = flag(in_sample().cpu(), share) if share > 0 else torch.zeros(n, dtype=torch.bool)
            if torch.equal(~out, keep):
                break
            keep = ~out
            model.fit(train_idx[keep.to(train_idx.device)], targets)
        report.dropped = (~keep).numpy()
    elif kind == "robust":
        scale = loss_scale(
            in_sample()
        )  # from the plain fit, kept: re-estimating it would let the fit chase its own best answers
        for _ in range(IRLS_ROUNDS):
            model.fit(train_idx, targets, weights=welsch_weights(in_sample(), scale))
    elif kind != "none":
        raise ValueError(f"defence must be one of {', '.join(DEFENCES)}, got {kind!r}.")
    return report
