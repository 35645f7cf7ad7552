"""Nothing lost: a training process killed with SIGKILL keeps every finished epoch, and the next start
lists the run ('interrupted') with a student that loads."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.runs.store import list_runs, load_run, recover_interrupted, save_run

ROOT = Path(__file__).resolve().parents[2]


def _kill_when_journaled(
    tmp_path: Path, command: list[str], runs: int, epochs: int, seconds: float
) -> tuple[Path, int]:
    """Start `python -m core <command>` in a lab home of its own; SIGKILL it once `runs` runs each have their
    first checkpoint and at least `epochs` journaled epochs. Returns the runs folder and the fewest
    epochs a journal held at the kill."""
    env = {**os.environ, "EMBEDDING_LAB_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", *command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    folder = tmp_path / "runs"
    try:
        deadline = time.time() + seconds
        while time.time() < deadline:
            journals = list(folder.glob(".live-*/epochs.jsonl")) if folder.exists() else []
            if (
                len(journals) == runs
                and all(len(j.read_text().splitlines()) >= epochs for j in journals)
                and len([p for p in folder.iterdir() if p.name[0] != "."]) == runs
            ):
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"'{command[0]}' never got going")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        return folder, min(len(j.read_text().splitlines()) for j in journals)
    finally:
        if proc.poll() is None:
            proc.kill()


def _assert_interrupted_with_every_epoch(run, seen: int) -> None:
    assert run.meta["status"] == "interrupted"
    assert run.epochs.height == run.meta["epochs_done"] >= seen  # every epoch the journal saw (the kill may come later)
    assert run.epochs["epoch"].to_list() == list(range(1, run.epochs.height + 1))
    assert 1 <= run.meta["weights_epoch"] <= run.epochs.height
    assert run.student().embedding.weight.shape[0] == run.meta["items"]  # the last checkpoint's weights load


@pytest.mark.subprocess
def test_a_killed_training_keeps_every_finished_epoch(tmp_path):
    runs, seen = _kill_when_journaled(
        tmp_path,
        ["train", "--teacher", "hash-32", "--model", "B", "--p", "0.5", "--epochs", "1000", "--json"],
        runs=1,
        epochs=8,
        seconds=600,  # generous: a busy machine (it ends as soon as the journal has its epochs)
    )
    assert seen >= 8
    (run_id,) = recover_interrupted(runs)
    assert recover_interrupted(runs) == []  # once is enough
    _assert_interrupted_with_every_epoch(load_run(runs, run_id), seen)
    table = list_runs(runs)
    assert table.height == 1 and table["status"][0] == "interrupted"
    assert not list(runs.glob(".*"))  # no journal, temp or old folder left behind


@pytest.mark.subprocess
def test_a_killed_sweep_keeps_every_finished_epoch_of_the_group_in_training(tmp_path):
    # Two runs of Model B training as one group (core.kernels.grouped); the process dies mid-way.
    runs, seen = _kill_when_journaled(
        tmp_path,
        ["sweep", "--teacher", "hash-32", "--models", "B", "--ps", "0.2,0.5", "--epochs", "1000", "--json"],
        runs=2,
        epochs=5,
        seconds=600,
    )
    recovered = recover_interrupted(runs)
    assert len(recovered) == 2
    for run_id in recovered:
        run = load_run(runs, run_id)
        assert run.meta["sweep"] and run.meta["grouped_with"] == 2
        _assert_interrupted_with_every_epoch(run, max(seen, 5))
    assert sorted(load_run(runs, r).config.p for r in recovered) == [0.2, 0.5]
    assert not list(runs.glob(".*"))


def test_a_checkpoint_swapped_out_when_the_process_died_is_put_back(tmp_path, stored_run_parts):
    config, dataset, records, model = stored_run_parts
    run_id = save_run(tmp_path, config, dataset, records, model, teacher_id="hash-32", teacher_queries=1)
    (tmp_path / run_id).rename(tmp_path / f".old-{run_id}-abc123")  # the moment between the two renames
    recover_interrupted(tmp_path)
    assert load_run(tmp_path, run_id).epochs.height == len(records)


def test_a_live_run_is_left_alone_and_a_reused_pid_is_not_fooled(tmp_path, stored_run_parts):
    from core.runs.store import start_journal

    config, dataset, records, model = stored_run_parts
    run_id = save_run(
        tmp_path, config, dataset, records, model, teacher_id="hash-32", teacher_queries=1, status="running"
    )
    live = start_journal(tmp_path, run_id)  # this process is training it
    assert recover_interrupted(tmp_path) == [] and live.exists()
    # a server restarted in a container often gets the same pid: the journal of the dead one must not look alive
    owner = json.loads((live / "owner.json").read_text())
    (live / "owner.json").write_text(json.dumps({**owner, "token": "another-process"}))
    assert recover_interrupted(tmp_path) == [run_id]
    assert load_run(tmp_path, run_id).meta["status"] == "interrupted"


def test_a_damaged_checkpoint_does_not_stop_recovery(tmp_path, stored_run_parts):
    config, dataset, records, model = stored_run_parts
    bad = save_run(tmp_path, config, dataset, records, model, teacher_id="hash-32", teacher_queries=1, status="running")
    good = save_run(
        tmp_path, config, dataset, records, model, teacher_id="hash-32", teacher_queries=1, status="running"
    )
    for run_id in (bad, good):
        live = tmp_path / f".live-{run_id}"
        live.mkdir()
        (live / "owner.json").write_text(json.dumps({"pid": 2**22 + 12345}))  # no such process
        (live / "epochs.jsonl").write_text("")
    (tmp_path / bad / "epochs.parquet").write_bytes(b"garbage")
    assert recover_interrupted(tmp_path) == [good]
