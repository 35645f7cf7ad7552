"""Which device the engine computes on: CUDA when present, then Apple's MPS, then the CPU; never assumed."""

from __future__ import annotations

import os
import re

# The devices the lab can compute on, as torch names them: "cpu", "cuda", "cuda:1", "mps".
DEVICE_NAME = re.compile(r"^(cpu|mps|cuda(:\d{1,2})?)\Z")


def check_device(name: str) -> str:
    """`name` when torch could name a device the lab computes on; ValueError with a sentence otherwise (no torch
    needed: the CLI checks its flag at once).

    >>> check_device("cuda:0")
    'cuda:0'
    """
    choice = (name or "").strip()
    if not DEVICE_NAME.match(choice):
        raise ValueError(f"'{choice[:40]}' is not a device the lab can compute on; use cpu, cuda (or cuda:N) or mps.")
    return choice


def usable_device(name: str) -> str:
    """`name` when this machine can compute on it, else ValueError with one sentence: the `--device` flag gets the
    same checks as $EMBEDDING_LAB_DEVICE (`cuda` where torch has no CUDA is a sentence, not torch's AssertionError).
    'cpu' needs no torch."""
    choice = check_device(name)
    return choice if choice == "cpu" else pick_device(choice)


def pick_device(requested: str | None = None) -> str:
    """'cuda' when a GPU is usable, else 'mps' on an Apple laptop whose torch has Metal, else 'cpu'.

    `requested` (or $EMBEDDING_LAB_DEVICE) overrides; asking for a device this machine lacks, or one the lab
    cannot compute on (a TPU), is a clear error.
    """
    choice = (requested or os.environ.get("EMBEDDING_LAB_DEVICE") or "").strip()
    if choice:
        try:
            check_device(choice)
        except ValueError as err:
            source = "" if requested else " (from EMBEDDING_LAB_DEVICE)"
            raise ValueError(f"{str(err).rstrip('.')}{source}.") from None
    import torch

    if choice:
        if choice.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError("A CUDA device was requested but no GPU is available; use 'cpu'.")
        if choice.startswith("cuda:") and int(choice.split(":")[1]) >= torch.cuda.device_count():
            raise ValueError(f"There is no GPU {choice}: this machine has {torch.cuda.device_count()}; use 'cuda'.")
        if choice.startswith("mps") and not _mps_available(torch):
            raise ValueError("Apple's MPS device was requested but this machine's torch cannot use it; use 'cpu'.")
        return choice
    if torch.cuda.is_available():
        return "cuda"
    return "mps" if _mps_available(torch) else "cpu"


def _mps_available(torch) -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
