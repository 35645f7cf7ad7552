"""Step 4's student given no answer at all: a map from the cheap model's space into the teacher's learnt without pairs
(`core.words.zero_answer`), fitted once by the warm-up (`warm_zero_answer`) on the story's words and scored like a
run on the words whose answers it never saw; kept beside the teacher caches (`zero_answer_path`)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from core.evaluation.benchmarks import Benchmarks, BenchmarkUnavailable
from core.evaluation.evaluate import analogy_accuracy, percent_of
from core.paths import runs_dir, teacher_cache_dir
from core.story.runs import find_story_runs
from core.story.scores import StoryScoring, run_scores
from core.story.settings import StorySettings, story_vocabulary
from core.teachers.teacher import TeacherUnavailable, teacher_id_for
from core.vectors import average_answer, unit_rows

ZERO_LABEL = "No answers at all (a map learnt without pairs)"
ZERO_VERSION = 1


def zero_answer_folder(cache_root: Path | None = None) -> Path:
    """Where zero-answer scores are kept: beside the teacher caches they come from."""
    return Path(cache_root or teacher_cache_dir()).parent / "zero-answer"


def zero_answer_path(settings: StorySettings, cache_root: Path | None = None) -> Path:
    """Step 4's zero-answer scores: one file per teacher, cheap model, word list and seed."""
    name = (
        f"{teacher_id_for(settings.teacher)}--{teacher_id_for(settings.cheap)}--{settings.vocabulary}--{settings.seed}"
    )
    return zero_answer_folder(cache_root) / f"{name}.json"


def zero_answer_scores(
    settings: StorySettings,
    cache_root: Path | None = None,
    scoring: StoryScoring | None = None,
    items: Sequence[str] | None = None,
    compute: bool = False,
    load: Callable[[str], object] | None = None,
) -> dict | None:
    """Step 4's student given no teacher answer: `core.words.zero_answer`'s map from the cheap model's vectors into
    the teacher's, fitted on the teacher's vectors of a random public 30 % of the story's words given as an
    unordered set (`public_split`), and scored like a run (`run_scores`) on the other 70 %, whose answers it never
    saw: held-out cosine, closest words shared, and `baseline_cosine`, the learns-nothing student with the same
    information (the public set's unit mean). `training_words` is 0 (no answer was paid for) and `public_words` the
    size of the unordered set.

    Read from its file (`zero_answer_path`); when missing, fitted and kept only if `compute` (`warm_story`: a
    visitor's click never fits it) on `items` (default: the story's words). None when neither, or when the
    vectors are not available. `load`: how the caller loads the cheap model when its vectors are not cached (the lab's
    context: `core.context.Lab.load_model`); None: `load_teacher`."""
    path = zero_answer_path(settings, cache_root)
    try:
        kept = json.loads(path.read_text())
        if kept.get("zero_version") == ZERO_VERSION and kept.get("k") == settings.k:
            return kept
    except (OSError, ValueError):
        pass
    if not compute:
        return None
    from core.runs.evaluated import RunVectors  # lazy: loads numba, torch
    from core.words.cheap import cheap_features  # lazy: loads torch
    from core.words.zero_answer import fit_zero_answer, public_split  # lazy: loads scikit-learn, scipy

    scoring = scoring or StoryScoring(cache_root)
    items = tuple(items if items is not None else story_vocabulary().words)
    try:
        teacher = scoring.cached(teacher_id_for(settings.teacher), items)
        cheap, _, _ = cheap_features(items, settings.cheap, scoring.cache_root, kind="sentence", load=load)
    except TeacherUnavailable:
        return None
    public, mapped = public_split(len(items), settings.seed)
    zero = fit_zero_answer(cheap[mapped], teacher[public])  # the teacher's side: rows only, no words, no pairs
    groups = np.full(len(items), "public", dtype=object)
    groups[mapped] = "held-out"
    vectors = RunVectors(items, teacher, zero.transform(cheap), tuple(groups))
    scores = run_scores(vectors, settings.words, settings.k, scoring, settings.polite)
    scores.update(zero_version=ZERO_VERSION, training_words=0, public_words=int(len(public)))
    scores.update(_zero_analogies(vectors, public))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(scores))
        os.replace(tmp, path)  # atomic: a reader never sees half a file
    except OSError:  # a read-only cache: the scores are still returned
        pass
    return scores


