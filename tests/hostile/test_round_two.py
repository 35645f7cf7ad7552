"""Issue 33, round two: what an export, a damaged journal and a hostile import still did.

- Finding 1 (and the export parts of 13 and 15): `export --to` never writes into a folder holding files it did not
  make, never overwrites a file, says a sentence for every unusable target (a file, a folder for a zip, a missing
  folder, /proc, a full disk: nothing half-written is left), and refuses a zip of a run another lab would refuse.
- Finding 2: recovery never makes a finished run worse (a journal is validated line by line, a finished run is
  never rewritten from one); a run left "running" with no journal can be deleted.
- Finding 6: an imported `teacher_id` or student `cheap` that is not a cache name is refused; a stored one is
  never joined onto the cache folder.
- Finding 8: every imported number is in its range (finite weights, cosines in [-1, 1], rates in [0, 1], seconds
  finite and at least 0, finite means).

Every run here is twenty words trained for three epochs on the fake hash teacher, in the test's private lab home.
"""

from __future__ import annotations

import errno
import io
import json
import os
import pathlib
import sqlite3
import zipfile

import numpy as np
import polars as pl
import pytest

from core.__main__ import main
from core.config import TrainConfig
from core.data.corpus import Vocabulary
from core.errors import DamagedData
from core.runs.experiment import TrainingRun, prepare_items
from core.runs.store import delete_run, list_runs, load_run, save_run, start_journal
from core.runs.takeaway import ImportRefused, import_run, zip_run
from core.teachers.teacher import CachedTeacher, HashTeacher
from tests.hostile.test_import_hostile import _parquet, _zip  # the importer tests' own zip and Parquet builders

WORDS = [f"word{i}" for i in range(20)]


@pytest.fixture
def run_id(lab_home) -> str:
    """An honest, finished run in the lab's own store."""
    from core.paths import runs_dir

    prepared = prepare_items(WORDS, "none", CachedTeacher(HashTeacher(8), lab_home / "cache" / "teachers"))
    config = TrainConfig(teacher="hash-8", model="B", p=0.5, epochs=3, vocabulary=Vocabulary(WORDS, "tiny").label)
    run = TrainingRun(config, prepared, runs_dir(), device="cpu")
    list(run)
    return run.run_id


@pytest.fixture
def runs(lab_home, run_id):
    from core.paths import runs_dir

    return runs_dir()


@pytest.fixture
def honest(runs, run_id) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(zip_run(load_run(runs, run_id)))) as z:
        return {name.split("/", 1)[1]: z.read(name) for name in z.namelist() if not name.endswith("run_card.json")}


def _one_line(capsys, *words: str) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and err.startswith("error: ") and "\n" not in err, err
    for word in words:
        assert word in err, (word, err)
    return err


# ---- finding 1, and the export parts of 13 and 15 ---------------------------------------------------------------


def test_export_never_writes_into_a_folder_with_files_it_did_not_make(run_id, tmp_path, monkeypatch, capsys):
    mine = tmp_path / "d"
    mine.mkdir()
    (mine / "README.md").write_text("mine")
    assert main(["export", run_id, "--to", str(mine)]) == 2
    _one_line(capsys, str(mine))
    monkeypatch.chdir(mine)
    assert main(["export", run_id, "--to", ""]) == 2  # '' is the current folder
    _one_line(capsys)
    assert [p.name for p in mine.iterdir()] == ["README.md"] and (mine / "README.md").read_text() == "mine"


