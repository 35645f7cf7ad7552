"""Grouped training: many lookup-table runs stepped together give the curves of one run at a time."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.config import TrainConfig
from core.dataset import build_dataset
from core.defence import TrainReport
from core.grouped import group_key, train_grouped
from core.students import StudentConfig, build_student
from core.teacher import HashTeacher
from core.train import train_epochs

ITEMS = [f"w{i:03d}" for i in range(300)]


@pytest.fixture(scope="module")
def clean():
    return HashTeacher(16).embed(ITEMS)




@pytest.mark.parametrize("kind", ["A", "B"])
def test_a_group_follows_each_run_exactly(clean, kind, adam_path):
    # A small grid: four values of p (so batches per epoch differ: 1 to 5), clean and poisoned, two seeds.
    grid = [(p, poison, seed) for p in (0.05, 0.2, 0.5, 1.0) for poison in (0.0, 0.1) for seed in (0, 3)]
    configs = [TrainConfig(teacher="hash-16", model=kind, p=p, epochs=6, poison=poison, seed=seed, batch_size=64, lr=0.02)
               for p, poison, seed in grid]
    datasets = [build_dataset(ITEMS, clean, c.p, c.poison, c.seed) for c in configs]
    sc = StudentConfig(kind, len(ITEMS), 16)

    single_models = [build_student(sc, seed=c.seed) for c in configs]
    single = [list(train_epochs(m, d, c, "cpu")) for m, d, c in zip(single_models, datasets, configs)]

    group_models = [build_student(sc, seed=c.seed) for c in configs]
    reports = [TrainReport() for _ in configs]
    grouped = list(train_grouped(group_models, datasets, configs, "cpu", reports=reports))
    assert len(grouped) == 6 and all(len(epoch) == len(configs) for epoch in grouped)

    for r in range(len(configs)):
        for epoch in range(6):
            a, b = single[r][epoch], grouped[epoch][r]
            assert a.epoch == b.epoch
            assert b.train_loss == pytest.approx(a.train_loss, abs=1e-5)
            assert b.train_cosine == pytest.approx(a.train_cosine, abs=1e-5)
            if a.heldout_cosine is None:
                assert b.heldout_cosine is None
            else:
                assert b.heldout_cosine == pytest.approx(a.heldout_cosine, abs=1e-5)
            np.testing.assert_allclose(b.embedding_means, a.embedding_means, atol=1e-5)
        # The trained weights are back in each model, as after a single run.
        for (name, pa), (_, pb) in zip(single_models[r].state_dict().items(), group_models[r].state_dict().items()):
            torch.testing.assert_close(pb, pa, atol=1e-5, rtol=1e-4, msg=name)
        assert reports[r].item_losses.shape == (len(datasets[r].train_idx),)
    # Time is credited to each run by its share of the work: bigger runs get more.
    last = grouped[-1]
    assert last[configs.index(next(c for c in configs if c.p == 1.0))].seconds > last[0].seconds > 0


def test_stopping_a_group_keeps_finished_epochs_in_every_model(clean, adam_path):
    configs = [TrainConfig(teacher="hash-16", model="B", p=p, epochs=10, batch_size=64) for p in (0.1, 0.5)]
    datasets = [build_dataset(ITEMS, clean, c.p, 0.0, 0) for c in configs]
    models = [build_student(StudentConfig("B", len(ITEMS), 16), seed=0) for _ in configs]
    before = [m.up.weight.detach().clone() for m in models]
    seen = []
    for records in train_grouped(models, datasets, configs, "cpu", should_stop=lambda: len(seen) >= 3):
        seen.append(records)
    assert len(seen) == 3
    assert all(not torch.equal(b, m.up.weight) for b, m in zip(before, models))


def test_at_every_epoch_each_model_holds_that_epochs_weights(clean, adam_path):
    # What a sweep checkpoints while a group trains: the same weights as a single run at the same epoch.
    configs = [TrainConfig(teacher="hash-16", model="B", p=p, epochs=4, batch_size=64) for p in (0.1, 0.5)]  # the group reorders them
    datasets = [build_dataset(ITEMS, clean, c.p, 0.0, 0) for c in configs]
    sc = StudentConfig("B", len(ITEMS), 16)
    grouped = [build_student(sc, seed=0) for _ in configs]
    single = [build_student(sc, seed=0) for _ in configs]
    runs = [train_epochs(m, d, c, "cpu") for m, d, c in zip(single, datasets, configs)]
    for _ in train_grouped(grouped, datasets, configs, "cpu"):
        for run in runs:
            next(run)
        for a, b in zip(single, grouped):
            for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
                torch.testing.assert_close(pb, pa, atol=1e-5, rtol=1e-4, msg=name)


def test_each_run_is_credited_its_own_scoring_time(clean, monkeypatch):
    # As in a single run, whose epoch time includes the per-epoch scoring: here every scoring takes >= 30 ms.
    import time

    import core.grouped as grouped

    real_score = grouped._score

    def slow_score(*args):
        time.sleep(0.03)
        return real_score(*args)

    monkeypatch.setattr(grouped, "_score", slow_score)
    configs = [TrainConfig(teacher="hash-16", model="B", p=p, epochs=2, batch_size=64) for p in (0.05, 0.5, 1.0)]
    datasets = [build_dataset(ITEMS, clean, c.p, 0.0, 0) for c in configs]
    models = [build_student(StudentConfig("B", len(ITEMS), 16), seed=0) for _ in configs]
    started = time.perf_counter()
    epochs = list(train_grouped(models, datasets, configs, "cpu"))
    wall = time.perf_counter() - started
    for records in epochs:
        assert all(r.epoch_seconds >= 0.03 for r in records)
    assert sum(r.epoch_seconds for records in epochs for r in records) <= wall  # nothing counted twice
    assert [r.seconds for r in epochs[-1]] == pytest.approx([sum(e[i].epoch_seconds for e in epochs) for i in range(3)])


def test_what_can_be_grouped():
    plain = TrainConfig(model="B", p=0.1)
    assert group_key(plain, 100, 16) == group_key(TrainConfig(model="B", p=0.5, poison=0.1, seed=4), 100, 16)
    assert group_key(plain, 100, 16) != group_key(TrainConfig(model="A", p=0.1), 100, 16)
    assert group_key(TrainConfig(model="ridge"), 100, 16) is None
    assert group_key(TrainConfig(model="B", defence="trimmed"), 100, 16) is None
    with pytest.raises(ValueError, match="one student kind"):
        list(train_grouped([None, None], [None, None], [plain, TrainConfig(model="A")], "cpu"))
