"""Honest evaluation: how good a student's vectors are on words whose teacher answer it never saw.

Every score is computed three times on the same words, so it is never read alone:
- the **student**;
- the **teacher** itself (the ceiling: analogy accuracy and word-similarity ρ are the teacher's
  own, not 100 %);
- the **average-vector baseline**: the training words keep the teacher's answers and every other
  word gets their average. Teacher vectors are anisotropic (they share a common direction), so
  this "knows nothing" student already scores a held-out cosine of ~0.45 on all-mpnet-base-v2.

The scores (scope "heldout" by default: only words outside the training fraction count):
- cosine and Euclidean distance to the teacher;
- word analogies (the Google set): 3CosAdd over unit vectors, the three question words excluded,
  top-1 accuracy per section and overall; a question counts only when its four words are in scope;
  candidates are the whole vocabulary;
- word similarity: Spearman ρ between cosine and human scores on SimLex-999 and WordSim-353 pairs
  whose two words are in scope;
- nearest-neighbour agreement: overlap@10 of a word's neighbours under student and teacher
  (averaged over a fixed sample of up to 2,000 words in scope; neighbours among all words).

The benchmark files come from the installed gensim package (its test data) or a file the user gives.
Definitions match gensim's `KeyedVectors.evaluate_word_analogies` / `evaluate_word_pairs` (tested).

>>> import numpy as np
>>> v = np.array([[1, 0], [0, 1], [1, 1], [2, 1]], dtype=np.float32)   # hand-worked 3CosAdd
>>> analogy_accuracy(v, ["a", "b", "c", "d"], [Analogy("s", "a", "b", "c", "d")]).accuracy
1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.evaluation.benchmarks import (
    Analogy,
    Benchmarks,
    WordPair,
)
from core.vectors import average_answer, unit_rows

SCOPES = ("heldout", "training", "all")
CHUNK = 2048  # questions / queries per matrix product
OVERLAP_SAMPLE = 2000  # neighbour overlap@10 is averaged over a fixed sample of this many words in scope


# --- analogies -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnalogyResult:
    questions: tuple[Analogy, ...]  # the usable ones, in file order
    predicted: tuple[str, ...]  # the model's answer to each
    skipped: int  # questions with a word out of the vocabulary or the scope

    @property
    def total(self) -> int:
        return len(self.questions)

    @property
    def correct(self) -> int:
        return sum(p == q.d for p, q in zip(self.predicted, self.questions))

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.total if self.total else None

    def sections(self) -> list[tuple[str, int, int]]:
        """(section, correct, questions) in file order."""
        out: dict[str, list[int]] = {}
        for p, q in zip(self.predicted, self.questions):
            counts = out.setdefault(q.section, [0, 0])
            counts[0] += p == q.d
            counts[1] += 1
        return [(s, c, n) for s, (c, n) in out.items()]


def usable_analogies(
    questions: Sequence[Analogy], index: dict[str, int], allowed: np.ndarray | None = None
) -> tuple[list[Analogy], np.ndarray]:
    """The questions whose four words are in the vocabulary (and in `allowed`, a boolean mask
    over items, when given), and their (n, 4) item indices."""
    keep, rows = [], []
    for q in questions:
        ids = [index.get(w) for w in (q.a, q.b, q.c, q.d)]
        if None in ids or (allowed is not None and not allowed[ids].all()):
            continue
        keep.append(q)
        rows.append(ids)
    return keep, np.asarray(rows, dtype=np.int64).reshape(-1, 4)


def solve_analogies(vectors: np.ndarray, abc: np.ndarray) -> np.ndarray:
    """3CosAdd: for each (a, b, c), the item maximizing cos(x, b - a + c) over unit vectors,
    a, b and c themselves excluded. Returns item indices."""
    import torch

    unit = torch.from_numpy(unit_rows(vectors))
    abc_t = torch.from_numpy(np.ascontiguousarray(abc[:, :3]))
    answers = []
    for s in range(0, len(abc_t), CHUNK):
        part = abc_t[s : s + CHUNK]
        query = unit[part[:, 1]] - unit[part[:, 0]] + unit[part[:, 2]]
        scores = query @ unit.T  # ranking by dot = ranking by cosine (the query's norm is shared)
        scores.scatter_(1, part, float("-inf"))
        answers.append(scores.argmax(dim=1))
    return torch.cat(answers).numpy() if answers else np.empty(0, dtype=np.int64)


def analogy_accuracy(
    vectors: np.ndarray, items: Sequence[str], questions: Sequence[Analogy], allowed: np.ndarray | None = None
) -> AnalogyResult:
    index = {w: i for i, w in enumerate(items)}
    usable, ids = usable_analogies(questions, index, allowed)
    answers = solve_analogies(vectors, ids) if usable else np.empty(0, dtype=np.int64)
    return AnalogyResult(tuple(usable), tuple(items[i] for i in answers), len(questions) - len(usable))


def analogy_answers(
    student: np.ndarray, teacher: np.ndarray, items: Sequence[str], questions: Sequence[Analogy], allowed: np.ndarray
) -> dict[str, list]:
    """Every question whose four words are `allowed` (e.g. held-out), with the teacher's and the student's
    answer: columns section, question ("b − a + c"), expected, teacher says, student says."""
    by_student = analogy_accuracy(student, items, questions, allowed)
    by_teacher = analogy_accuracy(teacher, items, questions, allowed)
    return {
        "section": [q.section for q in by_student.questions],
        "question": [f"{q.b} − {q.a} + {q.c}" for q in by_student.questions],
        "expected": [q.d for q in by_student.questions],
        "teacher says": list(by_teacher.predicted),
        "student says": list(by_student.predicted),
    }


ANSWERS_FILE, ANSWERS_VERSION = "analogy-answers-heldout.json", 1
ANSWER_COLUMNS = ("section", "question", "expected", "teacher says", "student says")
MAX_ANSWERS_BYTES = 8 << 20  # ~19,500 questions at most: a few MB


def read_analogy_answers(folder: Path, n_items: int) -> dict[str, list] | None:
    """The answers `kept_analogy_answers` kept in a run's folder, or None (never computed; unreadable; from another
    version; not a table of the expected columns; made for another number of items)."""
    import json

    try:
        with open(Path(folder) / ANSWERS_FILE, "rb") as f:
            kept = json.loads(f.read(MAX_ANSWERS_BYTES))
    except (OSError, ValueError, RecursionError):
        return None
    answers = kept.get("answers") if isinstance(kept, dict) and kept.get("version") == ANSWERS_VERSION else None
    usable = (
        isinstance(answers, dict)
        and set(answers) == set(ANSWER_COLUMNS)
        and all(isinstance(v, list) and all(isinstance(x, str) for x in v) for v in answers.values())
        and len({len(v) for v in answers.values()}) == 1
        and kept.get("items") == n_items
    )
    return answers if usable else None


def kept_analogy_answers(
    folder: Path,
    student: np.ndarray,
    teacher: np.ndarray,
    items: Sequence[str],
    questions: Sequence[Analogy],
    allowed: np.ndarray,
    keep: bool = True,
) -> dict[str, list]:
    """`analogy_answers`, kept in a run's folder (`analogy-answers-heldout.json`) after the first time: the
    Analogies page answers every benchmark question for a run (15 s for an MPNet run on a busy machine), and the
    warm-up answers them ahead for the story's runs (`core.warm`), so a visitor reads a file. `keep`: write the file
    (a finished run; a run still training changes). A file `read_analogy_answers` cannot use is written again; a
    folder that cannot be written is no error."""
    import json
    import os

    answers = read_analogy_answers(folder, len(items))
    if answers is not None:
        return answers
    answers = analogy_answers(student, teacher, items, questions, allowed)
    if keep:
        tmp = Path(folder) / f".{ANSWERS_FILE}.{os.getpid()}.tmp"
        try:
            tmp.write_text(json.dumps({"version": ANSWERS_VERSION, "items": len(items), "answers": answers}))
            os.replace(tmp, Path(folder) / ANSWERS_FILE)  # atomic: a reader never sees half a file
        except OSError:
            tmp.unlink(missing_ok=True)
    return answers


# --- word similarity ------------------------------------------------------------------------


@dataclass(frozen=True)
class SimilarityResult:
    pairs: int
    skipped: int
    spearman: float | None  # None with fewer than 3 pairs or a constant model score


def pair_similarity(
    vectors: np.ndarray, items: Sequence[str], pairs: Sequence[WordPair], allowed: np.ndarray | None = None
) -> SimilarityResult:
    from scipy.stats import spearmanr

    index = {w: i for i, w in enumerate(items)}
    unit = unit_rows(vectors)
    model, gold = [], []
    for pair in pairs:
        i, j = index.get(pair.a), index.get(pair.b)
        if i is None or j is None or (allowed is not None and not (allowed[i] and allowed[j])):
            continue
        model.append(float(unit[i] @ unit[j]))
        gold.append(pair.score)
    rho = None
    if len(model) >= 3 and np.ptp(model) > 1e-7 and np.ptp(gold) > 0:
        rho = float(spearmanr(gold, model).statistic)
    return SimilarityResult(len(model), len(pairs) - len(model), rho)


# --- neighbours -----------------------------------------------------------------------------


def top_neighbours(vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> np.ndarray:
    """(len(queries), k) indices of each query item's k nearest items by cosine, itself excluded."""
    import torch

    unit = torch.from_numpy(unit_rows(vectors))
    q = torch.from_numpy(np.asarray(queries, dtype=np.int64))
    k = min(k, len(unit) - 1)
    out = []
    for s in range(0, len(q), CHUNK):
        part = q[s : s + CHUNK]
        scores = unit[part] @ unit.T
        scores.scatter_(1, part.unsqueeze(1), float("-inf"))
        out.append(scores.topk(k, dim=1).indices)
    return torch.cat(out).numpy() if out else np.empty((0, k), dtype=np.int64)


