"""The run store: every finished (or stopped) run as one folder, written atomically.

    runs/<run_id>/
        run.json              config, teacher, sizes, teacher queries, final metrics, status
        epochs.parquet        one row per epoch (EpochRecord scalars)
        means.parquet         embedding mean of every item at every epoch (long form)
        items.parquet         item text, split (training / held-out), poisoned flag, final loss and
                              whether the defence left it out (training items)
        student.json          the student's config
        student.safetensors   its weights (no pickle anywhere)

A run is written into a hidden temporary folder and renamed into place, so a reader never
sees half a run. Run ids are checked before any path is built from them.

Nothing lost when the server dies: a run trained with checkpoints (`core.runs.experiment.TrainingRun(
checkpoint_every=...)`, what the dashboard's jobs do) appends each finished epoch to a journal
(`.live-<run_id>/epochs.jsonl`, one line per epoch, written as it ends) and rewrites the whole run
folder as a checkpoint (status "running") every few seconds. `recover_interrupted` — called when the
dashboard starts — turns the journal of a process that is gone into a stored run with status
"interrupted": every finished epoch's scores, the student's weights from the last checkpoint (the run
says which epoch: `weights_epoch`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl
import torch
from torch import nn

from core.config import TrainConfig
from core.data.dataset import Dataset
from core.errors import DamagedData, StorageUnavailable
from core.paths import cache_file, check_cache_id, teacher_cache_dir, writing
from core.teachers.teacher import cached_vectors
from core.words.students import StudentConfig, load_student, save_student
from core.words.train import EpochRecord

# \Z, not $: `$` also matches before a trailing newline, and "evilrun\n" would become a folder name.
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")


class RunNotFound(LookupError):
    pass


def check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not RUN_ID.match(run_id) or ".." in run_id:
        raise ValueError(f"'{run_id}' is not a valid run id (letters, digits, '.', '_' and '-' only).")
    return run_id


def new_run_id(config: TrainConfig) -> str:
    """Readable and unique: when, which model, which p, and a random suffix (a sweep saves a whole group of
    runs with the same model and p in the same second: the suffix keeps them apart)."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{config.model.value}-p{config.p:g}-{secrets.token_hex(4)}"


@dataclass
class StoredRun:
    run_id: str
    folder: Path
    meta: dict
    config: TrainConfig
    epochs: pl.DataFrame
    items: pl.DataFrame

    def means(self) -> pl.DataFrame:
        """Columns epoch, item_index, mean (read on demand: the largest file of a run). At most one row per
        item per stored epoch, every mean a finite number; anything else is DamagedData."""
        if not (self.folder / "means.parquet").exists():
            return pl.DataFrame(schema=MEANS_COLUMNS)
        name = "means.parquet"
        frame = read_table(self.folder, self.run_id, name, max_rows=self.epochs.height * self.items.height)
        means = frame["mean"].cast(pl.Float64).to_numpy()
        if frame["mean"].null_count() or not np.isfinite(means).all():
            raise _damaged(self.run_id, name, "some of its means are not finite numbers")
        return frame

    def student(self, device: str = "cpu", cache_root: Path | None = None) -> nn.Module:
        """The trained student, every weight a finite number. Adapters re-read their cheap encoder's vectors of
        the items from its cache (`cache_root`, default the lab's), which is where they came from. A student.json
        or weights file that cannot make this run's student is DamagedData naming the file."""
        config = read_student(self.folder, self.run_id, self.items.height)
        items = tuple(self.items["item"].to_list())
        features = None
        if config.kind.needs_cheap:
            root = cache_root or teacher_cache_dir()
            try:  # student.json came from a file: its cheap id must name a cache, not a path
                cache_file(root, config.cheap)
            except ValueError as err:
                raise _damaged(self.run_id, "student.json", str(err).rstrip(".")) from None
            features = cached_vectors(root, config.cheap, items)
        name = "student.safetensors"
        try:
            model = load_student(self.folder, device, items=items, features=features)
        except (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError):
            raise
        except BaseException:  # a ValueError naming a server path (not shown), or a panic of safetensors' Rust code
            raise _damaged(self.run_id, name, "its weights do not load, or do not fit its student.json") from None
        if not all(bool(torch.isfinite(t).all()) for t in model.state_dict().values() if t.is_floating_point()):
            raise _damaged(self.run_id, name, "some of its weights are not finite numbers")
        return model


