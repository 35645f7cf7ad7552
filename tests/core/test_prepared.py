"""The server's shared prepared data (core/runs/prepared.py): one copy per setup, the answers each call paid for, the
most recent few kept, the disk cache read without a model."""

import threading

import pytest

from core.config import LemmaMode
from core.data.lemmatize import no_lemmatization
from core.runs.prepared import PreparedCache
from core.teachers.teacher import CachedTeacher, HashTeacher

WORDS = [f"w{i}" for i in range(50)]


class Counting(HashTeacher):
    def __init__(self):
        super().__init__(8)
        self.asked = 0

    def embed(self, texts, progress=None):
        self.asked += len(texts)
        return super().embed(texts, progress)


def test_one_copy_per_setup_and_the_answers_each_call_paid_for(tmp_path):
    model = Counting()
    teacher = CachedTeacher(model, tmp_path)
    loads = []

    def load():
        loads.append(1)
        return teacher

    cache = PreparedCache(size=2)
    key = ("hash-8", "words-50", LemmaMode.NONE)
    first = cache.prepare(key, load, lambda: no_lemmatization(WORDS), LemmaMode.NONE)
    assert (first.queried, first.cached, model.asked) == (50, 0, 50)
    assert not first.data.clean.flags.writeable  # shared by every visitor: nobody changes it
    again = cache.prepare(key, load, lambda: pytest.fail("kept: nothing recomputed"), LemmaMode.NONE)
    assert again.data is first.data and (again.queried, again.cached) == (0, 50) and loads == [1]

    other = CachedTeacher(Counting(), tmp_path)  # the same teacher's disk cache, a new server's memory
    fresh = PreparedCache().prepare(key, lambda: other, lambda: no_lemmatization(WORDS), LemmaMode.NONE)
    assert (fresh.queried, fresh.cached, other.teacher.asked) == (0, 50, 0)  # answered from disk: nothing paid


def test_the_least_recently_used_setup_goes_first(tmp_path):
    teacher = CachedTeacher(HashTeacher(8), tmp_path)
    cache = PreparedCache(size=2)
    for name in ("a", "b"):
        cache.prepare(name, lambda: teacher, lambda: no_lemmatization(WORDS), LemmaMode.NONE)
    assert cache.get("a") is not None  # used: "b" is now the oldest
    cache.prepare("c", lambda: teacher, lambda: no_lemmatization(WORDS[:5]), LemmaMode.NONE)
    assert len(cache) == 2 and cache.get("b") is None and cache.get("a") is not None


def test_from_disk_loads_no_model_and_says_when_a_vector_is_missing(tmp_path):
    teacher = CachedTeacher(HashTeacher(8), tmp_path)
    teacher.embed(WORDS[:40])
    cache = PreparedCache()
    assert cache.from_disk("all", tmp_path, teacher.id, lambda: no_lemmatization(WORDS), LemmaMode.NONE) is None
    some = cache.from_disk("some", tmp_path, teacher.id, lambda: no_lemmatization(WORDS[:40]), LemmaMode.NONE)
    assert some.clean.shape == (40, 8) and cache.get("some") is some


def test_many_threads_share_one_cache(tmp_path):
    teacher = CachedTeacher(HashTeacher(8), tmp_path)
    cache, errors = PreparedCache(size=3), []

    def visitor(i):
        try:
            key = f"setup-{i % 5}"
            got = cache.prepare(key, lambda: teacher, lambda: no_lemmatization(WORDS), LemmaMode.NONE)
            assert got.data.clean.shape == (50, 8)
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=visitor, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(cache) == 3


def test_prepare_reads_a_whole_disk_cache_without_loading_the_teacher(tmp_path):
    """A fresh server's first Try it: every answer is on disk, so neither the model nor the warm-up is waited for."""
    warm = CachedTeacher(HashTeacher(8), tmp_path)
    expected = warm.embed(WORDS)  # what the setup's warm-up left on disk
    cache, waited = PreparedCache(), []
    got = cache.prepare(
        "all",
        lambda: pytest.fail("every answer is on disk: no model is loaded"),
        lambda: no_lemmatization(WORDS),
        LemmaMode.NONE,
        before=lambda: waited.append(1),
        disk=(tmp_path, warm.id),
    )
    assert (got.queried, got.cached, waited) == (0, 50, [])
    assert got.data.teacher_id == warm.id and not got.data.clean.flags.writeable
    assert (got.data.clean == expected).all()  # the very vectors the teacher would have returned


def test_prepare_loads_the_teacher_for_what_the_disk_lacks_after_waiting_once(tmp_path):
    model = Counting()
    teacher = CachedTeacher(model, tmp_path)
    teacher.embed(WORDS[:40])
    asked_before = model.asked
    loads, waited = [], []

    def load():
        loads.append(1)
        return teacher

    got = PreparedCache().prepare(
        "all",
        load,
        lambda: no_lemmatization(WORDS),
        LemmaMode.NONE,
        before=lambda: waited.append(1),
        disk=(tmp_path, teacher.id),
    )
    assert (loads, waited, got.queried, got.cached, model.asked - asked_before) == ([1], [1], 10, 40, 10)


def test_prepare_reads_the_disk_again_once_the_warm_up_it_waited_for_is_done(tmp_path):
    teacher = CachedTeacher(HashTeacher(8), tmp_path)
    teacher.embed(WORDS[:10])
    got = PreparedCache().prepare(
        "all",
        lambda: pytest.fail("the warm-up computed them while we waited: no model is loaded"),
        lambda: no_lemmatization(WORDS),
        LemmaMode.NONE,
        before=lambda: teacher.embed(WORDS),  # the warm-up, finishing its step while this call waits on it
        disk=(tmp_path, teacher.id),
    )
    assert (got.queried, got.cached) == (0, 50)
