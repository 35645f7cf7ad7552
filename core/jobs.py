"""Training in the background: a job board that runs trainings (`core.runs.executors`) from worker threads.

The dashboard submits a job and returns at once; a polling fragment reads `job.snapshot()`.
Workers never touch the UI. At most `max_concurrent` jobs train at a time (the rest wait in a
queue whose position is visible), so one class on a 2-core host does not thrash it.

    board = JobBoard(runs_root, max_concurrent=1)
    job = board.submit(config, prepared, owner="session-1")
    job.snapshot().records      # grows epoch by epoch (a TrainingSnapshot, copied under the job's lock)
    job.stop()                  # between epochs; finished epochs are saved

    with board.slot(owner, "adapter") as job:   # work a page does in its own thread, under the same limits
        ...

Every kind of work is a `Job` (TrainingJob, SweepJob, SlotJob): the board counts them all, and nothing
takes a training slot except through the board.

Where a training or a sweep's runs train is the board's executor (`core.runs.executors`): this process's threads
(`local`, the default) or a Ray cluster (`ray`: `JobBoard.for_host` reads `executor` / `ray_address` from the host's
settings). Slots, queue positions, Stop, ETA and the live epochs are the board's either way: with Ray a job's thread
holds its slot and follows its task, whose epochs arrive through the executor as they end.
"""

from __future__ import annotations

import math
import threading
import time
import traceback
import uuid
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from core import warm
from core.config import TrainConfig
from core.context import Lab
from core.runs.executors import Executor, LocalExecutor, make_executor
from core.runs.experiment import PreparedData
from core.runs.hosting import HostSettings
from core.runs.store import list_runs
from core.runs.sweep import SWEEP_CHECKPOINT_SECONDS, find_stored, run_sweep
from core.runs.visibility import visible_runs
from core.teachers.rates import embedding_seconds
from core.teachers.teacher import TeacherUnavailable, cached_vectors
from core.words.generalizing import cheap_features, features_id

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


def _training(job: Job) -> str:
    """What the host's limits count: a job alone, or the group it was submitted with (one training)."""
    return job.group or job.job_id


_boards: weakref.WeakSet[JobBoard] = weakref.WeakSet()  # every board alive in this process (`close_all`)


def close_all(timeout: float = 60.0) -> list[str]:
    """`JobBoard.close` on every board of this process, within `timeout` seconds in all; the names of the job
    threads still running after it (none, normally)."""
    deadline = time.monotonic() + timeout
    for board in list(_boards):
        board.close(max(0.0, deadline - time.monotonic()))
    return sorted(t.name for board in list(_boards) for t in board._threads if t.is_alive())


