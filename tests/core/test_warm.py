"""The warm-up (core/warm/): idempotent steps, a failing step reported while the others run, one
computation shared by a second caller, and the default steps on the fake teacher."""

import threading
import time

import pytest

from core import warm
from core.context import Lab
from core.warm import Step, WarmUp
from tests.waiting import DEADLINE_SECONDS, eventually


def counting_step(name, calls, seconds=0.0, total=3):
    def run(progress):
        calls.append(name)
        for i in range(1, total + 1):
            time.sleep(seconds / total)
            progress(i, total)

    return Step(name, f"the {name} thing", run)


def test_every_step_runs_once_and_a_second_run_is_instant():
    calls = []
    runner = WarmUp([counting_step("a", calls), counting_step("b", calls)])
    assert runner.status() == "Preparing: the a thing (1 of 2)…"
    states = list(runner.run_all())
    assert [s.status for s in states] == ["done", "done"] and calls == ["a", "b"]
    assert runner.status() == "Everything is ready" and runner.ready
    assert [s.status for s in runner.run_all()] == ["done", "done"]
    assert calls == ["a", "b"]  # nothing ran again


def test_progress_is_recorded_and_relayed():
    seen = []
    runner = WarmUp([counting_step("a", [], total=4)])
    state = runner.ensure("a", progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)] and (state.done, state.total) == (4, 4)
    seen.clear()
    runner.ensure("a", progress=lambda d, t: seen.append((d, t)))  # done: reported complete at once
    assert seen == [(4, 4)]


def test_a_failing_step_is_reported_with_a_sentence_and_the_others_still_run():
    calls = []

    def broken(progress):
        raise OSError("the disk is full")

    runner = WarmUp([counting_step("a", calls), Step("bad", "the broken thing", broken), counting_step("c", calls)])
    states = {s.name: s for s in runner.run_all()}
    assert states["bad"].status == "failed" and "the disk is full" in states["bad"].error
    assert states["c"].status == "done" and calls == ["a", "c"]
    assert runner.ready and "the broken thing" in runner.status() and "failed" in runner.status()


def test_a_second_caller_waits_for_the_running_step_instead_of_computing_it_again():
    calls, gate = [], threading.Event()

    def slow(progress):
        calls.append("slow")
        progress(1, 6)
        assert gate.wait(DEADLINE_SECONDS)  # held until the test has seen it running
        for i in range(2, 7):
            progress(i, 6)

    runner = WarmUp([Step("slow", "the slow thing", slow)])
    thread = runner.start_background(low_priority=False)
    eventually(lambda: runner.states["slow"].status == "running", "the background step to start")
    assert "Waiting for it" in runner.waiting_for("slow")
    seen = []
    threading.Timer(0.2, gate.set).start()  # the step goes on while the second caller waits for it
    state = runner.ensure("slow", progress=lambda d, t: seen.append(d), poll=0.05)
    thread.join(DEADLINE_SECONDS)
    assert state.status == "done" and calls == ["slow"]  # computed once
    assert seen and seen[-1] <= 6 and runner.waiting_for("slow") is None


def test_status_counts_the_running_step():
    gate = threading.Event()

    def held(progress):
        progress(1, 4)
        assert gate.wait(DEADLINE_SECONDS)

    runner = WarmUp([counting_step("a", []), Step("b", "MPNet vectors of 10,002 words", held)])
    thread = runner.start_background(low_priority=False)
    eventually(lambda: runner.states["b"].done == 1, "the second step's first progress")
    assert runner.status() == "Preparing: MPNet vectors of 10,002 words (2 of 2, 25%)…"
    gate.set()
    thread.join(DEADLINE_SECONDS)
    assert runner.status() == "Everything is ready"


