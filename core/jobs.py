"""Training in the background: a job board that runs `TrainingRun`s in worker threads.

The dashboard submits a job and returns at once; a polling fragment reads `job.snapshot()`.
Workers never touch the UI. At most `max_concurrent` jobs train at a time (the rest wait in a
queue whose position is visible), so one class on a 2-core host does not thrash it.

    board = JobBoard(runs_root, max_concurrent=1)
    job = board.submit(config, prepared, owner="session-1")
    job.snapshot()["records"]   # grows epoch by epoch
    job.stop()                  # between epochs; finished epochs are saved
"""

from __future__ import annotations

import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from core.config import TrainConfig
from core.experiment import PreparedData, TrainingRun


CHECKPOINT_SECONDS = 2.0  # a killed server loses no finished epoch; the student's weights are at most this old


class QueueFull(ValueError):
    """A training cannot be queued now (this user's limit, or the host's queue); the message says why."""


class JobState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"


DONE = {JobState.FINISHED, JobState.STOPPED, JobState.FAILED}


@dataclass
class TrainingJob:
    config: TrainConfig
    prepared: PreparedData = field(repr=False)
    owner: str = ""
    job_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    state: JobState = JobState.QUEUED
    records: list = field(default_factory=list)
    run_id: str | None = None
    error: str | None = None
    summary: dict | None = None
    submitted: float = field(default_factory=time.time)
    finished_at: float | None = None
    traceback: str | None = field(default=None, repr=False)  # for a log, when a job failed
    n_items: int = 0
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.n_items = len(self.prepared.items) if self.prepared is not None else 0

    def stop(self) -> None:
        """Stop after the current epoch; a job still waiting in the queue is stopped at once (its owner's
        slot is free again)."""
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

    def snapshot(self) -> dict:
        """A consistent copy for a reader in another thread."""
        with self._lock:
            return {
                "job_id": self.job_id, "state": self.state, "records": list(self.records), "run_id": self.run_id,
                "error": self.error, "epochs": self.config.epochs, "summary": self.summary,
            }


class JobBoard:
    """Runs jobs in daemon threads, `max_concurrent` at a time, first come first served."""

    def __init__(self, runs_root: Path, max_concurrent: int = 1, device: str | None = None,
                 max_per_owner: int | None = None, max_queue: int | None = None, max_epochs: int | None = None):
        self.runs_root = Path(runs_root)
        self.device = device
        self.max_per_owner = max_per_owner
        self.max_queue = max_queue
        self.max_epochs = max_epochs
        self._slots = threading.Semaphore(max(1, max_concurrent))
        self._jobs: dict[str, TrainingJob] = {}
        self._lock = threading.Lock()

    def submit(self, config: TrainConfig, prepared: PreparedData, owner: str = "") -> TrainingJob:
        return self.launch(TrainingJob(config, prepared, owner), self._work, "train")

    def launch(self, job, work, kind: str):
        """Register `job` and run `work(job)` in a daemon thread once a training slot is free. Raises
        `QueueFull` (nothing started) when the owner has too many trainings or the queue is full."""
        with self._lock:
            self._forget_old()
            waiting = [j for j in self._jobs.values() if j.state is JobState.QUEUED]
            mine = [j for j in self._jobs.values() if not j.done and job.owner and j.owner == job.owner]
            if self.max_per_owner is not None and len(mine) >= self.max_per_owner:
                raise QueueFull(f"You already have {len(mine)} training(s) waiting or running (the limit here is "
                                f"{self.max_per_owner}); wait for it to finish or stop it first.")
            epochs = getattr(getattr(job, "config", None), "epochs", None) or getattr(getattr(job, "grid", None), "epochs", 0)
            if self.max_epochs is not None and epochs > self.max_epochs:
                raise QueueFull(f"{epochs} epochs is more than this host allows ({self.max_epochs}); choose fewer.")
            if self.max_queue is not None and len(waiting) >= self.max_queue:
                raise QueueFull(f"{len(waiting)} trainings are already waiting on this host; try again in a few minutes.")
            self._jobs[job.job_id] = job

        def in_slot() -> None:
            with self._slots:
                work(job)

        threading.Thread(target=in_slot, name=f"{kind}-{job.job_id}", daemon=True).start()
        return job

    def _forget_old(self, keep_seconds: float = 3600.0, keep_at_most: int = 500) -> None:
        """A class makes hundreds of jobs a day: finished ones are dropped after an hour (their runs are in
        the store), so the board's memory stays bounded."""
        now = time.time()
        done = sorted((j for j in self._jobs.values() if j.done), key=lambda j: j.finished_at or j.submitted)
        for j in done[: max(0, len(done) - keep_at_most)] + [j for j in done if now - (j.finished_at or j.submitted) > keep_seconds]:
            self._jobs.pop(j.job_id, None)

    def slot(self):
        """Hold one of the host's training slots (for work a page does itself, like the adapter lab's)."""
        return self._slots

    def get(self, job_id: str | None) -> TrainingJob | None:
        with self._lock:
            return self._jobs.get(job_id) if job_id else None

    def queue_position(self, job: TrainingJob) -> int:
        """0 when running or done; otherwise how many queued jobs were submitted before it, plus one."""
        if job.state is not JobState.QUEUED:
            return 0
        with self._lock:
            return 1 + sum(1 for j in self._jobs.values() if j.state is JobState.QUEUED and j.submitted < job.submitted)

    def active(self, owner: str | None = None) -> list[TrainingJob]:
        with self._lock:
            return [j for j in self._jobs.values() if not j.done and (owner is None or j.owner == owner)]

    def _work(self, job: TrainingJob) -> None:
        with job._lock:
            if job.stop_requested:
                job.state = JobState.STOPPED
                job.prepared = None
                return
            job.state = JobState.RUNNING
        try:
            run = TrainingRun(job.config, job.prepared, self.runs_root, device=self.device, should_stop=lambda: job.stop_requested,
                              checkpoint_every=CHECKPOINT_SECONDS, extra={"owner": job.owner} if job.owner else None)
            for record in run:
                with job._lock:
                    job.records.append(record)
            with job._lock:
                job.run_id = run.run_id
                job.summary = run.summary()
                job.state = JobState.FINISHED if len(job.records) == job.config.epochs else JobState.STOPPED
        except Exception as err:  # a worker must never die silently: the page shows this sentence
            with job._lock:
                job.error = f"{type(err).__name__}: {err}"
                job.state = JobState.FAILED
            job.traceback = traceback.format_exc()
        finally:
            job.prepared = None  # the data (~15 MB for 10k words) is no longer needed; the run is in the store
            job.finished_at = time.time()


