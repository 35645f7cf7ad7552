import numpy as np
import pytest

from core.data.dataset import build_dataset, poison_targets, split_indices, train_size_for


@pytest.mark.parametrize(
    "n, p, expected", [(10_000, 0.005, 50), (10_000, 0.095, 950), (10_000, 1.0, 10_000), (7, 0.01, 1), (7, 0.5, 4)]
)
def test_train_sizes(n, p, expected):
    assert train_size_for(n, p) == expected
    train, held = split_indices(n, p, seed=3)
    assert len(train) == expected and len(held) == n - expected
    assert set(train).isdisjoint(held) and len(set(train) | set(held)) == n


def test_split_is_seeded_and_nested():
    a = split_indices(1000, 0.1, 0)[0]
    np.testing.assert_array_equal(a, split_indices(1000, 0.1, 0)[0])
    assert not np.array_equal(a, split_indices(1000, 0.1, 1)[0])
    assert set(a) <= set(split_indices(1000, 0.3, 0)[0])


def test_poisoning_replaces_exactly_the_rate_with_random_unit_vectors(fake_teacher):
    clean = fake_teacher.embed([f"w{i}" for i in range(200)])
    targets, poisoned = poison_targets(clean, 0.1, seed=0)
    assert poisoned.sum() == 20
    np.testing.assert_array_equal(targets[~poisoned], clean[~poisoned])
    np.testing.assert_allclose(np.linalg.norm(targets[poisoned], axis=1), 1, atol=1e-6)
    # Random directions: nearly orthogonal to the true ones on average.
    assert abs(float((targets[poisoned] * clean[poisoned]).sum(1).mean())) < 0.3
    assert poison_targets(clean, 0.0, 0)[1].sum() == 0


def test_poison_is_drawn_on_the_whole_dataset_before_the_split(fake_teacher):
    items = [f"w{i}" for i in range(400)]
    clean = fake_teacher.embed(items)
    small = build_dataset(items, clean, p=0.05, poison=0.1, seed=0)
    large = build_dataset(items, clean, p=0.5, poison=0.1, seed=0)
    # The same items are poisoned whatever p is; the training set sees its share of them.
    np.testing.assert_array_equal(small.poisoned, large.poisoned)
    assert small.poisoned.sum() == 40
    assert small.poisoned_in_train <= large.poisoned_in_train
    # The clean teacher vectors stay available for scoring.
    np.testing.assert_array_equal(small.clean, clean)
    assert small.split_labels().count("training") == 20


def test_mismatched_shapes_are_refused(fake_teacher):
    with pytest.raises(ValueError, match="one teacher vector per item"):
        build_dataset(["a", "b"], fake_teacher.embed(["a"]), 0.5, 0, 0)
