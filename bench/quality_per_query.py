"""How few teacher queries for the same quality: the best student per teacher, words chosen at random or by
a query selection, over several seeds, scored on held-out words, with 95 % intervals.

For each teacher (default MPNet and MiniLM) and each selection strategy (random, typical, kcenter) at each
p (0.003, 0.01, 0.03, 0.1) and seed (0-4): the student (default the kernel adapter, over the teacher's
default cheap model: MiniLM's layers for MPNet, the static table for MiniLM) is trained and scored on the
words it never saw — held-out cosine and analogies as % of the teacher (same questions). Then, with the
engine's own statistics (`core.runs.quality`):
- mean ± 95 % half-width over seeds per strategy and p;
- the paired difference of each strategy against random on the same seeds (the reference of this benchmark);
- the ceiling: the same student given every answer but a held-out 10 % (p = 0.9, random);
- the static cheap model: its best students (kernel, ridge) at p = 0.1 for each teacher, and its cost per
  1,000 words beside the teachers', timed in the same run on the same 512 words.

Prints ONE JSON line on stdout and Markdown tables on stderr.

    .venv/bin/python bench/quality_per_query.py                      # ~15-25 min on a 2-core CPU
    .venv/bin/python bench/quality_per_query.py --teachers mpnet --seeds 0,1 --ps 0.01,0.1   # a quick look
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl  # noqa: E402

from core.config import CEILING_P, StudentKind, TrainConfig, cheap_choices, default_cheap  # noqa: E402
from core.data.corpus import default_vocabulary  # noqa: E402
from core.evaluation.benchmarks import Benchmarks  # noqa: E402
from core.evaluation.evaluate import evaluate  # noqa: E402
from core.paths import teacher_cache_dir  # noqa: E402
from core.runs.experiment import TrainingRun, prepare_items  # noqa: E402
from core.runs.quality import ceiling, paired_differences, quality_bands, queries_for  # noqa: E402
from core.teachers.teacher import CachedTeacher, TeacherUnavailable, load_teacher, ms_per_1k  # noqa: E402
from core.words.students import student_vectors  # noqa: E402

METRICS = ("heldout_cosine", "analogy_pct_of_teacher")


def fmt(value, pattern="{:.3f}"):
    return "—" if value is None else pattern.format(value)


def pm(mean, half, n, pattern="{:.3f}"):
    """'0.712 ± 0.014' (or '0.712 (1 seed)')."""
    if mean is None:
        return "—"
    return pattern.format(mean) + (f" ± {pattern.format(half)}" if half is not None else f" ({n} seed)")


def score(config: TrainConfig, prepared, runs: Path, benchmarks, label: str) -> dict:
    """Train one run (stored in a scratch folder) and score it on its held-out words."""
    start = time.perf_counter()
    run = TrainingRun(config, prepared, runs, device="cpu")
    list(run)
    student = student_vectors(run.model).cpu().numpy()
    ev = evaluate(
        prepared.items,
        prepared.clean,
        student,
        run.dataset.targets,
        run.dataset.train_idx,
        benchmarks=benchmarks,
        student_name=label,
    )
    row = ev.student.row(ev.teacher)
    return {
        "student": label,
        "run_id": run.run_id or "",
        "selection": config.selection,
        "seed": config.seed,
        "p": config.p,
        "queries": run.teacher_queries,
        "heldout_cosine": row["heldout_cosine"],
        "analogy_pct_of_teacher": row["analogy_pct_of_teacher"],
        "analogy_questions": row["analogy_questions"],
        "seconds": round(time.perf_counter() - start, 2),
        "selection_seconds": run.extra.get("selection_seconds", 0.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teachers", default="mpnet,minilm")
    parser.add_argument("--student", default="kernel", help="the student of the selection grid (default kernel)")
    parser.add_argument("--select", default="random,typical,kcenter")
    parser.add_argument("--ps", default="0.003,0.01,0.03,0.1")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--static-students", default="kernel,ridge", help="students over the static table, p 0.1")
    parser.add_argument(
        "--ceiling-seeds", default="0,1,2", help="seeds of the ceiling runs (9,000 answers each: the slowest fits)"
    )
    parser.add_argument("--target", type=float, default=90.0, help="'how few queries for X %% of the teacher'")
    args = parser.parse_args()
    teachers = [t.strip() for t in args.teachers.split(",") if t.strip()]
    selections = [s.strip() for s in args.select.split(",") if s.strip()]
    ps = [float(p) for p in args.ps.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    kind = StudentKind.parse(args.student)
    static_kinds = [StudentKind.parse(k) for k in args.static_students.split(",") if k.strip()]

    words = default_vocabulary().words
    benchmarks = Benchmarks.bundled()
    sample = list(words[:512])
    costs = {}
    for name in dict.fromkeys(["static", "static-mpnet", "minilm", "mpnet", *teachers]):  # same words, same run
        try:
            costs[name] = round(ms_per_1k(load_teacher(name, "cpu"), sample), 2)
        except TeacherUnavailable as err:
            print(f"{name}: {err}", file=sys.stderr)
    print(json.dumps({"ms_per_1k": costs}), file=sys.stderr, flush=True)

    rows: list[dict] = []
    out = {"benchmark": "quality_per_query", "items": len(words), "ms_per_1k": costs, "teachers": {}}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        runs = Path(scratch)
        for teacher_name in teachers:
            prepared = prepare_items(
                words, "none", CachedTeacher(load_teacher(teacher_name, "cpu"), teacher_cache_dir())
            )
            cheap = default_cheap(teacher_name)
            label = f"{kind.label} · {cheap}"
            grid = [(sel, p, seed) for seed in seeds for sel in selections for p in ps]
            grid += [("random", CEILING_P, int(seed)) for seed in args.ceiling_seeds.split(",") if seed.strip()]
            teacher_rows = []
            for sel, p, seed in grid:
                config = TrainConfig(teacher=teacher_name, model=kind, p=p, seed=seed, selection=sel, cheap=cheap)
                teacher_rows.append(score(config, prepared, runs, benchmarks, label))
                print(json.dumps({"teacher": teacher_name, **teacher_rows[-1]}), file=sys.stderr, flush=True)
            # The static table's best students at p = 0.1, random words: the table this teacher's students may read
            # (never one distilled from the teacher itself: that would copy its weights).
            table = next(m for m in cheap_choices(teacher_name) if m.startswith("static"))
            for static_kind in static_kinds:
                for seed in seeds:
                    config = TrainConfig(teacher=teacher_name, model=static_kind, p=0.1, seed=seed, cheap=table)
                    teacher_rows.append(score(config, prepared, runs, benchmarks, f"{static_kind.label} · {table}"))
                    print(json.dumps({"teacher": teacher_name, **teacher_rows[-1]}), file=sys.stderr, flush=True)
            frame = pl.DataFrame(teacher_rows).with_columns(pl.col("seed").cast(pl.Int64))
            summary = {
                "cheap": cheap,
                "bands": {m: quality_bands(frame, m).to_dicts() for m in METRICS},
                "paired": {m: paired_differences(frame, m).to_dicts() for m in METRICS},
                "ceiling": {m: ceiling(frame, m).to_dicts() for m in METRICS},
                "queries_for": {
                    "analogy_pct_of_teacher": queries_for(frame, "analogy_pct_of_teacher", args.target).to_dicts(),
                    "heldout_cosine": queries_for(frame, "heldout_cosine", args.target).to_dicts(),
                },
            }
            out["teachers"][prepared.teacher_id] = summary
            rows += [{"teacher": prepared.teacher_id, **r} for r in teacher_rows]
            report(prepared.teacher_id, summary, args.target)
    out["seconds"] = round(time.perf_counter() - started, 1)
    out["runs"] = len(rows)
    print(json.dumps(out, default=float))


def report(teacher: str, summary: dict, target: float) -> None:
    """The Markdown tables of one teacher (stderr)."""

    def say(line=""):
        print(line, file=sys.stderr, flush=True)

    cos = {(r["student"], r["selection"], r["p"]): r for r in summary["bands"]["heldout_cosine"]}
    ana = {(r["student"], r["selection"], r["p"]): r for r in summary["bands"]["analogy_pct_of_teacher"]}
    diff = {(r["student"], r["selection"], r["p"]): r for r in summary["paired"]["heldout_cosine"]}
    diff_a = {(r["student"], r["selection"], r["p"]): r for r in summary["paired"]["analogy_pct_of_teacher"]}
    say(f"\n### {teacher} (cheap model: {summary['cheap']})\n")
    say(
        "| student | selection | p | queries | held-out cosine | analogies % of teacher | Δ cosine vs random | Δ analogies vs random |"
    )
    say("|---|---|---|---|---|---|---|---|")
    for key, r in cos.items():
        a, d, da = ana.get(key, {}), diff.get(key), diff_a.get(key)

        def delta(x, pattern):
            if x is None:
                return "(reference)" if key[1] == "random" else "—"
            mark = " *" if x["distinguishable"] else ""
            return pm(x["mean"], x["half_width"], x["n"], "{:+" + pattern[2:]) + mark

        say(
            f"| {key[0]} | {key[1]} | {key[2]:g} | {r['queries']:,} | {pm(r['mean'], r['half_width'], r['n'])} | "
            f"{pm(a.get('mean'), a.get('half_width'), a.get('n'), '{:.1f}')} | {delta(d, '{:.3f}')} | {delta(da, '{:.1f}')} |"
        )
    say("\n`*`: the 95 % interval of the paired difference excludes 0.\n")
    for r in summary["ceiling"]["heldout_cosine"]:
        a = next((x for x in summary["ceiling"]["analogy_pct_of_teacher"] if x["student"] == r["student"]), {})
        say(
            f"Ceiling of {r['student']} ({r['queries']:,} answers, {r['n']} seeds): held-out cosine "
            f"{pm(r['mean'], r['half_width'], r['n'])}, analogies {pm(a.get('mean'), a.get('half_width'), a.get('n'), '{:.1f}')} % of teacher."
        )
    say(f"\nHow few queries for {target:g} % of the teacher:\n")
    say("| student | selection | metric | seeds reaching it | queries needed |")
    say("|---|---|---|---|---|")
    for metric, items in summary["queries_for"].items():
        for r in items:
            if not r["reached"]:
                needed = f"not within {r['largest']:,}"
            elif r.get("lower") is None:  # one seed got there: no interval (half_width is always None now)
                needed = f"{r['mean']:,.0f} (one seed)"
            else:  # the 95 % interval on log(answers): lower to upper, clipped to the budgets tried
                clip = ", clipped" if r.get("clipped") else ""
                needed = f"{r['mean']:,.0f} ({r['lower']:,.0f}–{r['upper']:,.0f}{clip})"
            if r["at_most"]:  # some seeds were there already at the smallest budget tried
                needed += f" ({r['at_most']} at most {r['smallest']:,})"
            say(f"| {r['student']} | {r['selection']} | {metric} | {r['reached']} of {r['seeds']} | {needed} |")


if __name__ == "__main__":
    main()
