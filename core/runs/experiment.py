"""The paper's experiment end to end: words -> (lemmas) -> teacher targets -> split -> train -> store.

This is the one engine call a page or the CLI makes; loaders (teacher, spaCy) are passed in.

    prepared = prepare_items(words, LemmaMode.NONE, cached_teacher)
    run = TrainingRun(TrainConfig(p=0.095), prepared, runs_dir())
    for record in run:          # one EpochRecord per epoch; stop by returning True from should_stop
        ...
    run.run_id                  # saved, with every finished epoch, even when stopped early

Cost accounting: `teacher_queries` of a run is the number of teacher answers the student was
trained on (its training-set size): what the method pays. The lab also embeds the held-out items
to *measure* the student; those are evaluation costs, cached and counted separately by
`CachedTeacher.computed`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.config import LemmaMode, StudentKind, TrainConfig, default_cheap
from core.data.corpus import word_frequencies
from core.data.dataset import Dataset, build_dataset
from core.data.lemmatize import LemmaResult, lemmatize_words, load_lemmatizer, no_lemmatization
from core.data.selection import needs, select_indices
from core.device import pick_device
from core.paths import teacher_cache_dir
from core.poisoning.defence import TrainReport
from core.poisoning.poison import Detection, detect
from core.runs.store import end_journal, journal_epoch, live_folder, new_run_id, save_run, start_journal
from core.words.cheap import cheap_features
from core.words.generalizing import MAX_CENTRES
from core.words.students import StudentConfig, build_student
from core.words.train import EpochRecord, train_student

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class PreparedData:
    """The dataset's items (unique lemmas, or the words) and the teacher's clean vectors."""

    lemma: LemmaResult
    clean: np.ndarray
    teacher_id: str
    lemmatize: LemmaMode

    @property
    def items(self) -> tuple[str, ...]:
        return self.lemma.lemmas


def lemmatize(words: Sequence[str], mode: LemmaMode | str, nlp=None, progress: Progress | None = None) -> LemmaResult:
    mode = LemmaMode(mode)
    if mode is LemmaMode.NONE:
        return no_lemmatization(words)
    if nlp is None:
        nlp = load_lemmatizer(mode)
    return lemmatize_words(words, nlp, progress)


def prepare_items(
    words: Sequence[str],
    mode: LemmaMode | str,
    teacher,
    nlp=None,
    progress: Progress | None = None,
) -> PreparedData:
    """Lemmatize (if asked) and get the teacher's vector for every resulting item."""
    result = lemmatize(words, mode, nlp)
    clean = teacher.embed(list(result.lemmas), progress=progress)
    return PreparedData(result, clean, teacher.id, LemmaMode(mode))


def choose_queries(
    config: TrainConfig, items: Sequence[str], cache_root: Path | None = None, device: str = "cpu"
) -> tuple[np.ndarray | None, float]:
    """The words a run asks the teacher about, chosen by `config.selection` (core.data.selection), and the
    seconds it took; None for the paper's random draw (core.data.dataset.split_indices makes it).

    Reads the cheap model's sentence embedding of the words (the run's own cheap model, or the teacher's
    default one for a student that reads none) or the words' frequency: nothing the teacher answered.
    """
    if config.selection == "random":
        return None, 0.0
    start = time.perf_counter()
    needed = needs(config.selection)
    features = frequencies = None
    if needed == "features":
        cheap = config.cheap or default_cheap(config.teacher)
        features, _, _ = cheap_features(items, cheap, cache_root or teacher_cache_dir(), device, kind="sentence")
    elif needed == "frequencies":
        frequencies = word_frequencies(items)
    train_idx, _ = select_indices(config.selection, len(items), config.p, config.seed, features, frequencies)
    return train_idx, time.perf_counter() - start


