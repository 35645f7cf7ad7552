"""Watermarks against imitators, through the engine (issue 31): does the owner catch the imitator, how often does it
accuse a clean student, what does the mark cost honest users, and what do the imitator's removal attacks do?

Teacher all-MiniLM-L6-v2 on the default 10,000 words; adapters read the lab's default cheap model for it (the static
table distilled from MPNet, 256 dimensions: the issue's "static" student is an adapter over such a table; --cheap
mpnet is the issue's study, a ridge student from MPNet: several times slower per fit). For each student kind, p,
watermark and strength: the marked students the calibrated verifier catches (of `seeds`, each under its own key) and
the clean control students it flags (each judged by the other controls, under every key), each with a 95 %
Clopper–Pearson interval — the controls are the reference measured in the same run — beside the plain KS test
without controls; held-out cosine of marked, cleaned (the two removal attacks: 'removed' = residual directions,
'cse' = WARDEN's cluster-select-eliminate; each attack's suspects are judged against controls put through the same
attack) and control students; the honest user's cost. Prints ONE JSON line.

A ridge student asked about every word (p = 1) is the same student at every seed, so its controls cannot vary and no
verdict is possible there (the rows say calibrated = false). Model B students train in groups (as a sweep's runs).

    .venv/bin/python bench/watermark.py --quick      # ridge, p = 0.01 / 0.1 / 0.3, 5 seeds, both attacks
    .venv/bin/python bench/watermark.py              # the default grid: ridge and Model B, p = 0.01 / 0.1 / 0.3 / 1
    .venv/bin/python bench/watermark.py --full       # ridge, kernel, Model B, subword x 5 p x 3 strengths, 5 seeds
    .venv/bin/python bench/watermark.py [--kinds ridge,B] [--ps 0.01,0.1,1] [--seeds 5] [--attacks residual,cse]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl  # noqa: E402

from core.data.corpus import default_vocabulary  # noqa: E402
from core.watermark.grid import ROLES, GridResult, GridSpec, run_grid  # noqa: E402
from core.watermark.load import load_materials  # noqa: E402
from core.watermark.power import grid_verdict, summarize  # noqa: E402
from core.watermark.stored import save_grid  # noqa: E402

MODES = {
    "quick": {"kinds": "ridge", "ps": "0.01,0.1,0.3", "strengths": "0.3", "seeds": 5, "removal": 4},
    "default": {"kinds": "ridge,B", "ps": "0.01,0.1,0.3,1", "strengths": "0.3", "seeds": 5, "removal": 4},
    "full": {  # the grid: every student kind (the adapters read the static table) x p x strength, 5 seeds
        "kinds": "ridge,kernel,B,subword",
        "ps": "0.01,0.03,0.1,0.3,1",
        "strengths": "0.1,0.3,0.5",
        "seeds": 5,
        "removal": 4,
    },
}


def rounded(value, digits=4):
    return None if value is None else round(float(value), digits)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--teacher", default="minilm")
    parser.add_argument("--cheap", default="", help="what adapters read (default: the lab's, static-mpnet for MiniLM)")
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--kinds")
    parser.add_argument("--ps")
    parser.add_argument("--watermarks", default="trigger,region")
    parser.add_argument("--strengths")
    parser.add_argument("--seeds", type=int)
    parser.add_argument("--removal", type=int)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--attacks", default="residual,cse", help="removal attacks: residual, cse")
    parser.add_argument("--save", help="a folder to keep the grid's rows in (rows.parquet, costs.parquet)")
    args = parser.parse_args()
    mode = "quick" if args.quick else "full" if args.full else "default"
    chosen = {k: getattr(args, k) if getattr(args, k) is not None else v for k, v in MODES[mode].items()}
    spec = GridSpec(
        ps=tuple(float(p) for p in chosen["ps"].split(",")),
        kinds=tuple(chosen["kinds"].split(",")),
        watermarks=tuple(args.watermarks.split(",")),
        strengths=tuple(float(s) for s in chosen["strengths"].split(",")),
        seeds=int(chosen["seeds"]),
        epochs=args.epochs,
        removal=int(chosen["removal"]),
        attacks=tuple(args.attacks.split(",")),
    )
    start = time.perf_counter()
    words = default_vocabulary(args.size).words
    materials = load_materials(words, args.teacher, args.cheap, layers="kernel" in spec.kinds)
    load_seconds = time.perf_counter() - start
    started = time.perf_counter()

    finished = [0]  # students of the p already done

    def progress(done: int, total: int) -> None:  # on stderr: the JSON line stays alone on stdout
        seconds = time.perf_counter() - started
        print(f"{finished[0] + done} of {spec.students} students, {seconds:.0f} s", file=sys.stderr, flush=True)

    # One p at a time (each p's controls and suspects are judged among themselves, so the rows are the same), each
    # kept in --save as it ends: a run cut short keeps every finished p.
    parts = []
    for p in spec.ps:
        parts.append(run_grid(replace(spec, ps=(p,)), materials, progress=progress))
        finished[0] += replace(spec, ps=(p,)).students
        result = GridResult(
            pl.concat([part.rows for part in parts]), parts[0].costs, spec.level, sum(part.seconds for part in parts)
        )
        if args.save:
            save_grid(result, args.save)
    summary = summarize(result.rows, spec.level)
    rows = [
        {
            k: (rounded(v) if isinstance(v, float) else v)
            for k, v in r.items()
            if k not in ("false_alarm_low", "power_low")
        }
        for r in summary.iter_rows(named=True)
    ]
    print(
        json.dumps(
            {
                "benchmark": "watermark",
                "mode": mode,
                "teacher": materials.teacher_id,
                "cheap": args.cheap or "default",
                "words": len(materials.items),
                "level": spec.level,
                "seeds": spec.seeds,
                "epochs": spec.epochs,
                "removal_directions": spec.removal,
                "attacks": list(spec.attacks) if spec.removal else [],
                "students": spec.students,
                "load_seconds": round(load_seconds, 1),
                "grid_seconds": round(result.seconds, 1),
                "cpus": os.cpu_count(),
                "load_average": [round(v, 2) for v in os.getloadavg()],
                "costs": [
                    {k: rounded(v) if isinstance(v, float) else v for k, v in r.items()}
                    for r in result.costs.iter_rows(named=True)
                ],
                "verdicts": {
                    f"{kind}@{s:g}/{role}": grid_verdict(summary, kind, s, role)
                    for kind in spec.kinds
                    for s in spec.strengths
                    for role in (("marked", *(ROLES[a] for a in spec.attacks)) if spec.removal else ("marked",))
                },
                "rows": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
