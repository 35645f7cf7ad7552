from tests.app.apphelpers import make_app, no_errors, wait_for

from pages._shared import K, job_board


def test_start_page_explains_and_links():
    at = make_app()
    no_errors(at)
    text = " ".join(m.value for m in at.markdown)
    for term in ("Teacher", "Student", "p", "Poisoning", "Lemmatization", "Held-out"):
        assert term in text
    assert at.button(key="try_it").label == "Train my first student"


def test_try_it_prepares_data_and_starts_training(monkeypatch):
    monkeypatch.setenv("EMBEDDING_LAB_TRY_IT_TEACHER", "hash-32")
    at = make_app()
    at.button(key="try_it").click().run()
    no_errors(at)
    job = job_board().get(at.session_state[K.JOB])
    assert job is not None and job.config.p == 0.095 and job.config.model.value == "B"
    assert at.session_state[K.PREPARED].teacher_id == "hash-32"
    assert wait_for(lambda: job.done, 60) and job.run_id
    assert at.title[0].value == "Train a student"  # switched to the Train page
