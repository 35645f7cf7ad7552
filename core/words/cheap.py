"""What an adapter reads from its cheap model: the model's vectors or its layer features of every item, from the
teacher caches (no model loaded when they are complete), computed once otherwise (`cheap_features`), and the cache id
they are kept under (`features_id`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from core.teachers.teacher import (
    STATIC_SOURCES,
    CachedTeacher,
    LayerFeatures,
    Teacher,
    TeacherUnavailable,
    cached_vectors,
    layer_features_id,
    load_teacher,
    teacher_id_for,
)


def features_id(cheap: str, kind: str = "sentence") -> str:
    """The cache id of what an adapter reads from `cheap` (see `cheap_features`): its vectors, or its layer
    features; a static table has no layers, so both are its vectors."""
    if kind not in ("sentence", "layers"):
        raise ValueError(f"Unknown feature kind {kind!r}.")
    if kind == "sentence" or cheap.strip() in STATIC_SOURCES:
        return teacher_id_for(cheap)
    return layer_features_id(teacher_id_for(cheap))


def cheap_features(
    items: Sequence[str],
    cheap: str,
    cache_root,
    device: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    kind: str = "sentence",
    load: Callable[[str], Teacher] | None = None,
) -> tuple[np.ndarray, str, float]:
    """The cheap encoder's view of every item: (features, their cache id, seconds spent computing).

    kind 'sentence': its sentence embedding; 'layers': its last six layers (`LayerFeatures`). The static
    cheap model (`static`, a word table) has no layers: for it 'layers' gives its vectors, the very features
    and cache id of 'sentence'.
    Read from the cache when every item is there (no model load); otherwise the model is loaded
    and only the missing items are computed (and cached). `load`: how the caller loads a model by name (the lab's
    context, `core.context.Lab.load_model`: the server's one shared copy); None: `load_teacher(cheap, device)`
    (the command line, a bench).
    """
    cheap_id = features_id(cheap, kind)
    if kind == "layers" and cheap.strip() in STATIC_SOURCES:
        kind = "sentence"
    try:
        return cached_vectors(cache_root, cheap_id, items), cheap_id, 0.0
    except TeacherUnavailable:
        pass
    start = time.perf_counter()
    base = load(cheap) if load is not None else load_teacher(cheap, device or "cpu")
    model = CachedTeacher(base if kind == "sentence" else LayerFeatures(base), cache_root)
    return model.embed(list(items), progress=progress), model.id, time.perf_counter() - start
