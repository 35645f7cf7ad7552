"""The teachers' answers on disk: `CachedTeacher` wraps any teacher with a SQLite cache keyed by (teacher id, text),
so each text is computed once, ever, and counts its queries (computed by the model vs served from the cache); a
cache another process holds is waited for, a read-only one read, a damaged one set aside (salvaged) and built
again. `cached_vectors` / `cached_count` read it without a model."""

from __future__ import annotations

import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from functools import lru_cache
from pathlib import Path

import numpy as np

from core.errors import DamagedData, StorageUnavailable
from core.paths import cache_file
from core.teachers.base import Progress, Teacher, TeacherCancelled, TeacherUnavailable, cancel_check
from core.vectors import unit_rows


def connect_read_only(path: Path, timeout: float) -> sqlite3.Connection:
    """A connection that reads the cache at `path` and can never write it, in a folder this process may not be
    able to write either."""
    uri = Path(path).resolve().as_uri()
    con = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=timeout)
    try:
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return con
    except sqlite3.OperationalError as err:
        con.close()
        if _cause(err) != "read-only":
            raise
    # A WAL file needs its -shm beside it, which a read-only folder cannot hold; immutable reads the file
    # without it (and without locks: nobody can be writing a file this process cannot write either).
    return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, timeout=timeout)


def cache_wait_seconds() -> float:
    """How long a cache waits for another process's lock before saying so ($EMBEDDING_LAB_CACHE_TIMEOUT, default 30 s)."""
    raw = os.environ.get("EMBEDDING_LAB_CACHE_TIMEOUT", "").strip()
    try:
        value = float(raw) if raw else 30.0
    except ValueError:
        raise StorageUnavailable(f"EMBEDDING_LAB_CACHE_TIMEOUT must be a number of seconds, got {raw!r}.") from None
    return min(max(value, 0.0), 3600.0) if math.isfinite(value) else 30.0


# sqlite3's DatabaseError covers locks and permissions as well as damage, so the cause is read from the primary
# result code (https://sqlite.org/rescode.html): only CORRUPT and NOTADB speak about the file's contents.
_CORRUPT, _NOTADB = 11, 26
_BUSY_CODES = {5, 6}  # BUSY, LOCKED
_READ_ONLY_CODES = {3, 8, 14}  # PERM, READONLY, CANTOPEN
_FULL = 13


def _cause(err: sqlite3.Error) -> str:
    code = getattr(err, "sqlite_errorcode", None)
    if code is not None:
        code &= 0xFF
        if code in (_CORRUPT, _NOTADB):
            return "corrupt"
        if code in _BUSY_CODES:
            return "busy"
        if code in _READ_ONLY_CODES:
            return "read-only"
        if code == _FULL:
            return "full"
        return "other"
    text = str(err).lower()  # an error raised by the module itself has no code; its wording is all there is
    if "malformed" in text or "not a database" in text:
        return "corrupt"
    if "locked" in text or "busy" in text:
        return "busy"
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        return "read-only"
    return "other"


