import pytest

from core.config import TrainConfig
from core.jobs import JobBoard, JobState
from core.runs.experiment import prepare_items
from core.runs.store import load_run
from core.teachers.teacher import CachedTeacher, HashTeacher
from tests.waiting import DEADLINE_SECONDS, eventually, wait_for


def wait(job, timeout=DEADLINE_SECONDS):
    assert wait_for(lambda: job.done, timeout), job.state


def prepared(tmp_path):
    return prepare_items([f"w{i}" for i in range(200)], "none", CachedTeacher(HashTeacher(8), tmp_path / "cache"))


def test_job_trains_in_the_background_and_saves(tmp_path):
    board = JobBoard(tmp_path / "runs")
    job = board.submit(TrainConfig(teacher="hash-8", p=0.5, epochs=4), prepared(tmp_path), owner="me")
    wait(job)
    snap = job.snapshot()
    assert snap.state is JobState.FINISHED and len(snap.records) == 4
    assert load_run(tmp_path / "runs", snap.run_id).epochs.height == 4
    assert board.get(job.job_id) is job and board.active("me") == []


def test_queue_and_stop(tmp_path):
    board = JobBoard(tmp_path / "runs", max_concurrent=1)
    data = prepared(tmp_path)
    first = board.submit(TrainConfig(teacher="hash-8", p=0.5, epochs=1000, batch_size=4), data)
    second = board.submit(TrainConfig(teacher="hash-8", p=0.5, epochs=3), data)
    eventually(lambda: first.records, "the first job's first epoch")
    assert first.state is JobState.RUNNING and board.queue_position(second) == 1
    first.stop()
    wait(first)
    wait(second)
    assert first.state is JobState.STOPPED and 0 < len(first.records) < 1000 and first.run_id
    assert second.state is JobState.FINISHED


def test_a_failing_job_reports_a_sentence(tmp_path):
    board = JobBoard(tmp_path / "runs")
    data = prepared(tmp_path)
    job = board.submit(TrainConfig(teacher="hash-8", lemmatize="spacy"), data)  # mismatched on purpose
    wait(job)
    assert job.state is JobState.FAILED and "prepared with lemmatization" in job.error


def test_a_finished_sweep_never_blocks_later_trainings(tmp_path):
    """A board that has run a sweep keeps accepting trainings (a finished SweepJob is forgotten like any job)."""
    from core.jobs import JobBoard, JobState, SweepJob

    board = JobBoard(tmp_path, max_per_owner=1, max_queue=5)
    sweep = SweepJob(grid=None, prepared={}, owner="ada")
    sweep.state, sweep.finished_at = JobState.FINISHED, 1.0  # finished in 1970
    board._jobs[sweep.job_id] = sweep
    queued = SweepJob(grid=None, prepared={}, owner="bob")
    board._jobs[queued.job_id] = queued
    assert board.queue_position(queued) == 1
    job = board.launch(SweepJob(grid=None, prepared={}, owner="cy"), lambda j: None, "sweep")
    assert sweep.job_id not in board._jobs  # finished long ago: forgotten
    queued.stop()  # a queued job stops at once and frees its owner's slot
    assert queued.state is JobState.STOPPED and job.owner == "cy"


# ---- how long: estimates and ETA (core.jobs) ----------------------------------------------------


def runs_frame(rows):
    import polars as pl

    base = {"model": "B", "status": "finished", "epochs": 10}
    return pl.DataFrame([{**base, **r} for r in rows])


def test_estimate_fits_seconds_per_epoch_against_training_rows():
    from core.jobs import estimate_seconds

    runs = runs_frame(
        [{"train_size": 100, "seconds": 10.0}, {"train_size": 1000, "seconds": 40.0}]
    )  # 1 and 4 s per epoch
    config = TrainConfig(teacher="hash-8", model="B", p=0.55, epochs=10)
    assert estimate_seconds(config, 1000, runs) == pytest.approx(25.0)  # (1 + 3 * 450 / 900) s x 10 epochs


def test_estimate_from_one_size_scales_by_rows_and_ignores_other_students_and_unfinished_runs():
    from core.jobs import estimate_seconds

    runs = runs_frame(
        [
            {"train_size": 100, "seconds": 10.0},
            {"model": "A", "train_size": 100, "seconds": 999.0},
            {"train_size": 200, "seconds": 999.0, "status": "stopped"},
        ]
    )
    assert estimate_seconds(TrainConfig(teacher="hash-8", model="B", p=0.2, epochs=5), 1000, runs) == pytest.approx(
        10.0
    )
    assert estimate_seconds(TrainConfig(teacher="hash-8", model="A", p=0.0001, epochs=1), 1000, runs) == pytest.approx(
        9.99
    )
    assert estimate_seconds(TrainConfig(teacher="hash-8", model="ridge", p=0.2), 1000, runs) is None
    assert (
        estimate_seconds(TrainConfig(teacher="hash-8"), 1000, runs_frame([{"train_size": 1, "seconds": 1.0}]).clear())
        is None
    )


