"""Poison detection and every defence on a real teacher, through the engine (issue 6's acceptance scenario).

Teacher all-MiniLM-L6-v2 on the default 10,000 words, p = 0.3, 10 % of the whole vocabulary poisoned
before the split (the paper's protocol), seed 0. For each student, adversary and defence: the clean
held-out cosine (held-out words are always scored against the clean teacher), as % of the same student's
clean run, detection precision / recall (answers whose loss is an outlier: median + 3 robust spreads;
leave-one-out losses for closed-form adapters, final losses for trained students), what the defence left
out, seconds, and the defence's extra seconds over the plain run (the reference). Prints ONE JSON line.

    .venv/bin/python bench/poison_detection.py [--students ridge,kernel,mlp,B] [--p 0.3] [--rate 0.1]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.config import (  # noqa: E402
    DEFENCES,  # noqa: E402
    Adversary,  # noqa: E402
    LemmaMode,
    TrainConfig,
)
from core.data.corpus import default_vocabulary  # noqa: E402
from core.paths import teacher_cache_dir  # noqa: E402
from core.runs.experiment import TrainingRun, prepare_items  # noqa: E402
from core.teachers.teacher import CachedTeacher, load_teacher  # noqa: E402


def rounded(value, digits=4):
    return None if value is None else round(float(value), digits)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", default="ridge,kernel,mlp,B")
    parser.add_argument("--adversaries", default=",".join(a.value for a in Adversary))
    parser.add_argument("--defences", default=",".join(DEFENCES))
    parser.add_argument("--p", type=float, default=0.3)
    parser.add_argument("--rate", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    vocab = default_vocabulary()
    prepared = prepare_items(
        vocab.words, LemmaMode.NONE, CachedTeacher(load_teacher("minilm", "cpu"), teacher_cache_dir())
    )
    rows, clean = [], {}
    with tempfile.TemporaryDirectory() as runs:

        def train(student, poison, adversary="random", defence="none") -> dict:
            config = TrainConfig(
                teacher="minilm",
                model=student,
                p=args.p,
                epochs=args.epochs,
                poison=poison,
                seed=args.seed,
                adversary=adversary,
                defence=defence,
                vocabulary=vocab.label,
            )
            run = TrainingRun(config, prepared, Path(runs), device="cpu")
            for _ in run:
                pass
            return run.summary()

        for student in args.students.split(","):
            train(student, 0.0)  # warm-up: feature caches, first-call costs
            clean[student] = train(student, 0.0)
            plain_seconds = {}
            for adversary in args.adversaries.split(","):
                for defence in args.defences.split(","):
                    s = train(student, args.rate, adversary, defence)
                    if defence == "none":
                        plain_seconds[adversary] = s["seconds"]
                    rows.append(
                        {
                            "student": student,
                            "adversary": adversary,
                            "defence": defence,
                            "poisoned_in_train": s["poisoned_in_train"],
                            "heldout_cosine": rounded(s["clean_heldout_cosine"]),
                            "pct_of_clean": rounded(
                                100 * s["clean_heldout_cosine"] / clean[student]["clean_heldout_cosine"], 1
                            ),
                            "detection_precision": rounded(s.get("detection_precision"), 3),
                            "detection_recall": rounded(s.get("detection_recall"), 3),
                            "left_out": s.get("defence_left_out"),
                            "left_out_precision": rounded(s.get("defence_precision"), 3),
                            "left_out_recall": rounded(s.get("defence_recall"), 3),
                            "seconds": rounded(s["seconds"], 2),
                            "extra_seconds": rounded(s["seconds"] - plain_seconds.get(adversary, s["seconds"]), 2),
                        }
                    )
    print(
        json.dumps(
            {
                "benchmark": "poison_detection",
                "teacher": prepared.teacher_id,
                "p": args.p,
                "rate": args.rate,
                "epochs": args.epochs,
                "clean_heldout_cosine": {k: rounded(v["clean_heldout_cosine"]) for k, v in clean.items()},
                "clean_seconds": {k: rounded(v["seconds"], 2) for k, v in clean.items()},
                "rows": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
