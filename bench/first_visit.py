"""How long a newcomer waits: from the end of `make setup` to the Start page, the warm-up, and a second start.

Default (issue 28, "first contact"), one JSON line:
- `fresh_start`: a server started as `make run` starts it (streamlit on app.py, right after the setup) on an empty
  lab home; seconds from its start until a real browser (Debian's Chromium) shows the Start page with the app's
  navigation (no exception on it). The server's own background warm-up has only just begun then.
- `warm_up`: `python -m core warm --json` on an empty home (what the server's background warm-up computes, step by
  step, as `make warm` runs it): each step's seconds and the total.
- `warmed_start`: a second server on that warmed home: Start page, and when its sidebar says "Everything is ready";
  plus `python -m core warm --json` once more on the home: each step's seconds (all sub-second: nothing computed
  again, except UMAP's compiling, which every new process pays). `*_ratio` compares with the first figures.
- `--busy N`: N processes spinning on the CPU for the whole run (a laptop that is not idle); killed at the end.
- `--home DIR`: an existing lab home to warm (or already warmed: then `warm_up` says how long the check took).

`--path` instead drives a presenter's path through the pages (the story, every door of every step — `doors`: seconds
from each click until its page is drawn, 'dead end' when it asks for data first —, Try it, Data, Train, Projection) on
a fresh server, cold then warm (`*_speedup` = cold / warm); `--after-setup` first runs `python -m core warm` on the
home, as `make warm` does (issue 19). `--doors --home DIR` times only the doors, on a fresh server on a warmed home
(issue 29).

    .venv/bin/python bench/first_visit.py [--busy 2] [--home DIR]
    .venv/bin/python bench/first_visit.py --home DIR --warmed-start-only [--busy 2]   (a home warmed before)
    .venv/bin/python bench/first_visit.py --path [--after-setup] [--home DIR]
    .venv/bin/python bench/first_visit.py --doors --home DIR                       (a home warmed before)
    .venv/bin/python bench/first_visit.py --try-it --home DIR                      (a home warmed before)

`--try-it --home DIR` times only Try it on a fresh server on a warmed home (issue 29): with the story's settings (the
stored pair, reused) and with a new seed (both students trained).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.e2e import servers  # noqa: E402  the one way to start a dashboard for a browser

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


def serving(home: Path):
    """A dashboard server as `make run` starts it, on lab home `home`: yields (its address, the perf_counter at its
    start) once its health check answers; stopped on leaving. The tests' own way (tests/e2e/servers.py), with a
    deadline of 10 minutes for a loaded machine."""
    return servers.serving(home, timeout=600.0)


def start_page(home: Path, wait_ready: bool, ready_timeout_s: float = 1800.0) -> dict:
    """Seconds from a server's start on `home` until a browser shows the Start page with the app's navigation; with
    `wait_ready`, also until its sidebar says the background warm-up is done (and when it showed each step begin)."""
    out: dict = {}
    with serving(home) as (url, t0), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(600_000)
        page.goto(url)
        page.locator('[data-testid="stSidebarNav"]').get_by_text("Start", exact=True).first.wait_for()
        page.locator("h1").first.wait_for()
        out["start_page_s"] = time.perf_counter() - t0
        out["error_shown"] = page.locator('[data-testid="stException"]').count() > 0
        if wait_ready:  # the sidebar's status line, read every half second: when each step began, when all ended
            sidebar, began = page.locator('[data-testid="stSidebar"]'), {}
            while time.perf_counter() - t0 < ready_timeout_s:
                text = " ".join(sidebar.inner_text().split())
                shown = re.search(r"Preparing: (.*?) \((\d+) of (\d+)", text)
                if shown:
                    began.setdefault(f"{shown[2]}/{shown[3]} {shown[1][:50]}", round(time.perf_counter() - t0, 1))
                if re.search("Everything is ready|Ready, except", text):
                    out["warm_up_ready_s"] = time.perf_counter() - t0
                    break
                time.sleep(0.5)
            out["warm_up_steps_began_s"] = began
        browser.close()
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in out.items()}


def warm_up(home: Path) -> dict:
    """`python -m core warm --json` on `home`: each step's seconds (and the failed ones), the total."""
    t = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "core", "warm", "--json"],
        cwd=ROOT,
        env={**os.environ, "EMBEDDING_LAB_HOME": str(home)},
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {
        "total_s": round(time.perf_counter() - t, 1),
        "steps_s": {d["step"]: d["seconds"] for d in lines if "step" in d},
        "failed": {d["step"]: d["error"] for d in lines if d.get("status") == "failed"},
    }


