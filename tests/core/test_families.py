"""Run families (core.runs.families), on hand-built frames."""

import polars as pl

from core.config import CEILING_P, LemmaMode, StudentKind, TrainConfig
from core.runs import families


def runs(rows):
    base = {
        "run_id": "r",
        "model": "B",
        "status": "finished",
        "teacher": "t1",
        "vocabulary": "v",
        "lemmatize": "none",
        "poison": 0.0,
        "epochs": 20,
        "p": 0.1,
        "created": 1.0,
    }
    return pl.DataFrame([{**base, **r} for r in rows])


TABLE = runs(
    [
        {"run_id": "this"},
        {"run_id": "b40", "epochs": 40, "p": 0.3},
        {"run_id": "b40-old", "epochs": 40, "p": 0.3, "created": 0.5},
        {"run_id": "b40-new", "epochs": 40, "p": 0.01, "created": 2.0},
        {"run_id": "ridge", "model": "ridge", "epochs": 1},
        {"run_id": "every word", "p": 1.0},
        {"run_id": "poisoned", "poison": 0.1},
        {"run_id": "other teacher", "teacher": "t2"},
        {"run_id": "running", "status": "running"},
    ]
)


def test_run_row_and_most_epochs():
    assert families.run_row(TABLE, "b40")["epochs"] == 40 and families.run_row(TABLE, "gone") is None
    assert families.most_epochs(TABLE, ["this", "b40"]) == 40 and families.most_epochs(TABLE, ["gone"]) == 0


def test_the_quality_family_shares_teacher_words_and_poison_and_has_held_out_words():
    family = families.quality_family(TABLE, families.run_row(TABLE, "this"))
    assert family["run_id"].to_list() == ["this", "b40", "b40-old", "b40-new", "ridge"]


def test_epoch_choices_offer_every_length_and_pick_the_most_common():
    family = families.quality_family(TABLE, families.run_row(TABLE, "this"))
    assert families.epoch_choices(family) == ([20, 40], 40)  # 3 runs of 40 epochs, 1 of 20; ridge has none
    assert families.epoch_choices(family.filter(pl.col("model") == "ridge")) == ([], None)
    tie = runs([{"epochs": 20}, {"epochs": 80}])
    assert families.epoch_choices(tie) == ([20, 80], 80)  # the longer of equals


def test_latest_per_point_keeps_the_newest_run_of_each_student_and_p():
    family = families.quality_family(TABLE, families.run_row(TABLE, "this"))
    kept = families.latest_per_point(family, 40)["run_id"].to_list()
    assert sorted(kept) == ["b40", "b40-new", "ridge"]  # closed-form adapters stay whatever the length
    assert sorted(families.latest_per_point(family)["run_id"].to_list()) == ["b40", "b40-new", "ridge", "this"]


def test_latest_per_point_keeps_every_seed_and_selection_and_the_newest_rerun_of_each():
    seeded = runs(
        [
            {"run_id": "s0", "model": "kernel", "epochs": 1, "seed": 0, "selection": "random"},
            {"run_id": "s1", "model": "kernel", "epochs": 1, "seed": 1, "selection": "random"},
            {"run_id": "s1-old", "model": "kernel", "epochs": 1, "seed": 1, "selection": "random", "created": 0.1},
            {"run_id": "t0", "model": "kernel", "epochs": 1, "seed": 0, "selection": "typical"},
            {"run_id": "t0-p", "model": "kernel", "epochs": 1, "seed": 0, "selection": "typical", "p": 0.3},
            {"run_id": "b0", "seed": 0, "selection": "random", "epochs": 40},
        ]
    )
    family = families.quality_family(seeded, families.run_row(seeded, "s0"))
    assert sorted(families.latest_per_point(family)["run_id"]) == ["b0", "s0", "s1", "t0", "t0-p"]
    assert sorted(families.latest_per_point(family, 20)["run_id"]) == ["s0", "s1", "t0", "t0-p"]  # B at 40 left out


