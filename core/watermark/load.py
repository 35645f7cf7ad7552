"""The edge: a grid's materials (core.watermark.grid.Materials) from names — the teacher's answers, the cheap
model's vectors and the words' frequencies — read from the lab's vector caches, computed (and cached) only when
missing. The CLI and the bench call it; the page builds its materials from the session's prepared data."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.config import default_cheap
from core.data.corpus import word_frequencies
from core.paths import teacher_cache_dir
from core.watermark.grid import Materials
from core.words.cheap import cheap_features


def load_materials(
    items: Sequence[str],
    teacher: str,
    cheap: str = "",
    cache_root: Path | None = None,
    device: str = "cpu",
    clean: np.ndarray | None = None,
    teacher_id: str = "",
    layers: bool = False,
) -> Materials:
    """`clean` and `teacher_id` given (a page's prepared data): only the cheap model's vectors are read. `layers`:
    its layer features too (the kernel adapter reads them; for a static table they are its vectors, no extra work)."""
    root = cache_root or teacher_cache_dir()
    items = tuple(items)
    if clean is None:
        clean, teacher_id, _ = cheap_features(items, teacher, root, device, kind="sentence")  # the same cache
    cheap = cheap or default_cheap(teacher)
    features, _, _ = cheap_features(items, cheap, root, device, kind="sentence")
    layered = cheap_features(items, cheap, root, device, kind="layers")[0] if layers else None
    frequencies = None if teacher.startswith("hash") else word_frequencies(items)
    return Materials(
        items, np.asarray(clean, np.float32), teacher_id, features=features, layers=layered, frequencies=frequencies
    )
