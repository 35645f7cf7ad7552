"""The ray executor (core.runs.executors) on a real Ray cluster: a local one on 127.0.0.1 with 2 CPUs. A grid through
Ray stores the same runs as the local executor; the job board's progress, live epochs, queue and Stop work as they do
locally; a worker killed mid-run is retried (or, without retries, its run is kept as interrupted with its journaled
epochs). Skipped where Ray is not installed.

No Ray driver lives in the test process: Ray ends its driver's process when the driver loses its raylet or its object
store. In a run beside two busy processes the grid test timed out, its job thread went on following its tasks, the
module's `ray.shutdown()` pulled Ray from under it, Ray started a second cluster inside the pytest process by itself,
and that one's core worker ended the process ("The connection to the plasma store is failed. Terminate the
process"): no summary, exit 1. So each test's body runs in a child process (`in_driver`) that starts its own cluster
(the engine's generous health checks, executors.LOCAL_SYSTEM_CONFIG), stops and joins whatever the body left running,
then stops the cluster: a body that fails is a failed test with its traceback, a child that dies is a failed test
naming its exit code and Ray's last warnings, and this process carries on."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import traceback
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
from tests.waiting import wait_for  # noqa: E402

WORDS = [f"w{i:03d}" for i in range(200)] + ["cats", "cat", "was", "be"]
# Generous on a busy 2-core machine (quiet, the grid takes ~2 min and the others seconds): how long a test waits for
# what it checks, and how long one driver process may take in all before it is killed and the test fails.
WAIT_SECONDS = 600.0
DRIVER_SECONDS = 1500.0
OUTCOME = "driver-outcome.txt"
SESSION = "ray-session.txt"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _prepared(cache: Path) -> dict:
    teacher = CachedTeacher(HashTeacher(8), cache)
    return {
        LemmaMode.NONE: prepare_items(WORDS, "none", teacher),
        LemmaMode.LOOKUP: prepare_items(WORDS, "lookup", teacher),
    }


def _driver(body: str, folder: str, cluster: bool = True) -> None:
    """A child process: start a local Ray cluster on 127.0.0.1 with 2 CPUs as its driver (the engine's generous
    health checks, LOCAL_SYSTEM_CONFIG), run `body(folder)`, write how it went, stop the cluster."""
    from core import jobs

    outcome = Path(folder) / OUTCOME
    try:
        if not cluster:
            globals()[body](Path(folder))
        context = ray.init(
            address="local",
            num_cpus=2,
            num_gpus=0,
            _node_ip_address="127.0.0.1",
            include_dashboard=False,
            object_store_memory=200 * 2**20,
            logging_level="WARNING",
            log_to_driver=False,
            _system_config=executors.LOCAL_SYSTEM_CONFIG,
        )
        (Path(folder) / SESSION).write_text(context.address_info["session_dir"])
        globals()[body](Path(folder))
        outcome.write_text("passed")
    except BaseException:  # noqa: BLE001 - handed to the test process as text
        outcome.write_text(traceback.format_exc())
    finally:
        jobs.close_all(WAIT_SECONDS)  # what a failed body left running stops before the cluster does
        ray.shutdown()  # stops every process of the cluster


def in_driver(body, folder: Path, cluster: bool = True) -> None:
    """Run `body(folder)` in a child process that runs a Ray cluster and is its driver; fail with the body's
    traceback, or with the process's exit code (and the tail of Ray's logs) when it died."""
    # No second cluster started behind the driver's back (the child is spawned: it imports ray afresh and reads this).
    os.environ["RAY_ENABLE_AUTO_CONNECT"] = "0"
    process = multiprocessing.get_context("spawn").Process(
        target=_driver, args=(body.__name__, str(folder), cluster), name=f"ray-driver-{body.__name__}"
    )
    process.start()
    process.join(DRIVER_SECONDS)
    if process.is_alive():
        process.kill()
        process.join(30)
        pytest.fail(f"the Ray driver of {body.__name__} was still running after {DRIVER_SECONDS:.0f} s: killed")
    outcome = folder / OUTCOME
    if not outcome.exists():
        session = folder / SESSION
        logs = Path(session.read_text()) / "logs" if session.exists() else None
        pytest.fail(
            f"the Ray driver of {body.__name__} died (exit code {process.exitcode}) before it finished; "
            + (f"Ray's logs: {logs}\n{_log_tail(logs)}" if logs else "before Ray had started")
        )
    text = outcome.read_text()
    if text != "passed":
        pytest.fail(f"in the Ray driver process:\n{text}", pytrace=False)


def _log_tail(logs: Path, lines: int = 20) -> str:
    """The warnings and errors Ray's own processes logged last (what a dead driver could not say)."""
    found = []
    for name in ("raylet.out", "gcs_server.out", *sorted(p.name for p in logs.glob("python-core-driver-*.log"))):
        path = logs / name
        if path.exists():
            found += [
                f"{name}: {line}"
                for line in path.read_text(errors="replace").splitlines()
                if " E " in line or " W " in line or " F " in line
            ]
    return "\n".join(found[-lines:])


