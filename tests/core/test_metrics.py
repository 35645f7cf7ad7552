import math

import torch
import torch.nn.functional as F

from core.evaluation.metrics import (
    cosine_embedding_loss,
    embedding_means,
    mean_or_none,
    rowwise_cosine,
    rowwise_euclidean,
)


def test_hand_computed_cosine_loss():
    # Row 1: identical -> loss 0. Row 2: 90 degrees apart -> loss 1. Row 3: 45 degrees -> 1 - 1/sqrt(2).
    out = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    tgt = torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]])
    expected = (0.0 + 1.0 + (1 - 1 / math.sqrt(2))) / 3
    assert math.isclose(float(cosine_embedding_loss(out, tgt)), expected, rel_tol=1e-6)


def test_oracle_against_torch():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(64, 10, generator=g), torch.randn(64, 10, generator=g)
    torch.testing.assert_close(rowwise_cosine(a, b), F.cosine_similarity(a, b, dim=1))
    oracle = torch.nn.CosineEmbeddingLoss()(a, b, torch.ones(64))
    torch.testing.assert_close(cosine_embedding_loss(a, b), oracle)
    torch.testing.assert_close(rowwise_euclidean(a, b), torch.cdist(a, b).diagonal())


def test_embedding_means_and_empty_sets():
    x = torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.0, 1.0]])
    torch.testing.assert_close(embedding_means(x), torch.tensor([2.0, 0.0]))
    assert mean_or_none(torch.tensor([])) is None
    assert mean_or_none(torch.tensor([1.0, 3.0])) == 2.0


def test_fast_scoring_matches_the_plain_definitions():
    from core.words.train import score_against_teacher

    g = torch.Generator().manual_seed(1)
    teacher = F.normalize(torch.randn(200, 16, generator=g), dim=1)
    student = F.normalize(torch.randn(200, 16, generator=g), dim=1)
    student[0] = 0.0  # Model A can output an all-zero vector (ReLU of a negative row)
    student[1] *= 0.5
    scratch = {"product": torch.full((200, 16), float("nan"))}  # a buffer left from an earlier epoch
    for buffers in (None, scratch, scratch):
        cosine, euclidean = score_against_teacher(student, teacher, buffers)
        torch.testing.assert_close(cosine, rowwise_cosine(student, teacher), atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(euclidean, rowwise_euclidean(student, teacher), atol=1e-5, rtol=1e-5)
