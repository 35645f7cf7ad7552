"""Issue 23, findings 2 and 3: a run's zip from someone else is checked against itself before it is stored.

Each test builds a hostile variant of one small, honest run (twenty words, the fake hash teacher) and
checks that the import refuses it with a sentence (`ImportRefused`), leaves nothing on disk, and that
nothing imported is ever reused as a point of someone's sweep.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import polars as pl
import pytest

from core.config import TrainConfig
from core.data.corpus import Vocabulary
from core.runs.experiment import TrainingRun, prepare_items
from core.runs.hosting import HostSettings
from core.runs.store import list_runs, load_run
from core.runs.sweep import find_stored
from core.runs.takeaway import ImportRefused, import_run, zip_run
from core.teachers.teacher import CachedTeacher, HashTeacher

WORDS = [f"word{i}" for i in range(20)]


@pytest.fixture
def honest(tmp_path):
    """An honest run's files, by name (its config names its vocabulary's label, as the pages and the CLI do)."""
    vocab = Vocabulary(WORDS, "tiny")
    prepared = prepare_items(WORDS, "none", CachedTeacher(HashTeacher(8), tmp_path / "cache"))
    config = TrainConfig(teacher="hash-8", model="B", p=0.5, epochs=3, vocabulary=vocab.label)
    run = TrainingRun(config, prepared, tmp_path / "runs", device="cpu")
    list(run)
    with zipfile.ZipFile(io.BytesIO(zip_run(load_run(tmp_path / "runs", run.run_id)))) as z:
        return {name.split("/", 1)[1]: z.read(name) for name in z.namelist() if not name.endswith("run_card.json")}


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in files.items():
            z.writestr(f"run/{name}", content)
    return buffer.getvalue()


def _parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def _with_meta(files, **changes) -> dict[str, bytes]:
    meta = json.loads(files["run.json"])
    meta.update(changes)
    return {**files, "run.json": json.dumps(meta).encode()}


def _refused(data: bytes, root, match: str, **kwargs) -> ImportRefused:
    with pytest.raises(ImportRefused, match=match) as caught:
        import_run(data, root, **kwargs)
    message = str(caught.value)
    assert message.endswith(".") and "\n" not in message and len(message) < 400  # one sentence
    assert not root.exists() or not any(root.iterdir()), "a refused import left files behind"
    return caught.value


def test_the_honest_run_imports(honest, tmp_path):
    run_id = import_run(_zip(honest), tmp_path / "store")
    assert run_id in list_runs(tmp_path / "store")["run_id"].to_list()


# Finding 2: a run's items must be the vocabulary its config names, and every file must have its columns.


def test_items_that_are_not_the_declared_vocabulary_are_refused(honest, tmp_path):
    items = pl.read_parquet(io.BytesIO(honest["items.parquet"]))
    forged = items.with_columns(pl.Series("item", [f"fake{i}" for i in range(items.height)]))
    _refused(_zip({**honest, "items.parquet": _parquet(forged)}), tmp_path / "store", "vocabulary")


def test_a_vocabulary_label_whose_size_differs_from_the_items_is_refused(honest, tmp_path):
    meta = json.loads(honest["run.json"])
    meta["config"]["vocabulary"] = "default-10000-" + meta["config"]["vocabulary"].rsplit("-", 1)[1]
    _refused(_zip({**honest, "run.json": json.dumps(meta).encode()}), tmp_path / "store", "vocabulary")


def test_epochs_without_the_metric_columns_are_refused(honest, tmp_path):
    epochs = pl.read_parquet(io.BytesIO(honest["epochs.parquet"])).drop("seconds")
    _refused(_zip({**honest, "epochs.parquet": _parquet(epochs)}), tmp_path / "store", "epochs.parquet")


def test_epochs_with_text_where_numbers_belong_are_refused(honest, tmp_path):
    epochs = pl.read_parquet(io.BytesIO(honest["epochs.parquet"])).with_columns(pl.col("seconds").cast(pl.Utf8))
    _refused(_zip({**honest, "epochs.parquet": _parquet(epochs)}), tmp_path / "store", "epochs.parquet")


def test_an_imported_run_is_never_reused_as_a_point_of_a_sweep(honest, tmp_path):
    """A well-formed run claiming a grid point (0.02 s, loss 0.001) would be drawn as a paper figure on every
    classmate's Sweep page: imported runs are listed and opened, never reused in place of training."""
    root = tmp_path / "store"
    run_id = import_run(_zip(honest), root)
    table = list_runs(root)
    stored = load_run(root, run_id)
    assert table.filter(pl.col("run_id") == run_id)["imported"].to_list() == [True]
    assert find_stored(table, stored.config, stored.meta["teacher_id"]) is None
    shared = table.with_columns(shared=pl.lit(True))  # shared in the gallery changes nothing
    assert find_stored(shared, stored.config, stored.meta["teacher_id"]) is None


