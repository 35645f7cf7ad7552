"""Poisoning beyond the paper: several adversaries, detection from per-item loss, a trimmed defence.

The paper's attack gives a fraction of the words random unit vectors as "teacher answers". Here:

- `Adversary.RANDOM`: a uniform random unit vector (the paper's);
- `Adversary.SWAP`: another word's true teacher vector (plausible, hard to spot by its look);
- `Adversary.NEGATE`: the teacher's vector turned around;
- `Adversary.NOISE`: the teacher's vector plus strong noise (cosine ~0.3 to the truth);
- `Adversary.CONCENTRATED`: every poisoned word points to one shared direction (a coordinated attack).

`core.data.dataset.poison_answers` poisons either the whole dataset before the split (the paper's
protocol) or only the training set. Detection flags training items whose *leave-one-out* loss is an outlier: an
adapter fitted in closed form can memorize a poisoned answer, so its in-sample loss says little,
while the loss of a model fitted without the item says how far the answer is from what every
other word implies; `core.poisoning.defence.fit_defended` refits without the flagged items.

Defences for every student are in `core.poisoning.defence`; the Poisoning lab page shows all of it, and `retest_paper_claim`
checks the paper's robustness claim on held-out words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.data.dataset import build_dataset
from core.vectors import average_answer

# --- detection --------------------------------------------------------------------------------


def ridge_loo_losses(x: torch.Tensor, y: torch.Tensor, alpha: float) -> torch.Tensor:
    """Per row: 1 - cos(leave-one-out ridge prediction, y), from one SVD (core.words.generalizing.fit_ridge's
    model with this alpha)."""
    x64, y64 = x.double(), y.double()
    xc, my = x64 - x64.mean(0), y64.mean(0)
    yc = y64 - my
    n = len(xc)
    u, s, _ = torch.linalg.svd(xc, full_matrices=False)
    shrink = s**2 / (s**2 + alpha)
    fitted = u @ (shrink[:, None] * (u.T @ yc))
    leverage = (u**2 @ shrink) + 1.0 / n
    loo = yc - (yc - fitted) / (1.0 - leverage).clamp_min(1e-9)[:, None]  # the left-out prediction (centred)
    pred = loo + my
    return 1.0 - torch.nn.functional.cosine_similarity(pred, y64, dim=1)


def outlier_threshold(losses: np.ndarray, k: float = 3.0) -> float:
    """median + k x (1.4826 x median absolute deviation) of the losses."""
    losses = np.asarray(losses, dtype=np.float64)
    median = np.median(losses)
    mad = 1.4826 * np.median(np.abs(losses - median))
    return float(median + k * max(mad, 1e-6))


def outliers(losses: np.ndarray, k: float = 3.0) -> np.ndarray:
    """Flags losses above `outlier_threshold`: a rule that needs no knowledge of how many answers are poisoned."""
    losses = np.asarray(losses, dtype=np.float64)
    return losses > outlier_threshold(losses, k)


@dataclass(frozen=True)
class Detection:
    flagged: np.ndarray  # bool over the training items (in training order)
    truth: np.ndarray  # bool: actually poisoned
    losses: np.ndarray  # the per-item loss used

    @property
    def precision(self) -> float | None:
        hits = int((self.flagged & self.truth).sum())
        return hits / int(self.flagged.sum()) if self.flagged.any() else None

    @property
    def recall(self) -> float | None:
        hits = int((self.flagged & self.truth).sum())
        return hits / int(self.truth.sum()) if self.truth.any() else None


def detect(losses: np.ndarray, truth: np.ndarray, k: float = 3.0) -> Detection:
    return Detection(outliers(losses, k), np.asarray(truth, dtype=bool), np.asarray(losses))


# --- the paper's robustness claim, re-tested on held-out words --------------------------------------


def baseline_heldout_cosine(
    items, clean: np.ndarray, p: float, poison: float, seed: int, adversary: str = "random", scope: str = "all"
) -> float | None:
    """Held-out cosine of the student that learns nothing (each unknown word gets the unit average of the
    answers paid for, poisoned ones included), for one run's split and poison."""
    data = build_dataset(items, clean, p, poison, seed, adversary, scope)
    if not len(data.heldout_idx):
        return None
    return float((data.clean[data.heldout_idx] @ average_answer(data.targets, data.train_idx)).mean())