class JobBoard:
    """Runs jobs in daemon threads, `max_concurrent` at a time, first come first served."""

    def __init__(
        self,
        runs_root: Path,
        max_concurrent: int = 1,
        device: str | None = None,
        max_per_owner: int | None = None,
        max_queue: int | None = None,
        max_epochs: int | None = None,
        executor: Executor | None = None,
        lab: Lab | None = None,
    ):
        self.runs_root = Path(runs_root)
        # how its jobs load a model, where they find the caches, and the warm-up they wait on (`core.context`)
        self.lab = lab or Lab.from_environment(runs_root=self.runs_root)
        self.device = device
        self.executor = executor or LocalExecutor()
        self.max_per_owner = max_per_owner
        self.max_queue = max_queue
        self.max_epochs = max_epochs
        self._slots = threading.Semaphore(max(1, max_concurrent))
        self._jobs: dict[str, TrainingJob] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []  # the jobs' threads, for `close` to wait for
        _boards.add(self)

    @classmethod
    def for_host(
        cls, runs_root: Path, settings: HostSettings, device: str | None = None, lab: Lab | None = None
    ) -> JobBoard:
        """The board a server runs under its hosting settings (`core.runs.hosting`): its limits (per person and
        per training only when hosted) and its executor (`local`, or `ray` at `ray_address`); `lab`: the server's
        context (its model loader and warm-up, `core.context.Lab`)."""
        return cls(
            runs_root,
            max_concurrent=settings.max_trainings,
            max_queue=settings.max_queue,
            max_per_owner=settings.max_trainings_per_user if settings.hosted else None,
            max_epochs=settings.max_epochs if settings.hosted else None,
            device=device,
            executor=make_executor(
                settings.executor, settings.ray_address, settings.ray_cpus_per_run, settings.ray_gpus_per_run
            ),
            lab=lab,
        )

    def submit(self, config: TrainConfig, prepared: PreparedData, owner: str = "") -> TrainingJob:
        job = TrainingJob(config=config, prepared=prepared, owner=owner)
        try:
            job.estimate_seconds = estimate_seconds(config, job.n_items, list_runs(self.runs_root))
        except (OSError, ValueError):  # an estimate is a nicety: never a reason not to train
            job.estimate_seconds = None
        return self.launch(job, self._work, "train")

    def submit_together(
        self, configs, prepared: PreparedData, owner: str = "", extra: dict | None = None
    ) -> list[TrainingJob]:
        """Train `configs` at the same time, as ONE training for this host's limits: they wait for one slot
        together, count once against the owner's limit and the queue, and once that slot is free each trains in
        its own thread, side by side (Try it's pair: on a personal machine one never waits behind the other,
        and on a host whose limit is one training per person the pair is still allowed). Each is an ordinary
        `TrainingJob` (its own epochs, ETA, run id, Stop); `QueueFull` (nothing started) as `submit`. `extra`: stored
        in each run's run.json (Try it on a host: `{"shared": True}`, the class's pair)."""
        group = uuid.uuid4().hex[:12]
        now = time.time()
        jobs = [
            TrainingJob(config=c, prepared=prepared, owner=owner, group=group, submitted=now, extra=dict(extra or {}))
            for c in configs
        ]
        if not jobs:
            return []
        try:
            stored = list_runs(self.runs_root)
        except (OSError, ValueError):
            stored = None
        for job in jobs:
            try:
                job.estimate_seconds = estimate_seconds(job.config, job.n_items, stored)
            except (OSError, ValueError):  # an estimate is a nicety: never a reason not to train
                job.estimate_seconds = None

        def together(first: Job) -> None:
            threads = [
                threading.Thread(target=self._work, args=(job,), name=f"train-{job.job_id}", daemon=True)
                for job in jobs
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

        self.launch(jobs[0], together, "together", others=jobs[1:])
        return jobs

    def launch(self, job: Job, work, kind: str, others: tuple | list = ()) -> Job:
        """Register `job` and run `work(job)` in a daemon thread once a training slot is free. Raises
        `QueueFull` (nothing started) when the owner has too many trainings or the queue is full. `others`: jobs of
        the same group registered with it (`submit_together`), which `work` runs in the same slot."""
        self._register(job, *others)

        def in_slot() -> None:
            with self._slots:
                work(job)

        thread = threading.Thread(target=in_slot, name=f"{kind}-{job.job_id}", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return job

    def close(self, timeout: float = 60.0) -> bool:
        """Stop every job on the board and wait up to `timeout` seconds for their threads (a stopped training
        ends its epoch and is stored): True when none is left running. For whoever owns the board and goes away
        (a test, a server shutting down): a daemon thread still inside torch when the interpreter exits can abort
        the process ("terminate called without an active exception")."""
        with self._lock:
            jobs, threads = list(self._jobs.values()), list(self._threads)
        for job in jobs:
            job.stop()
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in threads)

    def _register(self, job: Job, *others: Job) -> None:
        """Put `job` (and `others`, submitted together with it: one training) on the board after checking this host's
        limits (`QueueFull` says which one refused it). Jobs of one group count once."""
        with self._lock:
            self._forget_old()
            waiting = {_training(j) for j in self._jobs.values() if j.state is JobState.QUEUED}
            mine = {_training(j) for j in self._jobs.values() if not j.done and job.owner and j.owner == job.owner}
            if self.max_per_owner is not None and len(mine) >= self.max_per_owner:
                raise QueueFull(
                    f"You already have {len(mine)} training(s) waiting or running (the limit here is "
                    f"{self.max_per_owner}); wait for it to finish or stop it first."
                )
            epochs = max(j.epochs for j in (job, *others))
            if self.max_epochs is not None and epochs > self.max_epochs:
                raise QueueFull(f"{epochs} epochs is more than this host allows ({self.max_epochs}); choose fewer.")
            if self.max_queue is not None and len(waiting) >= self.max_queue:
                raise QueueFull(
                    f"{len(waiting)} trainings are already waiting on this host; try again in a few minutes."
                )
            for j in (job, *others):
                self._jobs[j.job_id] = j

    def _forget_old(self, keep_seconds: float = 3600.0, keep_at_most: int = 500) -> None:
        """A class makes hundreds of jobs a day: finished ones are dropped after an hour (their runs are in
        the store), so the board's memory stays bounded."""
        now = time.time()
        done = sorted((j for j in self._jobs.values() if j.done), key=lambda j: j.finished_at or j.submitted)
        for j in done[: max(0, len(done) - keep_at_most)] + [
            j for j in done if now - (j.finished_at or j.submitted) > keep_seconds
        ]:
            self._jobs.pop(j.job_id, None)

    @contextmanager
    def slot(
        self,
        owner: str = "",
        label: str = "",
        epochs: int = 0,
        waiting: Callable[[int], None] | None = None,
        poll_seconds: float = 0.25,
    ) -> Iterator[SlotJob]:
        """Hold one of the board's training slots for work done in the caller's own thread (the adapter lab
        trains in its page), as a job like any other: it counts against the owner's and the queue's limits
        (`QueueFull` before anything waits), and while it waits `waiting(position)` hears its place in the
        queue (1 = next). The slot is given back however the block ends; the job then reads FINISHED, or
        FAILED with the error's sentence.

            with board.slot(owner, "adapter", epochs=20, waiting=lambda n: print(f"{n} in the queue")) as job:
                train(should_stop=lambda: job.stop_requested)
        """
        job = SlotJob(owner=owner, label=label, asked_epochs=epochs)
        self._register(job)
        try:
            while not self._slots.acquire(timeout=poll_seconds):
                if waiting is not None:
                    waiting(self.queue_position(job))
        except BaseException as err:
            job.fail(err)
            job.finished_at = time.time()
            raise
        try:
            job.begin()
            yield job
        except BaseException as err:
            job.fail(err)
            raise
        else:
            with job._lock:
                job.state = JobState.STOPPED if job.stop_requested else JobState.FINISHED
        finally:
            job.finished_at = time.time()
            self._slots.release()

    def get(self, job_id: str | None) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id) if job_id else None

    def queue_position(self, job: Job) -> int:
        """0 when running or done; otherwise how many queued jobs were submitted before it, plus one."""
        if job.state is not JobState.QUEUED:
            return 0
        with self._lock:
            ahead = {
                _training(j)
                for j in self._jobs.values()
                if j.state is JobState.QUEUED and j.submitted < job.submitted and _training(j) != _training(job)
            }
            return 1 + len(ahead)

    def active(self, owner: str | None = None) -> list[Job]:
        with self._lock:
            return [j for j in self._jobs.values() if not j.done and (owner is None or j.owner == owner)]

    def trainings(self) -> list[TrainingJob]:
        """The trainings waiting or running now that nobody asked to stop, newest first: what an identical click
        may join instead of training the same thing again (`core.tryit.plan_try_it`)."""
        with self._lock:
            jobs = [j for j in self._jobs.values() if isinstance(j, TrainingJob) and not j.done]
        return sorted((j for j in jobs if not j.stop_requested), key=lambda j: j.submitted, reverse=True)

    def _work(self, job: TrainingJob) -> None:
        if not job.begin():
            job.prepared = None
            return
        try:
            prepare_cheap_features(
                [job.config], job.prepared, self.device, lambda text: setattr(job, "phase", text), lab=self.lab
            )
            job.phase = ""

            def begin(index: int) -> None:  # an attempt starts (again, after a lost Ray worker): its own epochs
                with job._lock:
                    job.records.clear()
                    job.phase = ""

            def epoch(index: int, run_index: int, record) -> None:
                with job._lock:
                    job.records.append(record)

            for result in self.executor.run(
                [[job.config]],
                {job.config.lemmatize: job.prepared},
                self.runs_root,
                device=self.device,
                should_stop=lambda: job.stop_requested,
                checkpoint_every=CHECKPOINT_SECONDS,
                extra={**({"owner": job.owner} if job.owner else {}), **job.extra} or None,
                cache_root=self.lab.teacher_cache,
                on_begin=begin,
                on_epoch=epoch,
                on_phase=lambda text: setattr(job, "phase", text),
            ):
                (run,) = result.runs
                with job._lock:
                    if len(run.records) > len(job.records):  # epochs the live feed had not brought yet
                        job.records[:] = list(run.records)
                    job.run_id = run.run_id
                    job.summary = run.summary
                    job.phase = ""
                    job.state = JobState.FINISHED if len(job.records) == job.config.epochs else JobState.STOPPED
            if job.state is JobState.RUNNING:  # stopped before its task started: nothing was trained
                with job._lock:
                    job.phase = ""
                    job.state = JobState.STOPPED
        except Exception as err:  # a worker must never die silently: the page shows this sentence
            job.fail(err)
            job.traceback = traceback.format_exc()
        finally:
            job.prepared = None  # the data (~15 MB for 10k words) is no longer needed; the run is in the store
            job.finished_at = time.time()


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


