from tests.app.apphelpers import make_app, no_errors


def test_no_runs_yet():
    at = make_app("distributions")
    no_errors(at)
    assert "no trained runs" in at.info[0].value


def test_histograms_for_a_stored_run(stored_run):
    at = make_app("distributions", run_id=stored_run)
    no_errors(at)
    assert at.multiselect(key="dist_runs").value == [stored_run]
    assert at.multiselect(key="dist_epochs").value == [1, 3]
    assert any("grey teacher" in c.value for c in at.caption)
    at.multiselect(key="dist_epochs").set_value([2]).run()
    no_errors(at)
