"""The dataset: teacher targets, the paper's poisoning, and the training / held-out split.

Order matters and follows the paper: first a fraction `poison` of the *entire* dataset gets a
random unit vector as its target, then a fraction `p` is drawn for training. The held-out set
is always scored against the clean teacher embeddings.

Both draws are seeded and independent of each other, so at one seed a clean and a poisoned run
share the same split, and the training set at a smaller p is a subset of the one at a larger p:

>>> a, b = split_indices(100, 0.1, seed=0), split_indices(100, 0.3, seed=0)
>>> set(a[0]) <= set(b[0])
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.config import Adversary, PoisonScope
from core.vectors import unit_rows

_POISON_STREAM, _SPLIT_STREAM = 1, 2  # separate random streams for the two draws


def train_size_for(n_items: int, p: float) -> int:
    """How many items a fraction p of n_items trains on (at least one).

    >>> train_size_for(10_000, 0.095), train_size_for(10, 0.005)
    (950, 1)
    """
    return int(min(n_items, max(1, round(p * n_items))))


def split_indices(n_items: int, p: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and held-out item indices (each sorted), a seeded fraction p for training."""
    order = np.random.default_rng([seed, _SPLIT_STREAM]).permutation(n_items)
    k = train_size_for(n_items, p)
    return np.sort(order[:k]), np.sort(order[k:])


def poison_targets(clean: np.ndarray, rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Replace a fraction `rate` of the targets with random unit vectors (the paper's attack).

    Returns the new targets and a boolean mask of the poisoned rows.
    """
    n_items, dim = clean.shape
    rng = np.random.default_rng([seed, _POISON_STREAM])
    count = int(round(rate * n_items))
    poisoned = np.zeros(n_items, dtype=bool)
    poisoned[rng.choice(n_items, size=count, replace=False)] = True
    targets = np.array(clean, dtype=np.float32, copy=True)
    # A Gaussian vector normalized is uniform on the sphere.
    noise = rng.standard_normal((count, dim)).astype(np.float32)
    targets[poisoned] = noise / np.linalg.norm(noise, axis=1, keepdims=True)
    return targets, poisoned


@dataclass(frozen=True)
class Dataset:
    """Everything a training run needs, as arrays; `items[i]` is the text of row i."""

    items: tuple[str, ...]
    clean: np.ndarray  # (n, d) teacher embeddings, unit rows
    targets: np.ndarray  # (n, d) what the student is told: clean, except poisoned rows
    poisoned: np.ndarray  # (n,) bool
    train_idx: np.ndarray  # sorted indices of the items the teacher was queried on for training
    heldout_idx: np.ndarray  # sorted indices never shown to the student

    @property
    def dim(self) -> int:
        return int(self.clean.shape[1])

    @property
    def poisoned_in_train(self) -> int:
        return int(self.poisoned[self.train_idx].sum())

    def split_labels(self) -> list[str]:
        """'training' / 'held-out' for every item, for tables and charts."""
        labels = np.full(len(self.items), "held-out", dtype=object)
        labels[self.train_idx] = "training"
        return labels.tolist()


def build_dataset(
    items,
    clean: np.ndarray,
    p: float,
    poison: float,
    seed: int,
    adversary: str = "random",
    scope: str = "all",
    train_idx: np.ndarray | None = None,
) -> Dataset:
    """Poison the whole dataset (if asked), then split it. `clean` rows align with `items`.

    `train_idx`: the words chosen to ask (core.data.selection), instead of the paper's seeded draw of p.

    The paper's attack (random unit vectors over the whole vocabulary) keeps its own random
    stream, so runs stored before other adversaries existed rebuild identically; the other
    adversaries and the training-only scope come from `poison_answers` (below).
    """
    clean = np.asarray(clean, dtype=np.float32)
    if clean.ndim != 2 or clean.shape[0] != len(items):
        raise ValueError(f"Expected one teacher vector per item ({len(items)}), got an array of shape {clean.shape}.")
    if len(items) < 2:
        raise ValueError("At least two items are needed to train and evaluate a student.")
    if train_idx is None:
        train_idx, heldout_idx = split_indices(len(items), p, seed)
    else:
        train_idx = np.unique(np.asarray(train_idx, dtype=np.int64))
        if not len(train_idx) or train_idx[0] < 0 or train_idx[-1] >= len(items):
            raise ValueError(f"The chosen words must be between 0 and {len(items) - 1}, and at least one.")
        heldout_idx = np.setdiff1d(np.arange(len(items)), train_idx)
    if adversary == "random" and scope == "all":
        targets, poisoned = poison_targets(clean, poison, seed)
    else:
        targets, poisoned = poison_answers(clean, poison, seed, adversary, scope, train_idx)
    return Dataset(tuple(items), clean, targets, poisoned, train_idx, heldout_idx)


# --- the other adversaries (the Poisoning lab) ------------------------------------------------

_ADVERSARY_STREAM = 3  # a random stream separate from the split's and the paper poisoning's


NOISE_NORM = 3.0  # |noise| / |truth| for Adversary.NOISE: cosine to the truth ~ 1 / sqrt(1 + 9) = 0.32


def poison_answers(
    clean: np.ndarray,
    rate: float,
    seed: int,
    adversary: Adversary | str = Adversary.RANDOM,
    scope: PoisonScope | str = PoisonScope.ALL,
    train_idx: np.ndarray | None = None,
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
    rng = np.random.default_rng([seed, _ADVERSARY_STREAM])
    count = int(round(rate * len(pool)))
    chosen = np.sort(rng.choice(pool, size=count, replace=False)) if count else np.empty(0, dtype=np.int64)
    targets = clean.copy()
    mask = np.zeros(n, dtype=bool)
    mask[chosen] = True
    if not count:
        return targets, mask
    if adversary is Adversary.RANDOM:
        targets[chosen] = unit_rows(rng.standard_normal((count, dim)))
    elif adversary is Adversary.SWAP:
        # Another word's true vector: a random other item for each (never itself).
        other = rng.integers(0, n - 1, size=count)
        other = other + (other >= chosen)  # skip the item itself
        targets[chosen] = clean[other]
    elif adversary is Adversary.NEGATE:
        targets[chosen] = -clean[chosen]
    elif adversary is Adversary.NOISE:
        noise = unit_rows(rng.standard_normal((count, dim))) * NOISE_NORM
        targets[chosen] = unit_rows(clean[chosen] + noise)
    elif adversary is Adversary.CONCENTRATED:
        targets[chosen] = unit_rows(rng.standard_normal((1, dim)))[0]
    return targets, mask
