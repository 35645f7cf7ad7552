"""The warm-up's runner: named steps, each run once from any number of threads (a visitor who needs a step another thread
is running waits on that computation, told its progress and about how long), in one low-priority background thread
at server start, with the one line the sidebar shows (`WarmUp.status`). What the steps compute: `core.warm.steps`."""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Step:
    name: str  # short and stable: 'mpnet-words'
    sentence: str  # what it computes, in plain words: 'MPNet vectors of 10,002 words'
    run: Callable[[Progress], None]  # idempotent: instant when its cache is complete
    # Seconds the step takes when nothing of it is cached, from this machine's measured rates
    # (`core.teachers.rates`); None: no estimate. What `WarmUp.seconds_left` says before the step has progressed.
    estimate: Callable[[], float | None] | None = None
    # Its work lives in the process that ran it, not on disk (UMAP's compiling: numba's disk cache does not keep
    # it): `python -m core warm` skips it unless named, since the server that needs it compiles it itself.
    in_process_only: bool = False


@dataclass
class StepState:
    name: str
    sentence: str
    status: str = "waiting"  # waiting | running | done | failed
    done: int = 0  # progress within the step (items), when it reports any
    total: int = 0
    seconds: float = 0.0
    error: str | None = None
    started: float | None = None  # time.monotonic() when it started running

    def as_dict(self) -> dict:
        return dict(self.__dict__)


# Earlier names of what a combined step now computes (pages, the job board and `core warm --steps` may use them):
# `WarmUp` answers for them with the step that does the work.
ALIASES = {
    "minilm-layers": "minilm-words",
    "mpnet-layers": "mpnet-words",
    "minilm-tokens": "minilm-sentences",
}


_background: list[weakref.ref[WarmUp]] = []  # runners with a background thread (`stop_all`)
_last_thread: threading.Thread | None = None  # the latest runner's background thread (`start_background`)


def stop_all(timeout: float = 120.0) -> list[str]:
    """`WarmUp.stop` on every runner started in the background in this process, waiting up to `timeout` seconds
    in all; the names of the steps still running after it (none, normally)."""
    deadline = time.monotonic() + timeout
    runners = [r for r in (ref() for ref in _background) if r is not None]
    for runner in runners:
        runner.stop()
    for runner in runners:
        runner.stop(max(0.0, deadline - time.monotonic()))
    return [s.name for r in runners if not r.stop() for s in r.states.values() if s.status == "running"]


def _in_words(seconds: float) -> str:
    """'a few seconds', 'about 40 s', 'about 3 min', 'about 1 h 20 min' (the job board's wording: `core.jobs.duration`)."""
    if seconds < 10:
        return "a few seconds"
    if seconds < 60:
        return f"about {int(round(seconds / 5.0) * 5)} s"
    minutes = int(round(seconds / 60.0))
    return f"about {minutes} min" if minutes < 60 else f"about {minutes // 60} h {minutes % 60:02d} min"


class _States(dict):
    """The steps' states by name; an earlier name (`ALIASES`) gives the state of the step that now does its work,
    while iterating gives each step once."""

    def __missing__(self, name: str) -> StepState:
        if ALIASES.get(name) in self:
            return self[ALIASES[name]]
        raise KeyError(name)

    def get(self, name, default=None):
        return self[name] if name in self or ALIASES.get(name) in self else default