def start_sweep(board: JobBoard, grid, prepared: dict, owner: str = "", private: bool = False) -> SweepJob:
    """Run a sweep in the background, holding one of the board's training slots throughout."""

    def work(job: SweepJob) -> None:
        if not job.begin():
            job.prepared = {}
            return
        try:
            # The adapters' cheap-model features first, saying so: inside a run they were a silent
            # few minutes at "8 of 24".
            prepare_cheap_features(
                grid.configs(),
                next(iter(prepared.values()), None),
                board.device,
                lambda text: setattr(job, "phase", text),
                by_mode=prepared,
                lab=board.lab,
            )
            job.phase = ""
            if board.executor.connecting:  # a cluster to reach first (Ray): say so while it connects
                job.phase = board.executor.connecting
                board.executor.connect()
                job.phase = ""
            for progress in run_sweep(
                grid,
                prepared,
                board.runs_root,
                device=board.device,
                should_stop=lambda: job.stop_requested,
                owner=job.owner,
                private=private,
                checkpoint_every=SWEEP_CHECKPOINT_SECONDS,
                executor=board.executor,
                cache_root=board.lab.teacher_cache,
            ):
                with job._lock:  # what snapshot() copies: written together
                    job.done_runs, job.reused, job.eta_seconds = progress.done, progress.reused, progress.eta_seconds
                    job.run_ids = list(progress.run_ids)
            job.state = JobState.FINISHED if job.done_runs == job.total_runs else JobState.STOPPED
        except Exception as err:  # shown on the page as a sentence
            job.fail(err)
        finally:
            job.prepared = {}  # release the data: the runs are in the store
            job.finished_at = time.time()

    job = SweepJob(grid=grid, prepared=prepared, owner=owner, total_runs=len(grid.configs()))
    job.estimate_seconds = sweep_estimate(grid, prepared, board.runs_root, owner, private, board.lab.teacher_cache)
    return board.launch(job, work, "sweep")


