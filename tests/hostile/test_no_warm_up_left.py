"""A page test here leaves no background warm-up behind (tests/hostile/conftest.py turns it off, as tests/app's does):
a warm-up thread started by an AppTest ran the lab's whole warm-up at the lowest CPU priority, never finished beside two
busy loops, and aborted the interpreter at the end of an all-green `make test` ("terminate called without an active
exception")."""

from __future__ import annotations

import threading
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


def test_a_page_test_here_starts_no_background_warm_up():
    before = {t for t in threading.enumerate() if t.name == "lab-warm-up"}
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception
    started = {t for t in threading.enumerate() if t.name == "lab-warm-up" and t.is_alive()} - before
    assert not started, "a page test started the lab's warm-up in the test process"
