"""Where the lab keeps what it writes: teacher caches, runs, assembled models.

Everything lives under one home folder so a classroom host can point all users at one disk
location: `$EMBEDDING_LAB_HOME` if set, else `.lab/` beside the project.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def lab_home() -> Path:
    """The lab's data folder (created on first use)."""
    home = Path(os.environ.get("EMBEDDING_LAB_HOME", PROJECT_ROOT / ".lab"))
    home.mkdir(parents=True, exist_ok=True)
    return home


def runs_dir() -> Path:
    path = lab_home() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    path = lab_home() / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def teacher_cache_dir() -> Path:
    """One SQLite cache per model (teachers and the cheap encoders adapters read)."""
    return cache_dir() / "teachers"


def models_dir() -> Path:
    """Models assembled at setup time (all-mpnet-base-v2 from its five PyPI parts)."""
    return Path(os.environ.get("EMBEDDING_LAB_MODELS", PROJECT_ROOT / ".models"))
