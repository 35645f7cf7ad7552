"""The warm-up's 'story-pages' step (core/warm/): what the pages the story's doors open show for the story's runs is
computed once and kept where those pages look — every run's held-out evaluation, the pair's analogy answers and the
pair's map of the story's words (PCA and UMAP, under the run's own key) — and a second pass computes nothing."""

from __future__ import annotations

import numpy as np
import pytest

from core import story, warm
from core.config import StudentKind
from core.evaluation import evaluate as evaluation
from core.evaluation import projection
from core.evaluation.projection import MAP_SIZE, Method, ProjectionCache, map_input
from core.paths import cache_dir, runs_dir, teacher_cache_dir
from core.runs import evaluated
from core.runs.evaluated import read_stored_evaluation, run_vectors
from core.runs.experiment import prepare_items
from core.runs.store import list_runs, load_run
from core.teachers.teacher import CachedTeacher, HashTeacher

WORDS = ["king", "queen", "man", "woman", "paris", "france", "berlin", "germany", "happy", "river"] + [
    f"word{i}" for i in range(290)
]


@pytest.fixture
def settings() -> story.StorySettings:
    return story.StorySettings(teacher="hash-32", cheap="hash-16", vocabulary="test-300")


@pytest.fixture
def fast_umap(monkeypatch):
    """UMAP's first call compiles for ~40 s: the step's bookkeeping is tested with a stand-in of the same shape."""
    calls = []

    def fake_umap(x, seed=0, **_):
        calls.append(x.shape)
        return projection.pca_2d(x)[:, ::-1].copy()

    monkeypatch.setattr(projection, "umap_2d", fake_umap)
    return calls


def test_story_pages_are_kept_where_the_pages_look_and_a_second_pass_computes_nothing(settings, fast_umap, monkeypatch):
    prepared = prepare_items(WORDS, "none", CachedTeacher(HashTeacher(32), teacher_cache_dir()))
    ids = story.warm_story(settings=settings, prepared=prepared)
    assert not any(read_stored_evaluation(load_run(runs_dir(), r).folder) for r in ids)  # the story step keeps none

    looked_at = warm.warm_story_pages(settings)
    assert sorted(looked_at) == sorted(ids)
    assert all(read_stored_evaluation(load_run(runs_dir(), r).folder) is not None for r in ids)  # Evaluate, Poisoning
    runs = story.find_story_runs(list_runs(runs_dir()), settings)
    cache = ProjectionCache(cache_dir() / "projections")
    for kind in (
        StudentKind.B,
        StudentKind.KERNEL,
    ):  # the doors' runs: their map of king / queen, as the page builds it
        run_id = runs.run_id(kind)
        stored = load_run(runs_dir(), run_id)
        vectors = run_vectors(stored, teacher_cache_dir())
        idx, x = map_input(vectors.teacher, vectors.student, vectors.index(), ("king", "queen"), MAP_SIZE)
        stamp = warm.run_stamp(run_id)
        for method in Method:
            coords = cache.get(ProjectionCache.run_key(run_id, stamp, idx, method))
            assert coords is not None and coords.shape == (x.shape[0], 2)
        assert np.allclose(
            cache.get(ProjectionCache.run_key(run_id, stamp, idx, Method.PCA)), projection.pca_2d(x), atol=1e-4
        )
        assert (stored.folder / evaluation.ANSWERS_FILE).exists()  # Analogies: the benchmark's answers
    assert len(fast_umap) == 2  # one UMAP per door's run

    def computes(*_, **__):
        raise AssertionError("the second pass must read what the first kept")

    monkeypatch.setattr(evaluated, "evaluate_run", computes)
    monkeypatch.setattr(evaluation, "analogy_answers", computes)
    monkeypatch.setattr(projection, "pca_2d", computes)
    assert sorted(warm.warm_story_pages(settings)) == sorted(ids)
    assert len(fast_umap) == 2


def test_without_story_runs_the_step_does_nothing(settings):
    done = []
    assert warm.warm_story_pages(settings, progress=lambda d, t: done.append((d, t))) == []
    assert done == [(0, 0)]


def test_kept_analogy_answers_are_read_back_and_a_damaged_file_is_computed_again(tmp_path):
    items = ["a", "b", "c", "d"]
    v = np.array([[1, 0], [0, 1], [1, 1], [2, 1]], dtype=np.float32)
    questions = [evaluation.Analogy("s", "a", "b", "c", "d")]
    allowed = np.ones(4, dtype=bool)
    first = evaluation.kept_analogy_answers(tmp_path, v, v, items, questions, allowed)
    assert first["expected"] == ["d"] and evaluation.read_analogy_answers(tmp_path, 4) == first
    assert evaluation.read_analogy_answers(tmp_path, 5) is None  # made for another word list
    (tmp_path / evaluation.ANSWERS_FILE).write_text('{"version": 1, "items": 4, "answers": {"section": [1]}}')
    assert evaluation.read_analogy_answers(tmp_path, 4) is None
    assert evaluation.kept_analogy_answers(tmp_path, v, v, items, questions, allowed) == first
    assert evaluation.kept_analogy_answers(tmp_path / "gone", v, v, items, questions, allowed, keep=True) == first
