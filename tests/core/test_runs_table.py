"""Naming runs (core.runs.store.rename_run) and the one table that compares them (core.runs.table.runs_metrics_table)."""

from __future__ import annotations

import json

import polars as pl
import pytest

from core.config import StudentKind, TrainConfig
from core.runs.evaluated import read_stored_evaluation
from core.runs.experiment import TrainingRun, prepare_items
from core.runs.store import RunNotFound, list_runs, rename_run
from core.runs.table import runs_metrics_table, search_runs
from core.teachers.teacher import CachedTeacher, HashTeacher


def _train(tmp_path, model="B", owner="", p=0.2):
    words = [f"w{i}" for i in range(60)]
    prepared = prepare_items(words, "none", CachedTeacher(HashTeacher(8), tmp_path / "cache"))
    run = TrainingRun(
        TrainConfig(teacher="hash-8", model=model, p=p, epochs=2),
        prepared,
        tmp_path / "runs",
        device="cpu",
        extra={"owner": owner},
    )
    list(run)
    return run.run_id


def test_rename_run_stores_a_clean_name_and_lists_it(tmp_path):
    run_id = _train(tmp_path)
    root = tmp_path / "runs"
    assert list_runs(root)["name"].to_list() == [""]
    assert rename_run(root, run_id, "  my   first\tstudent \n") == "my first student"
    assert list_runs(root)["name"].to_list() == ["my first student"]
    assert json.loads((root / run_id / "run.json").read_text())["name"] == "my first student"
    rename_run(root, run_id, "")
    assert list_runs(root)["name"].to_list() == [""]


def test_rename_run_refuses_with_a_sentence(tmp_path):
    run_id = _train(tmp_path)
    root = tmp_path / "runs"
    with pytest.raises(ValueError, match="at most 80"):
        rename_run(root, run_id, "x" * 81)
    with pytest.raises(RunNotFound):
        rename_run(root, "B-nope-20260101-000000-abcd", "x")
    with pytest.raises(ValueError):
        rename_run(root, "../escape", "x")


def test_metrics_table_by_hand():
    runs = pl.DataFrame(
        {
            "run_id": ["r1", "r2", "r3"],
            "created": ["2026-01-01T10:00:00", "2026-01-02T10:00:00", "2026-01-03T10:00:00"],
            "status": ["finished"] * 3,
            "model": ["B", "kernel", "A"],
            "p": [0.1, 0.1, 1.0],
            "teacher_queries": [100, 100, 1000],
            "heldout_cosine": [0.47, 0.81, None],
            "seconds": [3.0, 4.5, 9.0],
            "owner": ["me", "you", "me"],
            "shared": [False, True, False],
            "imported": [False, False, True],
            "name": ["king test", "", ""],
        }
    )
    evaluations = {
        "r1": {"summary": {"analogy_pct_of_teacher": 2.5}},
        "r2": {"summary": {"analogy_pct_of_teacher": 61.0}},
        "r3": None,
    }
    table = runs_metrics_table(runs, evaluations, me="me")
    assert table["run_id"].to_list() == ["r3", "r2", "r1"]  # newest first
    assert table["student"].to_list() == ["Model A", StudentKind.KERNEL.label, "Model B"]
    assert table["analogy_pct_of_teacher"].to_list() == [None, 61.0, 2.5]
    assert table["origin"].to_list() == ["imported", "shared by a classmate", "yours"]
    assert table["teacher_queries"].to_list() == [1000, 100, 100] and table["seconds"].to_list() == [9.0, 4.5, 3.0]
    # on one's own machine nobody else's: every run not imported is 'yours'
    assert runs_metrics_table(runs, {}, me=None)["origin"].to_list() == ["imported", "yours", "yours"]
    assert search_runs(table, "KING")["run_id"].to_list() == ["r1"]
    assert search_runs(table, "model b king")["run_id"].to_list() == ["r1"]
    assert search_runs(table, "", students=[StudentKind.KERNEL.label])["run_id"].to_list() == ["r2"]
    assert search_runs(table, "", origins=["yours", "imported"])["run_id"].to_list() == ["r3", "r1"]
    assert search_runs(table, "nothing like it").is_empty()


def test_metrics_table_from_real_runs_reads_stored_scores_only(tmp_path):
    mine, theirs = _train(tmp_path, owner="t-me"), _train(tmp_path, model="A", owner="t-you", p=0.5)
    root = tmp_path / "runs"
    assert read_stored_evaluation(root / mine) is None  # nothing computed by reading
    table = runs_metrics_table(
        list_runs(root), {r: read_stored_evaluation(root / r) for r in (mine, theirs)}, me="t-me"
    )
    rows = {r["run_id"]: r for r in table.iter_rows(named=True)}
    assert rows[mine]["origin"] == "yours" and rows[theirs]["origin"] == "shared by a classmate"
    assert rows[theirs]["teacher_queries"] == 30 and rows[mine]["teacher_queries"] == 12
    assert rows[mine]["analogy_pct_of_teacher"] is None and rows[mine]["heldout_cosine"] is not None
