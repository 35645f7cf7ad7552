"""Helpers for the AppTests: run the app on a page with injected state, and check for errors."""

from __future__ import annotations

import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


def make_app(page: str | None = None, **state) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    if page:
        at.switch_page(f"pages/{page}.py").run()
    return at


def no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def wait_for(predicate, timeout=30.0):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def owned_run(owner: str, prepared, vocab, p: float = 0.5, epochs: int = 1) -> str:
    """A run trained by `owner` on the fake teacher ('' = the lab's own, as the warm-up trains them); its id."""
    from core.config import TrainConfig
    from core.paths import runs_dir
    from core.runs.experiment import TrainingRun

    run = TrainingRun(
        TrainConfig(teacher="hash-32", p=p, epochs=epochs, vocabulary=vocab.label),
        prepared,
        runs_dir(),
        device="cpu",
        extra={"owner": owner},
    )
    list(run)
    return run.run_id
