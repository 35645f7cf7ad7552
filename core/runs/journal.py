"""A run in progress and its recovery (`core.runs.store`'s docstring tells the whole story): a journal
(`.live-<run_id>/epochs.jsonl`, one line per finished epoch) and who writes it; `recover_interrupted` turns the
journal of a process that is gone into a stored run with status "interrupted"."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import time
from pathlib import Path

import polars as pl

from core.paths import writing
from core.runs.checks import EPOCH_COLUMNS, check_meta, check_scores, read_meta, read_table
from core.runs.layout import RUN_ID, live_folder, rewrite_meta
from core.words.train import EpochRecord

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


def writer_alive(live: Path) -> bool:
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
            if live.exists() and writer_alive(live):
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
        if writer_alive(live):
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
    return live.exists() and not writer_alive(live)


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
        pl.DataFrame(lines, schema=EPOCH_COLUMNS).write_parquet(folder / ".epochs.tmp")
        os.replace(folder / ".epochs.tmp", folder / "epochs.parquet")
        meta["final"] = lines[-1]
    meta.update(
        {"status": "interrupted", "epochs_done": max(len(lines), stored.height), "weights_epoch": stored.height}
    )
    check_meta(meta, run_id)  # what the listing will read: a recovery the listing would drop is no recovery
    rewrite_meta(folder / "run.json", meta)
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
        if not isinstance(row, dict) or set(row) != set(EPOCH_COLUMNS):
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
