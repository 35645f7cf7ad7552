from core.paths import runs_dir
from core.runs.store import list_runs, load_run
from tests.app.apphelpers import make_app, no_errors


def test_open_compare_and_delete(stored_run):
    at = make_app("runs")
    no_errors(at)
    assert at.dataframe[0].value["run_id"].tolist() == [stored_run]
    at.multiselect(key="runs_picked").set_value([stored_run]).run()
    no_errors(at)
    assert any("Held-out cosine" in c.value for c in at.caption) or at.get("arrow_vega_lite_chart")
    at.button(key="confirm_delete").click().run()
    no_errors(at)
    assert list_runs(runs_dir()).is_empty()
    assert "no trained runs" in at.info[0].value


def test_a_damaged_run_gets_a_sentence_on_the_comparison_pages(stored_run):
    from core.paths import runs_dir

    (runs_dir() / stored_run / "student.safetensors").write_bytes(b"\x00" * 32)
    at = make_app("projection")
    assert not at.exception
    assert any("cannot be read" in e.value for e in at.error)


def test_take_a_run_away_and_import_it_back(stored_run):
    from core.runs.store import delete_run
    from core.runs.takeaway import zip_run

    at = make_app("runs")
    at.multiselect(key="runs_picked").set_value([stored_run]).run()
    captions = " ".join(c.value for c in at.caption)  # what the export is, beside its download: the run's words only
    words = load_run(runs_dir(), stored_run).items.height
    assert f"fixed table of its {words:,} words only" in captions and "zero vector" in captions, captions
    at.button(key="export_student").click().run()
    no_errors(at)
    name, data = at.session_state["run_student_zip"]
    assert name == stored_run and data[:2] == b"PK"
    at.button(key="export_run").click().run()
    no_errors(at)
    zipped = zip_run(load_run(runs_dir(), stored_run))
    delete_run(runs_dir(), stored_run)
    from core.runs.takeaway import import_run

    assert import_run(zipped, runs_dir()) == stored_run  # what the page's import button calls
    assert stored_run in list_runs(runs_dir())["run_id"].to_list()