def curves(runs_root: Path) -> dict:
    """Every stored run's epochs, by its settings."""
    out = {}
    for run_id in list_runs(runs_root)["run_id"].to_list():
        run = load_run(runs_root, run_id)
        key = tuple(sorted(run.config.to_dict().items()))
        assert key not in out
        out[key] = (run.meta["status"], run.epochs, run.items)
    return out


def _a_grid_through_ray_stores_the_same_runs_as_the_local_executor(tmp_path: Path) -> None:
    prepared = _prepared(tmp_path / "cache")
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

    board = JobBoard(tmp_path / "ray", executor=RayExecutor("auto"))
    job = start_sweep(board, grid, prepared, owner="ada")
    assert wait_for(lambda: job.done, WAIT_SECONDS), job.snapshot()
    snap = job.snapshot()
    assert snap.state is JobState.FINISHED and (snap.done_runs, snap.total_runs, snap.reused) == (24, 24, 0)
    assert sorted(snap.run_ids) == sorted(list_runs(tmp_path / "ray")["run_id"].to_list())

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
    assert {load_run(tmp_path / "ray", r).meta["executor"] for r in snap.run_ids} == {"ray"}  # trained on Ray

    # A server that starts again finds Ray's finished runs: the same sweep reuses every one of them.
    again = list(run_sweep(grid, prepared, tmp_path / "ray", device="cpu", owner="ada"))[-1]
    assert (again.reused, again.trained) == (24, 0)


def _the_board_with_ray_shows_live_epochs_queue_and_stop(tmp_path: Path) -> None:
    prepared = _prepared(tmp_path / "cache")
    board = JobBoard(tmp_path / "runs", max_concurrent=1, executor=RayExecutor("auto"))
    data = prepared[LemmaMode.NONE]
    long = board.submit(TrainConfig(teacher="hash-8", p=0.5, epochs=1000, batch_size=4), data, owner="ada")
    short = board.submit(TrainConfig(teacher="hash-8", p=0.5, epochs=3), data, owner="bob")
    assert wait_for(lambda: len(long.snapshot().records) >= 3, WAIT_SECONDS), long.snapshot()
    snap = long.snapshot()
    assert snap.state is JobState.RUNNING and snap.eta_seconds is not None
    assert [r.epoch for r in snap.records] == list(range(1, len(snap.records) + 1))  # the live chart's epochs
    assert board.queue_position(short) == 1
    long.stop()
    assert wait_for(lambda: long.done and short.done, WAIT_SECONDS)
    assert long.state is JobState.STOPPED and 3 <= len(long.records) < 1000
    stored = load_run(tmp_path / "runs", long.run_id)
    assert stored.meta["status"] == "stopped" and stored.epochs.height == len(long.records)
    assert short.state is JobState.FINISHED and len(short.records) == 3 and short.summary["epochs"] == 3


def _stop_cancels_a_sweeps_tasks(tmp_path: Path) -> None:
    """Stop while a sweep's tasks run and wait for a worker: the running ones keep their finished epochs (stopped),
    the waiting ones never start, and the same sweep resumes."""
    prepared = _prepared(tmp_path / "cache")
    grid = SweepGrid(teacher="hash-8", models=("subword",), ps=(0.1, 0.2, 0.3, 0.4, 0.5), epochs=400, vocabulary="t")
    board = JobBoard(tmp_path / "runs", executor=RayExecutor("auto"))
    job = start_sweep(board, grid, {LemmaMode.NONE: prepared[LemmaMode.NONE]}, owner="ada")
    runs = tmp_path / "runs"

    def journaled() -> list[Path]:  # runs whose first epoch is journaled (a task may begin long before that)
        found = []
        for journal in runs.glob(".live-*/epochs.jsonl"):
            try:
                if journal.read_text().strip():
                    found.append(journal)
            except OSError:  # stored and moved meanwhile
                continue
        return found

    # two tasks on the two CPUs, each with a finished epoch; three waiting
    assert wait_for(lambda: len(board.executor.workers()) == 2 and len(journaled()) == 2, WAIT_SECONDS)
    job.stop()
    assert wait_for(lambda: job.done, WAIT_SECONDS) and job.state is JobState.STOPPED, job.snapshot()
    stored = list_runs(runs)
    assert 1 <= stored.height <= 2 and set(stored["status"]) <= {"stopped", "finished"}, stored
    assert not list((tmp_path / "runs").glob(".live-*"))


