"""2-D views of embeddings: PCA (instant) and UMAP (slow the first time), cached on disk.

Teacher and student vectors are projected *together* (stacked into one matrix) so both live in
the same coordinates and a word's two points can be compared.

UMAP's first call in a process compiles numba code (~30-40 s here), later calls take seconds;
results are cached on disk under a key made from the input bytes and the settings, so a
projection is computed once for everyone.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from enum import Enum
from pathlib import Path

import numpy as np

from core.errors import DamagedData


class Method(str, Enum):
    PCA = "pca"
    UMAP = "umap"


def map_sample(n_items: int, size: int, always=(), seed: int = 0) -> np.ndarray:
    """The items a map shows, sorted: a seeded random `size` of them (all when fewer), plus `always` (the
    words a person asked to highlight). The same arguments give the same map.

    >>> map_sample(10, 3, always=[9]).tolist()
    [5, 6, 9]
    """
    rng = np.random.default_rng(seed)
    chosen = set(rng.choice(n_items, size=min(int(size), n_items), replace=False).tolist())
    return np.array(sorted(chosen | {int(i) for i in always}), dtype=np.int64)


MAP_SIZE = 2000  # words on a map unless a person asks for another number (the Projection page's default)
STORY_WORDS = ("king", "queen")  # what a map shows highlighted unless asked otherwise: the story's words


def map_input(
    teacher: np.ndarray, student: np.ndarray, index: dict[str, int], words=STORY_WORDS, size: int = MAP_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """What a map of a run projects: (the items shown, `map_sample` of `size` words plus the highlighted `words`
    found in `index`; the matrix, their teacher rows over their student rows). The Projection page and the warm-up
    (`core.warm`, which projects the story's runs ahead) build it here, so the warm-up's cached coordinates are the
    very ones the page looks up (`ProjectionCache.key` hashes this matrix)."""
    n = len(teacher)
    idx = map_sample(n, min(int(size), n), always=[index[w] for w in words if w in index])
    return idx, np.vstack([teacher[idx], student[idx]])


def pca_2d(x: np.ndarray) -> np.ndarray:
    """The two principal components (centered SVD), signs fixed so results are reproducible."""
    x = np.asarray(x, dtype=np.float64)
    centered = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centered, full_matrices=False)
    components = vt[:2]
    components *= np.sign(components[np.arange(2), np.abs(components).argmax(axis=1)])[:, None]
    return (centered @ components.T).astype(np.float32)


_IMPORT_LOCK = threading.Lock()


def _umap_module():
    # umap's package imports itself in a cycle; two threads importing it at once (the warm-up
    # and a first projection) can see it half-initialised ("no attribute 'UMAP'").
    with _IMPORT_LOCK:
        import umap
    return umap


def umap_2d(x: np.ndarray, seed: int = 0, n_neighbors: int = 15, n_epochs: int = 200) -> np.ndarray:
    umap = _umap_module()  # heavy: numba compiles on first use

    reducer = umap.UMAP(
        n_components=2, n_neighbors=n_neighbors, n_epochs=n_epochs, metric="cosine", random_state=seed, n_jobs=1
    )
    return reducer.fit_transform(np.asarray(x, dtype=np.float32)).astype(np.float32)


def warm_up_umap() -> None:
    """Compile UMAP's numba code on a tiny problem, so the first real projection is fast."""
    umap_2d(np.random.default_rng(0).standard_normal((60, 8)).astype(np.float32), n_neighbors=5, n_epochs=10)


class ProjectionCache:
    """Projections on disk, keyed by a hash of the input matrix and the settings."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(x: np.ndarray, method: Method | str, seed: int = 0) -> str:
        digest = hashlib.sha256(np.ascontiguousarray(x, dtype=np.float32).tobytes())
        digest.update(f"{Method(method).value}:{seed}:{x.shape}".encode())
        return digest.hexdigest()[:24]

    @staticmethod
    def run_key(run_id: str, stamp: int, idx: np.ndarray, method: Method | str, seed: int = 0) -> str:
        """The key of a stored run's map (`map_input`'s items `idx` of run `run_id`, written at `stamp`, its run.json's
        mtime): the warm-up projects the story's runs in one process and a server reads them in another, where the
        student's vectors may differ in the last float bits (torch's threads), so a hash of the matrix would miss."""
        digest = hashlib.sha256(np.ascontiguousarray(idx, dtype=np.int64).tobytes())
        digest.update(f"run:{run_id}:{int(stamp)}:{Method(method).value}:{seed}".encode())
        return digest.hexdigest()[:24]

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        try:
            return np.load(self.path(key), allow_pickle=False)
        except (OSError, ValueError):
            return None

    def put(self, key: str, coords: np.ndarray) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, coords, allow_pickle=False)
        os.replace(tmp, self.path(key))  # atomic: readers see all or nothing


def project(
    x: np.ndarray, method: Method | str, cache: ProjectionCache | None = None, seed: int = 0, key: str | None = None
) -> np.ndarray:
    """2-D coordinates for the rows of x, from the cache when computed before (under `key`, default a hash of x:
    `ProjectionCache.run_key` names a stored run's map). Vectors holding NaN or infinity (a damaged student) have no
    map: DamagedData, not the LinAlgError SVD would raise."""
    method = Method(method)
    if not np.isfinite(np.asarray(x, dtype=np.float64)).all():
        raise DamagedData("These vectors hold numbers that are not finite (NaN or infinity), so they have no map.")
    key = (key or ProjectionCache.key(x, method, seed)) if cache else None
    if cache and (hit := cache.get(key)) is not None and hit.shape == (x.shape[0], 2) and np.isfinite(hit).all():
        return hit  # (a cache file of another shape, or with NaN, is damaged: computed again below)
    coords = pca_2d(x) if method is Method.PCA else umap_2d(x, seed)
    if cache:
        cache.put(key, coords)
    return coords
