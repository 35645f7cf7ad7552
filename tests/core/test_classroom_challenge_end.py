"""A teacher ends a challenge when the lesson ends (core.classroom.challenge.end_challenge): the board reveals the
private scores at once and takes no more submissions."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from core.classroom import challenge as ch

WORDS = [f"w{i:03d}" for i in range(200)]
META = {"teacher_id": "hash-32", "config": {"vocabulary": "test"}, "status": "finished"}


def _vectors():
    teacher = np.random.default_rng(0).normal(size=(len(WORDS), 8))
    return SimpleNamespace(items=tuple(WORDS), teacher=teacher, student=teacher, groups=("held-out",) * len(WORDS))


def test_ending_a_challenge_reveals_the_private_scores_and_closes_it(lab_home):
    made = ch.create_challenge(
        None, WORDS, now=0.0, title="Lesson", teacher="hash-32", vocabulary="test", budget=40, deadline=1000.0
    )
    logged = {**META, "ticket": ch.record_answers(None, made, "t-a", [])}  # the lab's log: it asked nothing
    ch.submit(None, made, owner="t-a", run_id="r1", meta=logged, vectors=_vectors(), now=5)
    assert ch.leaderboard(made, ch.submissions(None, made), {}, now=10)["private"].is_null().all()
    ended = ch.end_challenge(None, made, now=10)
    (listed,) = ch.list_challenges()
    assert listed == ended and listed.deadline == 10 and listed.id == made.id and listed.budget == made.budget
    assert ch.leaderboard(listed, ch.submissions(None, listed), {}, now=10)["private"].to_list() == pytest.approx([1.0])
    with pytest.raises(ch.Refused, match="closed"):
        ch.submit(None, listed, owner="t-b", run_id="r2", meta=META, vectors=_vectors(), now=11)
    assert ch.end_challenge(None, listed, now=500) == listed  # ended already: the first end stands
    assert ch.end_challenge(None, made, now=0.0).deadline > made.created  # never before it began
