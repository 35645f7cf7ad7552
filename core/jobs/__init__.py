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

The parts: `kinds` (the jobs and their snapshots), `board` (the board and its limits), `sweeps` (a grid as a job),
`features` (the cheap models' features, computed or waited for), `estimates` (how long, in plain words). Their
public names are re-exported here: `from core.jobs import JobBoard, duration`.
"""

from __future__ import annotations

from core.jobs.board import CHECKPOINT_SECONDS, JobBoard, close_all
from core.jobs.estimates import duration, estimate_seconds, remaining_seconds
from core.jobs.features import feature_needs, features_seconds, prepare_cheap_features
from core.jobs.kinds import (
    DONE,
    Job,
    JobState,
    QueueFull,
    SlotJob,
    SweepJob,
    SweepSnapshot,
    TrainingJob,
    TrainingSnapshot,
    training_key,
)
from core.jobs.sweeps import start_sweep, sweep_estimate

__all__ = [
    "CHECKPOINT_SECONDS",
    "DONE",
    "Job",
    "JobBoard",
    "JobState",
    "QueueFull",
    "SlotJob",
    "SweepJob",
    "SweepSnapshot",
    "TrainingJob",
    "TrainingSnapshot",
    "close_all",
    "duration",
    "estimate_seconds",
    "feature_needs",
    "features_seconds",
    "prepare_cheap_features",
    "remaining_seconds",
    "start_sweep",
    "sweep_estimate",
    "training_key",
]
