"""Sign-in end to end (issue 30): a hosted server with `login = true` and Streamlit's st.login against a real OpenID
Connect provider started here on 127.0.0.1 (oidc-provider-mock, requirements-dev.txt), in Chromium. Two students and a
teacher sign in through the provider's form; each finds their own runs (kept by their subject, never by their
browser); Ada signs out and in again and finds hers again; the teacher alone has the class board, whose CSV export
names both students by the names their provider gave; a student who types the board's address gets nothing.
Screenshots (signin_*.png, class_board.png) go to a temporary folder, or to docs/screenshots/ under `make screenshots`."""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import io
import json
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.servers import free_port, serve, stop_server
from tests.e2e.test_browser import ARGS, CHROMIUM, _chromium_or_skip

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
WAIT = 60_000
PEOPLE = {  # subject -> the claims the provider gives
    "ada-sub": {"email": "ada@school.test", "name": "Ada"},
    "bob-sub": {"email": "bob@school.test", "name": "Bob"},
    "teacher-sub": {"email": "teacher@school.test", "name": "Ms Turing"},
}


@pytest.fixture
def provider():
    """oidc-provider-mock on a free port of 127.0.0.1, with our three people's claims; its issuer URL."""
    if importlib.util.find_spec("oidc_provider_mock") is None:
        pytest.skip(
            "oidc-provider-mock is not installed (pip install -r requirements-dev.txt): no provider to sign in at"
        )
    if importlib.util.find_spec("authlib") is None:
        pytest.skip("Authlib is not installed (requirements.txt): Streamlit's st.login cannot work without it")
    _chromium_or_skip()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/.well-known/openid-configuration", timeout=2) as answer:
                    issuer = json.load(answer)["issuer"]
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("oidc-provider-mock did not answer within 60 s")
                time.sleep(0.2)
        for sub, claims in PEOPLE.items():
            request = urllib.request.Request(
                f"{base}/users/{sub}",
                data=json.dumps(claims).encode(),
                method="PUT",
                headers={"Content-Type": "application/json"},
            )
            urllib.request.urlopen(request, timeout=10).close()
        yield base, issuer
    finally:
        stop_server(proc)  # politely, then killed


def _seed(issuer: str) -> dict:
    """A private run each for Ada and Bob, and one Bob shares, owned by their subjects (as the lab will know them once
    signed in)."""
    from core.classroom.people import subject_owner
    from core.config import TrainConfig
    from core.paths import cache_dir, runs_dir
    from core.runs.experiment import TrainingRun, prepare_items
    from core.runs.store import rename_run, set_shared
    from core.teachers.teacher import CachedTeacher, HashTeacher
    from tests.conftest import TINY_WORDS

    prepared = prepare_items(list(TINY_WORDS), "none", CachedTeacher(HashTeacher(32), cache_dir() / "teachers"))
    ids = {}
    for sub, name in (("ada-sub", "Ada's student"), ("bob-sub", "Bob's student"), ("bob-sub", "Bob's gift")):
        owner = subject_owner(sub, issuer)
        run = TrainingRun(
            TrainConfig(teacher="hash-32", p=0.5, epochs=1), prepared, runs_dir(), device="cpu", extra={"owner": owner}
        )
        list(run)
        rename_run(runs_dir(), run.run_id, name)
        ids[name] = run.run_id
    set_shared(runs_dir(), ids["Bob's gift"], True)
    return ids


def _sign_in(page, url: str, sub: str) -> None:
    page.goto(url)
    page.get_by_role("button", name="Sign in").click(timeout=WAIT)
    page.locator("input[name='sub']").fill(sub, timeout=WAIT)  # the provider's own form
    page.get_by_role("button", name="Authorize", exact=True).click()
    page.locator("[data-testid='stSidebar']").get_by_text(f"Signed in as {PEOPLE[sub]['name']}").wait_for(timeout=WAIT)


def _sign_out(page, url: str) -> None:
    page.locator("[data-testid='stSidebar']").get_by_role("button", name="Sign out").click()
    ending = page.get_by_role("button", name="End session")  # the provider's end-session page, when it has one
    ending.or_(page.get_by_role("button", name="Sign in")).first.wait_for(timeout=WAIT)
    if ending.count():
        ending.click()
    page.goto(url)
    page.get_by_role("button", name="Sign in").wait_for(timeout=WAIT)


