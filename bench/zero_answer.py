"""The zero-answer baseline (issue 31, part 6): how close to the teacher a student gets with no teacher answer at
all — mini-vec2vec's linear map from the cheap model's space (core.words.zero_answer) — beside the student that
learns nothing and a supervised student given 1 % of the answers, in the same run, on the same held-out words.

For each pair (default: MiniLM teacher <- the static table distilled from MPNet; MPNet teacher <- MiniLM) and
seed: the vocabulary (the lab's 10,000 default words) is split at random into a public list (30 %) and the words
to map (70 %). The map sees the cheap model's vectors of the words to map and the teacher's vectors of the public
list as an unordered set (no words, rows shuffled): zero answers about the words it maps, and no pairing at all.
Scored on the words to map that the p = 0.01 student was not told about, with the lab's own metrics
(`core.evaluation.evaluate.score_vectors`: held-out cosine, analogies as % of the teacher on the same questions,
neighbour overlap@10):

- zero answers: the map;
- learns nothing at 0 answers: every word gets the unit mean of the public set (the map's own information);
- p = 0.01: the lab's kernel adapter over the same cheap model's features, 100 answers, and the learns-nothing
  student at those 100 answers (their unit mean: the quality-per-query chart's baseline).

Reads the teachers' and cheap models' vectors from the lab's cache (`$EMBEDDING_LAB_HOME`, `make warm` fills it);
a model is loaded only for vectors not cached. Prints ONE JSON line on stdout, a Markdown table on stderr.

    .venv/bin/python bench/zero_answer.py                           # both pairs, seed 0: a few minutes on 2 cores
    .venv/bin/python bench/zero_answer.py --pairs minilm:static-mpnet --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from core.config import LemmaMode, StudentKind, TrainConfig  # noqa: E402
from core.data.corpus import default_vocabulary  # noqa: E402
from core.data.lemmatize import no_lemmatization  # noqa: E402
from core.evaluation.benchmarks import Benchmarks  # noqa: E402
from core.evaluation.evaluate import average_baseline, overlap_sample, score_vectors, top_neighbours  # noqa: E402
from core.paths import teacher_cache_dir  # noqa: E402
from core.runs.experiment import PreparedData, TrainingRun  # noqa: E402
from core.teachers.teacher import (  # noqa: E402
    CachedTeacher,
    TeacherUnavailable,
    cached_vectors,
    load_teacher,
    teacher_id_for,
)
from core.vectors import unit_rows  # noqa: E402
from core.words.students import student_vectors  # noqa: E402
from core.words.zero_answer import (  # noqa: E402
    PUBLIC_SHARE,
    ZeroAnswerSettings,
    fit_zero_answer,
    mean_answer,
    procrustes,
    public_split,
)


def vectors_of(name: str, words: list[str]) -> np.ndarray:
    """A model's vectors of `words` from the lab's cache, computed (and cached) only where missing."""
    cache = teacher_cache_dir()
    try:
        return cached_vectors(cache, teacher_id_for(name), words)
    except TeacherUnavailable:
        return CachedTeacher(load_teacher(name, "cpu"), cache).embed(words)


def scored(name, vectors, teacher, words, mask, benchmarks, neighbours, teacher_scores) -> dict:
    row = score_vectors(name, vectors, teacher, words, mask, benchmarks, neighbours).row(teacher_scores)
    return {
        "heldout_cosine": row["heldout_cosine"],
        "analogy_pct_of_teacher": row["analogy_pct_of_teacher"],
        "analogy_questions": row["analogy_questions"],
        "neighbour_overlap_at_10": row["neighbour_overlap_at_10"],
    }


def one_pair(teacher_name: str, cheap: str, seed: int, words: list[str], benchmarks, settings, runs: Path) -> dict:
    teacher = vectors_of(teacher_name, words)
    features = vectors_of(cheap, words)
    public, to_map = public_split(len(words), seed)
    rng = np.random.default_rng(seed + 1000)

    start = time.perf_counter()
    zero = fit_zero_answer(features[to_map], teacher[public], settings)  # rows of the public set: no words attached
    fit_seconds = time.perf_counter() - start
    zero_vectors = zero.transform(features)
    nothing_at_zero = np.tile(mean_answer(teacher[public]), (len(words), 1))
    # The control: the same means and spread, a random semi-orthogonal map. Analogies and neighbours are nearly blind
    # to a rotation (they are the cheap model's own); only the cosine to the teacher says whether the map found the
    # teacher's coordinates.
    randomly = dataclasses.replace(
        zero, weights=procrustes(np.eye(features.shape[1]), rng.normal(size=zero.weights.shape))
    )

    prepared = PreparedData(no_lemmatization(words), teacher, teacher_id_for(teacher_name), LemmaMode.NONE)
    config = TrainConfig(teacher=teacher_name, model=StudentKind.KERNEL, p=0.01, seed=seed, cheap=cheap)
    run = TrainingRun(config, prepared, runs, device="cpu")
    list(run)
    told = np.asarray(run.dataset.train_idx, dtype=np.int64)
    supervised = student_vectors(run.model).cpu().numpy()
    nothing_at_100 = average_baseline(teacher, run.dataset.targets, told)

    mask = np.zeros(len(words), dtype=bool)
    mask[to_map] = True
    mask[told] = False  # scored only on words neither student was told about, nor in the public set
    sample = overlap_sample(mask)
    neighbours = top_neighbours(teacher, sample)
    teacher_scores = score_vectors("teacher", teacher, teacher, words, mask, benchmarks, with_overlap=False)
    score = lambda name, v: scored(name, v, teacher, words, mask, benchmarks, neighbours, teacher_scores)  # noqa: E731

    def aligned(m) -> float:
        """Mean cosine of the map's centred answer with the teacher's centred answer (the shared mean taken out):
        about 0 for a map that found nothing of the teacher's coordinates."""
        mine = unit_rows((features[mask] - m.cheap_mean) @ m.weights)
        return float((mine * unit_rows(teacher[mask] - m.teacher_mean)).sum(axis=1).mean())

    return {
        "teacher": teacher_name,
        "cheap": cheap,
        "seed": seed,
        "public_words": int(len(public)),
        "mapped_words": int(len(to_map)),
        "scored_words": int(mask.sum()),
        "fit_seconds": round(fit_seconds, 1),
        "zero_answers": {**score("zero", zero_vectors), "centred_cosine": aligned(zero)},
        "random_map": {**score("random", randomly.transform(features)), "centred_cosine": aligned(randomly)},
        "learns_nothing_0": score("nothing0", nothing_at_zero),
        "supervised_p001": {"queries": int(len(told)), **score("kernel", supervised)},
        "learns_nothing_p001": score("nothing100", nothing_at_100),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default="minilm:static-mpnet,mpnet:minilm", help="teacher:cheap, comma-separated")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--words", type=int, default=0, help="only the first N default words (0: all)")
    args = parser.parse_args()
    pairs = [tuple(p.split(":")) for p in args.pairs.split(",") if p.strip()]
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    words = list(default_vocabulary().words)
    if args.words:
        words = words[: args.words]
    benchmarks, settings = Benchmarks.bundled(), ZeroAnswerSettings()
    rows, started = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        for teacher_name, cheap in pairs:
            for seed in seeds:
                rows.append(one_pair(teacher_name, cheap, seed, words, benchmarks, settings, Path(scratch)))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(
        "\n| teacher ← cheap | seed | student | answers | held-out cosine | centred cosine | analogies % of teacher "
        "| overlap@10 |",
        file=sys.stderr,
    )
    print("|---|---|---|---|---|---|---|---|", file=sys.stderr)
    for r in rows:
        for key, label, answers in (
            ("zero_answers", "zero-answer map (mini-vec2vec)", 0),
            ("random_map", "control: a random rotation, same means", 0),
            ("learns_nothing_0", "learns nothing (public set's mean)", 0),
            ("supervised_p001", "kernel adapter, p = 0.01", r["supervised_p001"]["queries"]),
            ("learns_nothing_p001", "learns nothing (mean of those answers)", r["supervised_p001"]["queries"]),
        ):
            s = r[key]
            analogies = "—" if s["analogy_pct_of_teacher"] is None else f"{s['analogy_pct_of_teacher']:.1f}"
            centred = f"{s['centred_cosine']:.3f}" if "centred_cosine" in s else "—"
            print(
                f"| {r['teacher']} ← {r['cheap']} | {r['seed']} | {label} | {answers} | {s['heldout_cosine']:.3f} | "
                f"{centred} | {analogies} | {s['neighbour_overlap_at_10']:.3f} |",
                file=sys.stderr,
            )
    out = {
        "benchmark": "zero_answer",
        "items": len(words),
        "public_share": PUBLIC_SHARE,
        "settings": settings.__dict__,
        "seconds": round(time.perf_counter() - started, 1),
        "runs": rows,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
