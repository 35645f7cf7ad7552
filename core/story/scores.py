"""Each step's numbers, computed once per run and kept in its folder: the teacher's own closest words (step 1), and a
run summed up by its story scores (`run_scores`: cosine on taught and new words, closest words shared, the
learns-nothing baseline; `story_scores` keeps them in `story-scores.json`; `StoryScoring` shares the reads)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

from core.evaluation.evaluate import neighbour_overlap, overlap_sample, top_neighbours
from core.evaluation.neighbours import nearest
from core.paths import teacher_cache_dir
from core.story.settings import SCORES_VERSION, StorySettings, story_vocabulary
from core.teachers.teacher import cached_vectors, teacher_id_for
from core.vectors import average_answer, unit_rows
from core.words.offensive import offensive_indices


def teacher_vectors(settings: StorySettings, cache_root: Path | None = None) -> tuple[tuple[str, ...], np.ndarray]:
    """The story's words and the teacher's vectors, read from its cache (never computed here: a visitor's
    click must not start a 40-second model run). Raises `core.teachers.teacher.TeacherUnavailable` when not cached."""
    items = tuple(story_vocabulary().words)
    return items, cached_vectors(Path(cache_root or teacher_cache_dir()), teacher_id_for(settings.teacher), items)


def teacher_neighbours_frame(
    items: Sequence[str], teacher: np.ndarray, words: Sequence[str], k: int = 8, polite: bool = True
) -> pl.DataFrame:
    """Step 1: each word's k nearest words under the teacher (`polite`: offensive words left out,
    `core.words.offensive`). Columns word, rank, neighbour, cosine.

    >>> m = np.array([[1, 0], [0.9, 0.1], [0.8, 0.2], [0, 1]], dtype=np.float32)
    >>> teacher_neighbours_frame(["a", "shit", "b", "c"], m, ["a"], k=1)["neighbour"].to_list()
    ['b']
    """
    unit = unit_rows(teacher)
    skip = offensive_indices(items) if polite else set()
    rows = [
        {"word": w, "rank": r, "neighbour": n, "cosine": round(c, 3)}
        for w in words
        if w in set(items)
        for r, (n, c) in enumerate(nearest(unit, items, w, k, skip=skip), start=1)
    ]
    return pl.DataFrame(rows, schema={"word": pl.Utf8, "rank": pl.Int64, "neighbour": pl.Utf8, "cosine": pl.Float64})


# ---- steps 2 to 5: each run summed up by its story scores -------------------------------------------


def run_scores(
    vectors,
    words: Sequence[str] = StorySettings.words,
    k: int = 8,
    scoring: StoryScoring | None = None,
    polite: bool = True,
) -> dict:
    """One run's story scores, from its teacher and student vectors (`core.runs.evaluated.RunVectors`):

    - training_cosine / heldout_cosine: mean cosine to the teacher on the words it was told about / never saw;
    - neighbours_shared: how many of a new word's k teacher neighbours the student shares (mean over a fixed
      sample of held-out words, `core.evaluation.evaluate.overlap_sample`);
    - baseline_cosine: the learns-nothing student's held-out cosine (every new word gets the average answer);
    - neighbours: for each of `words`, its k nearest words under the teacher and the student, whether the student
      was trained on the word itself, and how many words were searched (`among`): a word in the lessons is looked up
      among the lesson words only (under both, so the two lists compare), a new word among every word; with `polite`
      (the default) offensive words are never among them (`core.words.offensive`, what a projector should not show).
      The scores above are not filtered: a score measures the student, the lists are what an audience reads.

    `scoring` (a `StoryScoring` whose vectors these are): the teacher's neighbours of the sample are looked up
    there (found once for all the runs with the same held-out words) instead of found again; the same scores.
    """
    groups = np.asarray(vectors.groups)
    heldout = groups == "held-out"
    teacher, student = unit_rows(vectors.teacher), unit_rows(vectors.student)
    cos = np.sum(teacher * student, axis=1)
    # The baseline's answer for every new word: the unit mean of the teacher's answers on the training words
    # (`core.evaluation.evaluate.average_baseline`; step 4 shows it for clean runs, where those are the answers given).
    told = np.flatnonzero(~heldout)
    average = average_answer(teacher, told) if len(told) else None
    sample = overlap_sample(heldout)
    theirs = scoring.teacher_neighbours(vectors.teacher, teacher, sample, k) if scoring is not None else None
    overlap = neighbour_overlap(student, teacher, sample, k, teacher_neighbours=theirs)
    index = vectors.index()
    # A word in the lessons is looked up among the lessons (under both): a lookup table's 80 % of never-taught words
    # keep random numbers that crowd any search among all words, which would hide what it did learn by heart.
    lesson_items = [vectors.items[i] for i in told]
    skips = {}  # offensive positions among the lessons (True) / among every word (False), found once each
    neighbours = {}
    for w in words:
        if w not in index:
            continue
        seen = bool(groups[index[w]] != "held-out")
        among = (teacher[told], student[told], lesson_items) if seen else (teacher, student, vectors.items)
        if seen not in skips:
            skips[seen] = offensive_indices(among[2]) if polite else set()
        neighbours[w] = {
            "teacher": [n for n, _ in nearest(among[0], among[2], w, k, skip=skips[seen])],
            "student": [n for n, _ in nearest(among[1], among[2], w, k, skip=skips[seen])],
            "seen": seen,
            "among": len(among[2]),  # how many words were searched: the lessons, or every word
        }

    def mean(mask: np.ndarray) -> float | None:
        return float(cos[mask].mean()) if mask.any() else None

    return {
        "version": SCORES_VERSION,
        "k": k,
        "words": list(words),
        "polite": polite,
        "heldout_words": int(heldout.sum()),
        "training_words": int(len(told)),
        "training_cosine": mean(~heldout),
        "heldout_cosine": mean(heldout),
        "neighbours_shared": None if overlap is None else overlap * k,
        "baseline_cosine": float((teacher[heldout] @ average).mean())
        if heldout.any() and average is not None
        else None,
        "neighbours": neighbours,
    }


class StoryScoring:
    """What the story scores of many stored runs share, found once (`warm_story` scores all its runs with one):
    the teacher's vectors and the cheap models' features, each read from the cache once, and the teacher's
    nearest neighbours of each overlap sample (a p's held-out words: the same for both students and for the
    poisoned runs at that p), found once. Scores made with it are the scores made without it."""

    def __init__(self, cache_root: Path | None = None):
        self.cache_root = Path(cache_root or teacher_cache_dir())
        self._vectors: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}  # (cache id, items) -> cached vectors
        self._neighbours: dict[tuple[int, bytes, int], np.ndarray] = {}  # (teacher, sample, k) -> its neighbours

    def cached(self, cache_id: str, items: tuple[str, ...]) -> np.ndarray:
        """The cache's vectors of `items` under `cache_id` (a teacher's, or a cheap model's features)."""
        key = (cache_id, items)
        if key not in self._vectors:
            self._vectors[key] = cached_vectors(self.cache_root, cache_id, items)
        return self._vectors[key]

    def run_vectors(self, stored):
        """`core.runs.evaluated.run_vectors` of a stored run, with the cache read through this object."""
        import torch

        from core.runs.evaluated import RunVectors  # lazy: loads numba, torch
        from core.runs.store import read_student  # lazy: loads numba, torch
        from core.words.students import load_student, student_vectors  # lazy: loads torch

        items = tuple(stored.items["item"].to_list())
        teacher = self.cached(stored.meta["teacher_id"], items)
        # through the store's bounded reader: a damaged student.json (too deep, too big, wrong) is DamagedData
        config = read_student(stored.folder, stored.run_id, len(items))
        if config.kind.needs_cheap:  # the features read once for every run (the store's own reader would re-read)
            features = self.cached(config.cheap, items)
            model = load_student(stored.folder, "cpu", items=items, features=features)
        else:
            model = stored.student("cpu", self.cache_root)
        with torch.no_grad():
            student = student_vectors(model, "cpu").cpu().numpy()
        split, poisoned = stored.items["split"].to_list(), stored.items["poisoned"].to_list()
        groups = tuple("poisoned" if (s == "training" and p) else s for s, p in zip(split, poisoned))
        return RunVectors(items, teacher, student, groups)

    def teacher_neighbours(
        self, vectors: np.ndarray, unit: np.ndarray, sample: np.ndarray, k: int
    ) -> np.ndarray | None:
        """The k nearest neighbours of each sample word under the teacher (`unit`: `vectors`' unit rows), found once
        per sample; None for vectors this object did not read (nothing to share)."""
        if not any(v is vectors for v in self._vectors.values()):
            return None
        key = (id(vectors), np.asarray(sample, dtype=np.int64).tobytes(), k)
        if key not in self._neighbours:
            self._neighbours[key] = top_neighbours(unit, sample, k)
        return self._neighbours[key]


