"""The Runs page (pages/runs.py) says whose each run is (issue 30): 'yours', "the lab's example" (trained ahead by the
lab, owned by nobody), 'shared by <nickname>'; the Whose filter offers them by name, and a link can carry it."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.classroom.people import people_dir, set_nickname
from core.paths import runs_dir
from core.runs.hosting import owner_id
from core.runs.store import set_shared
from tests.app.apphelpers import ROOT, no_errors, owned_run

ADA, BOB, CY = "ada0token01", "bob0token02", "cy00token03"


def _open(params: dict) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update(params)
    at.run()
    return at.switch_page("pages/runs.py").run()


def test_the_runs_table_says_whose_each_run_is(monkeypatch, prepared, vocab):
    monkeypatch.setenv("EMBEDDING_LAB_HOSTED", "1")
    set_nickname(people_dir(), owner_id(None, BOB), "Bob")
    ids = {
        "ada": owned_run(owner_id(None, ADA), prepared, vocab),
        "bob": owned_run(owner_id(None, BOB), prepared, vocab),
        "cy": owned_run(owner_id(None, CY), prepared, vocab),  # Cy has no nickname
        "lab": owned_run("", prepared, vocab),  # the lab's own example (the warm-up's, the command line's)
    }
    for shared in ("bob", "cy", "lab"):
        set_shared(runs_dir(), ids[shared], True)

    at = _open({"u": ADA})
    no_errors(at)
    table = at.dataframe[0].value
    whose = dict(zip(table["run_id"], table["origin"]))
    assert whose == {
        ids["ada"]: "yours",
        ids["bob"]: "shared by Bob",
        ids["cy"]: "shared by a classmate",
        ids["lab"]: "the lab's example",
    }
    assert at.multiselect(key="runs_origins").options == [
        "yours",
        "the lab's example",
        "shared by a classmate",
        "shared by Bob",
    ]
    at.multiselect(key="runs_origins").set_value(["shared by Bob"]).run()
    assert at.dataframe[0].value["run_id"].to_list() == [ids["bob"]]
    assert at.query_params["runs_origins"] in ("shared by Bob", ["shared by Bob"])  # one value: AppTest gives it bare

    linked = _open({"u": ADA, "runs_origins": ["shared by Bob", "the lab's example"]})  # a link keeps the filter
    no_errors(linked)
    assert sorted(linked.dataframe[0].value["run_id"].to_list()) == sorted([ids["bob"], ids["lab"]])
    gone = _open({"u": ADA, "runs_origins": "shared by Nobody"})  # a name with no run here: ignored, not an error
    no_errors(gone)
    assert len(gone.dataframe[0].value) == 4
