"""The lab's finding as a short guided story: its settings, the stored runs behind it, each step's data.

The story (pages/story.py draws it) in five steps:
1. what the teacher knows: its nearest neighbours of a few words;
2. the paper's student (Model B, a lookup table) learns its lessons by heart and fails on new words;
3. a student that reads a cheap model (the kernel adapter) is right on words it never saw — both
   trained on the same split (same seed and p: `core.data.dataset.split_indices`);
4. how few answers are enough: held-out quality against teacher queries for both students, and beside them a
   student given no answer at all (`zero_answer_scores`: a map from the cheap model's space into the teacher's,
   learnt without pairs, `core.words.zero_answer`);
5. what poison does: both students with and without 10 % poisoned answers.

Its runs are ordinary stored runs (`core.runs.experiment.TrainingRun`): the other pages open them, and a run
already stored with the same settings is reused (`core.runs.sweep.find_stored`). They are trained once, ahead
of any visitor, by `warm_story` (the warm-up step 'story', `python -m core warm`); each run's story
scores are kept in its folder (`story-scores.json`), so opening a step reads files and computes nothing
heavy.

    settings = StorySettings.from_env()            # MPNet teacher, the adapter reads MiniLM
    configs = story_configs(settings)              # 10 TrainConfigs; the first two are the side-by-side pair
    runs = find_story_runs(list_runs(runs_dir()), settings)
    runs.missing                                   # [] once warm_story has run
    quality_frame(settings, runs, {rid: story_scores(load_run(runs_dir(), rid)) for rid in runs.found.values()})
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from core.config import LemmaMode, StudentKind, TrainConfig
from core.data.corpus import default_word_list
from core.data.lemmatize import no_lemmatization
from core.evaluation.evaluate import (
    Benchmarks,
    BenchmarkUnavailable,
    analogy_accuracy,
    neighbour_overlap,
    overlap_sample,
    percent_of,
    top_neighbours,
)
from core.evaluation.neighbours import nearest
from core.paths import runs_dir, teacher_cache_dir
from core.teachers.teacher import CachedTeacher, TeacherUnavailable, cached_vectors, load_teacher, teacher_id_for
from core.vectors import average_answer, unit_rows
from core.words.offensive import offensive_indices

TEACHER_ENV, CHEAP_ENV = "EMBEDDING_LAB_STORY_TEACHER", "EMBEDDING_LAB_STORY_CHEAP"  # tests: the instant fake teacher
MODEL_NAMES = {"mpnet": "MPNet (all-mpnet-base-v2)", "minilm": "MiniLM (all-MiniLM-L6-v2)"}
SCORES_VERSION = 3  # 2: a lesson word's closest words are searched among the lessons; 3: offensive words left out
NEW_WORDS, TRAINING_WORDS = "new words (never shown)", "training words (answers shown)"


@dataclass(frozen=True)
class StorySettings:
    """What the story trains and shows. The defaults are the honest pairing: an expensive teacher
    (MPNet, 768 numbers per word) imitated by an adapter that reads a ~6x cheaper model (MiniLM)."""

    teacher: str = "mpnet"
    cheap: str = "minilm"  # what the adapter reads; must be cheaper than the teacher for the story to be honest
    # The side-by-side pair's training fraction: 2,000 of 10,002 words. Measured with MPNet / MiniLM, seed 0:
    # at p = 0.1 the adapter shares 5 and 4 of 8 teacher neighbours of king / queen (3.8 of 8 for the average
    # new word), at p = 0.2 6 and 6 (4.0 of 8); step 4 shows every p.
    p: float = 0.2
    seed: int = 0  # one seed: the same training words for every student at one p
    # Model B's training: more than the paper's default 20 epochs at Adam's 0.001, which leave even the
    # training words at cosine ~0.48 (it has not learnt its lessons yet); 40 epochs at 0.01 reach ~0.8 on
    # them, so its failure on new words is not for lack of training. (The adapter is solved in one step.)
    epochs: int = 40
    lr: float = 0.01
    ps: tuple[float, ...] = (0.01, 0.03, 0.1, 0.2, 0.3)  # step 4: how few answers are enough
    poison: float = 0.1  # step 5: the paper's attack, 10 % of the answers replaced by random vectors
    words: tuple[str, ...] = ("king", "queen")  # whose neighbours the story shows
    more_words: tuple[str, ...] = ("happy", "river")  # step 1 only: a couple more, to show the teacher is not a trick
    k: int = 8  # neighbours per word (the Projection page's eight)
    vocabulary: str = ""  # the word list's label; '' = the default 10,002 words (`story_vocabulary`)
    # Closest-word lists leave out offensive words (`core.words.offensive`), as Projection's switch does by default:
    # the story is shown on a projector, and *man*'s closest words include profanity under both bundled teachers.
    polite: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.p <= 1 or any(not 0 < p <= 1 for p in self.ps):
            raise ValueError("The story's p values must be between 0 and 1.")
        if not 0 <= self.poison < 1:
            raise ValueError("The story's poison rate must be at least 0 and below 1.")
        if self.k < 1:
            raise ValueError("The story needs at least one neighbour per word.")
        if not self.vocabulary:
            object.__setattr__(self, "vocabulary", story_vocabulary_label())

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StorySettings:
        """The defaults, with the teacher / cheap model from $EMBEDDING_LAB_STORY_TEACHER / _CHEAP (tests use 'hash-32')."""
        env = os.environ if env is None else env
        teacher = env.get(TEACHER_ENV, "").strip() or cls.teacher
        cheap = env.get(CHEAP_ENV, "").strip() or ("hash-16" if teacher.startswith("hash") else cls.cheap)
        return cls(teacher=teacher, cheap=cheap)

    @property
    def teacher_label(self) -> str:
        return MODEL_NAMES.get(self.teacher, self.teacher)

    @property
    def cheap_label(self) -> str:
        return MODEL_NAMES.get(self.cheap, self.cheap)


# ---- the word list ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def story_vocabulary():
    """The Data page's default word list (pages/_shared.py `default_words`): 10,000 common words plus the
    paper's pair. Same words, same label, so the story's runs and a visitor's Try-it runs match."""
    return default_word_list()


