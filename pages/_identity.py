"""Who is here: the sign-in (Streamlit's st.login / st.user / st.logout against any OpenID Connect provider, when the
host says `login = true`), the person's lab id, whether they teach the class, their nickname, and their visit.

Signed in, a person is their provider's subject (`st.user.sub`, with its issuer): the same runs on any browser,
whatever their e-mail becomes. Without a sign-in on a host, a person is the token in their personal link (`?u=`);
a student who lost it asks the teacher, who gives it again from the class board (pages/class_board.py).

Light like pages/_frame.py (streamlit, the settings and core.classroom's light parts): app.py asks it who teaches
before the engine is imported, to draw the navigation.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass

import streamlit as st

from core.classroom.people import (
    clean_nickname,
    display_name,
    people_dir,
    read_person,
    record_visit,
    set_nickname,
    subject_owner,
)
from core.classroom.people import nicknames as read_nicknames
from core.classroom.settings import ClassroomSettings, load_classroom_settings
from core.runs.hosting import HostSettings, owner_id
from pages._frame import host_settings
from pages._plain import literal

VISIT_EVERY = 30.0  # seconds between two writes of a person's 'last seen'


@dataclass(frozen=True)
class SignedIn:
    owner: str
    subject: str
    issuer: str
    email: str
    name: str


@st.cache_resource(show_spinner=False)
def classroom_settings() -> ClassroomSettings:
    """The [classroom] table (core.classroom.settings): read once per server; a bad value is a sentence."""
    return load_classroom_settings()


def _claims() -> dict:
    try:
        return dict(st.user.to_dict()) if hasattr(st.user, "to_dict") else {k: st.user[k] for k in st.user}
    except Exception:  # st.user without an [auth] section or outside a session: nobody is signed in
        return {}


def signed_in() -> SignedIn | None:
    """The signed-in person (login = true and st.user.is_logged_in), else None."""
    if not host_settings().login:
        return None
    claims = _claims()
    if not claims.get("is_logged_in"):
        return None
    subject, issuer = str(claims.get("sub") or ""), str(claims.get("iss") or "")
    if not subject:
        return None
    name = str(claims.get("name") or claims.get("preferred_username") or claims.get("given_name") or "")
    return SignedIn(subject_owner(subject, issuer), subject, issuer, str(claims.get("email") or ""), name)


def link_token() -> str | None:
    """Hosted without a sign-in: the token of this person's link (the address's, else the session's)."""
    token = st.query_params.get("u") or st.session_state.get("owner_token")
    return token if token and token.isalnum() and 8 <= len(token) <= 64 else None


def lab_id() -> str | None:
    """This person's lab id (the `owner` of their runs): signed in, from their subject; on a host, from their link's
    token; None on a personal machine without a sign-in."""
    who = signed_in()
    if who is not None:
        return who.owner
    token = link_token() if host_settings().hosted else None
    return owner_id(None, token) if token else None


def is_teacher() -> bool:
    """Is this person named as a teacher of the class (lab.toml's [classroom] teachers)? Asked afresh on every run of
    the script, from the sign-in or the link: never from anything a widget can set."""
    try:
        settings = classroom_settings()
    except ValueError:
        return False
    if not settings.teachers:
        return False
    who = signed_in()
    if who is not None:
        return settings.is_teacher(email=who.email, subject=who.subject, owner=who.owner)
    if host_settings().login:
        return False  # sign-in asked for and nobody signed in
    owner = lab_id()
    return bool(owner) and settings.is_teacher(owner=owner)


# ---- the sign-in gate ---------------------------------------------------------------------------------------


def _auth_section() -> dict:
    try:
        return dict(st.secrets["auth"]) if "auth" in st.secrets else {}
    except Exception:  # no secrets file at all, or one that is not TOML: no sign-in configured
        return {}


def providers(auth: dict) -> list[str | None]:
    """[None] for one provider configured in [auth] itself, else the names of its [auth.<name>] tables."""
    if auth.get("client_id"):
        return [None]
    return sorted(name for name, value in auth.items() if isinstance(value, dict) and value.get("client_id"))