# Finding 3: import gaps.


def test_epochs_done_that_is_not_a_number_is_refused(honest, tmp_path):
    _refused(_zip(_with_meta(honest, epochs_done="lots")), tmp_path / "store", "epochs_done")


def test_a_run_id_with_a_trailing_newline_gets_a_fresh_name(honest, tmp_path):
    root = tmp_path / "store"
    run_id = import_run(_zip(_with_meta(honest, run_id="evilrun\n")), root)
    assert "\n" not in run_id and all("\n" not in p.name for p in root.iterdir())
    assert run_id in list_runs(root)["run_id"].to_list()


def test_a_deeply_nested_run_json_is_refused(honest, tmp_path):
    _refused(
        _zip({**honest, "run.json": b'{"final": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"}),
        tmp_path / "store",
        "run.json",
    )


def test_a_nested_run_json_within_the_recursion_limit_is_refused_too(honest, tmp_path):
    meta = json.loads(honest["run.json"])
    meta["extra"] = json.loads("[" * 200 + "]" * 200)
    _refused(_zip({**honest, "run.json": json.dumps(meta).encode()}), tmp_path / "store", "run.json")


def test_a_garbage_items_parquet_is_refused(honest, tmp_path):
    _refused(_zip({**honest, "items.parquet": b"PAR1" + b"\x07" * 500 + b"PAR1"}), tmp_path / "store", "items.parquet")


def test_a_garbage_epochs_parquet_is_refused(honest, tmp_path):
    _refused(_zip({**honest, "epochs.parquet": b"not parquet at all"}), tmp_path / "store", "epochs.parquet")


def test_a_small_zip_that_unpacks_to_a_huge_file_is_refused_before_anything_is_written(honest, tmp_path, monkeypatch):
    """274 KB of zip held a 201 MB parquet: the sizes in the zip's directory are checked against what a run
    of this size can need before any member is opened."""
    bomb = {**honest, "items.parquet": honest["items.parquet"] + b"\x00" * (60 << 20)}
    data = _zip(bomb)
    assert len(data) < 1 << 20
    opened = []
    real_open = zipfile.ZipFile.open
    monkeypatch.setattr(
        zipfile.ZipFile,
        "open",
        lambda self, name, *a, **k: (opened.append(getattr(name, "filename", name)), real_open(self, name, *a, **k))[1],
    )
    _refused(data, tmp_path / "store", "items.parquet")
    assert not any(name.endswith("items.parquet") for name in opened)


def test_a_zip_over_the_hosts_upload_limit_is_refused(honest, tmp_path):
    hosted = HostSettings(hosted=True, max_upload_mb=0.001)
    _refused(_zip(honest), tmp_path / "store", "MB", limits=hosted)


def test_a_run_larger_than_the_host_allows_is_refused(honest, tmp_path):
    hosted = HostSettings(hosted=True, max_epochs=2)
    _refused(_zip(honest), tmp_path / "store", "epochs", limits=hosted)


def test_an_epochs_table_with_far_more_rows_than_the_run_has_epochs_is_refused(honest, tmp_path):
    """91 KB of zip held 50 million epoch rows, re-read on every open: rows are counted from the Parquet
    footer (nothing read) and must be the run's own epochs_done."""
    epochs = pl.read_parquet(io.BytesIO(honest["epochs.parquet"]))
    many = pl.concat([epochs] * 40_000)  # 120,000 rows for a 3-epoch run
    _refused(_zip({**honest, "epochs.parquet": _parquet(many)}), tmp_path / "store", "epochs")


def test_means_with_more_rows_than_epochs_times_items_are_refused(honest, tmp_path):
    means = pl.DataFrame(
        {
            "epoch": np.ones(100_000, np.int32),
            "item_index": np.zeros(100_000, np.int32),
            "mean": np.zeros(100_000, np.float32),
        }
    )
    _refused(_zip({**honest, "means.parquet": _parquet(means)}), tmp_path / "store", "means.parquet")


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("created", "yesterday", "created"),
        ("created", 12, "created"),
        ("teacher_id", "", "teacher"),
        ("status", "finished", None),  # finished with the epochs it has: fine
        ("items", 999, "items"),
        ("train_size", 1, "train"),
    ],
)
def test_run_json_fields_are_checked_against_the_files(honest, tmp_path, field, value, match):
    data = _zip(_with_meta(honest, **{field: value}))
    if match is None:
        assert import_run(data, tmp_path / "store")
    else:
        _refused(data, tmp_path / "store", match)


