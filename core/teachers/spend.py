"""What a paid API teacher may spend: the tokens a list of texts costs (an estimate before sending, and the most any
tokenizer can honestly bill), and the spending record of a lab home (`SpendLedger`: dollars per API teacher, one JSON
file written atomically, a lock across threads and processes around each check-and-spend, a damaged record read as
"unknown", never as zero)."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from core.teachers.base import TeacherCancelled, TeacherUnavailable

CHARS_PER_TOKEN = 4
# A token covers at least one byte of UTF-8 (byte-level tokenizers), plus a few special tokens per text: a server's
# `usage.total_tokens` above this for a batch is not believed (a broken or lying server could spend the whole cap).
SPECIAL_TOKENS_PER_TEXT = 8
LEDGER_POLL_S = 0.05  # how often a job waiting for the spending record looks again


class BudgetExceeded(TeacherUnavailable):
    """The call would spend more than the cap allows; nothing was sent."""


def estimate_tokens(texts: Sequence[str]) -> int:
    return sum(max(1, math.ceil(len(t) / CHARS_PER_TOKEN)) for t in texts)


def most_tokens(texts: Sequence[str]) -> int:
    """The most tokens any tokenizer can honestly bill for `texts`: one per UTF-8 byte, plus special tokens.

    >>> most_tokens(["héllo"])
    14
    """
    return sum(len(t.encode("utf-8", "surrogatepass")) + SPECIAL_TOKENS_PER_TEXT for t in texts)


class SpendLedger:
    """Dollars spent per API teacher id, in one JSON file beside the cache, written atomically. The cap
    applies to the total over every API model and endpoint of this lab home (a new model name is not a new
    budget). Threads and processes (the dashboard, a CLI run) take a file lock around check and spend."""

    _lock = threading.Lock()

    def __init__(self, path: Path):
        self.path = Path(path)

    def _read(self) -> dict:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text())
            if not isinstance(data, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
                for v in data.values()
            ):
                raise ValueError
            return {k: float(v) for k, v in data.items()}
        except (OSError, ValueError):
            # Not zero: a damaged ledger must not silently lift the cap. Deleting the file is a choice to make.
            raise BudgetExceeded(
                f"The spending record {self.path} is unreadable, so the lab cannot tell what was spent; "
                "nothing is sent until it is fixed or deleted (deleting it resets the count to $0)."
            ) from None

    def spent(self, teacher_id: str | None = None) -> float:
        """What one teacher has spent, or (None) everything spent from this lab home."""
        data = self._read()
        return sum(data.values()) if teacher_id is None else data.get(teacher_id, 0.0)

    def locked(self, until: float = math.inf, cancelled: Callable[[], bool] = lambda: False):
        """A lock held across threads and processes while a job is checked and paid for. A job that waits for it
        waits at most until `until` (a `time.monotonic()` value: its own deadline), then says that someone else
        is using the API (TeacherUnavailable); `cancelled()` ends the wait too (TeacherCancelled)."""
        import contextlib
        import fcntl

        def wait(take: Callable[[], bool]) -> None:
            while not take():
                if cancelled():
                    raise TeacherCancelled("Cancelled while waiting for another API job of this lab; nothing was sent.")
                if time.monotonic() >= until:
                    raise TeacherUnavailable(
                        "Someone else is using the API from this lab home (another job holds its spending record, "
                        f"{self.path.with_suffix('.lock').name}) past this job's deadline; nothing was sent: try "
                        "again when that job is done."
                    )
                time.sleep(LEDGER_POLL_S)

        def flock(handle) -> bool:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False

        @contextlib.contextmanager
        def hold():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            wait(lambda: self._lock.acquire(timeout=LEDGER_POLL_S))
            try:
                with open(self.path.with_suffix(".lock"), "a") as handle:
                    wait(lambda: flock(handle))
                    try:
                        yield
                    finally:
                        fcntl.flock(handle, fcntl.LOCK_UN)
            finally:
                self._lock.release()

        return hold()

    def add(self, teacher_id: str, dollars: float) -> None:
        """Record spending (call it while holding `locked()`)."""
        data = self._read()
        data[teacher_id] = data.get(teacher_id, 0.0) + dollars
        tmp = self.path.with_suffix(f".tmp-{os.getpid()}-{threading.get_ident()}")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.path)