class CachedTeacher:
    """A teacher with an on-disk cache: each (teacher id, text) is computed once, ever.

    The cache is one SQLite file per teacher, safe for several processes at once. Counters:
    `computed` (texts the model actually embedded: the paid queries) and `cached`.

    The file may hold paid answers, so it is moved aside only when SQLite proves it damaged ("not a
    database", or `PRAGMA quick_check` fails): what can still be read is copied into a fresh cache and
    the rest computed again; the damaged file is kept as `<name>.sqlite.broken` (`moved_aside`). A lock
    held by another process is waited for `busy_timeout_s` (default $EMBEDDING_LAB_CACHE_TIMEOUT or
    30 s), then `StorageUnavailable` says so. A read-only cache is read; a call that would have to add
    to it is refused before the teacher is asked. In none of these cases is the file written.
    """

    def __init__(self, teacher: Teacher, cache_dir: Path, busy_timeout_s: float | None = None):
        self.teacher = teacher
        self.id = teacher.id
        # A paid teacher does not know its width before its first answer; it is not asked just for that:
        # the width comes from this cache if it has one, else from the first answer.
        self.dim = teacher.dim if getattr(teacher, "dim_known", True) else None
        self.computed = 0
        self.cached = 0
        self.busy_timeout_s = cache_wait_seconds() if busy_timeout_s is None else float(busy_timeout_s)
        self.read_only = False  # readable, but nothing can be added (a read-only file or folder)
        self.moved_aside: Path | None = None  # where a cache proven damaged was kept
        cache_dir = Path(cache_dir)
        self.path = cache_dir / f"{teacher.id}.sqlite"
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StorageUnavailable(
                f"The teacher cache folder {cache_dir} cannot be created ({err.strerror or err}): make it "
                "writable, or set EMBEDDING_LAB_HOME to a folder you can write to."
            ) from None
        self._lock = threading.Lock()
        self._open()

    # -- opening and connections ------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self.read_only:
            return self._connect_read_only()
        con = sqlite3.connect(self.path, timeout=self.busy_timeout_s)
        if con.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            con.execute("PRAGMA journal_mode=WAL")  # only when needed: setting it takes a lock another process may hold
        return con

    def _connect_read_only(self) -> sqlite3.Connection:
        return connect_read_only(self.path, self.busy_timeout_s)

    def _writable(self) -> bool:
        folder_ok = os.access(self.path.parent, os.W_OK | os.X_OK)  # the -wal and -shm files live beside the cache
        return folder_ok and (not self.path.exists() or os.access(self.path, os.W_OK))

    def _open(self) -> None:
        """Create the cache if needed and read its width. A file proven damaged is replaced once, never in a loop."""
        if not self._writable():
            self.read_only = True
        for attempt in range(2):
            try:
                return self._prepare()
            except sqlite3.DatabaseError as err:
                if attempt == 0 and _cause(err) == "corrupt" and self._proven_corrupt():
                    self._replace_damaged(err)
                    continue
                raise self._storage_error(err) from None

    def _prepare(self) -> None:
        if self.read_only:
            if not self.path.exists():
                return  # nothing to read, nothing can be added: `embed` says so when it needs to
            con = self._connect()
            try:
                has_meta = con.execute("SELECT 1 FROM sqlite_master WHERE name='meta'").fetchone()
                row = con.execute("SELECT value FROM meta WHERE key='dim'").fetchone() if has_meta else None
            finally:
                con.close()
        else:
            try:
                with closing(self._connect()) as con, con:
                    con.execute("CREATE TABLE IF NOT EXISTS vectors (text TEXT PRIMARY KEY, vec BLOB NOT NULL)")
                    con.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
                    row = con.execute("SELECT value FROM meta WHERE key='dim'").fetchone()
                    if (
                        row is None and self.dim is not None
                    ):  # written only when missing: a lock elsewhere must not stop reading
                        con.execute("INSERT OR IGNORE INTO meta VALUES ('dim', ?)", (str(self.dim),))
            except sqlite3.DatabaseError as err:
                if _cause(err) != "read-only" or not self.path.exists():
                    raise
                self.read_only = True  # e.g. run as root on a read-only mount: read what is there
                return self._prepare()
        if row is None:
            return
        dim = int(row[0])
        if self.dim is None:
            self.dim = dim
            self.teacher.remember_dim(dim)
        elif dim != self.dim:
            raise TeacherUnavailable(
                f"The cache {self.path} holds {dim}-d vectors but '{self.id}' gives {self.dim}-d; delete the file."
            )

    # -- faults -----------------------------------------------------------------------------------
    def _storage_error(self, err: sqlite3.Error) -> Exception:
        cause = _cause(err)
        if cause == "busy":
            return StorageUnavailable(
                f"The teacher cache {self.path.name} is locked by another process and stayed locked for "
                f"{self.busy_timeout_s:g} s; nothing was changed: try again when the other job is done "
                "(or raise EMBEDDING_LAB_CACHE_TIMEOUT)."
            )
        if cause == "read-only":
            return self._read_only_error()
        if cause == "full":
            return StorageUnavailable(
                f"The disk holding the teacher cache {self.path} is full; free some space and try again."
            )
        if cause == "corrupt":
            return DamagedData(
                f"The teacher cache {self.path} is damaged ({err}) and could not be replaced; move it aside "
                "or delete it, and its vectors are computed again."
            )
        return StorageUnavailable(
            f"The teacher cache {self.path} cannot be used ({' '.join(str(err).split())}); nothing was "
            "changed: check the file and its folder, then try again."
        )

    def _read_only_error(self, todo: int | None = None) -> StorageUnavailable:
        what = f"{todo:,} vectors are not in it yet and could not be kept" if todo else "nothing can be added to it"
        return StorageUnavailable(
            f"The teacher cache {self.path} is read-only, so {what}; nothing was computed: make the file "
            "and its folder writable, or set EMBEDDING_LAB_HOME to a folder you can write to."
        )

    def _proven_corrupt(self) -> bool:
        """SQLite's own check, on a read-only connection (it can neither wait for a lock nor change the file)."""
        try:
            con = self._connect_read_only()
            try:
                return con.execute("PRAGMA quick_check").fetchall() != [("ok",)]
            finally:
                con.close()
        except sqlite3.DatabaseError as err:
            return _cause(err) == "corrupt"

    def _salvage(self) -> list[tuple[str, bytes]]:
        """The rows a damaged cache can still give, read by rowid ranges so that one bad page loses only its own rows."""
        rows: list[tuple[str, bytes]] = []
        try:
            con = self._connect_read_only()
        except sqlite3.DatabaseError:
            return rows
        try:
            top = con.execute("SELECT max(rowid) FROM vectors").fetchone()[0] or 0
            for start in range(0, top + 1, 256):
                try:
                    rows += con.execute(
                        "SELECT text, vec FROM vectors WHERE rowid BETWEEN ? AND ?", (start, start + 255)
                    ).fetchall()
                except sqlite3.DatabaseError:
                    continue
        except sqlite3.DatabaseError:
            pass  # not even the table's last page: nothing to save
        finally:
            con.close()
        width = 4 * self.dim if self.dim else None
        return [
            (t, v)
            for t, v in rows
            if isinstance(t, str)
            and isinstance(v, bytes)
            and (width is None or len(v) == width)
            and np.isfinite(np.frombuffer(v, dtype=np.float32)).all()
        ]

    def _replace_damaged(self, err: sqlite3.Error) -> None:
        """Keep the damaged file beside the cache (never overwriting an earlier one), start a fresh cache and put
        back what could still be read."""
        if self.read_only:
            raise DamagedData(
                f"The teacher cache {self.path} is damaged ({err}) and read-only, so it cannot be replaced; "
                "move it aside or delete it, and its vectors are computed again."
            )
        rows = self._salvage()
        aside = self.path.with_name(f"{self.path.name}.broken")
        n = 1
        while aside.exists():
            n += 1
            aside = self.path.with_name(f"{self.path.name}.broken-{n}")
        try:
            os.rename(self.path, aside)
        except OSError as os_err:
            raise DamagedData(
                f"The teacher cache {self.path} is damaged ({err}) and cannot be moved aside "
                f"({os_err.strerror or os_err}); move it aside or delete it by hand."
            ) from None
        wal = Path(f"{self.path}-wal")
        if wal.exists():
            os.rename(wal, Path(f"{aside}-wal"))  # it belongs to the damaged file: kept with it
        Path(f"{self.path}-shm").unlink(missing_ok=True)  # an index rebuilt from the WAL, nothing of its own
        self.moved_aside = aside
        self._prepare()
        if rows:
            with closing(self._connect()) as con, con:
                con.executemany("INSERT OR IGNORE INTO vectors VALUES (?, ?)", rows)

    def _run(self, work: Callable[[], object]):
        """Run a read or write; a cache proven damaged on the way is replaced once and the work done again."""
        try:
            return work()
        except sqlite3.DatabaseError as err:
            if _cause(err) != "corrupt" or not self._proven_corrupt():
                raise self._storage_error(err) from None
            self._replace_damaged(err)
        try:
            return work()
        except sqlite3.DatabaseError as err:
            raise self._storage_error(err) from None

    # -- reading and computing --------------------------------------------------------------------
    def lookup(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached vectors among `texts` (no model call)."""
        unique = list(dict.fromkeys(texts))

        def read() -> dict[str, np.ndarray]:
            found: dict[str, np.ndarray] = {}
            if self.read_only and not self.path.exists():
                return found
            with closing(self._connect()) as con:
                for start in range(0, len(unique), 900):  # SQLite's bound-parameter limit
                    chunk = unique[start : start + 900]
                    marks = ",".join("?" * len(chunk))
                    for text, blob in con.execute(f"SELECT text, vec FROM vectors WHERE text IN ({marks})", chunk):
                        vec = np.frombuffer(blob, dtype=np.float32)
                        if vec.shape == (self.dim,) and np.isfinite(vec).all():
                            found[text] = vec
            return found

        return self._run(read)

    def missing(self, texts: Sequence[str]) -> list[str]:
        """Texts not in the cache yet: what an `embed` call would pay for."""
        have = self.lookup(texts)
        return [t for t in dict.fromkeys(texts) if t not in have]

    def _check_writable(self) -> None:
        """Take and drop the write lock before the teacher is asked: a lock or a read-only file is found before
        anything is paid for, not after."""

        def probe() -> None:
            with closing(self._connect()) as con:
                con.execute("BEGIN IMMEDIATE")
                con.rollback()

        self._run(probe)

    def _store(self, batch: list[str], vecs: np.ndarray) -> None:
        def write() -> None:
            with (
                closing(self._connect()) as con,
                con,
            ):  # one transaction per batch: each is kept even if a later one fails
                if self.dim is not None:
                    con.execute("INSERT OR IGNORE INTO meta VALUES ('dim', ?)", (str(self.dim),))
                con.executemany(
                    "INSERT OR REPLACE INTO vectors VALUES (?, ?)", [(t, v.tobytes()) for t, v in zip(batch, vecs)]
                )

        self._run(write)

    def keep(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Store vectors of this cache's teacher computed elsewhere (one forward pass that filled two caches,
        `core.teachers.one_pass`): checked as the teacher's own answers are, then counted as computed."""
        texts = list(texts)
        vectors = unit_rows(np.asarray(vectors, dtype=np.float32))
        if self.dim is None and vectors.ndim == 2 and vectors.shape[1] > 0:
            self.dim = int(vectors.shape[1])
        if vectors.shape != (len(texts), self.dim) or not np.isfinite(vectors).all():
            raise TeacherUnavailable(f"Malformed vectors for '{self.id}' (shape {vectors.shape}); nothing was cached.")
        if not texts:
            return
        with self._lock:
            if self.read_only:
                raise self._read_only_error(len(texts))
            self._check_writable()
            self._store(texts, vectors)
            self.computed += len(texts)

    def embed(
        self, texts: Sequence[str], progress: Progress | None = None, cancel=None, deadline_s: float | None = None
    ) -> np.ndarray:
        """Vectors of `texts`, from the cache where it has them, else from the teacher (then kept).

        `cancel` (a `threading.Event` or a function returning True) stops the job between batches, and a
        teacher that supports it (the API teacher) within about a second, even mid-request:
        `TeacherCancelled`. `deadline_s` bounds the whole call: `TeacherUnavailable` when it passes. Either
        way every batch answered before is kept.
        """
        texts = list(texts)
        cancelled = cancel_check(cancel)
        deadline = time.monotonic() + deadline_s if deadline_s is not None else None
        if deadline is None and getattr(self.teacher, "job_deadline_s", None):
            deadline = time.monotonic() + self.teacher.job_deadline_s  # the whole job, not each batch, within the limit
        with self._lock:
            have = self.lookup(texts)
            todo = [t for t in dict.fromkeys(texts) if t not in have]
            self.cached += len(texts) - len(todo)
            if todo and self.read_only:
                raise self._read_only_error(len(todo))
            check_budget = getattr(self.teacher, "check_budget", None)
            if todo and check_budget:
                check_budget(todo)  # a paid teacher refuses the whole job up front, not half-way through it
            if todo:
                self._check_writable()
                # A teacher that says so (the API teacher) takes the cancel and the deadline itself, checks them even
                # mid-request, and is given one of its own batches at a time, so each paid answer is kept as it comes.
                # The local models finish a batch in well under a second: they are checked between batches.
                cancellable = getattr(self.teacher, "cancellable", False)
                step = self.teacher.batch_size if cancellable else 512
                extra = {"cancel": cancel, "deadline": deadline} if cancellable else {}
                for start in range(0, len(todo), step):
                    if cancelled():
                        raise TeacherCancelled(
                            f"Cancelled: {start:,} of {len(todo):,} new vectors were computed and kept in "
                            "the cache; nothing more was asked."
                        )
                    if deadline is not None and not cancellable and time.monotonic() > deadline:
                        raise TeacherUnavailable(
                            f"The teacher did not finish within {deadline_s:g} s: {start:,} of {len(todo):,} "
                            "new vectors were computed and kept in the cache; run it again to go on."
                        )
                    batch = todo[start : start + step]
                    vecs = unit_rows(self.teacher.embed(batch, **extra))
                    if self.dim is None and vecs.ndim == 2 and vecs.shape[1] > 0:
                        self.dim = int(vecs.shape[1])
                    if vecs.shape != (len(batch), self.dim) or not np.isfinite(vecs).all():
                        raise TeacherUnavailable(
                            f"The teacher '{self.id}' returned malformed vectors; nothing was cached."
                        )
                    self._store(batch, vecs)
                    have.update(zip(batch, vecs))
                    self.computed += len(batch)
                    if progress:
                        progress(len(texts) - len(todo) + start + len(batch), len(texts))
            elif progress:
                progress(len(texts), len(texts))
        if not texts:
            return np.zeros((0, self.dim or 0), np.float32)
        return np.stack([have[t] for t in texts]).astype(np.float32)


def cached_count(cache_dir: Path, teacher_id: str, texts: Sequence[str]) -> int:
    """How many of the distinct `texts` a teacher's cache holds, read from its index alone (no vector is read, no
    model loaded: a warm-up's "is it done?" in milliseconds). 0 when the cache is missing or cannot be read."""
    try:
        path = cache_file(cache_dir, teacher_id)
    except ValueError:
        return 0  # a name that is not a cache's has nothing cached
    if not path.is_file():
        return 0
    unique = list(dict.fromkeys(texts))
    count = 0
    try:
        con = connect_read_only(path, cache_wait_seconds())
        try:
            for start in range(0, len(unique), 900):  # SQLite's bound-parameter limit
                chunk = unique[start : start + 900]
                marks = ",".join("?" * len(chunk))
                count += con.execute(f"SELECT count(*) FROM vectors WHERE text IN ({marks})", chunk).fetchone()[0]
        finally:
            con.close()
    except sqlite3.DatabaseError:
        return 0  # whoever computes the vectors then meets the damage and says so (CachedTeacher)
    return count


def cached_vectors(cache_dir: Path, teacher_id: str, texts: Sequence[str]) -> np.ndarray:
    """Vectors already in a teacher's cache, in the order of `texts`, without loading the model.

    Raises `TeacherUnavailable` naming what is missing (the data must be prepared first), `DamagedData` or
    `StorageUnavailable` when the file cannot be read (it is never changed here); ValueError when `teacher_id` (read
    from a run's files) is not a cache's name.
    """
    path = cache_file(cache_dir, teacher_id)  # an id read from a file must name a cache, never a path (ValueError)
    if not path.exists():
        raise TeacherUnavailable(
            f"No cached vectors for teacher '{teacher_id}' yet; compute them on the Data page first."
        )
    found: dict[str, bytes] = {}
    unique = list(dict.fromkeys(texts))
    try:
        con = connect_read_only(path, cache_wait_seconds())
        try:
            for start in range(0, len(unique), 900):
                chunk = unique[start : start + 900]
                marks = ",".join("?" * len(chunk))
                found.update(con.execute(f"SELECT text, vec FROM vectors WHERE text IN ({marks})", chunk).fetchall())
        finally:
            con.close()
    except sqlite3.DatabaseError as err:
        cause = _cause(err)
        if cause == "corrupt":
            raise DamagedData(
                f"The teacher cache {path} is damaged ({err}); compute the vectors on the Data page again "
                "(the damaged file is then kept aside)."
            ) from None
        if cause == "busy":
            raise StorageUnavailable(
                f"The teacher cache {path.name} is locked by another process; try again when it is done."
            ) from None
        raise StorageUnavailable(
            f"The teacher cache {path} cannot be read ({' '.join(str(err).split())}); check the file and its folder."
        ) from None
    missing = [t for t in unique if t not in found]
    if missing:
        raise TeacherUnavailable(
            f"{len(missing):,} items (e.g. {missing[0]!r}) have no cached '{teacher_id}' vector; compute them on the Data page first."
        )
    return np.stack([np.frombuffer(found[t], dtype=np.float32) for t in texts])


# `shared_vectors` keeps this many arrays (one per cache file, teacher and list of texts): a lab shows runs of one or
# two word lists under one or two teachers at a time; 10,002 MPNet vectors are 31 MB.
SHARED_KEPT = 4
_SHARED_LOCK = threading.Lock()


def shared_vectors(cache_dir: Path, teacher_id: str, texts: Sequence[str]) -> np.ndarray:
    """`cached_vectors`, read once per process and kept read-only for every caller that asks for the same texts
    (the last `SHARED_KEPT` lists): the runs of one word list all stand beside the same teacher vectors, so a class
    whose thirty runs are scored at once holds one copy of them instead of thirty (issue 30). Same errors as
    `cached_vectors`. The file's identity and modification time are part of the key, so a cache set aside and built
    again is read again; a text's vector never changes in a cache, so a cache that only grew still answers right."""
    path = cache_file(cache_dir, teacher_id)
    try:
        stat = path.stat()
    except OSError:
        return cached_vectors(cache_dir, teacher_id, texts)  # its sentence (no cache yet, or an unreadable folder)
    with _SHARED_LOCK:  # thirty callers at once wait for one read instead of making thirty
        return _shared(
            str(path), (stat.st_ino, stat.st_mtime_ns, stat.st_size), str(cache_dir), teacher_id, tuple(texts)
        )


@lru_cache(maxsize=SHARED_KEPT)
def _shared(path: str, version: tuple, cache_dir: str, teacher_id: str, texts: tuple[str, ...]) -> np.ndarray:
    vectors = cached_vectors(Path(cache_dir), teacher_id, texts)
    vectors.setflags(write=False)  # shared: a caller that needs to change it makes its own copy
    return vectors
