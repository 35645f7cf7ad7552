"""The grouped loop's one-pass scoring gives what the torch scoring gives on the normalized rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.evaluation.metrics import embedding_means
from core.kernels import row_scores
from core.kernels.heads import normalize_ as _normalize_
from core.words.train import score_against_teacher

pytestmark = pytest.mark.skipif(not row_scores.available(), reason="numba is not installed")


def test_one_pass_scores_match_the_torch_scoring_in_any_row_order():
    g = torch.Generator().manual_seed(0)
    n, dim = 500, 48
    y = torch.randn(n, dim, generator=g) * torch.rand(n, 1, generator=g) * 5  # rows of any length
    y[7] = 0.0  # a dead row (Model A: every component <= 0): scored as the zero vector, as torch does
    y[8] = torch.relu(y[8])  # only positive components: a nonzero mean
    clean = torch.nn.functional.normalize(torch.randn(n, dim, generator=g), dim=1)
    order = torch.randperm(n, generator=g)  # row i of y is item order[i]

    cosine, euclidean, means = row_scores.row_scores(y.numpy(), clean.numpy(), order.numpy())

    student = _normalize_(y.clone())
    want_cos, want_euc = score_against_teacher(student, clean[order])
    want_means = torch.empty(n)
    want_means[order] = embedding_means(student)
    np.testing.assert_allclose(cosine, want_cos.numpy(), atol=2e-6)
    np.testing.assert_allclose(euclidean, want_euc.numpy(), atol=2e-6)
    np.testing.assert_allclose(means, want_means.numpy(), atol=1e-7)
    assert cosine[7] == 0.0 and euclidean[7] == pytest.approx(1.0)
    assert means[order[8]] > 0