def story_vocabulary_label() -> str:
    return story_vocabulary().label


# ---- the runs ---------------------------------------------------------------------------------


def _config(settings: StorySettings, model: StudentKind, p: float, poison: float = 0.0) -> TrainConfig:
    return TrainConfig(
        teacher=settings.teacher,
        model=model,
        p=p,
        epochs=settings.epochs,
        poison=poison,
        seed=settings.seed,
        lr=settings.lr,
        vocabulary=settings.vocabulary,
        cheap=settings.cheap if model.needs_cheap else "",
    )


def pair_configs(settings: StorySettings) -> tuple[TrainConfig, TrainConfig]:
    """The side-by-side pair (Model B, the kernel adapter): same teacher, p and seed, so the same training words."""
    return _config(settings, StudentKind.B, settings.p), _config(settings, StudentKind.KERNEL, settings.p)


def story_configs(settings: StorySettings) -> list[TrainConfig]:
    """Every run the story shows: the pair first, then both students at the other p, then both poisoned."""
    out = list(pair_configs(settings))
    for p in settings.ps:
        for model in (StudentKind.B, StudentKind.KERNEL):
            config = _config(settings, model, p)
            if config not in out:
                out.append(config)
    if settings.poison:
        out += [_config(settings, model, settings.p, settings.poison) for model in (StudentKind.B, StudentKind.KERNEL)]
    return out


def describe(config: TrainConfig) -> str:
    """'Model B at p = 0.1' / 'the adapter at p = 0.1 with 10 % poison': for sentences about missing runs."""
    who = (
        "Model B"
        if config.model is StudentKind.B
        else "the adapter"
        if config.model is StudentKind.KERNEL
        else config.model.label
    )
    poison = f" with {config.poison:.0%} poison" if config.poison else ""
    return f"{who} at p = {config.p:g}{poison}"


@dataclass(frozen=True)
class StoryRuns:
    """Which of the story's runs are stored (config -> run id) and which are still missing."""

    settings: StorySettings
    found: dict = field(default_factory=dict)  # TrainConfig -> run id
    missing: tuple = ()  # TrainConfigs

    def run_id(self, model: StudentKind | str, p: float | None = None, poison: float = 0.0) -> str | None:
        model = StudentKind.parse(model)
        p = self.settings.p if p is None else p
        for config, run_id in self.found.items():
            if config.model is model and abs(config.p - p) < 1e-12 and abs(config.poison - poison) < 1e-12:
                return run_id
        return None

    def missing_for(self, step: int) -> list[TrainConfig]:
        """The missing runs that step `step` (1-5) needs."""
        return [c for c in self.missing if c in set(step_configs(self.settings, step))]

    def waiting_sentence(self, step: int) -> str | None:
        """None when step `step` can be shown; else one plain sentence saying what is still being prepared."""
        missing = self.missing_for(step)
        if not missing:
            return None
        names = ", ".join(describe(c) for c in missing[:4]) + (
            f" and {len(missing) - 4} more" if len(missing) > 4 else ""
        )
        total = len(step_configs(self.settings, step))
        return (
            f"The lab is still preparing this step: {len(missing)} of its {total} trained students are not ready yet "
            f"({names}). They are trained once, in the background, for everyone; come back in a minute."
        )


