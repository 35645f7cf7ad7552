"""The ray executor (core.runs.executors) on a real Ray cluster: a local one on 127.0.0.1 with 2 CPUs, started
once for the module and stopped at its end. A grid through Ray stores the same runs as the local executor;
the job board's progress, live epochs, queue and Stop work as they do locally; a worker killed mid-run is retried
(or, without retries, its run is kept as interrupted with its journaled epochs). Skipped where Ray is not installed."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the ray executor's tests need Ray (pip install ray==2.60.0)")

from core.config import LemmaMode, TrainConfig  # noqa: E402
from core.jobs import JobBoard, JobState, start_sweep  # noqa: E402
from core.runs import executors  # noqa: E402
from core.runs.executors import RayExecutor, RayUnavailable  # noqa: E402
from core.runs.experiment import prepare_items  # noqa: E402
from core.runs.store import list_runs, load_run  # noqa: E402
from core.runs.sweep import SweepGrid, run_sweep  # noqa: E402
from core.teachers.teacher import CachedTeacher, HashTeacher  # noqa: E402

WORDS = [f"w{i:03d}" for i in range(200)] + ["cats", "cat", "was", "be"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster on 127.0.0.1 with 2 CPUs, started once for the module (by this process, which is its
    driver: `ray.shutdown()` stops every process it started); the executors below find Ray connected and use it."""
    if ray.is_initialized():
        pytest.skip("Ray is already connected in this process")
    ray.init(
        address="local",
        num_cpus=2,
        num_gpus=0,
        _node_ip_address="127.0.0.1",
        include_dashboard=False,
        object_store_memory=200 * 2**20,
        logging_level="WARNING",
        log_to_driver=False,
    )
    try:
        yield "local"
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    teacher = CachedTeacher(HashTeacher(8), tmp_path_factory.mktemp("cache"))
    return {
        LemmaMode.NONE: prepare_items(WORDS, "none", teacher),
        LemmaMode.LOOKUP: prepare_items(WORDS, "lookup", teacher),
    }


def wait_for(condition, timeout: float = 60.0) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def curves(runs_root: Path) -> dict:
    """Every stored run's epochs, by its settings."""
    out = {}
    for run_id in list_runs(runs_root)["run_id"].to_list():
        run = load_run(runs_root, run_id)
        key = tuple(sorted(run.config.to_dict().items()))
        assert key not in out
        out[key] = (run.meta["status"], run.epochs, run.items)
    return out


def test_a_grid_through_ray_stores_the_same_runs_as_the_local_executor(cluster, prepared, tmp_path):
    grid = SweepGrid(
        teacher="hash-8",
        models=("A", "B", "subword"),  # A and B train as groups, the subword student alone
        ps=(0.1, 0.5),
        epochs=3,
        lemmatize=("none", "lookup"),
        poison=(0.0, 0.1),
        vocabulary="t",
    )
    local = list(run_sweep(grid, prepared, tmp_path / "local", device="cpu"))[-1]
    assert (local.done, local.trained) == (24, 24)

    board = JobBoard(tmp_path / "ray", executor=RayExecutor(cluster))
    job = start_sweep(board, grid, prepared, owner="ada")
    assert wait_for(lambda: job.done, 120), job.snapshot()
    snap = job.snapshot()
    assert snap["state"] is JobState.FINISHED and (snap["done"], snap["total"], snap["reused"]) == (24, 24, 0)
    assert sorted(snap["run_ids"]) == sorted(list_runs(tmp_path / "ray")["run_id"].to_list())

    here, there = curves(tmp_path / "local"), curves(tmp_path / "ray")
    assert here.keys() == there.keys() and len(here) == 24
    for key, (status, epochs, items) in here.items():
        status_ray, epochs_ray, items_ray = there[key]
        assert status == status_ray == "finished"
        assert items["split"].to_list() == items_ray["split"].to_list()
        for column in ("train_loss", "train_cosine", "heldout_cosine"):
            a, b = epochs[column].to_list(), epochs_ray[column].to_list()
            assert max(abs(x - y) for x, y in zip(a, b)) < 1e-5, (dict(key), column, a, b)
    assert not list((tmp_path / "ray").glob(".live-*"))  # every journal closed
    assert {load_run(tmp_path / "ray", r).meta["executor"] for r in snap["run_ids"]} == {"ray"}  # trained on Ray

    # A server that starts again finds Ray's finished runs: the same sweep reuses every one of them.
    again = list(run_sweep(grid, prepared, tmp_path / "ray", device="cpu", owner="ada"))[-1]
    assert (again.reused, again.trained) == (24, 0)


