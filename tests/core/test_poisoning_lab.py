"""The Poisoning lab's analytics (core.poisoning.lab), on hand-built frames."""

from typing import NamedTuple

import numpy as np
import polars as pl
import pytest

from core.config import PAPER_PS
from core.poisoning import lab


def runs(rows):
    base = {
        "run_id": "r",
        "model": "B",
        "status": "finished",
        "teacher": "t1",
        "vocabulary": "v",
        "lemmatize": "none",
        "adversary": "random",
        "poison_scope": "all",
        "defence": "none",
        "poison": 0.0,
        "epochs": 40,
        "seed": 0,
        "p": 0.095,
        "batch_size": 256,
        "lr": 1e-3,
        "created": 1.0,
        "heldout_cosine": 0.5,
        "seconds": 1.0,
        "detection_precision": None,
        "detection_recall": None,
    }
    return pl.DataFrame([{**base, **r} for r in rows], schema_overrides={"detection_precision": pl.Float64})


def test_poisoned_runs_are_the_finished_poisoned_ones_of_this_teacher():
    table = runs(
        [
            {"run_id": "clean"},
            {"run_id": "poisoned", "poison": 0.1},
            {"run_id": "other teacher", "poison": 0.1, "teacher": "t2"},
            {"run_id": "running", "poison": 0.1, "status": "running"},
        ]
    )
    assert lab.poisoned_runs(table, "t1")["run_id"].to_list() == ["poisoned"]


def test_training_answers_keep_the_losses_and_name_the_groups():
    items = pl.DataFrame(
        {
            "item": ["a", "b", "c", "d"],
            "split": ["training", "training", "training", "held-out"],
            "poisoned": [True, False, False, False],
            "loss": [0.9, 0.1, None, None],
        }
    )
    answers = lab.training_answers(items)
    assert answers["item"].to_list() == ["a", "b"] and answers["group"].to_list() == ["poisoned", "clean"]
    assert lab.training_answers(items.with_columns(loss=pl.lit(None, dtype=pl.Float64))) is None  # stored before
    assert lab.training_answers(items.drop("loss")) is None


def test_detection_summary_counts_the_answers_above_the_line():
    losses = np.array([0.1] * 20 + [0.11] * 20 + [0.9, 0.95])
    meta = {"train_size": 42, "poisoned_in_train": 2, "detection_precision": 1.0, "detection_recall": 1.0}
    summary = lab.detection_summary(meta, "none", losses)
    assert summary["detection_flagged"] == 2 and 0.11 < summary["threshold"] < 0.9
    assert summary["defence"] == "none" and summary["defence_left_out"] is None and summary["train_size"] == 42


class Config(NamedTuple):  # what damage_frame reads of a core.config.TrainConfig
    poison: float
    adversary: str = "random"
    defence: str = "none"


config = Config


def damage():
    table = runs(
        [
            {"run_id": "clean", "heldout_cosine": 0.8, "seconds": 1.0},
            {"run_id": "clean-trimmed", "heldout_cosine": 0.78, "seconds": 1.5},
            {"run_id": "plain", "heldout_cosine": 0.6, "seconds": 1.0, "detection_precision": 0.5},
            {"run_id": "trimmed", "heldout_cosine": 0.7, "seconds": 2.0, "detection_precision": 0.7},
            {"run_id": "trimmed-swap", "heldout_cosine": 0.5, "seconds": 3.0, "detection_precision": 0.3},
        ]
    )
    found = {
        config(0.0): "clean",
        config(0.0, defence="trimmed"): "clean-trimmed",
        config(0.1): "plain",
        config(0.1, defence="trimmed"): "trimmed",
        config(0.1, "swap", "trimmed"): "trimmed-swap",
        config(0.3): None,  # not trained yet
    }
    return lab.damage_frame(found, table)


def test_damage_frame_has_one_row_per_stored_run():
    frame = damage()
    assert frame["run_id"].to_list() == ["clean", "clean-trimmed", "plain", "trimmed", "trimmed-swap"]
    assert frame["adversary"].to_list() == ["clean", "clean", "random", "random", "swap"]
    assert frame["defence"].to_list() == ["none", "trimmed", "none", "trimmed", "trimmed"]  # keys: the page names them
    assert lab.damage_frame({}, runs([{}])).columns == list(lab.DAMAGE_SCHEMA)


def test_defence_summary_averages_the_poisoned_runs_of_each_defence():
    summary = {r["defence"]: r for r in lab.defence_summary(damage()).iter_rows(named=True)}
    assert list(summary) == ["none", "trimmed"]
    assert summary["none"]["runs"] == 1 and summary["none"]["extra_seconds"] == 0.0
    trimmed = summary["trimmed"]
    assert trimmed["runs"] == 2 and trimmed["heldout_cosine"] == pytest.approx(0.6)
    assert trimmed["pct_of_clean"] == pytest.approx(0.6 / 0.8)  # of the clean run without defence
    assert trimmed["extra_seconds"] == pytest.approx(1.0)  # the swap run has no plain twin: left out of the mean
    assert trimmed["precision"] == pytest.approx(0.5)


def test_defence_summary_without_poisoned_runs_is_empty():
    clean = damage().filter(pl.col("rate") == 0)
    assert lab.defence_summary(clean).is_empty()
    no_clean = damage().filter(pl.col("rate") > 0)
    assert lab.defence_summary(no_clean)["pct_of_clean"].null_count() == 2


def test_claim_runs_keep_the_papers_settings_one_run_per_point():
    table = runs(
        [
            {"run_id": "old", "created": 1.0},
            {"run_id": "new", "created": 2.0},
            {"run_id": "longer", "poison": 0.1, "epochs": 80},
            {"run_id": "shorter", "poison": 0.1, "epochs": 40, "created": 9.0},
            {"run_id": "too short", "p": 0.171, "epochs": 20},
            {"run_id": "not the paper's p", "p": 0.2},
            {"run_id": "defended", "p": 0.171, "defence": "trimmed"},
            {"run_id": "other lr", "p": 0.171, "lr": 1e-2},
            {"run_id": "other seed", "p": 0.171, "seed": 1},
            {"run_id": "adapter", "p": 0.171, "model": "ridge"},
            {"run_id": "swap", "p": 0.171, "poison": 0.1, "adversary": "swap"},
            {"run_id": "other words", "p": 0.171, "vocabulary": "w"},
        ]
    )
    family = lab.claim_runs(table, "t1", "v", "none")
    assert sorted(family["run_id"].to_list()) == ["longer", "new"]
    assert lab.has_poisoned_claim_runs(family)
    assert not lab.has_poisoned_claim_runs(family.filter(pl.col("poison") == 0))
    missing = lab.claim_missing(family)
    assert len(missing) == 2 * len(PAPER_PS) - 2 and (0.095, 0.0) not in missing and (0.095, 0.1) not in missing
    assert missing[0] == (PAPER_PS[0], 0.0)


def test_mean_baseline_skips_the_p_without_one():
    assert lab.mean_baseline({0.1: 0.2, 0.3: None, 0.5: 0.4}) == pytest.approx(0.3)
    assert lab.mean_baseline({0.1: None}) is None and lab.mean_baseline({}) is None