DOORS = '[class*="st-key-story_link"] button'  # the story's doors (pages/story.py's open_page keys)
DOOR_PAGES = {  # the pages a door may open, by title
    "Projection: teacher and student on one map": "projection",
    "Honest evaluation": "evaluate",
    "Analogies & similarity": "analogies",
    "Poisoning lab": "poisoning",
}


def door_shown(page) -> str:
    """The page a door opened, once its content is drawn (a map or chart drawn, else its first table; Projection's
    UMAP done): its name, or 'dead end' when it asks for data first, or the unexpected title."""
    page.locator("h1").first.wait_for()
    deadline = time.monotonic() + 600
    while (title := page.locator("h1").first.inner_text().strip()) not in DOOR_PAGES and time.monotonic() < deadline:
        time.sleep(0.05)
    which = DOOR_PAGES.get(title, title)
    main = page.locator('[data-testid="stMain"]')
    dead = main.get_by_text("First choose a vocabulary")
    if which in ("projection", "poisoning"):
        chart = main.locator('[data-testid="stVegaLiteChart"]').first.locator("canvas, svg").first
        chart.or_(dead).first.wait_for()
    elif which in ("evaluate", "analogies"):
        main.locator('[data-testid="stDataFrame"]').first.or_(dead).first.wait_for()
    if which == "projection":
        page.get_by_text("UMAP is computing").wait_for(state="detached")
    return "dead end" if dead.count() else which


def door_waits(page, url: str) -> dict:
    """Every door of every story step, one after another: seconds from the click until its page is drawn, keyed
    'step N: label -> page' ('dead end' when the page asks for data first)."""
    waits = {}
    for step in range(1, 6):
        door = 0
        while True:
            page.goto(f"{url}/story?step={step}")
            page.get_by_role("heading", name=STORY[step - 1]).wait_for()
            page.locator('[data-testid="stVegaLiteChart"]').first.locator("canvas, svg").first.wait_for()
            if door >= page.locator(DOORS).count():
                break
            button = page.locator(DOORS).nth(door)
            label = button.inner_text().strip()
            t = time.perf_counter()
            button.click()
            page.wait_for_url(lambda u: "/story" not in u)
            which = door_shown(page)
            waits[f"step {step}: {label} -> {which}"] = round(time.perf_counter() - t, 2)
            door += 1
    return waits


def try_it_waits(page, url: str, seed: int) -> dict:
    """Try it twice from the Start page (issue 29): with the story's own settings (its pair was stored by the setup:
    reused, shown at once, saying so; the bound is 2 s), then with `seed` (other words: both students trained, side
    by side; the bound is 10 s). Seconds from the click until step 3 shows the pair, and for the trained pair also
    until step 3 opens (the training then shows live)."""
    waits = {}
    page.goto(url)
    page.get_by_role("button", name="Train my first students").wait_for()
    t = time.perf_counter()
    page.get_by_role("button", name="Train my first students").click()
    page.get_by_text("The same pair was trained").wait_for()
    story_step(page, 3)
    waits["try_it_stored_pair_s"] = round(time.perf_counter() - t, 2)
    page.goto(url)
    seed_box = page.get_by_label("Seed (which words are drawn)")
    seed_box.fill(str(seed))
    seed_box.press("Enter")
    page.wait_for_timeout(500)  # the number box's rerun: not a measured wait
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for()
    t = time.perf_counter()
    page.get_by_role("button", name="Train my first students").click()
    page.get_by_role("heading", name=STORY[2]).wait_for()
    waits["try_it_click_s"] = round(time.perf_counter() - t, 2)
    page.get_by_text("These are your own two students").wait_for(timeout=900_000)
    story_step(page, 3)
    waits["try_it_pair_trained_s"] = round(time.perf_counter() - t, 2)
    waits["try_it_seed"] = seed
    return waits


def on_a_fresh_server(home: Path, walk) -> tuple[float, object]:
    """A fresh server on `home` (warmed before), Chromium at 1400x900 on its Start page, then `walk(page, url)`:
    (seconds from the server's start to the Start page, what `walk` returned)."""
    with serving(home) as (url, t0), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(600_000)
        page.goto(url)
        page.get_by_role("button", name="Play the story").wait_for()
        start = time.perf_counter() - t0
        found = walk(page, url)
        browser.close()
    return start, found


