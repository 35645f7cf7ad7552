import pytest

from core import story
from pages._shared import K, job_board
from tests.app.apphelpers import make_app, no_errors, wait_for


@pytest.fixture(autouse=True)
def fake_story(monkeypatch):
    monkeypatch.setenv(story.TEACHER_ENV, "hash-32")


def test_start_page_explains_and_links():
    at = make_app()
    no_errors(at)
    text = " ".join(m.value for m in at.markdown)
    for term in ("Teacher", "Student", "p", "Poisoning", "Lemmatization", "Held-out"):
        assert term in text
    assert at.button(key="play_story").label == "Play the story"
    assert at.button(key="try_it").label == "Train my first students"


def test_play_opens_the_story_at_step_one():
    at = make_app()
    at.button(key="play_story").click().run()
    no_errors(at)
    assert at.title[0].value == "What this lab found, in five steps"
    assert at.header[0].value.startswith("1.")


def test_try_it_trains_both_students_on_the_same_split_and_opens_step_three(monkeypatch):
    # a small p keeps the two trainings quick on the fake teacher's 10,002 words
    small = story.StorySettings(teacher="hash-32", cheap="hash-16", p=0.01, epochs=3)
    monkeypatch.setattr(story.StorySettings, "from_env", classmethod(lambda cls, env=None: small))
    at = make_app()
    at.button(key="try_it").click().run()
    no_errors(at)
    jobs = [job_board().get(j) for j in at.session_state["story_jobs"]]
    assert [j.config.model.value for j in jobs] == ["B", "kernel"]  # never only the failing one
    assert {(j.config.p, j.config.seed, j.config.teacher) for j in jobs} == {(0.01, 0, "hash-32")}  # one split
    assert at.session_state[K.PREPARED].teacher_id == "hash-32"
    assert at.header[0].value.startswith("3.")  # switched to the story's side-by-side step
    assert wait_for(lambda: all(j.done for j in jobs), 120) and all(j.run_id for j in jobs)
    at.run()
    no_errors(at)
    assert at.query_params["runs"] in (",".join(j.run_id for j in jobs), [",".join(j.run_id for j in jobs)])
    assert "your own" in " ".join(s.value for s in at.success)
