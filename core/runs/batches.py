"""What a run does, one code path for every executor: `train_batch` (one run, or a group of lookup-table runs that step
together, `core.words.train.train_group`) and what it hands back (`RunResult`, `BatchResult`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from core.config import TrainConfig
from core.runs.experiment import PreparedData, TrainingRun
from core.words.train import EpochRecord, train_group


@dataclass(frozen=True)
class RunResult:
    """One trained (or stopped) run as the executor hands it back: its id in the store, its epochs, its summary."""

    config: TrainConfig
    run_id: str | None
    epochs_done: int
    summary: dict = field(repr=False)
    records: tuple[EpochRecord, ...] = field(default=(), repr=False)

    @property
    def complete(self) -> bool:
        return self.epochs_done >= self.config.epochs

    @classmethod
    def of(cls, run: TrainingRun, keep_means: bool = True) -> RunResult:
        records = run.records if keep_means else [replace(r, embedding_means=None) for r in run.records]
        return cls(run.config, run.run_id, len(run.records), run.summary(), tuple(records))


@dataclass(frozen=True)
class BatchResult:
    """A batch that ended: its place in the list given to `run`, its runs, and the seconds it added to the wall
    clock (local: its own training time; ray: the time since the previous result, so they add up to the wall)."""

    index: int
    runs: tuple[RunResult, ...]
    seconds: float


def train_batch(
    batch: Sequence[TrainConfig],
    data: PreparedData,
    runs_root: Path,
    *,
    device: str | None = None,
    should_stop: Callable[[], bool] | None = None,
    checkpoint_every: float | None = None,
    extra: dict | None = None,
    cache_root: Path | None = None,
    on_journal: Callable[[list[TrainingRun]], None] | None = None,
    on_epoch: Callable[[int, EpochRecord], None] | None = None,
) -> list[TrainingRun]:
    """Train one batch and store its runs: a single `TrainingRun`, or runs of one `group_key` stepped together
    (`train_group`: the same curves, less overhead). Stopping keeps every finished epoch. `on_journal(runs)` hears the
    runs once their journals exist (with checkpoints), `on_epoch(i, record)` every epoch of the batch's i-th run."""
    base = dict(extra or {})
    if len(batch) == 1:
        run = TrainingRun(
            batch[0],
            data,
            runs_root,
            device=device,
            should_stop=should_stop,
            checkpoint_every=checkpoint_every,
            extra=base or None,
            cache_root=cache_root,
        )
        for record in run:
            if on_journal is not None and len(run.records) == 1:
                on_journal([run])
            if on_epoch is not None:
                on_epoch(0, record)
        return [run]
    runs = [
        TrainingRun(
            c,
            data,
            runs_root,
            device=device,
            checkpoint_every=checkpoint_every,
            extra={**base, "grouped_with": len(batch)},
            cache_root=cache_root,
        )
        for c in batch
    ]
    with contextlib.ExitStack() as finishing:  # every run begun is finished, whatever fails where
        for run in runs:
            run.begin()
            finishing.callback(run.finish)
        if on_journal is not None:
            on_journal(runs)
        for records in train_group(
            [r.model for r in runs],
            [r.dataset for r in runs],
            [r.config for r in runs],
            runs[0].device,
            should_stop,
            reports=[r.report for r in runs],
        ):
            for i, (run, record) in enumerate(zip(runs, records)):
                run.before_write = records.sync_models  # a checkpoint writes this epoch's weights
                run.add(record)
                if on_epoch is not None:
                    on_epoch(i, record)
    return runs
