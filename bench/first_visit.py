"""How long a first-time visitor waits, cold (empty caches) vs warm (second visit), in a real browser.

Starts the dashboard with an empty lab home, drives Debian's Chromium through the main path with
the real MiniLM teacher, and times each wait a person sees: the server's cold start, the teacher
embedding of the 10k words, the first loss point of Model B (p = 0.095), the first UMAP and a
cached UMAP. Then restarts the server on the same home and repeats the path (the reference: a
returning visitor). Prints one JSON line; `*_speedup` = cold / warm.

`--after-setup` (issue 19): first runs `python -m core warm` on the empty home, as `make run`'s first run
does, and times it; then "cold" is a fresh server after that setup (what a presenter's audience meets)
and "warm" a second server on the same home. Each visit also records when the sidebar said
"Everything is ready" (`warm_up_ready_s`, since the server started).

    .venv/bin/python bench/first_visit.py [--after-setup] [--home DIR]   (--home: an existing lab home, not an empty one)
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


STORY = [
    "1. What the teacher knows",
    "2. The paper's student learns its lessons by heart",
    "3. A student that reads a cheap model",
    "4. How few answers are enough",
    "5. What poison does",
]


def story_step(page, number: int) -> None:
    """A story step is shown when its header is there and its chart is drawn (Vega paints a canvas)."""
    page.get_by_role("heading", name=STORY[number - 1]).wait_for()
    page.locator('[data-testid="stVegaLiteChart"]').first.locator("canvas, svg").first.wait_for()


def visit(home: Path) -> dict:
    port = free_port()
    env = {**os.environ, "EMBEDDING_LAB_HOME": str(home)}
    t0 = time.perf_counter()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    timings = {}
    try:
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.1)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            page.set_default_timeout(300_000)
            page.goto(url)
            page.get_by_role("button", name="Play the story").wait_for()
            timings["cold_start_s"] = time.perf_counter() - t0

            # The presenter's path: the story, step by step (its runs were trained by the setup).
            t = time.perf_counter()
            page.get_by_role("button", name="Play the story").click()
            story_step(page, 1)
            timings["story_step_1_s"] = time.perf_counter() - t
            for number in range(2, 6):
                t = time.perf_counter()
                page.get_by_role("button", name="Next").click()
                story_step(page, number)
                timings[f"story_step_{number}_s"] = time.perf_counter() - t

            # Try it: both students trained live on the same split, shown side by side.
            page.locator('[data-testid="stSidebarNav"] a', has_text="Start").click()
            t = time.perf_counter()
            page.get_by_role("button", name="Train my first students").click()
            page.get_by_role("heading", name=STORY[2]).wait_for()
            timings["try_it_click_s"] = time.perf_counter() - t
            page.get_by_text("These are your own two students").wait_for(timeout=600_000)
            story_step(page, 3)
            timings["try_it_pair_trained_s"] = time.perf_counter() - t

            page.locator('[data-testid="stSidebarNav"] a', has_text="Data & teacher").click()
            page.get_by_role("button", name="Compute teacher embeddings").wait_for()
            t = time.perf_counter()
            page.get_by_role("button", name="Compute teacher embeddings").click()
            page.get_by_text(re.compile(r"Ready: [\d,]+ items")).wait_for()
            timings["teacher_embedding_s"] = time.perf_counter() - t

            page.locator('[data-testid="stSidebarNav"] a', has_text="Train").click()
            page.get_by_role("button", name="Train", exact=True).wait_for()
            page.get_by_text("Model B — table + two small layers").click()
            # The Train page may still show an earlier job's result (Try it's): wait for a NEW run's lines.
            before = set(page.get_by_text(re.compile(r"saved as run")).all_inner_texts())
            t = time.perf_counter()
            page.get_by_role("button", name="Train", exact=True).click()
            page.get_by_text(re.compile(r"Epoch [1-9]\d* of 20")).first.wait_for()
            timings["first_loss_point_s"] = time.perf_counter() - t
            while not set(page.get_by_text(re.compile(r"saved as run")).all_inner_texts()) - before:
                time.sleep(0.05)
            timings["training_20_epochs_s"] = time.perf_counter() - t

            for label in ("first_umap_s", "cached_umap_s"):
                t = time.perf_counter()
                page.locator('[data-testid="stSidebarNav"] a', has_text="Projection").click()
                page.get_by_text("Every dot is a word").wait_for()
                page.get_by_text("UMAP is computing").wait_for(state="detached")
                page.locator('[data-testid="stVegaLiteChart"]').first.locator("canvas, svg").first.wait_for()
                timings[label] = time.perf_counter() - t
                page.locator('[data-testid="stSidebarNav"] a', has_text="Runs").click()
                page.get_by_role("heading", name="Runs").first.wait_for()
            try:  # the server's background warm-up (pages/_waits.py): when did the sidebar say it was done?
                page.get_by_text("Everything is ready").wait_for(timeout=600_000)
                timings["warm_up_ready_s"] = time.perf_counter() - t0
            except Exception:  # noqa: BLE001 - an older server without the status line: not measured
                pass
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    return {k: round(v, 2) for k, v in timings.items()}


def main() -> None:
    args = sys.argv[1:]
    after_setup = "--after-setup" in args
    given = args[args.index("--home") + 1] if "--home" in args else None
    setup = {}
    with tempfile.TemporaryDirectory() as scratch:
        home = given or scratch
        if after_setup:
            t = time.perf_counter()
            lines = subprocess.run(
                [sys.executable, "-m", "core", "warm", "--json"],
                cwd=ROOT,
                env={**os.environ, "EMBEDDING_LAB_HOME": home},
                capture_output=True,
                text=True,
                check=False,
            ).stdout.splitlines()
            setup = {
                "core_warm_s": round(time.perf_counter() - t, 1),
                "steps": {d["step"]: d["seconds"] for d in map(json.loads, lines) if "step" in d},
            }
        cold = visit(Path(home))
        warm = visit(Path(home))
    out = {
        "benchmark": "first_visit_after_setup" if after_setup else "first_visit",
        **({"setup": setup} if setup else {}),
        "home": "given" if given else "empty",
        "path": "Start, the story's five steps, Try it (Model B + kernel adapter, MPNet teacher), Data (MiniLM), Train Model B p=0.095 20 epochs, Projection",
        "cold": cold,
        "warm": warm,
    }
    for key in ("cold_start_s", "story_step_1_s", "try_it_pair_trained_s", "teacher_embedding_s", "first_umap_s"):
        out[key[:-2] + "_speedup"] = round(cold[key] / max(warm[key], 1e-3), 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
