"""Where the lab keeps what it writes: teacher caches, runs, assembled models.

Everything lives under one home folder so a classroom host can point all users at one disk
location: `$EMBEDDING_LAB_HOME` if set, else `.lab/` beside the project.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Iterator
from pathlib import Path

from core.errors import StorageUnavailable

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# The OS errors that mean "this place cannot be written now", not "this program is wrong": each becomes a
# StorageUnavailable sentence (any other OSError stays what it is, so a real bug still shows).
_UNWRITABLE = {
    errno.EACCES: "no permission to write there",
    errno.EPERM: "no permission to write there",
    errno.EROFS: "the disk is read-only",
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.ENOTDIR: "a file stands where a folder should be",
}


def unwritable(err: OSError, where: Path | str) -> StorageUnavailable | None:
    """The sentence for an OSError that means the lab cannot write at `where`; None for any other error.

    >>> str(unwritable(PermissionError(13, "Permission denied"), "/srv/lab"))[:52]
    'The lab cannot write to /srv/lab (no permission to w'
    """
    reason = _UNWRITABLE.get(err.errno)
    if reason is None and isinstance(err, FileExistsError) and err.filename:
        blocker = Path(os.fsdecode(err.filename))
        if blocker.exists() and not blocker.is_dir():  # mkdir(exist_ok=True) on a path that is a file
            reason = "a file stands where a folder should be"
    if reason is None:
        return None
    fix = (
        "free some disk space"
        if err.errno in (errno.ENOSPC, errno.EDQUOT)
        else "make that folder writable, or set EMBEDDING_LAB_HOME to a folder you can write to"
    )
    return StorageUnavailable(f"The lab cannot write to {where} ({reason}); {fix}, then try again.")


@contextlib.contextmanager
def writing(where: Path | str) -> Iterator[None]:
    """Turn a read-only, foreign-owned or full disk met inside the block into one StorageUnavailable sentence."""
    try:
        yield
    except OSError as err:
        unavailable = unwritable(err, where)
        if unavailable is None:
            raise
        raise unavailable from None


def _folder(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise (unwritable(err, path) or _unusable(err, path)) from None
    return path


def _unusable(err: OSError, path: Path) -> StorageUnavailable:
    """The sentence for a lab folder that cannot be made for a reason other than permissions or space: a path
    under /proc, a link that leads nowhere or in a loop, a name too long."""
    if path.is_symlink() and not path.exists():
        reason = "it is a link that leads nowhere, or in a loop"
    elif err.errno == errno.ELOOP:
        reason = "its links lead in a loop"
    elif err.errno == errno.ENOENT:
        reason = "a folder cannot be made there"
    else:
        reason = (err.strerror or type(err).__name__).lower()
    return StorageUnavailable(
        f"The lab cannot use {path} as its folder ({reason}); set EMBEDDING_LAB_HOME to a folder you can write to."
    )


def lab_home() -> Path:
    """The lab's data folder (created on first use)."""
    return _folder(Path(os.environ.get("EMBEDDING_LAB_HOME", PROJECT_ROOT / ".lab")))


def runs_dir() -> Path:
    return _folder(lab_home() / "runs")


def cache_dir() -> Path:
    return _folder(lab_home() / "cache")


def teacher_cache_dir() -> Path:
    """One SQLite cache per model (teachers and the cheap encoders adapters read)."""
    return cache_dir() / "teachers"


# A cache id (a teacher's, a cheap encoder's) becomes a file name in the cache folder: never a path. What
# core.teachers.teacher.teacher_id_for makes always fits; an imported run.json or student.json may hold anything.
CACHE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,200}\Z")


def check_cache_id(cache_id: object, field: str = "cache id") -> str:
    """`cache_id` when it can name a file in the cache folder; ValueError with a sentence otherwise.

    >>> check_cache_id("hash-16")
    'hash-16'
    """
    if not isinstance(cache_id, str) or not CACHE_ID.match(cache_id) or cache_id in (".", ".."):
        raise ValueError(
            f"'{field}' is not the name of a cache (letters, digits, '.', '_' and '-', at most 200): {str(cache_id)[:60]!r}."
        )
    return cache_id


def cache_file(cache_folder: Path | str, cache_id: object) -> Path:
    """The SQLite file of `cache_id` in `cache_folder`, checked to lie inside it (ValueError otherwise)."""
    folder = Path(cache_folder)
    path = folder / f"{check_cache_id(cache_id)}.sqlite"
    if path.parent != folder or os.path.normpath(path).rsplit(os.sep, 1)[0] != os.path.normpath(folder):
        raise ValueError(f"The cache id {str(cache_id)[:60]!r} leads outside the cache folder {folder}.")
    return path


def models_dir() -> Path:
    """Models assembled at setup time (all-mpnet-base-v2 from its five PyPI parts)."""
    return Path(os.environ.get("EMBEDDING_LAB_MODELS", PROJECT_ROOT / ".models"))
