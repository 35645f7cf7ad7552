"""The job board: trainings in worker threads, at most `max_concurrent` at a time, the rest in a queue whose position
is visible; a class's limits (per person, per queue, per training); Stop; `slot` for work a page does itself."""

from __future__ import annotations

import threading
import time
import traceback
import uuid
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from core.config import TrainConfig
from core.context import Lab
from core.errors import LabError
from core.jobs.estimates import estimate_seconds
from core.jobs.features import prepare_cheap_features
from core.jobs.kinds import Job, JobState, QueueFull, SlotJob, TrainingJob, training_key
from core.runs.executors import Executor, LocalExecutor, make_executor
from core.runs.experiment import PreparedData
from core.runs.hosting import HostSettings
from core.runs.store import list_runs

CHECKPOINT_SECONDS = 2.0  # a killed server loses no finished epoch; the student's weights are at most this old


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
        self,
        configs,
        prepared: PreparedData,
        owner: str = "",
        extra: dict | None = None,
        then: Callable[[str], object] | None = None,
        join: Callable[[TrainingJob], bool] | None = None,
        group: str = "",
    ) -> list[TrainingJob]:
        """Train `configs` at the same time, as ONE training for this host's limits: they wait for one slot
        together, count once against the owner's limit and the queue, and once that slot is free each trains in
        its own thread, side by side (Try it's pair: on a personal machine one never waits behind the other,
        and on a host whose limit is one training per person the pair is still allowed). Each is an ordinary
        `TrainingJob` (its own epochs, ETA, run id, Stop); `QueueFull` (nothing started) as `submit`. `extra`: stored
        in each run's run.json (Try it on a host: `{"shared": True}`, the class's pair); `then`: each job's
        `TrainingJob.then` (what to compute from its stored run before it counts as done).

        `join`: whether a training already on the board (waiting, running, or finished with its run stored) may stand
        in for an identical config (Try it: `core.tryit.may_join`). Such configs are joined, not trained again, and
        that is decided under the board's lock together with registering the rest, so a class's clicks at the same
        moment never train the same thing twice (they did when each page checked first and submitted seconds later:
        fifteen students, four identical pairs one after the other, 2026-12-08). Returns one job per config, in
        order: the joined ones and the new ones; the new ones carry `group` (default: a fresh id), so a caller that names
        it can tell which were joined."""
        group = group or uuid.uuid4().hex[:12]
        now = time.time()
        jobs = [
            TrainingJob(
                config=c, prepared=prepared, owner=owner, group=group, submitted=now, extra=dict(extra or {}), then=then
            )
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

        with self._lock:
            chosen = [(self._identical(job.config, join) if join is not None else None) or job for job in jobs]
            jobs = [job for job, pick in zip(jobs, chosen) if pick is job]  # those that train now
            if jobs:
                self._register_locked(jobs[0], *jobs[1:])
        if jobs:
            self._start(jobs[0], together, "together")
        return chosen

    def _identical(self, config: TrainConfig, join: Callable[[TrainingJob], bool]) -> TrainingJob | None:
        """The newest training on the board with this config that `join` accepts: waiting or running (nobody asked it
        to stop), or finished with its run in the store. The caller holds the board's lock."""
        found = sorted(
            (j for j in self._jobs.values() if isinstance(j, TrainingJob) and j.config == config),
            key=lambda j: j.submitted,
            reverse=True,
        )
        for job in found:
            live = not job.done and not job.stop_requested
            stored = (
                job.state is JobState.FINISHED and job.run_id and (self.runs_root / job.run_id / "run.json").exists()
            )
            if (live or stored) and join(job):
                return job
        return None

    def launch(self, job: Job, work, kind: str) -> Job:
        """Register `job` and run `work(job)` in a daemon thread once a training slot is free. Raises
        `QueueFull` (nothing started) when the owner has too many trainings or the queue is full."""
        self._register(job)
        return self._start(job, work, kind)

    def _start(self, job: Job, work, kind: str) -> Job:
        """Run `work(job)` in a daemon thread once a training slot is free (`job` is registered already)."""

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
            self._register_locked(job, *others)

    def _register_locked(self, job: Job, *others: Job) -> None:
        """`_register`, the caller holding the board's lock."""
        self._forget_old()
        waiting = {training_key(j) for j in self._jobs.values() if j.state is JobState.QUEUED}
        mine = {training_key(j) for j in self._jobs.values() if not j.done and job.owner and j.owner == job.owner}
        if self.max_per_owner is not None and len(mine) >= self.max_per_owner:
            raise QueueFull(
                f"You already have {len(mine)} training(s) waiting or running (the limit here is "
                f"{self.max_per_owner}); wait for it to finish or stop it first."
            )
        epochs = max(j.epochs for j in (job, *others))
        if self.max_epochs is not None and epochs > self.max_epochs:
            raise QueueFull(f"{epochs} epochs is more than this host allows ({self.max_epochs}); choose fewer.")
        if self.max_queue is not None and len(waiting) >= self.max_queue:
            raise QueueFull(f"{len(waiting)} trainings are already waiting on this host; try again in a few minutes.")
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
                training_key(j)
                for j in self._jobs.values()
                if j.state is JobState.QUEUED and j.submitted < job.submitted and training_key(j) != training_key(job)
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
                if job.then is not None and len(run.records) == job.config.epochs:
                    job.phase = "trained; now scoring it on the story's words…"
                    try:
                        job.then(run.run_id)
                    except (LabError, OSError, ValueError):  # a run that cannot be read back: the page that opens it
                        pass  # computes it again and says what is wrong; the training itself is stored and done
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
