"""What app.py needs before the engine is imported: the pages' files, the host's settings and who is logged
in, and the check that a page runs inside app.py's frame (page setup, session, navigation, sidebar).

Why a page checks: while no session of a fresh server has called st.navigation yet, Streamlit still treats
`pages/` as its legacy page folder (documented: "as soon as any session of your app executes the
st.navigation command, your app will ignore the pages/ directory"). In that window a request for a page's
address (/story?step=3) runs that page's file alone, without app.py: no page setup, no session, no
navigation. Each page therefore starts with `through_app()`, which then runs app.py itself (whose
st.navigation resolves the same address to this page and runs it inside the frame) and ends the bare run.
The legacy folder list is never drawn: `.streamlit/config.toml` hides Streamlit's own sidebar navigation
and app.py shows the app's navigation explicitly.

Light on purpose (streamlit and the hosting settings only): app.py draws the navigation from it before it
imports the engine, which takes seconds on a fresh server.
"""

from __future__ import annotations

import contextlib
import contextvars
import runpy
from pathlib import Path

import streamlit as st

from core.runs.hosting import HostSettings, load_host_settings

APP = Path(__file__).resolve().parents[1] / "app.py"

PAGES = {
    "start": "pages/start.py",
    "story": "pages/story.py",
    "data": "pages/data.py",
    "train": "pages/train.py",
    "distributions": "pages/distributions.py",
    "projection": "pages/projection.py",
    "analogies": "pages/analogies.py",
    "runs": "pages/runs.py",
    "sweep": "pages/sweep.py",
    "evaluate": "pages/evaluate.py",
    "poisoning": "pages/poisoning.py",
    "watermark": "pages/watermark.py",
    "adapters": "pages/adapters.py",
    "class_board": "pages/class_board.py",  # teachers only (app.py lists it for them alone; the page checks too)
    "leaderboard": "pages/leaderboard.py",  # a host's challenges
}

# True while app.py runs the current page (per script-run thread: every session runs its own).
_IN_FRAME: contextvars.ContextVar[bool] = contextvars.ContextVar("in_app_frame", default=False)


@st.cache_resource(show_spinner=False)
def host_settings() -> HostSettings:
    """The hosting settings (core.runs.hosting): read once per server; a bad value stops the app with a sentence."""
    return load_host_settings()


def current_user_email() -> str | None:
    """Who is signed in (login = true): their e-mail, else their provider's subject; None when nobody is (or the host
    asks for no sign-in). pages/_identity.py says who a person is in full."""
    if not host_settings().login:
        return None
    try:
        if not st.user.get("is_logged_in"):
            return None
        return str(st.user.get("email") or st.user.get("sub") or "") or None
    except (AttributeError, KeyError):  # no login configured
        return None


@contextlib.contextmanager
def frame():
    """app.py runs the chosen page inside this: the page's `through_app()` then knows it is framed."""
    token = _IN_FRAME.set(True)
    try:
        yield
    finally:
        _IN_FRAME.reset(token)


def through_app() -> None:
    """The first line of every page: run bare (a fresh server's first request for this page's address, see the
    module's docstring), run app.py instead, which runs this page inside its frame, and end the bare run."""
    if _IN_FRAME.get():
        return
    runpy.run_path(str(APP), run_name="__main__")
    st.stop()
