"""What the job board runs: the kinds of background work (`TrainingJob` one run, `SweepJob` a grid, `SlotJob` work a
page does itself while holding a slot), their states, and the snapshots a page reads, copied under the job's lock."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from core.config import TrainConfig
from core.jobs.estimates import remaining_seconds
from core.runs.experiment import PreparedData


class QueueFull(ValueError):
    """A training cannot be queued now (this user's limit, or the host's queue); the message says why."""


class JobState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"


DONE = {JobState.FINISHED, JobState.STOPPED, JobState.FAILED}


@dataclass(kw_only=True)
class Job:
    """What every piece of background work on the board shares: who asked, its state, a stop flag, and when.

    `TrainingJob` (one run), `SweepJob` (a grid) and `SlotJob` (work a page does itself while holding a
    slot, like the adapter lab's training) are jobs; the board counts all of them against its limits."""

    owner: str = ""
    job_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    state: JobState = JobState.QUEUED
    error: str | None = None
    submitted: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    phase: str = ""  # what it does now when that is not an epoch: 'Computing the cheap model's features…'
    group: str = ""  # jobs submitted together (`JobBoard.submit_together`) share it: one training for the limits
    estimate_seconds: float | None = None  # before it starts, from stored runs' rates
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def epochs(self) -> int:
        """Epochs it asks for (checked against the host's limit); 0 when that does not apply."""
        return 0

    def stop(self) -> None:
        """Stop at the next chance (between epochs, between runs); a job still waiting in the queue is stopped
        at once (its owner's slot is free again)."""
        with self._lock:
            self._stop.set()
            if self.state is JobState.QUEUED:
                self.state = JobState.STOPPED
                self.finished_at = time.time()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def done(self) -> bool:
        return self.state in DONE

    def begin(self) -> bool:
        """In the worker, once it holds a slot: RUNNING (True), or STOPPED when a stop came first (False)."""
        with self._lock:
            if self._stop.is_set():
                self.state = JobState.STOPPED
                return False
            self.state = JobState.RUNNING
            self.started_at = time.time()
            return True

    def fail(self, err: BaseException) -> None:
        """A worker must never die silently: the page shows this sentence."""
        with self._lock:
            self.error = f"{type(err).__name__}: {err}"
            self.state = JobState.FAILED


@dataclass(kw_only=True)
class TrainingJob(Job):
    config: TrainConfig
    prepared: PreparedData = field(repr=False)
    records: list = field(default_factory=list)
    run_id: str | None = None
    summary: dict | None = None
    traceback: str | None = field(default=None, repr=False)  # for a log, when a job failed
    n_items: int = 0
    extra: dict = field(default_factory=dict)  # stored in its run.json beside the owner (Try it on a host: shared)
    # What to compute from its run once the run is stored, before the job counts as done (Try it: the story's scores
    # of the pair, so that step 3 redraws by reading two small files). A failure there never fails the training.
    then: Callable[[str], object] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.n_items = len(self.prepared.items) if self.prepared is not None else 0

    @property
    def epochs(self) -> int:
        return self.config.epochs

    def snapshot(self) -> TrainingSnapshot:
        """A consistent copy for a reader in another thread (taken under the job's lock)."""
        with self._lock:
            return TrainingSnapshot(
                job_id=self.job_id,
                state=self.state,
                records=tuple(self.records),
                run_id=self.run_id,
                error=self.error,
                epochs=self.config.epochs,
                summary=self.summary,
                phase=self.phase,
                estimate_seconds=self.estimate_seconds,
                eta_seconds=None
                if self.state in DONE
                else remaining_seconds(
                    self.records,
                    self.config.epochs,
                    self.estimate_seconds,
                    time.time() - (self.started_at or time.time()),
                ),
            )


@dataclass(frozen=True)
class TrainingSnapshot:
    """What a page shows of a training, copied at one instant under the job's lock (`TrainingJob.snapshot`)."""

    job_id: str
    state: JobState
    records: tuple  # EpochRecords, one per finished epoch
    run_id: str | None
    error: str | None
    epochs: int
    summary: dict | None
    phase: str  # what it does now when that is not an epoch ('' otherwise)
    estimate_seconds: float | None  # before it starts, from stored runs' rates
    eta_seconds: float | None  # None when done, or when nothing is known yet

    @property
    def done(self) -> bool:
        return self.state in DONE

    @property
    def share(self) -> float:
        """How far along it is, 0 to 1 (finished epochs of all)."""
        return len(self.records) / max(1, self.epochs)


@dataclass(frozen=True)
class SweepSnapshot:
    """What a page shows of a sweep (a grid of runs), copied at one instant under the job's lock."""

    state: JobState
    done_runs: int  # trained or reused so far
    total_runs: int
    reused: int
    eta_seconds: float | None
    estimate_seconds: float | None
    phase: str
    run_ids: tuple
    error: str | None
    started_at: float | None
    finished_at: float | None

    @property
    def done(self) -> bool:
        return self.state in DONE

    @property
    def share(self) -> float:
        return self.done_runs / max(1, self.total_runs)

    @property
    def took_seconds(self) -> float | None:
        """How long it ran, once it has ended."""
        return self.finished_at - self.started_at if self.started_at and self.finished_at else None


@dataclass(kw_only=True)
class SlotJob(Job):
    """Work a page runs in its own thread while holding one of the board's slots (`JobBoard.slot`)."""

    label: str = ""
    asked_epochs: int = 0

    @property
    def epochs(self) -> int:
        return self.asked_epochs


@dataclass(kw_only=True)
class SweepJob(Job):
    """A sweep in a background thread; `snapshot()` is safe to read from another thread."""

    grid: object  # core.runs.sweep.SweepGrid
    prepared: dict = field(repr=False)
    done_runs: int = 0
    total_runs: int = 0
    reused: int = 0
    eta_seconds: float | None = None
    run_ids: list = field(default_factory=list)

    @property
    def epochs(self) -> int:
        return getattr(self.grid, "epochs", 0) or 0

    def snapshot(self) -> SweepSnapshot:
        """A consistent copy for a reader in another thread (taken under the job's lock)."""
        with self._lock:
            eta = self.eta_seconds
            if eta is None and self.estimate_seconds is not None and not self.done:
                eta = max(0.0, self.estimate_seconds - (time.time() - (self.started_at or time.time())))
            return SweepSnapshot(
                state=self.state,
                done_runs=self.done_runs,
                total_runs=self.total_runs,
                reused=self.reused,
                eta_seconds=None if self.done else eta,
                estimate_seconds=self.estimate_seconds,
                phase=self.phase,
                run_ids=tuple(self.run_ids),
                error=self.error,
                started_at=self.started_at,
                finished_at=self.finished_at,
            )


def training_key(job: Job) -> str:
    """What the host's limits count: a job alone, or the group it was submitted with (one training)."""
    return job.group or job.job_id