def step_configs(settings: StorySettings, step: int) -> list[TrainConfig]:
    """The runs step `step` needs: none for the teacher, Model B for step 2, the pair for step 3, ..."""
    configs = story_configs(settings)
    pair = list(pair_configs(settings))
    return {
        1: [],
        2: pair[:1],
        3: pair,
        4: [c for c in configs if not c.poison],
        5: pair + [c for c in configs if c.poison],
    }.get(step, [])


def find_story_runs(runs: pl.DataFrame, settings: StorySettings) -> StoryRuns:
    """The stored run for each of the story's configs (the newest finished one with exactly those settings)."""
    from core.runs.sweep import find_stored  # lazy: loads numba, torch

    teacher_id = teacher_id_for(settings.teacher)
    found, missing = {}, []
    for config in story_configs(settings):
        run_id = find_stored(runs, config, teacher_id)
        if run_id:
            found[config] = run_id
        else:
            missing.append(config)
    return StoryRuns(settings, found, tuple(missing))


def warm_story(
    runs_root: Path | None = None,
    cache_root: Path | None = None,
    settings: StorySettings | None = None,
    progress: Callable[[int, int], None] | None = None,
    prepared=None,
    items: Sequence[str] | None = None,
    load: Callable[[str], object] | None = None,
) -> list[str]:
    """Train the story's runs that are not stored yet, and keep every run's story scores; returns the run ids.

    The missing runs train in the sweep's batches (`core.runs.sweep.training_batches`, `core.runs.executors.train_batch`):
    Model B's runs share their words, epochs and learning rate, so they step together as one group
    (`core.kernels.grouped`: each run's curves as if it trained alone); each adapter is one closed-form fit.
    `progress(done, total)` is called once a batch is stored. Then every run is scored with one `StoryScoring`
    (the teacher's vectors read once, its neighbours of each p's held-out sample found once).

    Step 4's student given no answer is not fitted here: `warm_zero_answer` (the warm-up step 'zero-answer', the
    last one) does it, so the story's runs are ready first.

    Idempotent: a second call finds every run and its scores and returns in well under a second. The runs are
    put in the class gallery (`shared`), so every person on a hosted lab can open them on the other pages.
    `prepared`: the teacher's vectors of the story's words (`core.runs.experiment.PreparedData`); None: built only
    when a run is missing, by `prepare_story_data(settings, cache_root, items, load)`.
    """
    from core.runs.executors import train_batch  # lazy: loads numba, torch
    from core.runs.store import list_runs, load_run  # lazy: loads numba, torch
    from core.runs.sweep import training_batches  # lazy: loads numba, torch

    settings = settings or StorySettings.from_env()
    runs_root = Path(runs_root or runs_dir())
    cache_root = Path(cache_root or teacher_cache_dir())
    story = find_story_runs(list_runs(runs_root), settings)
    total, done = len(story_configs(settings)), len(story.found)
    if progress:
        progress(done, total)
    ids = dict(story.found)
    if story.missing:
        prepared = prepared or prepare_story_data(settings, cache_root, items, load)
        for batch in training_batches(list(story.missing), {c.lemmatize: prepared for c in story.missing}):
            for run in train_batch(
                batch, prepared, runs_root, device="cpu", extra={"shared": True, "story": True}, cache_root=cache_root
            ):
                ids[run.config] = run.run_id
            done += len(batch)
            if progress:
                progress(done, total)
    scoring = StoryScoring(cache_root)
    for run_id in ids.values():
        story_scores(load_run(runs_root, run_id), cache_root, settings, scoring)
    return [ids[c] for c in story_configs(settings)]