class TrainingRun:
    """One run: builds the dataset and student, yields epoch records, saves when done or stopped."""

    def __init__(
        self,
        config: TrainConfig,
        prepared: PreparedData,
        runs_root: Path,
        device: str | None = None,
        should_stop: Callable[[], bool] | None = None,
        extra: dict | None = None,
        cache_root: Path | None = None,
        checkpoint_every: float | None = None,
    ):
        if prepared.lemmatize is not config.lemmatize:
            raise ValueError(
                f"The data was prepared with lemmatization '{prepared.lemmatize.value}' but the run asks for '{config.lemmatize.value}'."
            )
        self.config = config
        self.prepared = prepared
        self.runs_root = Path(runs_root)
        self.device = device or pick_device()
        self.should_stop = should_stop
        self.extra = extra or {}
        # Which words the teacher is asked about is chosen first, from what the student may read before paying
        # (never a teacher answer); then the dataset poisons and splits as the paper does.
        train_idx, selection_seconds = choose_queries(config, prepared.items, cache_root, self.device)
        if config.selection != "random":
            self.extra = {**self.extra, "selection_seconds": round(selection_seconds, 3)}
        self.dataset: Dataset = build_dataset(
            prepared.items,
            prepared.clean,
            config.p,
            config.poison,
            config.seed,
            config.adversary,
            config.poison_scope,
            train_idx=train_idx,
        )
        features, cheap_id = None, ""
        if config.model.needs_cheap:
            # The cheap encoder's vectors of every item: read from its cache, computed once ever.
            features, cheap_id, seconds = cheap_features(
                prepared.items, config.cheap, cache_root or teacher_cache_dir(), self.device, kind=config.model.features
            )
            self.extra = {**self.extra, "cheap_id": cheap_id, "cheap_seconds": round(seconds, 3)}

        centres = min(len(self.dataset.train_idx), MAX_CENTRES) if config.model is StudentKind.KERNEL else 0
        student_config = StudentConfig(
            config.model,
            len(prepared.items),
            self.dataset.dim,
            in_dim=0 if features is None else int(features.shape[1]),
            cheap=cheap_id,
            centres=centres,
        )
        self.model = build_student(student_config, seed=config.seed, items=prepared.items, features=features)
        self.records: list[EpochRecord] = []
        self.run_id: str | None = None
        # checkpoint_every (seconds): journal every epoch and rewrite the run folder at most this often, so
        # a killed process loses nothing (core.runs.store.recover_interrupted). None: save once, at the end.
        self.checkpoint_every = checkpoint_every
        self._planned_id = new_run_id(config) if checkpoint_every is not None else None
        self._last_checkpoint = 0.0
        # Called before the model is written: a grouped trainer brings the model's weights up to date there.
        self.before_write: Callable[[], None] | None = None

        self.report = TrainReport()

    @property
    def planned_id(self) -> str | None:
        """The id this run's journal and checkpoints are written under while it trains (None: saved once, at the
        end, under a new id); an executor reports it to the board before the first epoch."""
        return self._planned_id

    @property
    def teacher_queries(self) -> int:
        return int(len(self.dataset.train_idx))

    def __iter__(self) -> Iterator[EpochRecord]:
        self.begin()
        try:
            for record in train_student(
                self.model, self.dataset, self.config, self.device, self.should_stop, report=self.report
            ):
                self.add(record)
                yield record
        finally:
            # Runs that stopped early (Stop button, Ctrl-C, a closed generator) keep their epochs.
            self.finish()

    # The three steps of __iter__, for a trainer that steps the model itself (core.runs.sweep's grouped runs):
    # begin(), add(record) after every epoch (with the model holding that epoch's weights), finish().
    def begin(self) -> None:
        if self._planned_id:
            # An id drawn while another run holds it (same second, model, p and random suffix) is drawn again.
            while (self.runs_root / self._planned_id).exists() or live_folder(
                self.runs_root, self._planned_id
            ).exists():
                self._planned_id = new_run_id(self.config)
            start_journal(self.runs_root, self._planned_id)

    def add(self, record: EpochRecord) -> None:
        self.records.append(record)
        planned = self._planned_id
        if planned:
            journal_epoch(self.runs_root, planned, record)
            now = time.monotonic()
            if len(self.records) == 1 or now - self._last_checkpoint >= self.checkpoint_every:
                self._write(planned, "running", replace=len(self.records) > 1)  # the first never overwrites a run
                self._last_checkpoint = time.monotonic()

    def finish(self) -> None:
        self.save()
        if self._planned_id:
            end_journal(self.runs_root, self._planned_id)

    def save(self) -> str | None:
        """Store the run with its finished epochs (once; `core.runs.sweep` calls it after grouped training)."""
        if self.records and self.run_id is None:
            status = "finished" if len(self.records) == self.config.epochs else "stopped"
            self.run_id = self._write(self._planned_id, status, replace=self._planned_id is not None)
        return self.run_id

    def _write(self, run_id: str | None, status: str, replace: bool) -> str:
        if self.before_write is not None:
            self.before_write()
        return save_run(
            self.runs_root,
            self.config,
            self.dataset,
            self.records,
            self.model,
            teacher_id=self.prepared.teacher_id,
            teacher_queries=self.teacher_queries,
            status=status,
            extra={
                "lemmas_merged": self.prepared.lemma.merged_count,
                "words": len(self.prepared.lemma.words),
                **self.extra,
                **self.detection_summary(),
            },
            report=self.report,
            run_id=run_id,
            replace=replace,
        )

    def detection_summary(self) -> dict:
        """What per-answer losses reveal about the poison, which the lab knows: precision and recall of
        the answers flagged as outliers (`core.poisoning.poison.detect`) and, under a selection defence, of the
        answers it left out. Empty when no training answer is poisoned or no loss is known yet."""
        losses = self.report.item_losses
        truth = self.dataset.poisoned[self.dataset.train_idx]
        if losses is None or not truth.any():
            return {}

        found = detect(losses, truth)
        out = {
            "detection_flagged": int(found.flagged.sum()),
            "detection_precision": found.precision,
            "detection_recall": found.recall,
        }
        if self.report.dropped is not None:
            left = Detection(np.asarray(self.report.dropped, dtype=bool), truth, losses)
            out.update(
                {
                    "defence_left_out": int(left.flagged.sum()),
                    "defence_precision": left.precision,
                    "defence_recall": left.recall,
                }
            )
        return out

    def summary(self) -> dict:
        """The final JSON line of the CLI."""
        last = self.records[-1] if self.records else None
        return {
            "run_id": self.run_id,
            "status": "finished" if last and last.epoch == self.config.epochs else "stopped",
            "teacher": self.prepared.teacher_id,
            "model": self.config.model.value,
            "p": self.config.p,
            "epochs": len(self.records),
            "lemmatize": self.config.lemmatize.value,
            "poison": self.config.poison,
            "seed": self.config.seed,
            "words": len(self.prepared.lemma.words),
            "items": len(self.prepared.items),
            "teacher_queries": self.teacher_queries,
            "train_size": int(len(self.dataset.train_idx)),
            "heldout_size": int(len(self.dataset.heldout_idx)),
            "poisoned_in_train": self.dataset.poisoned_in_train,
            "final_train_loss": last.train_loss if last else None,
            "train_cosine": last.train_cosine if last else None,
            "heldout_cosine": last.heldout_cosine if last else None,
            "heldout_euclidean": last.heldout_euclidean if last else None,
            "clean_heldout_cosine": last.heldout_cosine
            if last
            else None,  # held-out words are always scored against the clean teacher
            "adversary": self.config.adversary,
            "poison_scope": self.config.poison_scope,
            "defence": self.config.defence,
            "trim": self.config.trim,
            **self.detection_summary(),
            "seconds": last.seconds if last else 0.0,
            "device": self.device,
        }
