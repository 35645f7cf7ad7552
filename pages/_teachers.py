"""The teacher models as the pages and the server's warm-up share them: one loaded copy of each per process,
and the paid API's settings (environment or Streamlit secrets)."""

from __future__ import annotations

import os

import streamlit as st

from core.paths import cache_dir
from core.teachers.teacher import CachedTeacher, load_teacher

API_SECRETS = {
    "base_url": "EMBEDDING_LAB_API_BASE",
    "key": "EMBEDDING_LAB_API_KEY",
    "model": "EMBEDDING_LAB_API_MODEL",
    "price_per_million": "EMBEDDING_LAB_API_PRICE",
    "budget_usd": "EMBEDDING_LAB_API_BUDGET",
}


def api_env() -> dict:
    """The environment plus Streamlit secrets' [api] table (base_url, key, model, price_per_million,
    budget_usd), secrets first. The key stays in memory: it is passed on, never stored."""
    env = dict(os.environ)
    try:
        table = dict(st.secrets.get("api", {}))
    except Exception:  # no secrets file, or an unreadable one: the environment alone
        table = {}
    env.update({API_SECRETS[k]: str(v) for k, v in table.items() if k in API_SECRETS})
    return env


@st.cache_resource(show_spinner="Loading the teacher model…")
def cached_teacher(name: str) -> CachedTeacher:
    if name.startswith("api:"):
        from core.teachers.api import load_api_teacher

        return CachedTeacher(load_api_teacher(name, env=api_env()), cache_dir() / "teachers")
    return CachedTeacher(load_teacher(name), cache_dir() / "teachers")
