"""The story's runs: which trained students each step needs (`story_configs`, `step_configs`), which are stored
(`find_story_runs`), and `warm_story`, which trains the missing ones once and keeps each run's story scores."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from core.config import LemmaMode, StudentKind, TrainConfig
from core.data.lemmatize import no_lemmatization
from core.paths import runs_dir, teacher_cache_dir
from core.story.scores import StoryScoring, story_scores
from core.story.settings import StorySettings, story_vocabulary
from core.teachers.teacher import CachedTeacher, TeacherUnavailable, cached_vectors, load_teacher, teacher_id_for


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

    The missing runs train in the sweep's batches (`core.runs.sweep.training_batches`, `core.runs.batches.train_batch`):
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
