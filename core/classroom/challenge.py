"""Challenges: "who imitates the teacher best with at most N answers?", scored on words nobody may see.

A teacher sets one: the teacher model and word list the runs must use, the answer budget N, the metric (held-out
cosine to the teacher, or analogies solved as % of the teacher's), a deadline and how many submissions each person
may make a day. The lab then draws, with a
secret seed, a hidden share of the word list, and splits it into a public part (scored live on the leaderboard) and a
private part (revealed at the deadline: a public board alone rewards tuning to it, the Kaggle lesson). The hidden
words and the seed are written to <lab home>/classroom/challenges/<id>/hidden.json (readable by the server only) and
never shown.

A submission is a stored run. The lab counts the answers it used from its own record of what the teacher was asked
for that run (`record_answers`: the teacher's query log, <challenge>/answers.jsonl, readable by the server only,
written by `challenge_run` when it draws the words; the run carries only the record's ticket), never from what the
run's files say: a run with no record, someone else's record, or training words other than the recorded ones is
refused. A run over the budget, on another teacher or word list, made before the challenge or after its deadline,
or that asked the teacher about a hidden word, is refused with a sentence. Its score, on the public and on the private hidden words
(held-out words of the run, since it never asked about them), is by the challenge's metric:
- heldout_cosine: the mean cosine of its student's vectors to the teacher's on that part's words;
- analogy_pct_of_teacher: the Google analogy questions (a : b :: c : d) whose four words are in the word list and
  whose answer d is one of that part's words, answered by 3CosAdd over the whole word list with the student's vectors
  and with the teacher's; the student's accuracy as % of the teacher's (None when the teacher solves none of them).
  Each question counts for one part only (its answer's), and a challenge is refused when either part would have
  fewer than MIN_QUESTIONS of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

from core.classroom.board import classroom_dir
from core.config import StudentKind, TrainConfig
from core.data.dataset import build_dataset
from core.evaluation.benchmarks import Benchmarks, BenchmarkUnavailable
from core.evaluation.evaluate import percent_of, solve_analogies, usable_analogies
from core.paths import writing
from core.runs.experiment import PreparedData, TrainingRun

METRICS = {
    "heldout_cosine": "held-out cosine to the teacher (higher is better)",
    "analogy_pct_of_teacher": "analogies solved, as % of the teacher's (higher is better)",
}
MIN_QUESTIONS = 5  # analogy questions whose answer is hidden, in each part: fewer would make the score a coin toss
# Students whose build does not depend on how many answers they get (the kernel adapter sizes its centres by them).
STUDENTS = (StudentKind.A, StudentKind.B, StudentKind.RIDGE, StudentKind.MLP, StudentKind.SUBWORD)
CHALLENGE_ID = re.compile(r"^ch-[0-9a-f]{8}\Z")
DAY = 86_400.0


class Refused(ValueError):
    """A submission the challenge does not take; the message says why, in one sentence."""


@dataclass(frozen=True)
class Challenge:
    id: str
    title: str
    teacher: str  # the teacher id a run must have used ('minilm', 'hash-32', ...)
    vocabulary: str  # the word list's label a run must have used
    budget: int  # most teacher answers a run may use
    deadline: float  # epoch seconds
    per_day: int = 3  # submissions per person per day
    metric: str = "heldout_cosine"
    hidden_share: float = 0.1
    public_share: float = 0.5
    created: float = 0.0

    def __post_init__(self) -> None:
        if not self.title.strip() or len(self.title) > 120:
            raise ValueError("A challenge needs a title of 1 to 120 characters.")
        if isinstance(self.budget, bool) or not isinstance(self.budget, int) or self.budget < 1:
            raise ValueError(f"The answer budget must be a whole number of answers, at least 1; got {self.budget!r}.")
        if isinstance(self.per_day, bool) or not isinstance(self.per_day, int) or not 1 <= self.per_day <= 100:
            raise ValueError(f"Submissions per day must be between 1 and 100; got {self.per_day!r}.")
        if self.metric not in METRICS:
            raise ValueError(f"The metric must be one of {', '.join(METRICS)}; got {self.metric!r}.")
        if not 0.01 <= self.hidden_share <= 0.5 or not 0.1 <= self.public_share <= 0.9:
            raise ValueError("The hidden share must be 0.01–0.5 of the words and the public part 0.1–0.9 of those.")
        if not self.deadline > self.created:
            raise ValueError("The deadline must come after the challenge starts.")


def challenges_dir(home: Path | None = None) -> Path:
    return classroom_dir(home) / "challenges"


def _folder(home: Path | None, challenge_id: str) -> Path:
    if not isinstance(challenge_id, str) or not CHALLENGE_ID.match(challenge_id):
        raise ValueError(f"{challenge_id!r:.40} is not a challenge id.")
    return challenges_dir(home) / challenge_id


def _rank(secret: str, word: str) -> str:
    return hashlib.sha256(f"{secret}\n{word}".encode()).hexdigest()


def hidden_split(words: list[str], secret: str, hidden_share: float, public_share: float) -> tuple[list, list]:
    """(public hidden words, private hidden words): the hidden share of `words` drawn by the secret, then split.

    >>> public, private = hidden_split([f"w{i}" for i in range(100)], "s", 0.1, 0.5)
    >>> len(public), len(private), set(public) & set(private)
    (5, 5, set())
    """
    unique = sorted(set(words))
    n_hidden = max(2, math.ceil(hidden_share * len(unique)))
    if n_hidden >= len(unique):
        raise ValueError(f"A word list of {len(unique):,} words is too small to hide {n_hidden:,} of them.")
    hidden = sorted(unique, key=lambda w: _rank(secret, w))[:n_hidden]
    n_public = min(n_hidden - 1, max(1, round(public_share * n_hidden)))
    order = sorted(hidden, key=lambda w: _rank(secret + "/public", w))
    return sorted(order[:n_public]), sorted(order[n_public:])


def _write_json(path: Path, value, private: bool = False) -> None:
    with writing(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(3)}")
        try:
            tmp.write_text(json.dumps(value))
            if private:
                os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)


def analogy_questions(questions=None) -> tuple:
    """The analogy questions a challenge scored by analogies asks: `questions` when given, else the bundled Google
    benchmark; a Refused (one sentence) when it is not installed."""
    if questions is not None:
        return tuple(questions)
    try:
        return Benchmarks.bundled().analogies
    except BenchmarkUnavailable as err:
        raise Refused(f"The analogy questions cannot be read, so no analogy score can be given: {err}") from None


def hidden_questions(questions, items, part: set) -> tuple[list, np.ndarray]:
    """The questions that score `part` (a set of hidden words): their four words in `items`, their answer in `part`;
    and their (n, 4) indices into `items`.

    >>> from core.evaluation.evaluate import Analogy
    >>> q = [Analogy("s", "man", "king", "woman", "queen"), Analogy("s", "man", "woman", "king", "queen")]
    >>> [x.b for x in hidden_questions(q, ["man", "king", "woman", "queen"], {"queen"})[0]]
    ['king', 'woman']
    """
    usable, ids = usable_analogies(questions, {w: i for i, w in enumerate(items)})
    keep = [i for i, q in enumerate(usable) if q.d in part]
    return [usable[i] for i in keep], ids[keep]


def create_challenge(
    home: Path | None, words: list[str], now: float | None = None, questions=None, **settings
) -> Challenge:
    """A new challenge over `words` (the word list's label in settings['vocabulary']); draws and keeps its hidden words.
    Scored by analogies, it is refused (a sentence) when either hidden part answers fewer than MIN_QUESTIONS of the
    analogy questions (`questions`, else the bundled benchmark)."""
    now = time.time() if now is None else float(now)
    challenge = Challenge(id=f"ch-{secrets.token_hex(4)}", created=now, **settings)
    secret = secrets.token_hex(16)
    public, private = hidden_split(list(words), secret, challenge.hidden_share, challenge.public_share)
    if challenge.metric == "analogy_pct_of_teacher":
        asked = analogy_questions(questions)
        counts = [len(hidden_questions(asked, list(words), set(part))[0]) for part in (public, private)]
        if min(counts) < MIN_QUESTIONS:
            raise Refused(
                f"Only {min(counts)} analogy questions would score one half of this word list's hidden words (at least "
                f"{MIN_QUESTIONS} are needed): score this word list by held-out cosine, or choose a larger one."
            )
    folder = _folder(home, challenge.id)
    _write_json(folder / "hidden.json", {"secret": secret, "public": public, "private": private}, private=True)
    _write_json(folder / "challenge.json", asdict(challenge))
    return challenge


def list_challenges(home: Path | None = None) -> list[Challenge]:
    """Every challenge, the newest first (unreadable ones left out)."""
    found = []
    with contextlib.suppress(OSError):
        for folder in challenges_dir(home).iterdir():
            with contextlib.suppress(OSError, ValueError, TypeError):
                found.append(Challenge(**json.loads((folder / "challenge.json").read_text())))
    return sorted(found, key=lambda c: -c.created)


def end_challenge(home: Path | None, challenge: Challenge, now: float | None = None) -> Challenge:
    """The teacher ends the challenge now (the lesson is over): its deadline becomes now, so the board reveals the
    private scores and takes no more submissions. Ending one that has closed already changes nothing."""
    now = time.time() if now is None else float(now)
    if now >= challenge.deadline:
        return challenge
    ended = Challenge(**{**asdict(challenge), "deadline": max(now, math.nextafter(challenge.created, math.inf))})
    _write_json(_folder(home, challenge.id) / "challenge.json", asdict(ended))
    return ended


def _hidden(home: Path | None, challenge: Challenge) -> tuple[set, set]:
    data = json.loads((_folder(home, challenge.id) / "hidden.json").read_text())
    return set(data["public"]), set(data["private"])


def challenge_run(
    home: Path | None,
    challenge: Challenge,
    config: TrainConfig,
    prepared: PreparedData,
    runs_root: Path,
    owner: str,
    device: str = "cpu",
    should_stop=None,
) -> TrainingRun:
    """A training for the challenge: the run's teacher answers are drawn (seeded, at random, as the paper does) from
    the challenge's words that are not hidden, so the teacher is never asked about a hidden word; at most the budget.
    Iterate it like any TrainingRun. Refused (a sentence) for another teacher or word list, a student the challenge
    does not take, or a p that asks more answers than the budget."""
    if prepared.teacher_id != challenge.teacher or config.vocabulary != challenge.vocabulary:
        raise Refused(
            f"Prepare the challenge's data first: the teacher {challenge.teacher} and the word list "
            f"{challenge.vocabulary} (Data & teacher)."
        )
    if config.model not in STUDENTS:
        raise Refused(f"The challenge takes these students: {', '.join(k.label for k in STUDENTS)}.")
    items = list(prepared.items)
    asked = max(1, round(config.p * len(items)))
    if asked > challenge.budget:
        raise Refused(
            f"p = {config.p:g} asks the teacher about {asked:,} words; the challenge allows {challenge.budget:,} "
            f"(p at most {challenge.budget / len(items):.4f})."
        )
    public, private = _hidden(home, challenge)
    allowed = np.array([i for i, w in enumerate(items) if w not in public and w not in private])
    train_idx = np.sort(np.random.default_rng(config.seed).choice(allowed, size=asked, replace=False))
    ticket = record_answers(home, challenge, owner, [items[i] for i in train_idx])  # the teacher's query log
    run = TrainingRun(
        config,
        prepared,
        runs_root,
        device=device,
        should_stop=should_stop,
        extra={"owner": owner, "challenge": challenge.id, "ticket": ticket},
    )
    # The lab's own draw replaces the run's: every word it may ask about is outside the hidden set.
    run.dataset = build_dataset(
        prepared.items,
        prepared.clean,
        config.p,
        config.poison,
        config.seed,
        config.adversary,
        config.poison_scope,
        train_idx=train_idx,
    )
    return run


def _answers_path(home: Path | None, challenge: Challenge) -> Path:
    return _folder(home, challenge.id) / "answers.jsonl"


def record_answers(home: Path | None, challenge: Challenge, owner: str, words: list[str]) -> str:
    """Log that the teacher answered `words` for `owner`'s run (the teacher's query log, appended, readable by the
    server only); the ticket the run carries in its run.json, which `submit` looks up."""
    ticket = secrets.token_hex(12)
    path = _answers_path(home, challenge)
    entry = {"ticket": ticket, "owner": owner, "at": time.time(), "answers": len(words), "words": list(words)}
    with writing(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
    return ticket


def recorded_answers(home: Path | None, challenge: Challenge, ticket) -> dict | None:
    """The query log's entry for `ticket` (owner, answers, words), or None when the lab has none."""
    if not isinstance(ticket, str) or not ticket:
        return None
    with contextlib.suppress(OSError):
        for line in _answers_path(home, challenge).read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict) and entry.get("ticket") == ticket and isinstance(entry.get("words"), list):
                    return entry
    return None


