from core.config import LemmaMode
from pages._shared import K
from tests.app.apphelpers import make_app, no_errors


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


# ---- hostile uploads and settings (issue 23) -------------------------------------------------------------------

MARKUP_WORDS = [
    "**bold**",
    "$x^2$",
    "[click](http://evil.example)",
    "![img](http://evil.example/x.png)",
    "<b>html</b>",
    "plain",
]


def upload(at, name: str, data: bytes):
    at.radio(key="vocab_source").set_value("upload").run()
    at.file_uploader(key="vocab_upload").set_value((name, data, "text/plain")).run()
    return at


def markdown_values(at) -> list[str]:
    """Everything the page rendered through Streamlit's Markdown: text, captions, alerts and expander labels."""
    values = [e.value for kind in (at.markdown, at.caption, at.success, at.info, at.warning, at.error) for e in kind]
    return values + [e.label for e in at.expander]


def test_uploaded_words_are_shown_as_text_never_as_markdown():
    at = upload(make_app("data"), "words.txt", "\n".join(MARKUP_WORDS + ["**bold**"]).encode())
    no_errors(at)
    assert not any(w in v for v in markdown_values(at) for w in MARKUP_WORDS[:4]), markdown_values(at)
    shown = " ".join(t.value for t in at.text) + " ".join(c.value for c in at.code)
    assert all(w in shown for w in MARKUP_WORDS)  # every word is on the page, as plain text


def test_a_file_name_made_of_markup_is_shown_as_text():
    at = upload(make_app("data"), "**x** [a](http://evil.example).txt", b"\x00binary")
    assert not at.exception and at.error
    assert not any("**x**" in v or "](http" in v for v in markdown_values(at))


def test_a_utf16_word_list_is_read():
    at = upload(make_app("data"), "words.txt", "café\nnaïve\nplain\n".encode("utf-16"))
    no_errors(at)
    assert any("Kept 3 words" in s.value for s in at.success)


def test_the_page_names_the_file_in_use():
    # Streamlit's uploader refuses a file over its cap in the browser and keeps the previous file as its value, so
    # the page says which file (name and size) the words come from: a refused upload cannot pass for the new list.
    at = upload(make_app("data"), "first.txt", b"one\ntwo\nthree\n")
    no_errors(at)
    assert any(c.value.startswith("In use: first") and "14 bytes" in c.value for c in at.caption), markdown_values(at)


def test_a_fake_teacher_of_absurd_size_gets_a_sentence():
    at = make_app("data")
    at.selectbox(key="teacher_choice").set_value("custom").run()
    at.text_input(key="teacher_custom").input("hash-99999").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "between 2 and 4096" in at.error[0].value


def test_an_unwritable_lab_home_gets_a_sentence(lab_home):
    (lab_home / "runs").mkdir(parents=True, exist_ok=True)
    (lab_home / "cache").write_text("a file where the cache folder should be")  # as unwritable as it gets, even as root
    at = make_app("data")
    assert not at.exception, [e.value for e in at.exception]
    assert at.error and "cache" in at.error[0].value


def test_work_done_elsewhere_at_the_same_time_is_not_counted_for_this_session():
    import streamlit as st

    from core.teachers.teacher import CachedTeacher

    at = make_app("data")
    at.selectbox(key="teacher_choice").set_value("hash-32").run()
    at.button(key="prepare").click().run()  # computes and caches the 10,002 words
    st.cache_resource.clear()  # a fresh server: the words are on disk, not in memory
    real = CachedTeacher.embed

    def embed_while_someone_else_does(self, texts, progress=None):
        self.cached += len(texts)  # what another session (or the warm-up) reading the same words adds meanwhile
        return real(self, texts, progress)

    CachedTeacher.embed = embed_while_someone_else_does
    try:
        fresh = make_app("data")
        fresh.selectbox(key="teacher_choice").set_value("hash-32").run()
        fresh.button(key="prepare").click().run()
    finally:
        CachedTeacher.embed = real
    no_errors(fresh)
    assert (fresh.session_state[K.QUERIES], fresh.session_state[K.CACHED]) == (0, 10_002)  # was 20,004
