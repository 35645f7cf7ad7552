"""The server's UMAP projections in the background (pages/_loaders.py `umap_in_background`): one per map for everyone,
and a bounded memory of them however many maps a class draws in a day."""

import numpy as np

from tests.waiting import eventually


def test_one_projection_per_map_and_a_bounded_memory_of_them(monkeypatch, tmp_path):
    import core.evaluation.projection as projection
    import pages._loaders as loaders

    monkeypatch.setenv("EMBEDDING_LAB_HOME", str(tmp_path))
    started = []

    def project(x, method, cache, key):  # UMAP's stand-in: instant, and it says which map it drew
        started.append(key)
        return np.zeros((len(x), 2))

    monkeypatch.setattr(projection, "project", project)
    loaders._umap_jobs.clear()  # a fresh server's pool
    x = np.ones((3, 4))
    first = loaders.umap_in_background(x, "map-0")
    assert loaders.umap_in_background(x, "map-0") is first  # asked twice: one projection
    for i in range(1, 3 * loaders.UMAP_FUTURES_KEPT):
        future = loaders.umap_in_background(x, f"map-{i}")
        eventually(future.done, "the projection to end")
    assert len(started) == 3 * loaders.UMAP_FUTURES_KEPT and started.count("map-0") == 1
    kept = loaders._umap_jobs()["futures"]
    assert len(kept) <= loaders.UMAP_FUTURES_KEPT + 1 and f"map-{3 * loaders.UMAP_FUTURES_KEPT - 1}" in kept
    loaders._umap_jobs.clear()
