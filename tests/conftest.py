"""Shared fixtures: a deterministic fake teacher, a tiny corpus, and a private lab home."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

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


# ---- leaving the test process ---------------------------------------------------------------------------------
# Some tests leave daemon threads behind on purpose (the dashboard's background warm-up compiling UMAP with numba,
# a training a test stopped waiting for). When the interpreter tears down while such a thread is inside native
# code, the C++ runtime can abort ("terminate called without an active exception") after every test has passed
# and the summary is printed, turning a green run into exit code 134. Nothing is left to clean up at that point,
# so the process leaves with pytest's own exit status, skipping the teardown of those threads.
_exit_status: int | None = None


def pytest_sessionfinish(session, exitstatus):
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    import os

    if _exit_status is not None and os.environ.get("EMBEDDING_LAB_TEST_HARD_EXIT", "1") == "1":
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status)
