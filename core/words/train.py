"""Training: the paper's cosine embedding loss and Adam, one record per epoch.

`train_epochs` is a generator: it yields a small frozen `EpochRecord` after every epoch and
checks `should_stop()` between epochs, so the CLI prints records, a page draws them and the
store saves them, and nobody needs a callback inside the loop.

Speed without changing the mathematics: all data lives on the device, each epoch is one
seeded permutation sliced into batches (no DataLoader, no per-sample Python), and Adam runs
fused where torch offers it (3x faster on CPU than the default, same updates).

The optimizer only holds the table rows of the *training* items. Under dense Adam a row that
never receives a gradient keeps m = v = 0, so its update lr * m / (sqrt(v) + eps) is exactly 0:
held-out rows never move. Leaving them out of the optimizer gives the same weights while moving
p times less memory per step. On the CPU (numba installed) the training rows go further: they take
their steps late, several at a time (`core.kernels.lazy_adam`), so a row's p, m and v are read and written
twice an epoch instead of at every step; the same updates up to rounding (tested against
`torch.optim.Adam`), and only the head's few parameters go through fused Adam every step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from core.config import TrainConfig
from core.data.dataset import Dataset
from core.device import pick_device
from core.evaluation.metrics import embedding_means, mean_or_none
from core.kernels import lazy_adam
from core.kernels.lazy_adam import adam_rows
from core.words.students import _buffer

EVAL_CHUNK = 65536  # rows per forward pass when scoring the whole vocabulary (one pass up to 65k)


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


class DirectFusedAdam:
    """torch's fused Adam kernel called directly: the same update as
    `torch.optim.Adam(params, lr, fused=True)` (tested), without `Optimizer.step`'s per-call
    Python bookkeeping (hooks, state lookup, list building), which costs ~5 % of a small step."""

    def __init__(self, params, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        self.lr, self.beta1, self.beta2, self.eps = lr, betas[0], betas[1], eps
        self.exp_avgs = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sqs = [torch.zeros_like(p) for p in self.params]
        self.steps = [torch.zeros((), dtype=torch.float32, device=p.device) for p in self.params]

    @torch.no_grad()
    def step(self) -> None:
        torch._foreach_add_(self.steps, 1)
        torch._fused_adam_(
            self.params,
            [p.grad for p in self.params],
            self.exp_avgs,
            self.exp_avg_sqs,
            [],
            self.steps,
            amsgrad=False,
            lr=self.lr,
            beta1=self.beta1,
            beta2=self.beta2,
            weight_decay=0.0,
            eps=self.eps,
            maximize=False,
        )


def make_optimizer(params, lr: float, device: str):
    """Adam, fused when this torch build offers the kernel on `device` (same maths, fewer passes)."""
    params = list(params)
    if hasattr(torch, "_fused_adam_"):
        try:
            for p in params:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
            optimizer = DirectFusedAdam(params, lr)
            optimizer.step()  # a probe on zero gradients: moves nothing (m = v = 0), proves the kernel runs here
            optimizer.steps = [torch.zeros_like(t) for t in optimizer.steps]
            return optimizer
        except (RuntimeError, TypeError, NotImplementedError):
            pass
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr, foreach=device != "cpu")


@torch.no_grad()
def embed_all(model: nn.Module, n_items: int, device: str, scratch: dict | None = None) -> torch.Tensor:
    """The student's vector for every item, in item order.

    With `scratch` (a dict kept by the caller) the result lives in a reused buffer, valid until
    the next call with the same dict: the training loop scores every epoch this way.
    """
    was_training = model.training
    model.eval()
    table = model.embedding.weight
    if scratch is not None and n_items <= EVAL_CHUNK and hasattr(model, "head_into"):
        out = model.head_into(table[:n_items], scratch)
    else:
        chunks = [model.head(table[s : s + EVAL_CHUNK]) for s in range(0, n_items, EVAL_CHUNK)]
        out = chunks[0] if len(chunks) == 1 else torch.cat(chunks)
    model.train(was_training)
    return out


@torch.no_grad()
def score_against_teacher(
    student: torch.Tensor, clean: torch.Tensor, scratch: dict | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per item: cosine and Euclidean distance to the (unit-norm) teacher vector, in two passes.

    With |t| = 1: cos = s·t / |s| and |s - t|^2 = |s|^2 + 1 - 2 s·t, so no difference vector is
    built (the same values as `rowwise_cosine` / `rowwise_euclidean`, tested). With `scratch` the
    products go into a reused buffer: `vecdot` builds a fresh (items, d) product each call, and in a
    long training its page faults made each call up to 20x slower than the arithmetic (measured).
    """
    if scratch is None:
        dot = torch.linalg.vecdot(student, clean)
        squared = torch.linalg.vecdot(student, student)
    else:
        product = _buffer(scratch, "product", student.shape, student)
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


def train_student(
    model: nn.Module,
    dataset: Dataset,
    config: TrainConfig,
    device: str | None = None,
    should_stop: Callable[[], bool] | None = None,
    track_means: bool = True,
    report=None,
) -> Iterator[EpochRecord]:
    """Any student: the lookup tables through `train_epochs`, the others through
    `core.words.generalizing.train_general`. `report` (a `core.poisoning.defence.TrainReport`) receives every
    training answer's final loss and what the run's defence left out."""
    if config.model.generalizes:
        from core.words.generalizing import train_general

        return train_general(model, dataset, config, device, should_stop, track_means, report)
    return train_epochs(model, dataset, config, device, should_stop, track_means, report)


