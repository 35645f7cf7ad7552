"""The paper's headline grid on the real MiniLM teacher and the default 10k vocabulary.

Model A and B x p in {0.095, 1.0} x lemmatization off/on x poison 0 / 10 %, 80 epochs each;
reports the final training loss and held-out cosine after 20 and 80 epochs, and the seconds
each took. Prints ONE JSON line (all runs) on stdout and a Markdown table on stderr.

    .venv/bin/python bench/paper_matrix.py [--epochs 80] [--checkpoints 20,80]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.config import TrainConfig  # noqa: E402
from core.data.corpus import default_vocabulary  # noqa: E402
from core.paths import cache_dir  # noqa: E402
from core.runs.experiment import TrainingRun, prepare_items  # noqa: E402
from core.teachers.teacher import CachedTeacher, load_teacher  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--checkpoints", default="20,80")
    parser.add_argument("--teacher", default="minilm")
    args = parser.parse_args()
    checkpoints = [int(c) for c in args.checkpoints.split(",")]

    words = default_vocabulary().words
    teacher = CachedTeacher(load_teacher(args.teacher, "cpu"), cache_dir() / "teachers")
    prepared = {mode: prepare_items(words, mode, teacher) for mode in ("none", "spacy")}
    rows = []
    with tempfile.TemporaryDirectory() as runs:
        for model, p, lemma, poison in itertools.product("AB", (0.095, 1.0), ("none", "spacy"), (0.0, 0.1)):
            config = TrainConfig(
                teacher=args.teacher, model=model, p=p, epochs=args.epochs, lemmatize=lemma, poison=poison
            )
            start = time.perf_counter()
            records = list(TrainingRun(config, prepared[lemma], Path(runs), device="cpu"))
            row = {
                "model": model,
                "p": p,
                "lemmatize": lemma,
                "poison": poison,
                "items": len(prepared[lemma].items),
                "train_size": len(records) and int(round(p * len(prepared[lemma].items))),
                "total_seconds": round(time.perf_counter() - start, 2),
            }
            for c in checkpoints:
                r = records[c - 1]
                row[f"loss@{c}"] = round(r.train_loss, 4)
                row[f"train_cos@{c}"] = round(r.train_cosine, 4)  # vs the CLEAN teacher
                row[f"heldout_cos@{c}"] = None if r.heldout_cosine is None else round(r.heldout_cosine, 4)
                row[f"seconds@{c}"] = round(r.seconds, 2)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    print(json.dumps({"benchmark": "paper_matrix", "teacher": teacher.id, "epochs": args.epochs, "runs": rows}))
    head = ["model", "p", "lemmatize", "poison"] + [
        f"{k}@{c}" for c in checkpoints for k in ("loss", "train_cos", "heldout_cos", "seconds")
    ]
    print("| " + " | ".join(head) + " |", file=sys.stderr)
    print("|" + "---|" * len(head), file=sys.stderr)
    for row in rows:
        print("| " + " | ".join("—" if row[h] is None else str(row[h]) for h in head) + " |", file=sys.stderr)


if __name__ == "__main__":
    main()