def test_remaining_seconds_from_recent_epochs_or_the_estimate():
    from types import SimpleNamespace

    from core.jobs import remaining_seconds

    records = [SimpleNamespace(epoch_seconds=s) for s in (9.0, 1.0, 1.0, 1.0, 1.0, 1.0)]
    assert remaining_seconds(records, 10) == pytest.approx(4.0)  # the last five epochs: 1 s each, 4 left
    assert remaining_seconds(records, 6) == 0.0
    assert remaining_seconds([], 10, estimate=30.0, elapsed=12.0) == pytest.approx(18.0)
    assert remaining_seconds([], 10, estimate=30.0, elapsed=45.0) == 0.0
    assert remaining_seconds([], 10) is None


@pytest.mark.parametrize(
    "seconds, words",
    [(None, "unknown"), (4, "a few seconds"), (42, "about 40 s"), (95, "about 2 min"), (4800, "about 1 h 20 min")],
)
def test_duration_in_plain_words(seconds, words):
    from core.jobs import duration

    assert duration(seconds) == words


def test_rates_are_recorded_and_used_for_embedding_estimates(tmp_path):
    from core.teachers.rates import embedding_seconds, measured_rates, record_rate

    path = tmp_path / "rates.json"
    assert embedding_seconds("all-mpnet-base-v2", 10_000, path) == pytest.approx(40.0)  # the lab's default rate
    record_rate("all-mpnet-base-v2", 50, 100.0, path)  # too few items to count
    assert measured_rates(path) == {}
    record_rate("all-mpnet-base-v2", 2000, 4.0, path)
    assert measured_rates(path) == {"all-mpnet-base-v2": 2.0}
    assert embedding_seconds("all-mpnet-base-v2", 10_000, path) == pytest.approx(20.0)
    path.write_text("not json")
    assert measured_rates(path) == {}


def test_a_job_is_estimated_from_the_stored_runs_and_has_no_time_left_once_done(tmp_path):
    # (the countdown during a training: test_remaining_seconds_from_recent_epochs_or_the_estimate)
    from core.jobs import estimate_seconds
    from core.runs.store import list_runs

    board = JobBoard(tmp_path / "runs")
    data = prepared(tmp_path)
    config = TrainConfig(teacher="hash-8", p=0.5, epochs=3)
    first = board.submit(config, data)
    wait(first)
    assert first.estimate_seconds is None  # nothing stored to estimate from: no number made up
    assert first.snapshot().eta_seconds is None  # done: no "0 s left"
    expected = estimate_seconds(config, len(data.items), list_runs(tmp_path / "runs"))
    assert expected is not None and expected > 0  # from the first run's measured rate
    second = board.submit(config, data)
    assert second.estimate_seconds == pytest.approx(expected)
    wait(second)


