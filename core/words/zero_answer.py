"""The zero-answer student: a map from a cheap model's space into the teacher's, learnt from no teacher answer.

mini-vec2vec's linear recipe (G. Dar, "mini-vec2vec: Scaling Universal Geometry Alignment with Linear
Transformations", arXiv 2510.02348, and its notebook `linear_vec2vec.ipynb`), on words instead of sentences:

1. Each space is centred on its own mean and put on the unit sphere.
2. **Anchors** without pairs: both spaces are clustered (k-means, `clusters` centroids each, on a subsample) and
   the two sets of centroids are matched by their *relational* structure — the permutation that best lines up
   the two centroid-similarity matrices (a quadratic assignment problem, scipy's `quadratic_assignment`, best of
   `restarts`). Repeated `matchings` times, the matched centroids are pooled as anchors.
3. **Pseudo-pairs**: each cheap vector and each teacher vector is described by its cosines to its own space's
   anchors (a relative representation, comparable across the spaces); a cheap vector's pseudo-target is the
   mean of the `neighbours` teacher vectors closest to it in that description.
4. **Procrustes** on the pseudo-pairs: the (semi-)orthogonal W minimising ‖A W − B‖ (`procrustes`).
5. **Refinement** (the paper's Refine-1): up to `iterations` rounds (stopping once a round moves W by less than
   `tolerance` of its size), each on `sample` cheap vectors — their nearest
   `neighbours` teacher vectors *under the current map* as new pseudo-targets, a new Procrustes fit, blended
   into W (`smoothing`); then Refine-2: k-means of the cheap space, k-means of the teacher space started at the
   mapped centroids, one more Procrustes fit on the two sets of centroids, blended the same way.

A word's answer is then the teacher's mean plus the mapped, centred cheap vector at the teacher's typical spread
(`ZeroAnswerMap.transform`), unit-normalised like every vector the lab compares.

What it sees, and what it never does: the cheap model's vectors of the words it maps (the student reads them at
run time anyway) and the teacher's vectors of a *different* public word list given as an unordered set — a
matrix with no words attached, whose rows are shuffled here before use (as in vec2vec: the two sides share only
the distribution of words, not the words). It never sees a teacher answer for a word it maps, and no pairing of
a cheap vector with a teacher vector is ever given: what it learns about the teacher is its mean, its spread and
its shape. Its learns-nothing counterpart, with the very same information, answers every word with the teacher's
unit mean (`mean_answer`).

    zero = fit_zero_answer(cheap_vectors_of_words_to_map, teacher_vectors_of_other_words)  # no words, no pairs
    answers = zero.transform(cheap_vectors_of_words_to_map)                                  # (n, teacher dim)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.vectors import unit_rows


@dataclass(frozen=True)
class ZeroAnswerSettings:
    """mini-vec2vec's knobs, scaled to a vocabulary of a few thousand words (the paper: 20 clusters, 30 runs of
    30 QAP restarts, 50 neighbours, 100 Refine-1 rounds of 1,000 points, blending 0.5, 500 Refine-2 clusters)."""

    clusters: int = 20  # centroids per space in one anchor matching: small enough for the QAP to be solved well
    matchings: int = 12  # independent k-means + QAP runs whose matched centroids are pooled as the anchors
    restarts: int = 10  # QAP restarts per matching (2-opt from random starts finds a local optimum only; 30 in the
    # paper: on the story's words 10 find the same held-out cosine to 0.001 in a third of the time, bench/zero_answer.py)
    subsample: int = 4000  # points per space for one matching's k-means
    neighbours: int = 50  # a pseudo-target is the mean of this many nearest teacher vectors
    iterations: int = 40  # Refine-1 rounds at most
    tolerance: float = 0.02  # Refine-1 stops early once a round moves W by less than this share of its size (0: never)
    sample: int = 1000  # cheap vectors per Refine-1 round
    smoothing: float = 0.5  # W <- smoothing * W + (1 - smoothing) * W_new (the paper's 0.5)
    final_clusters: int = 100  # Refine-2's k-means clusters per space (the paper's 500 is for 100k+ sentences)
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("clusters", "matchings", "restarts", "subsample", "neighbours", "sample"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"The zero-answer map's {name} must be a whole number of at least 1, got {value!r}.")
        for name in ("iterations", "final_clusters"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"The zero-answer map's {name} must be a whole number of at least 0, got {value!r}.")
        if self.clusters < 2:
            raise ValueError("The zero-answer map needs at least 2 clusters to match the two spaces' structure.")
        if not 0.0 <= self.tolerance < 1.0:
            raise ValueError(f"The zero-answer map's tolerance must be at least 0 and below 1, got {self.tolerance!r}.")
        if not 0.0 <= self.smoothing < 1.0:
            raise ValueError(f"The zero-answer map's smoothing must be at least 0 and below 1, got {self.smoothing!r}.")


@dataclass(frozen=True)
class ZeroAnswerMap:
    """A fitted map: cheap vector -> teacher-space answer. `weights` (cheap dim x teacher dim) acts on centred unit
    cheap vectors; `cheap_mean` / `teacher_mean` are the two sets' means, `spread` the teacher set's mean distance
    from its mean (what a centred unit vector is scaled to before the mean is added back)."""

    weights: np.ndarray
    cheap_mean: np.ndarray
    teacher_mean: np.ndarray
    spread: float

    def transform(self, cheap: np.ndarray) -> np.ndarray:
        """The map's unit answers for cheap vectors (n, cheap dim) -> (n, teacher dim)."""
        centred = unit_rows(np.asarray(cheap, dtype=np.float64) - self.cheap_mean, dtype=None)
        return unit_rows(self.teacher_mean + self.spread * unit_rows(centred @ self.weights, dtype=None))


