"""Waiting, made visible: the server's background warm-up (core/warm/) and its status in the sidebar,
and the helpers a page uses when a visitor's click needs a step that is still running (wait on that
computation with its progress, never compute it a second time).

$EMBEDDING_LAB_WARM chooses what the server warms at start: `all` (default), `light` (only compiling:
the training kernels and UMAP; the default when the fake teacher is on, as in the AppTests) or `off`.
"""

from __future__ import annotations

import os

import streamlit as st

from core import warm
from core.context import Lab
from core.jobs import JobState, duration
from pages._teachers import cached_teacher

LIGHT = ("kernels", "umap")


def warm_mode() -> str:
    mode = os.environ.get("EMBEDDING_LAB_WARM", "").strip().lower()
    if mode in ("all", "light", "off"):
        return mode
    return "light" if os.environ.get("EMBEDDING_LAB_FAKE_TEACHER") else "all"


def _load_model(name: str):
    return cached_teacher(name).teacher  # one copy of each model, shared with the pages


def _edge() -> Lab:
    """The server's context before its warm-up: the lab home's folders, and the pages' model loader."""
    return Lab.from_environment(load_model=_load_model)


@st.cache_resource(show_spinner=False)
def lab() -> Lab:
    """The server's context (`core.context.Lab`), made once at this edge and passed into the engine: its folders,
    its model loader (one copy of each model, shared by the pages and the warm-up) and its warm-up, which a visitor's
    job waits on instead of computing a step a second time (the job board: `pages._loaders.job_board`)."""
    return _edge().with_warmup(warm_up())


@st.cache_resource(show_spinner=False)
def warm_up() -> warm.WarmUp:
    """Once per server process: every warm-up step in one low-priority background thread."""
    # Imported here, in the main thread, because a module imported by two threads at once can be
    # seen half-initialised (pandas raised "partially initialized module" in a test).
    import pandas  # noqa: F401
    import scipy.sparse  # noqa: F401

    mode = warm_mode()
    if mode == "off":
        steps = []
    elif mode == "light":
        steps = [
            warm.Step("kernels", "the training kernels (compiled once)", warm.kernels_step),
            warm.Step("umap", "the map projection (UMAP compiles once)", warm.umap_step),
        ]
    else:
        # A step loads a model (one copy, shared with the pages) only when it has work: a warmed home loads none.
        steps = warm.default_steps(_edge())
    runner = warm.WarmUp(steps)
    if steps:
        runner.start_background()
    return runner


def status_line() -> str:
    return warm_up().status()


def sidebar_status() -> None:
    """The warm-up's one line under the sidebar's setup: refreshed every 2 s until everything is ready."""
    runner = warm_up()
    if not runner.steps:
        return

    @st.fragment(run_every=2.0 if not runner.ready else None)
    def line() -> None:
        text = runner.status()
        if runner.ready:
            st.caption(f":material/check_circle: {text}", help="Computed once for this machine: nobody waits for it.")
        else:
            st.caption(
                f":material/hourglass_top: {text}",
                help="The lab computes, once, what visitors would otherwise wait for. Everything works meanwhile; "
                "a click that needs a step still running waits for it and says so.",
            )

    with st.sidebar:
        line()


def share_step(name: str | None, progress=None, say=None) -> bool:
    """Before a page computes what warm-up step `name` computes: when that step is running, say so (`say`, e.g.
    `st.info`) and wait for it, relaying its progress; when it is pending, run it here (the background then
    finds it done). Returns whether the step is done (False: no such step, or it failed: compute as usual)."""
    runner = warm_up()
    if not name or name not in runner:
        return False
    message = runner.waiting_for(name)
    if message and runner.states[name].status == "running" and say:
        say(message)
    return runner.ensure(name, progress).status == "done"