def sweep_estimate(
    grid, prepared: dict, runs_root: Path, owner: str = "", private: bool = False, cache_root: Path | None = None
) -> float | None:
    """Seconds the runs of `grid` not stored yet will take (stored runs' rates), plus the cheap-model features
    still to compute (in `cache_root`: the teachers' caches, default the lab home's); None when a pending student
    has never been timed here."""
    try:
        stored = list_runs(runs_root)
    except OSError:
        return None
    visible = visible_runs(stored, owner, hosted=private)
    total = 0.0
    for config in grid.configs():
        data = prepared.get(config.lemmatize)
        if data is None or (not visible.is_empty() and find_stored(visible, config, data.teacher_id)):
            continue
        seconds = estimate_seconds(config, len(data.items), stored)
        if seconds is None:
            return None
        total += seconds
    cache_root = cache_root or Lab.from_environment(runs_root=runs_root).teacher_cache
    return total + sum(
        features_seconds(c, prepared.get(c.lemmatize), cache_root) for c in _feature_needs(grid.configs())
    )


def _feature_needs(configs) -> list:
    """One config per distinct (cheap model, kind of features, lemmatization) among the adapters of `configs`."""
    seen, out = set(), []
    for c in configs:
        key = (c.cheap, c.model.features, c.lemmatize)
        if c.cheap and key not in seen:
            seen.add(key)
            out.append(c)
    return out


def features_seconds(config: TrainConfig, data, cache_root: Path) -> float:
    """Seconds to compute the cheap-model features `config` reads that are not in `cache_root` yet (0 when they are)."""
    if data is None or not config.cheap:
        return 0.0
    cheap_id = features_id(config.cheap, config.model.features)  # a static table's 'layers' are its vectors
    try:
        cached_vectors(cache_root, cheap_id, data.items)
        return 0.0
    except TeacherUnavailable:
        return embedding_seconds(cheap_id, len(data.items))