def stored_zero_answers(teacher_id: str, vocabulary: str, cache_root: Path | None = None) -> tuple[str, list[dict]]:
    """The zero-answer scores kept for a teacher (by id) and word list, over seeds, for the quality-per-query chart:
    (the cheap model's id, its files' scores). One cheap model only — the one with the most seeds — so seeds of
    different maps are never averaged; ('', []) when none is kept."""
    folder = zero_answer_folder(cache_root)
    found: dict[str, list[dict]] = {}
    for path in sorted(folder.glob(f"{teacher_id}--*--{vocabulary}--*.json")) if folder.is_dir() else []:
        try:
            kept = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a damaged or unreadable file: that seed is left out
        cheap = path.name[len(teacher_id) + 2 :].split("--")[0]
        if isinstance(kept, dict) and kept.get("zero_version") == ZERO_VERSION:
            found.setdefault(cheap, []).append(kept)
    if not found:
        return "", []
    cheap = max(sorted(found), key=lambda c: len(found[c]))
    return cheap, found[cheap]


def _zero_analogies(vectors, public: np.ndarray) -> dict:
    """Analogies solved on the words the map answered, as % of the teacher on the same questions
    (`core.evaluation.evaluate`), by the map and by the learns-nothing student with its information (the public
    set's unit mean for every word it answers); None without the benchmark files."""
    try:
        questions = Benchmarks.bundled().analogies
    except BenchmarkUnavailable:
        return {"analogy_pct_of_teacher": None, "baseline_analogy_pct_of_teacher": None, "analogy_questions": 0}
    mask = np.asarray(vectors.groups) == "held-out"
    teacher = analogy_accuracy(vectors.teacher, vectors.items, questions, mask)
    nothing = np.array(vectors.teacher, dtype=np.float32, copy=True)
    nothing[mask] = average_answer(unit_rows(vectors.teacher), public)
    return {
        "analogy_pct_of_teacher": percent_of(
            analogy_accuracy(vectors.student, vectors.items, questions, mask).accuracy, teacher.accuracy
        ),
        "baseline_analogy_pct_of_teacher": percent_of(
            analogy_accuracy(nothing, vectors.items, questions, mask).accuracy, teacher.accuracy
        ),
        "analogy_questions": int(teacher.total),
    }


def warm_zero_answer(
    runs_root: Path | None = None,
    cache_root: Path | None = None,
    settings: StorySettings | None = None,
    progress: Callable[[int, int], None] | None = None,
    load: Callable[[str], object] | None = None,
) -> dict | None:
    """Step 4's student with no answer, fitted once and its scores kept (`zero_answer_scores`), on the very words of
    the story's runs (the warm-up step 'zero-answer', after `warm_story`'s 'story'). None when no story run is stored
    yet or the vectors are missing; too few words to find the two spaces' structure: None too (step 4 shows the runs
    alone). Idempotent: a second call reads the kept file."""
    from core.runs.store import list_runs, load_run  # lazy: loads numba, torch

    settings = settings or StorySettings.from_env()
    runs_root = Path(runs_root or runs_dir())
    cache_root = Path(cache_root or teacher_cache_dir())
    if progress:
        progress(0, 1)
    story = find_story_runs(list_runs(runs_root), settings)
    if not story.found:
        return None
    words = load_run(runs_root, next(iter(story.found.values()))).items["item"].to_list()
    try:
        scores = zero_answer_scores(settings, cache_root, None, words, compute=True, load=load)
    except ValueError:
        return None
    if progress:
        progress(1, 1)
    return scores
