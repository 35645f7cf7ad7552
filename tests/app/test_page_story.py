"""The story page: Next / Back move the step, the step lives in the address, missing runs are said plainly,
and every step draws from stored runs (fake teacher: the story's runs trained on a small word list)."""

from __future__ import annotations

import shutil

import pytest
import streamlit as st

from core import story
from core.paths import runs_dir, teacher_cache_dir
from core.runs.experiment import prepare_items
from core.runs.store import list_runs, load_run
from core.teachers.teacher import CachedTeacher, HashTeacher
from pages._plain import literal
from pages._shared import K
from tests.app.apphelpers import make_app, no_errors
from tests.app.conftest import WORDS


@pytest.fixture(autouse=True)
def fake_story(monkeypatch):
    monkeypatch.setenv(story.TEACHER_ENV, "hash-32")


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory):
    """A lab home holding the story's runs, trained once for this file (~5 s each time on this machine, and ten
    tests use them): trained on the AppTests' 305 words (labelled as the default word list, as the story looks them
    up), scored, with step 4's zero-answer student and the teacher's vectors of the default words (step 1).
    Returns (home, run ids). No test reads it: each gets its own copy (`story_runs`)."""
    home = tmp_path_factory.mktemp("story-home") / "lab"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("EMBEDDING_LAB_HOME", str(home))
        env.setenv(story.TEACHER_ENV, "hash-32")
        settings = story.StorySettings.from_env()
        cache = CachedTeacher(HashTeacher(32), teacher_cache_dir())
        cache.embed(list(story.story_vocabulary().words))
        ids = story.warm_story(settings=settings, prepared=prepare_items(WORDS, "none", cache))
        story.warm_zero_answer(settings=settings)  # the warm-up's last step 'zero-answer'
    return home, ids


@pytest.fixture
def story_runs(trained_home, lab_home):
    """The story's trained home, copied into this test's own home: a test that changes a run (or its scores)
    changes its copy, and the next test starts from the home as trained."""
    home, ids = trained_home
    shutil.copytree(home, lab_home, dirs_exist_ok=True)
    return list(ids)


def page_text(at) -> str:
    return " ".join(str(m.value) for m in [*at.markdown, *at.caption, *at.info, *at.header, *at.success])


def test_next_and_back_move_the_step_in_the_address(story_runs):
    at = make_app("story")
    no_errors(at)
    assert at.header[0].value.startswith("1. What the teacher knows")
    assert at.button(key="story_back").disabled
    at.button(key="story_next").click().run()
    no_errors(at)
    assert at.query_params["step"] in ("2", ["2"]) and at.header[0].value.startswith("2.")
    at.button(key="story_next").click().run()
    assert at.header[0].value.startswith("3.")
    at.button(key="story_back").click().run()
    assert at.query_params["step"] in ("2", ["2"]) and at.header[0].value.startswith("2.")
    assert "random numbers it started with" in page_text(at)  # the one sentence saying why Model B fails


@pytest.mark.parametrize("step", [1, 2, 3, 4, 5])
def test_every_step_opens_from_its_address(story_runs, step):
    at = make_app()
    at.query_params["step"] = str(step)
    at.switch_page("pages/story.py").run()
    no_errors(at)
    assert at.header[0].value.startswith(f"{step}.")
    assert "still preparing" not in page_text(at)
    if step > 1:
        assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart") or at.dataframe


def test_step_three_from_a_link_and_a_run_link_selects_the_run(story_runs):
    at = make_app()
    at.query_params["step"] = "3"
    at.switch_page("pages/story.py").run()
    no_errors(at)
    assert at.header[0].value.startswith("3. A student that reads a cheap model")
    at.button(key="story_link_adapter_map").click().run()
    no_errors(at)
    runs = story.find_story_runs(list_runs(runs_dir()), story.StorySettings.from_env())
    assert at.session_state[K.RUN] == runs.run_id("kernel")
    assert at.title[0].value != "What this lab found, in five steps"  # switched to the Projection page


DOORS = {  # step -> (button key, student, poison): every door of every step
    2: [("story_link_b_map", "B", 0.0), ("story_link_b_eval", "B", 0.0)],
    3: [("story_link_adapter_map", "kernel", 0.0), ("story_link_adapter_analogies", "kernel", 0.0)],
    4: [("story_link_eval", "kernel", 0.0)],
    5: [("story_link_poison", "kernel", 0.1)],
}


