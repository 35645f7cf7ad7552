import polars as pl
import pytest

from core.paths import runs_dir
from core.runs.store import list_runs
from tests.app.apphelpers import make_app, no_errors, wait_for


def test_scores_sit_beside_teacher_and_baseline(stored_run):
    at = make_app("evaluate", run_id=stored_run)
    no_errors(at)
    table = at.dataframe[0].value
    assert list(table["Model"]) == ["Model B", "teacher", "average vector"]
    assert table["Cosine to teacher"][1] == 1.0
    assert any("lookup table" in w.value for w in at.warning)  # Model B cannot extrapolate: said once, plainly
    at.radio(key="eval_scope").set_value("training").run()
    no_errors(at)
    # On training words the baseline keeps the answers it was given (10 % of them poisoned).
    assert at.dataframe[0].value["Cosine to teacher"][2] > 0.8


@pytest.mark.slow  # trains a grid of runs
def test_comparison_grid_fills_the_quality_per_query_chart(stored_run, prepared, vocab):
    at = make_app("evaluate", run_id=stored_run, prepared=prepared, vocabulary=vocab, teacher_name="hash-32")
    no_errors(at)
    start = at.button(key="eval_sweep_start")
    assert "24 runs to train" in start.label  # six students x four p
    start.click().run()
    assert wait_for(lambda: list_runs(runs_dir()).filter(pl.col("status") == "finished").height >= 25, timeout=240)
    at.run()
    no_errors(at)
    runs = list_runs(runs_dir())
    assert set(runs["model"]) == {"A", "B", "ridge", "mlp", "kernel", "subword"}
    clean_run = runs.filter((pl.col("poison") == 0) & (pl.col("model") == "kernel"))["run_id"][0]
    at.selectbox(key="run_select").set_value(clean_run).run()
    no_errors(at)
    quality = next(d.value for d in at.dataframe if "Teacher answers" in d.value.columns)
    assert len(quality) == 24 and quality["Student"].nunique() == 6  # one row per run
    for metric in ("analogy_pct_of_teacher", "neighbour_overlap_at_10"):
        at.radio(key="quality_metric").set_value(metric).run()
        no_errors(at)
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")


def test_one_run_is_a_table_not_a_lonely_dot(stored_run):
    at = make_app("evaluate", run_id=stored_run)
    no_errors(at)
    scores = at.dataframe[0].value
    assert list(scores["SimLex ρ"])[2] == "—"  # the baseline's ρ cannot be computed: a dash, not "None"
    assert 0 <= scores["Neighbours (of 10)"].max() <= 10  # a count out of ten, not a percent
    quality = next(d.value for d in at.dataframe if "Teacher answers" in d.value.columns)
    assert list(quality["Student"]) == ["Model B"] and quality["p"][0] == 0.5
    assert not at.get("arrow_vega_lite_chart") and not at.get("vega_lite_chart")
    assert any("no curve to draw" in c.value for c in at.caption)
    lookup = [e.value for e in [*at.warning, *at.info] if "lookup tables" in e.value]
    assert len(lookup) == 1  # said once


def test_the_storys_evaluation_door_shows_its_run_and_says_where_it_came_from(stored_run):
    at = make_app("evaluate", **{"run_id": stored_run, "story_highlight": ("king", "queen")})
    no_errors(at)
    assert at.selectbox(key="run_select").value == stored_run
    assert any(i.value.startswith("Opened from the story") for i in at.info)
    assert list(at.dataframe[0].value["Model"]) == ["Model B", "teacher", "average vector"]
