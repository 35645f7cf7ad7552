"""The zero-answer map (core.words.zero_answer): mini-vec2vec's linear recipe finds a rotation it was never shown.

The fast tests build a "teacher" that is a known rotation of a "cheap model" with structure to match (a mixture of
clusters of unequal sizes and spreads: a round cloud has no structure, so no method could find its rotation), fit
the map on the cheap vectors of some words and the teacher's vectors of *other* words, shuffled, and check it on
the first words' true answers. The slow test runs the bundled models' cached vectors (issue 31, part 6).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes
from scipy.stats import ortho_group

from core.words.zero_answer import ZeroAnswerSettings, fit_zero_answer, mean_answer, procrustes

FAST = ZeroAnswerSettings(clusters=12, matchings=3, restarts=8, iterations=10, sample=500, final_clusters=30)


def clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """n points around 15 centres of unequal weight and spread, plus a shared offset (teacher vectors share a
    common direction too)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(15, dim)) * rng.uniform(0.6, 2.0, size=(15, 1))
    weights = rng.dirichlet(np.full(15, 2.0))
    labels = rng.choice(15, size=n, p=weights)
    spread = rng.uniform(0.15, 0.45, size=15)[labels, None]
    return centres[labels] + spread * rng.normal(size=(n, dim)) + 0.8


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


def test_procrustes_is_scipys_for_equal_dimensions_and_semi_orthogonal_otherwise():
    rng = np.random.default_rng(1)
    source, target = rng.normal(size=(50, 6)), rng.normal(size=(50, 6))
    assert np.allclose(procrustes(source, target), orthogonal_procrustes(source, target)[0])
    wide = procrustes(source, rng.normal(size=(50, 9)))  # 6 -> 9: orthonormal rows
    assert wide.shape == (6, 9) and np.allclose(wide @ wide.T, np.eye(6))


@pytest.mark.parametrize("teacher_dim", [12, 20])
def test_it_recovers_a_rotation_from_other_words_only(teacher_dim):
    rotation = ortho_group.rvs(teacher_dim, random_state=3)[:12]  # 12 x teacher_dim, orthonormal rows
    words = clustered(3000, 12)
    mapped, public = words[:1500], words[1500:]  # the map sees the teacher's vectors of the other half only
    truth = mapped @ rotation
    zero = fit_zero_answer(mapped, np.random.default_rng(9).permutation(public @ rotation), FAST)
    answers = zero.transform(mapped)
    learns_nothing = np.tile(mean_answer(public @ rotation), (len(mapped), 1))
    assert cosines(answers, truth).mean() > 0.95
    assert cosines(answers, truth).mean() > cosines(learns_nothing, truth).mean() + 0.2
    # The shared offset alone gives a high cosine (learning nothing: ~0.58): without it, the map is still the rotation
    # wherever the words lie — what a wrong matching of the two spaces would miss entirely.
    centred = mapped - zero.cheap_mean
    assert cosines(centred @ zero.weights, centred @ rotation).mean() > 0.95


def test_settings_are_checked_where_they_enter():
    with pytest.raises(ValueError, match="at least 2 clusters"):
        ZeroAnswerSettings(clusters=1)
    with pytest.raises(ValueError, match="smoothing"):
        ZeroAnswerSettings(smoothing=1.0)
    with pytest.raises(ValueError, match="at least 24 vectors"):
        fit_zero_answer(np.ones((10, 4)), np.ones((10, 4)), ZeroAnswerSettings(clusters=12))
    with pytest.raises(ValueError, match="finite"):
        fit_zero_answer(np.full((40, 4), np.nan), np.ones((40, 4)), ZeroAnswerSettings(clusters=12))


@pytest.mark.slow
def test_real_minilm_to_mpnet_finds_some_of_the_teachers_coordinates_but_not_enough_to_beat_learning_nothing():
    """Issue 31, part 6, on the bundled models (the story's pair: MPNet teacher, MiniLM cheap model; the 10,000
    default words, 30 % public, seed 0). Measured 2026-12-07 (bench/zero_answer.py): the map's centred answers point
    somewhat the teacher's way (centred cosine ~0.1, a random turn ~0), yet its held-out cosine (0.28) stays below the
    student that learns nothing with the same information (0.45): the story's step 4 says so with its numbers. Its
    neighbours and analogies are MiniLM's own: a random turn of the same space keeps them."""
    from core.data.corpus import default_vocabulary
    from core.paths import teacher_cache_dir
    from core.teachers.teacher import CachedTeacher, TeacherUnavailable, cached_vectors, load_teacher, teacher_id_for
    from core.words.zero_answer import public_split

    home = os.environ.get("EMBEDDING_LAB_STORY_HOME")  # a warm cache to reuse, when there is one
    cache = Path(home) / "cache" / "teachers" if home else teacher_cache_dir()
    words = list(default_vocabulary().words)

    def vectors(name):
        try:
            return cached_vectors(cache, teacher_id_for(name), words)
        except TeacherUnavailable:
            return CachedTeacher(load_teacher(name, "cpu"), cache).embed(words)

    teacher, cheap = vectors("mpnet"), vectors("minilm")
    public, mapped = public_split(len(words), 0)
    zero = fit_zero_answer(cheap[mapped], teacher[public])
    truth = teacher[mapped]
    nothing = cosines(np.tile(mean_answer(teacher[public]), (len(mapped), 1)), truth).mean()
    held_out = cosines(zero.transform(cheap[mapped]), truth).mean()
    turned = procrustes(np.eye(cheap.shape[1]), np.random.default_rng(1).normal(size=zero.weights.shape))
    centred = cheap[mapped] - zero.cheap_mean
    aligned = cosines(centred @ zero.weights, truth - zero.teacher_mean).mean()
    by_chance = cosines(centred @ turned, truth - zero.teacher_mean).mean()
    assert aligned > by_chance + 0.05, (aligned, by_chance)  # it found something of the teacher's coordinates
    assert held_out < nothing, (held_out, nothing)  # not enough: what the story's step 4 and the README say
