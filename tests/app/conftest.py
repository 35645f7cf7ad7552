"""AppTest fixtures: real engine objects (fake teacher) injected into a fresh app per test."""

from __future__ import annotations

import pytest
import streamlit as st

from core.config import TrainConfig
from core.data.corpus import Vocabulary
from core.paths import cache_dir, runs_dir
from core.runs.experiment import TrainingRun, prepare_items
from core.teachers.teacher import CachedTeacher, HashTeacher

WORDS = [
    "king",
    "queen",
    "man",
    "woman",
    "paris",
    "france",
    "poland",
    "warsaw",
    "berlin",
    "germany",
    "cat",
    "dog",
    "car",
    "happy",
    "sad",
    "buy",
    "purchase",
    "cold",
    "hot",
    "nonviolent",
    "antiaggressive",
    "kings",
    "cats",
    "dogs",
    "was",
] + [f"word{i}" for i in range(280)]


@pytest.fixture(autouse=True)
def fresh_streamlit_caches(monkeypatch):
    """Streamlit's caches outlive a test; every AppTest starts from nothing."""
    monkeypatch.setenv("EMBEDDING_LAB_FAKE_TEACHER", "1")
    # No background warm-up in the test process (tests/app/test_warm_status.py turns it on where it is the subject):
    # a page computes what it needs itself when no warm-up runs, and a warm-up thread per AppTest compiling numba
    # beside the next test's is what took a busy test run down.
    monkeypatch.setenv("EMBEDDING_LAB_WARM", "off")
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def vocab() -> Vocabulary:
    return Vocabulary(list(WORDS), source="test")


@pytest.fixture
def prepared(vocab):
    return prepare_items(vocab.words, "none", CachedTeacher(HashTeacher(32), cache_dir() / "teachers"))


@pytest.fixture
def stored_run(prepared, vocab) -> str:
    run = TrainingRun(
        TrainConfig(teacher="hash-32", p=0.5, epochs=3, poison=0.1, vocabulary=vocab.label),
        prepared,
        runs_dir(),
        device="cpu",
    )
    list(run)
    return run.run_id
