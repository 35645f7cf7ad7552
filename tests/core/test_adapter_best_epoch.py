"""An adapter keeps the weights of its best held-out epoch, not its last (core.sentences.adapters.train_adapter, best_epoch)."""

import numpy as np
import pytest

from core.data.dataset import split_indices
from core.sentences.adapters import AdapterConfig, best_epoch, embed_with, train_adapter
from core.sentences.features import text_features
from tests.core.test_adapters import world


def test_best_epoch_hand_worked():
    assert best_epoch([{"epoch": 1, "heldout_cosine": 0.7}, {"epoch": 2, "heldout_cosine": 0.6}]) == 1
    assert (
        best_epoch(
            [
                {"epoch": 1, "heldout_cosine": 0.5},
                {"epoch": 2, "heldout_cosine": 0.8},
                {"epoch": 3, "heldout_cosine": 0.8},
            ]
        )
        == 2
    )


@pytest.mark.slow  # trains adapters for half a minute on a busy 2-core machine
def test_the_model_left_is_the_best_held_out_epoch():
    texts, cheap, teacher = world(n=200)
    features = text_features(cheap, texts)
    # A few training texts and a large step: the held-out score rises, then falls as the adapter overfits.
    config = AdapterConfig(arch="attention", pooling="mean", p=0.1, epochs=25, lr=3e-2, batch_size=8, hidden=64)
    pairs = list(train_adapter(config, features, teacher, "cpu"))
    records = [r for _, r in pairs]
    model = pairs[-1][0]
    best = best_epoch(records)
    _, held = split_indices(len(teacher), config.p, config.seed)
    out = embed_with(model, features)[held]
    out = out / np.linalg.norm(out, axis=1, keepdims=True)
    kept = float((out * teacher[held]).sum(1).mean())
    assert abs(kept - records[best - 1].heldout_cosine) < 1e-4
    assert best < len(records)  # the case this test is for: the last epoch is not the best (measured: 19 of 25)