def mean_answer(teacher_set: np.ndarray) -> np.ndarray:
    """The learns-nothing student with the zero-answer map's information: every word gets the unit mean of the
    teacher's unordered public set (`core.vectors.average_answer`'s answer, from vectors that answer no word asked)."""
    return unit_rows(np.asarray(teacher_set, dtype=np.float64).mean(axis=0))


PUBLIC_SHARE = 0.3  # of a word list: the teacher's public, unordered set; the rest are the words the map answers


def public_split(n_words: int, seed: int = 0, share: float = PUBLIC_SHARE) -> tuple[np.ndarray, np.ndarray]:
    """A word list cut at random into (the public set whose teacher vectors the map may see, unordered; the words it
    maps and is scored on, whose teacher answers it never sees), as sorted row numbers.

    >>> public, mapped = public_split(10, seed=0)
    >>> len(public), len(mapped), len(set(public) & set(mapped))
    (3, 7, 0)
    """
    if not 0.0 < share < 1.0:
        raise ValueError(f"The public share must be between 0 and 1, got {share!r}.")
    order = np.random.default_rng(seed).permutation(n_words)
    cut = int(share * n_words)
    return np.sort(order[:cut]), np.sort(order[cut:])


def procrustes(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The W with orthonormal rows (or columns, when the source has more dimensions) minimising
    ‖source W − target‖: U Vᵀ of the SVD of sourceᵀ target. For equal dimensions, scipy's
    `orthogonal_procrustes` (tested against it); for different ones, the semi-orthogonal solution.

    >>> r = np.array([[0.0, 1.0], [-1.0, 0.0]])   # a quarter turn
    >>> x = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 1.0]])
    >>> np.allclose(procrustes(x, x @ r), r)
    True
    """
    u, _, vt = np.linalg.svd(
        np.asarray(source, dtype=np.float64).T @ np.asarray(target, dtype=np.float64), full_matrices=False
    )
    return u @ vt


def _normalised(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(centred unit rows, the mean they were centred on)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    mean = vectors.mean(axis=0)
    return unit_rows(vectors - mean, dtype=None), mean


def _kmeans(points: np.ndarray, clusters: int, seed: int, init=None) -> np.ndarray:
    from sklearn.cluster import KMeans  # heavy to import: only when a map is fitted

    if init is None:
        model = KMeans(n_clusters=clusters, n_init=1, random_state=seed)
    else:
        model = KMeans(n_clusters=clusters, init=init, n_init=1, random_state=seed)
    return model.fit(points).cluster_centers_


def _centred_similarity(centroids: np.ndarray) -> np.ndarray:
    """The centroids' cosine matrix, double-centred (H S H): the relational structure the QAP lines up."""
    unit = unit_rows(centroids, dtype=None)
    sims = unit @ unit.T
    return sims - sims.mean(axis=0) - sims.mean(axis=1, keepdims=True) + sims.mean()