def save_run(
    root: Path,
    config: TrainConfig,
    dataset: Dataset,
    records: list[EpochRecord],
    model: nn.Module,
    *,
    teacher_id: str,
    teacher_queries: int,
    status: str = "finished",
    extra: dict | None = None,
    run_id: str | None = None,
    report=None,
    replace: bool = False,
) -> str:
    """Write a run atomically; returns its id. `report` (core.poisoning.defence.TrainReport): each training
    answer's final loss and what the defence left out, kept in items.parquet (`loss`, `left_out`).
    A read-only, foreign-owned or full store raises StorageUnavailable, leaving no half-written folder."""
    root = Path(root)
    with writing(root):
        return _save_run(
            root,
            config,
            dataset,
            records,
            model,
            teacher_id=teacher_id,
            teacher_queries=teacher_queries,
            status=status,
            extra=extra,
            run_id=run_id,
            report=report,
            replace=replace,
        )


def _save_run(
    root: Path,
    config: TrainConfig,
    dataset: Dataset,
    records: list[EpochRecord],
    model: nn.Module,
    *,
    teacher_id: str,
    teacher_queries: int,
    status: str,
    extra: dict | None,
    run_id: str | None,
    report,
    replace: bool,
) -> str:
    root.mkdir(parents=True, exist_ok=True)
    generated = run_id is None
    run_id = check_run_id(run_id or new_run_id(config))
    tmp = root / f".tmp-{run_id}-{secrets.token_hex(3)}"
    tmp.mkdir()
    try:
        rows = [r.scalars() for r in records]
        pl.DataFrame(rows, schema=_EPOCH_SCHEMA).write_parquet(tmp / "epochs.parquet")
        tracked = [r for r in records if r.embedding_means is not None]
        if tracked:
            n = len(dataset.items)
            pl.DataFrame(
                {
                    "epoch": np.repeat(np.array([r.epoch for r in tracked], dtype=np.int32), n),
                    "item_index": np.tile(np.arange(n, dtype=np.int32), len(tracked)),
                    "mean": np.concatenate([r.embedding_means for r in tracked]).astype(np.float32),
                }
            ).write_parquet(tmp / "means.parquet")
        n = len(dataset.items)
        loss = np.full(n, np.nan)
        left_out = np.zeros(n, dtype=bool)
        if report is not None and report.item_losses is not None:
            loss[dataset.train_idx] = report.item_losses
        if report is not None and report.dropped is not None:
            left_out[dataset.train_idx] = report.dropped
        pl.DataFrame(
            {
                "item": list(dataset.items),
                "split": dataset.split_labels(),
                "poisoned": dataset.poisoned.tolist(),
                "loss": loss,
                "left_out": left_out,
            }
        ).with_columns(pl.col("loss").fill_nan(None)).write_parquet(tmp / "items.parquet")
        save_student(model, tmp)
        last = records[-1].scalars() if records else {}
        meta = {
            "run_id": run_id,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "status": status,
            "config": config.to_dict(),
            "teacher_id": teacher_id,
            "items": len(dataset.items),
            "train_size": int(len(dataset.train_idx)),
            "heldout_size": int(len(dataset.heldout_idx)),
            "poisoned_items": int(dataset.poisoned.sum()),
            "poisoned_in_train": dataset.poisoned_in_train,
            "teacher_queries": int(teacher_queries),
            "epochs_done": len(records),
            "final": last,
            **(extra or {}),
        }
        (tmp / "run.json").write_text(json.dumps(meta, indent=2))
        while True:
            try:
                _move_into_place(tmp, root / run_id, replace)
                break
            except OSError:
                # A generated id already taken (another run saved the same second with the same suffix):
                # take another one rather than lose the run. A chosen id that is taken is the caller's error.
                if not generated or not (root / run_id).exists():
                    raise
                run_id = meta["run_id"] = new_run_id(config)
                (tmp / "run.json").write_text(json.dumps(meta, indent=2))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return run_id


