"""Hosted mode in the dashboard: each person sees their own runs plus the gallery, cannot delete others',
and the limits reach the widgets."""

from __future__ import annotations

from core.config import TrainConfig
from core.experiment import TrainingRun
from core.paths import runs_dir
from core.store import list_runs, set_shared
from pages._shared import K
from tests.app.apphelpers import make_app, no_errors


def _run_for(owner, prepared, vocab):
    run = TrainingRun(TrainConfig(teacher="hash-32", p=0.5, epochs=2, vocabulary=vocab.label), prepared, runs_dir(), device="cpu",
                      extra={"owner": owner})
    list(run)
    return run.run_id


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
