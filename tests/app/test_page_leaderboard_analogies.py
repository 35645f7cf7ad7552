"""The Challenge page (pages/leaderboard.py) scored by analogies as % of the teacher (issue 30): the teacher sets one,
a student trains and submits, the board shows the public score in % of the teacher and no private one until the
teacher ends the challenge. A word list with too few analogy questions among its hidden words is refused with a
sentence. The teacher is tests/core/test_classroom_challenge_analogies.py's grid, whose analogies all work."""

from __future__ import annotations

import re

from streamlit.testing.v1 import AppTest

from core.classroom import challenge as ch
from core.classroom.people import people_dir, set_nickname
from core.data.corpus import Vocabulary
from core.paths import cache_dir
from core.runs.experiment import prepare_items
from core.runs.hosting import owner_id
from core.teachers.teacher import CachedTeacher
from tests.app.apphelpers import ROOT, no_errors
from tests.core.test_classroom_challenge_analogies import QUESTIONS, WORDS, GridTeacher

TEACHER, ADA = "teach0token1", "ada0token01"


def _plain(markdown: str) -> str:
    """Text as the visitor reads it: the page writes people's and the engine's sentences with Markdown escaped."""
    return markdown.replace("\\", "")


def _open(token: str, state: dict) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["u"] = token
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    return at.switch_page("pages/leaderboard.py").run()


def _host(monkeypatch) -> None:
    monkeypatch.setenv("EMBEDDING_LAB_HOSTED", "1")
    monkeypatch.setenv("EMBEDDING_LAB_TEACHERS", owner_id(None, TEACHER))
    set_nickname(people_dir(), owner_id(None, ADA), "Ada")


def test_an_analogy_challenge_is_set_trained_submitted_and_revealed(monkeypatch):
    from pages._shared import K

    _host(monkeypatch)
    monkeypatch.setattr(ch, "analogy_questions", lambda questions=None: QUESTIONS)  # the grid's, not Google's
    vocab = Vocabulary(list(WORDS), source="test")
    prepared = prepare_items(vocab.words, "none", CachedTeacher(GridTeacher(), cache_dir() / "teachers"))
    state = {K.PREPARED: prepared, K.VOCAB: vocab, K.TEACHER: "grid-24"}

    teacher = _open(TEACHER, state)
    no_errors(teacher)
    teacher.number_input(key="ch_budget").set_value(60)
    teacher.selectbox(key="ch_metric").set_value("analogy_pct_of_teacher")
    teacher.button(key="ch_create").click().run()
    no_errors(teacher)
    (made,) = ch.list_challenges()
    assert made.metric == "analogy_pct_of_teacher" and made.budget == 60
    assert {m.label: m.value for m in teacher.metric}["Scored by"] == "Analogies"

    ada = _open(ADA, state)
    no_errors(ada)
    ada.number_input(key="lb_epochs").set_value(2)
    ada.button(key="lb_train").click().run()
    no_errors(ada)
    (entry,) = ch.submissions(None, made)
    assert entry["answers"] <= 60 and entry["public"] is not None and 0 <= entry["public"] <= 100
    assert any(f"public score {entry['public']:.1f} % of the teacher" in s.value for s in ada.success)
    board = ada.dataframe[0].value
    assert board["person"].to_list() == ["Ada"] and "private" not in board.columns
    assert board["public"].to_list() == [entry["public"]]
    assert any("as % of what the teacher solves" in c.value for c in ada.caption)  # what the score means

    teacher = _open(TEACHER, state)
    teacher.button(key="lb_end").click().run()
    no_errors(teacher)
    assert any("the private scores are revealed" in s.value for s in teacher.success)
    assert teacher.dataframe[0].value["private"].to_list() == [entry["private"]]
    assert any("Ranked by the private score" in c.value for c in teacher.caption)
    assert not [b for b in teacher.button if b.key == "lb_train"]  # ended: no more submissions


def test_a_word_list_without_enough_analogies_is_refused_with_a_sentence(monkeypatch, prepared, vocab):
    from pages._shared import K

    _host(monkeypatch)
    teacher = _open(TEACHER, {K.PREPARED: prepared, K.VOCAB: vocab, K.TEACHER: "hash-32"})
    teacher.selectbox(key="ch_metric").set_value("analogy_pct_of_teacher")
    teacher.button(key="ch_create").click().run()
    assert not teacher.exception
    said = [_plain(e.value) for e in teacher.error]
    # the hidden words are drawn with a fresh secret each time: the smaller half answers 0 of the few questions this
    # small list holds in 279 draws of 300, 1 in 20, 2 in 1 — always under the 5 needed (the test asked for 0: flaky)
    found = [re.search(r"Only (\d+) analogy questions would score", e) for e in said if "held-out cosine" in e]
    assert found and found[0] and int(found[0].group(1)) < ch.MIN_QUESTIONS, said
    assert ch.list_challenges() == []
