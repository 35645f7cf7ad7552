"""What a stored run's files may hold, checked as they are read: every file of a run comes from disk, a zip someone
sent, or a journal a dying process wrote, so each is bounded (bytes, rows, JSON depth), typed (a table's footer
before its pages) and ranged (every score within what this lab measures). A file that fails is DamagedData naming
it (or StorageUnavailable: no permission), never a traceback."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

from core.config import TrainConfig
from core.errors import DamagedData, StorageUnavailable
from core.paths import check_cache_id
from core.words.students import StudentConfig

# The range of every score a run holds (run.json's `final` and top level, epochs.parquet's columns, a journal's
# lines): an imported or journaled number outside it is not a score this lab measured. Cosines may pass ±1 by
# float32 rounding, so by a little. None (no held-out items, no poison found) is always allowed.
_COSINE = (-1.0 - 1e-4, 1.0 + 1e-4)
_RATE = (0.0, 1.0)
_NON_NEGATIVE = (0.0, float("inf"))
SCORE_RANGES: dict[str, tuple[float, float]] = {
    "train_loss": (-float("inf"), float("inf")),  # finite: a selection defence's loss has no tighter bound
    "train_cosine": _COSINE,
    "heldout_cosine": _COSINE,
    "heldout_euclidean": _NON_NEGATIVE,
    "epoch_seconds": _NON_NEGATIVE,
    "seconds": _NON_NEGATIVE,
    "detection_precision": _RATE,
    "detection_recall": _RATE,
    "defence_precision": _RATE,
    "defence_recall": _RATE,
}


def check_scores(values: dict) -> None:
    """Every score in `values` (the keys of SCORE_RANGES it holds) is None or a finite number in its range;
    TypeError naming the first that is not.

    >>> check_scores({"heldout_cosine": 0.8, "detection_recall": None})
    >>> check_scores({"detection_recall": 5.0})
    Traceback (most recent call last):
    TypeError: 'detection_recall' is 5, where it can only be from 0 to 1
    """
    for key, (low, high) in SCORE_RANGES.items():
        value = values.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
            raise TypeError(f"'{key}' is {str(value)[:40]}, not a finite number")
        if not low <= value <= high:
            where = {_COSINE: "from -1 to 1", _RATE: "from 0 to 1", _NON_NEGATIVE: "at least 0"}[(low, high)]
            raise TypeError(f"'{key}' is {value:g}, where it can only be {where}")


EPOCH_COLUMNS = {
    "epoch": pl.Int32,
    "train_loss": pl.Float64,
    "train_cosine": pl.Float64,
    "heldout_cosine": pl.Float64,
    "heldout_euclidean": pl.Float64,
    "epoch_seconds": pl.Float64,
    "seconds": pl.Float64,
}


ITEM_COLUMNS = {"item": pl.Utf8, "split": pl.Utf8, "poisoned": pl.Boolean, "loss": pl.Float64, "left_out": pl.Boolean}
MEANS_COLUMNS = {"epoch": pl.Int32, "item_index": pl.Int32, "mean": pl.Float32}
OPTIONAL_COLUMNS = {"items.parquet": {"loss", "left_out"}}  # older runs were saved without them
_TABLES = {"epochs.parquet": EPOCH_COLUMNS, "items.parquet": ITEM_COLUMNS, "means.parquet": MEANS_COLUMNS}
MAX_META_BYTES = 1 << 20  # a run.json is a few KB: a megabyte is a mistake or an attack
MAX_META_DEPTH = 12  # run.json nests three deep; json itself gives up (RecursionError) near 1,000
STATUSES = ("finished", "stopped", "interrupted", "running")


def _fits(dtype: pl.DataType, wanted: pl.DataType) -> bool:
    """Whether a stored column's type can stand for the type the lab writes (any integer for an integer,
    any number for a float: a run written by another polars version still reads; text is never a number)."""
    if dtype == pl.Null:
        return True  # a column with no value at all (held-out cosine when p = 1)
    if wanted.is_integer():
        return dtype.is_integer()
    if wanted.is_float():
        return dtype.is_numeric() and dtype != pl.Boolean
    if wanted == pl.Utf8:
        return dtype in (pl.Utf8, pl.Categorical)
    return dtype == wanted


def damaged(run_id: str, name: str, why: str) -> DamagedData:
    why = " ".join(why.split())  # one line, and short: a value in a hostile file can be any length
    why = why if len(why) <= 160 else why[:159] + "…"
    err = DamagedData(f"The run {run_id}'s {name} is damaged ({why}); delete the run, or import it again from its zip.")
    err.file, err.why = name, why  # the importer words its own sentence from these
    return err


@contextlib.contextmanager
def _reading(run_id: str, name: str) -> Iterator[None]:
    """Whatever a file's format library raises (polars' ComputeError, a Rust panic, json's RecursionError, an
    OSError) becomes one DamagedData sentence naming the run and the file; a PermissionError is no damage but
    StorageUnavailable (the file is closed to this user)."""
    try:
        yield
    except DamagedData:
        raise
    except FileNotFoundError:
        raise damaged(run_id, name, "the file is missing") from None
    except RecursionError:
        raise damaged(run_id, name, "nested too deeply") from None
    except PermissionError:  # the file is whole, only closed to this user: deleting the run would be wrong advice
        raise StorageUnavailable(
            f"The run {run_id}'s {name} cannot be read (no permission: another user owns it or its mode forbids "
            "reading); nothing is damaged: ask whoever owns the lab home."
        ) from None
    except OSError as err:
        raise damaged(run_id, name, f"cannot be read: {err.strerror or type(err).__name__}") from None
    except (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError):
        raise
    except BaseException as err:  # polars raises its own errors, and a Rust panic that is not even an Exception
        raise damaged(run_id, name, f"{_first_line(err)}") from None


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:120]}" if text else type(err).__name__


def _depth(value) -> int:
    """How deeply JSON nests, counted without recursion (the value may be deeper than Python's stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_META_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _bounded(folder: Path, run_id: str, name: str, most: int) -> bytes:
    """A run's small file, read up to one byte past `most` (so that a larger one is seen, never read whole)."""
    with _reading(run_id, name):
        with open(Path(folder) / name, "rb") as f:
            return f.read(most + 1)


def _json_object(raw: bytes | str, run_id: str, name: str, most: int, depth: int) -> dict:
    """A run's JSON file as a dict of at most `most` bytes nested at most `depth` deep; DamagedData otherwise
    (json itself gives up on deep nesting with a RecursionError, past every handler that expects a ValueError)."""
    if len(raw) > most:
        raise damaged(run_id, name, f"over {most >> 20} MB" if most >= 1 << 20 else f"over {most >> 10} KB")
    with _reading(run_id, name):
        value = json.loads(raw)
    if not isinstance(value, dict):
        raise damaged(run_id, name, "not a JSON object")
    if _depth(value) > depth:
        raise damaged(run_id, name, f"nested more than {depth} levels deep")
    return value


def parse_meta(raw: bytes | str, run_id: str) -> dict:
    """A run.json's text as a dict, bounded in size and depth; DamagedData otherwise."""
    return _json_object(raw, run_id, "run.json", MAX_META_BYTES, MAX_META_DEPTH)


def read_meta(folder: Path, run_id: str) -> dict:
    """A stored run's run.json (size and depth bounded); DamagedData when it is not a JSON object."""
    return parse_meta(_bounded(folder, run_id, "run.json", MAX_META_BYTES), run_id)


MAX_STUDENT_BYTES = 64 << 10  # a student.json is a few hundred bytes


def read_student(folder: Path, run_id: str, items: int | None = None) -> StudentConfig:
    """A stored run's student.json as the student's settings, bounded in size and depth; with `items`, its
    vocabulary must be the run's items. DamagedData naming the file otherwise."""
    name = "student.json"
    data = _json_object(_bounded(folder, run_id, name, MAX_STUDENT_BYTES), run_id, name, MAX_STUDENT_BYTES, 2)
    try:
        config = StudentConfig(**data)
    except (TypeError, ValueError) as err:
        raise damaged(run_id, name, f"its settings cannot be used: {str(err).rstrip('.')}") from None
    if items is not None and config.vocab_size != items:  # the student has one row per item of its run
        raise damaged(run_id, name, f"a student of {config.vocab_size:,} items in a run of {items:,}")
    return config


MAX_COUNT = 2**53  # no run counts more; the listing's Int64 columns cannot hold 2**63 (hypothesis found one)


def _int(meta: dict, key: str, low: int = 0, high: int | None = MAX_COUNT) -> int:
    value = meta[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        raise TypeError(
            f"'{key}' is not a whole number" + (f" from {low} to {high}" if high is not None else f" of at least {low}")
        )
    return value


def check_meta(meta: dict, run_id: str) -> TrainConfig:
    """Every field of a run.json that the lab reads has the type it needs (the listing, the pages and the
    charts take them as they are); returns the run's settings. DamagedData with the field's name otherwise.

    The same check decides whether a run is listed and whether an import is accepted, so an imported
    run can never be one that the listing then drops."""
    try:
        config = meta.get("config")
        if not isinstance(config, dict):
            raise TypeError("'config' is not a table of settings")
        try:
            settings = TrainConfig.from_dict(config)
        except (ValueError, TypeError) as err:
            raise TypeError(f"its settings are unusable: {str(err).rstrip('.')}") from None
        if not isinstance(settings.vocabulary, str) or len(settings.vocabulary) > 500:  # TrainConfig takes it as given
            raise TypeError("its vocabulary label is not text")
        if not isinstance(meta.get("run_id"), str) or not meta["run_id"]:
            raise TypeError("'run_id' is not text")
        for key in ("created", "teacher_id"):
            if not isinstance(meta.get(key), str) or not meta[key].strip() or len(meta[key]) > 500:
                raise TypeError(f"'{key}' is not text")
        try:  # it names the teacher's cache file: a path here would open any file on the machine
            check_cache_id(meta["teacher_id"], "teacher_id")
        except ValueError as err:
            raise TypeError(str(err).rstrip(".")) from None
        try:
            datetime.fromisoformat(meta["created"])
        except ValueError:
            raise TypeError("'created' is not a date (ISO 8601)") from None
        if meta.get("status", "finished") not in STATUSES:
            raise TypeError(f"'status' is not one of {', '.join(STATUSES)}")
        for key in ("items", "train_size", "heldout_size", "teacher_queries"):
            _int(meta, key)
        if meta["train_size"] + meta["heldout_size"] != meta["items"]:
            raise TypeError("'train_size' and 'heldout_size' do not add up to 'items'")
        for key, most in (("poisoned_items", "items"), ("poisoned_in_train", "train_size")):
            _int(meta, key, 0, meta[most])  # the Poisoning page reads both as counts
        if "epochs_done" in meta:
            _int(meta, "epochs_done", 0, settings.epochs)
        if meta.get("status", "finished") == "finished" and meta.get("epochs_done", settings.epochs) != settings.epochs:
            raise TypeError(f"it is 'finished' with {meta.get('epochs_done')} of its {settings.epochs} epochs")
        final = meta.get("final") or {}
        if not isinstance(final, dict) or not all(_number_or_none(v) for v in final.values()):
            raise TypeError("'final' holds something other than numbers")
        for key in ("detection_precision", "detection_recall"):
            if not _number_or_none(meta.get(key)):
                raise TypeError(f"'{key}' is not a number")
        if not isinstance(meta.get("owner", ""), str) or not isinstance(meta.get("shared", False), bool):
            raise TypeError("'owner' or 'shared' has the wrong type")
    except (TypeError, KeyError) as err:
        why = f"'{err.args[0]}' is missing" if isinstance(err, KeyError) else str(err)
        raise damaged(run_id, "run.json", why) from None
    return settings


def score_or_none(values: dict, key: str) -> float | None:
    """`values[key]` when it is a score in its range (`check_scores`), else None."""
    try:
        check_scores({key: values.get(key)})
    except TypeError:
        return None
    return values.get(key)


def _number_or_none(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


# Stored tables are read through pyarrow, not polars' own reader: on some damaged files (flipped bytes in a page)
# polars' reader aborts the whole process from a Rust thread — a server taken down by one file, past any
# except — where pyarrow raises an exception. polars then takes the table over (from_arrow).


def _footer(path: Path) -> tuple[int, dict[str, pl.DataType]]:
    """Rows and column types of a Parquet file, from its footer: nothing of the table is read."""
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as parquet:
        schema = pl.from_arrow(parquet.schema_arrow.empty_table()).schema
        return int(parquet.metadata.num_rows), dict(schema)


def _read_parquet(path: Path) -> pl.DataFrame:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    table.validate(full=True)  # UTF-8 and offsets: polars trusts them, and invalid text panics later, far from here
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def table_rows(path: Path) -> int:
    """Rows of a Parquet file, from its footer: nothing of the table is read."""
    return _footer(path)[0]


def check_table(path: Path, run_id: str, max_rows: int, rows: int | None = None) -> None:
    """A run's Parquet file has the lab's columns with usable types and no more rows than the run can have
    (counted from the footer, before the table is read: a 91 KB file can hold 50 million rows)."""
    name = path.name
    wanted = _TABLES[name]
    with _reading(run_id, name):
        count, schema = _footer(path)
    for column, dtype in wanted.items():
        if column not in schema:
            if column in OPTIONAL_COLUMNS.get(name, ()):
                continue
            raise damaged(run_id, name, f"it has no column '{column}'")
        if not _fits(schema[column], dtype):
            raise damaged(run_id, name, f"its column '{column}' holds {schema[column]}, not {dtype}")
    if count > max_rows:
        raise damaged(run_id, name, f"{count:,} rows where the run can have at most {max_rows:,}")
    if rows is not None and count != rows:
        raise damaged(run_id, name, f"{count:,} rows where the run has {rows:,}")


def read_table(folder: Path, run_id: str, name: str, max_rows: int, rows: int | None = None) -> pl.DataFrame:
    """One of a run's Parquet files, checked (columns, types, rows) before it is read; DamagedData otherwise."""
    path = Path(folder) / name
    check_table(path, run_id, max_rows, rows)
    with _reading(run_id, name):
        frame = _read_parquet(path)
    if frame.height != table_rows(path):  # the footer lied about its pages
        raise damaged(run_id, name, "its pages do not hold the rows its footer counts")
    return frame


SPLITS = ("training", "held-out")  # Dataset.split_labels


def check_items(items: pl.DataFrame, meta: dict, run_id: str) -> None:
    """What every page reads of items.parquet without looking: a word on every row, each row training or held-out
    (as many training rows as run.json says), a poisoned flag on every row, every known loss a finite number."""
    name = "items.parquet"
    if items["item"].null_count() or items["poisoned"].null_count():
        raise damaged(run_id, name, "some rows have no word or no poisoned flag")
    splits = items["split"].cast(pl.Utf8)
    if not splits.is_in(SPLITS).all() or int((splits == "training").sum()) != meta["train_size"]:
        raise damaged(run_id, name, f"its rows are not {meta['train_size']:,} training and the rest held-out")
    if "loss" in items.columns and not np.isfinite(items["loss"].drop_nulls().cast(pl.Float64).to_numpy()).all():
        raise damaged(run_id, name, "some of its losses are not finite numbers")
