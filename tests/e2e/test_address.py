"""The page address in a real browser (hosted server, the instant fake teacher): the very first request of a fresh
server straight to a page's address runs through app.py, a copied address opens the same view in a new browser
context, a reload keeps the prepared data, and each person is told their link and finds their runs (plus the
marked gallery runs) again from it. Screenshots (address_*.png, hosted_*.png, runs_*.png) go to a temporary folder, or
to docs/screenshots/ under `make screenshots`."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.servers import serve
from tests.e2e.test_browser import ARGS, CHROMIUM, _chromium_or_skip

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ADA, BOB = "ada0token01", "bob0token02"
WAIT = 60_000
ADA_RUN = re.compile("Ada's first student")  # the run picker's label of Ada's run


def _seed(home: Path) -> dict:
    """The default words' fake-teacher vectors in the cache, and runs of Ada (private) and Bob (one shared)."""
    code = f"""
import json, os
os.environ["EMBEDDING_LAB_HOME"] = {str(home)!r}
from core.config import TrainConfig
from core.data.corpus import default_vocabulary
from core.runs.experiment import TrainingRun, prepare_items
from core.runs.hosting import owner_id
from core.paths import cache_dir, runs_dir
from core.runs.store import rename_run, set_shared
from core.teachers.teacher import CachedTeacher, HashTeacher
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
    return json.loads(out.stdout.strip().splitlines()[-1])


def _serve(home: Path):
    """A fresh hosted server over `home` (nothing has been asked of it yet)."""
    return serve(home, EMBEDDING_LAB_HOSTED="1", EMBEDDING_LAB_FAKE_TEACHER="1")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    _chromium_or_skip()
    home = tmp_path_factory.mktemp("lab")
    return home, _seed(home)


@pytest.fixture(scope="module")
def hosted(seeded):
    home, ids = seeded
    with _serve(home) as url:
        yield url, ids


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def _page(browser, url: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    # the grid's 'Download as CSV' asks Chromium's file picker when it has one: a plain download instead
    context.add_init_script("delete window.showSaveFilePicker")
    page = context.new_page()
    page.goto(url)
    _through_app(page)
    return context, page


def _through_app(page) -> None:
    """Wait until the page ran through app.py: its navigation (section titles, not the page files) and its sidebar."""
    page.locator("[data-testid='stSidebarNav']").get_by_text("The story in five steps").wait_for(timeout=WAIT)
    page.locator("[data-testid='stSidebar']").get_by_text("Current setup").wait_for(timeout=WAIT)


def _run_picker(page, label: str = "Run to look at"):
    return page.get_by_role("combobox", name=label).first


@pytest.mark.parametrize(
    "address", ["/story?step=2", "/projection?u={ada}&run={run}&words=king%2C+queen"], ids=["story", "projection"]
)
def test_the_first_request_of_a_fresh_server_runs_through_app_py(seeded, browser, address, shots):
    """A fresh server treats pages/ as Streamlit's old page folder until app.py's st.navigation runs once: a first
    request straight to a page's address ran that page file alone (the raw file list in the sidebar, the narrow
    layout, no owner: the run picker fell back to a classmate's run) — for every visitor until someone opened /."""
    from playwright.sync_api import expect

    home, ids = seeded
    with _serve(home) as url:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.goto(url + address.format(ada=ADA, run=ids["ada"]))  # the server's very first request
        _through_app(page)
        nav = page.locator("[data-testid='stSidebarNav']")
        if "story" in address:
            page.get_by_text("The paper's student learns its lessons by heart").first.wait_for(timeout=WAIT)
            assert "step=2" in page.url
        else:
            expect(_run_picker(page)).to_have_value(ADA_RUN, timeout=WAIT)
            page.get_by_text("of 8 neighbours shared").first.wait_for(timeout=WAIT)
            assert f"run={ids['ada']}" in page.url
        # The page has settled (the app has stopped running): still the app's navigation, never the page files.
        page.locator("[data-testid='stStatusWidget']").wait_for(state="detached", timeout=WAIT)
        expect(nav.get_by_text("Compare with the teacher")).to_be_visible(timeout=WAIT)
        assert nav.get_by_text("waits", exact=True).count() == 0 and nav.get_by_text("shared", exact=True).count() == 0
        width = page.locator("[data-testid='stMainBlockContainer']").bounding_box()["width"]
        assert width > 900, (
            f"the narrow layout ({width:.0f} px): app.py's st.set_page_config(layout='wide') did not run"
        )
        page.screenshot(path=str(shots / f"address_first_request_{address[1:].split('?')[0]}.png"))
        context.close()


