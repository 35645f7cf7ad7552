"""Issue 30, a class's memory: the runs of one word list share one read-only copy of their teacher's vectors
(`shared_vectors`), and a process rebuilds at most `REBUILT_AT_ONCE` students at a time (`run_vectors`)."""

import threading

import numpy as np
import pytest

from core.teachers.teacher import CachedTeacher, HashTeacher, TeacherUnavailable, cached_vectors, shared_vectors


@pytest.fixture
def cache(tmp_path):
    teacher = HashTeacher(16)
    CachedTeacher(teacher, tmp_path).embed([f"w{i}" for i in range(50)])
    return tmp_path, teacher.id


def test_one_read_only_copy_for_every_caller_of_the_same_words(cache):
    root, teacher_id = cache
    words = [f"w{i}" for i in range(40)]
    first = shared_vectors(root, teacher_id, words)
    assert shared_vectors(root, teacher_id, tuple(words)) is first  # a list or a tuple: the same words
    np.testing.assert_array_equal(first, cached_vectors(root, teacher_id, words))
    assert not first.flags.writeable
    with pytest.raises(ValueError):
        first[0, 0] = 1.0  # nobody can change what the others read
    other = shared_vectors(root, teacher_id, words[:10])
    assert other is not first and other.shape == (10, 16)


def test_many_threads_at_once_get_one_array(cache):
    root, teacher_id = cache
    words = [f"w{i}" for i in range(5, 45)]
    seen, errors = [], []

    def read():
        try:
            seen.append(shared_vectors(root, teacher_id, words))
        except Exception as err:  # noqa: BLE001 - the assert below names it
            errors.append(err)

    threads = [threading.Thread(target=read) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(seen) == 12 and all(a is seen[0] for a in seen)


def test_a_cache_built_again_is_read_again(cache):
    root, teacher_id = cache
    words = ["w1", "w2"]
    before = shared_vectors(root, teacher_id, words)
    # The cache set aside and made again under the same name, with other answers: a new file, other vectors.
    aside = root / "aside"
    aside.mkdir()
    for f in root.glob(f"{teacher_id}.sqlite*"):
        f.rename(aside / f.name)
    CachedTeacher(_Shifted(16), root).embed(words)
    after = shared_vectors(root, teacher_id, words)
    np.testing.assert_array_equal(after, cached_vectors(root, teacher_id, words))
    assert not np.array_equal(after, before)


def test_missing_words_and_caches_keep_their_sentences(cache, tmp_path):
    root, teacher_id = cache
    with pytest.raises(TeacherUnavailable, match="no cached"):
        shared_vectors(root, teacher_id, ["never-asked"])
    with pytest.raises(TeacherUnavailable, match="No cached vectors"):
        shared_vectors(tmp_path / "nothing-here", teacher_id, ["w1"])


class _Shifted(HashTeacher):
    """The fake teacher with other answers (its id unchanged): vectors of other texts."""

    def embed(self, texts, progress=None):
        return super().embed([f"other {t}" for t in texts], progress)


def test_a_process_rebuilds_a_bounded_number_of_students_at_once(cache):
    """Thirty submissions scored together hold at most REBUILT_AT_ONCE students at a time; each still gets its own
    vectors beside the one shared teacher copy."""
    import polars as pl
    import torch

    from core.runs import evaluated

    root, teacher_id = cache
    bound = evaluated.REBUILT_AT_ONCE
    words = [f"w{i}" for i in range(20)]
    lock, go, entered = threading.Lock(), threading.Event(), threading.Semaphore(0)
    active, peak = [0], [0]

    class Student:
        def __init__(self, value):
            self.value = value

        def predict_all(self):
            return torch.full((len(words), 16), float(self.value))

    class Stored:
        def __init__(self, value):
            self.run_id, self.value = f"run-{value}", value
            self.meta = {"teacher_id": teacher_id}
            self.items = pl.DataFrame({"item": words, "split": ["training"] * 20, "poisoned": [False] * 20})

        def student(self, device, cache_root):
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            entered.release()
            go.wait(timeout=120)  # held until the test has looked
            with lock:
                active[0] -= 1
            return Student(self.value)

    results, errors = {}, []

    def score(value):
        try:
            results[value] = evaluated.run_vectors(Stored(value), root)
        except Exception as err:  # noqa: BLE001 - the assert below names it
            errors.append(err)

    threads = [threading.Thread(target=score, args=(v,)) for v in range(bound + 3)]
    for t in threads:
        t.start()
    try:
        for _ in range(bound):
            assert entered.acquire(timeout=120), "the students allowed at once never started"
        # More would have entered by now if nothing held them (they were all started before the first entered).
        assert not entered.acquire(timeout=2), f"more than {bound} students were rebuilt at once"
    finally:
        go.set()
        for t in threads:
            t.join(timeout=120)
    assert not errors and peak[0] == bound and len(results) == bound + 3
    assert len({id(r.teacher) for r in results.values()}) == 1  # one teacher copy for all
    assert all(float(r.student[0, 0]) == v for v, r in results.items())
