"""The sidebar says what the server's warm-up (core/warm/, pages/_waits.py) is preparing, then that everything is ready."""

import threading

from core import warm
from tests.app.apphelpers import make_app, no_errors, wait_for


def sidebar_text(at) -> str:
    return " ".join(e.value for e in at.sidebar if type(e).__name__ == "Caption")


def test_the_sidebar_shows_the_warm_up_step_then_ready(monkeypatch):
    gate = threading.Event()

    def held(progress):
        progress(1, 4)
        gate.wait(20)

    monkeypatch.setenv("EMBEDDING_LAB_WARM", "all")
    runners = []

    class Recorded(warm.WarmUp):  # the runner the server makes, kept here to watch
        def __post_init__(self):
            super().__post_init__()
            runners.append(self)

    monkeypatch.setattr(warm, "WarmUp", Recorded)
    monkeypatch.setattr(
        warm,
        "default_steps",
        lambda lab: [
            warm.Step("words", "MPNet vectors of 10,002 words", held),
            warm.Step("more", "something else", lambda progress: None),
        ],
    )
    try:
        at = make_app()
        no_errors(at)
        assert wait_for(lambda: runners and runners[-1].states["words"].status == "running")
        at = make_app()  # a new visitor (AppTest drops the sidebar on a second run of the same session)
        assert "Preparing: MPNet vectors of 10,002 words (1 of 2, 25%)…" in sidebar_text(at)
        gate.set()
        assert wait_for(lambda: runners[-1].ready)
        at = make_app()
        assert "Everything is ready" in sidebar_text(at)
    finally:
        gate.set()


def test_no_warm_up_line_when_switched_off(monkeypatch):
    monkeypatch.setenv("EMBEDDING_LAB_WARM", "off")
    at = make_app()
    no_errors(at)
    assert "Preparing" not in sidebar_text(at) and "Everything is ready" not in sidebar_text(at)


def test_the_fake_teacher_warms_only_the_compiled_parts(monkeypatch):
    import pages._waits as waits

    monkeypatch.delenv("EMBEDDING_LAB_WARM")  # the AppTests' own setting (conftest): here the default is the subject
    assert waits.warm_mode() == "light"
    from types import SimpleNamespace as Snap  # a job's snapshot (core.jobs.TrainingSnapshot / SweepSnapshot)

    assert waits.job_reason(Snap(phase=""), position=3) == "Waiting for a free trainer: number 3 in the queue."
    assert (
        waits.job_reason(Snap(phase="Computing the cheap model's features")) == "Computing the cheap model's features"
    )
    assert waits.eta_caption(Snap(eta_seconds=42.0), done=False) == "about 40 s left"
    assert waits.eta_caption(Snap(eta_seconds=42.0), done=True) is None
