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


class ServerDidNotStart(RuntimeError):
    """The dashboard exited, or did not answer its health check before the deadline; the message ends with its log."""


def start_server(
    home: Path,
    *,
    port: int | None = None,
    env_vars: dict | None = None,
    args: tuple[str, ...] = (),
    log: Path | None = None,
    timeout: float = 60.0,
) -> tuple[subprocess.Popen, str, float]:
    """`streamlit run app.py` on 127.0.0.1:`port` (a free one by default) over lab home `home`, as `make run` starts
    it (headless, no usage statistics), with `env_vars` added to the environment (a None value removes one) and
    `args` added to the command; its output goes to `log` (default: home/server-<port>.log). Returns (the process,
    its address, the perf_counter at its start) once its health check answers; `ServerDidNotStart` (the server is
    stopped) when it exits first or `timeout` seconds pass: every wait here has a deadline."""
    port = port or free_port()
    env = {**os.environ, "EMBEDDING_LAB_HOME": str(home), **(env_vars or {})}
    env = {k: v for k, v in env.items() if v is not None}
    log = log or Path(home) / f"server-{port}.log"
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port)]
    command += ["--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    started = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen([*command, *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return proc, url, started
        except OSError:
            time.sleep(0.2)
    stop_server(proc)
    why = (
        f"exited ({proc.returncode})" if proc.returncode not in (None, -15) else f"did not answer within {timeout:g} s"
    )
    raise ServerDidNotStart(f"The dashboard {why}: " + Path(log).read_text(errors="replace")[-2000:])


def stop_server(proc: subprocess.Popen) -> None:
    """Stop it politely, then kill it: the warm-up's threads can keep a server alive past a polite stop."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@contextlib.contextmanager
def serving(home: Path, **options):
    """`start_server(home, **options)` as a context: yields (its address, the perf_counter at its start); stopped on
    leaving. What the benches use (bench/first_visit.py, bench/classroom_load.py)."""
    proc, url, started = start_server(home, **options)
    try:
        yield url, started
    finally:
        stop_server(proc)


@contextlib.contextmanager
def serve(home: Path, **env_vars: str):
    """What a browser test uses: yields the server's URL. `env_vars` are added to the environment
    (EMBEDDING_LAB_HOME is `home`); one whose value is None is removed from it. A server that does not start fails
    the test with its log."""
    import pytest

    try:
        proc, url, _ = start_server(home, env_vars=env_vars)
    except ServerDidNotStart as err:
        pytest.fail(str(err))
    try:
        yield url
    finally:
        stop_server(proc)
