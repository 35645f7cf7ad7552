"""A teacher cache under hostile conditions (issue 23, finding 1): a read-only file or folder, a lock held by another
process, a file damaged in the middle, a file that is not a database at all.

The cache holds paid answers, so the rule is: it is moved aside only when it is proven damaged (sqlite says "not a
database", or an integrity check fails); a lock or a permission is waited for (a bounded time), then reported in one
sentence, and the file stays byte-for-byte as it was.

Read-only is tested for real: the tests run as root, where chmod stops nothing, so the check runs in a subprocess as
the unprivileged user `nobody` (setpriv); run as an ordinary user, it is the same subprocess without setpriv.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from core.errors import DamagedData, StorageUnavailable
from core.teachers.teacher import CachedTeacher, HashTeacher

ROOT = Path(__file__).resolve().parents[2]
WORDS = [f"word{i}" for i in range(40)]


def sentence(message: str) -> None:
    """One finished line of words: no traceback, no exception repr."""
    assert message and "Traceback" not in message and "\n" not in message.strip(), message
    assert message.rstrip().endswith((".", ")", "!", "?")), message


def make_cache(folder: Path, words=WORDS) -> Path:
    CachedTeacher(HashTeacher(16), folder).embed(words)
    path = folder / "hash-16.sqlite"
    gc.collect()  # any connection left open by the code under test
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()  # the last connection to close folds the WAL into the file and deletes it
    assert path.exists() and not Path(f"{path}-wal").exists()  # every connection closed: the file holds everything
    return path


# ---- read-only -------------------------------------------------------------------------------------------

READ_ONLY_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from core.teachers.teacher import CachedTeacher, HashTeacher
    folder, words = sys.argv[1], json.loads(sys.argv[2])
    out = {}
    try:
        t = CachedTeacher(HashTeacher(16), folder)
        got = t.embed(words)  # all cached: reading must still work
        out["cached_ok"] = bool(np.allclose(got, HashTeacher(16).embed(words), atol=1e-6)) and t.computed == 0
        t.embed(words + ["a new word"])
        out["new"] = "no error"
    except Exception as err:
        out["error"] = [type(err).__name__, str(err)]
    print(json.dumps(out))
""")


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@functools.cache
def _nobody_can_import_core() -> str | None:
    """None when `nobody` can run this Python and import the lab; else why not (the interpreter or the checkout
    may be closed to other users, e.g. a virtual environment under /root)."""
    done = subprocess.run(
        [*NOBODY, sys.executable, "-c", "import core"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return None if done.returncode == 0 else (done.stderr.strip().splitlines() or ["no output"])[-1][:200]


def unprivileged(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`command` (starting with a Python script's arguments: sys.executable, ...) run by a user that chmod binds:
    this user, or `nobody` when the tests run as root. Skips when that cannot be done here."""
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: chmod cannot make a file read-only here")
        why = _nobody_can_import_core()
        if why is not None:
            pytest.skip(f"running as root, and nobody cannot import the lab here: {why}")
        command = [*NOBODY, *command]
    return subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,  # generous: importing the lab under load
        env={**os.environ, "PYTHONPATH": str(ROOT), "EMBEDDING_LAB_CACHE_TIMEOUT": "1", **(env or {})},
    )


def run_unprivileged(folder: Path, words) -> dict:
    done = unprivileged([sys.executable, "-c", READ_ONLY_SCRIPT, str(folder), json.dumps(words)])
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.subprocess
@pytest.mark.parametrize("folder_writable", [False, True], ids=["folder-read-only", "file-read-only"])
def test_a_read_only_cache_is_read_and_kept_byte_for_byte(folder_writable):
    base = Path(tempfile.mkdtemp(prefix="ro-cache-"))  # not tmp_path: pytest's base folder is closed to other users
    try:
        os.chmod(base, 0o755)
        folder = base / "teachers"
        path = make_cache(folder)
        before = path.read_bytes()
        path.chmod(0o444)
        folder.chmod(0o777 if folder_writable else 0o555)
        names_before = sorted(p.name for p in folder.iterdir())
        out = run_unprivileged(folder, WORDS)
        assert out.get("cached_ok"), out  # what is cached is still served
        kind, message = out["error"]  # a new word cannot be kept: a sentence, not a traceback, nothing computed
        assert kind == "StorageUnavailable" and "read-only" in message, out
        sentence(message)
        assert path.read_bytes() == before
        leftovers = sorted(p.name for p in folder.iterdir())
        assert not [n for n in leftovers if "broken" in n], leftovers  # nothing moved aside
        assert [n for n in leftovers if not n.endswith(("-shm", "-wal"))] == names_before
    finally:
        for p in [base, *base.rglob("*")]:
            p.chmod(0o755) if p.is_dir() else p.chmod(0o644)
        shutil.rmtree(base, ignore_errors=True)


# ---- locked by another process -----------------------------------------------------------------------------

HOLD_LOCK = textwrap.dedent("""
    import sqlite3, sys
    con = sqlite3.connect(sys.argv[1], isolation_level=None)
    if sys.argv[2] == "exclusive":
        con.execute("PRAGMA locking_mode=EXCLUSIVE")
    con.execute("BEGIN EXCLUSIVE")
    con.execute("SELECT count(*) FROM vectors").fetchone()
    print("locked", flush=True)
    sys.stdin.read()  # held until the test closes this pipe (or kills this process), however long the test takes
""")


@pytest.fixture
def locked_cache(tmp_path, request):
    path = make_cache(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path), request.param],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield path
    finally:
        holder.kill()
        holder.wait(10)


@pytest.mark.parametrize("locked_cache", ["writer", "exclusive"], indirect=True)
def test_a_locked_cache_is_waited_for_then_named_and_never_moved(locked_cache, tmp_path, monkeypatch):
    import core.teachers.cache as teacher_module

    before = locked_cache.read_bytes()
    waits, connect, here = [], sqlite3.connect, threading.current_thread()

    def connect_spy(*args, **kwargs):
        if threading.current_thread() is here:  # this teacher's connections (the spy is process-wide: sqlite3's own)
            waits.append(kwargs.get("timeout"))
        return connect(*args, **kwargs)

    monkeypatch.setattr(teacher_module.sqlite3, "connect", connect_spy)
    with pytest.raises(StorageUnavailable) as err:
        teacher = CachedTeacher(HashTeacher(16), tmp_path, busy_timeout_s=0.5)
        teacher.embed(WORDS + ["a new word"])
    assert waits and set(waits) == {0.5}, waits  # every connection waits the configured time, not sqlite's 5 s
    sentence(str(err.value))
    assert "locked" in str(err.value) and "try again" in str(err.value) and "0.5 s" in str(err.value)
    assert locked_cache.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if "broken" in p.name]


@pytest.mark.parametrize("locked_cache", ["writer"], indirect=True)
def test_a_cache_locked_by_a_writer_still_serves_what_it_holds(locked_cache, tmp_path):
    teacher = CachedTeacher(HashTeacher(16), tmp_path, busy_timeout_s=0.5)
    np.testing.assert_allclose(teacher.embed(WORDS), HashTeacher(16).embed(WORDS), atol=1e-6)
    assert teacher.computed == 0


def test_core_embed_on_a_locked_cache_says_what_to_do(tmp_path, monkeypatch, capsys):
    from core.__main__ import main

    home = tmp_path / "home"
    vocab = tmp_path / "words.txt"
    vocab.write_text("\n".join(WORDS + ["newword"]) + "\n")
    path = make_cache(home / "cache" / "teachers")
    monkeypatch.setenv("EMBEDDING_LAB_HOME", str(home))
    monkeypatch.setenv("EMBEDDING_LAB_CACHE_TIMEOUT", "0.5")
    before = path.read_bytes()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path), "writer"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert main(["embed", "--teacher", "hash-16", "--vocab", str(vocab)]) == 2
    finally:
        holder.kill()
        holder.wait(10)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "locked" in lines[0], lines
    sentence(lines[0])
    assert path.read_bytes() == before


# ---- damaged ------------------------------------------------------------------------------------------------


def test_a_cache_damaged_in_the_middle_is_proven_moved_aside_and_recomputed(tmp_path):
    words = [f"term{i}" for i in range(3000)]
    path = make_cache(tmp_path, words)
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    pages = len(data) // page
    rng = np.random.default_rng(0)
    for n in range(pages // 3, pages // 3 + 6):  # the header and the schema (page 1) stay intact
        data[n * page : (n + 1) * page] = rng.integers(0, 256, page, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))

    teacher = CachedTeacher(HashTeacher(16), tmp_path)
    got = teacher.embed(words)  # no DatabaseError escapes
    np.testing.assert_allclose(got, HashTeacher(16).embed(words), atol=1e-6)
    assert teacher.moved_aside is not None and teacher.moved_aside.exists()
    assert teacher.moved_aside.read_bytes() == bytes(data)  # kept as it was, for whoever wants to look
    assert 0 < teacher.computed < len(words)  # what could still be read was kept, not paid for again
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert CachedTeacher(HashTeacher(16), tmp_path).missing(words) == []


def test_a_file_that_is_not_a_database_is_moved_aside_without_losing_an_earlier_one(tmp_path):
    path = tmp_path / "hash-16.sqlite"
    for round_ in range(2):
        path.write_bytes(f"not a database, round {round_}".encode() * 100)
        teacher = CachedTeacher(HashTeacher(16), tmp_path)
        assert teacher.embed(["cat"]).shape == (1, 16) and teacher.computed == 1
    aside = sorted(p for p in tmp_path.iterdir() if "broken" in p.name)
    assert [p.read_bytes()[:30] for p in aside] == [
        b"not a database, round 0not a d",
        b"not a database, round 1not a d",
    ]


def test_a_damaged_cache_that_cannot_be_moved_aside_gets_a_sentence_not_recursion(tmp_path, monkeypatch):
    path = tmp_path / "hash-16.sqlite"
    path.write_bytes(b"not a database" * 100)
    before = path.read_bytes()

    def refuse(self, target):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "rename", refuse)
    monkeypatch.setattr(Path, "replace", refuse)
    monkeypatch.setattr(os, "rename", lambda a, b: refuse(Path(a), b))
    monkeypatch.setattr(os, "replace", lambda a, b: refuse(Path(a), b))
    with pytest.raises(DamagedData) as err:
        CachedTeacher(HashTeacher(16), tmp_path).embed(["cat"])
    sentence(str(err.value))
    assert "damaged" in str(err.value) and "by hand" in str(err.value)
    assert path.read_bytes() == before
