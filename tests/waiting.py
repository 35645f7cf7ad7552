"""Waiting in tests without fixed sleeps: poll a condition until it holds or a generous deadline passes.

A test on a busy 2-core machine cannot assume that 0.3 s is enough for a thread to start, nor that anything ends
within a wall-clock bound; it waits for the very condition it then checks, and fails with what it saw.

    job = board.submit(config, data)
    eventually(lambda: job.state is JobState.RUNNING, what="the first job to start")
"""

from __future__ import annotations

import time
from collections.abc import Callable

DEADLINE_SECONDS = 120.0  # generous: under a load of 5-10 a thread can wait seconds for a core
POLL_SECONDS = 0.02


def wait_for(condition: Callable[[], object], timeout: float = DEADLINE_SECONDS, poll: float = POLL_SECONDS) -> bool:
    """True as soon as `condition()` is true; False when it still is not after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll)
    return bool(condition())


def eventually(condition: Callable[[], object], what: str = "the condition", timeout: float = DEADLINE_SECONDS) -> None:
    """Wait for `condition()`; fail the test with `what` when it does not hold within `timeout` seconds."""
    assert wait_for(condition, timeout), f"{what} did not happen within {timeout:.0f} s"
