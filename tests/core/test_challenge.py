"""core.classroom.challenge: hidden words drawn by a secret and split public / private, the rules a submission must
keep (budget counted from the lab's record of the run, hidden words never asked, deadline, submissions a day, the
challenge's teacher and words), and the leaderboard's reveal of the private scores at the deadline."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from core.classroom import challenge as ch

WORDS = [f"w{i:03d}" for i in range(200)]


def _challenge(lab_home, **over):
    settings = dict(title="Fewest answers", teacher="hash-32", vocabulary="test", budget=40, deadline=1000.0, per_day=2)
    settings.update(over)
    return ch.create_challenge(None, WORDS, now=0.0, **settings)


def _hidden(lab_home, challenge):
    data = json.loads((ch.challenges_dir() / challenge.id / "hidden.json").read_text())
    return data["public"], data["private"]


def _vectors(asked: set, good: set, rng=np.random.default_rng(0)):
    """A run over WORDS that asked about `asked`; its student equals the teacher on `good`, is random elsewhere."""
    teacher = rng.normal(size=(len(WORDS), 8))
    student = np.where(np.isin(WORDS, sorted(good))[:, None], teacher, rng.normal(size=teacher.shape))
    groups = tuple("training" if w in asked else "held-out" for w in WORDS)
    return SimpleNamespace(items=tuple(WORDS), teacher=teacher, student=student, groups=groups)


META = {"teacher_id": "hash-32", "config": {"vocabulary": "test"}, "status": "finished"}


def _meta(challenge, asked: set, owner: str = "t-a", **over) -> dict:
    """A run.json of a run the lab trained for the challenge: the ticket of its entry in the teacher's query log."""
    return {**META, "ticket": ch.record_answers(None, challenge, owner, sorted(asked)), **over}


def test_hidden_words_are_drawn_by_a_secret_and_kept_off_every_page(lab_home):
    challenge = _challenge(lab_home)
    public, private = _hidden(lab_home, challenge)
    assert len(public) == len(private) == 10 and not set(public) & set(private)
    again = _challenge(lab_home)  # another secret, other words
    assert _hidden(lab_home, again) != (public, private)
    listed = ch.list_challenges()
    assert {c.id for c in listed} == {challenge.id, again.id}
    shown = (ch.challenges_dir() / challenge.id / "challenge.json").read_text()
    assert not [w for w in public + private if w in shown]  # what pages read names no hidden word
    assert (ch.challenges_dir() / challenge.id / "hidden.json").stat().st_mode & 0o077 == 0


def test_a_submission_keeps_the_rules_or_is_refused_with_a_sentence(lab_home):
    challenge = _challenge(lab_home)
    public, private = _hidden(lab_home, challenge)
    plain = [w for w in WORDS if w not in set(public) | set(private)]
    asked = set(plain[:30])
    over = set(plain[:41])
    with pytest.raises(ch.Refused, match="at most 40"):
        ch.submit(
            None, challenge, owner="t-a", run_id="r0", meta=_meta(challenge, over), vectors=_vectors(over, set()), now=1
        )
    with pytest.raises(ch.Refused, match="hidden words"):
        hidden = {public[0]}
        ch.submit(
            None,
            challenge,
            owner="t-a",
            run_id="r0",
            meta=_meta(challenge, hidden),
            vectors=_vectors(hidden, set()),
            now=1,
        )
    with pytest.raises(ch.Refused, match="teacher hash-32"):
        other = _meta(challenge, asked, teacher_id="minilm")
        ch.submit(None, challenge, owner="t-a", run_id="r0", meta=other, vectors=_vectors(asked, set()), now=1)
    # The answers are the lab's count, never the run's: no record, another's record, or other training words: refused.
    with pytest.raises(ch.Refused, match="no record"):
        ch.submit(None, challenge, owner="t-a", run_id="r0", meta=META, vectors=_vectors(asked, set()), now=1)
    with pytest.raises(ch.Refused, match="no record"):
        ch.submit(
            None,
            challenge,
            owner="t-a",
            run_id="r0",
            meta={**META, "ticket": "made-up"},
            vectors=_vectors(asked, set()),
            now=1,
        )
    with pytest.raises(ch.Refused, match="someone else"):
        ch.submit(
            None,
            challenge,
            owner="t-a",
            run_id="r0",
            meta=_meta(challenge, asked, "t-b"),
            vectors=_vectors(asked, set()),
            now=1,
        )
    small = _meta(challenge, set(plain[:5]))  # a record of 5 answers on a run that learned from 30
    with pytest.raises(ch.Refused, match="not the ones the lab asked"):
        ch.submit(None, challenge, owner="t-a", run_id="r0", meta=small, vectors=_vectors(asked, set()), now=1)
    shown = ch.submit(
        None,
        challenge,
        owner="t-a",
        run_id="r1",
        meta=_meta(challenge, asked),
        vectors=_vectors(asked, set(public)),
        now=1,
    )
    assert shown["answers"] == 30 and shown["public"] == pytest.approx(1.0) and "private" not in shown
    ch.submit(
        None, challenge, owner="t-a", run_id="r2", meta=_meta(challenge, asked), vectors=_vectors(asked, set()), now=2
    )
    with pytest.raises(ch.Refused, match="limit is 2"):
        ch.submit(
            None,
            challenge,
            owner="t-a",
            run_id="r3",
            meta=_meta(challenge, asked),
            vectors=_vectors(asked, set()),
            now=3,
        )
    with pytest.raises(ch.Refused, match="closed"):
        ch.submit(
            None,
            challenge,
            owner="t-b",
            run_id="r4",
            meta=_meta(challenge, asked, "t-b"),
            vectors=_vectors(asked, set()),
            now=1000,
        )
    assert [s["run_id"] for s in ch.submissions(None, challenge)] == ["r1", "r2"]  # refused ones left no trace
    log = ch.challenges_dir() / challenge.id / "answers.jsonl"
    assert log.stat().st_mode & 0o077 == 0  # the query log names words: the server's only


