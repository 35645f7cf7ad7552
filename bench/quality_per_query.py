"""The quality-per-query table: every student at several p on a real teacher, scored on held-out words.

For each student kind and p: held-out cosine, analogy accuracy as % of the teacher's (on the same
questions), SimLex-999 / WordSim-353 Spearman ρ, neighbour overlap@10 and training seconds; with the
average-vector baseline at each p, the teachers' own scores (MiniLM and MPNet on the whole
vocabulary) and the cost of the cheap model and the teacher in ms per 1,000 words, timed in the same
run. The reference of this benchmark is the average-vector baseline (a student that learns nothing).

Prints ONE JSON line on stdout and a Markdown table on stderr.

    .venv/bin/python bench/quality_per_query.py --teacher mpnet            # p in 0.01, 0.03, 0.1, 0.3
    .venv/bin/python bench/quality_per_query.py --teacher mpnet --ps 0.1 --models ridge,mlp
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.config import StudentKind, TrainConfig, default_cheap  # noqa: E402
from core.data.corpus import default_vocabulary  # noqa: E402
from core.evaluation.evaluate import Benchmarks, evaluate, evaluate_teacher  # noqa: E402
from core.paths import teacher_cache_dir  # noqa: E402
from core.runs.experiment import TrainingRun, prepare_items  # noqa: E402
from core.teachers.teacher import CachedTeacher, load_teacher, ms_per_1k  # noqa: E402
from core.words.students import student_vectors  # noqa: E402


def fmt(value, pattern="{:.3f}"):
    return "—" if value is None else pattern.format(value)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--teacher", default="mpnet")
    parser.add_argument("--ps", default="0.01,0.03,0.1,0.3")
    parser.add_argument("--models", default=",".join(k.value for k in StudentKind))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-cost", action="store_true")
    args = parser.parse_args()
    ps = [float(p) for p in args.ps.split(",")]
    kinds = [StudentKind.parse(m) for m in args.models.split(",")]

    words = default_vocabulary().words
    benchmarks = Benchmarks.bundled()
    teacher = CachedTeacher(load_teacher(args.teacher, "cpu"), teacher_cache_dir())
    prepared = prepare_items(words, "none", teacher)
    cheap_name = default_cheap(args.teacher)

    teachers = {}
    for name in dict.fromkeys(["minilm", "mpnet", args.teacher]):
        model = CachedTeacher(load_teacher(name, "cpu"), teacher_cache_dir())
        scores = evaluate_teacher(list(prepared.items), model.embed(list(prepared.items)), benchmarks).row()
        if not args.no_cost:
            scores["ms_per_1k"] = round(ms_per_1k(model.teacher, list(prepared.items)[:512]), 1)
        teachers[model.id] = {
            k: scores[k]
            for k in (
                "analogy_accuracy",
                "analogy_questions",
                "simlex_spearman",
                "wordsim_spearman",
                *(["ms_per_1k"] if not args.no_cost else []),
            )
        }
        print(json.dumps({"teacher_scores": model.id, **teachers[model.id]}), file=sys.stderr, flush=True)

    rows = []
    with tempfile.TemporaryDirectory() as runs:
        for p in ps:
            baseline_done = False
            for kind in kinds:
                config = TrainConfig(teacher=args.teacher, model=kind, p=p, epochs=args.epochs, seed=args.seed)
                run = TrainingRun(config, prepared, Path(runs), device="cpu")
                records = list(run)
                student = student_vectors(run.model).cpu().numpy()
                ev = evaluate(
                    prepared.items,
                    prepared.clean,
                    student,
                    run.dataset.targets,
                    run.dataset.train_idx,
                    benchmarks=benchmarks,
                    student_name=kind.label,
                )
                scored = [(kind.label, ev.student)] + (
                    [] if baseline_done else [("Average vector (baseline)", ev.baseline)]
                )
                baseline_done = True
                for label, s in scored:
                    row = s.row(ev.teacher)
                    rows.append(
                        {
                            "student": label,
                            "p": p,
                            "queries": run.teacher_queries,
                            "heldout_cosine": row["heldout_cosine"],
                            "analogy_pct_of_teacher": row["analogy_pct_of_teacher"],
                            "analogy_accuracy": row["analogy_accuracy"],
                            "teacher_analogy_accuracy": ev.teacher.analogies.accuracy,
                            "analogy_questions": row["analogy_questions"],
                            "simlex_spearman": row["simlex_spearman"],
                            "wordsim_spearman": row["wordsim_spearman"],
                            "neighbour_overlap_at_10": row["neighbour_overlap_at_10"],
                            "train_seconds": None if label.startswith("Average") else round(records[-1].seconds, 2),
                            "epochs": None if label.startswith("Average") else len(records),
                        }
                    )
                    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)

    print(
        json.dumps(
            {
                "benchmark": "quality_per_query",
                "teacher": teacher.id,
                "cheap": cheap_name,
                "items": len(prepared.items),
                "seed": args.seed,
                "epochs": args.epochs,
                "teachers": teachers,
                "rows": rows,
            }
        )
    )
    print(
        "\n| student | p | queries | held-out cosine | analogies % of teacher | SimLex ρ | WordSim ρ | overlap@10 | train s |",
        file=sys.stderr,
    )
    print("|---|---|---|---|---|---|---|---|---|", file=sys.stderr)
    for r in rows:
        print(
            f"| {r['student']} | {r['p']:g} | {r['queries']:,} | {fmt(r['heldout_cosine'])} | {fmt(r['analogy_pct_of_teacher'], '{:.0f}')} | "
            f"{fmt(r['simlex_spearman'])} | {fmt(r['wordsim_spearman'])} | {fmt(r['neighbour_overlap_at_10'])} | {fmt(r['train_seconds'], '{:.2f}')} |",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
