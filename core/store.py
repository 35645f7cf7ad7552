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

Nothing lost when the server dies: a run trained with checkpoints (`core.experiment.TrainingRun(
checkpoint_every=...)`, what the dashboard's jobs do) appends each finished epoch to a journal
(`.live-<run_id>/epochs.jsonl`, one line per epoch, written as it ends) and rewrites the whole run
folder as a checkpoint (status "running") every few seconds. `recover_interrupted` — called when the
dashboard starts — turns the journal of a process that is gone into a stored run with status
"interrupted": every finished epoch's scores, the student's weights from the last checkpoint (the run
says which epoch: `weights_epoch`).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from torch import nn

from core.config import TrainConfig
from core.dataset import Dataset
from core.students import load_student, read_student_config, save_student
from core.train import EpochRecord

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


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
        """Columns epoch, item_index, mean (read on demand: the largest file of a run)."""
        path = self.folder / "means.parquet"
        return pl.read_parquet(path) if path.exists() else pl.DataFrame(schema={"epoch": pl.Int32, "item_index": pl.Int32, "mean": pl.Float32})

    def student(self, device: str = "cpu", cache_root: Path | None = None) -> nn.Module:
        """The trained student. Adapters re-read their cheap encoder's vectors of the items from
        its cache (`cache_root`, default the lab's), which is where they came from."""
        config = read_student_config(self.folder)
        items = tuple(self.items["item"].to_list())
        features = None
        if config.kind.needs_cheap:
            from core.paths import teacher_cache_dir
            from core.teacher import cached_vectors

            features = cached_vectors(cache_root or teacher_cache_dir(), config.cheap, items)
        return load_student(self.folder, device, items=items, features=features)


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
    """Write a run atomically; returns its id. `report` (core.defence.TrainReport): each training
    answer's final loss and what the defence left out, kept in items.parquet (`loss`, `left_out`)."""
    root = Path(root)
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
            {"item": list(dataset.items), "split": dataset.split_labels(), "poisoned": dataset.poisoned.tolist(),
             "loss": loss, "left_out": left_out}
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
    folder.mkdir(parents=True, exist_ok=True)
    owner = {"pid": os.getpid(), "token": PROCESS_TOKEN, "start": _start_time(os.getpid()), "started": time.time()}
    (folder / "owner.json").write_text(json.dumps(owner))
    (folder / "epochs.jsonl").touch()
    return folder


def journal_epoch(root: Path, run_id: str, record: EpochRecord) -> None:
    with open(live_folder(root, run_id) / "epochs.jsonl", "a") as f:
        f.write(json.dumps(record.scalars()) + "\n")
        f.flush()


def end_journal(root: Path, run_id: str) -> None:
    shutil.rmtree(live_folder(root, run_id), ignore_errors=True)


def _writer_alive(live: Path) -> bool:
    """Is the process that writes this journal still running? Not fooled by a pid reused after a restart:
    this process is recognised by its token, another by its start time."""
    try:
        owner = json.loads((live / "owner.json").read_text())
        pid = int(owner["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
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
            run_id = old.name[len(".old-"):].rsplit("-", 1)[0]
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
        try:  # half-written folders of a process that died: removed once clearly abandoned
            if now - leftover.stat().st_mtime > stale_seconds:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            continue
    for live in root.glob(".live-*"):
        run_id = live.name[len(".live-"):]
        if _writer_alive(live):
            continue
        try:
            recovered += _recover_one(root, live, run_id)
        except Exception:  # a damaged checkpoint: keep it as it is for a person to look at
            continue
    return recovered


def _recover_one(root: Path, live: Path, run_id: str) -> list[str]:
    folder = root / run_id
    if not RUN_ID.match(run_id) or not (folder / "run.json").exists():
        shutil.rmtree(live, ignore_errors=True)  # died before its first checkpoint: nothing to keep
        return []
    lines = []
    try:
        for line in (live / "epochs.jsonl").read_text().splitlines():
            if line.strip():
                lines.append(json.loads(line))
    except ValueError:
        pass  # a torn last line: keep the epochs before it
    except OSError:
        lines = []
    meta = json.loads((folder / "run.json").read_text())
    stored = pl.read_parquet(folder / "epochs.parquet")
    if len(lines) > stored.height:
        pl.DataFrame(lines, schema=_EPOCH_SCHEMA).write_parquet(folder / ".epochs.tmp")
        os.replace(folder / ".epochs.tmp", folder / "epochs.parquet")
        meta["final"] = lines[-1]
    meta.update({"status": "interrupted", "epochs_done": max(len(lines), stored.height), "weights_epoch": stored.height})
    _rewrite_meta(folder / "run.json", meta)
    shutil.rmtree(live, ignore_errors=True)
    return [run_id]


_EPOCH_SCHEMA = {
    "epoch": pl.Int32,
    "train_loss": pl.Float64,
    "train_cosine": pl.Float64,
    "heldout_cosine": pl.Float64,
    "heldout_euclidean": pl.Float64,
    "epoch_seconds": pl.Float64,
    "seconds": pl.Float64,
}


def load_run(root: Path, run_id: str) -> StoredRun:
    folder = Path(root) / check_run_id(run_id)
    if not (folder / "run.json").exists():
        raise RunNotFound(f"No run '{run_id}' in {root}.")
    meta = json.loads((folder / "run.json").read_text())
    return StoredRun(
        run_id=run_id,
        folder=folder,
        meta=meta,
        config=TrainConfig.from_dict(meta["config"]),
        epochs=pl.read_parquet(folder / "epochs.parquet"),
        items=pl.read_parquet(folder / "items.parquet"),
    )


def list_runs(root: Path) -> pl.DataFrame:
    """One row per stored run, newest first; unreadable folders are skipped, not fatal."""
    rows = []
    root = Path(root)
    if root.exists():
        for folder in root.iterdir():
            if folder.name.startswith(".") or not (folder / "run.json").exists():
                continue
            try:
                meta = json.loads((folder / "run.json").read_text())
                cfg, final = meta["config"], meta.get("final") or {}
                if not isinstance(final, dict) or not isinstance(cfg, dict):
                    continue
                for key in ("detection_precision", "detection_recall"):
                    if meta.get(key) is not None and not isinstance(meta[key], (int, float)):
                        raise TypeError(key)
                for key in ("train_loss", "heldout_cosine", "seconds"):
                    if final.get(key) is not None and not isinstance(final[key], (int, float)):
                        raise TypeError(key)
                rows.append(
                    {
                        "run_id": str(meta["run_id"]),
                        "created": str(meta["created"]),
                        "status": str(meta.get("status", "finished")),
                        "teacher": str(meta["teacher_id"]),
                        "model": str(cfg["model"]),
                        "p": float(cfg["p"]),
                        "epochs": int(meta.get("epochs_done", cfg["epochs"])),
                        "lemmatize": str(cfg["lemmatize"]),
                        "poison": float(cfg["poison"]),
                        "seed": int(cfg["seed"]),
                        "batch_size": int(cfg.get("batch_size", 256)),
                        "lr": float(cfg.get("lr", 1e-3)),
                        "vocabulary": str(cfg.get("vocabulary", "")),
                        "cheap": str(cfg.get("cheap", "")),
                        "adversary": str(cfg.get("adversary", "random")),
                        "poison_scope": str(cfg.get("poison_scope", "all")),
                        "defence": str(cfg.get("defence", "none")),
                        "trim": float(cfg.get("trim", 0.0)),
                        "detection_precision": meta.get("detection_precision"),
                        "detection_recall": meta.get("detection_recall"),
                        "train_size": int(meta["train_size"]),
                        "teacher_queries": int(meta["teacher_queries"]),
                        "final_train_loss": final.get("train_loss"),
                        "heldout_cosine": final.get("heldout_cosine"),
                        "seconds": final.get("seconds"),
                        "owner": str(meta.get("owner", "")),
                        "shared": bool(meta.get("shared", False)),
                    }
                )
            except Exception:  # any damaged or tampered run.json: skipped here (load_run says why), never fatal for the list
                continue
    schema = {
        "run_id": pl.Utf8, "created": pl.Utf8, "status": pl.Utf8, "teacher": pl.Utf8, "model": pl.Utf8,
        "p": pl.Float64, "epochs": pl.Int64, "lemmatize": pl.Utf8, "poison": pl.Float64, "seed": pl.Int64,
        "batch_size": pl.Int64, "lr": pl.Float64,
        "vocabulary": pl.Utf8, "cheap": pl.Utf8, "adversary": pl.Utf8, "poison_scope": pl.Utf8, "defence": pl.Utf8, "trim": pl.Float64,
        "detection_precision": pl.Float64, "detection_recall": pl.Float64, "train_size": pl.Int64, "teacher_queries": pl.Int64,
        "final_train_loss": pl.Float64, "heldout_cosine": pl.Float64, "seconds": pl.Float64, "owner": pl.Utf8, "shared": pl.Boolean,
    }
    return pl.DataFrame(rows, schema=schema).sort("created", descending=True)


def _rewrite_meta(path: Path, meta: dict) -> None:
    """Replace a stored run's run.json atomically: a reader sees the old file or the new one, never half."""
    tmp = path.with_name(f".run.json.{secrets.token_hex(3)}")
    tmp.write_text(json.dumps(meta, indent=2))
    os.replace(tmp, path)


def set_shared(root: Path, run_id: str, shared: bool) -> None:
    """Put a run in the class gallery (or take it out): one field of run.json, rewritten atomically."""
    path = Path(root) / check_run_id(run_id) / "run.json"
    if not path.exists():
        raise RunNotFound(f"No run '{run_id}' in {root}.")
    meta = json.loads(path.read_text())
    _refuse_while_training(meta, "shared")
    meta["shared"] = bool(shared)
    _rewrite_meta(path, meta)


def _refuse_while_training(meta: dict, what: str) -> None:
    if meta.get("status") == "running":
        raise ValueError(f"This run is still being trained (its folder is rewritten every few seconds), so it cannot be {what} "
                         "yet; stop it or wait for it to finish.")


def delete_run(root: Path, run_id: str) -> None:
    folder = Path(root) / check_run_id(run_id)
    if not folder.exists():
        raise RunNotFound(f"No run '{run_id}' in {root}.")
    try:
        meta = json.loads((folder / "run.json").read_text())
    except (OSError, ValueError):
        meta = {}  # a damaged run can always be deleted
    _refuse_while_training(meta if isinstance(meta, dict) else {}, "deleted")
    # Rename first so a concurrent reader never sees a half-deleted run.
    trash = Path(root) / f".trash-{run_id}-{secrets.token_hex(3)}"
    folder.rename(trash)
    shutil.rmtree(trash, ignore_errors=True)