@pytest.mark.parametrize("step,key,model,poison", [(s, *d) for s, doors in DOORS.items() for d in doors])
def test_every_door_carries_the_run_and_the_words_it_highlights(story_runs, monkeypatch, step, key, model, poison):
    """The doors' contract with the pages they open: K.RUN and ?run= name the step's run (whose settings the page
    rebuilds), and 'story_highlight' the words the step shows."""
    settings = story.StorySettings.from_env()
    run_id = story.find_story_runs(list_runs(runs_dir()), settings).run_id(model, poison=poison)
    at = make_app()
    at.query_params["step"] = str(step)
    at.switch_page("pages/story.py").run()
    no_errors(at)
    seen = {}

    def switch(page, query_params=None):  # what the door asks Streamlit for, before any page runs
        seen.update(page=page, query_params=dict(query_params or {}))
        raise RuntimeError("switched")

    monkeypatch.setattr(st, "switch_page", switch)
    at.button(key=key).click().run()
    assert seen.get("query_params") == {"run": run_id}, seen
    assert at.session_state[K.RUN] == run_id
    assert at.session_state["story_highlight"] == settings.words == ("king", "queen")


def test_step_two_says_where_closest_words_are_searched_and_steps_four_and_five_name_their_score(story_runs):
    at = make_app()
    at.query_params["step"] = "2"
    at.switch_page("pages/story.py").run()
    no_errors(at)
    table = at.table[0].value
    assert "searched among" in table.columns and "closest words" in table.columns
    scores = story.story_scores(load_run(runs_dir(), story_runs[0]), settings=story.StorySettings.from_env())
    lesson_words = [w for w, n in scores["neighbours"].items() if n["seen"]]
    if lesson_words:  # a lesson word's row is searched among the lessons, and the page says why
        assert any("lesson words" in v for v in table["searched among"])
        assert "crowd out what it learnt by heart" in page_text(at)
    assert "cosine" in page_text(at)
    at.query_params["step"] = "4"
    at.run()
    assert "The score changes here" in page_text(at) and "closest words, of 8" in page_text(at)
    at.query_params["step"] = "5"
    at.run()
    assert "closest words, of 8" in page_text(at)


def test_missing_runs_say_what_is_left_and_step_one_still_shows_the_teacher():
    CachedTeacher(HashTeacher(32), teacher_cache_dir()).embed(list(story.story_vocabulary().words))
    at = make_app("story")
    no_errors(at)
    assert at.header[0].value.startswith("1.") and "still preparing" not in page_text(at)
    for step in (2, 3, 4, 5):
        at.query_params["step"] = str(step)
        at.run()
        no_errors(at)
        assert "still preparing" in page_text(at)
    assert "Model B at p = 0.2" in page_text(at) or "the adapter" in page_text(at)


def test_without_the_teachers_answers_step_one_says_so():
    at = make_app("story")
    no_errors(at)
    assert "still preparing the teacher's answers" in page_text(at)


def test_step_four_shows_the_student_given_no_answer_beside_learning_nothing(story_runs):
    at = make_app()
    at.query_params["step"] = "4"
    at.switch_page("pages/story.py").run()
    no_errors(at)
    zero = story.zero_answer_scores(story.StorySettings.from_env())
    text = page_text(at)
    assert "with no answers at all" in text.lower()
    assert f"{zero['heldout_cosine']:.2f}" in text and f"{zero['baseline_cosine']:.2f}" in text
    beats = zero["heldout_cosine"] > zero["baseline_cosine"]
    assert ("better than a student that learns nothing" in text) == beats
    assert ("below a student that learns nothing" in text) == (not beats)
    assert "are the cheap model's own" in text  # closest words and analogies survive any turn of its space
    assert "labelled “0 answers”" in text  # the caption says how 0 stands on a log axis


def test_step_four_says_the_student_given_no_answer_is_still_being_computed(story_runs, monkeypatch):
    """The warm-up fits the zero-answer map last ('zero-answer', after the story's runs): until it has, step 4 draws
    the runs and says so in a sentence."""
    monkeypatch.setattr(story, "zero_answer_scores", lambda *args, **kwargs: None)
    at = make_app()
    at.query_params["step"] = "4"
    at.switch_page("pages/story.py").run()
    no_errors(at)
    text = page_text(at)
    assert "still being computed" in text
    assert "with no answers at all" not in text.lower()


def test_a_story_run_with_a_50000_deep_student_json_is_a_sentence_on_its_step(story_runs):
    """The story reads a run's student through the store's bounded reader: a student.json nested 50,000 deep is
    DamagedData naming the file, shown as a sentence (never a RecursionError)."""
    from core.paths import runs_dir

    folder = runs_dir() / story_runs[0]  # step 2's Model B run
    (folder / "student.json").write_text("[" * 50_000 + "]" * 50_000)
    (folder / "story-scores.json").unlink(missing_ok=True)
    at = make_app()
    at.query_params["step"] = "2"
    at.switch_page("pages/story.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(literal("student.json") in w.value and "damaged" in w.value for w in at.warning), [
        w.value for w in at.warning
    ]