def test_export_into_a_new_or_empty_folder_still_works(run_id, tmp_path):
    (tmp_path / "empty").mkdir()
    for target in (tmp_path / "new" / "student", tmp_path / "empty"):
        assert main(["export", run_id, "--to", str(target)]) == 0
        assert (target / "modules.json").exists() and (target / "run_card.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary folder left


@pytest.mark.parametrize(
    "make_target",
    [
        lambda tmp: ["--to", "/proc/x"],
        lambda tmp: ["--to", str(_file(tmp / "a-file"))],
        lambda tmp: ["--run-zip", "--to", str(tmp)],
        lambda tmp: ["--run-zip", "--to", "/no/dir/x.zip"],
        lambda tmp: ["--run-zip", "--to", str(_file(tmp / "taken.zip"))],
    ],
    ids=["proc", "existing-file", "zip-to-a-folder", "zip-in-no-folder", "zip-onto-a-file"],
)
def test_an_unusable_export_target_is_one_sentence(run_id, tmp_path, capsys, make_target):
    args = make_target(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert main(["export", run_id, *args]) == 2
    _one_line(capsys)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before  # nothing overwritten


def _file(path: pathlib.Path) -> pathlib.Path:
    path.write_text("someone's file")
    return path


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_leaves_no_truncated_zip(run_id, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(os, "fsync", _disk_full)  # where a full disk shows itself: the data written reaches it
    assert main(["export", run_id, "--run-zip", "--to", str(tmp_path / "run.zip")]) == 2
    _one_line(capsys, "full")
    assert not any(tmp_path.glob("*.zip")) and not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_a_full_disk_leaves_no_half_exported_folder(run_id, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pathlib.Path, "write_text", _disk_full)  # the run card, written last
    assert main(["export", run_id, "--to", str(tmp_path / "student")]) == 2
    _one_line(capsys, "full")
    assert list(tmp_path.iterdir()) == [tmp_path / "lab"]


@pytest.mark.parametrize(
    "damage",
    [
        lambda folder: (folder / "student.safetensors").write_bytes(
            (folder / "student.safetensors").read_bytes()[:100]
        ),
        lambda folder: (folder / "student.safetensors").unlink(),
        lambda folder: (folder / "student.json").write_text("{"),
        lambda folder: (folder / "means.parquet").write_bytes(b"PAR1garbagePAR1"),
    ],
    ids=["truncated-weights", "no-weights", "garbage-student-json", "garbage-means"],
)
def test_a_run_zip_of_a_damaged_run_is_refused(runs, run_id, tmp_path, capsys, damage):
    assert (runs / run_id / "means.parquet").exists()
    damage(runs / run_id)
    assert main(["export", run_id, "--run-zip", "--to", str(tmp_path / "run.zip")]) != 0
    _one_line(capsys)
    assert not (tmp_path / "run.zip").exists()


def test_a_run_zip_that_is_written_imports(runs, run_id, tmp_path):
    assert main(["export", run_id, "--run-zip", "--to", str(tmp_path / "run.zip")]) == 0
    assert import_run((tmp_path / "run.zip").read_bytes(), tmp_path / "elsewhere") == run_id


# ---- finding 2 ---------------------------------------------------------------------------------------------------


def _dead_journal(runs, run_id, lines: list) -> None:
    live = runs / f".live-{run_id}"
    live.mkdir()
    (live / "owner.json").write_text(json.dumps({"pid": 2**22 + 12345}))  # no such process
    (live / "epochs.jsonl").write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    )


def _epoch(n: int, **changes) -> dict:
    row = {
        "epoch": n,
        "train_loss": 0.5,
        "train_cosine": 0.5,
        "heldout_cosine": 0.4,
        "heldout_euclidean": 1.0,
        "epoch_seconds": 0.1,
        "seconds": 0.1 * n,
    }
    return {**row, **changes}


@pytest.mark.parametrize(
    "lines",
    [[_epoch(n) for n in range(1, 11)], [{"epoch": n} for n in range(1, 11)], [{"x": 1}] * 4],
    ids=["more-lines-than-epochs", "lines-without-scores", "not-epochs"],
)
def test_a_journal_never_rewrites_a_finished_run(runs, run_id, capsys, lines):
    before = (runs / run_id / "epochs.parquet").read_bytes(), load_run(runs, run_id).meta
    _dead_journal(runs, run_id, lines)
    assert main(["runs"]) == 0
    after = load_run(runs, run_id)
    assert (runs / run_id / "epochs.parquet").read_bytes() == before[0]
    assert after.meta == before[1] and after.meta["status"] == "finished" and after.meta["epochs_done"] == 3
    assert run_id in list_runs(runs)["run_id"].to_list()
    assert not (runs / f".live-{run_id}").exists()


@pytest.fixture
def checkpoint(stored_run_parts, runs):
    """A run checkpointed after its first epoch (status 'running'), of three."""
    config, dataset, records, model = stored_run_parts
    return save_run(
        runs, config, dataset, records[:1], model, teacher_id="hash-16", teacher_queries=1, status="running"
    )


@pytest.mark.parametrize(
    "lines, kept",
    [
        ([{"epoch": 1}, {"epoch": 2}, {"epoch": 3}], 1),  # no scores: nothing to add
        ([_epoch(1), _epoch(2), _epoch(3, heldout_cosine=float("nan"))], 2),  # NaN: the journal ends before it
        ([_epoch(1), _epoch(2), _epoch(3, train_cosine=7.0)], 2),  # a cosine of 7
        ([_epoch(1), _epoch(2), _epoch(2)], 2),  # epochs out of order
        ([_epoch(n) for n in range(1, 9)], 3),  # more epochs than the run has: never past its own
        ([_epoch(1), _epoch(2), '{"epoch": 3, "train_lo'], 2),  # a torn last line
        ([_epoch(1), _epoch(2, seconds="soon")], 1),
    ],
    ids=["no-scores", "nan", "cosine-7", "out-of-order", "too-many", "torn", "text"],
)
def test_recovery_keeps_only_valid_epochs(runs, checkpoint, lines, kept):
    _dead_journal(runs, checkpoint, lines)
    assert main(["runs"]) == 0
    run = load_run(runs, checkpoint)
    assert run.meta["status"] == "interrupted" and run.meta["epochs_done"] == kept == run.epochs.height
    assert run.epochs["epoch"].to_list() == list(range(1, kept + 1))
    assert run.epochs.null_count().row(0)[:3] == (0, 0, 0)  # epoch, train_loss, train_cosine: no null rows
    assert checkpoint in list_runs(runs)["run_id"].to_list()


def test_a_running_run_without_a_journal_can_be_deleted(runs, checkpoint, capsys):
    assert main(["delete", checkpoint]) == 0
    assert not (runs / checkpoint).exists()


def test_a_run_still_being_trained_cannot_be_deleted(runs, checkpoint):
    start_journal(runs, checkpoint)  # this process is training it
    with pytest.raises(ValueError, match="still being trained"):
        delete_run(runs, checkpoint)
    assert (runs / checkpoint).exists()


# ---- finding 6 ---------------------------------------------------------------------------------------------------


def _with_meta(files, **changes) -> dict[str, bytes]:
    meta = json.loads(files["run.json"])
    meta.update(changes)
    return {**files, "run.json": json.dumps(meta).encode()}


def _refused(data: bytes, root, *words: str) -> str:
    with pytest.raises(ImportRefused) as caught:
        import_run(data, root)
    message = str(caught.value)
    assert message.endswith(".") and "\n" not in message and len(message) < 400, message
    for word in words:
        assert word in message, (word, message)
    assert not root.exists() or not any(root.iterdir()), "a refused import left files behind"
    return message


@pytest.mark.parametrize("teacher_id", ["../../../../tmp/x/stolen", "/tmp/x/stolen", "a/b", "..", "x\x00y"])
def test_an_imported_teacher_id_that_is_a_path_is_refused(honest, tmp_path, teacher_id):
    _refused(_zip(_with_meta(honest, teacher_id=teacher_id)), tmp_path / "store", "teacher_id")


@pytest.mark.parametrize("cheap", ["../../../../tmp/x/stolen", "/etc/passwd", "a/b"])
def test_an_imported_cheap_encoder_that_is_a_path_is_refused(honest, tmp_path, cheap):
    student = json.loads(honest["student.json"])
    files = {**honest, "student.json": json.dumps({**student, "cheap": cheap}).encode()}
    _refused(_zip(files), tmp_path / "store", "cheap")


def test_a_stored_teacher_id_that_is_a_path_never_opens_that_file(runs, run_id, tmp_path, capsys):
    stolen = tmp_path / "x" / "stolen.sqlite"
    stolen.parent.mkdir()
    sqlite3.connect(stolen).execute("CREATE TABLE vectors (text TEXT, vec BLOB)").connection.commit()
    cache = runs.parent / "cache" / "teachers"
    relative = os.path.relpath(stolen.with_suffix(""), cache)
    meta = json.loads((runs / run_id / "run.json").read_text())
    (runs / run_id / "run.json").write_text(json.dumps({**meta, "teacher_id": relative}))
    with pytest.raises(DamagedData, match="teacher_id"):
        load_run(runs, run_id)
    before = stolen.stat().st_atime_ns, stolen.read_bytes()
    assert main(["evaluate", "--run", run_id, "--no-cost"]) == 2
    _one_line(capsys, "teacher_id")
    assert stolen.read_bytes() == before[1]


def test_a_cache_id_must_stay_inside_the_cache_folder(tmp_path):
    from core.paths import cache_file

    assert cache_file(tmp_path, "hash-16") == tmp_path / "hash-16.sqlite"
    for bad in ("../x", "/etc/passwd", "a/b", "", ".", "..", "x\x00"):
        with pytest.raises(ValueError, match="cache"):
            cache_file(tmp_path, bad)


# ---- finding 8 ---------------------------------------------------------------------------------------------------


def _weights(honest, value: float) -> bytes:
    from safetensors.torch import load, save

    tensors = load(honest["student.safetensors"])
    name = next(iter(tensors))
    tensors[name] = tensors[name].clone()
    tensors[name].view(-1)[0] = value
    return save(tensors)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_weights_that_are_not_finite_are_refused(honest, tmp_path, value):
    _refused(_zip({**honest, "student.safetensors": _weights(honest, value)}), tmp_path / "store", "weights")


@pytest.mark.parametrize(
    "key, value",
    [
        ("heldout_cosine", 1e308),
        ("train_cosine", -1.5),
        ("seconds", float("nan")),
        ("seconds", -1.0),
        ("epoch_seconds", float("inf")),
        ("heldout_euclidean", -0.5),
        ("train_loss", float("nan")),
    ],
)
def test_impossible_final_scores_are_refused(honest, tmp_path, key, value):
    meta = json.loads(honest["run.json"])
    data = _zip(_with_meta(honest, final={**meta["final"], key: value}))
    _refused(data, tmp_path / "store", key)


@pytest.mark.parametrize(
    "key, value", [("detection_recall", 5.0), ("detection_precision", -0.1), ("detection_recall", float("nan"))]
)
def test_impossible_detection_rates_are_refused(honest, tmp_path, key, value):
    _refused(_zip(_with_meta(honest, **{key: value})), tmp_path / "store", key)


@pytest.mark.parametrize(
    "column, value", [("heldout_cosine", 1e308), ("train_cosine", float("nan")), ("seconds", -3.0)]
)
def test_impossible_epoch_scores_are_refused(honest, tmp_path, column, value):
    epochs = pl.read_parquet(io.BytesIO(honest["epochs.parquet"]))
    epochs = epochs.with_columns(pl.lit(value, dtype=pl.Float64).alias(column))
    _refused(_zip({**honest, "epochs.parquet": _parquet(epochs)}), tmp_path / "store", column)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_means_that_are_not_finite_are_refused(honest, tmp_path, value):
    means = pl.read_parquet(io.BytesIO(honest["means.parquet"]))
    means = means.with_columns(pl.lit(value, dtype=pl.Float32).alias("mean"))
    _refused(_zip({**honest, "means.parquet": _parquet(means)}), tmp_path / "store", "means")


def test_item_losses_that_are_not_finite_are_refused(honest, tmp_path):
    items = pl.read_parquet(io.BytesIO(honest["items.parquet"]))
    items = items.with_columns(pl.lit(float("inf"), dtype=pl.Float64).alias("loss"))
    _refused(_zip({**honest, "items.parquet": _parquet(items)}), tmp_path / "store", "loss")


def test_the_honest_run_still_imports(honest, tmp_path):
    run_id = import_run(_zip(honest), tmp_path / "store")
    back = load_run(tmp_path / "store", run_id)
    assert np.isfinite(back.epochs["train_loss"].to_numpy()).all()


def test_a_checkpoint_half_written_when_its_trainer_died_is_removed_at_once(tmp_path):
    """A kill during a checkpoint's write leaves a fresh `.tmp-<run>-<hex>` folder: recovery removes it at once when
    the run's journal says its writer is gone (not only once it is an hour old), and keeps it while the writer lives."""
    from core.runs.store import recover_interrupted

    root = tmp_path / "runs"
    dead = root / ".tmp-20261207-000000-B-p0.5-deadbeef-abc123"
    (root / ".live-20261207-000000-B-p0.5-deadbeef").mkdir(parents=True)  # no owner.json: its writer is gone
    dead.mkdir()
    alive_id = "20261207-000001-B-p0.5-c0ffee00"
    start_journal(root, alive_id)  # written by this process: alive
    alive = root / f".tmp-{alive_id}-def456"
    alive.mkdir()
    recover_interrupted(root)
    assert not dead.exists()
    assert alive.exists()


@pytest.mark.parametrize("final", [0, 5, "x", [1.0]])
def test_a_final_that_is_no_table_of_scores_is_refused(honest, tmp_path, final):
    """Found by the importer property (`make test`'s 1,000 examples): a run.json whose `final` is 0 was imported."""
    _refused(_zip(_with_meta(honest, final=final)), tmp_path / "store", "final")