def story_scores(
    stored, cache_root: Path | None = None, settings: StorySettings | None = None, scoring: StoryScoring | None = None
) -> dict:
    """`run_scores` of a stored run, kept in its folder (`story-scores.json`) after the first time, so a
    step reads a small file instead of loading a student and the teacher's vectors. `scoring`: shared by the
    runs scored one after another (`warm_story`); None: one of its own."""
    words, k, polite = (
        (settings.words, settings.k, settings.polite)
        if settings
        else (StorySettings.words, StorySettings.k, StorySettings.polite)
    )
    path = Path(stored.folder) / "story-scores.json"
    try:
        cached = json.loads(path.read_text())
        if (cached.get("version"), cached.get("k"), cached.get("words"), cached.get("polite")) == (
            SCORES_VERSION,
            k,
            list(words),
            polite,
        ):
            return cached
    except (OSError, ValueError, AttributeError):  # AttributeError: a file that holds JSON but not an object
        pass
    scoring = scoring or StoryScoring(cache_root)
    scores = run_scores(scoring.run_vectors(stored), words, k, scoring, polite)
    if stored.meta.get("status", "finished") != "finished":
        return scores  # a run still training changes: keep nothing
    tmp = path.with_name(f".story-scores.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(scores))
        os.replace(tmp, path)  # atomic: a reader never sees half a file
    except OSError:  # a read-only store: the scores are still returned
        pass
    return scores
