import json

import pytest
import torch

from core.__main__ import main
from core.config import LemmaMode, TrainConfig
from core.runs.experiment import TrainingRun, prepare_items
from core.runs.store import list_runs, load_run
from core.runs.sweep import SweepGrid, run_sweep, sweep_frame
from core.teachers.teacher import CachedTeacher, HashTeacher

WORDS = [f"w{i:03d}" for i in range(200)] + ["cats", "cat", "was", "be"]


@pytest.fixture
def prepared(tmp_path):
    teacher = CachedTeacher(HashTeacher(8), tmp_path / "cache")
    return {
        LemmaMode.NONE: prepare_items(WORDS, "none", teacher),
        LemmaMode.LOOKUP: prepare_items(WORDS, "lookup", teacher),
    }


def grid(**kw):
    return SweepGrid(**{"teacher": "hash-8", "ps": (0.1, 0.5), "epochs": 3, "vocabulary": "t", **kw})


def test_grid_expands_every_combination():
    g = SweepGrid.paper()
    assert len(g.configs()) == 2 * 10 * 2 * 2
    assert {c.p for c in g.configs()} == set(g.ps) and {c.epochs for c in g.configs()} == {80}
    with pytest.raises(ValueError, match="at least one value"):
        grid(ps=())
    with pytest.raises(ValueError, match="limit is 400"):
        grid(ps=tuple(i / 1000 for i in range(1, 500)))


def test_sweep_trains_then_reuses(prepared, tmp_path):
    g = grid(models=("A", "B"), lemmatize=("none", "lookup"), poison=(0.0, 0.1))
    first = list(run_sweep(g, prepared, tmp_path / "runs", device="cpu"))[-1]
    assert (first.done, first.trained, first.reused) == (16, 16, 0)
    again = list(run_sweep(g, prepared, tmp_path / "runs", device="cpu"))[-1]
    assert (again.done, again.trained, again.reused) == (16, 0, 16)
    assert sorted(again.run_ids) == sorted(first.run_ids)
    frame = sweep_frame(load_run(tmp_path / "runs", r) for r in again.run_ids)
    assert frame.height == 16 * 3 and set(frame["p"].to_list()) == {0.1, 0.5}


def test_an_interrupted_sweep_resumes(prepared, tmp_path):
    g = grid(ps=(0.1, 0.2, 0.3, 0.4))
    calls = {"n": 0}

    def stop_after_two_runs():
        calls["n"] += 1
        return len(list_runs(tmp_path / "runs")) >= 2

    partial = list(
        run_sweep(
            g,
            {LemmaMode.NONE: prepared[LemmaMode.NONE]},
            tmp_path / "runs",
            device="cpu",
            should_stop=stop_after_two_runs,
            group=False,
        )
    )
    assert partial[-1].done == 2
    resumed = list(run_sweep(g, {LemmaMode.NONE: prepared[LemmaMode.NONE]}, tmp_path / "runs", device="cpu"))[-1]
    assert (resumed.reused, resumed.trained, resumed.done) == (2, 2, 4)


def test_a_group_stopped_mid_way_keeps_its_epochs_and_resumes(prepared, tmp_path):
    g = grid(ps=(0.1, 0.2, 0.3, 0.4), epochs=5)
    data = {LemmaMode.NONE: prepared[LemmaMode.NONE]}
    ticks = {"n": 0}

    def stop_after_two_epochs():
        ticks["n"] += 1
        return ticks["n"] > 3  # checked before the group, then before each of its epochs

    assert list(run_sweep(g, data, tmp_path / "runs", device="cpu", should_stop=stop_after_two_epochs)) == []
    runs = list_runs(tmp_path / "runs")
    assert runs.height == 4 and set(runs["status"].to_list()) == {"stopped"} and set(runs["epochs"].to_list()) == {2}
    resumed = list(run_sweep(g, data, tmp_path / "runs", device="cpu"))
    assert (resumed[-1].reused, resumed[-1].trained, resumed[-1].done) == (0, 4, 4)
    assert all(load_run(tmp_path / "runs", r).meta["grouped_with"] == 4 for r in resumed[-1].run_ids)