def test_a_copied_address_opens_the_same_view_in_a_new_context(hosted, browser, shots):
    from playwright.sync_api import expect

    url, ids = hosted
    context, page = _page(browser, f"{url}/projection?u={ADA}&run={ids['ada']}&words=king%2C+queen")
    expect(_run_picker(page)).to_have_value(ADA_RUN, timeout=WAIT)
    page.get_by_text("of 8 neighbours shared").first.wait_for(timeout=WAIT)
    copied = page.url
    assert f"run={ids['ada']}" in copied and "words=king" in copied
    context.close()
    other, again = _page(browser, copied)
    expect(_run_picker(again)).to_have_value(ADA_RUN, timeout=WAIT)
    again.get_by_text("of 8 neighbours shared").first.wait_for(timeout=WAIT)
    expect(again.locator("input[aria-label*='Words to highlight']")).to_have_value(
        "king, queen", timeout=WAIT
    )  # settled, not mid-draw
    assert f"run={ids['ada']}" in again.url
    again.screenshot(path=str(shots / "address_copied_projection.png"))
    other.close()


def test_a_reload_keeps_the_prepared_data(hosted, browser):
    url, _ = hosted
    context, page = _page(browser, f"{url}/train?u={ADA}&teacher=hash-32&vocab=default&lemma=none")
    page.get_by_role("button", name="Train").first.wait_for(timeout=WAIT)
    page.reload()
    _through_app(page)
    page.get_by_role("button", name="Train").first.wait_for(timeout=WAIT)
    sidebar = page.locator("[data-testid='stSidebar']").inner_text()
    assert "Teacher:" in sidebar and "No data prepared yet" not in sidebar
    assert "teacher=hash-32" in page.url and "lemma=none" in page.url
    context.close()


def _table_csv(page) -> list[dict]:
    """The Runs table's rows as its own 'Download as CSV' gives them (the grid draws on a canvas: no cell text in the DOM)."""
    grid = page.locator("[data-testid='stDataFrame']").first
    grid.wait_for(timeout=30_000)
    grid.hover()
    with page.expect_download(timeout=30_000) as download:
        page.locator("[data-testid='stElementToolbar']").get_by_role("button", name="Download as CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def _picker_labels(page) -> str:
    """The labels of the runs the 'Open one run' picker offers (its list, opened and closed again)."""
    picker = page.locator("[data-testid='stMultiSelect']").filter(has_text="Open one run").first
    picker.click()
    options = page.locator("[role='option']")
    options.first.wait_for(timeout=30_000)
    labels = "\n".join(options.all_inner_texts())
    page.keyboard.press("Escape")
    return labels


def test_each_person_sees_their_link_and_their_runs(hosted, browser, shots):
    url, ids = hosted
    fresh, first = _page(browser, url)  # a first visit: the link is told prominently
    first.get_by_text("This is your personal link").wait_for(timeout=WAIT)
    assert "?u=" in first.url
    notice = first.locator(".st-key-personal_link_notice code").filter(has_text="?u=").first
    notice.wait_for(timeout=WAIT)  # the code block draws its text a moment after the box
    token = first.url.split("u=")[1].split("&")[0]
    assert (
        notice.text_content().strip() == f"{url}/?u={token}"
    )  # the link to give: the lab's address and this person's u
    first.screenshot(path=str(shots / "hosted_link_notice.png"))
    fresh.close()
    for token, own, gallery in ((ADA, ids["ada"], ids["bob"]), (BOB, ids["bob"], None)):
        context, page = _page(browser, f"{url}/runs?u={token}")
        page.get_by_text("Your runs and the class gallery").wait_for(timeout=WAIT)
        assert page.get_by_text("Your personal link").first.is_visible()
        assert f"?u={token}" in page.locator("[data-testid='stSidebar'] code").first.text_content().replace("\n", "")
        rows = {row["run_id"]: row for row in _table_csv(page)}
        assert rows[own]["origin"] == "yours"  # the CSV keeps the column's own name; the grid heads it 'whose'
        labels = _picker_labels(page)
        assert f"#{own[-4:]}" in labels
        if gallery:
            assert rows[gallery]["origin"] == "shared by a classmate" and set(rows) == {own, gallery}
            assert "shared by a classmate" in labels and f"#{ids['bob_private'][-4:]}" not in labels
            page.screenshot(path=str(shots / "runs_table.png"), full_page=True)
        else:
            assert set(rows) == {ids["bob"], ids["bob_private"]}
        # a new tab opened from the bookmarked link finds the same runs
        tab = context.new_page()
        tab.goto(f"{url}/runs?u={token}")
        tab.get_by_text("Your runs and the class gallery").wait_for(timeout=WAIT)
        assert set(row["run_id"] for row in _table_csv(tab)) == set(rows)
        context.close()