def matched_anchors(
    cheap: np.ndarray, teacher: np.ndarray, settings: ZeroAnswerSettings, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Step 2: anchors in each space, row i of one matched to row i of the other by structure alone."""
    from scipy.optimize import quadratic_assignment  # heavy to import: only when a map is fitted

    mine, theirs = [], []
    for run in range(settings.matchings):
        a = cheap[rng.permutation(len(cheap))[: settings.subsample]]
        b = teacher[rng.permutation(len(teacher))[: settings.subsample]]
        seed = int(rng.integers(2**31 - 1))
        centres_a = _kmeans(a, settings.clusters, seed)
        centres_b = _kmeans(b, settings.clusters, seed + 1)
        kernel_a, kernel_b = _centred_similarity(centres_a), _centred_similarity(centres_b)
        best = None
        for _ in range(settings.restarts):
            found = quadratic_assignment(  # 2-opt from a random permutation (its default start) each time
                kernel_a, kernel_b, method="2opt", options={"maximize": True, "rng": rng}
            )
            if best is None or found.fun > best.fun:
                best = found
        mine.append(centres_a)
        theirs.append(centres_b[best.col_ind])
    return np.concatenate(mine), np.concatenate(theirs)


def _top_mean(similarity: np.ndarray, targets: np.ndarray, k: int) -> np.ndarray:
    """For each row of `similarity` (queries x targets), the mean of the `k` targets it is most similar to."""
    k = min(k, similarity.shape[1])
    nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    return targets[nearest].mean(axis=1)


def fit_zero_answer(
    cheap: np.ndarray, teacher_set: np.ndarray, settings: ZeroAnswerSettings | None = None
) -> ZeroAnswerMap:
    """Fit the map from the cheap vectors of the words to map (n, cheap dim) and the teacher's vectors of another
    word list, an unordered set (m, teacher dim; its rows are shuffled here: their order is never used)."""
    settings = settings or ZeroAnswerSettings()
    cheap, teacher_set = np.asarray(cheap, dtype=np.float64), np.asarray(teacher_set, dtype=np.float64)
    if cheap.ndim != 2 or teacher_set.ndim != 2:
        raise ValueError("The zero-answer map needs two matrices of row vectors.")
    if min(len(cheap), len(teacher_set)) < 2 * settings.clusters:
        raise ValueError(
            f"The zero-answer map needs at least {2 * settings.clusters} vectors on each side to find "
            f"{settings.clusters} clusters; got {len(cheap)} cheap and {len(teacher_set)} teacher vectors."
        )
    if not (np.isfinite(cheap).all() and np.isfinite(teacher_set).all()):
        raise ValueError("The zero-answer map's vectors must be finite numbers.")
    rng = np.random.default_rng(settings.seed)
    teacher_set = teacher_set[rng.permutation(len(teacher_set))]  # an unordered set: no row order is trusted
    a, cheap_mean = _normalised(cheap)
    b, teacher_mean = _normalised(teacher_set)
    spread = float(np.linalg.norm(teacher_set - teacher_mean, axis=1).mean())

    anchors_a, anchors_b = matched_anchors(a, b, settings, rng)
    relative_a = unit_rows(a @ unit_rows(anchors_a, dtype=None).T, dtype=None)
    relative_b = unit_rows(b @ unit_rows(anchors_b, dtype=None).T, dtype=None)
    pseudo = np.concatenate(
        [_top_mean(relative_a[i : i + 2048] @ relative_b.T, b, settings.neighbours) for i in range(0, len(a), 2048)]
    )
    weights = procrustes(a, pseudo)

    keep = settings.smoothing
    for _ in range(settings.iterations):  # Refine-1: nearest neighbours under the current map
        points = a[rng.permutation(len(a))[: settings.sample]]
        targets = _top_mean(unit_rows(points @ weights, dtype=None) @ b.T, b, settings.neighbours)
        updated = keep * weights + (1 - keep) * procrustes(points, targets)
        moved = float(np.linalg.norm(updated - weights) / np.linalg.norm(weights))
        weights = updated
        if moved < settings.tolerance:  # the map stopped changing beyond the sampling's own noise
            break
    clusters = min(settings.final_clusters, len(a) // 2, len(b) // 2)
    if clusters >= 2:  # Refine-2: the teacher's clusters started where the cheap ones land under the map
        seed = int(rng.integers(2**31 - 1))
        centres_a = _kmeans(a, clusters, seed)
        centres_b = _kmeans(b, clusters, seed, init=centres_a @ weights)
        weights = keep * weights + (1 - keep) * procrustes(centres_a, centres_b)
    return ZeroAnswerMap(weights, cheap_mean, teacher_mean, spread)