def train_epochs(
    model: nn.Module,
    dataset: Dataset,
    config: TrainConfig,
    device: str | None = None,
    should_stop: Callable[[], bool] | None = None,
    track_means: bool = True,
    report=None,
) -> Iterator[EpochRecord]:
    """Train `model` on `dataset` for `config.epochs` epochs, yielding one record per epoch.

    Under a defence (`config.defence`, see `core.poisoning.defence`) a trimmed epoch skips the answers left
    out, and small-loss / robust batches weigh their answers; without one the loop is the paper's."""
    from core.poisoning.defence import EpochDefence, TrainReport

    device = device or pick_device()
    wants_losses = report is not None
    report = report if report is not None else TrainReport()
    model.to(device).train()
    targets, clean, train_idx, heldout_idx = dataset_on_device(dataset, device)
    n_items, n_train = len(dataset.items), len(dataset.train_idx)
    table = model.embedding.weight
    # The trainable rows, in training order: position i holds item train_idx[i].
    rows = nn.Parameter(table.detach()[train_idx].clone())
    previous = torch.empty(0, dtype=torch.long, device=device)
    train_targets = targets[train_idx]
    head_params = [p for name, p in model.named_parameters() if not name.startswith("embedding.")]
    # On the CPU the rows take their Adam steps late, several at a time (core.kernels.lazy_adam: the same updates
    # without dense Adam's pass over every row at every step); the optimizer then steps the head only.
    lazy = lazy_adam.used_on(device)
    if lazy:
        rows_np = rows.detach().numpy()  # shares memory with rows
        m_np, v_np = np.zeros_like(rows_np), np.zeros_like(rows_np)
        gathered = np.empty((config.batch_size, rows.shape[1]), np.float32)
        optimizer = make_optimizer(head_params, config.lr, device) if head_params else None
        done = 0  # the steps taken so far
    else:
        # The rows' gradient is written by hand: only the batch's rows are non-zero, so instead of
        # zeroing and re-accumulating the whole buffer every step (autograd's gather backward), the
        # previous batch's rows are cleared and the new ones written: Adam's own pass is the only
        # one over the table.
        rows.grad = torch.zeros_like(rows)
        optimizer = make_optimizer([rows, *head_params], config.lr, device)
    scratch: dict = {}  # work buffers of the per-epoch scoring, reused across epochs
    # Batch order is seeded separately from the weights' initialization.
    shuffle = torch.Generator().manual_seed(config.seed + 7919)
    defence = EpochDefence(config.defence, config.trim, n_train, device)
    weigh = defence.weights if defence.weighs_batches else None

    start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        if should_stop and should_stop():
            return
        epoch_start = time.perf_counter()
        order = defence.order(torch.randperm(n_train, generator=shuffle).to(device))
        loss_sum = torch.zeros((), device=device)
        n_steps = -(-len(order) // config.batch_size)
        if lazy:
            order_np = order.numpy()
        with torch.no_grad():
            for k, s in enumerate(range(0, len(order), config.batch_size)):
                batch = order[s : s + config.batch_size]
                if lazy:  # the batch's rows take the epoch's k zero-gradient steps so far, then are read
                    idx = order_np[s : s + config.batch_size]
                    x = gathered[: len(idx)]
                    adam_rows(
                        rows_np,
                        m_np,
                        v_np,
                        idx,
                        len(idx),
                        np.array([done + 1]),
                        np.array([k]),
                        gathered=x,
                        lr=config.lr,
                    )
                    x = torch.from_numpy(x)
                else:
                    x = rows.index_select(0, batch)
                # Forward and backward by hand (students.loss_and_grads): the step is small and
                # autograd's bookkeeping would cost more than the arithmetic.
                loss, row_grads = model.loss_and_grads(x, train_targets.index_select(0, batch), weigh)
                if lazy:  # their gradient step, then the epoch's remaining steps (nothing reads them before its end)
                    adam_rows(
                        rows_np,
                        m_np,
                        v_np,
                        idx,
                        len(idx),
                        np.array([done + k + 1]),
                        np.array([n_steps - k]),
                        grads=row_grads.contiguous().numpy(),
                        lr=config.lr,
                    )
                else:
                    rows.grad.index_fill_(0, previous, 0.0)
                    rows.grad.index_copy_(0, batch, row_grads)  # batch indices are distinct (a permutation slice)
                    previous = batch
                if optimizer is not None:
                    optimizer.step()
                loss_sum += loss.detach() * batch.numel()  # stays on the device: no sync per step
        if lazy:
            if len(order) < n_train:  # rows a trimmed epoch left out take its steps with a zero gradient
                left_out = np.flatnonzero(defence.skipped.numpy())
                adam_rows(
                    rows_np,
                    m_np,
                    v_np,
                    left_out,
                    len(left_out),
                    np.array([done + 1]),
                    np.array([n_steps]),
                    lr=config.lr,
                )
            done += n_steps

        with torch.no_grad():
            table[train_idx] = rows.detach()
        student = embed_all(model, n_items, device, scratch)
        if defence.kind != "none" or (wants_losses and epoch == config.epochs):
            with torch.no_grad():
                item_losses = 1.0 - torch.linalg.vecdot(student.index_select(0, train_idx), train_targets)
            defence.after_epoch(item_losses)
            report.item_losses, report.dropped = item_losses.cpu().numpy(), defence.final_dropped()
        yield epoch_record(
            epoch,
            float(loss_sum) / len(order),
            student,
            clean,
            train_idx,
            heldout_idx,
            epoch_start,
            start,
            track_means,
            scratch,
        )
