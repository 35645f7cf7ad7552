"""Which runs a person may see (core.runs.visibility), on hand-built frames."""

import polars as pl

from core.runs.visibility import visible_runs

RUNS = pl.DataFrame(
    {
        "run_id": ["mine", "theirs", "shared", "ahead"],
        "owner": ["ada", "bob", "bob", ""],
        "shared": [False, False, True, False],
    }
)


def ids(frame: pl.DataFrame) -> list[str]:
    return frame["run_id"].to_list()


def test_a_personal_machine_shows_everything():
    assert ids(visible_runs(RUNS, "ada", hosted=False)) == ["mine", "theirs", "shared", "ahead"]


def test_hosted_shows_ones_own_runs_and_the_gallery():
    assert ids(visible_runs(RUNS, "ada", hosted=True)) == ["mine", "shared"]
    assert ids(visible_runs(RUNS, "ada", hosted=True, gallery=False)) == ["mine"]
    assert ids(visible_runs(RUNS, "cy", hosted=True)) == ["shared"]


def test_the_story_also_sees_the_runs_nobody_owns():
    assert ids(visible_runs(RUNS, "ada", hosted=True, unowned=True)) == ["mine", "shared", "ahead"]


def test_an_empty_store_stays_empty():
    empty = RUNS.clear()
    assert visible_runs(empty, "ada", hosted=True).is_empty()
