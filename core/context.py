"""The lab's context: what the engine needs from whoever starts it, made once at the edge and passed in.

The engine does not reach for globals to learn where its folders are, how a model is loaded, or which warm-up
a visitor's job may wait on: the edge (the server's pages, the command line, a bench, a test) makes one `Lab`
and hands it to the job board (`core.jobs.JobBoard`), the warm-up's steps (`core.warm.default_steps`) and the
cheap-model features (`core.words.cheap.cheap_features`'s `load`).

    lab = Lab.from_environment()                        # the folders of $EMBEDDING_LAB_HOME, load_teacher
    runner = WarmUp(default_steps(lab))                 # its steps load models through lab.load_model
    board = JobBoard(lab.runs_root, lab=lab.with_warmup(runner))   # a job waits on the runner's steps

The server passes its own cached loader (one copy of each model for the pages and the warm-up); the command
line and the tests take `from_environment`'s, which keeps the last few models it loaded.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from core.paths import cache_dir, runs_dir, teacher_cache_dir
from core.teachers.teacher import Teacher, load_teacher

ModelLoader = Callable[[str], Teacher]


class StepLike(Protocol):
    status: str


class Warming(Protocol):
    """What the engine asks of a warm-up (`core.warm.WarmUp`): does it compute a step, who waits for it, and wait for
    (or run) that step. A protocol, so that the engine's lower parts need not import the warm-up."""

    def __contains__(self, name: str) -> bool: ...

    def waiting_for(self, name: str) -> str | None: ...

    def ensure(self, name: str, progress: Callable[[int, int], None] | None = None) -> StepLike: ...


@functools.lru_cache(maxsize=4)
def _loaded(name: str) -> Teacher:
    return load_teacher(name)


@dataclass(frozen=True)
class Lab:
    """Where the lab keeps its runs and caches, how it loads a model by name (`minilm`, `static`, `hash-64`…), and
    the warm-up computing what visitors would otherwise wait for (None: nothing is warming; a job computes what it
    needs itself)."""

    runs_root: Path
    teacher_cache: Path  # one SQLite cache per model (`core.teachers.cache`)
    cache: Path  # the lab's other caches (token outputs, projections, rates)
    load_model: ModelLoader
    warmup: Warming | None = None

    @classmethod
    def from_environment(cls, load_model: ModelLoader | None = None, runs_root: Path | None = None) -> Lab:
        """The folders of the lab home (`core.paths`: $EMBEDDING_LAB_HOME) and `load_model` (default: the bundled
        loader, `core.teachers.teacher.load_teacher`, keeping the last four models it loaded in this process)."""
        return cls(
            runs_root=Path(runs_root) if runs_root is not None else runs_dir(),
            teacher_cache=teacher_cache_dir(),
            cache=cache_dir(),
            load_model=load_model or _loaded,
        )

    def with_warmup(self, runner: Warming | None) -> Lab:
        """This context with `runner` as the warm-up jobs wait on (the server's background one)."""
        return replace(self, warmup=runner)
