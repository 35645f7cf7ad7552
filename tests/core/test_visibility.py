"""Which runs a person may see (core.runs.visibility), on hand-built frames."""

import polars as pl

from core.runs.visibility import default_run, visible_runs

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


def test_the_default_run_prefers_the_story_pair_over_whichever_lab_run_was_stored_last():
    """A page opened without a run lands on the story's pair (its pages computed ahead), not on the lab's newest run;
    a person's own run or the one they chose always wins."""
    lab = pl.DataFrame({"run_id": ["poisoned", "pair-b", "pair-kernel"], "owner": ["", "", ""], "shared": [True] * 3})
    assert default_run(lab, "ada", hosted=False) == "poisoned"  # no preference: the newest
    assert default_run(lab, "ada", hosted=False, preferred="pair-b") == "pair-b"
    assert default_run(lab, "ada", hosted=True, preferred="pair-b") == "pair-b"
    assert default_run(lab, "ada", hosted=False, chosen="pair-kernel", preferred="pair-b") == "pair-kernel"
    assert default_run(lab, "ada", hosted=False, preferred="gone") == "poisoned"
    mine = pl.concat([pl.DataFrame({"run_id": ["mine"], "owner": ["ada"], "shared": [False]}), lab])
    assert default_run(mine, "ada", hosted=False, preferred="pair-b") == "mine"  # newest, and hers
    assert default_run(mine, "ada", hosted=True, preferred="pair-b") == "mine"
    assert default_run(lab.clear(), "ada", hosted=False, preferred="pair-b") is None
