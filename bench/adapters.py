"""Sentence adapters on the bundled sentences: every architecture x pooling at several p, with the
teacher and the cheap model timed in the same run (issue 7's table).

Cheap model all-MiniLM-L6-v2 -> teacher all-mpnet-base-v2, the bundled ~2,900 sentences, seed 0, 20 epochs
for the trained adapters, 5 for fine-tuning the cheap encoder (it trains 22 M numbers per step and starts at the
ridge map, so few epochs tell). Per row: held-out cosine and Euclidean distance to the teacher, the
average-vector baseline (the reference: a student that learns nothing), train seconds, and ms per 1,000
texts for the adapter alone and for cheap model + adapter. Prints ONE JSON line.

    .venv/bin/python bench/adapters.py [--ps 0.01,0.1,0.5] [--epochs 20] [--finetune-epochs 5] [--archs ridge,mlp,...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from core.data.dataset import split_indices  # noqa: E402
from core.data.sentences import default_sentences  # noqa: E402
from core.evaluation.evaluate import baseline_scores  # noqa: E402
from core.paths import cache_dir  # noqa: E402
from core.sentences.adapters import POOLINGS, AdapterConfig, adapter_ms_per_1k, train_adapter  # noqa: E402
from core.sentences.features import text_features  # noqa: E402
from core.teachers.teacher import CachedTeacher, load_teacher, ms_per_1k  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ps", default="0.01,0.1,0.5")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--cheap", default="minilm")
    parser.add_argument("--teacher", default="mpnet")
    parser.add_argument("--finetune-epochs", type=int, default=5)
    parser.add_argument(
        "--archs", default="ridge,mlp,attention,rnn,finetune", help="which adapters to train (comma-separated)"
    )
    args = parser.parse_args()
    texts = list(default_sentences().texts)
    teacher = CachedTeacher(load_teacher(args.teacher, "cpu"), cache_dir() / "teachers")
    targets = teacher.embed(texts)
    cheap = load_teacher(args.cheap, "cpu")
    start = time.perf_counter()
    features = text_features(cheap, texts)
    feature_seconds = time.perf_counter() - start
    sample = texts[:256]
    teacher_ms, cheap_ms = ms_per_1k(teacher.teacher, sample, 256), ms_per_1k(cheap, sample, 256)
    rows = []
    archs = args.archs.split(",")
    setups = [(a, "mean") for a in ("ridge", "mlp") if a in archs] + [
        (a, p) for a in ("attention", "rnn") if a in archs for p in POOLINGS
    ]
    setups += [("finetune", "mean")] if "finetune" in archs else []
    for p in (float(v) for v in args.ps.split(",")):
        train_idx, held_idx = (torch.as_tensor(i) for i in split_indices(len(texts), p, 0))
        # the learn-nothing student, as the Adapter lab scores it (core.sentences.experiment)
        base_cos, base_euc = baseline_scores(targets, targets, train_idx.numpy(), held_idx.numpy())
        rows.append(
            {
                "arch": "average vector",
                "pooling": "",
                "p": p,
                "train_texts": len(train_idx),
                "heldout_cosine": round(base_cos, 4),
                "heldout_euclidean": round(base_euc, 4),
                "train_seconds": 0.0,
                "adapter_ms_per_1k": 0.0,
                "total_ms_per_1k": 0.0,
            }
        )
        for arch, pooling in setups:
            epochs = args.finetune_epochs if arch == "finetune" else args.epochs
            config = AdapterConfig(
                cheap=args.cheap, teacher=args.teacher, arch=arch, pooling=pooling, p=p, epochs=epochs
            )
            for model, last in train_adapter(config, features, targets, "cpu", encoder=cheap):
                pass
            adapter_ms = adapter_ms_per_1k(model, features, 256)
            rows.append(
                {
                    "arch": arch,
                    "pooling": pooling if config.uses_tokens else "",
                    "p": p,
                    "train_texts": len(train_idx),
                    "heldout_cosine": round(last.heldout_cosine, 4),
                    "heldout_euclidean": round(last.heldout_euclidean, 4),
                    "epochs": config.epochs,
                    "train_seconds": round(last.seconds, 2),
                    "adapter_ms_per_1k": round(adapter_ms, 2),
                    "total_ms_per_1k": round(cheap_ms + adapter_ms, 1),
                }
            )
    print(
        json.dumps(
            {
                "benchmark": "adapters",
                "cheap": args.cheap,
                "teacher": teacher.id,
                "texts": len(texts),
                "epochs": args.epochs,
                "finetune_epochs": args.finetune_epochs,
                "teacher_ms_per_1k": round(teacher_ms, 1),
                "cheap_ms_per_1k": round(cheap_ms, 1),
                "cheap_features_seconds": round(feature_seconds, 1),
                "torch_threads": torch.get_num_threads(),
                "rows": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
