"""Which device the engine computes on: CUDA when present, never assumed."""

from __future__ import annotations

import os


def pick_device(requested: str | None = None) -> str:
    """'cuda' when a GPU is usable, else 'cpu'. `requested` (or $EMBEDDING_LAB_DEVICE) overrides."""
    import torch

    choice = requested or os.environ.get("EMBEDDING_LAB_DEVICE") or ""
    if choice:
        if choice.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError("A CUDA device was requested but no GPU is available; use 'cpu'.")
        return choice
    return "cuda" if torch.cuda.is_available() else "cpu"