def _submissions_path(home: Path | None, challenge: Challenge) -> Path:
    return _folder(home, challenge.id) / "submissions.jsonl"


def submissions(home: Path | None, challenge: Challenge) -> list[dict]:
    path = _submissions_path(home, challenge)
    found = []
    with contextlib.suppress(OSError):
        for line in path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict) and {"owner", "run_id", "at", "public", "private"} <= set(entry):
                    found.append(entry)
    return found


def _analogy_pct(vectors, questions, part: set) -> float | None:
    """The student's accuracy on `part`'s questions (`hidden_questions`) as % of the teacher's; None when there are
    none or the teacher solves none."""
    _, ids = hidden_questions(questions, vectors.items, part)
    if not len(ids):
        return None
    student = float(np.mean(solve_analogies(np.asarray(vectors.student, dtype=np.float32), ids) == ids[:, 3]))
    teacher = float(np.mean(solve_analogies(np.asarray(vectors.teacher, dtype=np.float32), ids) == ids[:, 3]))
    return percent_of(student, teacher)


def score(challenge: Challenge, vectors, part: set, questions=None) -> float | None:
    """A run's score on one part of the hidden words, by the challenge's metric (see the module's docstring)."""
    if challenge.metric == "analogy_pct_of_teacher":
        return _analogy_pct(vectors, analogy_questions(questions), part)
    value = _mean_cosine(vectors, part)
    return None if math.isnan(value) else value


