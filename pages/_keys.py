"""The names every page shares: the session's keys (`K`), the teachers and lemmatization modes offered."""

from __future__ import annotations

import os

from core.config import LemmaMode
from pages._teachers import api_env


class K:
    """Session-state keys, in one place."""

    OWNER = "owner"  # a random id per browser session: jobs and query counts belong to it
    TEACHER = "teacher_name"  # 'minilm', 'mpnet' or a model name / folder
    VOCAB = "vocabulary"  # core.data.corpus.Vocabulary
    LEMMA = "lemma_mode"  # core.config.LemmaMode
    PREPARED = "prepared"  # core.runs.experiment.PreparedData for (teacher, vocabulary, lemma mode)
    QUERIES = "teacher_queries_computed"  # teacher vectors this session paid for (cache misses)
    CACHED = "teacher_queries_cached"
    JOB = "job_id"  # the current training job
    RUN = "run_id"  # the run the comparison pages look at
    SWEEP = "sweep_job_id"  # the current sweep job


TEACHERS = {
    "minilm": "all-MiniLM-L6-v2 — bundled, 384 numbers per word, fast (default)",
    "mpnet": "all-mpnet-base-v2 — bundled, 768 numbers per word, ~6× slower, better",
}


def teacher_options() -> dict[str, str]:
    """The bundled teachers; a paid API when one is configured; the instant fake one when
    $EMBEDDING_LAB_FAKE_TEACHER is set."""
    options = dict(TEACHERS)
    env = api_env()
    if env.get("EMBEDDING_LAB_API_BASE"):
        model = env.get("EMBEDDING_LAB_API_MODEL") or "text-embedding-3-small"
        options[f"api:{model}"] = (
            f"{model} — a paid API (OpenAI-compatible): each new word costs money, shown before any call"
        )
    if os.environ.get("EMBEDDING_LAB_FAKE_TEACHER"):
        options["hash-32"] = "Fake teacher — instant random vectors (for testing the app)"
    return options


LEMMA_LABELS = {
    LemmaMode.NONE: "Off — every word is its own item",
    LemmaMode.SPACY: "spaCy (accurate, ~2 s for 10k words)",
    LemmaMode.LOOKUP: "Lookup table (fastest, a few odd lemmas)",
}

# The paper's example pair, added to the default word list so the Projection preset works.
