"""The story in a real browser, as a presenter plays it: a server started after the setup's warm-up, Start →
Play the story → Next through the five steps → Back, a copied address in a new browser context, then
"Train my first students" (both students, live). Prints each wait (one JSON line); screenshots go to a temporary
folder, or to docs/screenshots/ under `make screenshots`.

The teachers are the instant fakes (EMBEDDING_LAB_STORY_TEACHER=hash-32, its adapter reads hash-16), so
the test measures the dashboard's own waits; bench/first_visit.py measures them with the real MPNet /
MiniLM pair (docs/BENCHMARKS.md)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.e2e.servers import STORY_ENV, serve, warm_home
from tests.e2e.test_browser import ARGS, CHROMIUM, _chromium_or_skip

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
STEP_TITLES = [
    "1. What the teacher knows",
    "2. The paper's student learns its lessons by heart",
    "3. A student that reads a cheap model",
    "4. How few answers are enough",
    "5. What poison does",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    _chromium_or_skip()
    home = tmp_path_factory.mktemp("lab")
    # The setup's part of `make run`: the story's runs trained once, before any visitor.
    warm_home(home, "kernels,story", 600, **STORY_ENV)
    with serve(home, **STORY_ENV) as url:
        yield url


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def _page(browser):
    page = browser.new_context(viewport={"width": 1400, "height": 1700}).new_page()
    page.set_default_timeout(120_000)
    return page


def _step_shown(page, number: int) -> None:
    """The step's header, its chart drawn (Vega paints a canvas), no Streamlit exception."""
    page.get_by_role("heading", name=STEP_TITLES[number - 1]).wait_for()
    page.locator('[data-testid="stVegaLiteChart"]').first.locator("canvas, svg").first.wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0


def _shot(page, shots: Path, name: str) -> None:
    """A picture of the page (only a picture: nothing is asserted after the pause)."""
    time.sleep(1.5)  # let the chart finish its layout: Vega animates it, and no event says when it has settled
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def test_the_story_plays_from_start_to_end(server, browser, shots):
    waits: dict[str, float] = {}
    page = _page(browser)
    t0 = time.perf_counter()
    page.goto(server)
    page.get_by_role("button", name="Play the story").wait_for()
    waits["start_page"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    page.get_by_role("button", name="Play the story").click()
    _step_shown(page, 1)
    waits["step_1"] = time.perf_counter() - t0
    _shot(page, shots, "story_1")
    for number in range(2, 6):
        t0 = time.perf_counter()
        page.get_by_role("button", name="Next").click()
        _step_shown(page, number)
        waits[f"step_{number}"] = time.perf_counter() - t0
        _shot(page, shots, f"story_{number}")
    assert page.get_by_role("button", name="Next").is_disabled()
    assert "step=5" in page.url

    # Step 3 names the paper's student's failure in one sentence, and shows the neighbour table.
    t0 = time.perf_counter()
    page.get_by_role("button", name="Back").click()
    _step_shown(page, 4)
    waits["back_to_4"] = time.perf_counter() - t0

    # A copied address opens the same step in a new browser context (another person, no session).
    other = _page(browser)
    t0 = time.perf_counter()
    other.goto(f"{server}/story?step=3")
    _step_shown(other, 3)
    waits["copied_address_step_3"] = time.perf_counter() - t0
    other.get_by_text("Model B is lost on them").wait_for()
    other.get_by_text("Closest words, side by side").wait_for()
    print(json.dumps({"story_waits_seconds": {k: round(v, 2) for k, v in waits.items()}}))


def test_try_it_shows_the_stored_pair_at_once_then_trains_a_new_pair_both_at_once(server, browser, shots):
    """Try it with the story's settings reuses the pair the setup trained (and says so); with another seed both
    students train at once, with their progress and time left, and no chart that is not theirs meanwhile."""
    page = _page(browser)
    page.goto(server)
    t0 = time.perf_counter()
    page.get_by_role("button", name="Train my first students").click()
    page.get_by_text("The same pair was trained when the lab was set up").wait_for()
    _step_shown(page, 3)
    reused = time.perf_counter() - t0
    assert "runs=" in page.url  # the pair is in the address: a link reproduces it
    _shot(page, shots, "story_3_try_it_reused")

    page.goto(server)
    seed = page.get_by_label("Seed (which words are drawn)")
    seed.fill("7")
    seed.press("Enter")
    page.get_by_role("button", name="Train my first students").click()
    t0 = time.perf_counter()
    page.get_by_role("heading", name=STEP_TITLES[2]).wait_for()
    clicked = time.perf_counter() - t0
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.get_by_text("Your two students are training now, both at once").wait_for(timeout=5_000)
        while_training = True
    except PlaywrightTimeout:  # both already trained (a quick machine): nothing to look at while they train
        while_training = False
    if while_training:
        assert page.locator('[data-testid="stVegaLiteChart"]').count() == 0  # no stored chart passing for theirs
    page.get_by_text("These are your own two students").wait_for(timeout=300_000)
    _step_shown(page, 3)
    trained = time.perf_counter() - t0
    assert "runs=" in page.url
    _shot(page, shots, "story_3_own_pair")
    print(
        json.dumps(
            {
                "try_it_seconds": {
                    "stored_pair_shown": round(reused, 2),
                    "to_step_3": round(clicked, 2),
                    "both_trained_and_shown": round(trained, 2),
                }
            }
        )
    )
