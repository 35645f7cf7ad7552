from core.config import LemmaMode
from tests.app.apphelpers import make_app, no_errors

from pages._shared import K


def test_prepare_default_vocabulary_with_fake_teacher():
    at = make_app("data")
    no_errors(at)
    assert "Kept 10,002 words" in at.success[0].value
    at.selectbox(key="teacher_choice").set_value("hash-32").run()
    assert any("will be computed now" in i.value for i in at.info)
    at.button(key="prepare").click().run()
    no_errors(at)
    prepared = at.session_state[K.PREPARED]
    assert len(prepared.items) == 10_002 and prepared.clean.shape == (10_002, 32)
    assert at.session_state[K.QUERIES] == 10_002
    assert any("Ready: 10,002 items" in s.value for s in at.success)
    # A second visit costs nothing: everything comes from the cache.
    at.button(key="prepare").click().run()
    assert at.session_state[K.QUERIES] == 10_002 and at.session_state[K.CACHED] == 10_002


def test_lemmatization_preview_lists_merges():
    at = make_app("data")
    at.radio(key="lemma_choice").set_value(LemmaMode.LOOKUP).run()  # fast
    no_errors(at)
    assert any("unique lemmas" in m.value for m in at.markdown)
    assert at.dataframe[0].value.shape[0] > 0


def test_a_custom_teacher_that_cannot_load_gets_a_sentence(tmp_path):
    at = make_app("data")
    at.selectbox(key="teacher_choice").set_value("custom").run()
    at.text_input(key="teacher_custom").input(str(tmp_path)).run()
    assert not at.exception
    assert "Could not load the teacher" in at.error[0].value


def test_a_paid_api_teacher_shows_the_cost_before_any_call(monkeypatch):
    from tests.fake_api import FakeEmbeddingServer

    with FakeEmbeddingServer(dim=16) as server:
        monkeypatch.setenv("EMBEDDING_LAB_API_BASE", server.base_url)
        monkeypatch.setenv("EMBEDDING_LAB_API_KEY", "sk-secret")
        monkeypatch.setenv("EMBEDDING_LAB_API_PRICE", "1000")  # $0.001 per token
        monkeypatch.setenv("EMBEDDING_LAB_API_BUDGET", "0.5")
        at = make_app("data")
        at.selectbox(key="teacher_choice").set_value("api:text-embedding-3-small").run()
        assert not at.exception and server.seen == []  # choosing it sends nothing
        assert any("would go over" in e.value for e in at.error)  # 10,002 words: about $20 against a $0.50 cap
        assert at.button(key="prepare").disabled

        monkeypatch.setenv("EMBEDDING_LAB_API_BUDGET", "100")
        import streamlit as st

        st.cache_resource.clear()  # the loaded teacher keeps the settings it was made with (a restart applies new ones)
        at = make_app("data")
        at.selectbox(key="teacher_choice").set_value("api:text-embedding-3-small").run()
        assert any("cost about" in w.value for w in at.warning) and at.button(key="prepare").disabled
        at.checkbox(key="api_accept_cost").check().run()
        at.button(key="prepare").click().run()
        no_errors(at)
        assert at.session_state[K.PREPARED].clean.shape == (10_002, 16)
        assert len(server.seen) == -(-10_002 // 128)  # batches of 128, each asked once