def test_the_leaderboard_shows_public_scores_and_reveals_the_private_ones_at_the_deadline(lab_home):
    challenge = _challenge(lab_home)
    public, private = _hidden(lab_home, challenge)
    plain = [w for w in WORDS if w not in set(public) | set(private)]
    tuned = _vectors(set(plain[:10]), set(public))  # tuned to the public part
    honest = _vectors(set(plain[:10]), set(private) | set(public[:5]))  # good everywhere, less on the public part
    ch.submit(None, challenge, owner="t-a", run_id="ra", meta=_meta(challenge, set(plain[:10])), vectors=tuned, now=1)
    ch.submit(
        None, challenge, owner="t-b", run_id="rb", meta=_meta(challenge, set(plain[:10]), "t-b"), vectors=honest, now=1
    )
    names = {"t-a": "Ada", "t-b": "Bob"}
    live = ch.leaderboard(challenge, ch.submissions(None, challenge), names, now=10)
    assert live["person"].to_list() == ["Ada", "Bob"] and live["private"].is_null().all()
    final = ch.leaderboard(challenge, ch.submissions(None, challenge), names, now=1000)
    assert final["person"].to_list() == ["Bob", "Ada"] and final["rank"].to_list() == [1, 2]
    assert final["private"][0] == pytest.approx(1.0)


def test_a_challenge_run_never_asks_the_teacher_about_a_hidden_word(lab_home, fake_teacher):
    from core.config import TrainConfig
    from core.paths import cache_dir, runs_dir
    from core.runs.evaluated import run_vectors
    from core.runs.experiment import prepare_items
    from core.runs.store import load_run
    from core.teachers.teacher import CachedTeacher

    prepared = prepare_items(WORDS, "none", CachedTeacher(fake_teacher, cache_dir() / "teachers"))
    challenge = _challenge(lab_home, teacher=prepared.teacher_id)
    public, private = _hidden(lab_home, challenge)
    with pytest.raises(ch.Refused, match="allows 40"):
        ch.challenge_run(None, challenge, TrainConfig(p=0.5, vocabulary="test"), prepared, runs_dir(), "t-a")
    config = TrainConfig(teacher=prepared.teacher_id, model="B", p=0.2, epochs=2, vocabulary="test")  # 40 answers
    run = ch.challenge_run(None, challenge, config, prepared, runs_dir(), "t-a")
    list(run)
    stored = load_run(runs_dir(), run.run_id)
    asked = set(stored.items.filter(stored.items["split"] == "training")["item"].to_list())
    assert len(asked) == 40 and not asked & (set(public) | set(private))
    vectors = run_vectors(stored, cache_dir() / "teachers")
    assert ch.recorded_answers(None, challenge, stored.meta["ticket"])["words"] == sorted(asked)  # logged as drawn
    meta = {**stored.meta, "teacher_id": challenge.teacher}
    entry = ch.submit(None, challenge, owner="t-a", run_id=run.run_id, meta=meta, vectors=vectors, now=1)
    assert entry["answers"] == 40 and -1 <= entry["public"] <= 1
