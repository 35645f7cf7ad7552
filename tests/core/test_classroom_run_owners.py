"""Whose each run is (issue 30): the Runs table (core.runs.table.runs_metrics_table / whose_run) says 'yours', "the
lab's example" (trained ahead by the lab, owned by nobody) or the classmate's nickname; `python -m core runs` lists
each run's owner (the lab, a nickname, or the lab id of someone who has none)."""

from __future__ import annotations

import polars as pl
import pytest

from core.__main__ import main
from core.classroom.people import people_dir, set_nickname
from core.config import TrainConfig
from core.paths import runs_dir
from core.runs.experiment import TrainingRun, prepare_items
from core.runs.store import list_runs
from core.runs.table import runs_metrics_table, search_runs, whose_run
from core.teachers.teacher import CachedTeacher, HashTeacher

ADA, BOB, CAROL = "t-00000000000a0a0a", "t-00000000000b0b0b", "t-00000000000c0c0c"


def _runs(owners, imported=None) -> pl.DataFrame:
    n = len(owners)
    return pl.DataFrame(
        {
            "run_id": [f"r{i}" for i in range(n)],
            "created": [f"2026-12-0{i + 1}T10:00:00" for i in range(n)],
            "status": ["finished"] * n,
            "model": ["B"] * n,
            "p": [0.1] * n,
            "teacher_queries": [10] * n,
            "heldout_cosine": [0.5] * n,
            "seconds": [1.0] * n,
            "owner": owners,
            "shared": [True] * n,
            "imported": imported or [False] * n,
            "name": [""] * n,
        }
    )


@pytest.mark.parametrize(
    "owner, me, imported, expected",
    [
        (ADA, ADA, False, "yours"),
        (ADA, ADA, True, "imported"),
        ("", ADA, False, "the lab's example"),
        (BOB, ADA, False, "shared by Bob"),
        (BOB, ADA, True, "shared by Bob"),  # Bob imported it and shared it: it is his
        (CAROL, ADA, False, "shared by a classmate"),  # no nickname yet
        ("", None, False, "yours"),  # one's own machine: every run is the viewer's
        (BOB, None, False, "yours"),
    ],
)
def test_whose_run(owner, me, imported, expected):
    assert whose_run(owner, me, {BOB: "Bob"}, imported) == expected


def test_the_table_names_the_lab_the_classmate_and_you_and_can_be_searched_by_them():
    table = runs_metrics_table(_runs([ADA, "", BOB, CAROL]), {}, me=ADA, names={BOB: "Bob", ADA: "Ada"})
    whose = dict(zip(table["run_id"], table["origin"]))
    assert whose == {"r0": "yours", "r1": "the lab's example", "r2": "shared by Bob", "r3": "shared by a classmate"}
    assert search_runs(table, "BOB")["run_id"].to_list() == ["r2"]
    assert search_runs(table, "", origins=["the lab's example", "shared by Bob"])["run_id"].to_list() == ["r2", "r1"]
    # before this, an owner-less run read 'shared by a classmate' and no name was ever shown
    assert "shared by a classmate" not in set(table.filter(pl.col("run_id") != "r3")["origin"])


def test_the_command_line_lists_each_runs_owner(lab_home, capsys):
    words = [f"w{i}" for i in range(60)]
    prepared = prepare_items(words, "none", CachedTeacher(HashTeacher(8), lab_home / "cache"))
    made = {}
    for who, owner in (("lab", ""), ("bob", BOB), ("carol", CAROL)):
        run = TrainingRun(
            TrainConfig(teacher="hash-8", p=0.2, epochs=1), prepared, runs_dir(), device="cpu", extra={"owner": owner}
        )
        list(run)
        made[who] = run.run_id
    set_nickname(people_dir(), BOB, "Bob")
    assert main(["runs"]) == 0
    cells = [line.strip("│ ").split("┆") for line in capsys.readouterr().out.splitlines() if "┆" in line]
    owners = {row[0].strip(): row[1].strip() for row in cells}  # polars' table: run_id ┆ owner ┆ status ┆ …
    assert cells[0][1].strip() == "owner"
    owner_of = {who: owners[run_id] for who, run_id in made.items()}
    assert owner_of == {"lab": "the lab", "bob": "Bob", "carol": CAROL}
    assert list_runs(runs_dir()).height == 3
