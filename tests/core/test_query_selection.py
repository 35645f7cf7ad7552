"""Query selection as a run setting: chosen before any teacher answer is read, stored with the run, matched
by the sweep, offered by the CLI; `random` is the paper's split, unchanged."""

import json

import numpy as np
import pytest

import core.words.cheap as cheap
from core.__main__ import main
from core.config import SELECTIONS, LemmaMode, TrainConfig, cheap_choices, default_cheap
from core.data.dataset import split_indices, train_size_for
from core.data.selection import select_indices
from core.runs.evaluated import evaluate_run
from core.runs.experiment import PreparedData, TrainingRun, choose_queries, prepare_items
from core.runs.store import list_runs, load_run
from core.runs.sweep import SweepGrid, run_sweep
from core.teachers.teacher import CachedTeacher, HashTeacher, TeacherUnavailable, load_teacher

WORDS = [f"{a}{b}{i}" for i, (a, b) in enumerate(zip("abcdefghij" * 30, "klmnopqrst" * 30))] + ["cats", "cat", "was"]


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def prepared_for(words, cache, mode="none") -> PreparedData:
    return prepare_items(words, mode, CachedTeacher(HashTeacher(8), cache))


def config(**kw) -> TrainConfig:
    return TrainConfig(**{"teacher": "hash-8", "model": "B", "p": 0.1, "epochs": 2, "vocabulary": "t", **kw})


def test_a_selection_reads_no_teacher_answer(cache, monkeypatch):
    """The selection reads the cheap model (here hash-16) and word frequencies only: loading the teacher
    raises, and the teacher's cache does not exist, yet every strategy chooses its words."""
    real = load_teacher

    def only_the_cheap_model(name, device=None):
        if name == "hash-8":
            raise AssertionError("the selection asked the teacher")
        return real(name, device)

    monkeypatch.setattr(cheap, "load_teacher", only_the_cheap_model)
    for strategy in SELECTIONS:
        chosen, _ = choose_queries(config(selection=strategy), WORDS, cache)
        if strategy == "random":
            assert chosen is None  # the dataset draws the paper's split itself
            continue
        assert len(chosen) == train_size_for(len(WORDS), 0.1)
    assert not (cache / "hash-8.sqlite").exists()


def test_training_reads_only_the_selected_answers(cache):
    """A teacher whose every unselected answer is NaN trains the same student as the real one: training never
    touches an answer it did not pay for (the held-out answers only measure it)."""
    data = prepared_for(WORDS, cache)
    for strategy in ("typical", "kcenter", "frequency"):
        c = config(selection=strategy, poison=0.1, poison_scope="train")
        chosen, _ = choose_queries(c, data.items, cache)
        blind = np.full_like(data.clean, np.nan)
        blind[chosen] = data.clean[chosen]
        strict = PreparedData(data.lemma, blind, data.teacher_id, data.lemmatize)
        runs = []
        for prepared in (data, strict):
            run = TrainingRun(c, prepared, cache.parent / f"runs-{strategy}", device="cpu", cache_root=cache)
            records = list(run)
            assert np.isfinite(records[-1].train_loss)
            runs.append(run)
        assert np.array_equal(runs[0].dataset.train_idx, np.sort(chosen))
        assert np.isfinite(runs[1].model.predict_all().detach().numpy()).all()
        np.testing.assert_allclose(
            runs[0].model.predict_all().detach().numpy(), runs[1].model.predict_all().detach().numpy(), rtol=0, atol=0
        )
        # Poisoned answers are drawn from what was asked: exactly round(0.1 * budget) of the chosen words.
        assert runs[0].dataset.poisoned.sum() == round(0.1 * len(chosen))
        assert set(np.flatnonzero(runs[0].dataset.poisoned)) <= set(chosen)


def test_random_reproduces_the_stored_splits(cache, tmp_path):
    data = prepared_for(WORDS, cache)
    run = TrainingRun(config(), data, tmp_path / "runs", device="cpu", cache_root=cache)
    list(run)
    train, held = split_indices(len(WORDS), 0.1, 0)
    assert np.array_equal(run.dataset.train_idx, train) and np.array_equal(run.dataset.heldout_idx, held)
    assert np.array_equal(select_indices("random", len(WORDS), 0.1, 0)[0], train)
    # A run stored before the setting existed (no "selection" in its run.json) loads as a random one.
    folder = tmp_path / "runs" / run.run_id
    meta = json.loads((folder / "run.json").read_text())
    meta["config"].pop("selection")
    (folder / "run.json").write_text(json.dumps(meta))
    stored = load_run(tmp_path / "runs", run.run_id)
    assert stored.config.selection == "random"
    assert list_runs(tmp_path / "runs")["selection"].to_list() == ["random"]