def test_the_quality_family_filters_teacher_vocabulary_lemmas_and_poison_whatever_the_seed():
    seeded = runs(
        [
            {"run_id": "this", "seed": 0},
            {"run_id": "seed 3", "seed": 3, "selection": "kcenter"},
            {"run_id": "other words", "seed": 1, "vocabulary": "w"},
            {"run_id": "lemmas", "seed": 1, "lemmatize": "spacy"},
            {"run_id": "poisoned", "seed": 1, "poison": 0.1},
        ]
    )
    family = families.quality_family(seeded, families.run_row(seeded, "this"))
    assert sorted(families.latest_per_point(family)["run_id"]) == ["seed 3", "this"]


def test_most_points_per_student():
    table = pl.DataFrame({"student": ["B", "B", "ridge"]})
    assert families.most_points_per_student(table) == 2
    assert families.most_points_per_student(table.clear()) == 0
    # With p: the distinct budgets, not the rows (five seeds at one p are one point of the curve).
    seeds = pl.DataFrame({"student": ["K"] * 6, "p": [0.1] * 5 + [0.3]})
    assert families.most_points_per_student(seeds) == 2


def test_claim_grid_covers_the_missing_points_and_to_train_leaves_out_the_stored():
    assert families.claim_grid("hash-8", LemmaMode.NONE, "v", [], 40) is None
    grid = families.claim_grid("hash-8", LemmaMode.NONE, "v", [(0.095, 0.1), (0.171, 0.0)], 40)
    points = {(c.p, c.poison) for c in grid.configs()}
    assert points == {(0.095, 0.0), (0.095, 0.1), (0.171, 0.0), (0.171, 0.1)}
    assert all(c.epochs == 40 and c.model.value == "B" for c in grid.configs())
    assert len(families.to_train(grid.configs(), pl.DataFrame(), "t1")) == 4


def stored_row(config: TrainConfig, run_id: str) -> dict:
    """The run store's row of a finished run trained here with these settings (what find_stored compares)."""
    keys = (
        "p",
        "epochs",
        "poison",
        "seed",
        "vocabulary",
        "batch_size",
        "lr",
        "cheap",
        "adversary",
        "poison_scope",
        "selection",
    )
    return {
        "run_id": run_id,
        "status": "finished",
        "imported": False,
        "teacher": "t1",
        "model": config.model.value,
        "lemmatize": config.lemmatize.value,
        "defence": config.defence,
        "trim": config.trim,
        **{k: getattr(config, k) for k in keys},
    }


def test_stored_runs_finds_a_run_with_the_same_settings():
    config = TrainConfig(teacher="hash-8", model="ridge", p=0.5, epochs=1)
    other = TrainConfig(teacher="hash-8", model="ridge", p=0.3, epochs=1)
    table = pl.DataFrame([stored_row(config, "r1")])
    assert families.stored_runs([config, other], table, "t1") == {config: "r1", other: None}
    assert families.to_train([config, other], table, "t1") == [other]
    assert families.to_train([config], table, "another teacher") == [config]


def test_the_selection_comparison_is_every_strategy_p_and_seed_plus_the_ceiling_once_per_seed():
    grids = families.selection_comparison("hash-32", LemmaMode.NONE, "v")
    configs = grids.configs()
    assert len(configs) == 3 * 4 * 5 + 5 and len(set(configs)) == len(configs)
    ceiling = [c for c in configs if c.p == CEILING_P]
    assert {c.selection for c in ceiling} == {"random"} and sorted(c.seed for c in ceiling) == [0, 1, 2, 3, 4]
    assert {c.model for c in configs} == {StudentKind.KERNEL} and grids.lemmatize == (LemmaMode.NONE,)
    assert grids.epochs == 1
    assert len(families.to_train(configs, pl.DataFrame(), "t1")) == 65
