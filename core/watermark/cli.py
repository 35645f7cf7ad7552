"""`python -m core watermark`: the watermark grid from the command line (core/cli/parser.py registers it).

    python -m core watermark --teacher minilm --kinds ridge,B --ps 0.01,0.1,0.3,1 --seeds 5 --json
    python -m core watermark --teacher hash-32 --size 600 --kinds B --ps 1 --seeds 4 --removal 4 --attacks residual,cse

Prints one line per (student, p, watermark, strength): how many marked students the calibrated verifier caught and
how many clean students it flagged, then one verdict per student kind; with --json, one JSON line instead.
Light to import (argparse only): the engine is imported when the command runs.
"""

from __future__ import annotations

import argparse
import json
import sys


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def add_parser(commands) -> None:
    """The `watermark` subcommand's flags, on the CLI's subparsers."""
    sub = commands.add_parser(
        "watermark", help="can an API's owner prove a student learned from its answers? (watermarks, controls, removal)"
    )
    sub.add_argument("--teacher", default="minilm")
    sub.add_argument("--cheap", default="", help="the cheap model adapters read (default: the teacher's default)")
    sub.add_argument("--size", type=int, default=10_000, help="how many of the most common words")
    sub.add_argument("--kinds", type=_names, default=("ridge", "B"), help="student kinds, e.g. ridge,B")
    sub.add_argument("--ps", type=_floats, default=(0.01, 0.1, 0.3, 1.0), help="shares of words asked about")
    sub.add_argument("--watermarks", type=_names, default=("trigger", "region"))
    sub.add_argument("--strengths", type=_floats, default=(0.3,))
    sub.add_argument("--seeds", type=int, default=5)
    sub.add_argument("--epochs", type=int, default=20)
    sub.add_argument("--removal", type=int, default=0, help="directions the imitator projects out (0: no attack)")
    sub.add_argument(
        "--attacks",
        type=_names,
        default=("residual", "cse"),
        help="removal attacks when --removal > 0: residual (what the cheap model cannot explain), cse (WARDEN's)",
    )
    sub.add_argument("--level", type=float, default=0.01, help="the verifier's false-alarm level")
    sub.add_argument("--key", type=int, default=0, help="the owner's secret key (seed s uses key + s)")
    sub.add_argument("--device", default="cpu")
    sub.add_argument("--json", action="store_true", help="one JSON line")


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def cmd_watermark(args) -> int:
    from core.data.corpus import default_vocabulary  # lazy: wordfreq
    from core.watermark.grid import ROLES, GridSpec, run_grid  # lazy: loads torch, polars
    from core.watermark.load import load_materials  # lazy: loads torch
    from core.watermark.power import grid_verdict, summarize  # lazy: loads torch, polars

    spec = GridSpec(
        ps=args.ps,
        kinds=args.kinds,
        watermarks=args.watermarks,
        strengths=args.strengths,
        seeds=args.seeds,
        epochs=args.epochs,
        level=args.level,
        key=args.key,
        removal=args.removal,
        attacks=args.attacks,
    )
    words = default_vocabulary(args.size).words
    materials = load_materials(words, args.teacher, args.cheap, device=args.device, layers="kernel" in spec.kinds)
    if not args.json:
        _say(f"Training {spec.students} students on {len(words):,} words ({materials.teacher_id})…")
    result = run_grid(spec, materials, device=args.device)
    summary = summarize(result.rows, spec.level)
    roles = ("marked", *(ROLES[a] for a in spec.attacks)) if spec.removal else ("marked",)
    verdicts = {
        f"{kind}@{strength:g}" + ("" if role == "marked" else f"/{role}"): grid_verdict(summary, kind, strength, role)
        for kind in spec.kinds
        for strength in spec.strengths
        for role in roles
    }
    if args.json:
        print(
            json.dumps(
                {
                    "teacher": materials.teacher_id,
                    "words": len(words),
                    "seconds": round(result.seconds, 1),
                    "summary": summary.to_dicts(),
                    "costs": result.costs.to_dicts(),
                    "verdicts": verdicts,
                }
            )
        )
        return 0
    for r in summary.iter_rows(named=True):
        print(
            f"{r['kind']:>7} p={r['p']:<6g} {r['watermark']:<8} strength {r['strength']:g} {r['role']:<8} "
            f"caught {r['caught']}/{r['suspects']}  false alarms {r['false_alarms']}/{r['controls_tested']}  "
            f"plain test on controls {100 * r['raw_false_alarm_rate']:.0f} %"
        )
    for r in result.costs.iter_rows(named=True):
        print(
            f"cost to honest users ({r['watermark']}, {r['strength']:g}): mean cosine {r['mean_cosine']:.4f}, "
            f"neighbour overlap@10 {r['overlap_at_10']:.3f}"
        )
    for name, sentence in verdicts.items():
        print(f"{name}: {sentence}")
    return 0