def try_it_only(home: Path) -> dict:
    """`--try-it`: the Start page on a fresh server, then Try it twice (`try_it_waits`)."""
    seed = int(time.time()) % 900_000 + 1_000  # words no earlier run drew
    start, waits = on_a_fresh_server(home, lambda page, url: try_it_waits(page, url, seed))
    return {"benchmark": "try_it", "start_page_s": round(start, 2), **waits}


def doors_only(home: Path) -> dict:
    """`--doors`: the Start page on a fresh server, then every door of the story (`door_waits`)."""
    start, waits = on_a_fresh_server(home, door_waits)
    return {"benchmark": "story_doors", "start_page_s": round(start, 2), "door_waits_s": waits}


def visit(home: Path) -> dict:
    """The presenter's path (`--path`), timed wait by wait."""
    timings = {}
    with serving(home) as (url, t0):
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

            # Every door of every step (issue 29): each opens its page on the story's run.
            timings["doors"] = door_waits(page, url)
            page.goto(url)
            page.get_by_role("button", name="Play the story").wait_for()

            # Try it: the stored pair reused, then both students trained live on another seed's words, side by side.
            timings.update(try_it_waits(page, url, seed=int(time.time()) % 900_000 + 1_000))

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
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in timings.items()}


def presenters_path(after_setup: bool, given: str | None) -> dict:
    setup = {}
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(given or scratch)
        if after_setup:
            warmed = warm_up(home)
            setup = {"core_warm_s": warmed["total_s"], "steps": warmed["steps_s"]}
        cold = visit(home)
        warm = visit(home)
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
    return out


def first_contact(given: str | None, warmed_only: bool = False) -> dict:
    if warmed_only:  # a home warmed before (--home): only the second start
        warmed, second = start_page(Path(given), wait_ready=True), warm_up(Path(given))
        return {"benchmark": "first_contact_warmed_start", "warmed_start": {**warmed, "warm_up_again": second}}
    with tempfile.TemporaryDirectory() as scratch:
        fresh = start_page(Path(scratch) / "fresh", wait_ready=False)
        home = Path(given) if given else Path(scratch) / "home"
        first = warm_up(home)
        warmed = start_page(home, wait_ready=True)
        second = warm_up(home)
    slowest = max(second["steps_s"].items(), key=lambda item: item[1], default=("", 0.0))
    return {
        "benchmark": "first_contact",
        "home": "given" if given else "empty",
        "fresh_start": fresh,  # setup end -> Start page (make run: the server starts right after the setup)
        "warm_up": first,  # what the server's background warm-up (or make warm) computes, step by step
        "warmed_start": {**warmed, "warm_up_again": second, "slowest_step": {slowest[0]: slowest[1]}},
        "warmed_start_page_ratio": round(warmed["start_page_s"] / max(fresh["start_page_s"], 1e-3), 2),
        "warm_up_again_ratio": round(second["total_s"] / max(first["total_s"], 1e-3), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=0, help="processes spinning on the CPU beside the run")
    parser.add_argument("--home", default=None, help="an existing lab home instead of an empty one")
    parser.add_argument("--path", action="store_true", help="the presenter's path through the pages instead")
    parser.add_argument("--after-setup", action="store_true", help="with --path: warm the home first")
    parser.add_argument("--warmed-start-only", action="store_true", help="with --home (warmed): only the second start")
    parser.add_argument("--doors", action="store_true", help="with --home (warmed): only the story's doors")
    parser.add_argument("--try-it", action="store_true", help="with --home (warmed): only Try it, stored and trained")
    args = parser.parse_args()
    if (args.warmed_start_only or args.doors or args.try_it) and not args.home:
        parser.error("--warmed-start-only, --doors and --try-it need --home (a warmed lab home)")
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(max(0, args.busy))]
    try:
        if args.doors:
            out = doors_only(Path(args.home))
        elif args.try_it:
            out = try_it_only(Path(args.home))
        elif args.path:
            out = presenters_path(args.after_setup, args.home)
        else:
            out = first_contact(args.home, args.warmed_start_only)
    finally:
        for burner in burners:  # by pid: only the processes started here
            burner.kill()
            burner.wait()
    out["busy_processes"] = len(burners)
    out["cpus"] = os.cpu_count()
    out["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
