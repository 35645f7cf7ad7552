"""Where a run lives and how its small files are replaced: run ids (checked before any path is built from one),
the live journal's folder name, and the atomic rewrite of a run.json. The bottom of the run store's modules:
`checks` (what a run's files may hold), `journal` (a run in progress and its recovery) and `store` (save, load,
list) sit on it."""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from pathlib import Path

from core.config import TrainConfig
from core.paths import writing

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


def live_folder(root: Path, run_id: str) -> Path:
    return Path(root) / f".live-{check_run_id(run_id)}"


def rewrite_meta(path: Path, meta: dict) -> None:
    """Replace a stored run's run.json atomically: a reader sees the old file or the new one, never half."""
    tmp = path.with_name(f".run.json.{secrets.token_hex(3)}")
    with writing(path.parent):
        try:
            tmp.write_text(json.dumps(meta, indent=2))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)  # after a refused replace, not a stray file in the run
