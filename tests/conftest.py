"""Shared fixtures: a deterministic fake teacher, a tiny corpus, and a private lab home."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.teacher import HashTeacher  # noqa: E402

# Thirty-odd plain words, a few of which lemmatize together.
TINY_WORDS = (
    "the be was were is are fight fighting fought cat cats dog dogs run ran running house houses "
    "king queen man woman child children good better best water fire earth wind city town"
).split()


@pytest.fixture(autouse=True)
def lab_home(tmp_path, monkeypatch) -> Path:
    """Every test writes runs and caches into its own temporary folder."""
    home = tmp_path / "lab"
    monkeypatch.setenv("EMBEDDING_LAB_HOME", str(home))
    return home


@pytest.fixture
def fake_teacher() -> HashTeacher:
    return HashTeacher(dim=16)


@pytest.fixture
def tiny_words() -> list[str]:
    return list(TINY_WORDS)
