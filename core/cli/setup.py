"""The commands that set a machine up: `install-models` (MPNet assembled, the static tables distilled) and `warm` (every
warm-up step that leaves its work on disk)."""

from __future__ import annotations

import json
import time

from core.context import Lab
from core.teachers.install import assemble_mpnet, check_install_place, mpnet_ready
from core.teachers.static import static_problem
from core.teachers.teacher import (
    STATIC_SOURCES,
    TeacherUnavailable,
    build_static_model,
)
from core.warm import ALIASES, WarmUp, default_steps


def cmd_install_models(args) -> int:
    check_install_place()  # a file in the way, a read-only folder: said before minutes of work, not after
    mpnet = assemble_mpnet()
    if not mpnet_ready(mpnet):
        raise TeacherUnavailable(f"all-mpnet-base-v2 at {mpnet} is incomplete; delete that folder and run this again.")
    print(mpnet)
    # The static cheap models, distilled once from the bundled encoders (a minute or two; skipped when whole: a
    # table cut short is built again), each checked before it is reported.
    for name in STATIC_SOURCES:
        folder = build_static_model(name=name)
        problem = static_problem(folder)
        if problem is not None:
            raise TeacherUnavailable(
                f"The static table at {folder} is not whole ({problem}); delete that folder and run this again."
            )
        print(folder)
    return 0


def cmd_warm(args) -> int:
    """Run every warm-up step (core.warm) that leaves its work on disk; each is instant when its cache is complete.
    Exit 1 when one failed."""
    steps = default_steps(Lab.from_environment())  # the command line is an edge: its own context
    wanted = [ALIASES.get(name.strip(), name.strip()) for name in (args.steps or "").split(",") if name.strip()]
    unknown = sorted(set(wanted) - {s.name for s in steps})
    if unknown:
        raise ValueError(
            f"Unknown warm-up step {', '.join(map(repr, unknown))[:200]}: choose from {', '.join(s.name for s in steps)}."
        )
    # A step whose work stays in its process (UMAP's compiling) would be paid here for nothing: the server does it.
    chosen = [s for s in steps if s.name in wanted] if wanted else [s for s in steps if not s.in_process_only]
    runner, start, failed = WarmUp(chosen), time.perf_counter(), 0
    for i, state in enumerate(runner.run_all(), 1):
        failed += state.status == "failed"
        if args.json:
            print(
                json.dumps(
                    {
                        "step": state.name,
                        "status": state.status,
                        "seconds": round(state.seconds, 2),
                        "error": state.error,
                    }
                ),
                flush=True,
            )
        else:
            print(
                f"{i:>2}/{len(runner.steps)}  {state.status:<6} {state.seconds:7.1f}s  {state.sentence}"
                + (f"  — {state.error}" if state.error else ""),
                flush=True,
            )
    total = time.perf_counter() - start
    if args.json:
        print(
            json.dumps({"warm": "done", "steps": len(runner.steps), "failed": failed, "seconds": round(total, 2)}),
            flush=True,
        )
    else:
        print(f"Warm-up {'done' if not failed else f'done with {failed} failed step(s)'} in {total:.1f} s.", flush=True)
    return 1 if failed else 0
