"""The first request of a fresh server is always the app (issue 28): whatever address a first visitor opens (`/`,
`/story?step=3`, `/projection?run=…`), the browser shows app.py's navigation and the page asked for — never
Streamlit's list of the files in pages/ (which a fresh server used to show until the first st.navigation call),
never an error, never a "Page not found" dialog. Every address is opened first on a new server, several times.

A MutationObserver installed before the page loads records every navigation entry, exception and dialog the page
ever draws, so a list shown for a fraction of a second is caught as surely as one that stays."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.servers import serve
from tests.e2e.test_browser import ARGS, CHROMIUM, _chromium_or_skip

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.e2e, pytest.mark.slow]
WAIT = 120_000  # ms: a fresh server imports the whole stack before the first page draws (~10 s quiet, more when busy)
FRESH_STARTS = 2  # rounds: each opens each address first on its own new server
RUN_NAME = "First-request run"

APP_SECTIONS = ["Learn", "Experiment", "Compare with the teacher"]
APP_TITLES = [
    "Start",
    "The story in five steps",
    "Data & teacher",
    "Train",
    "Sweep (paper figures)",
    "Poisoning lab",
    "Adapter lab (sentences)",
    "Honest evaluation",
    "Distributions",
    "Projection",
    "Analogies & similarity",
    "Runs",
]
# What Streamlit's legacy folder mode would list: app.py and every file of pages/, by file name.
FILE_NAMES = sorted({"app"} | {p.stem.lstrip("_") for p in (ROOT / "pages").glob("*.py") if p.name != "__init__.py"})

# Everything the page ever draws in the sidebar navigation, every exception, every dialog, as it happens.
RECORDER = """
window.__drawn = {nav: [], exceptions: [], dialogs: []};
new MutationObserver(() => {
  const nav = document.querySelector("[data-testid='stSidebarNav']");
  if (nav) {
    for (const line of nav.innerText.split("\\n")) {
      const text = line.trim();
      if (text && !window.__drawn.nav.includes(text)) window.__drawn.nav.push(text);
    }
  }
  for (const e of document.querySelectorAll("[data-testid='stException']")) {
    if (!window.__drawn.exceptions.includes(e.innerText)) window.__drawn.exceptions.push(e.innerText);
  }
  for (const d of document.querySelectorAll("[role='dialog']")) {
    if (!window.__drawn.dialogs.includes(d.innerText)) window.__drawn.dialogs.push(d.innerText);
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


def _seed(home: Path) -> str:
    """The default words' fake-teacher vectors in the cache and one trained run (named RUN_NAME); its id."""
    code = f"""
import json, os
os.environ["EMBEDDING_LAB_HOME"] = {str(home)!r}
from core.config import TrainConfig
from core.data.corpus import default_vocabulary
from core.paths import cache_dir, runs_dir
from core.runs.experiment import TrainingRun, prepare_items
from core.runs.store import rename_run
from core.teachers.teacher import CachedTeacher, HashTeacher
words = default_vocabulary().words + ["nonviolent", "antiaggressive"]
prepared = prepare_items(words, "none", CachedTeacher(HashTeacher(32), cache_dir() / "teachers"))
run = TrainingRun(TrainConfig(teacher="hash-32", model="B", p=0.1, epochs=1), prepared, runs_dir(), device="cpu")
list(run)
rename_run(runs_dir(), run.run_id, {RUN_NAME!r})
print(json.dumps(run.run_id))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    _chromium_or_skip()
    home = tmp_path_factory.mktemp("seed")
    return home, _seed(home)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def _page_is_drawn(page, address: str) -> None:
    """Wait (with a deadline) until the page asked for has drawn its own content, not just the frame."""
    from playwright.sync_api import expect

    main = page.locator("[data-testid='stMain']")
    if address == "/":
        main.get_by_text("How cheaply can an expensive AI model be imitated?").wait_for(timeout=WAIT)
    elif address.startswith("/story"):
        main.get_by_text("Step 3 of 5").first.wait_for(timeout=WAIT)
    else:
        main.get_by_text("Projection: teacher and student on one map").wait_for(timeout=WAIT)
        expect(page.get_by_role("combobox", name="Run to look at").first).to_have_value(
            re.compile(RUN_NAME), timeout=WAIT
        )


@pytest.mark.parametrize("start", range(FRESH_STARTS), ids=lambda i: f"start{i + 1}")
@pytest.mark.parametrize(
    "address", ["/", "/story?step=3", "/projection?run={run}"], ids=["root", "story", "projection"]
)
def test_the_first_request_of_a_fresh_server_is_the_app(seeded, browser, tmp_path, address, start):
    from playwright.sync_api import expect

    seed_home, run_id = seeded
    home = tmp_path / "lab"
    shutil.copytree(seed_home, home)  # a private home per server, already holding the run
    address = address.format(run=run_id)
    with serve(home, EMBEDDING_LAB_FAKE_TEACHER="1", EMBEDDING_LAB_WARM="off") as url:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.add_init_script(RECORDER)
        page = context.new_page()
        page.goto(url + address)  # nothing has asked this server for anything before
        nav = page.locator("[data-testid='stSidebarNav']")
        expect(nav.get_by_text("The story in five steps")).to_be_visible(timeout=WAIT)
        _page_is_drawn(page, address)
        expect(nav.get_by_text("Compare with the teacher")).to_be_visible(timeout=WAIT)

        drawn, shown = page.evaluate("window.__drawn"), page.url
        page.screenshot(path=str(tmp_path / "first_request.png"))
        context.close()
    listed = [name for name in drawn["nav"] if name in FILE_NAMES]
    assert not listed, f"the raw pages/ file list was drawn: {listed} (every entry seen: {drawn['nav']})"
    titles = [text for text in drawn["nav"] if text in APP_TITLES or text in APP_SECTIONS]
    assert set(titles) == set(APP_TITLES) | set(APP_SECTIONS), drawn["nav"]
    assert not drawn["exceptions"], drawn["exceptions"]
    assert not drawn["dialogs"], drawn["dialogs"]  # e.g. "Page not found … Running the app's main page."
    if address != "/":
        path, query = address.split("?")
        assert path in shown and query in shown, shown  # the address asked for is the one shown
