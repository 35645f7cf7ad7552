"""Grouped training: many lookup-table runs stepped together give the curves of one run at a time."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.config import TrainConfig
from core.data.dataset import build_dataset
from core.kernels import lazy_adam
from core.kernels.grouped import train_grouped
from core.poisoning.defence import TrainReport
from core.teachers.teacher import HashTeacher
from core.words.students import StudentConfig, build_student
from core.words.train import group_key, train_student

ITEMS = [f"w{i:03d}" for i in range(300)]


@pytest.fixture(scope="module")
def clean():
    return HashTeacher(16).embed(ITEMS)


@pytest.mark.parametrize("kind", ["A", "B"])
def test_a_group_follows_each_run_exactly(clean, kind, adam_path):
    # A small grid: four values of p (so batches per epoch differ: 1 to 5), clean and poisoned, two seeds.
    grid = [(p, poison, seed) for p in (0.05, 0.2, 0.5, 1.0) for poison in (0.0, 0.1) for seed in (0, 3)]
    configs = [
        TrainConfig(teacher="hash-16", model=kind, p=p, epochs=6, poison=poison, seed=seed, batch_size=64, lr=0.02)
        for p, poison, seed in grid
    ]
    datasets = [build_dataset(ITEMS, clean, c.p, c.poison, c.seed) for c in configs]
    sc = StudentConfig(kind, len(ITEMS), 16)

    single_models = [build_student(sc, seed=c.seed) for c in configs]
    single = [list(train_student(m, d, c, "cpu")) for m, d, c in zip(single_models, datasets, configs)]

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
    assert all(record.seconds > 0 for record in grouped[-1])  # how time is shared: the test below


@pytest.mark.parametrize("threads", [2, 3])
def test_split_products_follow_each_run_exactly(clean, threads):
    # On the CPU a step's products are split: the full batches in one batched call cut at a multiple of the
    # threads, the others (an odd one out, and every run's short last batch) alone over their real rows. Here 5
    # runs with full batches (2 threads: 4 batched + 1 alone; 3: 3 + 2) and short last batches of 44, 22 and 15 rows.
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        configs = [
            TrainConfig(teacher="hash-16", model="B", p=p, epochs=3, seed=seed, batch_size=64, lr=0.02)
            for p, seed in ((1.0, 0), (1.0, 1), (1.0, 2), (0.5, 0), (0.5, 5), (0.05, 0))
        ]
        datasets = [build_dataset(ITEMS, clean, c.p, 0.0, c.seed) for c in configs]
        sc = StudentConfig("B", len(ITEMS), 16)
        single_models = [build_student(sc, seed=c.seed) for c in configs]
        single = [list(train_student(m, d, c, "cpu")) for m, d, c in zip(single_models, datasets, configs)]
        group_models = [build_student(sc, seed=c.seed) for c in configs]
        grouped = list(train_grouped(group_models, datasets, configs, "cpu"))
    finally:
        torch.set_num_threads(previous)
    for r in range(len(configs)):
        for epoch in range(3):
            assert grouped[epoch][r].train_loss == pytest.approx(single[r][epoch].train_loss, abs=1e-5)
            assert grouped[epoch][r].heldout_cosine == pytest.approx(single[r][epoch].heldout_cosine, abs=1e-5)
        for (name, pa), (_, pb) in zip(single_models[r].state_dict().items(), group_models[r].state_dict().items()):
            torch.testing.assert_close(pb, pa, atol=1e-5, rtol=1e-4, msg=name)


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
    # What a sweep checkpoints while a group trains (after sync_models()): the same weights as a single run at
    # the same epoch.
    configs = [
        TrainConfig(teacher="hash-16", model="B", p=p, epochs=4, batch_size=64) for p in (0.1, 0.5)
    ]  # the group reorders them
    datasets = [build_dataset(ITEMS, clean, c.p, 0.0, 0) for c in configs]
    sc = StudentConfig("B", len(ITEMS), 16)
    grouped = [build_student(sc, seed=0) for _ in configs]
    single = [build_student(sc, seed=0) for _ in configs]
    runs = [train_student(m, d, c, "cpu") for m, d, c in zip(single, datasets, configs)]
    for records in train_grouped(grouped, datasets, configs, "cpu"):
        records.sync_models()
        for run in runs:
            next(run)
        for a, b in zip(single, grouped):
            for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
                torch.testing.assert_close(pb, pa, atol=1e-5, rtol=1e-4, msg=name)


def test_each_run_is_credited_its_share_of_the_steps_and_its_own_scoring(clean, monkeypatch):
    # A virtual clock, read by the grouped loop, that only the planted costs move: every step's row update costs
    # 1/64 s (shared by the runs that step, by their training rows), every run's scoring 1/16 s (its own, as a single
    # run's epoch time includes its scoring); the real work costs nothing, so a busy machine changes no figure (the
    # costs are powers of two: the clock's sums are exact).
    from types import SimpleNamespace

    import core.kernels.grouped as grouped

    if not lazy_adam.available():
        pytest.skip("numba is not installed")
    real_score, real_rows = grouped._record_from_relu, grouped.adam_rows
    clock = [0.0]

    def slow_score(*args, **kwargs):
        clock[0] += 1 / 16
        return real_score(*args, **kwargs)

    def slow_rows(*args, **kwargs):
        clock[0] += 1 / 64
        return real_rows(*args, **kwargs)

    monkeypatch.setattr(grouped, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    monkeypatch.setattr(grouped, "_record_from_relu", slow_score)  # the CPU loop's scoring (with numba)
    monkeypatch.setattr(grouped, "adam_rows", slow_rows)
    configs = [
        TrainConfig(teacher="hash-16", model="B", p=p, epochs=2, batch_size=64) for p in (0.05, 0.5, 1.0)
    ]  # 1, 3, 5 batches
    datasets = [build_dataset(ITEMS, clean, c.p, 0.0, 0) for c in configs]
    models = [build_student(StudentConfig("B", len(ITEMS), 16), seed=0) for _ in configs]
    started = clock[0]
    epochs = list(train_grouped(models, datasets, configs, "cpu"))
    wall = clock[0] - started
    for small, middle, large in epochs:
        assert small.epoch_seconds >= 1 / 16  # its own scoring, though its share of the steps is small
        # Steps' time shared 1 : 3 : 5, so each bigger run gets more.
        assert small.epoch_seconds + 0.01 < middle.epoch_seconds < large.epoch_seconds - 0.01
    assert sum(r.epoch_seconds for records in epochs for r in records) <= wall + 1e-9  # nothing counted twice
    assert [r.seconds for r in epochs[-1]] == pytest.approx([sum(e[i].epoch_seconds for e in epochs) for i in range(3)])


def test_what_can_be_grouped():
    plain = TrainConfig(model="B", p=0.1)
    assert group_key(plain, 100, 16) == group_key(TrainConfig(model="B", p=0.5, poison=0.1, seed=4), 100, 16)
    assert group_key(plain, 100, 16) != group_key(TrainConfig(model="A", p=0.1), 100, 16)
    assert group_key(TrainConfig(model="ridge"), 100, 16) is None
    assert group_key(TrainConfig(model="B", defence="trimmed"), 100, 16) is None
    with pytest.raises(ValueError, match="one student kind"):
        list(train_grouped([None, None], [None, None], [plain, TrainConfig(model="A")], "cpu"))
