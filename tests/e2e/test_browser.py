"""The dashboard in a real browser: Debian's Chromium driven by Playwright, on the real MiniLM.

Starts `streamlit run app.py` on a free local port with a private lab home, prepares the default
vocabulary, trains Model B at p = 0.095 while watching the live chart grow, then opens every
comparison page. Screenshots go to a temporary folder, or to docs/screenshots/ under `make screenshots`
(tests/e2e/servers.py's `screenshots_dir`).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from tests.e2e.servers import serve

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
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

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _chromium_or_skip() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing in CI: .ci/run must install Debian's chromium.")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); CI installs it.")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    _chromium_or_skip()
    # light: the server's background warm-up compiles the kernels and UMAP only; the full one (both teachers'
    # vectors, the story's runs: make run's setup) would compete with this path for the CI's two cores.
    with serve(tmp_path_factory.mktemp("lab"), EMBEDDING_LAB_WARM="light", EMBEDDING_LAB_FAKE_TEACHER=None) as url:
        yield url


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1900})
        page.set_default_timeout(120_000)
        page.goto(server)
        yield page
        browser.close()


def shot(page, shots: Path, name: str) -> None:
    """A picture of the page (only a picture: nothing is asserted after the pause)."""
    time.sleep(2.5)  # let charts finish their layout: Vega animates it, and no event says when it has settled
    page.screenshot(path=str(shots / f"{name}.png"))


def go(page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()


def chart_drawn(page) -> None:
    """Vega draws on a canvas, so chart titles are not page text: wait for a drawn chart."""
    page.locator('[data-testid="stVegaLiteChart"]').first.locator("canvas, svg").first.wait_for()


PROGRESS_TEXT = (
    """() => Array.from(document.querySelectorAll('[data-testid="stProgress"]')).map(e => e.innerText).join(' ')"""
)


def no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0


def test_whole_path(page, shots):
    page.get_by_text("How cheaply can an expensive AI model be imitated?").wait_for()
    page.get_by_role("button", name="Train my first student").wait_for()
    shot(page, shots, "01_start")

    go(page, "Data & teacher")
    page.get_by_text("Kept 10,002 words").wait_for()
    page.get_by_role("button", name="Compute teacher embeddings").click()
    # MiniLM embeds the 10,002 words here (nothing is warmed in this home): ~1 min quiet, and past the page's 120 s
    # default beside a loaded make test (two busy loops, load 6-8): a deadline against a hang, not a speed check.
    page.get_by_text(re.compile(r"Ready: 10,002 items × 384 numbers")).wait_for(timeout=900_000)
    no_exception(page)
    shot(page, shots, "02_data")

    go(page, "Train")
    epochs = page.get_by_role("spinbutton", name="Epochs (passes over the training words)")
    epochs.fill("200")
    epochs.press("Tab")
    page.get_by_role("button", name="Train", exact=True).click()
    seen = set()
    deadline = time.time() + 900  # only against a hang: a busy 2-core machine trains slowly
    while time.time() < deadline:
        # read in one step: the bar can go between a count() and a read (the training just finished)
        text = page.evaluate(PROGRESS_TEXT)
        if m := re.search(r"Epoch (\d+) of 200", text):
            seen.add(int(m.group(1)))
            if 10 <= int(m.group(1)) < 200 and "live" not in seen:
                page.get_by_text("Left: the training loss the student minimises").wait_for(timeout=10_000)
                chart_drawn(page)
                shot(page, shots, "03_train_live")
                seen.add("live")  # type: ignore[arg-type]
        if page.get_by_text("Training finished and saved as run").count():
            break
        time.sleep(0.25)
    numbers = sorted(s for s in seen if isinstance(s, int))
    assert page.get_by_text("Training finished and saved as run").count(), f"saw epochs {numbers}"
    assert len([n for n in numbers if 0 < n < 200]) >= 2, f"the live chart did not grow epoch by epoch: {numbers}"
    no_exception(page)
    shot(page, shots, "04_train_done")

    go(page, "Projection")
    page.get_by_text("Every dot is a word").wait_for()
    chart_drawn(page)
    page.get_by_text("Nearest neighbours").wait_for()
    no_exception(page)
    if os.environ.get("WAIT_FOR_UMAP"):  # for documentation screenshots: the UMAP view, not PCA
        page.get_by_text("UMAP is computing").wait_for(state="detached", timeout=240_000)
        page.get_by_text("Every dot is a word").wait_for()
    shot(page, shots, "05_projection")

    go(page, "Analogies & similarity")
    page.get_by_text("Word arithmetic").wait_for()
    page.get_by_text("queen").first.wait_for()
    page.get_by_text("A sample the student gets right").wait_for(timeout=240_000)
    no_exception(page)
    page.set_viewport_size({"width": 1400, "height": 3000})
    shot(page, shots, "06_analogies")
    page.set_viewport_size({"width": 1400, "height": 1900})

    go(page, "Distributions")
    page.get_by_text("Each vector is summarised").wait_for()
    chart_drawn(page)
    no_exception(page)
    shot(page, shots, "07_distributions")

    go(page, "Sweep (paper figures)")
    page.get_by_text("My own grid").click()
    page.get_by_text(re.compile(r"4 runs in this grid")).wait_for()
    page.get_by_role("button", name="Run the sweep").click()
    page.get_by_text(re.compile(r"4 runs in this grid: 4 already stored")).wait_for(timeout=240_000)
    page.get_by_text("Each cell is one run").wait_for()
    chart_drawn(page)
    no_exception(page)
    page.set_viewport_size({"width": 1400, "height": 4200})  # the whole page of figures
    shot(page, shots, "09_sweep")
    page.set_viewport_size({"width": 1400, "height": 1900})

    go(page, "Runs")
    page.get_by_text("Every training run saved on this machine").wait_for()
    # The run trained above is open (one run): take it away as a sentence-transformers model.
    page.get_by_role("button", name="Prepare the student (.zip)").click()
    page.get_by_role("button", name=re.compile(r"Download student-")).wait_for(timeout=120_000)
    no_exception(page)
    page.get_by_role("combobox").last.click()  # then compare it with another run
    page.get_by_role("option").first.click()
    page.keyboard.press("Escape")
    page.get_by_text("Held-out cosine of each run epoch by epoch").wait_for()
    chart_drawn(page)
    no_exception(page)
    shot(page, shots, "08_runs")

    go(page, "Honest evaluation")
    page.get_by_text("Quality per teacher query").wait_for()
    page.locator('[data-testid="stDataFrame"]').first.wait_for()  # a canvas grid: its text is not page text
    page.get_by_text("Each line is one kind of student").wait_for(timeout=240_000)  # every stored run scored
    no_exception(page)
    page.get_by_role("button", name=re.compile(r"Train the comparison")).click()
    # Five students x four p (the Model B runs of the sweep are reused); the adapters first embed
    # every word with the cheap model once.
    page.get_by_role("button", name=re.compile(r"Train the comparison")).wait_for(state="detached", timeout=900_000)
    page.get_by_text("Each line is one kind of student").wait_for()
    # Every run scored (a few seconds each, once): the app stops "running" and no progress is left.
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=600_000)
    page.get_by_text(re.compile(r"Scored \d+ of \d+ runs|Scoring the runs")).first.wait_for(
        state="detached", timeout=600_000
    )
    chart_drawn(page)
    no_exception(page)
    page.set_viewport_size({"width": 1400, "height": 2600})
    shot(page, shots, "10_evaluation")
    page.set_viewport_size({"width": 1400, "height": 1900})

    go(page, "Poisoning lab")
    page.get_by_text("1 · One poisoned run").wait_for()
    page.get_by_role(
        "button", name=re.compile(r"Train the comparison \(22 runs")
    ).click()  # ridge adapter, 5 poisons x 2 rates x 2 defences + clean
    page.get_by_role("button", name=re.compile(r"Train the comparison")).wait_for(state="detached", timeout=900_000)
    page.get_by_text("How good the student stays on words it never saw").wait_for()
    page.get_by_text("Each bar counts training answers").wait_for()  # a poisoned run now exists: its loss histogram
    chart_drawn(page)
    page.get_by_role("button", name=re.compile(r"Train the paper's grid for this test")).click()
    page.get_by_text(re.compile(r"Verdict:")).first.wait_for(timeout=900_000)
    page.get_by_text("If the training loss told the whole story").wait_for()
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=120_000)
    no_exception(page)
    page.set_viewport_size({"width": 1400, "height": 4400})
    shot(page, shots, "11_poisoning")
    page.set_viewport_size({"width": 1400, "height": 1900})

    go(page, "Adapter lab (sentences)")
    page.get_by_text("Adapter lab: sentences").first.wait_for()
    page.get_by_role("button", name="Embed the texts with both models").click()
    page.get_by_text(re.compile(r"Ready: 2,877 texts")).wait_for(
        timeout=1_200_000
    )  # MPNet embeds ~2,900 sentences once
    page.get_by_text("MLP on the sentence embedding").click()
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("Cosine to the teacher (unseen texts)").wait_for(timeout=300_000)
    no_exception(page)
    page.get_by_role("button", name=re.compile(r"Measure the teacher, the cheap model")).click()
    page.get_by_text("Each point is a way to get embeddings").wait_for(timeout=300_000)
    page.get_by_text("Teacher's top 5").wait_for()
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=120_000)
    chart_drawn(page)
    no_exception(page)
    page.set_viewport_size({"width": 1400, "height": 3600})
    shot(page, shots, "12_adapters")
    page.set_viewport_size({"width": 1400, "height": 1900})