def auth_problem(auth: dict) -> str | None:
    """Why a sign-in cannot work here (one sentence), or None."""
    if importlib.util.find_spec("authlib") is None:
        return (
            "Sign-in is switched on (login = true) but Authlib is not installed on this server: `pip install Authlib`."
        )
    if not auth:
        return (
            "Sign-in is switched on (login = true) but no identity provider is configured: add an [auth] section to "
            ".streamlit/secrets.toml (the README shows one), or switch login off."
        )
    missing = [key for key in ("redirect_uri", "cookie_secret") if not auth.get(key)]
    if missing:
        return f"The [auth] section of .streamlit/secrets.toml lacks {' and '.join(missing)}."
    if not providers(auth):
        return "The [auth] section of .streamlit/secrets.toml names no provider (client_id, client_secret, server_metadata_url)."
    return None


def sign_in_gate(settings: HostSettings) -> None:
    """With login = true: the sign-in page until the person has signed in (then nothing), and st.stop() after it."""
    if not settings.login:
        return
    claims = _claims()
    if claims.get("is_logged_in"):
        if claims.get("sub"):
            return
        st.error("Your identity provider did not say who you are (no subject, 'sub'); ask the lab's host.")
        st.button("Sign out", on_click=st.logout, key="logout_nosub")
        st.stop()
    st.title("Embedding Distillation Lab")
    st.write("This classroom lab asks you to log in first, so that your runs stay yours.")
    auth = _auth_section()
    problem = auth_problem(auth)
    if problem:
        st.error(problem)
        st.stop()
    for provider in providers(auth):
        label = "Sign in" if provider is None else f"Sign in with {provider}"
        st.button(
            label,
            type="primary",
            key=f"login_{provider or 'default'}",
            icon=":material/login:",
            on_click=st.login,
            args=() if provider is None else (provider,),
        )
    st.stop()


# ---- the person in the sidebar, and their visit -------------------------------------------------------------


def note_visit(owner: str) -> None:
    """Hosted: write that this person is here (at most every 30 s per session): the class board's 'who is here now',
    and the nickname classmates see. A lab home that cannot be written costs nothing here."""
    ss = st.session_state
    if not host_settings().hosted or time.time() - ss.get("_visit_noted", 0.0) < VISIT_EVERY:
        return
    ss["_visit_noted"] = time.time()
    who = signed_in()
    try:
        if who is not None:
            record = record_visit(people_dir(), owner, name=who.name, email=who.email, subject=who.subject)
        else:
            record = record_visit(people_dir(), owner, token=link_token() or "")
    except (OSError, ValueError):
        return
    if nicknames().get(owner, "") != (display_name(record) or ""):
        nicknames.clear()  # a new person (or a new name): classmates see it now, not after the 15-s cache


def _save_nickname(owner: str) -> None:
    try:
        st.session_state["nickname_saved"] = set_nickname(people_dir(), owner, st.session_state["nickname_input"])
        nicknames.clear()
    except (OSError, ValueError) as err:
        st.session_state["nickname_error"] = str(err)


def identity_sidebar(owner: str) -> None:
    """Hosted (or signed in): who you are, your nickname, sign out."""
    settings = host_settings()
    who = signed_in()
    if not settings.hosted and who is None:
        return
    ss = st.session_state
    with st.sidebar:
        if who is not None:
            st.markdown("#### You")
            shown = who.name or who.email or "you"
            st.caption(literal(f"Signed in as {shown}" + (f" ({who.email})" if who.email and who.name else "")))
            st.button("Sign out", key="logout", icon=":material/logout:", on_click=st.logout)
        if settings.hosted:
            if "nickname_input" not in ss:
                record = read_person(people_dir(), owner) if owner else None
                ss["nickname_input"] = (record or {}).get("nickname") or (who.name if who else "")
            st.text_input(
                "Your nickname",
                key="nickname_input",
                max_chars=40,
                on_change=_save_nickname,
                args=(owner,),
                help="What your classmates see beside the runs you share, and your teacher on the class board.",
            )
            if ss.get("nickname_error"):
                st.caption(ss.pop("nickname_error"))
            st.caption(f"Your lab id: {owner}", help="A teacher names theirs in lab.toml ([classroom] teachers).")


@st.cache_data(ttl=15, show_spinner=False)
def nicknames() -> dict[str, str]:
    """lab id -> nickname of everyone who has one (read at most every 15 s per server)."""
    try:
        return read_nicknames(people_dir())
    except OSError:
        return {}


__all__ = ["clean_nickname", "identity_sidebar", "is_teacher", "lab_id", "note_visit", "sign_in_gate", "signed_in"]
