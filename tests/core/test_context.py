"""The lab's context (core/context.py): a job board finds its folders, its model loader and the warm-up it waits on in
the `Lab` it was given, never in a module global, so two boards in one process each keep to their own."""

from core import warm
from core.config import TrainConfig
from core.context import Lab
from core.jobs import JobBoard, JobState
from core.runs.experiment import prepare_items
from core.teachers.teacher import CachedTeacher, HashTeacher, cached_count, teacher_id_for
from core.warm import Step, WarmUp
from tests.waiting import DEADLINE_SECONDS, wait_for

WORDS = [f"w{i}" for i in range(120)]


def recorder(loads: list[str]):
    def load(name: str):
        loads.append(name)
        model = HashTeacher(16)
        model.id = teacher_id_for(name)  # the bundled model's cache name, as the warm-up's steps write it
        return model

    return load


def context(tmp_path, name: str, loads: list[str]) -> Lab:
    folder = tmp_path / name
    return Lab(folder / "runs", folder / "teachers", folder / "cache", recorder(loads))


def adapter(board: JobBoard, tmp_path):
    data = prepare_items(WORDS, "none", CachedTeacher(HashTeacher(8), tmp_path / "teacher-answers"))
    job = board.submit(TrainConfig(teacher="hash-8", model="ridge", p=0.5, epochs=2, cheap="minilm"), data)
    assert wait_for(lambda: job.done, DEADLINE_SECONDS), job.state
    assert job.state is JobState.FINISHED, job.error
    return job


def test_each_board_loads_its_cheap_model_through_its_own_context(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDDING_LAB_HOME", str(tmp_path / "environment-home"))
    loads_a, loads_b = [], []
    lab_a, lab_b = context(tmp_path, "a", loads_a), context(tmp_path, "b", loads_b)
    adapter(JobBoard(lab_a.runs_root, lab=lab_a), tmp_path)
    adapter(JobBoard(lab_b.runs_root, lab=lab_b), tmp_path)
    assert loads_a == ["minilm"] and loads_b == ["minilm"]  # each board asked its own loader, once
    for lab in (lab_a, lab_b):  # and kept the features in its own folder
        assert cached_count(lab.teacher_cache, teacher_id_for("minilm"), WORDS) == len(WORDS)
    assert not (tmp_path / "environment-home" / "cache" / "teachers").exists()  # nothing went to the default home


def test_a_job_waits_on_its_contexts_warm_up_and_another_boards_job_does_not(tmp_path, monkeypatch):
    from core.words.cheap import cheap_features

    monkeypatch.setattr(warm.steps, "default_items", lambda: tuple(WORDS))  # the words the warm-up computes
    loads, other_loads, ran = [], [], []
    lab = context(tmp_path, "served", loads)

    def minilm_words(progress):  # the warm-up's step: the cheap model's vectors of the default words
        ran.append("minilm-words")
        cheap_features(WORDS, "minilm", lab.teacher_cache, load=lab.load_model)

    runner = WarmUp([Step("minilm-words", "MiniLM vectors of the words", minilm_words)])
    adapter(JobBoard(lab.runs_root, lab=lab.with_warmup(runner)), tmp_path)
    assert ran == ["minilm-words"] and runner.states["minilm-words"].status == "done"
    assert loads == ["minilm"]  # loaded by the warm-up's step only: the job waited on it instead of computing

    other = context(tmp_path, "other", other_loads)  # no warm-up in its context: computes for itself
    adapter(JobBoard(other.runs_root, lab=other), tmp_path)
    assert ran == ["minilm-words"] and other_loads == ["minilm"]
