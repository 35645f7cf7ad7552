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


def test_one_training_line_for_every_page_in_a_researchers_and_an_audiences_words():
    """`training_progress` (pages/_waits.py) is the one line the Train page and the story's Try it draw, from the job's
    typed snapshot: queued, computing first, epoch by epoch, a one-step fit, done, failed."""
    from core.config import TrainConfig
    from core.evaluation.records import EpochRecord
    from core.jobs import JobState, TrainingJob
    from pages._waits import training_progress

    class Board:  # the board's one answer the line needs
        def __init__(self, position=0):
            self.position = position

        def queue_position(self, job):
            return self.position

    def job(epochs=4, **fields):
        made = TrainingJob(config=TrainConfig(teacher="hash-8", epochs=epochs, p=0.5), prepared=None)
        for name, value in fields.items():
            setattr(made, name, value)
        return made

    queued = job()
    assert training_progress(queued, Board(2)) == (
        0.0,
        "Epoch 0 of 4",
        "Waiting for a free trainer: number 2 in the queue.",
    )
    share, text, reason = training_progress(queued, Board(1), "Model B", plain=True, together=True)
    assert (share, reason) == (0.0, text[len("Model B: ") :])
    assert (
        text
        == "Model B: waiting for a free training slot on this host (place 1 in the queue); both students then train at once"
    )

    first = job(state=JobState.RUNNING, phase="Computing the cheap model's features (MiniLM vectors)…")
    assert training_progress(first, Board())[2] == "Computing the cheap model's features (MiniLM vectors)…"

    record = EpochRecord(
        epoch=1,
        train_loss=0.5,
        train_cosine=0.5,
        heldout_cosine=None,
        heldout_euclidean=None,
        epoch_seconds=10.0,
        seconds=10.0,
    )
    running = job(state=JobState.RUNNING, records=[record])
    share, text, reason = training_progress(running, Board())
    assert (share, text, reason) == (0.25, "Epoch 1 of 4 · about 30 s left", None)  # 3 epochs left at 10 s each
    assert training_progress(running, Board(), "Model B", plain=True)[1] == (
        "Model B: learning its lessons, pass 1 of 4 — about 30 s left"
    )

    scoring = job(state=JobState.RUNNING, records=[record] * 4, phase="trained; now scoring it on the story's words…")
    assert training_progress(scoring, Board(), "Model B", plain=True)[:2] == (  # Try it's `then`: the bar stays full
        1.0,
        "Model B: trained; now scoring it on the story's words…",
    )

    fit = job(epochs=1, state=JobState.RUNNING, estimate_seconds=20.0)
    share, text, _ = training_progress(fit, Board(), "The adapter", plain=True)
    assert text == "The adapter: learning the translation in one step — about 20 s left"

    assert training_progress(job(state=JobState.FINISHED), Board(), "Model B")[:2] == (1.0, "Model B: done")
    failed = job(state=JobState.FAILED, error="ValueError: no")
    assert training_progress(failed, Board(), "Model B")[:2] == (1.0, "Model B: failed — ValueError: no")
