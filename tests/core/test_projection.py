import threading

import numpy as np
import pytest

from core.evaluation.projection import Method, ProjectionCache, pca_2d, project, umap_2d


def test_pca_matches_an_svd_oracle_and_is_reproducible():
    x = np.random.default_rng(0).standard_normal((50, 6)).astype(np.float32)
    coords = pca_2d(x)
    centered = x - x.mean(0)
    _, s, _ = np.linalg.svd(centered, full_matrices=False)
    # The spread along each axis is the singular value.
    np.testing.assert_allclose(np.linalg.norm(coords, axis=0), s[:2], rtol=1e-4)
    np.testing.assert_array_equal(coords, pca_2d(x))


def test_cache_round_trip_and_keys(tmp_path):
    cache = ProjectionCache(tmp_path)
    x = np.eye(4, dtype=np.float32)
    assert ProjectionCache.key(x, "pca") != ProjectionCache.key(x, "umap") != ProjectionCache.key(x * 2, "umap")
    first = project(x, Method.PCA, cache)
    assert len(list(tmp_path.glob("*.npy"))) == 1
    np.testing.assert_array_equal(project(x, Method.PCA, cache), first)
    (tmp_path / f"{ProjectionCache.key(x, 'pca')}.npy").write_bytes(b"broken")
    assert cache.get(ProjectionCache.key(x, "pca")) is None  # a broken file is a miss, not a crash


@pytest.mark.slow
def test_umap_from_two_threads_at_once():
    x = np.random.default_rng(1).standard_normal((80, 8)).astype(np.float32)
    results, errors = [], []

    def work():
        try:
            results.append(umap_2d(x, n_neighbors=5, n_epochs=20))
        except Exception as err:  # noqa: BLE001 - the test reports any failure
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and results[0].shape == (80, 2)


def test_map_sample_is_seeded_and_keeps_highlighted_words():
    from core.evaluation.projection import map_sample

    a = map_sample(1000, 50, always=[999, 3])
    assert len(a) <= 52 and {999, 3} <= set(a.tolist()) and list(a) == sorted(a)
    assert np.array_equal(a, map_sample(1000, 50, always=[999, 3]))  # the same map on every rerun
    assert map_sample(5, 50).tolist() == [0, 1, 2, 3, 4]  # fewer words than asked: all of them