def warm_zero_answer(
    runs_root: Path | None = None,
    cache_root: Path | None = None,
    settings: StorySettings | None = None,
    progress: Callable[[int, int], None] | None = None,
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
        scores = zero_answer_scores(settings, cache_root, None, words, compute=True)
    except ValueError:
        return None
    if progress:
        progress(1, 1)
    return scores


def prepare_story_data(
    settings: StorySettings,
    cache_root: Path | None = None,
    items: Sequence[str] | None = None,
    load: Callable[[str], object] | None = None,
):
    """The story's words (default: `story_vocabulary`) and their teacher vectors, from the teacher's cache; when
    some are missing, the teacher is loaded (`load`, default `core.teachers.teacher.load_teacher`) and they are cached."""
    from core.runs.experiment import PreparedData  # lazy: loads numba, torch

    cache_root = Path(cache_root or teacher_cache_dir())
    lemma = no_lemmatization(list(items) if items is not None else story_vocabulary().words)
    try:  # every vector cached (the warm-up computes them first): no model to load
        return PreparedData(
            lemma,
            cached_vectors(cache_root, teacher_id_for(settings.teacher), lemma.lemmas),
            teacher_id_for(settings.teacher),
            LemmaMode.NONE,
        )
    except TeacherUnavailable:
        teacher = CachedTeacher((load or load_teacher)(settings.teacher), cache_root)
        return PreparedData(lemma, teacher.embed(list(lemma.lemmas)), teacher.id, LemmaMode.NONE)


# ---- step 1: the teacher -----------------------------------------------------------------------


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
    """One run's story scores, from its teacher and student vectors (`core.runs.experiment.RunVectors`):

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
        """`core.runs.experiment.run_vectors` of a stored run, with the cache read through this object."""
        import torch

        from core.runs.experiment import RunVectors  # lazy: loads numba, torch
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


# ---- step 4's student given no answer ---------------------------------------------------------


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
) -> dict | None:
    """Step 4's student given no teacher answer: `core.words.zero_answer`'s map from the cheap model's vectors into
    the teacher's, fitted on the teacher's vectors of a random public 30 % of the story's words given as an
    unordered set (`public_split`), and scored like a run (`run_scores`) on the other 70 %, whose answers it never
    saw: held-out cosine, closest words shared, and `baseline_cosine`, the learns-nothing student with the same
    information (the public set's unit mean). `training_words` is 0 (no answer was paid for) and `public_words` the
    size of the unordered set.

    Read from its file (`zero_answer_path`); when missing, fitted and kept only if `compute` (`warm_story`: a
    visitor's click never fits it) on `items` (default: the story's words). None when neither, or when the
    vectors are not available."""
    path = zero_answer_path(settings, cache_root)
    try:
        kept = json.loads(path.read_text())
        if kept.get("zero_version") == ZERO_VERSION and kept.get("k") == settings.k:
            return kept
    except (OSError, ValueError):
        pass
    if not compute:
        return None
    from core.runs.experiment import RunVectors  # lazy: loads numba, torch
    from core.words.generalizing import cheap_features  # lazy: loads torch
    from core.words.zero_answer import fit_zero_answer, public_split  # lazy: loads scikit-learn, scipy

    scoring = scoring or StoryScoring(cache_root)
    items = tuple(items if items is not None else story_vocabulary().words)
    try:
        teacher = scoring.cached(teacher_id_for(settings.teacher), items)
        cheap, _, _ = cheap_features(items, settings.cheap, scoring.cache_root, kind="sentence")
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


# step 4's rows (`quality_frame`, `zero_answer_frame`): one schema for both
QUALITY_SCHEMA = {
    "student": pl.Utf8,
    "p": pl.Float64,
    "queries": pl.Int64,
    "heldout_cosine": pl.Float64,
    "neighbours_shared": pl.Float64,
    "baseline_cosine": pl.Float64,
    "run_id": pl.Utf8,
}


def zero_answer_frame(scores: dict | None) -> pl.DataFrame:
    """Step 4's zero-answer student as one row of `quality_frame`'s columns (queries 0, p 0, no run); empty when its
    scores are not there."""
    schema = QUALITY_SCHEMA
    if not scores:
        return pl.DataFrame(schema=schema)
    row = {
        "student": ZERO_LABEL,
        "p": 0.0,
        "queries": 0,
        "heldout_cosine": scores["heldout_cosine"],
        "neighbours_shared": scores["neighbours_shared"],
        "baseline_cosine": scores["baseline_cosine"],
        "run_id": "",
    }
    return pl.DataFrame([row], schema=schema)


def split_cosine_frame(scores: Mapping[str, dict]) -> pl.DataFrame:
    """Steps 2-3: how close each student's vectors are to the teacher's (mean cosine) on the words it was
    trained on and on the words it never saw. `scores`: student label -> `story_scores`.
    Columns student, words, cosine, count."""
    rows = []
    for label, s in scores.items():
        rows.append(
            {"student": label, "words": TRAINING_WORDS, "cosine": s["training_cosine"], "count": s["training_words"]}
        )
        rows.append({"student": label, "words": NEW_WORDS, "cosine": s["heldout_cosine"], "count": s["heldout_words"]})
    return pl.DataFrame(rows, schema={"student": pl.Utf8, "words": pl.Utf8, "cosine": pl.Float64, "count": pl.Int64})


def neighbours_frame(scores: Mapping[str, dict], words: Sequence[str]) -> pl.DataFrame:
    """Steps 2-3: each word's nearest words under the teacher and under each student, and how many of the
    teacher's the student shares. Columns word, who, shared (of k; the teacher: k), seen (whether that
    student was trained on the word itself; empty for the teacher, which knows every word), searched ('the lessons'
    or 'all words': a lesson word's closest words are looked up among the lessons, `run_scores`) and among (how many
    words that is), neighbours.
    One teacher row per word and search (the students of one split share it)."""
    rows = []
    for word in words:
        teachers = set()
        for label, s in scores.items():
            found = s.get("neighbours", {}).get(word)
            if not found:
                continue
            theirs = found["teacher"]
            among = found.get("among")
            searched = ("the lessons" if found["seen"] else "all words") if among is not None else None
            if (among, tuple(theirs)) not in teachers:
                teachers.add((among, tuple(theirs)))
                rows.append(
                    {
                        "word": word,
                        "who": "Teacher",
                        "shared": len(theirs),
                        "seen": None,
                        "searched": searched,
                        "among": among,
                        "neighbours": ", ".join(theirs),
                    }
                )
            rows.append(
                {
                    "word": word,
                    "who": label,
                    "shared": len(set(found["student"]) & set(theirs)),
                    "seen": found["seen"],
                    "searched": searched,
                    "among": among,
                    "neighbours": ", ".join(found["student"]),
                }
            )
    return pl.DataFrame(
        rows,
        schema={
            "word": pl.Utf8,
            "who": pl.Utf8,
            "shared": pl.Int64,
            "seen": pl.Boolean,
            "searched": pl.Utf8,
            "among": pl.Int64,
            "neighbours": pl.Utf8,
        },
    )


# ---- steps 4 and 5: many runs side by side ------------------------------------------------------


STUDENT_LABELS = {StudentKind.B: "Model B (the paper's)", StudentKind.KERNEL: "Adapter reading a cheap model"}


def student_label(model: StudentKind | str) -> str:
    """The story's name for a student kind (chart legends, tables)."""
    kind = StudentKind.parse(model)
    return STUDENT_LABELS.get(kind, kind.label)


def _label(config: TrainConfig) -> str:
    return student_label(config.model)


def quality_frame(runs: StoryRuns, scores: Mapping[str, dict]) -> pl.DataFrame:
    """Step 4: held-out quality against teacher queries. One row per clean story run found:
    student, p, queries, heldout_cosine, neighbours_shared, baseline_cosine, run_id."""
    rows = []
    for config, run_id in runs.found.items():
        if config.poison or run_id not in scores:
            continue
        s = scores[run_id]
        rows.append(
            {
                "student": _label(config),
                "p": config.p,
                "queries": s["training_words"],
                "heldout_cosine": s["heldout_cosine"],
                "neighbours_shared": s["neighbours_shared"],
                "baseline_cosine": s["baseline_cosine"],
                "run_id": run_id,
            }
        )
    schema = QUALITY_SCHEMA
    return pl.DataFrame(rows, schema=schema).sort("student", "p")


def poison_frame(runs: StoryRuns, scores: Mapping[str, dict]) -> pl.DataFrame:
    """Step 5: both students at the story's p with clean and with poisoned answers.
    Columns student, answers ('all clean' / '10 % poisoned'), heldout_cosine, neighbours_shared, run_id."""
    settings, rows = runs.settings, []
    for config, run_id in runs.found.items():
        if abs(config.p - settings.p) > 1e-12 or config.poison not in (0.0, settings.poison) or run_id not in scores:
            continue
        s = scores[run_id]
        rows.append(
            {
                "student": _label(config),
                "answers": f"{config.poison:.0%} poisoned" if config.poison else "all clean",
                "heldout_cosine": s["heldout_cosine"],
                "neighbours_shared": s["neighbours_shared"],
                "run_id": run_id,
            }
        )
    schema = {
        "student": pl.Utf8,
        "answers": pl.Utf8,
        "heldout_cosine": pl.Float64,
        "neighbours_shared": pl.Float64,
        "run_id": pl.Utf8,
    }
    return pl.DataFrame(rows, schema=schema).sort("student", "answers", descending=[False, True])
