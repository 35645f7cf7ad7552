"""Sweep speed: the paper grid trained by our engine vs the loop a user would write, and the
hardware floor, in one process.

Grid: Model B on the default vocabulary (MiniLM targets), the paper's ten p (or a --quick subset),
every epoch recording training loss and held-out cosine.
- ours: `core.words.train.train_group` (`core.kernels.grouped`), what a sweep runs: every run of the grid in one group (batched
  head matmuls, one multi-tensor fused Adam call per step for the heads; on the CPU the table rows take
  their Adam steps late, several at a time, `core.kernels.lazy_adam`), data on the device.
- single: `core.words.train.train_student` one run at a time (the Train page's loop: the fast CPU path on a
  CPU, the reference loop on a GPU), reported beside it.
- reference: one run at a time, `DataLoader(TensorDataset)`, default `torch.optim.Adam` over the
  whole model, the same per-epoch held-out evaluation.
- floor: the work the grid cannot avoid, at rates measured here by micro-benchmarks: the matmuls
  (training steps and the per-epoch forward over the vocabulary) at the best GEMM rate this CPU
  reaches, and Adam's work on the rows and layers (see `floor_seconds`). `floor_*` is the floor of the
  same updates in any order (each row's p, m, v moved once an epoch, its zero-gradient steps as
  arithmetic); `dense_adam_floor_*` the floor of Adam stepping every row at every step (28 bytes per
  element per step), which the lazy rows go below: it is reported for comparison with earlier figures.

Every loop is timed `--repeats` times, the probes run again before each repeat (this shared machine's
memory bandwidth moves by half from one minute to the next), and each figure is the best over the repeats.

Prints one JSON line: grid_seconds, single_seconds, reference_seconds, speedup (= reference / ours),
floor_seconds, floor_fraction (= floor / ours), floor_fraction_each_repeat (each repeat against its own
probes), dense_adam_floor_seconds / _fraction, rows_adam (lazy or dense), max_final_loss_diff (ours vs reference), grouped_vs_single_max_diff, and the measured bandwidth
(best kernel, and every kernel of every repeat) and flop rate.

    .venv/bin/python bench/train_grid.py --quick      # 3 values of p x 10 epochs, each loop timed 3 times (about a minute)
    .venv/bin/python bench/train_grid.py              # 10 values of p x 80 epochs

`--executor ray` measures something else: the executors' overhead (core.runs.executors). The same sweep
(`core.runs.sweep.run_sweep`, as the CLI and the Sweep page run it: grouped, journaled, stored) through the local
executor (the reference, in the same run) and through Ray (a local Ray instance started here with this machine's
CPUs, or `--ray-address`), each into a fresh runs folder, `--repeats` times each (default 3); one JSON line:
local_seconds, ray_seconds (best repeat: warm workers), ray_first_seconds (the first: workers start, import torch,
load the kernels), overhead_ratio = ray_seconds / local_seconds, first_overhead_ratio, ray_connect_seconds, and
max_curve_diff between the two executors' stored curves.

    .venv/bin/python bench/train_grid.py --quick --executor ray
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from core.config import PAPER_PS, LemmaMode, TrainConfig  # noqa: E402
from core.data.corpus import default_vocabulary  # noqa: E402
from core.data.dataset import build_dataset  # noqa: E402
from core.evaluation.metrics import cosine_embedding_loss, rowwise_cosine  # noqa: E402
from core.kernels import lazy_adam  # noqa: E402
from core.paths import cache_dir  # noqa: E402
from core.teachers.teacher import CachedTeacher, load_teacher  # noqa: E402
from core.words.students import StudentConfig, build_student  # noqa: E402
from core.words.train import train_group, train_student  # noqa: E402

QUICK_PS = (0.053, 0.308, 1.0)


def measure_bandwidth(n: int = 32 * 1024 * 1024, repeats: int = 7) -> dict[str, float]:
    """Bytes per second of three streaming kernels over 128 MB arrays (the best of `repeats` each), counting
    the bytes each must move: copy 8 B per element, in-place add 12 B, triad into a third array 12 B."""
    a, b, c = torch.rand(n), torch.rand(n), torch.empty(n)
    kernels = {
        "copy": (lambda: c.copy_(a), 8),
        "add_inplace": (lambda: a.add_(b, alpha=1e-9), 12),
        "triad": (lambda: torch.add(a, b, alpha=2.0, out=c), 12),
    }
    rates = {}
    for name, (run, bytes_per_element) in kernels.items():
        run()
        best = 0.0
        for _ in range(repeats):
            t = time.perf_counter()
            run()
            best = max(best, bytes_per_element * n / (time.perf_counter() - t))
        rates[name] = best
    return rates


def measure_flops(repeats: int = 7) -> float:
    """Floating-point operations per second: the best large square matmul (the best GEMM rate)."""
    best = 0.0
    for n in (1024, 2048):
        a, b = torch.rand(n, n), torch.rand(n, n)
        a @ b
        for _ in range(repeats):
            t = time.perf_counter()
            a @ b
            best = max(best, 2 * n**3 / (time.perf_counter() - t))
    return best


def reference_run(model, dataset, config) -> list[float]:
    """The way a user writes it: DataLoader batches, default Adam, evaluation each epoch."""
    targets, clean = torch.as_tensor(dataset.targets), torch.as_tensor(dataset.clean)
    idx, held = torch.as_tensor(dataset.train_idx), torch.as_tensor(dataset.heldout_idx)
    loader = DataLoader(
        TensorDataset(idx, targets[idx]),
        batch_size=config.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(config.seed),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    losses = []
    for _ in range(config.epochs):
        total = 0.0
        for batch_idx, batch_targets in loader:
            loss = cosine_embedding_loss(model(batch_idx), batch_targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch_idx)
        losses.append(total / len(idx))
        with torch.no_grad():
            everything = model(torch.arange(len(dataset.items)))
            rowwise_cosine(everything[held], clean[held]).mean().item()
    return losses


def floor_seconds(
    n_items: int, dim: int, ps, epochs: int, batch: int, bandwidth: float, flops: float, dense_adam: bool = False
) -> float:
    """The least time the grid's work can take at the measured rates.

    Both floors count the matmuls (training steps: forward + two backward products per training row; the
    per-epoch forward over the vocabulary) at the best GEMM rate, the scoring's reads of the table and the
    teacher vectors, and the heads' Adam (28 bytes per parameter per step). They differ on the table rows:
    - dense_adam (the floor of Adam taking every step over every row): 28 bytes per row element per step
      (read parameter, gradient, m, v; write parameter, m, v);
    - otherwise (the floor of the same updates in any order, what core.kernels.lazy_adam does): the row's p, m, v
      read and written once per epoch (24 bytes per element), plus the arithmetic of its zero-gradient steps
      (m <- b1 m; p <- p - a m / (r s + eps): counted as 6 flops an element-step at the GEMM rate, generous
      to the floor since a division costs more than a fused multiply-add).
    """
    half = dim // 2
    head_params = dim * half + half + half * dim + dim
    layer_flops = 2 * (dim * half + half * dim)  # multiply-adds of the two Linear layers, per row
    total = 0.0
    for p in ps:
        n_train = min(n_items, max(1, round(p * n_items)))
        steps = math.ceil(n_train / batch)
        train_flops = 3 * layer_flops * n_train  # forward + two backward matmuls, every training row once
        eval_flops = layer_flops * n_items  # forward over the whole vocabulary
        eval_bytes = 4 * 2 * n_items * dim  # read the table, read the teacher vectors
        if dense_adam:
            adam_seconds = steps * 28 * (n_train * dim + head_params) / bandwidth
        else:
            adam_seconds = (
                24 * n_train * dim + steps * 28 * head_params
            ) / bandwidth + 6 * steps * n_train * dim / flops
        total += epochs * (adam_seconds + (train_flops + eval_flops) / flops + eval_bytes / bandwidth)
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help=f"p in {QUICK_PS}, 10 epochs")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--teacher", default="minilm")
    parser.add_argument("--device", default=None)
    parser.add_argument(
        "--repeats", type=int, help="times each loop is timed (best kept); default 3 with --quick, 1 for the full grid"
    )
    parser.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="ray: the ray executor's overhead against the local one (the same sweep through both)",
    )
    parser.add_argument("--ray-address", default="", help="with --executor ray: '' starts Ray here; or auto, HOST:PORT")
    parser.add_argument("--models", default="B", help="with --executor ray: the grid's students, e.g. A,B")
    args = parser.parse_args()
    if args.executor == "ray":
        executor_overhead(args)
        return
    repeats = args.repeats if args.repeats is not None else (3 if args.quick else 1)
    if repeats < 1:
        parser.error("--repeats must be at least 1")
    ps = QUICK_PS if args.quick else PAPER_PS
    epochs = args.epochs if args.epochs is not None else (10 if args.quick else 80)
    if epochs < 1:
        parser.error("--epochs must be at least 1")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")

    words = default_vocabulary().words
    teacher = CachedTeacher(load_teacher(args.teacher, "cpu"), cache_dir() / "teachers")
    clean = teacher.embed(words)

    datasets = {p: build_dataset(words, clean, p, 0.0, 0) for p in ps}
    configs = {p: TrainConfig(teacher=args.teacher, model="B", p=p, epochs=epochs) for p in ps}
    student_config = StudentConfig("B", len(words), teacher.dim)

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def time_ours() -> tuple[float, dict]:
        start = time.perf_counter()  # building the students counts, as in the two other loops
        models = [build_student(student_config, seed=0) for _ in ps]
        epochs_out = list(train_group(models, [datasets[p] for p in ps], [configs[p] for p in ps], device))
        sync()
        return time.perf_counter() - start, {p: epochs_out[-1][i].train_loss for i, p in enumerate(ps)}

    def time_single() -> tuple[float, dict]:
        losses, start = {}, time.perf_counter()
        for p in ps:
            losses[p] = list(train_student(build_student(student_config, seed=0), datasets[p], configs[p], device))[
                -1
            ].train_loss
        sync()
        return time.perf_counter() - start, losses

    def time_reference() -> tuple[float, dict]:
        losses, start = {}, time.perf_counter()
        for p in ps:
            losses[p] = reference_run(build_student(student_config, seed=0), datasets[p], configs[p])[-1]
        return time.perf_counter() - start, losses

    # Every repeat probes the machine and times the three loops, so the probes and the timings sample the same
    # stretch of time (this shared machine's memory bandwidth moves between ~40 and ~100 GB/s from one second to
    # the next); each figure is the best over the repeats, the probes' too (the floor is the lowest it can be).
    lazy_adam.warm_up()  # loads the compiled row kernel (compiles it, ~3 s, the first time on a machine): once per process
    seconds: dict[str, list[float]] = {"ours": [], "single": [], "reference": []}
    final_loss: dict[str, dict] = {}
    bandwidths, flop_rates, fractions, probes = [], [], [], []
    for _ in range(repeats):
        probe = measure_bandwidth()
        probes.append(probe)
        bandwidths.append(max(probe.values()))
        flop_rates.append(measure_flops())
        for name, timer in (("ours", time_ours), ("single", time_single), ("reference", time_reference)):
            took, final_loss[name] = timer()
            seconds[name].append(took)
        fractions.append(
            floor_seconds(len(words), teacher.dim, ps, epochs, 256, bandwidths[-1], flop_rates[-1])
            / seconds["ours"][-1]
        )
    bandwidth, flops = max(bandwidths), max(flop_rates)
    grid_seconds, single_seconds, reference_seconds = (
        min(seconds["ours"]),
        min(seconds["single"]),
        min(seconds["reference"]),
    )

    floor = floor_seconds(len(words), teacher.dim, ps, epochs, 256, bandwidth, flops)
    dense_floor = floor_seconds(len(words), teacher.dim, ps, epochs, 256, bandwidth, flops, dense_adam=True)
    ours_loss, single_loss, ref_loss = final_loss["ours"], final_loss["single"], final_loss["reference"]
    print(
        json.dumps(
            {
                "benchmark": "train_grid",
                "mode": "quick" if args.quick else "full",
                "device": device,
                "teacher": teacher.id,
                "model": "B",
                "items": len(words),
                "ps": list(ps),
                "epochs": epochs,
                "runs": len(ps),
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "bandwidth_gb_s": round(bandwidth / 1e9, 2),
                "gflops": round(flops / 1e9, 1),
                "bandwidth_by_kernel_gb_s": [{k: round(v / 1e9, 1) for k, v in probe.items()} for probe in probes],
                "repeats": repeats,
                "grid_seconds": round(grid_seconds, 2),
                "single_seconds": round(single_seconds, 2),
                "reference_seconds": round(reference_seconds, 2),
                "speedup": round(reference_seconds / grid_seconds, 2),
                "floor_seconds": round(floor, 2),
                "floor_fraction": round(floor / grid_seconds, 3),
                "floor_fraction_each_repeat": [round(f, 3) for f in fractions],
                "dense_adam_floor_seconds": round(dense_floor, 2),
                "dense_adam_floor_fraction": round(dense_floor / grid_seconds, 3),
                "rows_adam": "lazy" if lazy_adam.used_on(device) else "dense",
                "max_final_loss_diff": round(max(abs(ours_loss[p] - ref_loss[p]) for p in ps), 5),
                "grouped_vs_single_max_diff": float(f"{max(abs(ours_loss[p] - single_loss[p]) for p in ps):.2e}"),
            }
        )
    )


def executor_overhead(args) -> None:
    """The same sweep through the local executor and through Ray; one JSON line (see the module's docstring)."""
    import tempfile

    from core.runs.executors import LocalExecutor, RayExecutor, connect_ray
    from core.runs.experiment import prepare_items
    from core.runs.store import list_runs, load_run
    from core.runs.sweep import SWEEP_CHECKPOINT_SECONDS, SweepGrid, run_sweep, training_batches

    repeats = args.repeats if args.repeats is not None else 3
    ps = QUICK_PS if args.quick else PAPER_PS
    epochs = args.epochs if args.epochs is not None else (10 if args.quick else 80)
    device = args.device or "cpu"
    vocab = default_vocabulary()
    teacher = CachedTeacher(load_teacher(args.teacher, "cpu"), cache_dir() / "teachers")
    prepared = {LemmaMode.NONE: prepare_items(vocab.words, "none", teacher)}
    grid = SweepGrid(
        teacher=args.teacher, models=tuple(args.models.split(",")), ps=ps, epochs=epochs, vocabulary=vocab.label
    )
    lazy_adam.warm_up()

    start = time.perf_counter()
    connect_ray(args.ray_address)
    connect_seconds = time.perf_counter() - start
    # The reference trains with the threads a Ray task gets (one per CPU it asks for: Ray sets OMP_NUM_THREADS), so
    # the ratio is the executor's own cost; the local executor with torch's default threads is timed beside it.
    default_threads, task_threads = torch.get_num_threads(), 1
    executors = {
        "local": (LocalExecutor(), task_threads),
        "ray": (RayExecutor(args.ray_address), default_threads),
        "local_default_threads": (LocalExecutor(), default_threads),
    }
    seconds: dict[str, list[float]] = {name: [] for name in executors}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(repeats):
            for name, (executor, threads) in executors.items():
                torch.set_num_threads(threads)
                root = Path(tmp) / f"{name}-{repeat}"
                start = time.perf_counter()
                last = list(
                    run_sweep(
                        grid,
                        prepared,
                        root,
                        device=device,
                        checkpoint_every=SWEEP_CHECKPOINT_SECONDS,
                        executor=executor,
                    )
                )[-1]
                seconds[name].append(time.perf_counter() - start)
                assert last.trained == last.total == len(grid.configs()), last
        torch.set_num_threads(default_threads)

        def stored(root: Path) -> dict:
            out = {}
            for run_id in list_runs(root)["run_id"].to_list():
                run = load_run(root, run_id)
                out[(run.config.model.value, run.config.p)] = run.epochs
            return out

        here, there = stored(Path(tmp) / "local-0"), stored(Path(tmp) / "ray-0")
        diff = max(
            abs(a - b)
            for key in here
            for column in ("train_loss", "heldout_cosine")
            for a, b in zip(here[key][column].fill_null(0).to_list(), there[key][column].fill_null(0).to_list())
        )
    local, ray_best = min(seconds["local"]), min(seconds["ray"])
    import ray

    print(
        json.dumps(
            {
                "benchmark": "train_grid_executor",
                "mode": "quick" if args.quick else "full",
                "device": device,
                "teacher": teacher.id,
                "models": [m.value for m in grid.models],
                "items": len(vocab.words),
                "ps": list(ps),
                "epochs": epochs,
                "runs": len(grid.configs()),
                "ray_tasks": len(training_batches(grid.configs(), prepared, True)),  # one task per group or single run
                "ray": ray.__version__,
                "ray_cpus": ray.cluster_resources().get("CPU"),
                "cpus": os.cpu_count(),
                "local_threads": task_threads,
                "default_threads": default_threads,
                "repeats": repeats,
                "local_seconds": round(local, 2),
                "ray_seconds": round(ray_best, 2),
                "ray_first_seconds": round(seconds["ray"][0], 2),
                "overhead_ratio": round(ray_best / local, 3),
                "first_overhead_ratio": round(seconds["ray"][0] / min(seconds["local"]), 3),
                "ray_connect_seconds": round(connect_seconds, 2),
                "local_default_threads_seconds": round(min(seconds["local_default_threads"]), 2),
                "local_each_s": [round(x, 2) for x in seconds["local"]],
                "ray_each_s": [round(x, 2) for x in seconds["ray"]],
                "local_default_threads_each_s": [round(x, 2) for x in seconds["local_default_threads"]],
                "max_curve_diff": float(f"{diff:.2e}"),
            }
        )
    )


if __name__ == "__main__":
    main()
