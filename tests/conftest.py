"""Shared fixtures: a deterministic fake teacher, a tiny corpus, and a private lab home; the hypothesis profiles; and
the end of every test's background work (job boards, the warm-up, Ray), so the process ends with pytest's status."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.teachers.teacher import HashTeacher  # noqa: E402

# Thirty-odd plain words, a few of which lemmatize together.
TINY_WORDS = (
    "the be was were is are fight fighting fought cat cats dog dogs run ran running house houses "
    "king queen man woman child children good better best water fire earth wind city town"
).split()


@pytest.fixture(autouse=True)
def lab_home(tmp_path, monkeypatch) -> Path:
    """Every test writes runs and caches into its own temporary folder."""
    home = tmp_path / "lab"
    monkeypatch.setenv("EMBEDDING_LAB_HOME", str(home))
    return home


@pytest.fixture
def fake_teacher() -> HashTeacher:
    return HashTeacher(dim=16)


@pytest.fixture
def tiny_words() -> list[str]:
    return list(TINY_WORDS)


# ---- hypothesis: how many examples ------------------------------------------------------------------------------
# "ci" (the default, `make test`): every property test draws 1,000 examples. "dev" (`make test-fast`, or
# HYPOTHESIS_PROFILE=dev): 50, for a quick look while working. The property tests name no example count of their own.
settings.register_profile("ci", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# ---- background work ends with the test that started it --------------------------------------------------------
# Trainings (core.jobs), the dashboard's warm-up (core.warm: numba compiling the kernels and UMAP) and Ray run in
# daemon threads. One still inside native code when the interpreter tears down makes the C++ runtime abort the
# process ("terminate called without an active exception"), exit 134 after a green run. So every test's job boards
# are stopped and joined when it ends, the warm-ups it started are told to stop, and the session waits for them.
JOIN_SECONDS = 300.0  # generous: a stopped training ends its epoch, a warm-up its step, on a busy 2-core machine


@pytest.fixture(autouse=True)
def _end_background_work():
    yield
    jobs, warm = sys.modules.get("core.jobs"), sys.modules.get("core.warm")  # nothing to end if never imported
    if warm is not None:
        warm.stop_all(0.0)  # no new step starts; the running one (a compile) is waited for at the end of the session
    if jobs is not None:
        left = jobs.close_all(JOIN_SECONDS)
        assert not left, f"job threads still running {JOIN_SECONDS:.0f} s after Stop: {left}"


def _other_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive())


def pytest_sessionfinish(session, exitstatus):
    """Every thread a test started has ended before the interpreter does (a thread that outlives this is named)."""
    running = _other_threads()
    if "core.warm" in sys.modules:
        sys.modules["core.warm"].stop_all(JOIN_SECONDS)
    if "core.jobs" in sys.modules:
        sys.modules["core.jobs"].close_all(JOIN_SECONDS)
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()
    left = _other_threads()
    if running:
        sys.stderr.write(f"\nended with the tests: {', '.join(sorted(set(running) - set(left))) or 'none'}\n")
    if left:
        sys.stderr.write(f"note: threads still running after the tests: {', '.join(left)}\n")
