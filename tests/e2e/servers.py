"""One way to run the dashboard for a browser test: `streamlit run app.py` on a free local port over a
private lab home, waited for until it answers, stopped (then killed if its threads keep it alive); and where the
browser tests save their screenshots (`screenshots_dir`)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS_ENV = "LAB_SCREENSHOTS"  # `make screenshots` sets it to docs/screenshots


def screenshots_dir(fallback: Path) -> Path:
    """Where a browser test saves its screenshots: $LAB_SCREENSHOTS (relative to the repository) when a refresh of
    the documentation's pictures is asked for (`make screenshots`), else `fallback` (a test's temporary folder), so
    that a test run leaves the working tree as it found it."""
    asked = os.environ.get(SCREENSHOTS_ENV, "").strip()
    folder = (ROOT / asked) if asked else Path(fallback)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# The fake story's setup, as `make warm` does it before any visitor: the AppTests' fake teacher, the story on it.
STORY_ENV = {"EMBEDDING_LAB_FAKE_TEACHER": "1", "EMBEDDING_LAB_STORY_TEACHER": "hash-32", "EMBEDDING_LAB_WARM": "light"}


def warm_home(home: Path, steps: str, timeout: float, **env_vars: str) -> None:
    """`python -m core warm --steps <steps>` on `home` (a lab home), in a child process; fails the test with its output
    when it fails. `timeout`: seconds (the story's 12 runs on 10,002 words take minutes on a busy machine)."""
    warm = subprocess.run(
        [sys.executable, "-m", "core", "warm", "--steps", steps],
        cwd=ROOT,
        env={**os.environ, "EMBEDDING_LAB_HOME": str(home), **env_vars},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert warm.returncode == 0, warm.stdout + warm.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(home: Path, **env_vars: str):
    """Yields the server's URL. `env_vars` are added to the environment (EMBEDDING_LAB_HOME is `home`);
    one whose value is None is removed from it."""
    port = free_port()
    env = {**os.environ, "EMBEDDING_LAB_HOME": str(home), **env_vars}
    env = {k: v for k, v in env.items() if v is not None}
    log_path = home / f"server-{port}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(ROOT / "app.py"),
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.time() + 60
            while time.time() < deadline:
                try:
                    if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                        break
                except OSError:
                    time.sleep(0.3)
            else:
                pytest.fail("The Streamlit server did not answer within 60 s: " + log_path.read_text()[-2000:])
            yield url
        finally:
            proc.terminate()  # the warm-up's threads can keep it alive past a polite stop
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
