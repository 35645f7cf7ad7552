"""Where trainings run: in this process (`local`, the default) or as tasks on a Ray cluster (`ray`).

What a run does is one function, `train_batch` (one run, or a group of lookup-table runs that step together,
`core.words.train.train_group`); an executor only decides where it runs. Both executors take the same batches and
yield the same `BatchResult`s, so a sweep (`core.runs.sweep.run_sweep`) and the job board (`core.jobs`) are one
code path whichever runs the training:

    executor = make_executor("ray", address="auto")          # or LocalExecutor()
    for result in executor.run(batches, prepared, runs_root, checkpoint_every=30.0, should_stop=stop.is_set):
        result.runs[0].run_id, result.runs[0].epochs_done

`ray`: each batch is one Ray task (`cpus_per_run` CPUs, `gpus_per_run` GPUs), at most as many in flight as the
cluster has room for. The tasks write their run folders themselves, into the lab's runs folder — the same path on
every worker (shared storage; one machine shares it trivially) — with the same journal and checkpoints as a local
run (`checkpoint_every`), so `core.runs.store.recover_interrupted` keeps the epochs of any run whose worker dies.
The server follows them through a small Ray actor (a mailbox): each attempt says when it starts (its process),
which runs it journals, and (for the job board's live chart) every epoch; Stop sets a flag the tasks read between
epochs (a task still waiting for a worker is cancelled, `ray.cancel`), so a stopped run keeps its finished epochs as
it does here. A worker that dies mid-run: Ray runs the task again (`retries` times); the dead attempt's half-written
run is stored as *interrupted* with its journaled epochs at once, and removed once the retry has stored the same run
complete (same seed: same curves). When every attempt dies, each keeps its epochs as an interrupted run and the
executor raises `WorkerLost` (a sentence naming them) after the other batches are done.

Ray is imported only by `RayExecutor` (`pip install ray==2.60.0`); without it, a sentence says so (`RayUnavailable`).

The parts: `core.runs.batches` (what a run does: `train_batch`), `core.runs.ray_cluster` (the ray executor, its
mailbox and retries); here the `Executor` protocol, the local executor, and `make_executor`. The names callers use are
re-exported here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from core.config import LemmaMode, TrainConfig
from core.runs.batches import BatchResult, RunResult, train_batch
from core.runs.experiment import PreparedData
from core.runs.hosting import EXECUTORS
from core.runs.ray_cluster import (
    DEFAULT_CHECKPOINT_SECONDS,
    LOCAL_SYSTEM_CONFIG,
    RayExecutor,
    RayUnavailable,
    WorkerLost,
    connect_ray,
    import_ray,
    ray_installed,
)
from core.words.train import EpochRecord

__all__ = [
    "DEFAULT_CHECKPOINT_SECONDS",
    "LOCAL_SYSTEM_CONFIG",
    "BatchResult",
    "Executor",
    "LocalExecutor",
    "RayExecutor",
    "RayUnavailable",
    "RunResult",
    "WorkerLost",
    "check_executor",
    "connect_ray",
    "make_executor",
    "ray_installed",
    "train_batch",
]


def check_executor(name: str) -> str:
    """'local' or 'ray' (any case); a sentence for anything else."""
    value = str(name or "").strip().lower()
    if value not in EXECUTORS:
        raise ValueError(f"The executor must be 'local' or 'ray', got {name!r}.")
    return value


@runtime_checkable
class Executor(Protocol):
    """Where a board's trainings run (`core.jobs.JobBoard`): what both executors offer, so the board never asks which
    one it holds. `connecting` is the phase a job shows while `connect()` runs ('' when there is nothing to reach);
    `run` trains batches and yields each `BatchResult` as it ends, hearing `on_begin` / `on_epoch` / `on_phase`."""

    name: str
    connecting: str

    def connect(self) -> object: ...

    def run(
        self,
        batches: Sequence[Sequence[TrainConfig]],
        prepared: Mapping[LemmaMode, PreparedData],
        runs_root: Path,
        *,
        device: str | None = None,
        should_stop: Callable[[], bool] | None = None,
        checkpoint_every: float | None = None,
        extra: dict | None = None,
        cache_root: Path | None = None,
        on_begin: Callable[[int], None] | None = None,
        on_epoch: Callable[[int, int, EpochRecord], None] | None = None,
        on_phase: Callable[[str], None] | None = None,
    ) -> Iterator[BatchResult]: ...


class LocalExecutor:
    """Today's way: every batch in the calling thread, one after the other."""

    name = "local"
    connecting = ""  # nothing to reach

    def connect(self) -> None:
        """Nothing to connect to: the batches train in the calling thread."""

    def run(
        self,
        batches: Sequence[Sequence[TrainConfig]],
        prepared: Mapping[LemmaMode, PreparedData],
        runs_root: Path,
        *,
        device: str | None = None,
        should_stop: Callable[[], bool] | None = None,
        checkpoint_every: float | None = None,
        extra: dict | None = None,
        cache_root: Path | None = None,
        on_begin: Callable[[int], None] | None = None,
        on_epoch: Callable[[int, int, EpochRecord], None] | None = None,
        on_phase: Callable[[str], None] | None = None,
    ) -> Iterator[BatchResult]:
        """Train `batches` in order; yields each as it ends. Stops before the next batch when `should_stop()`."""
        for index, batch in enumerate(batches):
            if should_stop and should_stop():
                return
            if on_begin is not None:
                on_begin(index)
            start = time.perf_counter()
            runs = train_batch(
                batch,
                prepared[batch[0].lemmatize],
                runs_root,
                device=device,
                should_stop=should_stop,
                checkpoint_every=checkpoint_every,
                extra=extra,
                cache_root=cache_root,
                on_epoch=None if on_epoch is None else (lambda i, r, index=index: on_epoch(index, i, r)),
            )
            yield BatchResult(index, tuple(RunResult.of(r) for r in runs), time.perf_counter() - start)


def make_executor(
    name: str = "local", address: str = "", cpus_per_run: float = 1.0, gpus_per_run: float = 0.0
) -> Executor:
    """The executor a setting names: 'local' (nothing to install) or 'ray' (Ray must be importable: a sentence
    otherwise; the cluster is reached on first use)."""
    if check_executor(name) == "local":
        return LocalExecutor()
    if not ray_installed():
        import_ray()
    return RayExecutor(address, cpus_per_run, gpus_per_run)
