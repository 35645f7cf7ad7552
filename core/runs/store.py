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

import json
import secrets
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import torch
from torch import nn

from core.config import TrainConfig
from core.data.dataset import Dataset
from core.errors import DamagedData, StorageUnavailable
from core.paths import cache_file, teacher_cache_dir, writing
from core.runs.checks import (
    EPOCH_COLUMNS,
    ITEM_COLUMNS,
    MEANS_COLUMNS,
    check_items,
    check_meta,
    damaged,
    read_meta,
    read_student,
    read_table,
    score_or_none,
)
from core.runs.journal import (
    REMOTE_STALE_SECONDS,
    end_journal,
    journal_epoch,
    recover_interrupted,
    recover_one,
    start_journal,
    writer_alive,
)
from core.runs.layout import RUN_ID, RunNotFound, check_run_id, live_folder, new_run_id, rewrite_meta
from core.teachers.teacher import cached_vectors
from core.words.students import load_student, save_student
from core.words.train import EpochRecord

# The run store's public face: its own functions, and (re-exported, so callers import them from one place) the
# run ids (`layout`), the checks of what a run's files hold (`checks`) and the journal (`journal`).
__all__ = [
    "EPOCH_COLUMNS",
    "ITEM_COLUMNS",
    "MEANS_COLUMNS",
    "REMOTE_STALE_SECONDS",
    "RUN_ID",
    "RunNotFound",
    "StoredRun",
    "check_meta",
    "check_run_id",
    "delete_run",
    "end_journal",
    "journal_epoch",
    "list_runs",
    "live_folder",
    "load_run",
    "new_run_id",
    "read_meta",
    "read_student",
    "read_table",
    "recover_interrupted",
    "recover_one",
    "rename_run",
    "save_run",
    "set_shared",
    "start_journal",
]


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
            raise damaged(self.run_id, name, "some of its means are not finite numbers")
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
                raise damaged(self.run_id, "student.json", str(err).rstrip(".")) from None
            features = cached_vectors(root, config.cheap, items)
        name = "student.safetensors"
        try:
            model = load_student(self.folder, device, items=items, features=features)
        except (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError):
            raise
        except BaseException:  # a ValueError naming a server path (not shown), or a panic of safetensors' Rust code
            raise damaged(self.run_id, name, "its weights do not load, or do not fit its student.json") from None
        if not all(bool(torch.isfinite(t).all()) for t in model.state_dict().values() if t.is_floating_point()):
            raise damaged(self.run_id, name, "some of its weights are not finite numbers")
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
        pl.DataFrame(rows, schema=EPOCH_COLUMNS).write_parquet(tmp / "epochs.parquet")
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
        raise damaged(run_id, "epochs.parquet", "it holds no epoch")
    items = read_table(folder, run_id, "items.parquet", max_rows=meta["items"], rows=meta["items"])
    check_items(items, meta, run_id)
    return StoredRun(run_id=run_id, folder=folder, meta=meta, config=config, epochs=epochs, items=items)


# list_runs keeps each run.json's row while the file is unchanged (a page that lists the runs reads only what changed
# since: with a class's hundred runs, a page run read a hundred files, several times over). Keyed by the file's
# identity, times and size; a file written in the last second is read again every time (its time may not have
# moved yet: the clock of a file system ticks coarsely), as git does for racily clean files.
_ROWS: dict[Path, dict[str, tuple]] = {}
_ROWS_LOCK = threading.Lock()
_RACY_SECONDS = 1.0


def _row(folder: Path, kept: tuple | None) -> tuple | None:
    """(the run.json's stamp, its row or None when it is damaged or closed to this user); None: no run here."""
    path = folder / "run.json"
    try:
        st = path.stat()
    except OSError:  # no run.json (a folder being written), or one this user may not even look at
        return None
    stamp = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)
    if kept is not None and kept[0] == stamp and time.time() - st.st_mtime > _RACY_SECONDS:
        return kept
    try:
        meta = read_meta(folder, folder.name)
        config = check_meta(meta, folder.name)
    except (DamagedData, StorageUnavailable, OSError):  # closed to this user too: left out, load_run says why
        return (stamp, None)
    cfg, final = config.to_dict(), meta.get("final") or {}
    return (
        stamp,
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
            "detection_precision": score_or_none(meta, "detection_precision"),
            "detection_recall": score_or_none(meta, "detection_recall"),
            "train_size": meta["train_size"],
            "teacher_queries": meta["teacher_queries"],
            "final_train_loss": score_or_none(final, "train_loss"),
            "heldout_cosine": score_or_none(final, "heldout_cosine"),
            "seconds": score_or_none(final, "seconds"),
            "owner": meta.get("owner", ""),
            "shared": meta.get("shared", False),
            # Brought in from a zip: its scores were not measured here, so a sweep never reuses it (core.runs.sweep).
            "imported": bool(meta.get("imported")),
            "name": str(meta.get("name") or ""),  # a name its owner gave it (rename_run)
        },
    )


def list_runs(root: Path) -> pl.DataFrame:
    """One row per stored run, newest first. A damaged run (its run.json unreadable or of the wrong types) is
    left out, never fatal for the list (load_run says why); a store that cannot be read is StorageUnavailable."""
    root = Path(root)
    try:
        folders = sorted(root.iterdir()) if root.exists() else []
    except OSError as err:
        raise StorageUnavailable(
            f"The lab cannot read its runs folder {root} ({err.strerror or type(err).__name__}); "
            "check that it is a folder you may read, or set EMBEDDING_LAB_HOME to another one."
        ) from None
    rows = []
    kept = _ROWS.get(root, {})
    seen: dict[str, tuple] = {}
    for folder in folders:
        if folder.name.startswith("."):
            continue
        entry = _row(folder, kept.get(folder.name))
        if entry is None:
            continue
        seen[folder.name] = entry
        if entry[1] is not None:
            rows.append(entry[1])
    with _ROWS_LOCK:
        _ROWS[root] = seen  # runs deleted since are forgotten
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


def set_shared(root: Path, run_id: str, shared: bool) -> None:
    """Put a run in the class gallery (or take it out): one field of run.json, rewritten atomically."""
    path = Path(root) / check_run_id(run_id) / "run.json"
    if not path.exists():
        raise RunNotFound(f"No run '{run_id}' in {root}.")
    meta = read_meta(path.parent, run_id)
    _refuse_while_training(meta, "shared")
    meta["shared"] = bool(shared)
    rewrite_meta(path, meta)


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
    if live.exists() and writer_alive(live):
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
    rewrite_meta(path, meta)
    return clean
