"""Compiling the CPU kernels (`core.kernels.lazy_adam`, `core.kernels.cosine_grad`, `core.kernels.row_scores`, `core.kernels.prefetch`) with numba.

Each kernel is compiled on first use and cached on disk (next to its source, else in the user's cache
folder), so later processes load it in milliseconds. Where numba finds neither writable — a read-only
install run by a user without a home folder — `numba.njit(cache=True)` refuses at import time, which would
take training down with it; there the kernels are compiled in memory instead (each process then compiles
once, a few seconds, and warns once).
"""

from __future__ import annotations

import warnings

try:
    import numba  # noqa: F401 - installed with umap-learn
except ImportError:  # pragma: no cover - without numba the training loops use their torch fallbacks
    numba = None

_warned = False


def available() -> bool:
    """Whether the kernels can run here (numba importable)."""
    return numba is not None


def kernel(function, **options):
    """numba.njit(cache=True, **options)(function), or the same without the disk cache where it cannot be written."""
    from numba import njit

    try:
        return njit(cache=True, **options)(function)
    except RuntimeError as err:  # numba: "cannot cache function ...: no locator available for file ..."
        global _warned
        if not _warned:
            _warned = True
            warnings.warn(
                f"The training kernels cannot be cached on disk here ({err}); they are compiled in memory, "
                "a few seconds once per process. Set NUMBA_CACHE_DIR to a writable folder to keep them.",
                stacklevel=2,
            )
        return njit(**options)(function)