def _run_names(page, url: str) -> str:
    """The labels the Runs page's 'Open one run' picker offers."""
    page.goto(f"{url}/runs")
    picker = page.locator("[data-testid='stMultiSelect']").filter(has_text="Open one run").first
    picker.click(timeout=WAIT)
    options = page.locator("[role='option']")
    options.first.wait_for(timeout=WAIT)
    labels = "\n".join(options.all_inner_texts())
    page.keyboard.press("Escape")
    return labels


@contextlib.contextmanager
def serve_with_sign_in(lab_home: Path, provider_base: str):
    """A hosted lab with `login = true` against the provider at `provider_base`, the fake teacher, no warm-up, and
    teacher@school.test its teacher: yields the server's URL (tests/e2e/test_challenge_browser.py serves the same)."""
    secrets_file = lab_home.parent / "secrets.toml"
    secrets_file.parent.mkdir(parents=True, exist_ok=True)
    secrets_file.write_text(
        "[auth]\n"
        'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_urlsafe(32)}"\n'
        'client_id = "embedding-lab"\n'
        'client_secret = "not-a-secret"\n'
        f'server_metadata_url = "{provider_base}/.well-known/openid-configuration"\n'
    )
    lab_home.mkdir(parents=True, exist_ok=True)
    (lab_home / "lab.toml").write_text(
        '[host]\nhosted = true\nlogin = true\n[classroom]\nteachers = ["teacher@school.test"]\n'
    )
    env = {"EMBEDDING_LAB_FAKE_TEACHER": "1", "EMBEDDING_LAB_WARM": "off", "STREAMLIT_SECRETS_FILES": str(secrets_file)}
    with serve(lab_home, **env) as url:
        yield url


def test_two_students_and_a_teacher_sign_in_out_and_in_again(provider, lab_home, shots):
    from playwright.sync_api import sync_playwright

    base, issuer = provider
    ids = _seed(issuer)
    with serve_with_sign_in(lab_home, base) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pages = {}
        for sub in PEOPLE:  # each in their own browser: nothing shared but the provider's say-so
            context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
            pages[sub] = context.new_page()
        first = pages["ada-sub"]
        first.goto(url)
        first.get_by_text("log in first").wait_for(timeout=WAIT)
        first.screenshot(path=str(shots / "signin_page.png"))

        for sub, own, other in (("ada-sub", "Ada's student", "Bob's student"), ("bob-sub", "Bob's student", "Ada's")):
            page = pages[sub]
            _sign_in(page, url, sub)
            names = _run_names(page, url)
            assert own in names and other not in names, names  # their own run, by their subject; not the other's
            nav = page.locator("[data-testid='stSidebarNav']").inner_text()
            assert "Class board" not in nav
        pages["ada-sub"].screenshot(path=str(shots / "signin_student.png"))

        ada = pages["ada-sub"]  # signs out, and in again: the same runs, and Bob's shared one under his name
        _sign_out(ada, url)
        _sign_in(ada, url, "ada-sub")
        names = _run_names(ada, url)
        assert "Ada's student" in names and "Bob's student" not in names
        assert "“Bob's gift”" in names and "shared by Bob" in names, names

        bob = pages["bob-sub"]  # the board's address typed by a student: nothing of it
        bob.goto(f"{url}/class_board")
        bob.locator("[data-testid='stSidebar']").get_by_text("Signed in as Bob").wait_for(timeout=WAIT)
        assert not bob.get_by_role("heading", name="Class board").count()

        teacher = pages["teacher-sub"]
        _sign_in(teacher, url, "teacher-sub")
        teacher.locator("[data-testid='stSidebarNav']").get_by_text("Class board").click()
        teacher.get_by_role("heading", name="Each person's runs").wait_for(timeout=WAIT)
        with teacher.expect_download(timeout=WAIT) as download:
            teacher.get_by_role("button", name="Download the class's results (CSV)").click()
        rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8-sig"))))
        assert {row["run id"]: row["person"] for row in rows} == {
            ids["Ada's student"]: "Ada",
            ids["Bob's student"]: "Bob",
            ids["Bob's gift"]: "Bob",
        }
        teacher.get_by_role("heading", name="Class board").scroll_into_view_if_needed()
        teacher.screenshot(path=str(shots / "class_board.png"))
        teacher.get_by_role("heading", name="The gallery").scroll_into_view_if_needed()
        teacher.screenshot(path=str(shots / "class_board_gallery.png"))
        browser.close()
