"""Which device the engine computes on: CUDA when present, then Apple's MPS, then the CPU; never assumed."""

from __future__ import annotations

import os


def pick_device(requested: str | None = None) -> str:
    """'cuda' when a GPU is usable, else 'mps' on an Apple laptop whose torch has Metal, else 'cpu'.

    `requested` (or $EMBEDDING_LAB_DEVICE) overrides; asking for a device this machine lacks is a clear error.
    """
    import torch

    choice = (requested or os.environ.get("EMBEDDING_LAB_DEVICE") or "").strip()
    if choice:
        if choice.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError("A CUDA device was requested but no GPU is available; use 'cpu'.")
        if choice.startswith("mps") and not _mps_available(torch):
            raise ValueError("Apple's MPS device was requested but this machine's torch cannot use it; use 'cpu'.")
        return choice
    if torch.cuda.is_available():
        return "cuda"
    return "mps" if _mps_available(torch) else "cpu"


def _mps_available(torch) -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
