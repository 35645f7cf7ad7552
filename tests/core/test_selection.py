"""Query selection (issue 21 groundwork): seeded, the right budget, random = the paper's split, and each
strategy does what its name says on data built to show it."""

import numpy as np
import pytest

from core.config import check_selection
from core.data.dataset import split_indices
from core.data.selection import STRATEGIES, needs, select_indices


def _blobs(n_per=40, centres=5, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    middle = rng.normal(size=(centres, dim)) * 5
    x = np.concatenate([c + rng.normal(size=(n_per, dim)) * 0.3 for c in middle]).astype(np.float32)
    return x, np.repeat(np.arange(centres), n_per)


def _inputs(n):
    x, _ = _blobs(n_per=n // 5)
    return {"features": x, "frequencies": np.linspace(7, 1, len(x))}


@pytest.mark.parametrize("p", [0.005, 0.1, 0.5, 1.0])
def test_random_is_the_papers_split(p):
    for seed in (0, 3):
        a, b = select_indices("random", 200, p, seed)
        c, d = split_indices(200, p, seed)
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_budget_partition_and_determinism(strategy):
    inputs = _inputs(200)
    train, held = select_indices(strategy, 200, 0.1, 1, **inputs)
    assert len(train) == 20 and len(held) == 180
    assert np.array_equal(np.sort(np.concatenate([train, held])), np.arange(200))
    again, _ = select_indices(strategy, 200, 0.1, 1, **inputs)
    np.testing.assert_array_equal(train, again)
    if strategy != "typical":  # k-means at another seed may land on the same typical words; the others move
        other, _ = select_indices(strategy, 200, 0.1, 2, **inputs)
        assert not np.array_equal(train, other)


def test_typical_asks_every_cluster_first_from_its_middle():
    x, labels = _blobs()
    train, _ = select_indices("typical", len(x), 5 / len(x), 0, features=x)
    assert sorted(labels[train]) == [0, 1, 2, 3, 4]  # one word from each blob
    for i in train:  # and that word is near its blob's middle
        blob = x[labels == labels[i]]
        centre = blob.mean(0)
        assert np.linalg.norm(x[i] - centre) <= np.median(np.linalg.norm(blob - centre, axis=1))


def test_kcenter_covers_better_than_random():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6)).astype(np.float32)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)

    def worst_gap(train):  # the farthest any word is from its closest asked word
        return float((2 - 2 * (unit @ unit[train].T)).min(1).max())

    chosen, _ = select_indices("kcenter", 400, 0.05, 0, features=x)
    randoms = [worst_gap(select_indices("random", 400, 0.05, s)[0]) for s in range(5)]
    assert worst_gap(chosen) < min(randoms)


def test_frequency_spreads_over_the_ranking():
    freq = np.linspace(7, 1, 1000)  # already most common first
    train, _ = select_indices("frequency", 1000, 0.01, 0, frequencies=freq)
    assert len(train) == 10
    np.testing.assert_array_equal(train // 100, np.arange(10))  # one from each tenth of the ranking


def test_bad_requests_are_sentences():
    with pytest.raises(ValueError, match="must be one of random, typical, kcenter, frequency"):
        check_selection("greedy")
    with pytest.raises(ValueError, match="cheap model's features"):
        select_indices("kcenter", 10, 0.5, 0)
    with pytest.raises(ValueError, match="one feature row per word"):
        select_indices("typical", 10, 0.5, 0, features=np.zeros((9, 3)))
    with pytest.raises(ValueError, match="NaN"):
        select_indices("kcenter", 3, 0.5, 0, features=np.array([[1.0, 0], [np.nan, 1], [0, 1]]))
    with pytest.raises(ValueError, match="word frequencies"):
        select_indices("frequency", 10, 0.5, 0)
    assert needs("typical") == "features" and needs("frequency") == "frequencies" and needs("random") == "nothing"


def test_a_selection_cannot_see_teacher_answers():
    # The functions take no teacher and no targets: what they read is in their signature.
    import inspect

    params = set(inspect.signature(select_indices).parameters)
    assert params == {"strategy", "n_items", "p", "seed", "features", "frequencies"}
