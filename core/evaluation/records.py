"""What every training loop reports after an epoch, and how it scores a student against the teacher.

`EpochRecord` is one epoch's scores (the store writes its scalars, pages draw them); `epoch_record` scores every
item's student vector against the clean teacher. Both training paths (the reference loop in `core.words.train` and
the fast CPU path in `core.kernels`) build their records here, so they report the same quantities the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from core.data.dataset import Dataset
from core.evaluation.metrics import embedding_means, mean_or_none


@dataclass(frozen=True)
class EpochRecord:
    epoch: int  # 1-based
    train_loss: float  # mean cosine embedding loss on the (possibly poisoned) training targets
    train_cosine: float  # mean cosine to the CLEAN teacher on the training items
    heldout_cosine: float | None  # mean cosine to the teacher on held-out items (None at p = 1)
    heldout_euclidean: float | None  # mean Euclidean distance to the teacher on held-out items
    epoch_seconds: float
    seconds: float  # since training started
    embedding_means: np.ndarray | None = field(default=None, repr=False, compare=False)

    def scalars(self) -> dict:
        """The record without the per-item array: one JSON-able row."""
        return {k: v for k, v in self.__dict__.items() if k != "embedding_means"}


def buffer(scratch: dict, name: str, shape, like: torch.Tensor) -> torch.Tensor:
    """A reusable work array: the per-epoch pass over the whole vocabulary would otherwise
    allocate (and page-fault in) several fresh 15 MB arrays every epoch."""
    buf = scratch.get(name)
    if buf is None or buf.shape != torch.Size(shape) or buf.device != like.device:
        buf = scratch[name] = torch.empty(shape, dtype=like.dtype, device=like.device)
    return buf


@torch.no_grad()
def score_against_teacher(
    student: torch.Tensor, clean: torch.Tensor, scratch: dict | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per item: cosine and Euclidean distance to the (unit-norm) teacher vector, in two passes.

    With |t| = 1: cos = s·t / |s| and |s - t|^2 = |s|^2 + 1 - 2 s·t, so no difference vector is
    built (the same values as `rowwise_cosine` / `rowwise_euclidean`, tested). With `scratch` the
    products go into a reused buffer: `vecdot` builds a fresh (items, d) product each call, and in a
    long training its page faults made each call many times slower than the arithmetic (docs/BENCHMARKS.md).
    """
    if scratch is None:
        dot = torch.linalg.vecdot(student, clean)
        squared = torch.linalg.vecdot(student, student)
    else:
        product = buffer(scratch, "product", student.shape, student)
        dot = torch.mul(student, clean, out=product).sum(1)
        squared = torch.mul(student, student, out=product).sum(1)
    cosine = dot / squared.sqrt().clamp_min(1e-12)
    euclidean = (squared + 1.0 - 2.0 * dot).clamp_min(0.0).sqrt()
    return cosine, euclidean


def shared_tensor(array, device: str) -> torch.Tensor:
    """A tensor over a numpy array without copying it on the CPU, read-only arrays included: the dashboard
    shares one read-only copy of a word list's teacher vectors among every session, and training only ever
    reads them (torch warns that it could write; it does not)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.as_tensor(array, device=device)


def dataset_on_device(dataset: Dataset, device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(targets, clean teacher vectors, training indices, held-out indices) on `device`: every
    training loop keeps its data there (no DataLoader, no per-batch copies)."""
    return (
        torch.as_tensor(dataset.targets, device=device),
        shared_tensor(dataset.clean, device),
        torch.as_tensor(dataset.train_idx, dtype=torch.long, device=device),
        torch.as_tensor(dataset.heldout_idx, dtype=torch.long, device=device),
    )


@torch.no_grad()
def epoch_record(
    epoch: int,
    train_loss: float,
    student: torch.Tensor,
    clean: torch.Tensor,
    train_idx: torch.Tensor,
    heldout_idx: torch.Tensor,
    epoch_start: float,
    start: float,
    track_means: bool = True,
    scratch: dict | None = None,
) -> EpochRecord:
    """Score every item's student vector against the clean teacher: the record of one epoch (`scratch`: work
    buffers reused from one epoch to the next)."""
    cosine, euclidean = score_against_teacher(student, clean, scratch)
    return EpochRecord(
        epoch=epoch,
        train_loss=train_loss,
        train_cosine=float(cosine[train_idx].mean()),
        heldout_cosine=mean_or_none(cosine[heldout_idx]),
        heldout_euclidean=mean_or_none(euclidean[heldout_idx]),
        epoch_seconds=time.perf_counter() - epoch_start,
        seconds=time.perf_counter() - start,
        embedding_means=embedding_means(student).cpu().numpy() if track_means else None,
    )
