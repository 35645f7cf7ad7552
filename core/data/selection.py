"""Which words to ask the teacher about: the p share of a word list, chosen by a strategy.

A strategy reads only what a student may read *before* paying for answers — the cheap model's
features of the words, the word list, and how common each word is — never a teacher answer (the
functions below have no way to reach one). Every strategy is seeded: the same inputs and seed give
the same words.

- `random`: the paper's draw, exactly `core.data.dataset.split_indices`.
- `typical`: TypiClust (Hacohen, Dekel & Weinshall, ICML 2022). k-means on the features (one cluster
  per query, at most `MAX_CLUSTERS`); a word's typicality is 1 / its mean distance to its k nearest
  neighbours in its cluster; the next query is the most typical word not asked yet of the largest
  cluster among those asked least.
- `kcenter`: k-center greedy (Sener & Savarese, ICLR 2018, "core-set"): a seeded first word, then
  always the word farthest from every word asked so far (cosine distance on the features).
- `frequency`: spread over how common the words are: the list ranked by frequency, cut into one stratum
  per query, a seeded word from each.

The active-learning literature reports gains mainly at small budgets, and warns that with few seeds a
method can look better or worse than random by chance: compare strategies over several seeds.

>>> train, held = select_indices("random", 100, 0.1, seed=0)
>>> (len(train), len(held))
(10, 90)
"""

from __future__ import annotations

import heapq

import numpy as np

from core.config import SELECTIONS, check_selection
from core.data.dataset import split_indices, train_size_for
from core.vectors import unit_rows

STRATEGIES = SELECTIONS
MAX_CLUSTERS = 500  # TypiClust's cap: past it, several words come from each cluster
TYPICALITY_NEIGHBOURS = 20  # TypiClust's k
_SELECT_STREAM = 4  # a random stream apart from the split's (2) and the poisonings' (1, 3)


def needs(strategy: str) -> str:
    """What a strategy reads: 'nothing', 'features' (the cheap model's) or 'frequencies'."""
    return {"random": "nothing", "typical": "features", "kcenter": "features", "frequency": "frequencies"}[
        check_selection(strategy)
    ]


