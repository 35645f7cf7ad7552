"""What every teacher is and says: the protocol, progress callbacks, cancellation and the one error a
teacher raises (shared by the local models in `core.teachers.teacher` and the API teacher in
`core.teachers.api`)."""

from __future__ import annotations

import threading  # noqa: F401  (the doctest below)
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

Progress = Callable[[int, int], None]  # (done, total)


class TeacherUnavailable(RuntimeError):
    """The teacher cannot be loaded; the message says what to do."""


@runtime_checkable
class Teacher(Protocol):
    id: str
    dim: int

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray: ...


class TeacherCancelled(TeacherUnavailable):
    """The person cancelled the job; every batch answered before is kept in the cache."""


Cancel = Callable[[], bool]


def cancel_check(cancel) -> Cancel:
    """A `threading.Event`, a function returning True once cancelled, or None (never) -> a function.

    >>> stop = threading.Event(); check = cancel_check(stop); stop.set(); check()
    True
    """
    if cancel is None:
        return lambda: False
    is_set = getattr(cancel, "is_set", None)
    return is_set if callable(is_set) else cancel
