"""A challenge scored by analogies as % of the teacher (core.classroom.challenge, issue 30): set, a run trained for it,
submitted, scored on the analogy questions whose answer is a hidden word, the private half revealed at the deadline.

The teacher here is a grid whose analogies all work: the word 'b3a7' is e_3 + f_7, so b0a0 : b0a1 :: b2a0 : b2a1
exactly (b0a1 - b0a0 + b2a0 = e_2 + f_1), and the teacher solves every question. Scores are checked against a
brute-force oracle (every candidate's cosine, one question at a time), not against the code under test."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from core.classroom import challenge as ch
from core.evaluation.benchmarks import Analogy
from core.vectors import unit_rows

BASES, ATTRIBUTES = 12, 12
WORDS = [f"b{i}a{j}" for i in range(BASES) for j in range(ATTRIBUTES)]
QUESTIONS = tuple(
    Analogy("grid", f"b{i1}a{j1}", f"b{i1}a{j2}", f"b{i2}a{j1}", f"b{i2}a{j2}")
    for i1, i2 in itertools.permutations(range(BASES), 2)
    for j1, j2 in itertools.permutations(range(ATTRIBUTES), 2)
    if (i1 + i2 + j1 + j2) % 7 == 0  # a few thousand questions, not 17,424
)


class GridTeacher:
    """'b3a7' -> e_3 + f_7 (unit length): a teacher that solves every grid analogy."""

    id = "grid-24"
    dim = BASES + ATTRIBUTES

    def embed(self, texts, progress=None):
        out = np.zeros((len(texts), self.dim), np.float32)
        for row, text in enumerate(texts):
            base, attribute = text[1:].split("a")
            out[row, int(base)] = out[row, BASES + int(attribute)] = 1.0
        if progress:
            progress(len(texts), len(texts))
        return unit_rows(out)


NEAR_TIE = 1e-5  # two candidates this close in cosine: float32 rounding (the lab's) may pick either


def _oracle_pct(student, teacher, items, questions, part) -> tuple[float, float] | None:
    """Brute force: each question whose answer is in `part`, every other word's cosine to b - a + c, in float64.
    Returns the student's share of the teacher's (low, high): a question whose right answer and best other word are
    within NEAR_TIE counts as wrong in `low`, right in `high` (the lab scores in float32; which of two nearly equal
    words comes first there depends on the order of its sums, e.g. on how many threads the BLAS uses)."""
    index = {w: i for i, w in enumerate(items)}

    def solved(vectors) -> tuple[int, int, int]:
        unit = np.asarray(vectors, np.float64)
        unit = unit / np.linalg.norm(unit, axis=1, keepdims=True)
        sure = close = asked = 0
        for q in questions:
            if q.d not in part or not all(w in index for w in (q.a, q.b, q.c, q.d)):
                continue
            asked += 1
            query = unit[index[q.b]] - unit[index[q.a]] + unit[index[q.c]]
            query /= np.linalg.norm(query)
            cosines = {w: float(unit[i] @ query) for i, w in enumerate(items) if w not in (q.a, q.b, q.c)}
            right = cosines.pop(q.d)
            other = max(cosines.values())
            sure += right > other + NEAR_TIE
            close += abs(right - other) <= NEAR_TIE
        return sure, close, asked

    s_sure, s_close, asked = solved(student)
    t_sure, t_close, _ = solved(teacher)
    assert t_close == 0  # the grid teacher is never in doubt
    if not asked or not t_sure:
        return None
    return 100.0 * s_sure / t_sure, 100.0 * (s_sure + s_close) / t_sure


def _matches_oracle(score: float, oracle: tuple[float, float]) -> bool:
    low, high = oracle
    return low - 1e-9 <= score <= high + 1e-9


def _challenge(lab_home, **over):
    settings = dict(
        title="Analogies",
        teacher="grid-24",
        vocabulary="grid",
        budget=60,
        deadline=1000.0,
        metric="analogy_pct_of_teacher",
    )
    settings.update(over)
    return ch.create_challenge(None, WORDS, now=0.0, questions=QUESTIONS, **settings)


def _hidden(challenge):
    data = json.loads((ch.challenges_dir() / challenge.id / "hidden.json").read_text())
    return set(data["public"]), set(data["private"])


def test_hidden_questions_are_those_whose_answer_is_hidden():
    public = {"b0a1", "b5a5"}
    kept, ids = ch.hidden_questions(QUESTIONS, WORDS, public)
    assert kept and all(q.d in public for q in kept)
    assert len(kept) == sum(q.d in public for q in QUESTIONS)  # every such question: all its words are in the list
    assert [WORDS[i] for i in ids[:, 3]] == [q.d for q in kept]
    few = set(WORDS[:20])  # b0a0 … b0a11, b1a0 … b1a7: only the questions all of whose words are among them
    kept, _ = ch.hidden_questions(QUESTIONS, WORDS[:20], {"b0a1"})
    assert kept == [q for q in QUESTIONS if q.d == "b0a1" and {q.a, q.b, q.c} <= few]


def test_the_score_is_the_students_share_of_the_teachers_analogies_on_each_hidden_half(lab_home):
    from types import SimpleNamespace

    challenge = _challenge(lab_home)
    public, private = _hidden(challenge)
    teacher = GridTeacher().embed(WORDS)
    rng = np.random.default_rng(0)

    def entry(student, owner, now=1.0):
        vectors = SimpleNamespace(items=tuple(WORDS), teacher=teacher, student=student, groups=("held-out",) * 144)
        meta = {"teacher_id": "grid-24", "config": {"vocabulary": "grid"}, "status": "finished"}
        meta["ticket"] = ch.record_answers(None, challenge, owner, [])  # the lab's log: it asked nothing
        ch.submit(
            None, challenge, owner=owner, run_id=f"r-{owner}", meta=meta, vectors=vectors, now=now, questions=QUESTIONS
        )
        return next(e for e in ch.submissions(None, challenge) if e["owner"] == owner)

    perfect = entry(teacher.copy(), "t-a")  # a hand-worked case: the teacher's own vectors score 100 % of the teacher
    assert perfect["public"] == pytest.approx(100.0) and perfect["private"] == pytest.approx(100.0)
    noisy = teacher + rng.normal(scale=0.35, size=teacher.shape).astype(np.float32)
    scored = entry(noisy, "t-b")
    assert _matches_oracle(scored["public"], _oracle_pct(noisy, teacher, WORDS, QUESTIONS, public))
    assert _matches_oracle(scored["private"], _oracle_pct(noisy, teacher, WORDS, QUESTIONS, private))
    assert 0 < scored["public"] < 100
    lost = teacher.copy()  # forgets the public half's words only: their questions fail, the private half's mostly not
    lost[[WORDS.index(w) for w in public]] = rng.normal(size=(len(public), teacher.shape[1]))
    tuned = entry(lost, "t-c")
    assert _matches_oracle(tuned["public"], _oracle_pct(lost, teacher, WORDS, QUESTIONS, public))
    assert tuned["public"] < 25
    assert _matches_oracle(tuned["private"], _oracle_pct(lost, teacher, WORDS, QUESTIONS, private))
    assert tuned["private"] > 50

    names = {"t-a": "Ada", "t-b": "Bob", "t-c": "Cy"}
    live = ch.leaderboard(challenge, ch.submissions(None, challenge), names, now=10)
    assert live["private"].is_null().all() and live["person"][0] == "Ada"
    final = ch.leaderboard(challenge, ch.submissions(None, challenge), names, now=1000)
    assert final["private"].to_list() == pytest.approx(sorted([100.0, scored["private"], tuned["private"]])[::-1])
    assert ch.shown(challenge, 42.04) == "42.0 % of the teacher" and ch.shown(challenge, None) == "no score"


def test_set_train_submit_end_to_end_never_asks_a_hidden_word(lab_home):
    from core.config import TrainConfig
    from core.paths import cache_dir, runs_dir
    from core.runs.evaluated import run_vectors
    from core.runs.experiment import prepare_items
    from core.runs.store import load_run
    from core.teachers.teacher import CachedTeacher

    prepared = prepare_items(WORDS, "none", CachedTeacher(GridTeacher(), cache_dir() / "teachers"))
    challenge = _challenge(lab_home)
    public, private = _hidden(challenge)
    config = TrainConfig(teacher="grid-24", model="subword", p=60 / 144, epochs=3, vocabulary="grid")
    run = ch.challenge_run(None, challenge, config, prepared, runs_dir(), "t-a")
    list(run)
    stored = load_run(runs_dir(), run.run_id)
    asked = set(stored.items.filter(stored.items["split"] == "training")["item"].to_list())
    assert len(asked) == 60 and not asked & (public | private)
    vectors = run_vectors(stored, cache_dir() / "teachers")
    shown = ch.submit(
        None, challenge, owner="t-a", run_id=run.run_id, meta=stored.meta, vectors=vectors, now=1, questions=QUESTIONS
    )
    assert "private" not in shown and shown["answers"] == 60
    assert _matches_oracle(shown["public"], _oracle_pct(vectors.student, vectors.teacher, WORDS, QUESTIONS, public))
    (kept,) = ch.submissions(None, challenge)
    assert _matches_oracle(kept["private"], _oracle_pct(vectors.student, vectors.teacher, WORDS, QUESTIONS, private))


def test_a_word_list_with_too_few_analogies_is_refused_with_a_sentence(lab_home):
    with pytest.raises(ch.Refused, match="Only 0 analogy questions .* held-out cosine"):
        ch.create_challenge(
            None,
            [f"w{i:03d}" for i in range(200)],
            now=0.0,
            title="No analogies here",
            teacher="hash-32",
            vocabulary="test",
            budget=40,
            deadline=1000.0,
            metric="analogy_pct_of_teacher",
        )  # the bundled Google questions: none of them is about 'w017'
    assert ch.list_challenges() == []  # nothing written
    with pytest.raises(ValueError, match="metric must be one of heldout_cosine, analogy_pct_of_teacher"):
        _challenge(lab_home, metric="accuracy")
