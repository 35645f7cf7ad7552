import numpy as np
import pytest

from core.teachers.teacher import CachedTeacher, HashTeacher, TeacherUnavailable, load_teacher, teacher_id_for


def test_hash_teacher_is_deterministic_unit_and_anisotropic(fake_teacher):
    a = fake_teacher.embed(["cat", "dog", "cat"])
    assert a.dtype == np.float32 and a.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1, atol=1e-6)
    np.testing.assert_array_equal(a[0], a[2])
    many = HashTeacher(16).embed([f"w{i}" for i in range(500)])
    assert np.linalg.norm(many.mean(0)) > 0.3  # like real teachers: far from isotropic


def test_cache_computes_each_text_once_ever(tmp_path, fake_teacher):
    calls = []

    class Counting(HashTeacher):
        def embed(self, texts, progress=None):
            calls.extend(texts)
            return super().embed(texts, progress)

    teacher = CachedTeacher(Counting(16), tmp_path)
    first = teacher.embed(["a", "b", "c"])
    second = teacher.embed(["c", "b", "d"])
    assert (teacher.computed, teacher.cached) == (4, 2)
    assert sorted(calls) == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(first[1], second[1])

    again = CachedTeacher(Counting(16), tmp_path)  # a new process, the same disk
    again.embed(["a", "b", "c", "d"])
    assert (again.computed, again.cached) == (0, 4)
    assert again.missing(["a", "z"]) == ["z"]


def test_progress_is_reported(tmp_path, fake_teacher):
    seen = []
    CachedTeacher(fake_teacher, tmp_path).embed(
        [f"w{i}" for i in range(1200)], progress=lambda d, t: seen.append((d, t))
    )
    assert seen[-1] == (1200, 1200) and len(seen) >= 3


def test_broken_cache_file_is_moved_aside(tmp_path, fake_teacher):
    (tmp_path / f"{fake_teacher.id}.sqlite").write_bytes(b"this is not a database" * 100)
    teacher = CachedTeacher(fake_teacher, tmp_path)
    assert teacher.embed(["cat"]).shape == (1, 16)
    assert (tmp_path / f"{fake_teacher.id}.sqlite.broken").exists()


def test_teacher_ids_and_names(tmp_path):
    assert teacher_id_for("minilm") == "all-MiniLM-L6-v2"
    assert teacher_id_for("sentence-transformers/all-MiniLM-L12-v2") == "all-MiniLM-L12-v2"
    assert teacher_id_for(str(tmp_path)).startswith(tmp_path.name)
    assert load_teacher("hash-8").dim == 8
    with pytest.raises(TeacherUnavailable):
        load_teacher("hash-big")
    with pytest.raises(TeacherUnavailable, match="No teacher"):
        load_teacher("  ")


def test_a_folder_that_is_not_a_model_gets_a_sentence(tmp_path):
    with pytest.raises(TeacherUnavailable, match="Could not load the teacher"):
        load_teacher(str(tmp_path))


@pytest.mark.slow
def test_real_minilm_teacher(tmp_path):
    teacher = CachedTeacher(load_teacher("minilm", "cpu"), tmp_path)
    vecs = teacher.embed(["cat", "dog", "car", "kitten"])
    assert vecs.shape == (4, 384) and teacher.id == "all-MiniLM-L6-v2"
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)
    cos = vecs @ vecs.T
    assert cos[0, 3] > cos[0, 2]  # kitten is closer to cat than car is


@pytest.mark.slow
def test_real_mpnet_teacher_assembled_at_setup(tmp_path):
    teacher = load_teacher("mpnet", "cpu")
    vecs = teacher.embed(["king", "queen", "banana"])
    assert vecs.shape == (3, 768)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2]