def test_grouped_and_single_sweeps_store_the_same_curves(prepared, tmp_path):
    g = grid(models=("A", "B"), ps=(0.1, 0.5, 1.0), epochs=3, poison=(0.0, 0.1))
    data = {LemmaMode.NONE: prepared[LemmaMode.NONE]}
    grouped = list(run_sweep(g, data, tmp_path / "g", device="cpu"))[-1]
    single = list(run_sweep(g, data, tmp_path / "s", device="cpu", group=False))[-1]
    a = sweep_frame(load_run(tmp_path / "g", r) for r in grouped.run_ids).sort("model", "p", "poison", "epoch")
    b = sweep_frame(load_run(tmp_path / "s", r) for r in single.run_ids).sort("model", "p", "poison", "epoch")
    assert a.height == b.height == 12 * 3
    for column in ("train_loss", "train_cosine", "heldout_cosine"):
        diff = (a[column] - b[column]).abs().max()
        assert diff is None or diff < 1e-5, column


def test_a_sweep_run_has_the_same_curve_as_a_single_run(prepared, tmp_path):
    g = grid(ps=(0.3,), epochs=4, poison=(0.1,))
    (progress,) = list(run_sweep(g, {LemmaMode.NONE: prepared[LemmaMode.NONE]}, tmp_path / "sweep", device="cpu"))
    single = TrainingRun(
        TrainConfig(teacher="hash-8", p=0.3, epochs=4, poison=0.1, vocabulary="t"),
        prepared[LemmaMode.NONE],
        tmp_path / "single",
        device="cpu",
    )
    losses = [r.train_loss for r in single]
    assert load_run(tmp_path / "sweep", progress.run_ids[0]).epochs["train_loss"].to_list() == losses


def test_missing_prepared_data_is_a_sentence(prepared, tmp_path):
    with pytest.raises(ValueError, match="Prepare the data for lemmatization spacy"):
        next(run_sweep(grid(lemmatize=("spacy",)), prepared, tmp_path))


def test_cli_sweep_json(capsys, tmp_path):
    vocab = tmp_path / "w.txt"
    vocab.write_text("\n".join(WORDS))
    assert (
        main(
            [
                "sweep",
                "--teacher",
                "hash-8",
                "--vocab",
                str(vocab),
                "--ps",
                "0.1,0.5",
                "--epochs",
                "2",
                "--models",
                "A,B",
                "--json",
            ]
        )
        == 0
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["done"] for line in lines[:-1]] == [1, 2, 3, 4]
    assert lines[-1]["sweep"] == "finished" and lines[-1]["trained"] == 4
    assert (
        main(
            [
                "sweep",
                "--teacher",
                "hash-8",
                "--vocab",
                str(vocab),
                "--ps",
                "0.1,0.5",
                "--epochs",
                "2",
                "--models",
                "A,B",
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["reused"] == 4


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["sweep", "--ps", "0.1,x"], "--ps must be a comma-separated list"),
        (["sweep", "--ps", "0.1,2"], "at most 1"),
        (["sweep", "--lemmas", "stem"], "--lemmas must be"),
    ],
)
def test_cli_sweep_bad_flags(argv, fragment, capsys):
    assert main([*argv, "--teacher", "hash-8"]) == 2
    assert fragment in capsys.readouterr().err


def test_a_grouped_checkpoint_writes_that_epochs_weights(prepared, tmp_path, monkeypatch):
    # While a group trains, its rows live apart from the models' tables; a checkpoint must sync them first.
    import core.runs.experiment as experiment

    real_save, written = experiment.save_run, {}

    def capturing_save(root, config, dataset, records, model, **kw):
        written[(config.p, len(records))] = model.embedding.weight.detach().clone()
        return real_save(root, config, dataset, records, model, **kw)

    monkeypatch.setattr(experiment, "save_run", capturing_save)
    data = {LemmaMode.NONE: prepared[LemmaMode.NONE]}
    list(run_sweep(grid(ps=(0.1, 0.5), epochs=3), data, tmp_path / "runs", device="cpu", checkpoint_every=0.0))
    monkeypatch.setattr(experiment, "save_run", real_save)
    for p in (0.1, 0.5):
        for k in (1, 2, 3):
            single = TrainingRun(
                TrainConfig(teacher="hash-8", p=p, epochs=k, vocabulary="t"),
                data[LemmaMode.NONE],
                tmp_path / f"single{p}{k}",
                device="cpu",
            )
            list(single)
            torch.testing.assert_close(
                written[(p, k)], single.model.embedding.weight.detach(), atol=1e-5, rtol=1e-4, msg=f"p={p}, epoch {k}"
            )
