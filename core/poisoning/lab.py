"""The Poisoning lab's analytics, from the run store's table (core.runs.store.list_runs) and a run's items:
which runs each section shows, what the loss of each training answer gives away, what each defence costs and
recovers, and which runs the re-test of the paper's claim still needs. Pure functions on Polars frames: the
page only lays out what they return.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

from core.config import PAPER_PS
from core.poisoning.poison import CLAIM_EPOCHS, outlier_threshold

CLAIM_RATE = 0.1  # the paper's poisoned share
CLAIM_RATES = (0.0, CLAIM_RATE)  # the claim's grid: clean and poisoned
CLAIM_BATCH_SIZE, CLAIM_LR = 256, 1e-3  # the paper's training settings (core.config.TrainConfig's defaults)

# ---- 1. one poisoned run -------------------------------------------------------------------------


def poisoned_runs(runs: pl.DataFrame, teacher_id: str) -> pl.DataFrame:
    """The finished runs with poisoned answers from this teacher (section 1's choice)."""
    if runs.is_empty():
        return runs
    return runs.filter((pl.col("poison") > 0) & (pl.col("status") == "finished") & (pl.col("teacher") == teacher_id))


def training_answers(items: pl.DataFrame) -> pl.DataFrame | None:
    """A run's training answers with their final loss (items.parquet: item, split, poisoned, loss) and a
    `group` column ('poisoned' / 'clean'); None when the run was stored before losses were kept (no loss on
    any training answer)."""
    if "loss" not in items.columns:
        return None
    training = items.filter(pl.col("split") == "training")
    if training.height == 0 or training["loss"].null_count() == training.height:
        return None
    return training.drop_nulls("loss").with_columns(
        group=pl.when(pl.col("poisoned")).then(pl.lit("poisoned")).otherwise(pl.lit("clean"))
    )


DETECTION_KEYS = ("detection_precision", "detection_recall", "defence_left_out", "defence_precision", "defence_recall")


def detection_summary(meta: Mapping, defence: str, losses: np.ndarray) -> dict:
    """What the training answers' losses give away (the run's meta holds the graded figures): the outlier
    line (`threshold`, core.poisoning.poison.outlier_threshold), how many answers lie above it
    (`detection_flagged`), the run's train_size, poisoned_in_train, defence, and its detection and defence
    precision / recall (None where the run has none)."""
    threshold = outlier_threshold(losses)
    return {
        "threshold": threshold,
        "train_size": meta["train_size"],
        "poisoned_in_train": meta["poisoned_in_train"],
        "defence": defence,
        "detection_flagged": int((np.asarray(losses) > threshold).sum()),
        **{k: meta.get(k) for k in DETECTION_KEYS},
    }


# ---- 2. damage against rate, and what each defence costs --------------------------------------------

DAMAGE_SCHEMA = {
    "run_id": pl.Utf8,
    "rate": pl.Float64,
    "adversary": pl.Utf8,
    "defence": pl.Utf8,
    "heldout_cosine": pl.Float64,
    "seconds": pl.Float64,
    "detection_precision": pl.Float64,
    "detection_recall": pl.Float64,
}


def damage_frame(found: Mapping, runs: pl.DataFrame) -> pl.DataFrame:
    """One row per stored run of a poisoning grid. `found`: config (core.config.TrainConfig: poison,
    adversary, defence) -> its stored run id (or None: not trained yet, left out). Columns run_id, rate,
    adversary ('clean' for the unpoisoned run), defence (its key: 'none', 'trimmed', ...), heldout_cosine,
    seconds, detection_precision, detection_recall."""
    by_id = {r["run_id"]: r for r in runs.iter_rows(named=True)} if not runs.is_empty() else {}
    rows = []
    for config, run_id in found.items():
        if not run_id or run_id not in by_id:
            continue
        r = by_id[run_id]
        rows.append(
            {
                "run_id": run_id,
                "rate": float(config.poison),
                "adversary": "clean" if config.poison == 0 else config.adversary,
                "defence": config.defence,
                **{k: r.get(k) for k in ("heldout_cosine", "seconds", "detection_precision", "detection_recall")},
            }
        )
    return pl.DataFrame(rows, schema=DAMAGE_SCHEMA)


SUMMARY_SCHEMA = {
    "defence": pl.Utf8,
    "runs": pl.UInt32,
    "heldout_cosine": pl.Float64,
    "pct_of_clean": pl.Float64,
    "extra_seconds": pl.Float64,
    "seconds": pl.Float64,
    "precision": pl.Float64,
    "recall": pl.Float64,
}


def defence_summary(frame: pl.DataFrame) -> pl.DataFrame:
    """What each defence costs and recovers, averaged over the poisoned runs of `damage_frame`: one row per
    defence (in the frame's order) with runs, heldout_cosine (mean), pct_of_clean (that mean as a share of the
    clean run without defence; None without one), extra_seconds (mean seconds more than the same rate and
    adversary without defence; None where that run is missing), seconds, precision and recall (detection
    means). Empty when no run is poisoned."""
    poisoned = frame.filter(pl.col("rate") > 0)
    if poisoned.is_empty():
        return pl.DataFrame(schema=SUMMARY_SCHEMA)
    plain = poisoned.filter(pl.col("defence") == "none").select("rate", "adversary", plain_seconds="seconds")
    joined = poisoned.join(plain, on=["rate", "adversary"], how="left")
    summary = joined.group_by("defence", maintain_order=True).agg(
        runs=pl.len(),
        heldout_cosine=pl.col("heldout_cosine").mean(),
        seconds=pl.col("seconds").mean(),
        extra_seconds=(pl.col("seconds") - pl.col("plain_seconds")).mean(),
        precision=pl.col("detection_precision").mean(),
        recall=pl.col("detection_recall").mean(),
    )
    clean = frame.filter((pl.col("rate") == 0) & (pl.col("defence") == "none"))["heldout_cosine"].drop_nulls()
    clean_none = float(clean[0]) if len(clean) else None
    summary = summary.with_columns(
        pct_of_clean=pl.col("heldout_cosine") / clean_none if clean_none else pl.lit(None, dtype=pl.Float64)
    )
    return summary.select(list(SUMMARY_SCHEMA)).cast(SUMMARY_SCHEMA)


# ---- 3. the paper's claim -----------------------------------------------------------------------------


def claim_runs(runs: pl.DataFrame, teacher_id: str, vocabulary: str, lemmatize: str) -> pl.DataFrame:
    """The stored runs the re-test of the paper's claim can use: Model B, finished, this teacher, words and
    lemmatization, the paper's attack (random directions, all words, no defence) clean or at 10 %, at least
    CLAIM_EPOCHS epochs, seed 0, one of the paper's p, its batch size and learning rate. One run per (p,
    poison): the longest, then the newest."""
    if runs.is_empty():
        return runs
    family = runs.filter(
        (pl.col("model") == "B")
        & (pl.col("status") == "finished")
        & (pl.col("teacher") == teacher_id)
        & (pl.col("vocabulary") == vocabulary)
        & (pl.col("lemmatize") == lemmatize)
        & (pl.col("adversary") == "random")
        & (pl.col("poison_scope") == "all")
        & (pl.col("defence") == "none")
        & pl.col("poison").is_in(list(CLAIM_RATES))
        & (pl.col("epochs") >= CLAIM_EPOCHS)
        & (pl.col("seed") == 0)
        & pl.col("p").round(6).is_in([round(v, 6) for v in PAPER_PS])
        & (pl.col("batch_size") == CLAIM_BATCH_SIZE)
        & (pl.col("lr") == CLAIM_LR)
    )
    return family.sort(["epochs", "created"], descending=True).unique(
        subset=["p", "poison"], keep="first", maintain_order=True
    )


def claim_missing(family: pl.DataFrame, ps=PAPER_PS, rates=CLAIM_RATES) -> list[tuple[float, float]]:
    """The (p, poison) points of the claim's grid that `claim_runs` found no run for, in grid order."""
    covered = {(round(r["p"], 6), r["poison"]) for r in family.iter_rows(named=True)}
    return [(p, rate) for p in ps for rate in rates if (round(p, 6), rate) not in covered]


def has_poisoned_claim_runs(family: pl.DataFrame) -> bool:
    """Whether `claim_runs` found any run poisoned at the paper's rate (without one there is nothing to re-test)."""
    return not family.is_empty() and not family.filter(pl.col("poison") == CLAIM_RATE).is_empty()


def mean_baseline(baselines: Mapping[float, float | None]) -> float | None:
    """The learn-nothing student's held-out cosine averaged over the p values that have one (None: none has)."""
    values = [v for v in baselines.values() if v is not None]
    return float(np.nanmean(values)) if values else None
