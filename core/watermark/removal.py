"""Removal attacks the imitator can run on the answers it bought, before training.

- `residual` (project out what the cheap model cannot explain): the imitator fits a least-squares (ridge) map from
  its cheap model's vectors to the answers it bought, takes the residuals (answer minus the unit prediction), and
  removes their top-k principal directions (uncentred: a watermark that pulls many answers toward one target shifts
  their mean along it) from every answer, then renormalises. A trigger watermark adds the same target to hundreds of
  answers the cheap model cannot predict, so the target is what the residuals share most; a region watermark's move
  is partly predictable (its words are alike) and may survive.
- `cse` (WARDEN's CSE, Shetty et al., ACL 2024: Clustering, Selection, Elimination), as its authors' code runs it:
  k-means on the bought answers; within each cluster every pair of words, ranked (as a percentile over all pairs) by
  its similarity under the API and under the imitator's own reference model (here its cheap model); the pairs whose
  API rank most exceeds their reference rank (the top 2.5 % x N pairs, N answers) are suspect — marked answers are
  more alike under the API than their words are; the top-k singular directions (uncentred, as TruncatedSVD) of the
  suspect pairs' answers are projected out of every answer, which is renormalised.

The price of both: the same directions also carry whatever the teacher knows that the cheap model does not.
"""

from __future__ import annotations

import numpy as np
import torch

from core.vectors import unit_rows
from core.words.generalizing import fit_ridge


def residual_directions(answers: np.ndarray, features: np.ndarray, k: int) -> np.ndarray:
    """The top-k right singular vectors (k, d) of the residuals of a ridge map features -> answers (unit rows)."""
    answers = np.asarray(answers, dtype=np.float32)
    features = np.asarray(features, dtype=np.float32)
    if len(answers) != len(features) or len(answers) < 2:
        raise ValueError(f"One cheap vector per answer is needed, got {len(features)} for {len(answers)}.")
    if not 0 <= k < answers.shape[1]:
        raise ValueError(f"The number of directions to remove must be between 0 and {answers.shape[1] - 1}, got {k}.")
    if k == 0:
        return np.zeros((0, answers.shape[1]), dtype=np.float32)
    weight, bias, _ = fit_ridge(torch.from_numpy(features), torch.from_numpy(answers))
    predicted = unit_rows((torch.from_numpy(features) @ weight.T + bias).numpy())
    residuals = (answers - predicted).astype(np.float64)
    _, _, vt = np.linalg.svd(residuals, full_matrices=False)
    return vt[:k].astype(np.float32)


