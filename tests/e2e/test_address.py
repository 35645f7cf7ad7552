"""The page address in a real browser (hosted server, the instant fake teacher): a copied address opens the
same view in a new browser context, a reload keeps the prepared data, and each person is told their link
and finds their runs (plus the marked gallery runs) again from it. Screenshots: docs/screenshots/."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.test_browser import ARGS, CHROMIUM, _chromium_or_skip, _free_port

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "screenshots"
pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ADA, BOB = "ada0token01", "bob0token02"


def _seed(home: Path) -> dict:
    """The default words' fake-teacher vectors in the cache, and runs of Ada (private) and Bob (one shared)."""
    code = f"""
import json, os
os.environ["EMBEDDING_LAB_HOME"] = {str(home)!r}
from core.config import TrainConfig
from core.corpus import default_vocabulary
from core.experiment import TrainingRun, prepare_items
from core.hosting import owner_id
from core.paths import cache_dir, runs_dir
from core.store import rename_run, set_shared
from core.teacher import CachedTeacher, HashTeacher
words = default_vocabulary().words + ["nonviolent", "antiaggressive"]
prepared = prepare_items(words, "none", CachedTeacher(HashTeacher(32), cache_dir() / "teachers"))
ids = {{}}
for name, token, model in (("ada", {ADA!r}, "B"), ("bob", {BOB!r}, "ridge"), ("bob_private", {BOB!r}, "B")):
    run = TrainingRun(TrainConfig(teacher="hash-32", model=model, p=0.1, epochs=2 if model == "B" else 1), prepared, runs_dir(),
                      device="cpu", extra={{"owner": owner_id(None, token)}})
    list(run)
    ids[name] = run.run_id
rename_run(runs_dir(), ids["ada"], "Ada's first student")
set_shared(runs_dir(), ids["bob"], True)
print(json.dumps(ids))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def hosted(tmp_path_factory):
    _chromium_or_skip()
    home = tmp_path_factory.mktemp("lab")
    ids = _seed(home)
    port = _free_port()
    env = {**os.environ, "EMBEDDING_LAB_HOME": str(home), "EMBEDDING_LAB_HOSTED": "1", "EMBEDDING_LAB_FAKE_TEACHER": "1"}
    log = open(home / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
                             "--server.address", "127.0.0.1"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("The server did not start: " + (home / "server.log").read_text()[-2000:])
    yield url, ids
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def _page(browser, url: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("[data-testid='stSidebar']", timeout=60_000)
    return context, page


def test_a_copied_address_opens_the_same_view_in_a_new_context(hosted, browser):
    url, ids = hosted
    context, page = _page(browser, f"{url}/projection?u={ADA}&run={ids['ada']}&words=king%2C+queen")
    page.get_by_text("of 8 neighbours shared").first.wait_for(timeout=60_000)
    copied = page.url
    assert f"run={ids['ada']}" in copied and "words=king" in copied
    context.close()
    other, again = _page(browser, copied)
    again.get_by_text("of 8 neighbours shared").first.wait_for(timeout=60_000)
    assert again.get_by_text("Ada's first student").first.is_visible()
    assert again.locator("input[aria-label*='Words to highlight']").input_value() == "king, queen"
    other.close()


def test_a_reload_keeps_the_prepared_data(hosted, browser):
    url, _ = hosted
    context, page = _page(browser, f"{url}/train?u={ADA}&teacher=hash-32&vocab=default&lemma=none")
    page.get_by_role("button", name="Train").first.wait_for(timeout=60_000)
    page.reload()
    page.get_by_role("button", name="Train").first.wait_for(timeout=60_000)
    sidebar = page.locator("[data-testid='stSidebar']").inner_text()
    assert "Teacher:" in sidebar and "No data prepared yet" not in sidebar
    context.close()


def test_each_person_sees_their_link_and_their_runs(hosted, browser):
    url, ids = hosted
    DOCS.mkdir(parents=True, exist_ok=True)
    fresh, first = _page(browser, url)  # a first visit: the link is told prominently
    first.get_by_text("This is your personal link").wait_for(timeout=60_000)
    assert "?u=" in first.url
    first.screenshot(path=str(DOCS / "hosted_link_notice.png"))
    fresh.close()
    for token, own, gallery in ((ADA, ids["ada"], ids["bob"]), (BOB, ids["bob"], None)):
        context, page = _page(browser, f"{url}/runs?u={token}")
        page.get_by_text("Your runs and the class gallery").wait_for(timeout=60_000)
        assert page.get_by_text("Your personal link").first.is_visible()
        grid = page.locator("[data-testid='stDataFrame']").first
        grid.wait_for(timeout=30_000)
        text = page.content()
        assert own in text
        if gallery:
            assert "shared by a classmate" in text and ids["bob_private"] not in text
            page.screenshot(path=str(DOCS / "runs_table.png"), full_page=True)
        # a new tab opened from the bookmarked link finds the same runs
        tab = context.new_page()
        tab.goto(f"{url}/runs?u={token}")
        tab.get_by_text("Your runs and the class gallery").wait_for(timeout=60_000)
        assert own in tab.content()
        context.close()