def prepare_cheap_features(configs, data, device: str | None, say, by_mode: dict | None = None, *, lab: Lab) -> None:
    """Compute (or wait for) the cheap-model features the adapters among `configs` read, calling `say(sentence)`
    with what happens: when the lab's warm-up (`lab.warmup`, core.warm) is computing those very features, wait for
    it rather than computing them twice; otherwise compute them with the model `lab.load_model` gives."""
    for config in _feature_needs(configs):
        items = (by_mode or {}).get(config.lemmatize, data)
        if items is None or not features_seconds(config, items, lab.teacher_cache):
            continue  # cached already
        kind = config.model.features
        what = (
            f"{warm.MODEL_LABELS.get(config.cheap, config.cheap)} {'layer features' if kind == 'layers' else 'vectors'}"
        )
        runner, step = lab.warmup, warm.step_for_words(config.cheap, kind)
        if runner is not None and step in runner and tuple(items.items) == warm.default_items():
            say(runner.waiting_for(step) or f"Computing the cheap model's features ({what})…")
            state = runner.ensure(
                step,
                lambda d, t: say(
                    f"Waiting for the lab's warm-up to finish the cheap model's features ({what}): {d:,} of {t:,} words"
                ),
            )
            if state.status == "done":
                continue
        eta = duration(features_seconds(config, items, lab.teacher_cache))
        say(
            f"Computing the cheap model's features ({what}) of {len(items.items):,} words, once for this machine ({eta})…"
        )
        cheap_features(
            items.items,
            config.cheap,
            lab.teacher_cache,
            device,
            progress=lambda d, t: say(
                f"Computing the cheap model's features ({what}), once for this machine: {d:,} of {t:,} words"
            ),
            kind=kind,
            load=lab.load_model,
        )


# ---- how long: measured rates, estimates before a job, ETA during one ------------------------------


def estimate_seconds(config: TrainConfig, n_items: int, runs) -> float | None:
    """Seconds a training of `config` on `n_items` items will take, from stored runs of the same student
    (and teacher width is ignored: it moves the time little): seconds per epoch as a straight line in the
    training rows, fitted on the stored runs (`runs` is `core.runs.store.list_runs`'s frame). None when no stored
    run of that student has a time.

        runs at 100 rows: 1 s/epoch, at 1,000 rows: 4 s/epoch -> 550 rows, 10 epochs: ~25 s
    """
    import numpy as np

    if runs is None or runs.is_empty() or "seconds" not in runs.columns:
        return None
    took = runs["seconds"]
    same = runs.filter(  # a time that is not a finite, non-negative number (a damaged run's) measures nothing
        (runs["model"] == config.model.value)
        & took.is_not_null()
        & took.is_finite()
        & (took >= 0)
        & (runs["epochs"] > 0)
        & (runs["status"] == "finished")
    )
    if same.is_empty():
        return None
    rows = np.asarray(same["train_size"].to_list(), float)
    per_epoch = np.asarray(same["seconds"].to_list(), float) / np.asarray(same["epochs"].to_list(), float)
    train_rows = max(1.0, round(config.p * n_items))
    if len(set(rows.tolist())) >= 2:
        slope, intercept = np.polyfit(rows, per_epoch, 1)
        slope, intercept = max(slope, 0.0), max(intercept, 0.0)
        seconds = intercept + slope * train_rows
        if seconds <= 0:
            seconds = float(np.median(per_epoch))
    else:  # one size measured: scale by rows, but never below a tenth of it (every epoch has a fixed part)
        seconds = float(np.median(per_epoch)) * max(0.1, train_rows / max(1.0, float(rows[0])))
    seconds = float(seconds * config.epochs)
    return seconds if math.isfinite(seconds) else None


def remaining_seconds(records: list, epochs: int, estimate: float | None = None, elapsed: float = 0.0) -> float | None:
    """A training's time left: epochs left x the mean of its last (up to 5) epochs; before the first epoch,
    the estimate less the time already spent (never below zero). None when nothing is known."""
    if records:
        recent = [getattr(r, "epoch_seconds", 0.0) for r in records[-5:]]
        return max(0.0, (epochs - len(records)) * sum(recent) / len(recent))
    if estimate is None:
        return None
    return max(0.0, estimate - elapsed)


def duration(seconds: float | None) -> str:
    """Plain words for a duration: 'a few seconds', 'about 40 s', 'about 3 min', 'about 1 h 20 min'.

    duration(4) -> 'a few seconds';  duration(95) -> 'about 2 min'
    """
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "unknown"
    if seconds < 10:
        return "a few seconds"
    if seconds < 60:
        return f"about {int(round(seconds / 5.0) * 5)} s"
    minutes = int(round(seconds / 60.0))
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60:02d} min"
