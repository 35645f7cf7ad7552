"""The page address: a link reproduces the view (run, words, settings), a bad value is ignored, a new session
rebuilds the prepared data from the caches without running the teacher, and presenter mode folds the settings."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.config import TrainConfig
from core.data.corpus import Vocabulary
from core.paths import cache_dir, runs_dir
from core.runs.experiment import TrainingRun
from core.teachers.teacher import CachedTeacher, HashTeacher
from pages._loaders import setups
from pages._shared import SETUP_NOTE, K, default_words
from tests.app.apphelpers import ROOT, no_errors


def open_app(page: str | None = None, **params) -> AppTest:
    """A new session opened from an address: `open_app('projection', run='…', words='king')`."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update(params)
    at.run()
    if page:
        at.switch_page(f"pages/{page}.py").run()
    return at


def _older_run(prepared, vocab) -> str:
    run = TrainingRun(
        TrainConfig(teacher="hash-32", p=0.3, epochs=2, vocabulary=vocab.label), prepared, runs_dir(), device="cpu"
    )
    list(run)
    return run.run_id


def test_a_link_reproduces_the_projection_view(prepared, vocab, stored_run):
    older = _older_run(prepared, vocab)  # not the newest, so the picker's default would be another run
    at = open_app("projection", run=older, words="king, queen", sample_size="250")
    no_errors(at)
    assert at.selectbox(key="run_select").value == older
    assert at.text_input(key="highlight").value == "king, queen"
    assert at.number_input(key="sample_size").value == 250
    assert any("king" in m.value and "of 8 neighbours shared" in m.value for m in at.markdown)
    # the address now names everything a copy of it needs
    assert at.query_params["run"] == older and at.query_params["words"] == "king, queen"
    at.text_input(key="highlight").input("paris").run()
    assert at.query_params["words"] == "paris"


def test_a_link_reproduces_the_train_settings(prepared, vocab):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update(
        epochs="7", poison="0.2", model="ridge", p_choice="custom", p_custom="0.25", adversary="swap"
    )
    for key, value in {K.PREPARED: prepared, K.VOCAB: vocab, K.TEACHER: "hash-32"}.items():
        at.session_state[key] = value
    at.run()
    at.switch_page("pages/train.py").run()
    no_errors(at)
    assert at.radio(key="model").value == "ridge"
    assert at.slider(key="poison").value == 0.2
    assert at.selectbox(key="adversary").value == "swap"
    assert at.number_input(key="p_custom").value == 0.25
    assert any("p = 0.25" in m.value for m in at.markdown)
    at.slider(key="poison").set_value(0.1).run()
    assert at.query_params["poison"] == "0.1"


def test_bad_values_in_the_address_are_ignored_without_a_traceback(prepared, vocab, stored_run):
    bad = dict(
        run="../../etc/passwd",
        words="x" * 600,
        sample_size="lots",
        proj_method="tsne",
        teacher="evil-model",
        lemma="sideways",
        vocab="nope",
        presenter="maybe",
        epochs="-5",
        poison="9",
        model="Z",
        seed="1e99",
    )
    at = open_app("projection", **bad)
    no_errors(at)
    assert at.selectbox(key="run_select").value == stored_run  # the default run
    assert at.session_state[K.PREPARED] is None if K.PREPARED in at.session_state else True
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update(bad)
    for key, value in {K.PREPARED: prepared, K.VOCAB: vocab, K.TEACHER: "hash-32"}.items():
        at.session_state[key] = value
    at.run()
    at.switch_page("pages/train.py").run()
    no_errors(at)
    assert at.slider(key="poison").value == 0.0 and at.radio(key="model").value == "B"
    # the bad value dropped: the address holds the slider's own value (app.py writes it after the page)
    assert at.query_params.get("poison", "0") == "0"


def _cache_default_words(lemmas=None):
    teacher = CachedTeacher(HashTeacher(32), cache_dir() / "teachers")
    teacher.embed(list(lemmas or default_words().words))
    return teacher


def test_a_new_session_rebuilds_the_prepared_data_from_the_cache():
    _cache_default_words()
    at = open_app(None, teacher="hash-32", vocab="default", lemma="none")
    no_errors(at)
    prepared = at.session_state[K.PREPARED]
    assert prepared is not None and len(prepared.items) == len(default_words().words)
    assert at.session_state[K.QUERIES] == 0  # nothing computed: every answer came from the cache
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "Teacher:** hash-32" in sidebar and "No data prepared yet" not in " ".join(
        c.value for c in at.sidebar.caption
    )
    at.switch_page("pages/train.py").run()
    no_errors(at)
    assert at.button(key="train") and not any("First choose a vocabulary" in i.value for i in at.info)
    at.switch_page("pages/evaluate.py").run()  # Honest evaluation reads the same session state
    no_errors(at)
    assert (
        at.query_params["teacher"] == "hash-32"
        and at.query_params["vocab"] == "default"
        and at.query_params["lemma"] == "none"
    )


def test_a_reload_never_runs_the_teacher():
    at = open_app(None, teacher="hash-32", vocab="default", lemma="none")  # nothing cached
    no_errors(at)
    assert at.session_state[K.PREPARED] is None if K.PREPARED in at.session_state else True
    assert "not all computed yet" in at.session_state[SETUP_NOTE]
    assert CachedTeacher(HashTeacher(32), cache_dir() / "teachers").lookup(default_words().words[:50]) == {}
    at.switch_page("pages/train.py").run()
    assert any("First choose a vocabulary" in i.value for i in at.info)


def test_an_uploaded_list_is_rebuilt_while_the_server_holds_it():
    words = [f"word{i}" for i in range(40)]
    vocab = Vocabulary(words, source="mine.txt")
    _cache_default_words(words)
    at = open_app(None, teacher="hash-32", vocab=vocab.label, lemma="none")
    assert "upload it again" in at.session_state[SETUP_NOTE]
    assert any("upload it again" in c.value for c in at.sidebar.caption)
    setups()["vocabularies"][vocab.label] = vocab  # what another session's prepare() leaves on the server
    at = open_app(None, teacher="hash-32", vocab=vocab.label, lemma="none")
    no_errors(at)
    assert at.session_state[K.PREPARED].items == tuple(words) and at.session_state[K.VOCAB].source == "mine.txt"


@pytest.mark.parametrize("how", ["address", "toggle"])
def test_presenter_mode_folds_the_settings_away(prepared, vocab, how):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    if how == "address":
        at.query_params["presenter"] = "1"
    for key, value in {K.PREPARED: prepared, K.VOCAB: vocab, K.TEACHER: "hash-32"}.items():
        at.session_state[key] = value
    at.run()
    if how == "toggle":  # (AppTest shows the sidebar only before a switch_page)
        assert at.toggle(key="presenter_toggle").value is False
        at.toggle(key="presenter_toggle").set_value(True).run()
    at.switch_page("pages/train.py").run()
    no_errors(at)
    assert any("hidden for the audience" in e.label for e in at.expander)
    assert at.button(key="train")  # folded, not gone: the values stay
    if how == "address":  # (a toggle writes it from app.py's next run, which AppTest skips after its first run)
        assert at.query_params["presenter"] == "1"