def _move_into_place(tmp: Path, target: Path, replace: bool) -> None:
    """Rename a finished folder into place. Replacing (a checkpoint): the old folder steps aside as
    `.old-<id>-…` first and is removed after; `recover_interrupted` puts it back if the process died
    between the two renames."""
    if not (replace and target.exists()):
        tmp.rename(target)
        return
    old = target.parent / f".old-{target.name}-{secrets.token_hex(3)}"
    target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def live_folder(root: Path, run_id: str) -> Path:
    return Path(root) / f".live-{check_run_id(run_id)}"


PROCESS_TOKEN = secrets.token_hex(8)  # tells this process apart from a later one that gets the same pid


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), or '' where unknown."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def start_journal(root: Path, run_id: str) -> Path:
    """The journal of a run in progress: who writes it and one line per finished epoch."""
    folder = live_folder(root, run_id)
    with writing(root):
        folder.mkdir(parents=True, exist_ok=True)
        owner = {
            "pid": os.getpid(),
            "token": PROCESS_TOKEN,
            "start": _start_time(os.getpid()),
            "started": time.time(),
            "host": socket.gethostname(),  # a Ray worker on another machine writes into the same shared store
        }
        (folder / "owner.json").write_text(json.dumps(owner))
        (folder / "epochs.jsonl").touch()
    return folder


def journal_epoch(root: Path, run_id: str, record: EpochRecord) -> None:
    with writing(root), open(live_folder(root, run_id) / "epochs.jsonl", "a") as f:
        f.write(json.dumps(record.scalars()) + "\n")
        f.flush()


def end_journal(root: Path, run_id: str) -> None:
    shutil.rmtree(live_folder(root, run_id), ignore_errors=True)


# A journal written on another machine (a Ray worker on shared storage) cannot be checked by its pid: it counts
# as alive until no epoch has reached it for this long.
REMOTE_STALE_SECONDS = 3600.0


