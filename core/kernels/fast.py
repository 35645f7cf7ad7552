"""The fast CPU path: one entry point for everything in this folder.

`applies(model, device)` says whether a single run can take it; `train(...)` trains it; `groupable(model)` /
`train_group(...)` the same for many runs stepped together (`core.kernels.grouped`). The dispatch "fast path
where it applies, else the reference loop" is made in one place, `core.words.train`; nothing else here chooses.

What the fast path is: the reference loop's mathematics (`core.words.train`: the student's forward, the paper's
cosine loss, Adam over every trainable parameter, the same seeded batch order and defences) with three changes
that move no weight beyond rounding (tested against the reference on a grid of runs):

- the head is run by hand from the student's own declared layers (`core.kernels.heads`: ReLU and Linear);
- the table rows take their Adam steps late, several at a time (`core.kernels.lazy_adam`): under dense Adam a
  row without gradient still moves by its momentum, and a held-out row (m = v = 0) never moves, so only the
  training rows are stepped, twice an epoch instead of at every step;
- the head's few parameters go through torch's fused Adam kernel called directly (`DirectFusedAdam`).

It applies on the CPU where numba runs the row kernel, to table students whose head it knows. Elsewhere (a GPU,
Apple's MPS, no numba, any other student) the reference loop trains, whose autograd and dense fused Adam are
what a GPU is fast at. Grouped runs apply on any device: their purpose is a GPU's per-step overhead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from core.config import TrainConfig
from core.data.dataset import Dataset
from core.evaluation.records import EpochRecord, dataset_on_device, epoch_record
from core.kernels import heads, lazy_adam
from core.kernels.grouped import group_key, groupable, max_group_size, train_grouped
from core.poisoning.defence import EpochDefence, TrainReport

__all__ = ["applies", "groupable", "group_key", "max_group_size", "train", "train_group", "DirectFusedAdam"]

train_group = train_grouped


def applies(model: nn.Module, device) -> bool:
    """Whether a single run of `model` on `device` trains on the fast path: a table student whose head is
    made of known layers, on the CPU, where the row kernel runs (numba)."""
    return lazy_adam.used_on(device) and heads.layers_of(model) is not None


class DirectFusedAdam:
    """torch's fused Adam kernel called directly: the same update as
    `torch.optim.Adam(params, lr, fused=True)` (tested), without `Optimizer.step`'s per-call
    Python bookkeeping (hooks, state lookup, list building), a measurable share of a small step (docs/BENCHMARKS.md)."""

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


def make_optimizer(params, lr: float, device):
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
        return torch.optim.Adam(params, lr=lr, foreach=str(device) != "cpu")


@torch.no_grad()
def train(
    model: nn.Module,
    dataset: Dataset,
    config: TrainConfig,
    device,
    should_stop: Callable[[], bool] | None = None,
    track_means: bool = True,
    report=None,
) -> Iterator[EpochRecord]:
    """Train one run on the fast path (`applies` must hold); the reference loop's records, epoch by epoch.

    The optimizer holds only the training rows, in training order (position i is item train_idx[i]); each
    batch's rows first take the epoch's zero-gradient steps they missed, are read, then take their gradient
    step and the rest of the epoch's steps at once (nothing reads them before the epoch ends). Under a trimmed
    defence the rows left out of the epoch take its steps with a zero gradient at its end, as under dense Adam.
    """
    layers = heads.layers_of(model)
    if layers is None or not lazy_adam.used_on(device):
        raise ValueError("The fast path does not apply to this student here; train it with core.words.train.")
    wants_losses = report is not None
    report = report if report is not None else TrainReport()
    model.to(device).train()
    targets, clean, train_idx, heldout_idx = dataset_on_device(dataset, device)
    n_train = len(dataset.train_idx)
    table = model.embedding.weight
    train_targets = targets[train_idx]
    rows = lazy_adam.LazyRows(table.detach()[train_idx].clone().numpy(), lr=config.lr)
    gathered = np.empty((config.batch_size, rows.p.shape[1]), np.float32)
    head_params = [p for layer in heads.linears(layers) for p in (layer.weight, layer.bias)]
    optimizer = make_optimizer(head_params, config.lr, device) if head_params else None
    done = 0  # the steps taken so far
    scratch: dict = {}  # work buffers of the per-epoch scoring, reused across epochs
    shuffle = torch.Generator().manual_seed(config.seed + 7919)  # the reference loop's batch order
    defence = EpochDefence(config.defence, config.trim, n_train, device)
    weigh = defence.weights if defence.weighs_batches else None

    start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        if should_stop and should_stop():
            return
        epoch_start = time.perf_counter()
        order = defence.order(torch.randperm(n_train, generator=shuffle).to(device))
        order_np = order.numpy()
        loss_sum = torch.zeros(())
        n_steps = -(-len(order) // config.batch_size)
        for k, s in enumerate(range(0, len(order), config.batch_size)):
            idx = order_np[s : s + config.batch_size]
            x = gathered[: len(idx)]
            # The batch's rows take the epoch's k zero-gradient steps so far, then are read...
            rows.idle_steps(idx, first_step=done + 1, count=k, read_into=x)
            loss, row_grads = heads.loss_and_grads(
                layers, torch.from_numpy(x), train_targets[order[s : s + len(idx)]], weigh
            )
            # ... then their gradient step and the epoch's remaining steps.
            rows.gradient_step(idx, row_grads.contiguous().numpy(), first_step=done + k + 1, count=n_steps - k)
            if optimizer is not None:
                optimizer.step()
            loss_sum += loss * len(idx)
        if len(order) < n_train:  # rows a trimmed epoch left out take its steps with a zero gradient
            rows.idle_steps(np.flatnonzero(defence.skipped.numpy()), first_step=done + 1, count=n_steps)
        done += n_steps

        table[train_idx] = torch.from_numpy(rows.p)
        student = heads.head_into(layers, table, scratch)
        if defence.kind != "none" or (wants_losses and epoch == config.epochs):
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
