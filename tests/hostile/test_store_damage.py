"""Issue 23, finding 4 (and the store side of 2 and 3): a damaged run file or an unwritable lab home gives a
sentence, never a traceback.

Every reader of the run store raises `DamagedData` (naming the run and the file) for whatever the file's
format library raised; the listing skips a damaged run and keeps the others; every writer raises
`StorageUnavailable`; the CLI prints one line and exits 2.

An unwritable home is simulated two honest ways, since these tests run as root (where chmod stops
nothing): (a) the write itself is patched to raise `PermissionError(13)` — what a read-only or foreign-owned
folder gives a normal user; (b) the lab's folder is a *file* where a folder is expected — a real OS error
(NotADirectoryError / FileExistsError) from the real call, no patching.
"""

from __future__ import annotations

import errno
import pathlib
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from core.__main__ import main
from core.errors import DamagedData, StorageUnavailable
from core.runs.store import delete_run, list_runs, load_run, save_run, set_shared
from core.runs.sweep import sweep_frame

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(stored_run_parts, lab_home):
    """The lab's own runs folder with two runs in it; returns (runs folder, first run id, second run id)."""
    from core.paths import runs_dir

    config, dataset, records, model = stored_run_parts
    root = runs_dir()
    first = save_run(root, config, dataset, records, model, teacher_id="hash-16", teacher_queries=30)
    second = save_run(root, config, dataset, records, model, teacher_id="hash-16", teacher_queries=30)
    return root, first, second


def _sentence(err: Exception, *words: str) -> None:
    text = str(err)
    assert "\n" not in text and text.endswith("."), text
    for word in words:
        assert word in text, (word, text)


@pytest.mark.parametrize("name", ["epochs.parquet", "items.parquet"])
def test_a_garbage_parquet_file_is_damaged_data_naming_run_and_file(store, name):
    root, run_id, other = store
    (root / run_id / name).write_bytes(b"PAR1" + b"\x07" * 300 + b"PAR1")
    with pytest.raises(DamagedData) as caught:
        load_run(root, run_id)
    _sentence(caught.value, run_id, name)
    assert load_run(root, other).epochs.height == 3  # the other run is untouched
    assert set(list_runs(root)["run_id"]) >= {other}


def test_a_missing_epochs_file_is_damaged_data(store):
    root, run_id, _ = store
    (root / run_id / "epochs.parquet").unlink()
    with pytest.raises(DamagedData, match="epochs.parquet"):
        load_run(root, run_id)


def test_epochs_without_their_metric_columns_are_damaged_not_a_chart_crash(store):
    """Finding 2's ColumnNotFoundError: seconds on a classmate's Sweep page: the store refuses the run when it is
    read (the page already skips a run whose load raises a ValueError)."""
    root, run_id, _ = store
    path = root / run_id / "epochs.parquet"
    pl.read_parquet(path).drop("seconds").write_parquet(path)
    with pytest.raises(DamagedData, match="seconds"):
        load_run(root, run_id)


def test_an_epochs_table_far_longer_than_the_run_is_refused_without_reading_it(store):
    root, run_id, _ = store
    path = root / run_id / "epochs.parquet"
    pl.concat([pl.read_parquet(path)] * 5_000).write_parquet(path)  # 15,000 rows for a 3-epoch run
    with pytest.raises(DamagedData, match="rows"):
        load_run(root, run_id)


def test_a_deeply_nested_run_json_is_damaged_data_and_the_listing_survives(store):
    root, run_id, other = store
    (root / run_id / "run.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(DamagedData, match="run.json"):
        load_run(root, run_id)
    assert list_runs(root)["run_id"].to_list() == [other]


def test_damaged_means_are_damaged_data(store):
    root, run_id, _ = store
    stored = load_run(root, run_id)
    (root / run_id / "means.parquet").write_bytes(b"garbage")
    with pytest.raises(DamagedData, match="means.parquet"):
        stored.means()


def test_a_well_formed_run_still_draws(store):
    root, run_id, other = store
    frame = sweep_frame([load_run(root, run_id), load_run(root, other)])
    assert frame.height == 6 and "seconds" in frame.columns


# The CLI: one line, exit 2, for every command that touches a damaged run.


def _cli(args, home: Path) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-m", "core", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "EMBEDDING_LAB_HOME": str(home)},
    )


