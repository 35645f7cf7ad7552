"""A removal attack the imitator can run before training: project out the directions in which the answers it paid
for differ most from what its cheap model predicts.

The imitator fits a least-squares (ridge) map from its cheap model's vectors to the answers it bought, takes the
residuals (answer minus the unit prediction), and removes their top-k principal directions (uncentred: a watermark
that pulls many answers toward one target shifts their mean along it) from every answer, then renormalises. A
trigger watermark adds the same target to hundreds of answers the cheap model cannot predict, so the target is what
the residuals share most; a region watermark's move is partly predictable (its words are alike) and may survive.
The price: the same directions also carry whatever the teacher knows that the cheap model does not.
(WARDEN's CSE attack — cluster, select, eliminate — is the other way; it is not built here.)
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
    """The attack on the answers the imitator bought (`train_idx`; the other rows are left as they are, never read)."""
    out = np.array(answers, dtype=np.float32, copy=True)
    directions = residual_directions(out[train_idx], np.asarray(features)[train_idx], k)
    out[train_idx] = project_out(out[train_idx], directions)
    return out