def test_stop_starts_no_further_step_and_waits_for_the_running_one():
    calls, gate = [], threading.Event()

    def held(progress):
        calls.append("held")
        progress(1, 2)
        assert gate.wait(DEADLINE_SECONDS)

    runner = WarmUp([Step("held", "the held thing", held), counting_step("after", calls)])
    thread = runner.start_background(low_priority=False)
    eventually(lambda: runner.states["held"].done == 1, "the first step to start")
    assert runner.stop() is False  # asked, not waited for: the step is still running
    gate.set()
    assert runner.stop(DEADLINE_SECONDS) and not thread.is_alive()
    assert calls == ["held"] and runner.states["after"].status == "waiting"  # the next step never started


def test_register_adds_a_step_after_the_default_ones(monkeypatch):
    monkeypatch.setattr(warm.steps, "_registered", [])
    monkeypatch.setattr(warm.steps, "default_items", lambda: ("a", "b"))
    monkeypatch.setattr(warm.steps, "default_texts", lambda: ("one text",))
    warm.register(Step("story-runs", "the story's runs", lambda progress: None))
    warm.register(Step("story-runs", "the story's runs, again", lambda progress: None))
    names = [s.name for s in warm.default_steps()]
    assert names[-1] == "story-runs" and names.count("story-runs") == 1 and "mpnet-words" in names


def test_the_default_steps_fill_the_caches_the_pages_read(tmp_path, monkeypatch):
    """On the fake teacher: the word and sentence steps write the very caches `cached_vectors` and
    `cached_text_features` read, and a second runner finds them done without loading a model."""
    from core.sentences.features import cached_text_features
    from core.teachers.teacher import HashTeacher, cached_vectors, layer_features_id, teacher_id_for

    monkeypatch.setenv("EMBEDDING_LAB_HOME", str(tmp_path))
    words, texts = tuple(f"w{i}" for i in range(150)), ("a first text", "a second one", "and a third")
    monkeypatch.setattr(warm.steps, "default_items", lambda: words)
    monkeypatch.setattr(warm.steps, "default_texts", lambda: texts)
    loads = []

    def fake_model(name):
        loads.append(name)
        teacher = HashTeacher(8 if name == "minilm" else 12)
        teacher.id = teacher_id_for(name)  # the bundled model's cache name, so the pages' lookups find it
        return teacher

    lab = Lab.from_environment(load_model=fake_model)
    # static: test_static; story-pages (it compiles UMAP, ~40 s): test_warm_story_pages
    quick = [s for s in warm.default_steps(lab) if s.name not in ("kernels", "umap", "static", "story-pages")]
    states = list(WarmUp(quick).run_all())
    assert all(s.status == "done" for s in states), [s.error for s in states]
    root = tmp_path / "cache" / "teachers"
    assert cached_vectors(root, teacher_id_for("mpnet"), words).shape == (150, 12)
    assert cached_vectors(root, layer_features_id(teacher_id_for("minilm")), words).shape == (150, 8)
    assert cached_vectors(root, teacher_id_for("mpnet"), texts).shape == (3, 12)
    features = cached_text_features(
        lambda: pytest.fail("cached: no model load"), teacher_id_for("minilm"), texts, tmp_path / "cache"
    )
    assert features.tokens.shape[0] == 3
    loads.clear()
    again = list(WarmUp(quick).run_all())
    assert all(s.status == "done" for s in again) and loads == []  # instant: nothing loaded


def test_cached_text_features_read_back_the_same_numbers_every_time(tmp_path):
    from core.sentences.features import cached_text_features, text_features
    from core.teachers.teacher import HashTeacher

    texts = ["the cat sat", "a dog", "one two three four"]
    first = cached_text_features(HashTeacher(6), "hash-6", texts, tmp_path)
    again = cached_text_features(lambda: pytest.fail("no model on a hit"), "hash-6", texts, tmp_path)
    fresh = text_features(HashTeacher(6), texts)
    assert (first.mask == fresh.mask).all() and (again.tokens == first.tokens).all()
    assert (first.tokens - fresh.tokens * fresh.mask.unsqueeze(-1)).abs().max() < 1e-2  # float16 on disk
    assert (again.pooled - fresh.pooled).abs().max() < 1e-2