def project_out(answers: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """The answers without their components along `directions` (orthonormal rows), renormalised.

    >>> project_out(np.array([[0.6, 0.8]], np.float32), np.array([[1.0, 0.0]], np.float32)).tolist()
    [[0.0, 1.0]]
    """
    answers = np.asarray(answers, dtype=np.float32)
    if not len(directions):
        return answers
    return unit_rows(answers - (answers @ directions.T) @ directions)


def remove_watermark(answers: np.ndarray, features: np.ndarray, train_idx: np.ndarray, k: int) -> np.ndarray:
    """The residual attack on the answers the imitator bought (`train_idx`; the other rows are left as they are,
    never read)."""
    return remove("residual", answers, features, train_idx, k)


# ---- WARDEN's CSE ----------------------------------------------------------------------------------------------

ATTACKS = ("residual", "cse")  # the removal attacks, by name (GridSpec.attacks)
CSE_CLUSTERS = 20  # k-means clusters of the bought answers
CSE_KEEP = 0.025  # suspect pairs kept: this share x N (WARDEN's code: the pairs above the 1 - 0.025 N / pairs quantile)
CSE_MAX_CLUSTER = 2500  # a cluster larger than this is sampled down (seeded) before its pairs are formed (memory)


def suspect_pairs(
    answers: np.ndarray,
    reference: np.ndarray,
    clusters: int = CSE_CLUSTERS,
    keep: float = CSE_KEEP,
    seed: int = 0,
) -> np.ndarray:
    """CSE's clustering and selection: the (m, 2) row indices of the pairs whose similarity under the API (`answers`)
    ranks highest above their similarity under the reference model (`reference`, one row per answer), among the pairs
    of words in the same k-means cluster of the answers."""
    from scipy.stats import rankdata  # lazy: scipy is only needed here
    from sklearn.cluster import KMeans  # lazy: loads scikit-learn (heavy), only when the attack runs

    api = unit_rows(np.asarray(answers, dtype=np.float32))
    ref = unit_rows(np.asarray(reference, dtype=np.float32))
    n = len(api)
    if len(ref) != n or n < 4:
        raise ValueError(f"CSE needs one reference vector per answer and at least 4 answers, got {len(ref)} for {n}.")
    k = max(1, min(int(clusters), n // 4))
    labels = KMeans(n_clusters=k, random_state=seed, n_init=1).fit_predict(api) if k > 1 else np.zeros(n, int)
    rng = np.random.default_rng([seed, 33])
    firsts, seconds, api_sims, ref_sims = [], [], [], []
    for cluster in range(k):
        rows = np.flatnonzero(labels == cluster)
        if len(rows) > CSE_MAX_CLUSTER:
            rows = np.sort(rng.choice(rows, CSE_MAX_CLUSTER, replace=False))
        if len(rows) < 2:
            continue
        i, j = np.triu_indices(len(rows), 1)
        api_sims.append((api[rows] @ api[rows].T)[i, j])
        ref_sims.append((ref[rows] @ ref[rows].T)[i, j])
        firsts.append(rows[i])
        seconds.append(rows[j])
    pairs = np.stack([np.concatenate(firsts), np.concatenate(seconds)], axis=1)
    api_rank = rankdata(np.concatenate(api_sims)) / len(pairs)  # pandas' rank(pct=True): average ranks / count
    ref_rank = rankdata(np.concatenate(ref_sims)) / len(pairs)
    count = min(len(pairs), max(1, int(round(keep * n))))
    gap = api_rank - ref_rank
    top = np.argpartition(-gap, count - 1)[:count]
    return pairs[top[np.argsort(-gap[top], kind="stable")]]


def cse_directions(
    answers: np.ndarray,
    reference: np.ndarray,
    k: int,
    clusters: int = CSE_CLUSTERS,
    keep: float = CSE_KEEP,
    seed: int = 0,
) -> np.ndarray:
    """CSE's elimination: the top-k right singular vectors (k, d) of the suspect pairs' answers (uncentred)."""
    answers = np.asarray(answers, dtype=np.float32)
    if not 0 <= k < answers.shape[1]:
        raise ValueError(f"The number of directions to remove must be between 0 and {answers.shape[1] - 1}, got {k}.")
    if k == 0:
        return np.zeros((0, answers.shape[1]), dtype=np.float32)
    chosen = np.unique(suspect_pairs(answers, reference, clusters, keep, seed))
    _, _, vt = np.linalg.svd(answers[chosen].astype(np.float64), full_matrices=False)
    return vt[: min(k, len(vt))].astype(np.float32)


def remove_watermark_cse(
    answers: np.ndarray, features: np.ndarray, train_idx: np.ndarray, k: int, seed: int = 0
) -> np.ndarray:
    """CSE on the answers the imitator bought (`train_idx`), its cheap model (`features`) the reference; the other
    rows are left as they are, never read."""
    return remove("cse", answers, features, train_idx, k, seed)


def attack_directions(attack: str, answers: np.ndarray, features: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """The k directions (orthonormal rows) the attack named `attack` ('residual' or 'cse') removes from these bought
    answers, given the imitator's cheap vectors of the same words."""
    if attack == "residual":
        return residual_directions(answers, features, k)
    if attack == "cse":
        return cse_directions(answers, features, k, seed=seed)
    raise ValueError(f"The removal attack must be one of {', '.join(ATTACKS)}, got {attack!r}.")


def remove(
    attack: str, answers: np.ndarray, features: np.ndarray, train_idx: np.ndarray, k: int, seed: int = 0
) -> np.ndarray:
    """The attack named `attack` ('residual' or 'cse'; see the module's docstring) with k directions, on the bought
    answers (`train_idx`; the other rows are left as they are, never read)."""
    out = np.array(answers, dtype=np.float32, copy=True)
    directions = attack_directions(attack, out[train_idx], np.asarray(features)[train_idx], k, seed)
    out[train_idx] = project_out(out[train_idx], directions)
    return out