def word_list_name(label: str) -> str:
    """A word list's label (core.data.corpus.Vocabulary.label) as a person reads it.

    >>> word_list_name("default-10002-23658c7a"), word_list_name("my-words.txt-250-0a1b2c3d")
    ('the default 10,002 words', 'my-words.txt (250 words)')
    """
    source, size, _ = (label.rsplit("-", 2) + ["", ""])[:3] if label.count("-") >= 2 else (label, "", "")
    if not size.isdigit():
        return label
    return f"the default {int(size):,} words" if source == "default" else f"{source} ({int(size):,} words)"


def shown(challenge: Challenge, value) -> str:
    """A score as the board writes it: '0.4213' (cosine), '42.0 % of the teacher' (analogies), 'no score'."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "no score"
    return f"{value:.1f} % of the teacher" if challenge.metric == "analogy_pct_of_teacher" else f"{value:.4f}"


def _mean_cosine(vectors, words: set) -> float:
    index = [i for i, w in enumerate(vectors.items) if w in words]
    if not index:
        return float("nan")
    student, teacher = np.asarray(vectors.student)[index], np.asarray(vectors.teacher)[index]
    norms = np.linalg.norm(student, axis=1) * np.linalg.norm(teacher, axis=1)
    return float(np.mean(np.sum(student * teacher, axis=1) / np.where(norms > 0, norms, 1.0)))


def submit(
    home: Path | None,
    challenge: Challenge,
    *,
    owner: str,
    run_id: str,
    meta: dict,
    vectors,
    now: float | None = None,
    questions=None,
) -> dict:
    """Check a stored run against the challenge's rules and score it: the entry written (owner, run_id, at, answers,
    public, private; a score is None when there is none, e.g. the teacher solves none of a part's analogies).
    `meta` is the run's run.json, `vectors` its core.runs.evaluated.RunVectors, `questions` the analogy questions
    (None: the bundled benchmark). Refused (a sentence) when a rule is broken; nothing is written then."""
    now = time.time() if now is None else float(now)
    if now >= challenge.deadline:
        raise Refused("This challenge has closed: its deadline has passed.")
    if meta.get("teacher_id") != challenge.teacher or meta.get("config", {}).get("vocabulary") != challenge.vocabulary:
        raise Refused(
            f"This run was not trained for the challenge: it must use the teacher {challenge.teacher} and the word list "
            f"{challenge.vocabulary}."
        )
    if meta.get("status", "finished") != "finished":
        raise Refused("Only a finished run can be submitted.")
    public, private = _hidden(home, challenge)
    record = recorded_answers(home, challenge, meta.get("ticket"))
    if record is None:
        raise Refused(
            "The lab has no record of the teacher answers this run used: only a run trained for this challenge "
            "(Train and submit) can be submitted."
        )
    if record.get("owner") != owner:
        raise Refused("This run was trained for someone else: submit a run of your own.")
    trained = {w for w, g in zip(vectors.items, vectors.groups) if g in ("training", "poisoned")}
    if trained != set(record["words"]):
        raise Refused(
            "This run's training words are not the ones the lab asked the teacher about for it, so its answers "
            "cannot be counted; train it again with Train and submit."
        )
    used = int(record["answers"])  # the lab's count, from its own log
    if used > challenge.budget:
        raise Refused(f"This run used {used:,} teacher answers; the challenge allows at most {challenge.budget:,}.")
    asked = set(record["words"])
    if asked & (public | private):
        raise Refused(
            f"This run asked the teacher about {len(asked & (public | private)):,} of the challenge's hidden words, "
            "which no run may see; train it on the challenge's word list."
        )
    today = [s for s in submissions(home, challenge) if s["owner"] == owner and now - s["at"] < DAY]
    if len(today) >= challenge.per_day:
        raise Refused(f"You have made {len(today)} submissions in the last 24 hours; the limit is {challenge.per_day}.")
    entry = {
        "owner": owner,
        "run_id": run_id,
        "at": now,
        "answers": used,
        "public": score(challenge, vectors, public, questions),
        "private": score(challenge, vectors, private, questions),
    }
    path = _submissions_path(home, challenge)
    with writing(path.parent), open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")
    return {k: v for k, v in entry.items() if k != "private"}  # the private score stays hidden until the deadline


def leaderboard(
    challenge: Challenge, entries: list[dict], names: dict[str, str], now: float | None = None
) -> pl.DataFrame:
    """rank, person, public, private (None until the deadline), answers, submissions: each person's submission with
    the best public score; ranked by the public score, and after the deadline by the private one (the reveal)."""
    now = time.time() if now is None else float(now)
    revealed = now >= challenge.deadline
    best: dict[str, dict] = {}
    count: dict[str, int] = {}

    def number(value) -> float | None:  # a score the lab could not give (None, or NaN in an older file) ranks last
        return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None

    def key(entry) -> float:
        value = number(entry["public"])
        return -math.inf if value is None else value

    for e in entries:
        count[e["owner"]] = count.get(e["owner"], 0) + 1
        if e["owner"] not in best or key(e) > key(best[e["owner"]]):
            best[e["owner"]] = e
    rows = [
        {
            "person": names.get(owner) or f"no name yet · #{owner[-4:]}",
            "public": number(e["public"]),
            "private": number(e["private"]) if revealed else None,
            "answers": int(e["answers"]),
            "submissions": count[owner],
        }
        for owner, e in best.items()
    ]
    schema = {
        "person": pl.Utf8,
        "public": pl.Float64,
        "private": pl.Float64,
        "answers": pl.Int64,
        "submissions": pl.Int64,
    }
    frame = pl.DataFrame(rows, schema=schema).sort(
        "private" if revealed else "public", descending=True, nulls_last=True
    )
    return frame.with_row_index("rank", offset=1)


def challenges_table(home: Path | None = None, now: float | None = None) -> pl.DataFrame:
    """Every challenge at a glance, for the class board, the newest first: title, scored_by, budget, closes (epoch
    seconds), open, people (who submitted), submissions. Nothing of the hidden words."""
    now = time.time() if now is None else float(now)
    rows = []
    for challenge in list_challenges(home):
        entries = submissions(home, challenge)
        rows.append(
            {
                "title": challenge.title,
                "scored_by": METRICS[challenge.metric].split(" (")[0],
                "budget": challenge.budget,
                "closes": challenge.deadline,
                "open": now < challenge.deadline,
                "people": len({e["owner"] for e in entries}),
                "submissions": len(entries),
            }
        )
    schema = {
        "title": pl.Utf8,
        "scored_by": pl.Utf8,
        "budget": pl.Int64,
        "closes": pl.Float64,
        "open": pl.Boolean,
        "people": pl.Int64,
        "submissions": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema)
