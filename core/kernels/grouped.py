"""Grouped training: many runs of the paper's lookup-table students trained together as one batched model.

Runs that share the items, the student kind (a table student whose head is ReLU first, then ReLU / Linear layers:
Model A and B), the epochs, the batch size and the learning rate
— a sweep's runs over p, poison and seed — are independent, so they can step together. Every step, the runs
that still have a batch in this epoch take it at once: their batches are stacked into one (runs, batch, d)
tensor (short batches padded with an all-zero row, whose target is zero too, so it contributes nothing to any
gradient), the heads' forward and backward are batched matmuls, and ONE multi-tensor fused-Adam call updates
the layers (and, on a GPU, the rows) of every run that stepped. On the CPU the table rows take their Adam
steps late, several at a time (`core.kernels.lazy_adam`: two passes over a row per epoch instead of one per step).
Each run keeps its own initialization, batch order, Adam state and step count, so it takes exactly the steps
it would take alone: the same curves as the reference loop `core.words.train` up to rounding (tested, both ways).
The heads are interpreted from the students' declared layers (`head_layers()`, as in `core.kernels.heads`): every
run's Linear layers are stacked into (runs, ...) tensors, and the forward and backward walk the layer list.

On the CPU the end-of-epoch scoring reads each run's max(table, 0) kept in the run's own order — training
rows first, rewritten by the row kernel as each row finishes its epoch, then the held-out rows, written once —
and scores the head's raw output in one pass (`core.kernels.row_scores`): no copy of the trained rows into the tables,
no normalized copy. The models' tables are brought up to date at the end, or on demand (`GroupEpoch.sync_models`,
what a sweep's checkpoint calls); their heads are current at every yield.

What grouping saves is the work that does not grow with a step's size — Python, kernel launches, small
matmuls — paid once per group instead of once per run. On a GPU, where one small run's step is almost all
such overhead, that is most of the time.

Time per run: a group's training steps take one wall-clock time for all its runs, so each run is credited the
share of it that matches its training rows, plus the time of its own per-epoch scoring, measured — as in a
single run, whose epoch time includes its scoring.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

import numpy as np
import torch
from torch import nn

from core.config import TrainConfig
from core.data.dataset import Dataset
from core.device import pick_device
from core.evaluation.metrics import mean_or_none
from core.evaluation.records import EpochRecord, epoch_record, shared_tensor
from core.kernels import heads, lazy_adam, row_scores
from core.kernels.cosine_grad import cosine_grad
from core.kernels.lazy_adam import adam_rows

GROUP_MEMORY_BYTES = 768 * 2**20  # the vocabulary tables of a group (scored every epoch) stay under this


def groupable(model: nn.Module) -> bool:
    """Whether runs of this student can train as a group: a table student whose head's layers are known
    (`core.kernels.heads`) and start with a ReLU (the row kernel applies it as it reads a row), where torch has
    its fused Adam kernel; the loss's gradient overwrites the head's output in place, so a head longer than its
    ReLU ends with a Linear."""
    layers = heads.layers_of(model)
    return (
        layers is not None
        and bool(layers)
        and isinstance(layers[0], nn.ReLU)  # the row kernel applies it as it reads a row
        and (len(layers) == 1 or isinstance(layers[-1], nn.Linear))  # the loss overwrites the head's output
        and hasattr(torch, "_fused_adam_")
    )


def group_key(config: TrainConfig, n_items: int, dim: int) -> tuple | None:
    """Runs of a groupable student (`groupable`) with the same key can train as one group; None for a run that
    trains alone (a defence)."""
    if config.defence != "none":
        return None
    return (config.model, config.lemmatize, config.epochs, config.batch_size, config.lr, n_items, dim)


def max_group_size(n_items: int, dim: int) -> int:
    """How many runs one group may hold: each keeps a full table, scored every epoch."""
    return max(1, GROUP_MEMORY_BYTES // max(1, 4 * 3 * n_items * dim))


@torch.no_grad()
def train_grouped(
    models: Sequence[nn.Module],
    datasets: Sequence[Dataset],
    configs: Sequence[TrainConfig],
    device: str | None = None,
    should_stop: Callable[[], bool] | None = None,
    track_means: bool = True,
    reports: Sequence | None = None,
) -> Iterator[list[EpochRecord]]:
    """Train the runs together; after every epoch yields their records (in the order given).

    Each yield is a `GroupEpoch`: after its `sync_models()` every model holds that epoch's weights (a caller may
    checkpoint them); when it ends (finished or stopped) every model holds its trained weights, as after
    a single run.
    `reports` (core.poisoning.defence.TrainReport per run) receive each training answer's final loss.
    """
    if not models:
        return
    first = configs[0]
    kind = first.model
    for model, config in zip(models, configs):
        if (config.model, config.epochs, config.batch_size, config.lr, config.defence) != (
            kind,
            first.epochs,
            first.batch_size,
            first.lr,
            "none",
        ):
            raise ValueError(
                "A group needs runs of one student kind, epochs, batch size and learning rate, without defence."
            )
    device = device or pick_device()
    runs, batch, dim = len(models), first.batch_size, datasets[0].dim
    n_items = len(datasets[0].items)
    if any(len(d.items) != n_items or d.dim != dim for d in datasets):
        raise ValueError("A group's runs must share the items and the teacher's dimension.")

    # Runs in order of decreasing batches per epoch: the runs still stepping at step k are then always the
    # first n_k, so every per-step selection is a view (no copy of the heads, no scatter of their gradients).
    # Ties by decreasing rows: at every step the runs whose batch is full come first.
    given = list(range(runs))
    steps_of = [math.ceil(len(d.train_idx) / batch) for d in datasets]
    order = sorted(given, key=lambda r: (-steps_of[r], -len(datasets[r].train_idx)))
    models, datasets, configs = [models[r] for r in order], [datasets[r] for r in order], [configs[r] for r in order]
    if reports is not None:
        reports = [reports[r] for r in order]
    position = {r: i for i, r in enumerate(order)}  # given index -> sorted index

    for model in models:
        model.to(device).train()
    tables = [model.embedding.weight.detach() for model in models]
    train_idx = [torch.as_tensor(d.train_idx, dtype=torch.long, device=device) for d in datasets]
    heldout_idx = [torch.as_tensor(d.heldout_idx, dtype=torch.long, device=device) for d in datasets]
    clean = [shared_tensor(d.clean, device) for d in datasets]
    sizes = [len(t) for t in train_idx]
    offsets = [0]
    for n in sizes:
        offsets.append(offsets[-1] + n)
    pad = offsets[-1]  # the all-zero row that fills short batches

    # Every run's training rows, one after the other, plus the padding row; the same for the targets. (Gathered
    # straight into place: a sweep's group holds tens of MB here, and every temporary costs its page faults.)
    rows, targets = torch.empty(pad + 1, dim, device=device), torch.empty(pad + 1, dim, device=device)
    for r, d in enumerate(datasets):
        torch.index_select(tables[r], 0, train_idx[r], out=rows[offsets[r] : offsets[r + 1]])
        torch.index_select(
            torch.as_tensor(d.targets, device=device), 0, train_idx[r], out=targets[offsets[r] : offsets[r + 1]]
        )
    rows[pad], targets[pad] = 0.0, 0.0
    rows_m, rows_v = torch.zeros_like(rows), torch.zeros_like(rows)
    # On the CPU the rows take their Adam steps late and several at a time (core.kernels.lazy_adam: same updates, a
    # fraction of the memory traffic); elsewhere, or without numba, one dense fused-Adam call per step.
    lazy = lazy_adam.used_on(device)
    rows_grad = torch.empty(0) if lazy else torch.zeros_like(rows)

    if not all(groupable(m) for m in models):
        raise ValueError("A group needs table students whose heads start with a ReLU, then ReLU / Linear layers.")
    # The head after its first ReLU (which the rows' kernel or `torch.relu` applies), as a program: "relu", or the
    # position of a Linear in the stacked weights. Model B: [0, "relu", 1]; Model A: [].
    program, n_linear = [], 0
    for layer in heads.layers_of(models[0])[1:]:
        if isinstance(layer, nn.ReLU):
            program.append("relu")
        else:
            program.append(n_linear)
            n_linear += 1
    if any([type(x) for x in heads.layers_of(m)] != [type(x) for x in heads.layers_of(models[0])] for m in models):
        raise ValueError("A group's students must have the same head.")
    # Stacked head weights, per Linear: weight (R, out, in), then bias (R, out). Model B: W1, b1, W2, b2.
    layers: list[torch.Tensor] = []
    for linear in range(n_linear):
        per_run = [heads.linears(heads.layers_of(m))[linear] for m in models]
        layers += [torch.stack([x.weight.detach() for x in per_run]), torch.stack([x.bias.detach() for x in per_run])]
    last_linear = program[-1] if program and program[-1] != "relu" else None  # its bias gradient: the loss kernel's
    layer_grads = [torch.zeros_like(t) for t in layers]
    layer_m = [torch.zeros_like(t) for t in layers]
    layer_v = [torch.zeros_like(t) for t in layers]

    def slices(r: int) -> tuple[list, list, list, list]:
        heads = ([t[r] for t in layers], [t[r] for t in layer_grads], [t[r] for t in layer_m], [t[r] for t in layer_v])
        if lazy:  # fused Adam steps the heads only
            return heads
        s = slice(offsets[r], offsets[r + 1])
        return tuple([table[s], *head] for table, head in zip((rows, rows_grad, rows_m, rows_v), heads))

    per_run = [slices(r) for r in range(runs)]
    steps = [torch.zeros((), dtype=torch.float32, device=device) for _ in range(runs)]
    shuffles = [torch.Generator().manual_seed(c.seed + 7919) for c in configs]  # the reference loop's batch order
    step_counts = [steps_of[r] for r in order]
    longest = step_counts[0]
    stepping = [sum(1 for n in step_counts if n > k) for k in range(longest)]  # the runs 0..n-1 step at step k
    # The fused-Adam call of "the first n runs step", built once per n: (params, grads, m, v, step counts, per-run steps).
    adam_args = {}
    for n in set(stepping):
        lists = [[], [], [], [], []]
        for r in range(n):
            for target, part in zip(lists, per_run[r]):
                target += part
            lists[4] += [steps[r]] * len(per_run[r][0])  # one step count per tensor: a run's tensors share theirs
        adam_args[n] = (*lists, steps[:n])
    # How each step's products are split (CPU only; a GPU takes the whole batch in one call). A batched product
    # gives each thread whole problems: 3 runs on 2 threads take two rounds, the second half idle. So the runs
    # with a full batch go in one batched call, cut at a multiple of the threads, and the others multiply one at
    # a time with every thread on each, over their real rows only (a run's last batch is short: the padding
    # rows would cost as much as real ones). Measured: docs/BENCHMARKS.md, 'Why the code is shaped so'.
    threads = torch.get_num_threads() if torch.device(device).type == "cpu" else 0
    plans = []  # per step: (runs in the batched call, ((run, its real rows) for each run taken alone))
    for k, n in enumerate(stepping):
        rows_k = [min(batch, sizes[r] - k * batch) for r in range(n)]
        full = sum(1 for c in rows_k if c == batch)  # the first `full` runs (see the order above)
        batched = n if not threads else (full - full % threads if full > threads else full)
        plans.append((batched, tuple((r, rows_k[r]) for r in range(batched, n))))
    counts_all = torch.zeros(longest, runs, device=device)  # valid rows of each run's k-th batch
    for r, n in enumerate(sizes):
        for k in range(step_counts[r]):
            counts_all[k, r] = min(batch, n - k * batch)
    work = [
        step_counts[r] * batch for r in range(runs)
    ]  # rows each run trains per epoch (its share of the steps' time)
    share = [w / sum(work) for w in work]

    previous = torch.empty(0, dtype=torch.long, device=device)
    if lazy:  # numpy views of the rows' tables (shared memory) for the kernel, and the batch it gathers
        rows_np, m_np, v_np = rows.numpy(), rows_m.numpy(), rows_v.numpy()
        gathered, gathered_t = torch.empty(runs * batch, dim), torch.empty(runs * batch, dim)
        gathered_np, gathered_t_np, targets_np = gathered.numpy(), gathered_t.numpy(), targets.numpy()
        steps_np, counts_np = np.array(step_counts, dtype=np.int64), counts_all.numpy()
        # The scoring's input, max(table, 0), of each run in its own order: its training rows first (rewritten by
        # the kernel as each finishes its epoch's steps), then its held-out rows (never trained: written once).
        # So the epoch's end needs no copy of the trained rows back into the tables before scoring them.
        relu_tables = torch.empty(runs, n_items, dim, device=device)
        for r in range(runs):
            torch.index_select(tables[r], 0, heldout_idx[r], out=relu_tables[r, sizes[r] :]).clamp_min_(0.0)
        relu_np = relu_tables.view(runs * n_items, dim).numpy()
        relu_shift = np.array(
            [r * n_items - offsets[r] for r in range(runs)], dtype=np.int64
        )  # flat row -> its row there
        order_np = [
            torch.cat([t, h]).numpy() for t, h in zip(train_idx, heldout_idx)
        ]  # row i of a run's table there is item order_np[r][i]
        clean_np = [c.numpy() for c in clean]
    scratch: dict = {}  # the scoring's work buffers, shared by the runs (scored one after another)

    def sync_tables() -> None:
        """Write each run's trained rows back into its model's table."""
        for r in range(runs):
            tables[r][train_idx[r]] = rows[offsets[r] : offsets[r + 1]]

    start = time.perf_counter()
    credited = [0.0] * runs
    try:
        for epoch in range(1, first.epochs + 1):
            if should_stop and should_stop():
                return
            epoch_start = time.perf_counter()
            # The epoch's schedule: run r's permutation, offset into the flat rows, cut into batches, padded.
            schedule = torch.full((runs, longest * batch), pad, dtype=torch.long, device=device)
            for r in range(runs):
                order_r = torch.randperm(sizes[r], generator=shuffles[r]).to(device)
                schedule[r, : sizes[r]] = order_r + offsets[r]
            schedule = (
                schedule.view(runs, longest, batch).transpose(0, 1).contiguous()
            )  # (step, run, row): a step's batches are one slice
            if lazy:
                schedule_np = schedule.numpy()
                before = (epoch - 1) * steps_np  # each run's steps before this epoch
            cos_sums = torch.zeros(longest, runs, device=device)  # per step and run: the batch's sum of cosines
            if lazy:
                cos_sums_np = cos_sums.numpy()
            for k in range(longest):
                n = stepping[k]
                flat = schedule[k, :n].view(-1)
                if lazy:  # the batch's rows take the epoch's k zero-gradient steps so far; h = max(row, 0) and the targets gathered
                    flat_np = schedule_np[k, :n].reshape(-1)
                    adam_rows(
                        rows_np,
                        m_np,
                        v_np,
                        flat_np,
                        batch,
                        before[:n] + 1,
                        np.full(n, k),
                        gathered=gathered_np[: n * batch],
                        relu=True,
                        targets=targets_np,
                        targets_out=gathered_t_np[: n * batch],
                        lr=first.lr,
                        skip=pad,
                    )
                    h = gathered[: n * batch].view(n, batch, dim)
                    t = gathered_t[: n * batch].view(n, batch, dim)
                else:
                    x = rows.index_select(0, flat).view(n, batch, dim)
                    h = torch.relu(x)
                    t = targets.index_select(0, flat).view(n, batch, dim)
                plan = plans[k]
                inputs = []  # each layer's input (a ReLU's: its output, the same sign test for its backward)
                y = h
                for op in program:
                    inputs.append(y)
                    if op == "relu":
                        y = y.relu_()  # never a table row: h, or a product of this step
                    else:
                        y = _bmm(y, layers[2 * op][:n].transpose(1, 2), plan, bias=layers[2 * op + 1][:n].unsqueeze(1))
                if (
                    lazy
                ):  # the loss and its gradient in one kernel: y becomes dy; for Model B also the last bias's gradient
                    cosine_grad(
                        y.numpy(),
                        t.numpy(),
                        counts_np[k, :n],
                        cos_sums_np[k, :n],
                        None if last_linear is None else layer_grads[2 * last_linear + 1][:n].numpy(),
                    )
                    dy = y
                else:
                    norm = y.norm(dim=2, keepdim=True).clamp_min_(1e-12)
                    out = y.div_(norm)
                    cos = torch.linalg.vecdot(out, t)  # padding rows: target 0, so cos 0 and no gradient
                    torch.sum(cos, 1, out=cos_sums[k, :n])
                    dy = torch.addcmul(t, out, cos.unsqueeze(2), value=-1.0).div_(
                        norm.mul_(-counts_all[k, :n].view(-1, 1, 1))
                    )
                    if last_linear is not None:
                        torch.sum(dy, 1, out=layer_grads[2 * last_linear + 1][:n])
                dh = dy
                for i in reversed(range(len(program))):
                    op, x_in = program[i], inputs[i]
                    if op == "relu":
                        dh = torch.ops.aten.threshold_backward(dh, x_in, 0.0)
                        continue
                    if op != last_linear:  # the last Linear's bias gradient came with the loss
                        torch.sum(dh, 1, out=layer_grads[2 * op + 1][:n])
                    _bmm(dh.transpose(1, 2), x_in, plan, out=layer_grads[2 * op][:n], over_rows=True)
                    dh = _bmm(dh, layers[2 * op][:n], plan)
                if lazy:  # their gradient step (through the ReLU, in the kernel), then the epoch's remaining steps
                    adam_rows(
                        rows_np,
                        m_np,
                        v_np,
                        flat_np,
                        batch,
                        before[:n] + k + 1,
                        steps_np[:n] - k,
                        grads=dh.view(-1, dim).numpy(),
                        relu=True,
                        relu_out=relu_np,
                        relu_shift=relu_shift[:n],
                        lr=first.lr,
                        skip=pad,
                    )
                else:
                    drows = torch.ops.aten.threshold_backward(dh, x, 0.0)
                    rows_grad.index_fill_(0, previous, 0.0)
                    rows_grad.index_copy_(0, flat, drows.view(-1, dim))  # the padding row only ever receives zeros
                    previous = flat
                params, grads, ms, vs, counted, run_steps = adam_args[n]
                torch._foreach_add_(run_steps, 1)
                if params:
                    torch._fused_adam_(
                        params,
                        grads,
                        ms,
                        vs,
                        [],
                        counted,
                        amsgrad=False,
                        lr=first.lr,
                        beta1=0.9,
                        beta2=0.999,
                        weight_decay=0.0,
                        eps=1e-8,
                        maximize=False,
                    )

            # Each batch's loss sum is its size minus its cosines.
            loss_sums = (counts_all - cos_sums).sum(0)
            training_seconds = time.perf_counter() - epoch_start
            out_records = GroupEpoch()
            for r in range(runs):
                scoring_start = time.perf_counter()
                if lazy:
                    record, item_losses = _record_from_relu(
                        _run_head(program, layers, r),
                        relu_tables[r],
                        clean_np[r],
                        order_np[r],
                        sizes[r],
                        targets[offsets[r] : offsets[r + 1]],
                        epoch,
                        float(loss_sums[r]) / sizes[r],
                        track_means,
                        scratch,
                        want_losses=reports is not None and epoch == first.epochs,
                    )
                else:
                    tables[r][train_idx[r]] = rows[offsets[r] : offsets[r + 1]]
                    student = heads.head_into([nn.ReLU(), *_run_head(program, layers, r)], tables[r], scratch)
                    record = epoch_record(
                        epoch,
                        float(loss_sums[r]) / sizes[r],
                        student,
                        clean[r],
                        train_idx[r],
                        heldout_idx[r],
                        epoch_start,
                        start,
                        track_means,
                        scratch,
                    )
                    item_losses = None
                    if reports is not None and epoch == first.epochs:
                        item_losses = (
                            (
                                1.0
                                - torch.linalg.vecdot(
                                    student.index_select(0, train_idx[r]), targets[offsets[r] : offsets[r + 1]]
                                )
                            )
                            .cpu()
                            .numpy()
                        )
                if item_losses is not None:
                    reports[r].item_losses = item_losses
                # Its share of the steps' time, plus its own scoring (as a single run's epoch time includes it).
                run_seconds = share[r] * training_seconds + (time.perf_counter() - scoring_start)
                credited[r] += run_seconds
                out_records.append(replace(record, epoch_seconds=run_seconds, seconds=credited[r]))
            out_records[:] = [out_records[position[r]] for r in given]
            if lazy:  # the models' tables are brought up to date on demand (a checkpoint) and at the end
                out_records.sync_models = sync_tables
            _heads_back(models, layers)
            yield out_records
    finally:
        # Every model ends with its trained weights, whether the group finished or stopped.
        sync_tables()
        _heads_back(models, layers)


class GroupEpoch(list):
    """One epoch's records of a group, in the order the runs were given. `sync_models()` brings every model's
    table up to that epoch's weights (on the CPU the trained rows live apart from the tables while the group
    trains; a caller that saves a model mid-training, a checkpoint, calls it first). The heads are always current."""

    def sync_models(self) -> None:  # the models are current already (the GPU / dense loop); the CPU loop replaces it
        pass


def _record_from_relu(
    head: list,
    relu_table: torch.Tensor,
    clean: np.ndarray,
    order: np.ndarray,
    n_train: int,
    targets: torch.Tensor,
    epoch: int,
    train_loss: float,
    track_means: bool,
    scratch: dict,
    want_losses: bool,
) -> tuple[EpochRecord, np.ndarray | None]:
    """One run's epoch record from max(table, 0) in the run's own order (training rows first, then held-out),
    with the head's raw output scored in one pass (`core.kernels.row_scores`). Also, if asked, each training answer's
    loss 1 - cos(student, target) (in training-row order, as `targets`)."""
    y = heads.head_into(head, relu_table, scratch, normalize=False) if head else relu_table
    cosine, euclidean, means = row_scores.row_scores(y.numpy(), clean, order)
    held = slice(n_train, None)
    record = EpochRecord(
        epoch=epoch,
        train_loss=train_loss,
        train_cosine=float(cosine[:n_train].mean(dtype=np.float64)),
        heldout_cosine=mean_or_none(torch.from_numpy(cosine[held])),
        heldout_euclidean=mean_or_none(torch.from_numpy(euclidean[held])),
        epoch_seconds=0.0,
        seconds=0.0,
        embedding_means=means if track_means else None,
    )
    losses = None
    if want_losses:
        trained = y[:n_train]
        losses = (
            1.0 - torch.linalg.vecdot(trained, targets) / torch.linalg.vector_norm(trained, dim=1).clamp_min(1e-12)
        ).numpy()
    return record, losses


def _bmm(
    a: torch.Tensor,
    b: torch.Tensor,
    plan: tuple,
    out: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    over_rows: bool = False,
) -> torch.Tensor:
    """The batched product a @ b (+ bias, broadcast over rows), into `out` if given, split as `plan` says (see
    `plans` in train_grouped): the first runs in one batched call, each other run alone over its real rows.
    Products over a batch's rows (a step's rows are a's and out's rows) leave the padding rows of out zero;
    `over_rows` products (a weight gradient: a is transposed, its columns and b's rows are the batch's rows)
    sum over the real rows only. Either way the padding rows contribute nothing, as in one batched call."""
    batched, alone = plan
    if out is None:
        out = a.new_empty(a.shape[0], a.shape[1], b.shape[2])
    if batched:
        if bias is not None:
            torch.baddbmm(bias[:batched], a[:batched], b[:batched], out=out[:batched])
        else:
            torch.bmm(a[:batched], b[:batched], out=out[:batched])
    for i, rows in alone:
        if over_rows:
            torch.mm(a[i][:, :rows], b[i][:rows], out=out[i])
            continue
        if bias is not None:
            torch.addmm(bias[i], a[i][:rows], b[i], out=out[i][:rows])
        else:
            torch.mm(a[i][:rows], b[i], out=out[i][:rows])
        out[i][rows:].zero_()
    return out


def _run_head(program: list, layers: list[torch.Tensor], r: int) -> list:
    """Run r's head after its first ReLU, for `heads.head_into`: nn.ReLU, or (weight, bias) of a Linear."""
    return [nn.ReLU() if op == "relu" else (layers[2 * op][r], layers[2 * op + 1][r]) for op in program]


def _heads_back(models: Sequence[nn.Module], layers: list[torch.Tensor]) -> None:
    """Copy each run's head (its Linear layers, stacked in `layers`) back into its model."""
    for r, model in enumerate(models):
        for i, linear in enumerate(heads.linears(heads.layers_of(model))):
            linear.weight.data.copy_(layers[2 * i][r])
            linear.bias.data.copy_(layers[2 * i + 1][r])