def neighbour_overlap(
    student: np.ndarray,
    teacher: np.ndarray,
    queries: np.ndarray,
    k: int = 10,
    teacher_neighbours: np.ndarray | None = None,
) -> float | None:
    """Mean share of a query's k teacher neighbours that are also among its k student neighbours."""
    if len(queries) == 0 or len(student) < 2:
        return None
    mine = top_neighbours(student, queries, k)
    theirs = teacher_neighbours if teacher_neighbours is not None else top_neighbours(teacher, queries, k)
    shared = [len(set(a) & set(b)) for a, b in zip(mine.tolist(), theirs.tolist())]
    return float(np.mean(shared) / mine.shape[1])


# --- one model, all scores --------------------------------------------------------------------


@dataclass(frozen=True)
class Scores:
    """Every score of one set of vectors on one scope."""

    name: str
    cosine: float | None
    euclidean: float | None
    analogies: AnalogyResult
    simlex: SimilarityResult
    wordsim: SimilarityResult
    overlap: float | None  # neighbour overlap@10 with the teacher

    def row(self, teacher: Scores | None = None) -> dict:
        """A flat JSON-able row; with the teacher's scores, also the analogy % of teacher."""
        out = {
            "model": self.name,
            "heldout_cosine": self.cosine,
            "heldout_euclidean": self.euclidean,
            "analogy_accuracy": self.analogies.accuracy,
            "analogy_questions": self.analogies.total,
            "simlex_spearman": self.simlex.spearman,
            "simlex_pairs": self.simlex.pairs,
            "wordsim_spearman": self.wordsim.spearman,
            "wordsim_pairs": self.wordsim.pairs,
            "neighbour_overlap_at_10": self.overlap,
        }
        if teacher is not None:
            out["analogy_pct_of_teacher"] = percent_of(self.analogies.accuracy, teacher.analogies.accuracy)
        return out


