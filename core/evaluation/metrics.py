"""How close a student is to the teacher: cosine, Euclidean distance, embedding means.

All functions take (n, d) tensors of row vectors and return one value per row, so callers
choose which rows (training or held-out) to average.

>>> import torch
>>> rowwise_cosine(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 1.0]]))
tensor([0.7071])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def rowwise_cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of each row of `a` with the same row of `b`."""
    return F.cosine_similarity(a, b, dim=-1, eps=1e-12)


def rowwise_euclidean(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distance between each row of `a` and the same row of `b`."""
    return (a - b).norm(dim=-1)


def cosine_embedding_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The paper's loss: torch's CosineEmbeddingLoss with every pair labelled similar (y = 1),
    i.e. the mean of 1 - cos(output, target)."""
    ones = torch.ones(output.shape[0], device=output.device, dtype=output.dtype)
    return F.cosine_embedding_loss(output, target, ones)


def embedding_means(x: torch.Tensor) -> torch.Tensor:
    """The mean of each vector's components: the paper's figures 5, 6, 9, 10 and 12 plot the
    distribution of these over the vocabulary."""
    return x.mean(dim=-1)


def mean_or_none(values: torch.Tensor) -> float | None:
    """The average as a float, or None for an empty set (e.g. no held-out words at p = 1)."""
    return float(values.mean()) if values.numel() else None
