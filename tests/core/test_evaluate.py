"""The evaluator against an independent implementation (gensim's KeyedVectors) and by hand."""

from __future__ import annotations

import numpy as np
import pytest

from core.evaluation.benchmarks import (
    Analogy,
    Benchmarks,
    BenchmarkUnavailable,
    WordPair,
    load_analogies,
    load_pairs,
    parse_analogies,
    parse_pairs,
)
from core.evaluation.evaluate import (
    analogy_accuracy,
    average_baseline,
    evaluate,
    neighbour_overlap,
    pair_similarity,
    scope_mask,
)


def structured_vectors(seed: int = 0, n_pairs: int = 30, dim: int = 12, noise: float = 0.6):
    """Word pairs (x_i, y_i) with y_i = x_i + a shared offset + noise: analogies x_i : y_i :: x_j : y_j
    are right often but not always, so accuracy lands strictly between 0 and 1."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n_pairs, dim))
    offset = rng.normal(size=dim) * 1.5
    pairs = base + offset + rng.normal(size=(n_pairs, dim)) * noise
    words = [f"x{i}" for i in range(n_pairs)] + [f"y{i}" for i in range(n_pairs)] + ["extra"]
    vectors = np.vstack([base, pairs, rng.normal(size=(1, dim))]).astype(np.float32)
    return words, vectors


def analogy_file(words_n: int = 30, seed: int = 1) -> str:
    rng = np.random.default_rng(seed)
    lines = [": first"]
    for _ in range(60):
        i, j = rng.choice(words_n, 2, replace=False)
        lines.append(f"x{i} y{i} x{j} y{j}")
    lines.append(": second")
    for _ in range(40):
        i, j = rng.choice(words_n, 2, replace=False)
        lines.append(f"X{i} Y{i} X{j} Y{j}")  # upper case: both implementations fold case
    lines.append("x1 y1 missing y2")  # out of vocabulary: skipped by both
    return "\n".join(lines) + "\n"


def keyed_vectors(words, vectors):
    gensim = pytest.importorskip("gensim")
    kv = gensim.models.KeyedVectors(vectors.shape[1])
    kv.add_vectors(words, vectors)
    return kv


def test_analogies_match_gensim(tmp_path):
    words, vectors = structured_vectors()
    path = tmp_path / "questions.txt"
    path.write_text(analogy_file())
    gensim_score, gensim_sections = keyed_vectors(words, vectors).evaluate_word_analogies(str(path))
    ours = analogy_accuracy(vectors, words, load_analogies(path))
    assert 0.1 < ours.accuracy < 0.95  # a meaningful comparison, not all right or all wrong
    assert ours.accuracy == pytest.approx(gensim_score, abs=1e-6)
    gensim_by_section = {
        s["section"]: (len(s["correct"]), len(s["correct"]) + len(s["incorrect"])) for s in gensim_sections
    }
    for section, correct, total in ours.sections():
        assert gensim_by_section[section] == (correct, total)
    assert ours.skipped == 1


@pytest.mark.parametrize("seed", [0, 3])
def test_word_pairs_match_gensim(tmp_path, seed):
    words, vectors = structured_vectors(seed)
    rng = np.random.default_rng(seed)
    lines = ["# a comment", "# word1\tword2\tscore"]
    for _ in range(50):
        a, b = rng.choice(len(words), 2, replace=False)
        lines.append(f"{words[a]}\t{words[b]}\t{rng.uniform(0, 10):.2f}")
    lines.append("x1\tnowhere\t5.0")
    path = tmp_path / "pairs.tsv"
    path.write_text("\n".join(lines) + "\n")
    _, (gensim_rho, _), gensim_oov = keyed_vectors(words, vectors).evaluate_word_pairs(str(path))
    ours = pair_similarity(vectors, words, load_pairs(path))
    assert ours.spearman == pytest.approx(gensim_rho, abs=1e-6)
    assert ours.skipped == 1 and gensim_oov == pytest.approx(100 * 1 / 51)


def test_hand_worked_3cosadd():
    # man : king :: woman : ?   (vectors in 3-d: royal, male, female)
    words = ["king", "man", "woman", "queen", "apple"]
    v = np.array(
        [
            [1.0, 0.3, 0.0],  # king
            [0.0, 1.0, 0.0],  # man
            [0.1, 0.8, 0.6],  # woman
            [0.6, 0.6, 0.8],  # queen
            [0.2, 0.9, 0.1],  # apple
        ],
        dtype=np.float32,
    )
    # By hand: unit(king) - unit(man) + unit(woman) = (1.0573, 0.0834, 0.5970); its cosine with
    # king 0.8518, man 0.0685, woman 0.4338, queen 0.8187, apple 0.3067. The closest vector is
    # king itself, a question word, so 3CosAdd answers with the best of the rest: queen.
    result = analogy_accuracy(v, words, [Analogy("family", "man", "king", "woman", "queen")])
    assert result.predicted == ("queen",) and result.accuracy == 1.0
    assert result.sections() == [("family", 1, 1)]
    # The same question with apple as the expected answer is counted wrong.
    assert analogy_accuracy(v, words, [Analogy("family", "man", "king", "woman", "apple")]).accuracy == 0.0


def test_scope_filters_questions_and_pairs():
    words, vectors = structured_vectors()
    qs = parse_analogies(analogy_file())
    train = np.arange(0, 61, 2)
    held = scope_mask(len(words), train, "heldout")
    result = analogy_accuracy(vectors, words, qs, held)
    for q in result.questions:
        assert all(held[words.index(w)] for w in (q.a, q.b, q.c, q.d))
    assert result.total + result.skipped == len(qs)
    with pytest.raises(ValueError, match="scope"):
        scope_mask(3, np.array([0]), "everything")


def test_average_baseline_and_overlap():
    rng = np.random.default_rng(0)
    teacher = rng.normal(size=(20, 8)).astype(np.float32) + 2.0  # a shared direction, like real teachers
    teacher /= np.linalg.norm(teacher, axis=1, keepdims=True)
    train = np.arange(5)
    base = average_baseline(teacher, teacher, train)
    np.testing.assert_allclose(base[:5], teacher[:5])
    assert np.allclose(base[5:], base[5]) and np.linalg.norm(base[5]) == pytest.approx(1.0, abs=1e-6)
    assert neighbour_overlap(teacher, teacher, np.arange(20), k=5) == 1.0
    assert neighbour_overlap(rng.normal(size=(20, 8)), teacher, np.arange(20), k=5) < 0.6


def test_evaluate_puts_student_beside_references():
    words, vectors = structured_vectors()
    teacher = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    benchmarks = Benchmarks(
        tuple(parse_analogies(analogy_file())),
        (WordPair("x1", "y1", 3.0), WordPair("x2", "y3", 1.0), WordPair("x4", "y4", 2.0)),
        (),
    )
    ev = evaluate(
        words, teacher, teacher + 0.01, teacher, np.arange(0, 61, 3), benchmarks=benchmarks, student_name="near copy"
    )
    assert ev.student.cosine > 0.99 and ev.teacher.cosine == pytest.approx(1.0)
    assert ev.baseline.cosine < ev.student.cosine
    summary = ev.summary()
    assert summary["analogy_pct_of_teacher"] == pytest.approx(
        100 * ev.student.analogies.accuracy / ev.teacher.analogies.accuracy
    )
    assert summary["wordsim_spearman"] is None  # no pairs: no number, not a fake one


def test_bad_benchmark_files_get_a_sentence(tmp_path):
    with pytest.raises(ValueError, match="section"):
        parse_analogies("a b c d\n")
    with pytest.raises(ValueError, match="No word pairs"):
        parse_pairs("# only a comment\n")
    binary = tmp_path / "b.txt"
    binary.write_bytes(b"\xff\xfe\x00junk")
    with pytest.raises(BenchmarkUnavailable, match="not UTF-8"):
        load_analogies(binary)
    with pytest.raises(BenchmarkUnavailable, match="Could not read"):
        load_pairs(tmp_path / "nowhere.tsv")


def test_bundled_benchmarks_load():
    pytest.importorskip("gensim")
    b = Benchmarks.bundled()
    assert len(b.analogies) == 19544 and len(b.simlex) == 999 and len(b.wordsim) > 300


def test_analogy_answers_lists_the_allowed_questions_with_both_answers():
    from core.evaluation.benchmarks import Analogy
    from core.evaluation.evaluate import analogy_answers

    items = ["man", "woman", "king", "queen", "cat"]
    teacher = np.eye(5, dtype=np.float32)
    teacher[3] = teacher[2] + teacher[1] - teacher[0]  # queen = king + woman - man: the teacher gets it right
    student = np.eye(5, dtype=np.float32)
    student[4] = [0, 1, 1, 0, 1]  # the student puts "cat" where the answer should be
    questions = [Analogy("family", "man", "woman", "king", "queen"), Analogy("family", "man", "cat", "king", "queen")]
    allowed = np.array([True, True, True, True, False])  # "cat" not allowed: the second question is left out
    answers = analogy_answers(student, teacher, items, questions, allowed)
    assert answers["question"] == ["woman − man + king"] and answers["expected"] == ["queen"]
    assert answers["teacher says"] == ["queen"] and answers["student says"] == ["cat"]
    assert answers["section"] == ["family"]
