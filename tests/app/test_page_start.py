import threading

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
    assert len({j.group for j in jobs}) == 1  # submitted together: one training, both at once
    assert {(j.config.p, j.config.seed, j.config.teacher) for j in jobs} == {(0.01, 0, "hash-32")}  # one split
    assert at.session_state[K.PREPARED].teacher_id == "hash-32"
    assert at.header[0].value.startswith("3.")  # switched to the story's side-by-side step
    assert wait_for(lambda: all(j.done for j in jobs), 120) and all(j.run_id for j in jobs)
    at.run()
    no_errors(at)
    assert at.query_params["runs"] in (",".join(j.run_id for j in jobs), [",".join(j.run_id for j in jobs)])
    assert "your own" in " ".join(s.value for s in at.success)


def small_story(monkeypatch) -> story.StorySettings:
    small = story.StorySettings(teacher="hash-32", cheap="hash-16", p=0.01, epochs=3, ps=(0.01, 0.03))
    monkeypatch.setattr(story.StorySettings, "from_env", classmethod(lambda cls, env=None: small))
    return small


def test_try_it_shows_the_pair_stored_at_setup_at_once_and_says_so(monkeypatch, prepared):
    """The same settings as the story's pair (trained by the warm-up): nothing trains, step 3 opens on the stored
    pair and says where it comes from."""
    small = small_story(monkeypatch)
    ids = story.warm_story(settings=small, prepared=prepared)
    at = make_app()
    at.button(key="try_it").click().run()
    no_errors(at)
    assert job_board().active() == []  # nothing started
    assert at.header[0].value.startswith("3.")
    assert at.query_params["runs"] in (",".join(ids[:2]), [",".join(ids[:2])])
    shown = " ".join(s.value for s in at.success)
    assert "The same pair was trained when the lab was set up — here it is." in shown
    assert "Change p or the seed to train a new one." in shown
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")


def test_try_it_with_another_seed_trains_both_and_shows_no_stored_chart_meanwhile(monkeypatch, prepared):
    small = small_story(monkeypatch)
    story.warm_story(settings=small, prepared=prepared)  # the story's pair is stored (seed 0)
    at = make_app()
    gate = threading.Event()  # the trainings wait here until the page has been looked at while they train
    board = job_board()

    class Gated(type(board.executor)):
        def run(self, *args, **kwargs):
            gate.wait(120)
            yield from super().run(*args, **kwargs)

    monkeypatch.setattr(board, "executor", Gated())
    at.number_input(key="try_seed").set_value(1).run()
    at.button(key="try_it").click().run()
    no_errors(at)
    jobs = [job_board().get(j) for j in at.session_state["story_jobs"]]
    assert [(j.config.model.value, j.config.seed) for j in jobs] == [("B", 1), ("kernel", 1)]
    assert wait_for(lambda: all(j.state.value == "running" for j in jobs), 120)  # both at once
    at.run()
    no_errors(at)
    assert not (at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")), "a stored chart passed for theirs"
    assert "as soon as both are trained" in " ".join(i.value for i in at.info)
    gate.set()
    assert wait_for(lambda: all(j.done for j in jobs), 120) and all(j.run_id for j in jobs)
    at.run()
    no_errors(at)
    assert at.query_params["runs"] in (",".join(j.run_id for j in jobs), [",".join(j.run_id for j in jobs)])
    assert "your own" in " ".join(s.value for s in at.success)


def test_a_classmates_identical_click_joins_the_training_in_flight_instead_of_training_again(monkeypatch, prepared):
    """Issue 30: on a host, Ada's Try it trains the pair (into the class gallery); Bob's identical click while it
    trains watches that training (nothing new on the board, no slot of his used) and ends on the same two runs;
    Bob cannot stop Ada's training; Cy, on another seed, trains his own."""
    from core.paths import runs_dir
    from core.runs.store import list_runs

    monkeypatch.setenv("EMBEDDING_LAB_HOSTED", "1")
    small = small_story(monkeypatch)
    story.warm_story(settings=small, prepared=prepared)  # seed 0's pair is the lab's: seed 1 must train
    board = job_board()
    gate = threading.Event()

    class Gated(type(board.executor)):
        def run(self, *args, **kwargs):
            gate.wait(120)
            yield from super().run(*args, **kwargs)

    monkeypatch.setattr(board, "executor", Gated())
    ada, bob = make_app(), make_app()
    for at in (ada, bob):
        at.number_input(key="try_seed").set_value(1).run()
    ada.button(key="try_it").click().run()
    no_errors(ada)
    first = list(ada.session_state["story_jobs"])
    assert len(first) == 2 and len(board.active()) == 2
    bob.button(key="try_it").click().run()
    no_errors(bob)
    assert list(bob.session_state["story_jobs"]) == first and len(board.active()) == 2  # joined, not queued
    assert "is already training for a classmate" in bob.session_state["story_pair_note"]["now"]
    assert bob.session_state[K.PREPARED].teacher_id == "hash-32"  # his setup is the pair's: the next page opens on it
    bob.switch_page("pages/train.py").run()
    no_errors(bob)
    assert not [b for b in bob.button if b.key == "stop"]  # Ada's training: not Bob's to stop
    gate.set()
    jobs = [board.get(j) for j in first]
    assert wait_for(lambda: all(j.done for j in jobs), 120) and all(j.run_id for j in jobs)
    frame = list_runs(runs_dir()).filter(run_id=[j.run_id for j in jobs][0])
    assert frame["shared"].to_list() == [True] and frame["owner"].to_list() == [ada.session_state[K.OWNER]]
    cy = make_app()
    cy.number_input(key="try_seed").set_value(2).run()
    cy.button(key="try_it").click().run()
    no_errors(cy)
    assert not set(cy.session_state["story_jobs"]) & set(first)  # other words: his own training