def test_a_chosen_split_is_stored_and_evaluated_as_chosen(cache, tmp_path):
    data = prepared_for(WORDS, cache)
    c = config(selection="kcenter", seed=3)
    run = TrainingRun(c, data, tmp_path / "runs", device="cpu", cache_root=cache)
    list(run)
    stored = load_run(tmp_path / "runs", run.run_id)
    split = np.asarray(stored.items["split"].to_list())
    assert np.array_equal(np.flatnonzero(split == "training"), run.dataset.train_idx)
    assert not np.array_equal(run.dataset.train_idx, split_indices(len(WORDS), 0.1, 3)[0])
    result = evaluate_run(stored, cache)
    assert result.extra["teacher_queries"] == len(run.dataset.train_idx)
    assert stored.meta["selection_seconds"] >= 0
    # Same seed, same words; another seed, other words.
    again, _ = choose_queries(c, data.items, cache)
    other, _ = choose_queries(config(selection="kcenter", seed=4), data.items, cache)
    assert np.array_equal(np.sort(again), run.dataset.train_idx) and not np.array_equal(again, other)


def test_selection_works_on_lemmas(cache, tmp_path):
    data = prepared_for(WORDS, cache, "lookup")
    assert len(data.items) < len(WORDS)  # cats -> cat, was -> be
    run = TrainingRun(
        config(selection="frequency", lemmatize="lookup"), data, tmp_path / "runs", device="cpu", cache_root=cache
    )
    list(run)
    assert len(run.dataset.train_idx) == train_size_for(len(data.items), 0.1)


def test_the_sweep_keeps_selections_and_seeds_apart(cache, tmp_path):
    data = {LemmaMode.NONE: prepared_for(WORDS, cache)}
    grid = SweepGrid(
        teacher="hash-8", ps=(0.1,), epochs=1, vocabulary="t", selections=("random", "typical"), seeds=(0, 1)
    )
    assert len(grid.configs()) == 4
    root = tmp_path / "runs"
    first = list(run_sweep(grid, data, root, device="cpu"))[-1]
    assert first.trained == 4
    table = list_runs(root)
    assert sorted(zip(table["selection"], table["seed"])) == [
        ("random", 0),
        ("random", 1),
        ("typical", 0),
        ("typical", 1),
    ]
    again = list(run_sweep(grid, data, root, device="cpu"))[-1]
    assert again.reused == 4 and again.trained == 0
    with pytest.raises(ValueError, match="query selection must be one of"):
        SweepGrid(teacher="hash-8", selections=("best",))


def test_cheap_models_are_never_dearer_than_the_teacher_by_default():
    assert default_cheap("minilm") == "static-mpnet" and default_cheap("mpnet") == "minilm"
    # Never the teacher, nor a table distilled from the teacher (that copies its weights).
    assert cheap_choices("minilm") == ["static-mpnet", "mpnet"] and cheap_choices("mpnet") == ["static", "minilm"]
    assert all(default_cheap(t) in cheap_choices(t) for t in ("minilm", "mpnet", "hash-8"))
    assert default_cheap("hash-8") == "hash-16" and cheap_choices("hash") == ["hash-16"]
    assert TrainConfig(teacher="minilm", model="ridge").cheap == "static-mpnet"
    with pytest.raises(ValueError, match="query selection must be one of"):
        TrainConfig(selection="smart")


def test_cli_train_and_sweep_select(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EMBEDDING_LAB_HOME", str(tmp_path / "home"))
    vocab = tmp_path / "words.txt"
    vocab.write_text("\n".join(WORDS))
    common = ["--teacher", "hash-8", "--vocab", str(vocab), "--device", "cpu"]
    assert main(["train", *common, "--model", "B", "--p", "0.1", "--epochs", "1", "--select", "kcenter", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert load_run(tmp_path / "home" / "runs", summary["run_id"]).config.selection == "kcenter"
    assert (
        main(
            [
                "sweep",
                *common,
                "--models",
                "B",
                "--ps",
                "0.1",
                "--epochs",
                "1",
                "--select",
                "random,frequency",
                "--seeds",
                "0,1",
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["total"] == 4
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *common, "--select", "clever"])
    assert exit_info.value.code == 2
    assert "query selection must be one of" in capsys.readouterr().err


def test_a_missing_cheap_model_is_one_sentence(cache, tmp_path):
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    c = config(model="ridge", cheap=str(empty), selection="typical")
    with pytest.raises(TeacherUnavailable, match="Could not load"):
        choose_queries(c, WORDS, cache)