def select_indices(
    strategy: str,
    n_items: int,
    p: float,
    seed: int,
    features: np.ndarray | None = None,
    frequencies: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(words to ask, the others), each sorted; `train_size_for(n_items, p)` words are asked.

    `features`: one row per word (the cheap model's vectors), for `typical` and `kcenter`;
    `frequencies`: one number per word, higher = more common, for `frequency`.
    """
    strategy = check_selection(strategy)
    if strategy == "random":
        return split_indices(n_items, p, seed)
    budget = train_size_for(n_items, p)
    rng = np.random.default_rng([seed, _SELECT_STREAM])
    if strategy == "frequency":
        chosen = _by_frequency(_column(frequencies, n_items, "word frequencies"), budget, rng)
    else:
        x = unit_rows(_matrix(features, n_items), dtype=None)
        chosen = _kcenter(x, budget, rng) if strategy == "kcenter" else _typical(x, budget, seed)
    mask = np.zeros(n_items, dtype=bool)
    mask[chosen] = True
    if int(mask.sum()) != budget:  # a strategy's bug must not pass as a smaller or larger budget
        raise AssertionError(f"{strategy} chose {int(mask.sum())} words, not {budget}")
    return np.flatnonzero(mask), np.flatnonzero(~mask)


def _matrix(features, n_items: int) -> np.ndarray:
    if features is None:
        raise ValueError("This query selection reads the cheap model's features of the words; none were given.")
    x = np.asarray(features, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] != n_items:
        raise ValueError(f"Expected one feature row per word ({n_items}), got an array of shape {x.shape}.")
    if not np.isfinite(x).all():
        raise ValueError("The cheap model's features contain NaN or infinite values.")
    return x


def _column(values, n_items: int, what: str) -> np.ndarray:
    if values is None:
        raise ValueError(f"This query selection reads the {what}; none were given.")
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.shape[0] != n_items or not np.isfinite(v).all():
        raise ValueError(f"Expected {n_items} finite {what}, got {v.shape[0]}.")
    return v


def _by_frequency(frequencies: np.ndarray, budget: int, rng: np.random.Generator) -> np.ndarray:
    """One word from each of `budget` equal strata of the frequency ranking (most common first)."""
    ranked = np.argsort(-frequencies, kind="stable")
    edges = np.linspace(0, len(ranked), budget + 1)
    lows, highs = edges[:-1].astype(np.int64), np.maximum(edges[1:].astype(np.int64), edges[:-1].astype(np.int64) + 1)
    picks = lows + (rng.random(budget) * (highs - lows)).astype(np.int64)
    return ranked[np.minimum(picks, len(ranked) - 1)]


def _kcenter(x: np.ndarray, budget: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy k-center on unit rows: squared Euclidean = 2 - 2 cos, so farthest = least similar."""
    chosen = np.empty(budget, dtype=np.int64)
    chosen[0] = rng.integers(len(x))
    nearest = 2.0 - 2.0 * (x @ x[chosen[0]])  # each word's distance to the closest word chosen so far
    nearest[chosen[0]] = -np.inf
    for i in range(1, budget):
        chosen[i] = int(np.argmax(nearest))
        np.minimum(nearest, 2.0 - 2.0 * (x @ x[chosen[i]]), out=nearest)
        nearest[chosen[: i + 1]] = -np.inf
    return chosen


def _typical(x: np.ndarray, budget: int, seed: int) -> np.ndarray:
    """TypiClust: clusters, typicality within each, then the largest of the least-asked clusters first."""
    n_clusters = min(budget, MAX_CLUSTERS, len(x))
    labels = _clusters(x, n_clusters, seed)
    queues: list[list[int]] = []
    for c in range(n_clusters):
        members = np.flatnonzero(labels == c)
        typicality = _typicality(x[members])
        queues.append(list(members[np.argsort(-typicality, kind="stable")]))
    # (times asked, -size, cluster): the heap pops the largest cluster among the least asked.
    heap = [(0, -len(q), c) for c, q in enumerate(queues) if q]
    heapq.heapify(heap)
    chosen: list[int] = []
    while len(chosen) < budget and heap:
        asked, negsize, c = heapq.heappop(heap)
        chosen.append(queues[c].pop(0))
        if queues[c]:
            heapq.heappush(heap, (asked + 1, negsize, c))
    return np.asarray(chosen, dtype=np.int64)


def _clusters(x: np.ndarray, n_clusters: int, seed: int) -> np.ndarray:
    """k-means labels as TypiClust's own code computes them: KMeans up to 50 clusters, MiniBatchKMeans (batches
    of 5,000) above, seeded. The last few results are kept: a sweep asks for the same clusters at every p whose
    budget reaches MAX_CLUSTERS."""
    import hashlib

    key = (hashlib.sha1(np.ascontiguousarray(x).view(np.uint8)).hexdigest(), x.shape, n_clusters, seed)
    if key not in _CLUSTERS:
        from sklearn.cluster import KMeans, MiniBatchKMeans  # scikit-learn comes with umap-learn; only when asked
        from threadpoolctl import threadpool_limits  # comes with scikit-learn

        if n_clusters <= 50:
            model = KMeans(n_clusters=n_clusters, n_init=1, random_state=seed)
        else:
            model = MiniBatchKMeans(n_clusters=n_clusters, batch_size=5000, n_init=1, random_state=seed)
        while len(_CLUSTERS) >= 8:
            _CLUSTERS.pop(next(iter(_CLUSTERS)))
        # One thread: scikit-learn's OpenMP threads spin on a busy machine (a class's server, a sweep beside a
        # training): 500 clusters of 10,000 words took 71 s with its default threads and 11 s with one, measured
        # at a load of 7 on 2 cores (docs/BENCHMARKS.md).
        with threadpool_limits(limits=1):
            _CLUSTERS[key] = model.fit_predict(x)
    return _CLUSTERS[key]


_CLUSTERS: dict[tuple, np.ndarray] = {}


def _typicality(members: np.ndarray) -> np.ndarray:
    """1 / mean distance to the k nearest other members (a lone member: 1)."""
    n = len(members)
    if n == 1:
        return np.ones(1)
    k = min(TYPICALITY_NEIGHBOURS, n - 1)
    scores = np.empty(n)
    for start in range(0, n, 2048):  # blocks bound the distance matrix's memory in a big cluster
        block = members[start : start + 2048]
        d = np.sqrt(np.maximum(2.0 - 2.0 * (block @ members.T), 0.0))
        d[np.arange(len(block)), np.arange(start, start + len(block))] = np.inf  # not its own neighbour
        nearest = np.partition(d, k - 1, axis=1)[:, :k]
        scores[start : start + len(block)] = 1.0 / np.maximum(nearest.mean(axis=1), 1e-12)
    return scores
