"""Presenter mode (settings and sidebar folded away; one key toggles it) and the personal link of a hosted lab."""

from __future__ import annotations

import contextlib
import re

import streamlit as st

from pages._frame import current_user_email, host_settings
from pages._identity import nicknames
from pages._keys import K

# ---- presenter mode and the personal link ------------------------------------------------------


def presenter() -> bool:
    """Presenter mode (`?presenter=1` or the sidebar toggle): the settings fold away, the charts stay."""
    return bool(st.session_state.get("presenter_mode"))


PRESENTER_KEY = "P"  # the one key that switches presenter mode on and off (a button's shortcut)
_PRESENTER_CSS = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"],
[data-testid="stSidebarCollapseButton"], [class*="st-key-presenter_hidden"] { display: none !important; }
</style>"""
_SWITCH_CSS = """<style>
.st-key-presenter_switch { position: fixed; top: 0.7rem; right: 8rem; z-index: 999991; width: auto; }
</style>"""
_SWITCH_HIDDEN_CSS = "<style>.st-key-presenter_switch { display: none !important; }</style>"


@contextlib.contextmanager
def _hidden_knobs(label: str):
    # In a keyed container the page's CSS hides (`_PRESENTER_CSS`): on screen nothing, in the page's tree the
    # folded settings, whose widgets keep their values (the charts below them do not change).
    name = "presenter_hidden_" + re.sub(r"[^A-Za-z0-9_]+", "_", label)
    with (
        st.container(key=name),
        st.expander(f"{label} (hidden for the audience)", expanded=False, icon=":material/tune:"),
    ):
        yield


def knobs(label: str = "Settings"):
    """The container of a page's settings: a bordered box normally; in presenter mode hidden from the screen (the
    widgets keep their values, so the charts below them do not change). One `knobs` per label on a page."""
    if presenter():
        return _hidden_knobs(label)
    return st.container(border=True)


def _switch_presenter() -> None:
    st.session_state["presenter_mode"] = not st.session_state.get("presenter_mode")


def presenter_switch() -> None:
    """Presenter mode's one key (`PRESENTER_KEY`) and, in presenter mode, its only visible control: the sidebar and
    every page's settings are hidden (`_PRESENTER_CSS`), and a small "Leave presenter mode" button sits at the top
    right. Outside presenter mode the button is not shown (the sidebar's toggle is), its key still works."""
    on = presenter()
    st.html(_SWITCH_CSS + (_PRESENTER_CSS if on else _SWITCH_HIDDEN_CSS))
    with st.container(key="presenter_switch"):
        st.button(
            "Leave presenter mode" if on else "Presenter mode",
            key="presenter_key",
            shortcut=PRESENTER_KEY,
            on_click=_switch_presenter,
            type="tertiary",
            icon=":material/co_present:",
            help=f"Press {PRESENTER_KEY} to switch presenter mode on or off.",
        )


def run_origin(row: dict) -> str:
    """Whose run it is, as every table and picker marks it: 'imported', 'the lab's example' (trained ahead by the lab,
    owned by nobody), 'shared by <nickname>' / 'shared by a classmate' (hosted, someone else's), or '' (this
    person's own)."""
    if row.get("imported"):
        return "imported"
    if host_settings().hosted and row.get("owner", "") != st.session_state.get(K.OWNER):
        if not row.get("owner"):
            return "the lab's example"
        name = nicknames().get(row["owner"], "")
        return f"shared by {name}" if name else "shared by a classmate"
    return ""


def personal_link() -> str | None:
    """Hosted without a login: this person's address, `…?u=<token>`, which brings their runs back."""
    ss = st.session_state
    if not host_settings().hosted or current_user_email() or not ss.get("owner_token"):
        return None
    base = (st.context.url or "http://localhost:8501/").split("?")[0]
    if (
        base.count("/") == 2
    ):  # the bare server address (http://host:8501): the link reads better as http://host:8501/?u=…
        base += "/"
    return f"{base}?u={ss['owner_token']}"


def personal_link_notice() -> None:
    """Hosted: the person's link, prominently above the page until they say they have it (a first visit),
    and in the sidebar always."""
    ss = st.session_state
    link = personal_link()
    if link is None:
        return
    if ss.get("owner_token_fresh") and not ss.get("link_noted"):
        with st.container(border=True, key="personal_link_notice"):
            st.markdown(
                "**This is your personal link: bookmark it.** It is how this lab knows you — open it again "
                "(in any tab, tomorrow too) to find your runs. Keep it to yourself: anyone with it can see and change your runs."
            )
            st.code(link, language=None, wrap_lines=True)
            st.button(
                "I have bookmarked it",
                key="link_noted_button",
                icon=":material/bookmark_added:",
                on_click=lambda: ss.__setitem__("link_noted", True),
            )
    with st.sidebar:
        st.markdown(
            "#### Your personal link", help="Bookmark it: it brings back your runs (and your setup) in any tab."
        )
        st.code(link, language=None, wrap_lines=True)
