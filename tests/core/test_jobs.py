import time

from core.config import TrainConfig
from core.experiment import prepare_items
from core.jobs import JobBoard, JobState
from core.store import load_run
from core.teacher import CachedTeacher, HashTeacher


def wait(job, timeout=30):
    end = time.time() + timeout
    while not job.done and time.time() < end:
        time.sleep(0.02)
    assert job.done, job.state


def prepared(tmp_path):
    return prepare_items([f"w{i}" for i in range(200)], "none", CachedTeacher(HashTeacher(8), tmp_path / "cache"))


def test_job_trains_in_the_background_and_saves(tmp_path):
    board = JobBoard(tmp_path / "runs")
    job = board.submit(TrainConfig(teacher="hash-8", p=0.5, epochs=4), prepared(tmp_path), owner="me")
    wait(job)
    snap = job.snapshot()
    assert snap["state"] is JobState.FINISHED and len(snap["records"]) == 4
    assert load_run(tmp_path / "runs", snap["run_id"]).epochs.height == 4
    assert board.get(job.job_id) is job and board.active("me") == []


def test_queue_and_stop(tmp_path):
    board = JobBoard(tmp_path / "runs", max_concurrent=1)
    data = prepared(tmp_path)
    first = board.submit(TrainConfig(teacher="hash-8", p=0.5, epochs=1000, batch_size=4), data)
    second = board.submit(TrainConfig(teacher="hash-8", p=0.5, epochs=3), data)
    time.sleep(0.3)
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