def test_a_finished_run_with_fewer_epochs_than_its_config_is_refused(honest, tmp_path):
    meta = json.loads(honest["run.json"])
    meta["config"]["epochs"] = 50
    _refused(_zip({**honest, "run.json": json.dumps(meta).encode()}), tmp_path / "store", "epochs")


# The Runs page's import box: the host's upload limit is applied before the upload is read, and every refusal is
# a sentence. (AppTest cannot fill a file uploader, so st.file_uploader is replaced by one that hands over a file.)


class _Upload:
    def __init__(self, data: bytes):
        self.data, self.size, self.name, self.read_whole = data, len(data), "run.zip", False

    def getvalue(self) -> bytes:
        self.read_whole = True
        return self.data


def _runs_page_with(upload, monkeypatch, **env):
    import streamlit as st

    from tests.app.apphelpers import make_app

    st.cache_data.clear()  # the host's settings are cached: each test reads its own
    st.cache_resource.clear()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(st, "file_uploader", lambda *a, **k: upload)
    at = make_app("runs")
    at.button(key="run_import").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_runs_page_applies_the_hosts_upload_limit_before_reading(honest, monkeypatch):
    upload = _Upload(_zip(honest))
    at = _runs_page_with(upload, monkeypatch, EMBEDDING_LAB_HOSTED="true", EMBEDDING_LAB_MAX_UPLOAD_MB="0.001")
    assert any("at most 0.001 MB" in e.value for e in at.error) and not upload.read_whole


def test_the_runs_page_shows_a_refused_import_as_a_sentence(honest, monkeypatch):
    at = _runs_page_with(_Upload(_zip(_with_meta(honest, epochs_done="lots"))), monkeypatch)
    assert any("epochs_done" in e.value for e in at.error), (
        [e.value for e in at.error],
        [s.value for s in at.success],
        [i.value for i in at.info],
    )


def test_the_runs_page_shows_a_read_only_store_as_a_sentence(honest, monkeypatch):
    import errno
    import pathlib

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    upload = _Upload(_zip(honest))
    import streamlit as st

    from tests.app.apphelpers import make_app

    st.cache_data.clear()
    st.cache_resource.clear()
    monkeypatch.setattr(st, "file_uploader", lambda *a, **k: upload)
    at = make_app("runs")
    monkeypatch.setattr(pathlib.Path, "rename", denied)  # the run's folder cannot be moved into the store
    at.button(key="run_import").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("cannot write" in e.value for e in at.error)
