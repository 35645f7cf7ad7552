"""A sweep (a grid of runs) as a job on the board, holding one training slot throughout, and its time before it starts."""

from __future__ import annotations

import time
from pathlib import Path

from core.context import Lab
from core.jobs.board import JobBoard
from core.jobs.estimates import estimate_seconds
from core.jobs.features import feature_needs, features_seconds, prepare_cheap_features
from core.jobs.kinds import JobState, SweepJob
from core.runs.store import list_runs
from core.runs.sweep import SWEEP_CHECKPOINT_SECONDS, find_stored, run_sweep
from core.runs.visibility import visible_runs


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
        features_seconds(c, prepared.get(c.lemmatize), cache_root) for c in feature_needs(grid.configs())
    )
