"""The Watermark lab in a real browser (Debian's Chromium via Playwright, 1400 x 900, the instant fake teacher): a
link that names the setup and the grid opens the page, "Train the grid" trains it in the background, and the page
then shows the chart "Does the owner catch the imitator?" with its verdict, the honest user's cost, and one chart per
removal attack (the residual one and WARDEN's CSE) with what the attack costs the imitator — no exception, no chart
wider than the page. Screenshots (watermark_*.png) go to a temporary folder, or to docs/screenshots/ under
`make screenshots`."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.servers import serve
from tests.e2e.test_browser import ARGS, CHROMIUM, _chromium_or_skip

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.e2e, pytest.mark.slow]
WIDTH, HEIGHT = 1400, 900
# ridge students, p = 10 % and 30 %, 4 seeds, both watermarks, both removal attacks with 2 directions: 72 students
# (each p and seed: a control, a control put through each attack, each mark's suspect and it after each attack)
GRID = (
    "teacher=hash-32&vocab=default&lemma=none&watermark_kind=ridge&watermark_ps=0.1&watermark_ps=0.3"
    "&watermark_seeds=4&watermark_removal=2&watermark_attacks=residual&watermark_attacks=cse"
)


def _seed(home: Path) -> None:
    """The default words' fake-teacher vectors in the home's cache (what Data & teacher would compute)."""
    code = f"""
import os
os.environ["EMBEDDING_LAB_HOME"] = {str(home)!r}
from core.data.corpus import default_vocabulary
from core.paths import cache_dir
from core.runs.experiment import prepare_items
from core.teachers.teacher import CachedTeacher, HashTeacher
prepare_items(default_vocabulary().words + ["nonviolent", "antiaggressive"], "none",
              CachedTeacher(HashTeacher(32), cache_dir() / "teachers"))
"""
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=600)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    _chromium_or_skip()
    home = tmp_path_factory.mktemp("lab")
    _seed(home)
    # off: no background warm-up competing with the grid's training for the machine's two cores
    with serve(home, EMBEDDING_LAB_FAKE_TEACHER="1", EMBEDDING_LAB_WARM="off") as url:
        yield url


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}).new_page()
        page.set_default_timeout(120_000)
        yield page
        browser.close()


def _settled(page) -> None:
    """The app has stopped running (Streamlit's running indicator is gone) and shows no exception."""
    page.locator("[data-testid='stStatusWidget']").wait_for(state="detached", timeout=120_000)
    assert page.locator('[data-testid="stException"]').count() == 0


def test_the_watermark_page_trains_its_grid_and_shows_who_is_caught(server, page, shots):
    page.goto(f"{server}/watermark?{GRID}")
    page.get_by_role("heading", name="Watermark lab").wait_for()
    start = page.get_by_role("button", name="Train the grid (72 students)")
    start.wait_for()
    for label in ("Students per point (seeds)", "Shares of words the imitator asks about (p)", "Watermarks"):
        page.get_by_text(label, exact=True).wait_for()  # the form drawn, not its grey placeholders, in the picture
    page.get_by_text("Trigger words (EmbMarker)").first.wait_for()
    _settled(page)
    page.screenshot(path=str(shots / "watermark_untrained.png"))
    start.click()
    # Only against a hang: 56 ridge students on 10,002 words take well under a minute on an idle 2-core machine.
    page.get_by_text("Verdict:").first.wait_for(timeout=900_000)
    charts = page.locator('[data-testid="stVegaLiteChart"]')
    for i in range(3):  # the catch chart, then one after each removal attack
        charts.nth(i).locator("canvas, svg").first.wait_for()
    _settled(page)
    assert page.get_by_role("button", name="Train the grid (72 students)").count() == 0  # trained: the button is gone
    assert page.get_by_text("costs an honest user").count() == 2  # one sentence per watermark
    assert page.get_by_text("What the attack costs the imitator").count() == 2  # one per removal attack
    page.get_by_role("heading", name="After the imitator's removal attack: WARDEN's CSE").wait_for()
    assert page.get_by_text("Verdict:").count() == 3
    assert "watermark_removal=2" in page.url and "watermark_kind=ridge" in page.url  # the link reproduces the view

    # Nothing is cut at 1400 px: every chart fits inside the page's main column.
    main = page.locator("[data-testid='stMainBlockContainer']").bounding_box()
    for i in range(charts.count()):
        box = charts.nth(i).bounding_box()
        assert box["x"] >= main["x"] - 1 and box["x"] + box["width"] <= main["x"] + main["width"] + 1, (i, box, main)
        assert box["x"] + box["width"] <= WIDTH

    time.sleep(1.5)  # let the charts finish their layout (Vega animates it; no event says when it has settled)
    for i, name in ((0, "watermark_chart"), (2, "watermark_cse")):  # what a visitor sees at 1400 x 900
        # The chart in the middle of the window: its explanation above it, its verdict below it, in the picture.
        charts.nth(i).evaluate("e => e.scrollIntoView({block: 'center'})")
        time.sleep(0.5)
        page.screenshot(path=str(shots / f"{name}.png"))
    # The whole page at once: Streamlit scrolls inside its own frame, so the window is made as tall as the page.
    tall = page.evaluate(
        "() => (document.querySelector('[data-testid=\"stMain\"]') || document.scrollingElement).scrollHeight"
    )
    page.set_viewport_size({"width": WIDTH, "height": min(int(tall) + 100, 8000)})
    time.sleep(1.5)
    page.screenshot(path=str(shots / "watermark_page.png"))
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
