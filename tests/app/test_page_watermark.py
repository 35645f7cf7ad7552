"""The Watermark lab page: its prerequisite, the grid trained in the background, the chart and the verdict."""

from core.jobs import JobState
from pages._shared import job_board
from tests.app.apphelpers import make_app, no_errors, wait_for


def test_missing_prerequisite_says_what_to_do():
    at = make_app("watermark")
    no_errors(at)
    assert "compute the teacher's embeddings" in at.info[0].value


def test_the_grid_trains_in_the_background_and_the_page_draws_its_verdict(prepared, vocab):
    at = make_app("watermark", prepared=prepared, vocabulary=vocab, teacher_name="hash-32")
    no_errors(at)
    assert any("not been trained yet" in i.value for i in at.info)
    at.multiselect(key="watermark_ps").set_value([0.3, 1.0])
    at.number_input(key="watermark_seeds").set_value(4)
    at.button(key="FormSubmitter:watermark_grid-Update the grid").click().run()
    start = at.button(key="watermark_start")
    assert "(24 students)" in start.label  # 2 p x 4 seeds x (1 control + 2 watermarks)
    start.click().run()
    job = job_board().get(at.session_state["watermark_job"])
    assert wait_for(lambda: job.done, 240), (job.state, job.phase, job.error)
    assert job.state is JobState.FINISHED, job.error
    at.run()
    no_errors(at)
    assert not [b for b in at.button if b.key == "watermark_start"]  # trained: the button is gone
    verdicts = [s.value for s in at.success] + [w.value for w in at.warning]
    assert any(v.startswith("Verdict: ") and "clean students" in v for v in verdicts), verdicts
    assert any("costs an honest user" in c.value for c in at.caption)
    assert any("grey" in c.value for c in at.caption)  # the chart's explanation
    assert len(at.dataframe[0].value) == 4  # 2 p x 2 watermarks
