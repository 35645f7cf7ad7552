"""Hosted mode in the dashboard: each person sees their own runs plus the gallery, cannot delete others',
and the limits reach the widgets."""

from __future__ import annotations

from core.paths import runs_dir
from core.runs.store import list_runs, set_shared
from pages._shared import K
from tests.app.apphelpers import make_app, no_errors, owned_run


def _run_for(owner, prepared, vocab):
    return owned_run(owner, prepared, vocab, epochs=2)


def test_runs_are_kept_apart_and_the_gallery_is_shared(monkeypatch, prepared, vocab):
    monkeypatch.setenv("EMBEDDING_LAB_HOSTED", "1")
    ada = make_app("runs")
    bob = make_app("runs")
    ada_id, bob_id = ada.session_state[K.OWNER], bob.session_state[K.OWNER]
    assert ada_id != bob_id and ada_id.startswith("t-")
    mine = _run_for(ada_id, prepared, vocab)
    theirs = _run_for(bob_id, prepared, vocab)
    ada.run()
    no_errors(ada)

    def listed(at):
        return at.dataframe[0].value["run_id"].to_list()

    assert listed(ada) == [mine]

    set_shared(runs_dir(), theirs, True)  # Bob shares his run with the class
    ada.run()
    assert sorted(listed(ada)) == sorted([mine, theirs])
    ada.multiselect(key="runs_picked").set_value([theirs]).run()
    no_errors(ada)
    assert not [b for b in ada.button if b.key == "confirm_delete"]  # not Ada's to delete
    assert any("someone else" in c.value for c in ada.caption)
    ada.multiselect(key="runs_picked").set_value([mine]).run()
    assert any(t.key == f"share_{mine}" for t in ada.toggle)
    assert set(list_runs(runs_dir())["run_id"]) == {mine, theirs}  # nothing lost either way


def test_limits_reach_the_widgets(monkeypatch, prepared, vocab):
    monkeypatch.setenv("EMBEDDING_LAB_HOSTED", "1")
    monkeypatch.setenv("EMBEDDING_LAB_MAX_EPOCHS", "12")
    at = make_app("train", **{K.PREPARED: prepared, K.VOCAB: vocab, K.TEACHER: "hash-32"})
    no_errors(at)
    assert at.number_input(key="epochs").max == 12 and at.number_input(key="epochs").value == 12


def test_a_bad_setting_stops_the_app_with_a_sentence(monkeypatch):
    monkeypatch.setenv("EMBEDDING_LAB_MAX_EPOCHS", "many")
    at = make_app()
    assert not at.exception
    assert any("cannot start" in e.value and "max_epochs" in e.value for e in at.error)


def test_login_without_a_provider_says_so(monkeypatch):
    monkeypatch.setenv("EMBEDDING_LAB_LOGIN", "1")
    at = make_app()
    assert not at.exception
    assert any("log in first" in m.value for m in at.markdown)


def _open(params: dict, page: str | None = None):
    from streamlit.testing.v1 import AppTest

    from tests.app.apphelpers import ROOT

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update(params)
    at.run()
    if page:
        at.switch_page(f"pages/{page}.py").run()
    return at


def _codes(at) -> list[str]:
    return [c.value for c in at.code]


def test_each_person_is_told_their_link_and_finds_their_runs_again(monkeypatch, prepared, vocab):
    monkeypatch.setenv("EMBEDDING_LAB_HOSTED", "1")
    ada, bob = _open({"u": "ada0token01"}), _open({"u": "bob0token02"})
    for at, token in ((ada, "ada0token01"), (bob, "bob0token02")):
        no_errors(at)
        assert any(code.endswith(f"?u={token}") for code in _codes(at))  # the sidebar's personal link
        assert any("Your personal link" in m.value for m in at.sidebar.markdown)
    mine = _run_for(ada.session_state[K.OWNER], prepared, vocab)
    theirs = _run_for(bob.session_state[K.OWNER], prepared, vocab)
    private = _run_for(bob.session_state[K.OWNER], prepared, vocab)
    set_shared(runs_dir(), theirs, True)

    again = _open({"u": "ada0token01"}, "runs")  # a new tab opened from Ada's bookmark
    no_errors(again)
    assert again.session_state[K.OWNER] == ada.session_state[K.OWNER]
    table = again.dataframe[0].value
    assert sorted(table["run_id"].to_list()) == sorted([mine, theirs]) and private not in table["run_id"].to_list()
    assert dict(zip(table["run_id"], table["origin"])) == {mine: "yours", theirs: "shared by a classmate"}
    assert any("Your runs and the class gallery" in c.value for c in again.caption)
    picker = again.multiselect(key="runs_picked")
    shown = " | ".join(str(option) for option in picker.options)  # AppTest holds the options as their labels
    assert "shared by a classmate" in shown and shown.count("shared by a classmate") == 1


def test_a_first_visit_shows_the_link_prominently_until_noted(monkeypatch):
    monkeypatch.setenv("EMBEDDING_LAB_HOSTED", "1")
    at = _open({})
    no_errors(at)
    token = at.session_state["owner_token"]
    assert at.query_params["u"] == token
    assert sum(code.endswith(f"?u={token}") for code in _codes(at)) == 2  # above the page and in the sidebar
    assert any("bookmark it" in m.value for m in at.main.markdown)
    at.button(key="link_noted_button").click().run()
    assert at.session_state["link_noted"] is True
    returning = _open({"u": token})  # opened from the bookmark: the sidebar is enough
    assert sum(code.endswith(f"?u={token}") for code in _codes(returning)) == 1


def test_runs_can_be_named_searched_and_filtered(monkeypatch, prepared, vocab):
    monkeypatch.setenv("EMBEDDING_LAB_HOSTED", "1")
    ada = _open({"u": "ada0token01"})
    owner = ada.session_state[K.OWNER]
    first, second = _run_for(owner, prepared, vocab), _run_for(owner, prepared, vocab)
    gallery = _run_for("t-someoneelse0000", prepared, vocab)
    set_shared(runs_dir(), gallery, True)
    at = _open({"u": "ada0token01", "runs": first}, "runs")
    no_errors(at)
    assert at.multiselect(key="runs_picked").value == [first]  # the address opened it
    at.text_input(key=f"name_{first}").input("royal words")
    at.button(key=f"rename_{first}_save").click().run()
    no_errors(at)
    assert dict(zip(list_runs(runs_dir())["run_id"], list_runs(runs_dir())["name"]))[first] == "royal words"
    table = at.dataframe[0].value
    assert table[table["run_id"] == first]["name"].to_list() == ["royal words"]
    at.text_input(key="runs_search").input("ROYAL").run()
    assert at.dataframe[0].value["run_id"].to_list() == [first]
    assert at.query_params["runs_search"] == "ROYAL"
    at.text_input(key="runs_search").input("").run()
    at.multiselect(key="runs_origins").set_value(["shared by a classmate"]).run()
    assert at.dataframe[0].value["run_id"].to_list() == [gallery]
    assert second not in at.dataframe[0].value["run_id"].to_list()
    no_errors(at)
