"""Warm-up: what the lab computes once, before anyone waits for it.

A list of named steps, each (name, a plain sentence, function(progress)). Every step is idempotent: it
checks its cache first (the SQLite index, a file's presence: no model is loaded for that) and is instant
when its work is done, so a warmed lab home runs the list in seconds. Each bundled model reads each list of
texts once (`core.teachers.one_pass`): one step fills every cache of that (model, texts).
The same steps run at server start, in one low-priority background thread whose status the sidebar shows
(`make run` serves at once), and from `python -m core warm` (`make warm`: everything ready before an
audience). A visitor who needs a step that is still running waits on that very computation (told which,
with its progress and about how long: `WarmUp.waiting_for`) instead of starting it a second time.

    runner = WarmUp(default_steps(Lab.from_environment()))   # the default steps, in the lab's context
    for state in runner.run_all():    # in order; a failing step is reported and the others still run
        print(state.name, state.status, state.seconds)
    runner.ensure("mpnet-words", progress=lambda done, total: ...)   # done now, or wait for / run it

To add a step, add one line to `default_steps` (or call `register(Step(...))` from another module).
Disk caches written here (under the lab home, `core.paths`): the teachers' SQLite caches
(`cache/teachers/<model>.sqlite`, `<model>-layers.sqlite`), the Adapter lab's token outputs
(`cache/text_features/*.npz`), the measured rates (`cache/rates.json`, see `core.teachers.rates`). The static
cheap model's table lives in the models folder (`core.paths.models_dir`, beside the assembled MPNet). The compiled
kernels live in numba's own cache; UMAP's compilation lives in the process (the server repeats it).

The parts: `runner` (Step, WarmUp: running, waiting, the status line) and `steps` (what each step computes, and the
default list); their public names are re-exported here.
"""

from __future__ import annotations

from core.warm import runner, steps
from core.warm.runner import ALIASES, Progress, Step, StepState, WarmUp, stop_all
from core.warm.steps import (
    CHUNK,
    MODEL_LABELS,
    UMAP_COMPILE_S,
    default_items,
    default_steps,
    default_texts,
    kernels_step,
    record_rate,
    register,
    run_stamp,
    static_step,
    step_for_words,
    story_pages_step,
    story_step,
    texts_step,
    umap_step,
    vectors_step,
    warm_story_pages,
    words_step,
    zero_answer_step,
)

__all__ = [
    "ALIASES",
    "CHUNK",
    "MODEL_LABELS",
    "Progress",
    "Step",
    "StepState",
    "UMAP_COMPILE_S",
    "WarmUp",
    "default_items",
    "default_steps",
    "default_texts",
    "kernels_step",
    "record_rate",
    "register",
    "run_stamp",
    "runner",
    "static_step",
    "step_for_words",
    "steps",
    "stop_all",
    "story_pages_step",
    "story_step",
    "texts_step",
    "umap_step",
    "vectors_step",
    "warm_story_pages",
    "words_step",
    "zero_answer_step",
]
