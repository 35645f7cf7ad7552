import pytest

from pages._shared import K, job_board
from tests.app.apphelpers import make_app, no_errors, wait_for


def test_sweep_needs_data_first():
    at = make_app("sweep")
    no_errors(at)
    assert "compute the teacher's embeddings" in at.info[0].value


@pytest.mark.slow  # trains a grid of runs
def test_custom_sweep_runs_then_shows_every_figure(prepared, vocab):
    at = make_app("sweep", prepared=prepared, vocabulary=vocab, teacher_name="hash-32")
    no_errors(at)
    assert "80 runs in this grid: 0 already stored" in at.info[0].value
    at.radio(key="sweep_kind").set_value("custom").run()
    at.multiselect(key="sweep_ps").set_value([0.095, 0.555])
    at.number_input(key="sweep_epochs").set_value(3)
    at.multiselect(key="sweep_poisons").set_value([0.0, 0.1]).run()
    assert "4 runs in this grid: 0 already stored, 4 to train" in at.info[0].value
    at.button(key="sweep_start").click().run()
    no_errors(at)
    assert at.get("progress"), "the sweep's live progress panel must appear on the run that starts it"
    job = job_board().get(at.session_state[K.SWEEP])
    assert wait_for(lambda: job.done, 60) and job.snapshot().done_runs == 4
    at.run()
    no_errors(at)
    assert "4 already stored, 0 to train" in at.info[0].value
    captions = " ".join(c.value for c in at.caption)
    for figure in ("time_vs_p", "pareto_heatmap", "pareto_lines", "sweep_means"):
        from pages._labels import EXPLAIN

        assert EXPLAIN[figure][:40] in captions, figure
    at.radio(key="sweep_metric").set_value("heldout_cosine").run()
    no_errors(at)
    # a grid run whose means are damaged afterwards: the means figure says so in a sentence, the page goes on
    from core.paths import runs_dir
    from tests.hostile.test_round_two_pages import _nan_means

    for folder in runs_dir().iterdir():
        if (folder / "means.parquet").exists():
            _nan_means(folder)
    at.run()
    no_errors(at)
    assert any("means" in w.value and "not finite" in w.value for w in at.warning), [w.value for w in at.warning]


@pytest.mark.slow  # trains a grid of runs
def test_sweep_says_how_long_before_during_and_after(prepared, vocab, stored_run):
    """Before: an estimate from the stored runs (the fixture's Model B run); after: a done message, no stale ETA."""
    from core.config import StudentKind

    at = make_app("sweep", prepared=prepared, vocabulary=vocab, teacher_name="hash-32")
    at.radio(key="sweep_kind").set_value("custom").run()
    at.multiselect(key="sweep_ps").set_value([0.095, 0.555])
    at.number_input(key="sweep_epochs").set_value(3).run()
    no_errors(at)
    assert "estimated from the runs stored here" in at.info[0].value
    at.multiselect(key="sweep_models").set_value([StudentKind.RIDGE]).run()
    assert "no earlier run of these students" in at.info[0].value
    at.multiselect(key="sweep_models").set_value([StudentKind.B]).run()
    at.button(key="sweep_start").click().run()
    job = job_board().get(at.session_state[K.SWEEP])
    assert wait_for(lambda: job.done, 60)
    at.run()
    no_errors(at)
    assert any("The sweep finished: 2 run(s) trained" in s.value for s in at.success)
    assert not any("left" in (p.proto.text or "") for p in at.get("progress"))


def test_a_sweep_over_selections_and_seeds(prepared, vocab):
    at = make_app("sweep", prepared=prepared, vocabulary=vocab, teacher_name="hash-32")
    at.radio(key="sweep_kind").set_value("custom").run()
    at.multiselect(key="sweep_ps").set_value([0.095])
    at.number_input(key="sweep_epochs").set_value(1)
    at.multiselect(key="sweep_selections").set_value(["random", "frequency"])
    at.number_input(key="sweep_seeds").set_value(3).run()
    no_errors(at)
    assert "6 runs in this grid: 0 already stored, 6 to train" in at.info[0].value
    at.button(key="sweep_start").click().run()
    job = job_board().get(at.session_state[K.SWEEP])
    assert wait_for(lambda: job.done, 60) and job.snapshot().done_runs == 6
    at.run()
    no_errors(at)
    assert any("show seed 0" in c.value for c in at.caption)
    at.multiselect(key="sweep_selections").set_value([]).run()
    assert "at least one value for selections" in at.warning[0].value
