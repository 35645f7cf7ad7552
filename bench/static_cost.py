"""What a query costs: the static cheap model (a word table distilled from all-MiniLM-L6-v2 by model2vec's recipe,
core/teachers/static.py) vs the MiniLM and MPNet teachers, in the same run, on the same words (issue 21: the
static model should cost at least 100x less per word than the teacher). Both tables are timed: `static` (from MiniLM)
and `static-mpnet` (from MPNet, the MiniLM teacher's default cheap model).

Each model embeds the same `--sample` words of the default vocabulary (`core.teachers.teacher.ms_per_1k`: the
model itself, never its cache, after a warm-up batch), `--repeats` times; the median is kept. `--build` first
distils the table again into a temporary folder and times that too (the lab's own table, in the models folder,
is built by `python -m core warm --steps static` and left as it is). Prints ONE JSON line; `*_over_static` =
the teacher's ms per 1,000 words / the static model's.

    .venv/bin/python bench/static_cost.py [--sample 1000] [--repeats 3] [--build] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from core.data.corpus import default_vocabulary  # noqa: E402
from core.device import pick_device  # noqa: E402
from core.teachers.static import StaticTeacher, distill_static, static_ready  # noqa: E402
from core.teachers.teacher import (  # noqa: E402
    STATIC,
    STATIC_DIMS,
    STATIC_SOURCES,
    build_static_model,
    bundled_model_path,
    load_teacher,
    ms_per_1k,
    static_model_path,
    teacher_id_for,
)


def median_ms(model, words: list[str], sample: int, repeats: int) -> float:
    return statistics.median(ms_per_1k(model, words, sample=sample) for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sample", type=int, default=1000, help="words embedded per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--build", action="store_true", help="also time a fresh distillation of the table")
    parser.add_argument("--device", default=None, help="the teachers' device (default: core.device.pick_device)")
    args = parser.parse_args()
    words = list(default_vocabulary().words)
    device = pick_device(args.device)
    result: dict = {"benchmark": "static_cost", "words": len(words), "sample": min(args.sample, len(words))}

    for name in STATIC_SOURCES:
        start = time.perf_counter()
        had_table = static_ready(static_model_path(name))
        build_static_model(name=name)  # instant when the warm-up built it
        if not had_table:
            result[f"lab_table_build_seconds_{name}"] = round(time.perf_counter() - start, 1)
    if args.build:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            folder = distill_static(
                bundled_model_path(STATIC_SOURCES[STATIC]), Path(tmp) / "static", pca_dims=STATIC_DIMS
            )
            result["build_seconds"] = round(time.perf_counter() - start, 1)
            result["build_tokens"] = len(StaticTeacher(folder).table)

    static = load_teacher(STATIC)
    result |= {"static_id": teacher_id_for(STATIC), "static_dim": static.dim, "static_rows": len(static.table)}
    costs = {"static": median_ms(static, words, args.sample, args.repeats)}
    costs["static-mpnet"] = median_ms(load_teacher("static-mpnet"), words, args.sample, args.repeats)
    for name in ("minilm", "mpnet"):
        costs[name] = median_ms(load_teacher(name, device), words, args.sample, args.repeats)
    result |= {f"{name.replace('-', '_')}_ms_per_1k": round(ms, 2) for name, ms in costs.items()}
    # Each teacher against the table its students read by default or may choose (never one made from itself).
    result |= {
        "minilm_over_static_mpnet": round(costs["minilm"] / costs["static-mpnet"], 1),
        "mpnet_over_static": round(costs["mpnet"] / costs["static"], 1),
        "mpnet_over_static_mpnet": round(costs["mpnet"] / costs["static-mpnet"], 1),
    }
    result |= {
        "device": device,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "load_average": round(os.getloadavg()[0], 2),  # the machine's other work, which slows the teachers most
        "torch": torch.__version__,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