def test_the_board_with_ray_shows_live_epochs_queue_and_stop(cluster, prepared, tmp_path):
    board = JobBoard(tmp_path / "runs", max_concurrent=1, executor=RayExecutor(cluster))
    data = prepared[LemmaMode.NONE]
    long = board.submit(TrainConfig(teacher="hash-8", p=0.5, epochs=1000, batch_size=4), data, owner="ada")
    short = board.submit(TrainConfig(teacher="hash-8", p=0.5, epochs=3), data, owner="bob")
    assert wait_for(lambda: len(long.snapshot()["records"]) >= 3, 60), long.snapshot()
    snap = long.snapshot()
    assert snap["state"] is JobState.RUNNING and snap["eta_seconds"] is not None
    assert [r.epoch for r in snap["records"]] == list(range(1, len(snap["records"]) + 1))  # the live chart's epochs
    assert board.queue_position(short) == 1
    long.stop()
    assert wait_for(lambda: long.done and short.done, 60)
    assert long.state is JobState.STOPPED and 3 <= len(long.records) < 1000
    stored = load_run(tmp_path / "runs", long.run_id)
    assert stored.meta["status"] == "stopped" and stored.epochs.height == len(long.records)
    assert short.state is JobState.FINISHED and len(short.records) == 3 and short.summary["epochs"] == 3


def test_stop_cancels_a_sweeps_tasks(cluster, prepared, tmp_path):
    """Stop while a sweep's tasks run and wait for a worker: the running ones keep their finished epochs (stopped),
    the waiting ones never start, and the same sweep resumes."""
    grid = SweepGrid(teacher="hash-8", models=("subword",), ps=(0.1, 0.2, 0.3, 0.4, 0.5), epochs=400, vocabulary="t")
    board = JobBoard(tmp_path / "runs", executor=RayExecutor(cluster))
    job = start_sweep(board, grid, {LemmaMode.NONE: prepared[LemmaMode.NONE]}, owner="ada")
    assert wait_for(lambda: len(board.executor.workers()) == 2, 60)  # two tasks on the two CPUs, three waiting
    job.stop()
    assert wait_for(lambda: job.done, 60) and job.state is JobState.STOPPED
    stored = list_runs(tmp_path / "runs")
    assert 1 <= stored.height <= 2 and set(stored["status"]) <= {"stopped", "finished"}
    assert not list((tmp_path / "runs").glob(".live-*"))


def _kill_mid_run(board, data, retries_seen: list) -> object:
    job = board.submit(TrainConfig(teacher="hash-8", p=0.5, epochs=300, batch_size=4), data, owner="ada")
    assert wait_for(lambda: len(job.snapshot()["records"]) >= 3, 60), job.snapshot()
    (pid,) = board.executor.workers().values()
    retries_seen.append(len(job.snapshot()["records"]))
    os.kill(pid, signal.SIGKILL)
    return job


def test_a_killed_worker_is_retried_and_its_half_run_replaced(cluster, prepared, tmp_path):
    board = JobBoard(tmp_path / "runs", executor=RayExecutor(cluster, retries=1))
    seen: list = []
    job = _kill_mid_run(board, prepared[LemmaMode.NONE], seen)
    assert wait_for(lambda: job.done, 90), job.snapshot()
    assert job.state is JobState.FINISHED and len(job.records) == 300, job.error
    assert [r.epoch for r in job.records] == list(range(1, 301))
    stored = list_runs(tmp_path / "runs")  # the dead attempt's half-written run is gone: one complete run
    assert stored["status"].to_list() == ["finished"] and stored["run_id"][0] == job.run_id
    assert not list((tmp_path / "runs").glob(".live-*"))


def test_a_killed_worker_without_retries_keeps_its_run_as_interrupted(cluster, prepared, tmp_path):
    board = JobBoard(tmp_path / "runs", executor=RayExecutor(cluster, retries=0))
    seen: list = []
    job = _kill_mid_run(board, prepared[LemmaMode.NONE], seen)
    assert wait_for(lambda: job.done, 60), job.snapshot()
    assert job.state is JobState.FAILED and "kept as interrupted" in job.error
    stored = list_runs(tmp_path / "runs")
    assert stored["status"].to_list() == ["interrupted"]
    run = load_run(tmp_path / "runs", stored["run_id"][0])
    assert seen[0] <= run.epochs.height < 300  # every epoch journaled before the kill
    assert run.epochs["epoch"].to_list() == list(range(1, run.epochs.height + 1))
    assert not list((tmp_path / "runs").glob(".live-*"))


def test_an_unreachable_cluster_is_a_sentence(monkeypatch):
    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # as in a fresh server process
    with pytest.raises(RayUnavailable, match="cannot be reached .*ray start --head"):
        executors.connect_ray(f"127.0.0.1:{_free_port()}")
    with pytest.raises(RayUnavailable, match="is not HOST:PORT"):
        executors.connect_ray("nowhere")