@dataclass(frozen=True)
class ClaimCheck:
    """The paper's claim re-tested: the numbers and the verdict's kind (the page says them in words:
    pages/_labels.py's claim_verdict).

    verdict_kind: 'no held-out words' (p trains on every word); 'no better than learning nothing' (the poisoned
    run's held-out cosine is within 0.01 of the learn-nothing baseline); 'holds' (it keeps 95 % of the clean
    run's); else 'costs quality'."""

    p: float  # the grid's p closest to the paper's 0.095
    epoch: int
    rate: float  # the poisoned share
    loss_here: float
    loss_neighbours: tuple[float | None, float | None]  # same epoch, the next smaller and larger p
    neighbour_ps: tuple[float | None, float | None]  # those p values (None: none in the grid)
    local_minimum: bool
    heldout_poisoned: float | None
    heldout_clean: float | None
    baseline: float | None
    best_heldout: tuple[float, float, int] | None  # (cosine, p, epoch) of the poisoned runs' best held-out score
    verdict_kind: str  # 'holds', 'no better than learning nothing', 'costs quality' or 'no held-out words'


def retest_paper_claim(
    frame,
    rate: float = 0.1,
    p_target: float = 0.095,
    epoch: int = 20,
    baselines: dict[float, float | None] | None = None,
) -> ClaimCheck | None:
    """Sahoo & Alberdi report, with 10 % poison, a local minimum of the training loss near p = 0.1 and ~20
    epochs ("surprising robustness"). `frame`: every epoch of a family of runs (core.runs.sweep.sweep_frame: p,
    poison, epoch, train_loss, heldout_cosine), poisoned at `rate` and clean. `baselines`: the learn-nothing
    student's held-out cosine per p. None when the family lacks the poisoned runs or that epoch."""
    import polars as pl

    poisoned = frame.filter((pl.col("poison") - rate).abs() < 1e-9)
    clean = frame.filter(pl.col("poison") == 0.0)
    if poisoned.is_empty() or poisoned.filter(pl.col("epoch") == epoch).is_empty():
        return None
    ps = sorted(set(poisoned.filter(pl.col("epoch") == epoch)["p"].to_list()))
    p = min(ps, key=lambda v: (abs(np.log(v / p_target)), v))
    i = ps.index(p)

    def at(table, p_value, column="train_loss"):
        row = table.filter(((pl.col("p") - p_value).abs() < 1e-12) & (pl.col("epoch") == epoch))
        return None if row.is_empty() or row[column][0] is None else float(row[column][0])

    loss_here = at(poisoned, p)
    neighbours = (at(poisoned, ps[i - 1]) if i > 0 else None, at(poisoned, ps[i + 1]) if i + 1 < len(ps) else None)
    present = [v for v in neighbours if v is not None]
    local_minimum = bool(present) and all(loss_here < v for v in present)
    held_poisoned, held_clean = at(poisoned, p, "heldout_cosine"), at(clean, p, "heldout_cosine")
    baseline = (baselines or {}).get(p)
    scored = poisoned.drop_nulls("heldout_cosine")
    best = None
    if scored.height:
        row = scored.sort("heldout_cosine", descending=True).row(0, named=True)
        best = (float(row["heldout_cosine"]), float(row["p"]), int(row["epoch"]))

    if held_poisoned is None:
        kind = "no held-out words"
    elif baseline is not None and held_poisoned <= baseline + 0.01:
        kind = "no better than learning nothing"
    elif held_clean is not None and held_poisoned >= 0.95 * held_clean:
        kind = "holds"
    else:
        kind = "costs quality"
    return ClaimCheck(
        p,
        epoch,
        rate,
        loss_here,
        neighbours,
        (ps[i - 1] if i > 0 else None, ps[i + 1] if i + 1 < len(ps) else None),
        local_minimum,
        held_poisoned,
        held_clean,
        baseline,
        best,
        kind,
    )


CLAIM_EPOCHS = 40  # the paper's claim is about ~20 epochs; twice that shows whether the loss keeps falling


def claim_frame(frame, epochs: int = CLAIM_EPOCHS, rate: float = 0.1):
    """The rows of the claim's two panels: every epoch up to `epochs` of the p values that have both a clean
    and a poisoned (`rate`) run, so no row of either panel is blank. `frame`: core.runs.sweep.sweep_frame output
    (p, poison, epoch, ...). Example: clean runs at p 0.1 and 0.2, a poisoned one at 0.1 -> only p = 0.1."""
    import polars as pl

    frame = frame.filter(pl.col("epoch") <= epochs)
    clean = set(frame.filter(pl.col("poison") == 0.0)["p"].to_list())
    poisoned = set(frame.filter((pl.col("poison") - rate).abs() < 1e-9)["p"].to_list())
    return frame.filter(pl.col("p").is_in(sorted(clean & poisoned)))
