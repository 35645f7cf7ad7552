"""Poisoning beyond the paper: several adversaries, detection from per-item loss, a trimmed defence.

The paper's attack gives a fraction of the words random unit vectors as "teacher answers". Here:

- `Adversary.RANDOM`: a uniform random unit vector (the paper's);
- `Adversary.SWAP`: another word's true teacher vector (plausible, hard to spot by its look);
- `Adversary.NEGATE`: the teacher's vector turned around;
- `Adversary.NOISE`: the teacher's vector plus strong noise (cosine ~0.3 to the truth);
- `Adversary.CONCENTRATED`: every poisoned word points to one shared direction (a coordinated attack).

`poison_answers` poisons either the whole dataset before the split (the paper's protocol) or only
the training set. Detection flags training items whose *leave-one-out* loss is an outlier: an
adapter fitted in closed form can memorize a poisoned answer, so its in-sample loss says little,
while the loss of a model fitted without the item says how far the answer is from what every
other word implies. `trimmed_fit` refits without the flagged items.

`TrainConfig(adversary=…, poison_scope=…, defence='trimmed')` and the CLI use it; no page yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np
import torch

_STREAM = 3  # a random stream separate from the split's and the paper poisoning's


class Adversary(str, Enum):
    RANDOM = "random"
    SWAP = "swap"
    NEGATE = "negate"
    NOISE = "noise"
    CONCENTRATED = "concentrated"


class PoisonScope(str, Enum):
    ALL = "all"  # the whole dataset, before the split (the paper's protocol)
    TRAIN = "train"  # only the answers the student trains on


NOISE_NORM = 3.0  # |noise| / |truth| for Adversary.NOISE: cosine to the truth ~ 1 / sqrt(1 + 9) = 0.32


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)).astype(np.float32)


def poison_answers(
    clean: np.ndarray, rate: float, seed: int, adversary: Adversary | str = Adversary.RANDOM,
    scope: PoisonScope | str = PoisonScope.ALL, train_idx: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(targets, poisoned mask): `round(rate * pool)` answers of the pool (all items, or the
    training items) replaced according to the adversary. `clean` rows are unit vectors."""
    adversary, scope = Adversary(adversary), PoisonScope(scope)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"The poison rate must be between 0 and 1 (not 1), got {rate:g}.")
    clean = np.asarray(clean, dtype=np.float32)
    n, dim = clean.shape
    if scope is PoisonScope.TRAIN:
        if train_idx is None:
            raise ValueError("Poisoning only the training set needs the training indices.")
        pool = np.asarray(train_idx, dtype=np.int64)
    else:
        pool = np.arange(n)
    rng = np.random.default_rng([seed, _STREAM])
    count = int(round(rate * len(pool)))
    chosen = np.sort(rng.choice(pool, size=count, replace=False)) if count else np.empty(0, dtype=np.int64)
    targets = clean.copy()
    mask = np.zeros(n, dtype=bool)
    mask[chosen] = True
    if not count:
        return targets, mask
    if adversary is Adversary.RANDOM:
        targets[chosen] = _unit(rng.standard_normal((count, dim)))
    elif adversary is Adversary.SWAP:
        # Another word's true vector: a random other item for each (never itself).
        other = rng.integers(0, n - 1, size=count)
        other = other + (other >= chosen)  # skip the item itself
        targets[chosen] = clean[other]
    elif adversary is Adversary.NEGATE:
        targets[chosen] = -clean[chosen]
    elif adversary is Adversary.NOISE:
        noise = _unit(rng.standard_normal((count, dim))) * NOISE_NORM
        targets[chosen] = _unit(clean[chosen] + noise)
    elif adversary is Adversary.CONCENTRATED:
        targets[chosen] = _unit(rng.standard_normal((1, dim)))[0]
    return targets, mask


# --- detection --------------------------------------------------------------------------------


def ridge_loo_losses(x: torch.Tensor, y: torch.Tensor, alpha: float) -> torch.Tensor:
    """Per row: 1 - cos(leave-one-out ridge prediction, y), from one SVD (core.generalizing.fit_ridge's
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


def outliers(losses: np.ndarray, k: float = 3.0) -> np.ndarray:
    """Flags losses above median + k x (1.4826 x median absolute deviation): a rule that needs no
    knowledge of how many answers are poisoned."""
    losses = np.asarray(losses, dtype=np.float64)
    median = np.median(losses)
    mad = 1.4826 * np.median(np.abs(losses - median))
    return losses > median + k * max(mad, 1e-6)


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


def trimmed_ridge(x: torch.Tensor, y: torch.Tensor, rounds: int = 2, k: float = 3.0):
    """Ridge fitted, its leave-one-out outliers dropped, fitted again (`rounds` times).
    Returns (weight, bias, alpha, kept mask over the rows)."""
    from core.generalizing import fit_ridge

    keep = torch.ones(len(x), dtype=torch.bool)
    weight, bias, alpha = fit_ridge(x, y)
    for _ in range(rounds):
        losses = ridge_loo_losses(x[keep], y[keep], alpha).numpy()
        drop = outliers(losses, k)
        if not drop.any():
            break
        idx = torch.nonzero(keep).squeeze(1)
        keep[idx[torch.from_numpy(drop)]] = False
        weight, bias, alpha = fit_ridge(x[keep], y[keep])
    return weight, bias, alpha, keep
