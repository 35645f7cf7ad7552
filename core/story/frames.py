"""Each step's table for the page and its chart (Polars frames): taught and new words' cosine (steps 2-3), the
closest words side by side, quality against answers paid for with the zero-answer student at 0 (step 4), clean
against poisoned (step 5)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from core.config import StudentKind, TrainConfig
from core.story.runs import StoryRuns
from core.story.settings import NEW_WORDS, TRAINING_WORDS
from core.story.zero import ZERO_LABEL

# step 4's rows (`quality_frame`, `zero_answer_frame`): one schema for both
QUALITY_SCHEMA = {
    "student": pl.Utf8,
    "p": pl.Float64,
    "queries": pl.Int64,
    "heldout_cosine": pl.Float64,
    "neighbours_shared": pl.Float64,
    "baseline_cosine": pl.Float64,
    "run_id": pl.Utf8,
}


def zero_answer_frame(scores: dict | None) -> pl.DataFrame:
    """Step 4's zero-answer student as one row of `quality_frame`'s columns (queries 0, p 0, no run); empty when its
    scores are not there."""
    schema = QUALITY_SCHEMA
    if not scores:
        return pl.DataFrame(schema=schema)
    row = {
        "student": ZERO_LABEL,
        "p": 0.0,
        "queries": 0,
        "heldout_cosine": scores["heldout_cosine"],
        "neighbours_shared": scores["neighbours_shared"],
        "baseline_cosine": scores["baseline_cosine"],
        "run_id": "",
    }
    return pl.DataFrame([row], schema=schema)


def split_cosine_frame(scores: Mapping[str, dict]) -> pl.DataFrame:
    """Steps 2-3: how close each student's vectors are to the teacher's (mean cosine) on the words it was
    trained on and on the words it never saw. `scores`: student label -> `story_scores`.
    Columns student, words, cosine, count."""
    rows = []
    for label, s in scores.items():
        rows.append(
            {"student": label, "words": TRAINING_WORDS, "cosine": s["training_cosine"], "count": s["training_words"]}
        )
        rows.append({"student": label, "words": NEW_WORDS, "cosine": s["heldout_cosine"], "count": s["heldout_words"]})
    return pl.DataFrame(rows, schema={"student": pl.Utf8, "words": pl.Utf8, "cosine": pl.Float64, "count": pl.Int64})


def neighbours_frame(scores: Mapping[str, dict], words: Sequence[str]) -> pl.DataFrame:
    """Steps 2-3: each word's nearest words under the teacher and under each student, and how many of the
    teacher's the student shares. Columns word, who, shared (of k; the teacher: k), seen (whether that
    student was trained on the word itself; empty for the teacher, which knows every word), searched ('the lessons'
    or 'all words': a lesson word's closest words are looked up among the lessons, `run_scores`) and among (how many
    words that is), neighbours.
    One teacher row per word and search (the students of one split share it)."""
    rows = []
    for word in words:
        teachers = set()
        for label, s in scores.items():
            found = s.get("neighbours", {}).get(word)
            if not found:
                continue
            theirs = found["teacher"]
            among = found.get("among")
            searched = ("the lessons" if found["seen"] else "all words") if among is not None else None
            if (among, tuple(theirs)) not in teachers:
                teachers.add((among, tuple(theirs)))
                rows.append(
                    {
                        "word": word,
                        "who": "Teacher",
                        "shared": len(theirs),
                        "seen": None,
                        "searched": searched,
                        "among": among,
                        "neighbours": ", ".join(theirs),
                    }
                )
            rows.append(
                {
                    "word": word,
                    "who": label,
                    "shared": len(set(found["student"]) & set(theirs)),
                    "seen": found["seen"],
                    "searched": searched,
                    "among": among,
                    "neighbours": ", ".join(found["student"]),
                }
            )
    return pl.DataFrame(
        rows,
        schema={
            "word": pl.Utf8,
            "who": pl.Utf8,
            "shared": pl.Int64,
            "seen": pl.Boolean,
            "searched": pl.Utf8,
            "among": pl.Int64,
            "neighbours": pl.Utf8,
        },
    )


# ---- steps 4 and 5: many runs side by side ------------------------------------------------------


STUDENT_LABELS = {StudentKind.B: "Model B (the paper's)", StudentKind.KERNEL: "Adapter reading a cheap model"}


def student_label(model: StudentKind | str) -> str:
    """The story's name for a student kind (chart legends, tables)."""
    kind = StudentKind.parse(model)
    return STUDENT_LABELS.get(kind, kind.label)


def _label(config: TrainConfig) -> str:
    return student_label(config.model)


def quality_frame(runs: StoryRuns, scores: Mapping[str, dict]) -> pl.DataFrame:
    """Step 4: held-out quality against teacher queries. One row per clean story run found:
    student, p, queries, heldout_cosine, neighbours_shared, baseline_cosine, run_id."""
    rows = []
    for config, run_id in runs.found.items():
        if config.poison or run_id not in scores:
            continue
        s = scores[run_id]
        rows.append(
            {
                "student": _label(config),
                "p": config.p,
                "queries": s["training_words"],
                "heldout_cosine": s["heldout_cosine"],
                "neighbours_shared": s["neighbours_shared"],
                "baseline_cosine": s["baseline_cosine"],
                "run_id": run_id,
            }
        )
    schema = QUALITY_SCHEMA
    return pl.DataFrame(rows, schema=schema).sort("student", "p")


def poison_frame(runs: StoryRuns, scores: Mapping[str, dict]) -> pl.DataFrame:
    """Step 5: both students at the story's p with clean and with poisoned answers.
    Columns student, answers ('all clean' / '10 % poisoned'), heldout_cosine, neighbours_shared, run_id."""
    settings, rows = runs.settings, []
    for config, run_id in runs.found.items():
        if abs(config.p - settings.p) > 1e-12 or config.poison not in (0.0, settings.poison) or run_id not in scores:
            continue
        s = scores[run_id]
        rows.append(
            {
                "student": _label(config),
                "answers": f"{config.poison:.0%} poisoned" if config.poison else "all clean",
                "heldout_cosine": s["heldout_cosine"],
                "neighbours_shared": s["neighbours_shared"],
                "run_id": run_id,
            }
        )
    schema = {
        "student": pl.Utf8,
        "answers": pl.Utf8,
        "heldout_cosine": pl.Float64,
        "neighbours_shared": pl.Float64,
        "run_id": pl.Utf8,
    }
    return pl.DataFrame(rows, schema=schema).sort("student", "answers", descending=[False, True])