def test_an_adapter_job_says_it_computes_the_cheap_features(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDDING_LAB_HOME", str(tmp_path / "home"))
    board = JobBoard(tmp_path / "runs")
    said = []
    from core.jobs import board as jobs  # where the board calls it

    real = jobs.prepare_cheap_features

    def spy(configs, data, device, say, by_mode=None, *, lab):
        return real(configs, data, device, lambda text: (said.append(text), say(text)), by_mode, lab=lab)

    monkeypatch.setattr(jobs, "prepare_cheap_features", spy)
    job = board.submit(TrainConfig(teacher="hash-8", model="ridge", p=0.5), prepared(tmp_path))
    wait(job)
    assert job.state is JobState.FINISHED and job.phase == ""
    assert any("cheap model's features" in s for s in said)


# ---- the board's slot: work a page does in its own thread (core.jobs.JobBoard.slot) ----------------


def test_a_slot_counts_against_the_limits_and_is_given_back(tmp_path):
    from core.jobs import JobState, QueueFull

    board = JobBoard(tmp_path, max_concurrent=1, max_per_owner=1, max_epochs=50)
    with board.slot("ada", "adapter", epochs=10) as job:
        assert job.state is JobState.RUNNING and board.active("ada") == [job]
        with pytest.raises(QueueFull, match="already have 1"):  # the owner's limit counts the slot's work
            with board.slot("ada", "adapter"):
                pass
    assert job.state is JobState.FINISHED and board.active("ada") == []
    with pytest.raises(QueueFull, match="more than this host allows"):
        with board.slot("bob", "adapter", epochs=51):
            pass
    with board.slot("bob"):  # given back: the next one gets it at once
        pass


def test_a_slot_waits_its_turn_and_says_its_place(tmp_path):
    import threading

    from core.jobs import JobState

    board = JobBoard(tmp_path, max_concurrent=1)
    positions, release = [], threading.Event()

    def hold() -> None:
        with board.slot("ada"):
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    eventually(lambda: board.active("ada") and board.active("ada")[0].state is JobState.RUNNING, "ada's slot")

    def heard(position: int) -> None:
        positions.append(position)
        release.set()

    with board.slot("bob", waiting=heard, poll_seconds=0.02) as job:
        assert job.state is JobState.RUNNING
    holder.join(5)
    assert positions and positions[0] == 1


def test_a_failing_slot_reports_the_error_and_frees_the_slot(tmp_path):
    from core.jobs import JobState

    board = JobBoard(tmp_path, max_concurrent=1)
    with pytest.raises(ValueError):
        with board.slot("ada") as job:
            raise ValueError("too few texts")
    assert job.state is JobState.FAILED and job.error == "ValueError: too few texts"
    with board.slot("ada") as again:  # not left held
        assert again.state is JobState.RUNNING


# ---- a pair trained together (Try it) ----------------------------------------------------------------------


def test_a_pair_submitted_together_trains_at_once_as_one_training(tmp_path):
    """Try it's two students on a personal machine (one training at a time) and on a host whose limit is one
    training per person: both start together, neither waits behind the other, and they count as one training.
    Each training waits at a barrier for the other: one queued behind the other would never get past it."""
    import threading

    from core.jobs import QueueFull
    from core.runs.executors import LocalExecutor

    barrier = threading.Barrier(2)

    class Meeting(LocalExecutor):
        def run(self, *args, **kwargs):
            barrier.wait(timeout=DEADLINE_SECONDS)  # BrokenBarrierError (the job fails) unless both run at once
            yield from super().run(*args, **kwargs)

    board = JobBoard(tmp_path / "runs", max_concurrent=1, max_per_owner=1, executor=Meeting())
    data = prepared(tmp_path)
    configs = [
        TrainConfig(teacher="hash-8", p=0.5, epochs=3),
        TrainConfig(teacher="hash-8", model="A", p=0.5, epochs=2),
    ]
    jobs = board.submit_together(configs, data, owner="ada", extra={"shared": True})
    assert [j.config for j in jobs] == configs and len({j.group for j in jobs}) == 1
    assert board.trainings() == sorted(jobs, key=lambda j: j.submitted, reverse=True)  # what a click may join
    with pytest.raises(QueueFull, match="limit here is 1"):  # the pair is ada's one training
        board.submit(TrainConfig(teacher="hash-8", p=0.5, epochs=1), data, owner="ada")
    for job in jobs:
        wait(job)
    assert [j.state for j in jobs] == [JobState.FINISHED] * 2, [j.error for j in jobs]
    assert [len(j.records) for j in jobs] == [3, 2] and all(j.run_id for j in jobs)
    assert board.active("ada") == [] and board.trainings() == []
    from core.runs.store import list_runs

    stored = list_runs(tmp_path / "runs")  # `extra` went into each run.json beside the owner
    assert stored["owner"].to_list() == ["ada"] * 2 and stored["shared"].to_list() == [True] * 2


def test_what_a_job_computes_from_its_stored_run_is_done_before_the_job_is(tmp_path):
    """`then` (Try it: the story's scores of each student) runs on the stored run in the training's own thread, and
    the job counts as done only after it; a run it cannot read back leaves the training finished and stored."""
    board = JobBoard(tmp_path / "runs")
    data = prepared(tmp_path)
    seen = []

    def then(run_id):
        seen.append((run_id, load_run(tmp_path / "runs", run_id).meta["status"], [j.done for j in jobs]))
        if len(seen) == 2:
            raise ValueError("a run that cannot be read back")

    configs = [TrainConfig(teacher="hash-8", p=0.5, epochs=2), TrainConfig(teacher="hash-8", model="A", p=0.5)]
    jobs = board.submit_together(configs, data, then=then)
    for job in jobs:
        wait(job)
    assert [j.state for j in jobs] == [JobState.FINISHED] * 2, [j.error for j in jobs]
    assert sorted(r for r, _, _ in seen) == sorted(j.run_id for j in jobs)
    assert [status for _, status, _ in seen] == ["finished"] * 2  # the run was stored first
    # each job was still not done while its own `then` ran (the page redraws only once both are scored)
    assert all(not done[jobs.index(next(j for j in jobs if j.run_id == r))] for r, _, done in seen)


def test_a_job_stopped_early_computes_nothing_from_its_run(tmp_path):
    board = JobBoard(tmp_path / "runs")
    data = prepared(tmp_path)
    called = []  # a stopped training is not the pair step 3 shows
    job = board.submit_together(
        [TrainConfig(teacher="hash-8", p=0.5, epochs=1000, batch_size=4)], data, then=called.append
    )[0]
    eventually(lambda: len(job.records) >= 1, "the first epoch")
    job.stop()
    wait(job)
    assert job.state is JobState.STOPPED and job.run_id and called == []


def test_a_pair_waiting_for_a_slot_holds_one_place_in_the_queue(tmp_path):
    from core.jobs import QueueFull

    board = JobBoard(tmp_path / "runs", max_concurrent=1, max_queue=1)
    data = prepared(tmp_path)
    first = board.submit(TrainConfig(teacher="hash-8", p=0.5, epochs=1000, batch_size=4), data)
    eventually(lambda: first.state is JobState.RUNNING, "the first job to start")
    pair = board.submit_together(
        [TrainConfig(teacher="hash-8", p=0.5, epochs=2), TrainConfig(teacher="hash-8", model="A", p=0.5, epochs=2)],
        data,
    )
    assert [board.queue_position(j) for j in pair] == [1, 1]  # the pair waits as one, first in the queue
    assert board.trainings()[-1] is first  # newest first, waiting ones too
    with pytest.raises(QueueFull, match="1 trainings are already waiting"):  # and takes one place of max_queue = 1
        board.submit(TrainConfig(teacher="hash-8", p=0.5, epochs=1), data)
    first.stop()
    assert first not in board.trainings()  # asked to stop: nothing to join
    for job in pair:
        wait(job)
    assert [j.state for j in pair] == [JobState.FINISHED] * 2


def test_identical_pairs_submitted_at_the_same_moment_train_once(tmp_path):
    """A class's Try-it clicks at one moment: each page planned (nothing in flight yet) and submits seconds later.
    With `join`, the board decides under its lock: the first call trains the pair, every other joins it (fifteen
    students made four identical pairs, one after the other, when each page checked first)."""
    import threading

    from core import tryit

    board = JobBoard(tmp_path / "runs", max_concurrent=1, max_per_owner=1)
    data = prepared(tmp_path)
    configs = [TrainConfig(teacher="hash-8", p=0.5, epochs=2), TrainConfig(teacher="hash-8", model="A", p=0.5)]
    people = [f"student-{i}" for i in range(8)]
    start, results, errors = threading.Barrier(len(people)), {}, []

    def click(owner):
        try:
            start.wait(timeout=DEADLINE_SECONDS)

            def join(job):
                return tryit.may_join(job, owner, hosted=True, gallery=True)

            results[owner] = board.submit_together(configs, data, owner, {"shared": True}, join=join, group=owner)
        except Exception as err:  # noqa: BLE001 - the assert below names it
            errors.append(err)

    threads = [threading.Thread(target=click, args=(p,)) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=DEADLINE_SECONDS)
    assert not errors and len(results) == len(people)
    pairs = {tuple(j.job_id for j in jobs) for jobs in results.values()}
    assert len(pairs) == 1, pairs  # one pair for everyone
    (trainer,) = {j.group for jobs in results.values() for j in jobs}  # the one click whose pair it is
    assert all([j.config for j in jobs] == configs for jobs in results.values())
    for job in next(iter(results.values())):
        wait(job)
    from core.runs.store import list_runs

    stored = list_runs(tmp_path / "runs")
    assert stored.height == 2 and set(stored["owner"].to_list()) == {trainer}
    # once that pair is stored, an identical click joins the finished pair (its runs exist) instead of training
    late = board.submit_together(configs, data, "late", {"shared": True}, join=lambda j: True, group="late")
    assert [j.job_id for j in late] == [j.job_id for j in next(iter(results.values()))]


def test_without_join_or_when_join_refuses_the_pair_trains_its_own(tmp_path):
    board = JobBoard(tmp_path / "runs", max_concurrent=1)
    data = prepared(tmp_path)
    configs = [TrainConfig(teacher="hash-8", p=0.5, epochs=2)]
    first = board.submit_together(configs, data, "ada")
    second = board.submit_together(configs, data, "bob", join=lambda job: job.owner == "bob")  # ada's is not shared
    third = board.submit_together(configs, data, "cy")
    assert len({first[0].job_id, second[0].job_id, third[0].job_id}) == 3
    for job in (*first, *second, *third):
        wait(job)
    assert [j.state for j in (*first, *second, *third)] == [JobState.FINISHED] * 3