@dataclass
class WarmUp:
    """Runs the steps once each, from any number of threads; `status()` says where it stands."""

    steps: list[Step]

    def __post_init__(self) -> None:
        self.states = _States({s.name: StepState(s.name, s.sentence) for s in self.steps})
        self._locks = {s.name: threading.Lock() for s in self.steps}
        self._by_name = {s.name: s for s in self.steps}
        self.started: float | None = None
        self.finished: float | None = None
        self._stopping = threading.Event()  # `stop`: the background thread starts no further step
        self._thread: threading.Thread | None = None

    def __contains__(self, name: str) -> bool:
        return name in self._by_name or ALIASES.get(name) in self._by_name

    def ensure(self, name: str, progress: Progress | None = None, poll: float = 0.25) -> StepState:
        """Step `name` done: at once when it is; run here when nobody runs it; when another thread runs it,
        wait for that computation (relaying its progress to `progress`) instead of computing it twice."""
        name = name if name in self._by_name else ALIASES.get(name, name)
        state, lock = self.states[name], self._locks[name]
        if state.status == "done":
            if progress and state.total:
                progress(state.total, state.total)
            return state
        while not lock.acquire(timeout=poll):
            if progress and state.total:
                progress(state.done, state.total)
        try:
            if state.status != "done":
                self._run(self._by_name[name], state, progress)
        finally:
            lock.release()
        return state

    def _run(self, step: Step, state: StepState, progress: Progress | None) -> None:
        def report(done: int, total: int) -> None:
            state.done, state.total = int(done), int(total)
            if progress:
                progress(done, total)

        state.status, state.error, state.done, state.total = "running", None, 0, 0
        state.started = time.monotonic()
        start = time.perf_counter()
        try:
            step.run(report)
            state.status = "done"
        except Exception as err:  # reported with a sentence; the other steps still run
            state.status = "failed"
            state.error = f"{type(err).__name__}: {err}"
        finally:
            state.seconds = time.perf_counter() - start

    def run_all(self) -> Iterator[StepState]:
        """Every step in order (one already running elsewhere is waited for); yields each when it ends."""
        self.started = self.started or time.time()
        for step in self.steps:
            if self._stopping.is_set():
                return
            if self.states[step.name].status in ("done", "failed"):
                yield self.states[step.name]
                continue
            yield self.ensure(step.name)
        self.finished = time.time()

    def start_background(self, low_priority: bool = True) -> threading.Thread:
        """`run_all` in one daemon thread; at the lowest CPU priority so a visitor's own work comes first."""

        global _last_thread
        before = _last_thread

        def work() -> None:
            if low_priority:
                try:  # Linux schedules threads as tasks: this lowers only this thread
                    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
                except (AttributeError, OSError):
                    pass
            # One background warm-up at a time in a process: a runner started while an earlier one still runs (its
            # Streamlit cache cleared; every AppTest) waits for it and then finds its steps done, instead of
            # compiling the same kernels beside it. Seven threads queued in numba's compiler at once ended a test
            # run on a busy machine with a segmentation fault inside LLVM.
            while before is not None and before.is_alive() and not self._stopping.is_set():
                before.join(0.5)
            for _ in self.run_all():
                pass

        thread = threading.Thread(target=work, name="lab-warm-up", daemon=True)
        self._thread = thread
        _last_thread = thread
        _background[:] = [r for r in _background if r() is not None] + [weakref.ref(self)]
        thread.start()
        return thread

    def stop(self, timeout: float | None = None) -> bool:
        """No further step starts in the background; wait up to `timeout` seconds (None: no wait) for the running
        one to end. True when no background thread is left. For whoever owns the runner and goes away (a test, a
        server shutting down): a daemon thread still inside numba or torch when the interpreter exits can abort the
        process ("terminate called without an active exception")."""
        self._stopping.set()
        if self._thread is not None and timeout is not None:
            self._thread.join(timeout)
        return self._thread is None or not self._thread.is_alive()

    @property
    def ready(self) -> bool:
        return all(s.status in ("done", "failed") for s in self.states.values())

    def status(self) -> str:
        """One line for the sidebar: 'Preparing: MPNet vectors of 10,002 words (2 of 7)…' or 'Everything is ready'."""
        states = list(self.states.values())
        failed = [s for s in states if s.status == "failed"]
        if self.ready:
            if failed:
                return f"Ready, except {len(failed)} step(s) that failed: " + "; ".join(
                    f"{s.sentence} ({s.error})" for s in failed
                )
            return "Everything is ready"
        running = [(i, s) for i, s in enumerate(states, 1) if s.status == "running"]
        position, current = (running or [(i, s) for i, s in enumerate(states, 1) if s.status == "waiting"])[0]
        share = f", {current.done / current.total:.0%}" if current.status == "running" and current.total else ""
        return f"Preparing: {current.sentence} ({position} of {len(states)}{share})…"

    def seconds_left(self, name: str) -> float | None:
        """About how long step `name` still needs: from its own progress while it runs (time per item so far),
        else from its estimate (this machine's measured rates); 0 when done; None when nothing tells."""
        state = self.states.get(name)
        if state is None:
            return None
        if state.status in ("done", "failed"):
            return 0.0
        if state.status == "running" and state.started is not None and state.total and 0 < state.done:
            elapsed = time.monotonic() - state.started
            if elapsed >= 2.0 or state.done >= state.total:  # the first items include loading the model
                return max(0.0, elapsed / state.done * (state.total - state.done))
        step = self._by_name[state.name]
        try:
            whole = step.estimate() if step.estimate else None
        except Exception:  # noqa: BLE001 - an estimate never breaks the sentence
            whole = None
        if whole is None:
            return None
        if state.status == "running" and state.started is not None:
            return max(0.0, whole - (time.monotonic() - state.started))
        return whole

    def waiting_for(self, name: str) -> str | None:
        """A sentence for a visitor whose click needs step `name` while it runs: None when it is done.

        'The lab is preparing MPNet vectors of 10,002 words in the background: 2,048 of 10,002, about 3 min left.
        Waiting for it rather than computing it twice…'"""
        state = self.states.get(name)
        if state is None or state.status in ("done", "failed"):
            return None
        done = f": {state.done:,} of {state.total:,}" if state.total else ""
        left = self.seconds_left(name)
        if left is not None:
            done += ("," if done else ":") + (f" {_in_words(left)} left" if left >= 1 else " finishing")
        return f"The lab is preparing {state.sentence} in the background{done}. Waiting for it rather than computing it twice…"

    def summary(self) -> list[dict]:
        return [s.as_dict() for s in self.states.values()]
