"""Training: the reference loop for every student, and the one place that picks the fast CPU path.

The reference loop (`train_reference`) is plain autograd, and it is the definition of training here:

- every epoch one seeded permutation of the training items (seed `config.seed + 7919`, apart from the weights'
  initialization), sliced into batches; all data on the device (no DataLoader, no per-sample Python);
- per batch, the student's forward (`model(index)`: unit vectors), the paper's loss mean(1 - cos(output,
  target)) — under a defence (`core.poisoning.defence.EpochDefence`) a trimmed epoch leaves answers out and
  small-loss / robust batches weigh them — and one step of `torch.optim.Adam` over every trainable parameter
  (fused where torch offers it: the same updates);
- closed-form students (`closed_form`) are fitted once, under the defence (`fit_defended`): one record;
- after every epoch one `EpochRecord` (every item scored against the clean teacher); `should_stop()` is checked
  between epochs; `report` (a `core.poisoning.defence.TrainReport`) receives every training answer's final
  loss and what the defence left out.

It runs any student on any device: CPU, CUDA, Apple's MPS.

`train_student` is what the product calls: the fast CPU path (`core.kernels.fast`) where it applies — a table
student whose head the kernels know, on the CPU with numba — else the reference loop. The fast path is the same
mathematics (tested against this loop on a grid: curves and final weights). `train_group` does the same for
runs that step together (a sweep's grid: `core.kernels.grouped`), and `group_key` says which can.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache

import torch
from torch import nn

from core.config import TrainConfig
from core.data.dataset import Dataset
from core.device import pick_device
from core.evaluation.records import EpochRecord, dataset_on_device, epoch_record, score_against_teacher
from core.kernels import fast
from core.poisoning.defence import EpochDefence, TrainReport, fit_defended
from core.words.registry import StudentConfig, student_class

__all__ = [
    "EpochRecord",
    "score_against_teacher",
    "train_student",
    "train_reference",
    "train_group",
    "group_key",
    "max_group_size",
]

max_group_size = fast.max_group_size


def train_student(
    model: nn.Module,
    dataset: Dataset,
    config: TrainConfig,
    device: str | None = None,
    should_stop: Callable[[], bool] | None = None,
    track_means: bool = True,
    report=None,
) -> Iterator[EpochRecord]:
    """Train any student, one record per epoch: the fast CPU path where it applies, else the reference loop."""
    device = device or pick_device()
    path = fast.train if fast.applies(model, device) else train_reference
    return path(model, dataset, config, device, should_stop, track_means, report)


def make_adam(params: list[torch.Tensor], lr: float) -> torch.optim.Optimizer:
    """torch's Adam, fused where this build offers it on the parameters' device (same updates, fewer passes)."""
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr)


def train_reference(
    model: nn.Module,
    dataset: Dataset,
    config: TrainConfig,
    device: str | None = None,
    should_stop: Callable[[], bool] | None = None,
    track_means: bool = True,
    report=None,
) -> Iterator[EpochRecord]:
    """The reference loop (see the module's docstring): any student, any device."""
    device = device or pick_device()
    wants_losses = report is not None
    report = report if report is not None else TrainReport()
    model.to(device).train()
    targets, clean, train_idx, heldout_idx = dataset_on_device(dataset, device)
    n_train = len(train_idx)
    start = time.perf_counter()

    def record(epoch: int, loss: float, epoch_start: float, student: torch.Tensor) -> EpochRecord:
        return epoch_record(epoch, loss, student, clean, train_idx, heldout_idx, epoch_start, start, track_means)

    if model.closed_form:
        if should_stop and should_stop():
            return
        found = fit_defended(model, train_idx, targets, config.defence, config.trim)
        report.item_losses, report.dropped = found.item_losses, found.dropped
        student = model.predict_all()
        # The reported loss is the plain mean over every training answer, whatever the defence did.
        loss = float(1.0 - (student[train_idx] * targets[train_idx]).sum(1).mean())
        yield record(1, loss, start, student)
        return

    model.prepare(train_idx, targets, config.defence, config.trim)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_adam(params, config.lr)
    shuffle = torch.Generator().manual_seed(config.seed + 7919)  # batch order, apart from the initialization's seed
    defence = EpochDefence(config.defence, config.trim, n_train, device)
    for epoch in range(1, config.epochs + 1):
        if should_stop and should_stop():
            return
        epoch_start = time.perf_counter()
        order = train_idx[defence.order(torch.randperm(n_train, generator=shuffle).to(device))]
        loss_sum = torch.zeros((), device=device)
        for s in range(0, len(order), config.batch_size):
            batch = order[s : s + config.batch_size]
            losses = 1.0 - (model(batch) * targets.index_select(0, batch)).sum(1)
            weights = defence.weights(losses) if defence.weighs_batches else None
            loss = losses.mean() if weights is None else (weights * losses).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += losses.detach().sum()  # stays on the device: no sync per step
        student = model.predict_all()
        if defence.kind != "none" or (wants_losses and epoch == config.epochs):
            item_losses = 1.0 - (student[train_idx] * targets[train_idx]).sum(1)
            defence.after_epoch(item_losses)
            report.item_losses, report.dropped = item_losses.cpu().numpy(), defence.final_dropped()
        yield record(epoch, float(loss_sum) / len(order), epoch_start, student)


@lru_cache(maxsize=32)
def _groups(kind, dim: int) -> bool:
    """Whether runs of this kind at this dimension can train as a group (a two-item prototype is asked)."""
    cls = student_class(kind)
    if cls.reads != "table" or cls.closed_form:
        return False
    return fast.groupable(cls(StudentConfig(kind, 2, dim)))


def group_key(config: TrainConfig, n_items: int, dim: int) -> tuple | None:
    """Runs with the same key can train as one group (`train_group`); None for a run that trains alone."""
    if not _groups(config.model, dim):
        return None
    return fast.group_key(config, n_items, dim)


def train_group(
    models: Sequence[nn.Module],
    datasets: Sequence[Dataset],
    configs: Sequence[TrainConfig],
    device: str | None = None,
    should_stop: Callable[[], bool] | None = None,
    track_means: bool = True,
    reports: Sequence | None = None,
) -> Iterator[list[EpochRecord]]:
    """Runs of one `group_key` trained together (`core.kernels.grouped.train_grouped`: each run's curves as if
    it trained alone); yields each epoch's records, in the order given."""
    return fast.train_group(models, datasets, configs, device, should_stop, track_means, reports)
