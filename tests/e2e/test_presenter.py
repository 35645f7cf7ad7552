"""The presenter's hour in a real browser at 1400×900 (issue 29): on a fresh server started after `python -m core warm`
on its home, the story is played and every door of every step is opened — each must show its page with the story's
run, never a dead end ("First choose a vocabulary…") — and presenter mode hides the sidebar and every setting, one
key switching it on and off. Each door's wait is printed (one JSON line), never asserted: a busy machine is slower,
not wrong (bench/first_visit.py --path measures the same waits with the real teachers).

The teachers are the instant fakes (EMBEDDING_LAB_STORY_TEACHER=hash-32, its adapter reads hash-16), as in
test_story.py. Screenshots only when $LAB_SCREENSHOTS is set (`make screenshots`)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from tests.e2e.servers import SCREENSHOTS_ENV, STORY_ENV, screenshots_dir, serve, warm_home
from tests.e2e.test_browser import ARGS, CHROMIUM, _chromium_or_skip

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.e2e, pytest.mark.slow]
VIEWPORT = {"width": 1400, "height": 900}
DOORS = '[class*="st-key-story_link"] button'  # the story's doors (pages/story.py's open_page keys)
TITLES = {  # each page a door can open, by its title
    "Projection: teacher and student on one map": "projection",
    "Honest evaluation": "evaluate",
    "Analogies & similarity": "analogies",
    "Poisoning lab": "poisoning",
}
DEAD_END = "First choose a vocabulary"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    _chromium_or_skip()
    home = tmp_path_factory.mktemp("lab")
    # The setup (`make warm`): the story's runs, then what the pages its doors open show for them (10,002 words, 12
    # runs and UMAP's compiling: minutes on a machine shared with other work).
    warm_home(home, "kernels,story,story-pages", 1800, **STORY_ENV)
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
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.set_default_timeout(120_000)
    return page


def _shot(page, name: str) -> None:
    """A picture of the view, only under `make screenshots` (nothing is asserted after the pause)."""
    if not os.environ.get(SCREENSHOTS_ENV, "").strip():
        return
    time.sleep(1.5)  # Vega animates its charts, and no event says when one has settled
    page.screenshot(path=str(screenshots_dir(ROOT / "docs" / "screenshots") / f"{name}.png"))


def _no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]'
    ).first.inner_text()


def _open_step(page, server: str, step: int) -> int:
    """The story at step `step`, drawn; how many doors it has."""
    page.goto(f"{server}/story?step={step}")
    page.get_by_role("heading", name=f"{step}.", exact=False).first.wait_for()
    page.locator('[data-testid="stVegaLiteChart"]').first.locator("canvas, svg").first.wait_for()
    # the step's run has ended (its doors, drawn below the chart, are all there): else a busy machine's count is short
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for(state="attached")
    _no_exception(page)
    return page.locator(DOORS).count()


def _door_page_shown(page) -> str:
    """The page a door opened, once its content is drawn: which page, after checking it is no dead end."""
    page.locator("h1").first.wait_for()
    deadline = time.monotonic() + 120
    while (text := page.locator("h1").first.inner_text().strip()) not in TITLES:
        assert time.monotonic() < deadline, f"a door opened {text!r}, not one of the story's pages"
        time.sleep(0.1)
    which = TITLES[text]
    main = page.locator('[data-testid="stMain"]')
    if which in ("projection", "poisoning"):  # a chart: the map, the poisoned run's losses
        main.locator('[data-testid="stVegaLiteChart"]').first.locator("canvas, svg").first.wait_for()
    else:  # a table of scores / of the arithmetic's answers
        main.locator('[data-testid="stDataFrame"]').first.wait_for()
    if which == "projection":
        page.get_by_text("UMAP is computing").wait_for(state="detached")
    assert page.get_by_text(DEAD_END).count() == 0, f"{which}: a dead end"
    _no_exception(page)
    return which


def _shows_run(page, run_id: str) -> None:
    """Waits until the page shows the run `run_id`: every run label ends with '#' and the id's last four characters,
    in the page's text or in a run picker (a selectbox keeps its choice in its input's value, not in its text)."""
    page.wait_for_function(
        """tag => [...document.querySelectorAll('[data-testid="stMain"] input')].some(i => i.value.includes(tag))
            || document.querySelector('[data-testid="stMain"]').innerText.includes(tag)""",
        arg=f"#{run_id[-4:]}",
    )


def test_every_door_of_every_step_opens_its_page_on_the_storys_run(server, browser):
    waits: dict[str, float] = {}
    page = _page(browser)
    page.goto(server)
    page.get_by_role("button", name="Play the story").wait_for()
    for step in range(1, 6):
        for door in range(_open_step(page, server, step)):
            if door:
                _open_step(page, server, step)
            button = page.locator(DOORS).nth(door)
            label = button.inner_text().strip()
            t0 = time.perf_counter()
            button.click()
            page.wait_for_url(lambda url: "/story" not in url)
            which = _door_page_shown(page)
            waits[f"step_{step}: {label} -> {which}"] = round(time.perf_counter() - t0, 2)
            run = parse_qs(urlparse(page.url).query).get("run", [""])[0]
            assert run, f"step {step}, {label!r}: the page's address names no run"
            _shows_run(page, run)
            _shot(page, f"door_step{step}_{which}")
    assert len(waits) == 6, waits  # steps 2 and 3 have two doors each, steps 4 and 5 one
    assert any(k.startswith("step_5") and k.endswith("poisoning") for k in waits), waits  # the former dead end
    print(json.dumps({"door_waits_seconds": waits}))


def test_presenter_mode_hides_the_sidebar_and_every_setting_and_one_key_toggles_it(server, browser):
    page = _page(browser)
    page.goto(f"{server}/projection")
    page.locator('[data-testid="stMain"] [data-testid="stVegaLiteChart"]').first.locator("canvas, svg").first.wait_for()
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert sidebar.is_visible() and page.get_by_label("Words to highlight (comma-separated)").is_visible()

    page.locator("h1").first.click()  # the key goes to the page, not to a text box
    page.keyboard.press("p")
    page.wait_for_url(lambda url: "presenter=1" in url)
    sidebar.wait_for(state="hidden")
    main = page.locator('[data-testid="stMain"]')
    main.locator('[data-testid="stVegaLiteChart"]').first.locator("canvas, svg").first.wait_for()
    _shot(page, "presenter_projection")
    for setting in ("stSelectbox", "stTextInput", "stNumberInput", "stRadio", "stExpander"):
        shown = [e for e in main.locator(f'[data-testid="{setting}"]').all() if e.is_visible()]
        assert not shown, f"presenter mode still shows a {setting}"
    for label in ("Royalty", "Capitals", "The paper's pair"):  # the presets
        assert not page.get_by_role("button", name=label).is_visible()
    _no_exception(page)

    page.goto(f"{server}/story?step=3&presenter=1")  # a link opens in the same mode
    page.get_by_role("heading", name="3.", exact=False).first.wait_for()
    sidebar.wait_for(state="hidden")  # the page streams in: its presenter style can land after the step's heading
    page.locator("h1").first.click()
    page.keyboard.press("p")  # and the same key brings everything back
    sidebar.wait_for(state="visible")
    page.wait_for_url(lambda url: "presenter=1" not in url)
