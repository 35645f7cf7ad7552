"""Training speed: our loop vs the loop a user would write, on the same data, in one process.

Ours: data on the device, one seeded permutation per epoch sliced into batches, fused Adam for the head and,
on the CPU, lazy Adam for the table rows (`core.kernels.lazy_adam`; its compiled kernel is loaded before timing).
Reference: `torch.utils.data.DataLoader(TensorDataset(...), shuffle=True)` and default
`torch.optim.Adam`, one run at a time, with the same per-epoch held-out evaluation
(`train_grid.reference_run`). Both train Model B (10k x 384 MiniLM targets by default,
batch 256) from the same initial weights; the final losses must agree.

Prints one JSON line: ours_seconds, reference_seconds, speedup, final_loss_diff.

    .venv/bin/python bench/train_epoch.py [--epochs 10] [--teacher minilm] [--p 1.0]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from core.config import TrainConfig  # noqa: E402
from core.data.corpus import default_vocabulary  # noqa: E402
from core.data.dataset import build_dataset  # noqa: E402
from core.kernels import lazy_adam  # noqa: E402
from core.paths import cache_dir  # noqa: E402
from core.teachers.teacher import CachedTeacher, load_teacher  # noqa: E402
from core.words.students import StudentConfig, build_student  # noqa: E402
from core.words.train import train_student  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_grid import reference_run  # noqa: E402  (the same user-style loop, evaluation included)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--teacher", default="minilm")
    parser.add_argument("--p", type=float, default=1.0)
    args = parser.parse_args()

    words = default_vocabulary().words
    teacher = CachedTeacher(load_teacher(args.teacher, "cpu"), cache_dir() / "teachers")
    clean = teacher.embed(words)
    config = TrainConfig(teacher=args.teacher, p=args.p, epochs=args.epochs)
    dataset = build_dataset(words, clean, config.p, config.poison, config.seed)
    student_config = StudentConfig("B", len(words), teacher.dim)

    lazy_adam.warm_up()  # once per process (a disk-cache load; ~3 s of compiling the first time on a machine)
    ours_model = build_student(student_config, seed=0)
    start = time.perf_counter()
    # Held-out metrics and means are part of what our loop delivers each epoch; they are timed too.
    records = list(train_student(ours_model, dataset, config, "cpu"))  # the fast CPU path (core.kernels.fast)
    ours_seconds = time.perf_counter() - start

    ref_model = build_student(student_config, seed=0)
    start = time.perf_counter()
    ref_loss = reference_run(ref_model, dataset, config)[-1]
    reference_seconds = time.perf_counter() - start

    print(
        json.dumps(
            {
                "benchmark": "train_epoch",
                "teacher": teacher.id,
                "model": "B",
                "items": len(words),
                "p": args.p,
                "epochs": args.epochs,
                "batch_size": config.batch_size,
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "ours_seconds": round(ours_seconds, 3),
                "reference_seconds": round(reference_seconds, 3),
                "speedup": round(reference_seconds / ours_seconds, 2),
                "ours_final_loss": round(records[-1].train_loss, 5),
                "reference_final_loss": round(ref_loss, 5),
                "final_loss_diff": round(abs(records[-1].train_loss - ref_loss), 5),
            }
        )
    )


if __name__ == "__main__":
    main()