@dataclass
class SweepJob:
    """A sweep in a background thread; `snapshot()` is safe to read from another thread."""

    grid: object  # core.sweep.SweepGrid
    prepared: dict = field(repr=False)
    owner: str = ""
    job_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    state: JobState = JobState.QUEUED
    done_runs: int = 0
    total_runs: int = 0
    reused: int = 0
    eta_seconds: float | None = None
    run_ids: list = field(default_factory=list)
    error: str | None = None
    submitted: float = field(default_factory=time.time)
    finished_at: float | None = None
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def stop(self) -> None:
        with self._lock:
            self._stop.set()
            if self.state is JobState.QUEUED:
                self.state = JobState.STOPPED
                self.finished_at = time.time()

    @property
    def done(self) -> bool:
        return self.state in DONE

    def snapshot(self) -> dict:
        return {"state": self.state, "done": self.done_runs, "total": self.total_runs, "reused": self.reused,
                "eta_seconds": self.eta_seconds, "run_ids": list(self.run_ids), "error": self.error}


def start_sweep(board: JobBoard, grid, prepared: dict, owner: str = "", private: bool = False) -> SweepJob:
    """Run a sweep in the background, holding one of the board's training slots throughout."""
    from core.sweep import SWEEP_CHECKPOINT_SECONDS, run_sweep

    def work(job: SweepJob) -> None:
        with job._lock:
            if job._stop.is_set():
                job.state = JobState.STOPPED
                job.prepared = {}
                return
            job.state = JobState.RUNNING
        try:
            for progress in run_sweep(grid, prepared, board.runs_root, device=board.device, should_stop=job._stop.is_set, owner=job.owner,
                                      private=private, checkpoint_every=SWEEP_CHECKPOINT_SECONDS):
                job.done_runs, job.reused, job.eta_seconds = progress.done, progress.reused, progress.eta_seconds
                job.run_ids = list(progress.run_ids)
            job.state = JobState.FINISHED if job.done_runs == job.total_runs else JobState.STOPPED
        except Exception as err:  # shown on the page as a sentence
            job.error = f"{type(err).__name__}: {err}"
            job.state = JobState.FAILED
        finally:
            job.prepared = {}  # release the data: the runs are in the store
            job.finished_at = time.time()

    return board.launch(SweepJob(grid, prepared, owner, total_runs=len(grid.configs())), work, "sweep")