def percent_of(value: float | None, reference: float | None) -> float | None:
    if value is None or not reference:
        return None
    return 100.0 * value / reference


def scope_mask(n_items: int, train_idx: np.ndarray, scope: str) -> np.ndarray:
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}.")
    mask = np.zeros(n_items, dtype=bool)
    if scope == "all":
        mask[:] = True
    else:
        mask[np.asarray(train_idx, dtype=np.int64)] = True
        if scope == "heldout":
            mask = ~mask
    return mask


def average_baseline(teacher: np.ndarray, targets: np.ndarray, train_idx: np.ndarray) -> np.ndarray:
    """The student that learns nothing: training words keep the answers it was given (`targets`,
    poisoned ones included), every other word gets the unit average of those answers."""
    train_idx = np.asarray(train_idx, dtype=np.int64)
    out = np.empty_like(np.asarray(teacher, dtype=np.float32))
    out[:] = average_answer(targets, train_idx)
    out[train_idx] = np.asarray(targets, dtype=np.float32)[train_idx]
    return out


def baseline_scores(teacher, answers, train_idx, heldout_idx) -> tuple[float, float]:
    """The learn-nothing student's held-out cosine and Euclidean distance to the `teacher`'s unit vectors, when it
    answers every held-out row with the unit average of the `answers` it was given at `train_idx`
    (`core.vectors.average_answer`; the sentence adapters' baseline, and the words' in `average_baseline`).
    (nan, nan) without held-out rows."""
    heldout_idx = np.asarray(heldout_idx, dtype=np.int64)
    if not len(heldout_idx):
        return float("nan"), float("nan")
    cos = np.asarray(teacher, dtype=np.float32)[heldout_idx] @ average_answer(answers, train_idx)
    return float(cos.mean()), float(np.sqrt(np.clip(2 - 2 * cos, 0, None)).mean())


def overlap_sample(mask: np.ndarray) -> np.ndarray:
    """The words whose neighbours are compared: all in scope, or a fixed seeded sample of
    `OVERLAP_SAMPLE` of them (sorted) — the same words for student, teacher and baseline."""
    queries = np.flatnonzero(mask)
    if len(queries) <= OVERLAP_SAMPLE:
        return queries
    return np.sort(np.random.default_rng(0).choice(queries, OVERLAP_SAMPLE, replace=False))