def job_reason(snapshot, position: int = 0) -> str | None:
    """Why a job shows no progress yet, in words: its queue position, or what it computes first."""
    if position:
        return (
            "Waiting for a free trainer: next in the queue."
            if position == 1
            else f"Waiting for a free trainer: number {position} in the queue."
        )
    return snapshot.phase or None


def eta_caption(snapshot, done: bool) -> str | None:
    """'about 40 s left' during a job (from its measured epochs or the estimate), nothing once it is done."""
    if done:
        return None
    eta = snapshot.eta_seconds
    if eta is None:
        return None
    return f"{duration(eta)} left" if eta >= 1 else "finishing…"


def training_progress(job, board, label: str = "", plain: bool = False, together: bool = False):
    """One training's bar, worded the same way on every page (the Train page's live panel, the story's Try it):
    (share done 0-1, the bar's text, why nothing moves yet or None). From the job's typed snapshot
    (`core.jobs.TrainingSnapshot`, copied under its lock). `plain`: an audience's words ("learning its lessons, pass
    3 of 40") instead of a researcher's ("Epoch 3 of 40"); `label` names the student before its line; `together`: it
    waits with its pair (Try it), which then trains at once."""
    snap = job.snapshot()
    done, epochs = len(snap.records), max(1, snap.epochs)
    name = f"{label}: " if label else ""
    position = board.queue_position(job) if snap.state is JobState.QUEUED else 0
    if plain and position:
        reason = f"waiting for a free training slot on this host (place {position} in the queue)" + (
            "; both students then train at once" if together else ""
        )
    else:
        reason = job_reason(snap, position)
    if snap.done:
        if snap.state is JobState.FAILED:
            return 1.0, f"{name}failed — {snap.error}", None
        return 1.0, name + ("done" if snap.state is JobState.FINISHED else "stopped"), None
    left = snap.eta_seconds
    if left is None:
        time_left = "time left not known yet (the first of its kind here)" if plain else ""
    else:
        time_left = f"{duration(left)} left" if left >= 1 else "finishing…"
    if reason and plain:  # a phase before its passes (0) or after them (Try it's scoring: the bar stays full)
        return done / epochs, name + reason, reason
    if snap.epochs <= 1:  # solved in one step (an adapter): no passes to count
        estimate = snap.estimate_seconds
        elapsed = max(0.0, (estimate or 0.0) - (left or 0.0))
        share = min(0.95, elapsed / estimate) if estimate else 0.0
        return share, f"{name}learning the translation in one step" + (f" — {time_left}" if time_left else ""), reason
    if plain:
        return done / epochs, f"{name}learning its lessons, pass {done} of {epochs} — {time_left}", reason
    text = f"{name}Epoch {done} of {epochs}" + (f" · {time_left}" if time_left else "")
    if not done and snap.estimate_seconds is not None and not reason:
        text += f" (estimated from earlier runs: {duration(snap.estimate_seconds)} in all)"
    return done / epochs, text, reason


def grid_progress(job, board, what: str):
    """A grid of runs training in the background (a sweep: the Sweep page, Honest evaluation's grids, the Poisoning
    lab's), drawn the same way on every page: one bar, "{what}: 3 of 8 runs (1 reused from the store) — about 40 s
    left", and below it why nothing moves yet (its place in the queue, or what it computes first). Returns the
    snapshot it drew (`core.jobs.SweepSnapshot`, copied under the job's lock) for the page's own ending."""
    snap = job.snapshot()
    if not snap.done:
        eta = eta_caption(snap, False)
        st.progress(
            snap.share,
            text=f"{what}: {snap.done_runs} of {snap.total_runs} runs ({snap.reused} reused from the store)"
            + (f" — {eta}" if eta else ""),
        )
        reason = job_reason(snap, board.queue_position(job) if snap.state is JobState.QUEUED else 0)
        if reason:  # the queue, or the cheap model's features computed before the adapters' runs
            st.info(reason, icon=":material/hourglass_top:")
    return snap