def _writer_alive(live: Path) -> bool:
    """Is the process that writes this journal still running? Not fooled by a pid reused after a restart:
    this process is recognised by its token, another by its start time; one on another machine by the age
    of its journal (`REMOTE_STALE_SECONDS`)."""
    try:
        owner = json.loads((live / "owner.json").read_text())
        pid = int(owner["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    host = owner.get("host")
    if isinstance(host, str) and host and host != socket.gethostname():
        try:
            touched = max(p.stat().st_mtime for p in (live / "owner.json", live / "epochs.jsonl") if p.exists())
        except (OSError, ValueError):
            return False
        return time.time() - touched < REMOTE_STALE_SECONDS
    if pid == os.getpid():
        return owner.get("token") == PROCESS_TOKEN
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0
    recorded, now = str(owner.get("start", "")), _start_time(pid)
    return not (recorded and now and recorded != now)


def recover_interrupted(root: Path, stale_seconds: float = 3600.0) -> list[str]:
    """Store the runs whose training process died (server killed, machine restarted) with every epoch
    their journal holds; returns their ids. Runs whose writer is alive are left alone; a damaged one is
    skipped (and left for a person to look at), never fatal."""
    root = Path(root)
    recovered: list[str] = []
    if not root.exists():
        return recovered
    now = time.time()
    for old in root.glob(".old-*"):  # died between the two renames of a checkpoint: put the old one back
        try:
            run_id = old.name[len(".old-") :].rsplit("-", 1)[0]
            live = root / f".live-{run_id}"
            if live.exists() and _writer_alive(live):
                continue  # its trainer is swapping it right now
            if RUN_ID.match(run_id) and not (root / run_id).exists():
                old.rename(root / run_id)
            else:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            continue
    for leftover in [*root.glob(".tmp-*"), *root.glob(".import-*"), *root.glob(".trash-*")]:
        try:  # half-written folders of a process that died: removed once clearly abandoned, or at once when it is
            # a checkpoint of a trainer whose journal says it is dead (a kill during a checkpoint's write)
            if now - leftover.stat().st_mtime > stale_seconds or _trainer_died(root, leftover):
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            continue
    for live in root.glob(".live-*"):
        run_id = live.name[len(".live-") :]
        if _writer_alive(live):
            continue
        try:
            recovered += recover_one(root, live, run_id)
        except Exception:  # a damaged checkpoint: keep it as it is for a person to look at
            continue
    return recovered


def _trainer_died(root: Path, leftover: Path) -> bool:
    """Whether `leftover` is a `.tmp-<run id>-<hex>` checkpoint folder of a run whose live journal's writer is gone."""
    if not leftover.name.startswith(".tmp-"):
        return False
    live = root / f".live-{leftover.name[len('.tmp-') :].rsplit('-', 1)[0]}"
    return live.exists() and not _writer_alive(live)


def recover_one(root: Path, live: Path, run_id: str) -> list[str]:
    """Recovery never makes a run worse: only a checkpoint (status "running") is completed from its journal, and
    only with the journal's valid epochs (`_journal_epochs`); a finished, stopped or interrupted run is kept as
    stored and its leftover journal removed."""
    folder = root / run_id
    if not RUN_ID.match(run_id) or not (folder / "run.json").exists():
        shutil.rmtree(live, ignore_errors=True)  # died before its first checkpoint: nothing to keep
        return []
    meta = read_meta(folder, run_id)
    config = check_meta(meta, run_id)
    if meta.get("status") != "running":
        shutil.rmtree(live, ignore_errors=True)  # saved in full before its process died: the run says it all
        return []
    stored = read_table(folder, run_id, "epochs.parquet", max_rows=config.epochs)
    lines = _journal_epochs(live / "epochs.jsonl", config.epochs)
    if len(lines) > stored.height:
        pl.DataFrame(lines, schema=_EPOCH_SCHEMA).write_parquet(folder / ".epochs.tmp")
        os.replace(folder / ".epochs.tmp", folder / "epochs.parquet")
        meta["final"] = lines[-1]
    meta.update(
        {"status": "interrupted", "epochs_done": max(len(lines), stored.height), "weights_epoch": stored.height}
    )
    check_meta(meta, run_id)  # what the listing will read: a recovery the listing would drop is no recovery
    _rewrite_meta(folder / "run.json", meta)
    shutil.rmtree(live, ignore_errors=True)
    return [run_id]


MAX_JOURNAL_BYTES = 64 << 20  # a line is ~200 bytes: 64 MB is far more epochs than any run may have


def _journal_epochs(path: Path, epochs: int) -> list[dict]:
    """The journal's epochs up to the first line that is not one: a JSON object with exactly the epoch's keys,
    numbered 1, 2, 3, …, its scores numbers in their ranges (`check_scores`), at most the run's `epochs`. A torn
    last line (the process died while writing it) ends the journal like any other unusable one."""
    try:
        with open(path, "rb") as f:
            text = f.read(MAX_JOURNAL_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return []
    kept: list[dict] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if len(kept) == epochs:
            break
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            break
        if not isinstance(row, dict) or set(row) != set(_EPOCH_SCHEMA):
            break
        number = row["epoch"]
        if isinstance(number, bool) or not isinstance(number, int) or number != len(kept) + 1:
            break
        if row["train_loss"] is None or row["train_cosine"] is None or row["seconds"] is None:
            break
        try:
            check_scores(row)
        except TypeError:
            break
        kept.append(row)
    return kept


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


_EPOCH_SCHEMA = {
    "epoch": pl.Int32,
    "train_loss": pl.Float64,
    "train_cosine": pl.Float64,
    "heldout_cosine": pl.Float64,
    "heldout_euclidean": pl.Float64,
    "epoch_seconds": pl.Float64,
    "seconds": pl.Float64,
}


EPOCH_COLUMNS = _EPOCH_SCHEMA
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


def _damaged(run_id: str, name: str, why: str) -> DamagedData:
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
        raise _damaged(run_id, name, "the file is missing") from None
    except RecursionError:
        raise _damaged(run_id, name, "nested too deeply") from None
    except PermissionError:  # the file is whole, only closed to this user: deleting the run would be wrong advice
        raise StorageUnavailable(
            f"The run {run_id}'s {name} cannot be read (no permission: another user owns it or its mode forbids "
            "reading); nothing is damaged: ask whoever owns the lab home."
        ) from None
    except OSError as err:
        raise _damaged(run_id, name, f"cannot be read: {err.strerror or type(err).__name__}") from None
    except (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError):
        raise
    except BaseException as err:  # polars raises its own errors, and a Rust panic that is not even an Exception
        raise _damaged(run_id, name, f"{_first_line(err)}") from None


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
        raise _damaged(run_id, name, f"over {most >> 20} MB" if most >= 1 << 20 else f"over {most >> 10} KB")
    with _reading(run_id, name):
        value = json.loads(raw)
    if not isinstance(value, dict):
        raise _damaged(run_id, name, "not a JSON object")
    if _depth(value) > depth:
        raise _damaged(run_id, name, f"nested more than {depth} levels deep")
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
        raise _damaged(run_id, name, f"its settings cannot be used: {str(err).rstrip('.')}") from None
    if items is not None and config.vocab_size != items:  # the student has one row per item of its run
        raise _damaged(run_id, name, f"a student of {config.vocab_size:,} items in a run of {items:,}")
    return config


def _int(meta: dict, key: str, low: int = 0, high: int | None = None) -> int:
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
        raise _damaged(run_id, "run.json", why) from None
    return settings


def _score(values: dict, key: str) -> float | None:
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
            raise _damaged(run_id, name, f"it has no column '{column}'")
        if not _fits(schema[column], dtype):
            raise _damaged(run_id, name, f"its column '{column}' holds {schema[column]}, not {dtype}")
    if count > max_rows:
        raise _damaged(run_id, name, f"{count:,} rows where the run can have at most {max_rows:,}")
    if rows is not None and count != rows:
        raise _damaged(run_id, name, f"{count:,} rows where the run has {rows:,}")


def read_table(folder: Path, run_id: str, name: str, max_rows: int, rows: int | None = None) -> pl.DataFrame:
    """One of a run's Parquet files, checked (columns, types, rows) before it is read; DamagedData otherwise."""
    path = Path(folder) / name
    check_table(path, run_id, max_rows, rows)
    with _reading(run_id, name):
        frame = _read_parquet(path)
    if frame.height != table_rows(path):  # the footer lied about its pages
        raise _damaged(run_id, name, "its pages do not hold the rows its footer counts")
    return frame


def load_run(root: Path, run_id: str) -> StoredRun:
    """A stored run, every file checked as it is read: RunNotFound, or DamagedData naming the file."""
    folder = Path(root) / check_run_id(run_id)
    if not (folder / "run.json").exists():
        raise RunNotFound(f"No run '{run_id}' in {root}.")
    meta = read_meta(folder, run_id)
    config = check_meta(meta, run_id)
    # One row per epoch it trained (a run is only stored after its first epoch): a chart of no epoch, or of
    # fewer than the run says, is a damaged file, not an empty run.
    epochs = read_table(folder, run_id, "epochs.parquet", max_rows=config.epochs, rows=meta.get("epochs_done"))
    if not epochs.height:
        raise _damaged(run_id, "epochs.parquet", "it holds no epoch")
    items = read_table(folder, run_id, "items.parquet", max_rows=meta["items"], rows=meta["items"])
    _check_items(items, meta, run_id)
    return StoredRun(run_id=run_id, folder=folder, meta=meta, config=config, epochs=epochs, items=items)


SPLITS = ("training", "held-out")  # Dataset.split_labels


def _check_items(items: pl.DataFrame, meta: dict, run_id: str) -> None:
    """What every page reads of items.parquet without looking: a word on every row, each row training or held-out
    (as many training rows as run.json says), a poisoned flag on every row, every known loss a finite number."""
    name = "items.parquet"
    if items["item"].null_count() or items["poisoned"].null_count():
        raise _damaged(run_id, name, "some rows have no word or no poisoned flag")
    splits = items["split"].cast(pl.Utf8)
    if not splits.is_in(SPLITS).all() or int((splits == "training").sum()) != meta["train_size"]:
        raise _damaged(run_id, name, f"its rows are not {meta['train_size']:,} training and the rest held-out")
    if "loss" in items.columns and not np.isfinite(items["loss"].drop_nulls().cast(pl.Float64).to_numpy()).all():
        raise _damaged(run_id, name, "some of its losses are not finite numbers")


def list_runs(root: Path) -> pl.DataFrame:
    """One row per stored run, newest first. A damaged run (its run.json unreadable or of the wrong types) is
    left out, never fatal for the list (load_run says why); a store that cannot be read is StorageUnavailable."""
    rows = []
    root = Path(root)
    try:
        folders = sorted(root.iterdir()) if root.exists() else []
    except OSError as err:
        raise StorageUnavailable(
            f"The lab cannot read its runs folder {root} ({err.strerror or type(err).__name__}); "
            "check that it is a folder you may read, or set EMBEDDING_LAB_HOME to another one."
        ) from None
    for folder in folders:
        if folder.name.startswith("."):
            continue
        try:
            if not (folder / "run.json").exists():
                continue
            meta = read_meta(folder, folder.name)
            config = check_meta(meta, folder.name)
        except (DamagedData, StorageUnavailable, OSError):  # closed to this user too: left out, load_run says why
            continue
        cfg, final = config.to_dict(), meta.get("final") or {}
        rows.append(
            {
                "run_id": meta["run_id"],
                "created": meta["created"],
                "status": str(meta.get("status", "finished")),
                "teacher": meta["teacher_id"],
                "model": cfg["model"],
                "p": float(cfg["p"]),
                "epochs": int(meta.get("epochs_done", cfg["epochs"])),
                "lemmatize": cfg["lemmatize"],
                "poison": float(cfg["poison"]),
                "seed": int(cfg["seed"]),
                "batch_size": int(cfg["batch_size"]),
                "lr": float(cfg["lr"]),
                "vocabulary": str(cfg["vocabulary"]),
                "cheap": str(cfg["cheap"]),
                "adversary": str(cfg["adversary"]),
                "poison_scope": str(cfg["poison_scope"]),
                "defence": str(cfg["defence"]),
                "trim": float(cfg["trim"]),
                "selection": str(cfg["selection"]),
                # A score outside its range (NaN seconds of a hand-edited run.json) is listed as unknown: every
                # person's estimates and charts read this table, whoever's run it is.
                "detection_precision": _score(meta, "detection_precision"),
                "detection_recall": _score(meta, "detection_recall"),
                "train_size": meta["train_size"],
                "teacher_queries": meta["teacher_queries"],
                "final_train_loss": _score(final, "train_loss"),
                "heldout_cosine": _score(final, "heldout_cosine"),
                "seconds": _score(final, "seconds"),
                "owner": meta.get("owner", ""),
                "shared": meta.get("shared", False),
                # Brought in from a zip: its scores were not measured here, so a sweep never reuses it (core.runs.sweep).
                "imported": bool(meta.get("imported")),
                "name": str(meta.get("name") or ""),  # a name its owner gave it (rename_run)
            }
        )
    schema = {
        "run_id": pl.Utf8,
        "created": pl.Utf8,
        "status": pl.Utf8,
        "teacher": pl.Utf8,
        "model": pl.Utf8,
        "p": pl.Float64,
        "epochs": pl.Int64,
        "lemmatize": pl.Utf8,
        "poison": pl.Float64,
        "seed": pl.Int64,
        "batch_size": pl.Int64,
        "lr": pl.Float64,
        "vocabulary": pl.Utf8,
        "cheap": pl.Utf8,
        "adversary": pl.Utf8,
        "poison_scope": pl.Utf8,
        "defence": pl.Utf8,
        "trim": pl.Float64,
        "selection": pl.Utf8,
        "detection_precision": pl.Float64,
        "detection_recall": pl.Float64,
        "train_size": pl.Int64,
        "teacher_queries": pl.Int64,
        "final_train_loss": pl.Float64,
        "heldout_cosine": pl.Float64,
        "seconds": pl.Float64,
        "owner": pl.Utf8,
        "shared": pl.Boolean,
        "imported": pl.Boolean,
        "name": pl.Utf8,
    }
    return pl.DataFrame(rows, schema=schema).sort("created", descending=True)


def _rewrite_meta(path: Path, meta: dict) -> None:
    """Replace a stored run's run.json atomically: a reader sees the old file or the new one, never half."""
    tmp = path.with_name(f".run.json.{secrets.token_hex(3)}")
    with writing(path.parent):
        try:
            tmp.write_text(json.dumps(meta, indent=2))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)  # after a refused replace, not a stray file in the run


def set_shared(root: Path, run_id: str, shared: bool) -> None:
    """Put a run in the class gallery (or take it out): one field of run.json, rewritten atomically."""
    path = Path(root) / check_run_id(run_id) / "run.json"
    if not path.exists():
        raise RunNotFound(f"No run '{run_id}' in {root}.")
    meta = read_meta(path.parent, run_id)
    _refuse_while_training(meta, "shared")
    meta["shared"] = bool(shared)
    _rewrite_meta(path, meta)


def _refuse_while_training(meta: dict, what: str) -> None:
    if meta.get("status") == "running":
        raise ValueError(
            f"This run is still being trained (its folder is rewritten every few seconds), so it cannot be {what} "
            "yet; stop it or wait for it to finish."
        )


def delete_run(root: Path, run_id: str) -> None:
    folder = Path(root) / check_run_id(run_id)
    if not folder.exists():
        raise RunNotFound(f"No run '{run_id}' in {root}.")
    try:
        meta = read_meta(folder, run_id)
    except (OSError, DamagedData, StorageUnavailable):
        meta = {}  # a damaged run can always be deleted
    live = live_folder(root, run_id)
    if live.exists() and _writer_alive(live):
        _refuse_while_training(meta if isinstance(meta, dict) else {}, "deleted")
    # Left "running" by a process that is gone (no journal, or a dead writer's): nothing rewrites it any more.
    # Rename first so a concurrent reader never sees a half-deleted run.
    trash = Path(root) / f".trash-{run_id}-{secrets.token_hex(3)}"
    with writing(root):
        folder.rename(trash)
    shutil.rmtree(trash, ignore_errors=True)
    shutil.rmtree(live, ignore_errors=True)


MAX_NAME = 80


def rename_run(root: Path, run_id: str, name: str) -> str:
    """Give a run a name of its own (shown beside its settings; '' removes it): one field of run.json,
    rewritten atomically. Returns the name as stored (spaces collapsed, at most 80 characters).

    >>> rename_run(root, "B-p0.095-...", "  my   first student ")   # doctest: +SKIP
    'my first student'
    """
    if not isinstance(name, str):
        raise ValueError("A run's name must be text.")
    clean = " ".join("".join(c if c.isprintable() else " " for c in name).split())
    if len(clean) > MAX_NAME:
        raise ValueError(f"A run's name can be at most {MAX_NAME} characters; this one has {len(clean)}.")
    path = Path(root) / check_run_id(run_id) / "run.json"
    if not path.exists():
        raise RunNotFound(f"No run '{run_id}' in {root}.")
    meta = read_meta(path.parent, run_id)
    _refuse_while_training(meta, "renamed")
    meta["name"] = clean
    _rewrite_meta(path, meta)
    return clean