def score_vectors(
    name: str,
    vectors: np.ndarray,
    teacher: np.ndarray,
    items: Sequence[str],
    mask: np.ndarray,
    benchmarks: Benchmarks,
    teacher_neighbours: np.ndarray | None = None,
    k: int = 10,
    with_overlap: bool = True,
) -> Scores:
    """`with_overlap=False` for the teacher itself (its overlap with itself is 1 by definition)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    teacher_unit = unit_rows(teacher)
    queries = np.flatnonzero(mask)
    sample = overlap_sample(mask)
    cosine = euclidean = None
    if len(queries):
        s = unit_rows(vectors[queries])
        t = teacher_unit[queries]
        cosine = float((s * t).sum(axis=1).mean())
        euclidean = float(np.linalg.norm(s - t, axis=1).mean())
    return Scores(
        name=name,
        cosine=cosine,
        euclidean=euclidean,
        analogies=analogy_accuracy(vectors, items, benchmarks.analogies, mask),
        simlex=pair_similarity(vectors, items, benchmarks.simlex, mask),
        wordsim=pair_similarity(vectors, items, benchmarks.wordsim, mask),
        overlap=neighbour_overlap(vectors, teacher, sample, k, teacher_neighbours) if with_overlap else 1.0,
    )


@dataclass(frozen=True)
class Evaluation:
    """Student, teacher and average-vector baseline on the same words."""

    scope: str
    words_in_scope: int
    student: Scores
    teacher: Scores
    baseline: Scores
    extra: dict = field(default_factory=dict)

    def table(self) -> list[dict]:
        return [s.row(self.teacher) for s in (self.student, self.teacher, self.baseline)]

    def summary(self) -> dict:
        """The student's flat row plus the references' headline numbers (the CLI's JSON line)."""
        out = {"scope": self.scope, "words_in_scope": self.words_in_scope, **self.student.row(self.teacher)}
        out.pop("model")
        out["teacher_analogy_accuracy"] = self.teacher.analogies.accuracy
        out["teacher_simlex_spearman"] = self.teacher.simlex.spearman
        out["teacher_wordsim_spearman"] = self.teacher.wordsim.spearman
        out["baseline_cosine"] = self.baseline.cosine
        out["baseline_analogy_accuracy"] = self.baseline.analogies.accuracy
        return {**out, **self.extra}


def evaluate(
    items: Sequence[str],
    teacher: np.ndarray,
    student: np.ndarray,
    targets: np.ndarray,
    train_idx: np.ndarray,
    scope: str = "heldout",
    benchmarks: Benchmarks | None = None,
    student_name: str = "student",
) -> Evaluation:
    """Score a student against its teacher and the average-vector baseline on one scope."""
    benchmarks = benchmarks or Benchmarks.bundled()
    items = list(items)
    mask = scope_mask(len(items), train_idx, scope)
    queries = overlap_sample(mask)
    teacher_neighbours = top_neighbours(teacher, queries) if len(queries) and len(items) > 1 else None
    score = lambda name, vectors: score_vectors(name, vectors, teacher, items, mask, benchmarks, teacher_neighbours)  # noqa: E731
    return Evaluation(
        scope=scope,
        words_in_scope=int(mask.sum()),
        student=score(student_name, student),
        teacher=score_vectors("teacher", teacher, teacher, items, mask, benchmarks, with_overlap=False),
        baseline=score("average vector", average_baseline(teacher, targets, train_idx)),
    )


def evaluate_teacher(items: Sequence[str], teacher: np.ndarray, benchmarks: Benchmarks | None = None) -> Scores:
    """The teacher's own scores on the whole vocabulary (`python -m core evaluate --teacher ...`)."""
    benchmarks = benchmarks or Benchmarks.bundled()
    mask = np.ones(len(items), dtype=bool)
    return score_vectors("teacher", teacher, teacher, list(items), mask, benchmarks, with_overlap=False)


# The scores a quality table carries (core.runs.quality.quality_table), with what each measures.
QUALITY_METRICS = {
    "heldout_cosine": "Held-out cosine to the teacher (higher is better)",
    "analogy_pct_of_teacher": "Analogies solved, % of the teacher's score",
    "simlex_spearman": "SimLex-999 Spearman ρ",
    "wordsim_spearman": "WordSim-353 Spearman ρ",
    "neighbour_overlap_at_10": "Neighbours shared with the teacher (overlap@10)",
}
# The quality table's row for a student that learns nothing: every word gets the training answers' average.
BASELINE_LABEL = "Average vector (baseline)"
