"""Fixtures of the engine's tests."""

from __future__ import annotations

import pytest

from core.kernels import lazy_adam


@pytest.fixture(params=["lazy", "dense"])
def adam_path(request, monkeypatch):
    """Both ways the table rows take their Adam steps on a CPU: late and several at a time (core.kernels.lazy_adam,
    the default where numba is installed), or dense fused Adam at every step (the GPU's way, and the fallback)."""
    if request.param == "lazy" and not lazy_adam.available():
        pytest.skip("numba is not installed")
    monkeypatch.setattr(lazy_adam, "available", lambda: request.param == "lazy")
    return request.param
