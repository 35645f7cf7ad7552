"""Fixtures of the engine's tests."""

from __future__ import annotations

import pytest

from core.kernels import lazy_adam


@pytest.fixture(params=["lazy", "dense"])
def adam_path(request, monkeypatch):
    """Both ways a lookup table trains on a CPU: "lazy", the fast path (core.kernels.fast: its rows take their Adam
    steps late and several at a time, core.kernels.lazy_adam; the default where numba is installed), or "dense":
    without the row kernel a single run takes the reference loop (core.words.train: autograd, dense Adam at every
    step, the GPU's way) and a group steps its rows with dense fused Adam."""
    if request.param == "lazy" and not lazy_adam.available():
        pytest.skip("numba is not installed")
    monkeypatch.setattr(lazy_adam, "available", lambda: request.param == "lazy")
    return request.param