def _one_line(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()  # `embed` says what it read first; the error is the last line, and one
    assert "Traceback" not in proc.stderr and lines[-1].startswith("error: ") and len(lines) <= 2, proc.stderr[-2000:]
    for word in words:
        assert word in lines[-1], proc.stderr


@pytest.mark.subprocess
@pytest.mark.parametrize("name", ["epochs.parquet", "items.parquet"])
def test_cli_evaluate_and_export_on_a_damaged_run_say_one_line(store, lab_home, tmp_path, name):
    root, run_id, _ = store
    (root / run_id / name).write_bytes(b"garbage")
    for command in (
        ["evaluate", "--run", run_id, "--no-cost"],
        ["export", run_id, "--to", str(tmp_path / "out")],
        ["export", run_id, "--run-zip", "--to", str(tmp_path / "out.zip")],
    ):
        code = main(command)
        assert code == 2
    _one_line(_cli(["export", run_id, "--to", str(tmp_path / "out2")], lab_home), name)


def _permission_denied(*args, **kwargs):
    raise PermissionError(errno.EACCES, "Permission denied")


@pytest.fixture
def vocab_file(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("\n".join(f"w{i}" for i in range(40)))
    return path


def test_train_in_a_read_only_home_says_one_line(lab_home, vocab_file, monkeypatch, capsys):
    """(a) patched: every folder the lab would create is refused, as on a read-only disk."""
    monkeypatch.setattr(pathlib.Path, "mkdir", _permission_denied)
    assert main(["train", "--teacher", "hash-8", "--vocab", str(vocab_file), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "EMBEDDING_LAB_HOME" in err


def test_saving_a_run_in_a_read_only_store_is_storage_unavailable(stored_run_parts, tmp_path, monkeypatch):
    config, dataset, records, model = stored_run_parts
    (tmp_path / "runs").mkdir()
    monkeypatch.setattr(pathlib.Path, "mkdir", _permission_denied)
    with pytest.raises(StorageUnavailable) as caught:
        save_run(tmp_path / "runs", config, dataset, records, model, teacher_id="hash-16", teacher_queries=30)
    _sentence(caught.value, "runs")


def test_a_full_disk_while_saving_is_storage_unavailable_and_leaves_nothing(stored_run_parts, tmp_path, monkeypatch):
    config, dataset, records, model = stored_run_parts

    def disk_full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", disk_full)
    with pytest.raises(StorageUnavailable, match="full"):
        save_run(tmp_path / "runs", config, dataset, records, model, teacher_id="hash-16", teacher_queries=30)
    assert not list((tmp_path / "runs").iterdir())


def test_delete_and_share_in_a_read_only_store_say_one_line(store, monkeypatch, capsys):
    root, run_id, _ = store
    monkeypatch.setattr(pathlib.Path, "rename", _permission_denied)
    monkeypatch.setattr("os.replace", _permission_denied)
    with pytest.raises(StorageUnavailable):
        delete_run(root, run_id)
    with pytest.raises(StorageUnavailable):
        set_shared(root, run_id, True)
    assert main(["delete", run_id]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert (root / run_id / "run.json").exists()


def test_import_into_a_read_only_store_says_one_line(store, tmp_path, monkeypatch, capsys):
    root, run_id, _ = store
    assert main(["export", run_id, "--run-zip", "--to", str(tmp_path / "run.zip")]) == 0
    monkeypatch.setattr(pathlib.Path, "mkdir", _permission_denied)
    assert main(["import", str(tmp_path / "run.zip")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "writ" in err


@pytest.mark.subprocess
def test_a_home_that_is_a_file_gives_one_line_for_every_command(tmp_path, vocab_file):
    """(b) real: the lab home's path is a file, so the real mkdir fails (NotADirectoryError), no patching."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    home = blocker / "lab"
    for args in (
        ["train", "--teacher", "hash-8", "--vocab", str(vocab_file), "--epochs", "1"],
        ["embed", "--teacher", "hash-8", "--vocab", str(vocab_file)],
        ["runs"],
        ["delete", "some-run"],
        ["import", str(vocab_file)],
    ):
        _one_line(_cli(args, home), str(home))


def test_runs_folder_that_is_a_file_lists_as_storage_unavailable(tmp_path):
    (tmp_path / "runs").write_text("x")
    with pytest.raises(StorageUnavailable):
        list_runs(tmp_path / "runs")