def _kill_mid_run(board, data, retries_seen: list) -> object:
    job = board.submit(TrainConfig(teacher="hash-8", p=0.5, epochs=300, batch_size=4), data, owner="ada")
    assert wait_for(lambda: len(job.snapshot().records) >= 3, WAIT_SECONDS), job.snapshot()
    (pid,) = board.executor.workers().values()
    retries_seen.append(len(job.snapshot().records))
    os.kill(pid, signal.SIGKILL)
    return job


def _a_killed_worker_is_retried_and_its_half_run_replaced(tmp_path: Path) -> None:
    prepared = _prepared(tmp_path / "cache")
    board = JobBoard(tmp_path / "runs", executor=RayExecutor("auto", retries=1))
    seen: list = []
    job = _kill_mid_run(board, prepared[LemmaMode.NONE], seen)
    assert wait_for(lambda: job.done, WAIT_SECONDS), job.snapshot()
    assert job.state is JobState.FINISHED and len(job.records) == 300, job.error
    assert [r.epoch for r in job.records] == list(range(1, 301))
    stored = list_runs(tmp_path / "runs")  # the dead attempt's half-written run is gone: one complete run
    assert stored["status"].to_list() == ["finished"] and stored["run_id"][0] == job.run_id
    assert not list((tmp_path / "runs").glob(".live-*"))


def _a_killed_worker_without_retries_keeps_its_run_as_interrupted(tmp_path: Path) -> None:
    prepared = _prepared(tmp_path / "cache")
    board = JobBoard(tmp_path / "runs", executor=RayExecutor("auto", retries=0))
    seen: list = []
    job = _kill_mid_run(board, prepared[LemmaMode.NONE], seen)
    assert wait_for(lambda: job.done, WAIT_SECONDS), job.snapshot()
    assert job.state is JobState.FAILED and "kept as interrupted" in job.error
    stored = list_runs(tmp_path / "runs")
    assert stored["status"].to_list() == ["interrupted"]
    run = load_run(tmp_path / "runs", stored["run_id"][0])
    assert seen[0] <= run.epochs.height < 300  # every epoch journaled before the kill
    assert run.epochs["epoch"].to_list() == list(range(1, run.epochs.height + 1))
    assert not list((tmp_path / "runs").glob(".live-*"))


# ---- the tests: each body above in a driver process of its own ----------------------------------------------------


@pytest.mark.ray
def test_a_grid_through_ray_stores_the_same_runs_as_the_local_executor(tmp_path):
    in_driver(_a_grid_through_ray_stores_the_same_runs_as_the_local_executor, tmp_path)


@pytest.mark.ray
def test_the_board_with_ray_shows_live_epochs_queue_and_stop(tmp_path):
    in_driver(_the_board_with_ray_shows_live_epochs_queue_and_stop, tmp_path)


@pytest.mark.ray
def test_stop_cancels_a_sweeps_tasks(tmp_path):
    in_driver(_stop_cancels_a_sweeps_tasks, tmp_path)


@pytest.mark.ray
def test_a_killed_worker_is_retried_and_its_half_run_replaced(tmp_path):
    in_driver(_a_killed_worker_is_retried_and_its_half_run_replaced, tmp_path)


@pytest.mark.ray
def test_a_killed_worker_without_retries_keeps_its_run_as_interrupted(tmp_path):
    in_driver(_a_killed_worker_without_retries_keeps_its_run_as_interrupted, tmp_path)


@pytest.mark.subprocess
def test_a_driver_that_dies_fails_its_test_and_nothing_else(tmp_path):
    """What a Ray driver's death does here: its test fails, saying so, and this process carries on."""
    with pytest.raises(pytest.fail.Exception, match=r"died \(exit code 3\)"):
        in_driver(_dies, tmp_path, cluster=False)


def _dies(tmp_path: Path) -> None:
    os._exit(3)  # as Ray's core worker leaves a process whose raylet or object store is gone


def test_an_unreachable_cluster_is_a_sentence(monkeypatch):
    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # as in a fresh server process
    with pytest.raises(RayUnavailable, match="cannot be reached .*ray start --head"):
        executors.connect_ray(f"127.0.0.1:{_free_port()}")
    with pytest.raises(RayUnavailable, match="is not HOST:PORT"):
        executors.connect_ray("nowhere")
