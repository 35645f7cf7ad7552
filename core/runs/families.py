"""Run families: which stored runs a chart draws together, and the grid that would complete a family.

Pure functions on the run store's table (core.runs.store.list_runs); the pages lay out what they return.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from core.config import CEILING_P, LemmaMode, StudentKind
from core.runs.sweep import SweepGrid, find_stored

CLOSED_FORM = tuple(k.value for k in StudentKind if k.closed_form)  # students without epochs


def run_row(runs: pl.DataFrame, run_id: str) -> dict | None:
    """One run's row of the table, as a dict; None when it is not there."""
    if runs.is_empty():
        return None
    rows = runs.filter(pl.col("run_id") == run_id)
    return rows.row(0, named=True) if rows.height else None


def most_epochs(runs: pl.DataFrame, run_ids: Sequence[str]) -> int:
    """The most epochs among these runs (0 when none of them is in the table)."""
    if runs.is_empty():
        return 0
    return int(runs.filter(pl.col("run_id").is_in(list(run_ids)))["epochs"].max() or 0)


# ---- Honest evaluation: the quality-per-query chart -----------------------------------------------------


def quality_family(runs: pl.DataFrame, this: dict) -> pl.DataFrame:
    """The runs the quality-per-query chart compares `this` run with: finished, same teacher, vocabulary,
    lemmatization and poison, with held-out words (p < 1). Every student and every length of training."""
    if runs.is_empty():
        return runs
    return runs.filter(
        (pl.col("status") == "finished")
        & (pl.col("teacher") == this["teacher"])
        & (pl.col("vocabulary") == this["vocabulary"])
        & (pl.col("lemmatize") == this["lemmatize"])
        & (pl.col("poison") == this["poison"])
        & (pl.col("p") < 1.0)
    )


def epoch_choices(family: pl.DataFrame) -> tuple[list[int], int | None]:
    """The lengths (epochs) the trained students of a family come in, ascending, and the one most runs have
    (the longer of equals); ([], None) when every run is a closed-form adapter (no epochs to choose).

        epochs of trained runs 20, 20, 40, 40, 80 -> ([20, 40, 80], 40)
    """
    trained = family.filter(~pl.col("model").is_in(list(CLOSED_FORM)))
    if trained.is_empty():
        return [], None
    counts = trained.group_by("epochs").len().sort(["len", "epochs"], descending=True)
    return sorted(counts["epochs"].to_list()), int(counts["epochs"][0])


def latest_per_point(family: pl.DataFrame, epochs: int | None = None) -> pl.DataFrame:
    """One run per student, query selection, p and seed, the newest (several seeds are what a band over seeds
    is made of; a rerun of the same point replaces the older one); trained students only at `epochs`
    (closed-form adapters have no epochs and always stay). `epochs` None: every length. A table without
    selection or seed columns (an older one) counts as the paper's: random words, seed 0."""
    if epochs is not None:
        family = family.filter(pl.col("model").is_in(list(CLOSED_FORM)) | (pl.col("epochs") == epochs))
    if "selection" not in family.columns:
        family = family.with_columns(selection=pl.lit("random"))
    if "seed" not in family.columns:
        family = family.with_columns(seed=pl.lit(0, dtype=pl.Int64))
    return family.sort("created", descending=True).unique(
        subset=["model", "selection", "p", "seed"], keep="first", maintain_order=True
    )


def most_points_per_student(table: pl.DataFrame, column: str = "student") -> int:
    """How many points the student with the most has (a curve needs at least 2): its rows, or with a `p`
    column its distinct values of p (core.runs.quality's tables have one row per run, or per p and selection)."""
    if table.is_empty():
        return 0
    counts = table.group_by(column).agg(pl.col("p").n_unique().alias("len")) if "p" in table.columns else None
    return int((counts if counts is not None else table.group_by(column).len())["len"].max() or 0)


# ---- grids: what is stored, what is still to train -------------------------------------------------------


def stored_runs(configs, runs: pl.DataFrame, teacher_id: str) -> dict:
    """Each config -> the id of its stored run (core.runs.sweep.find_stored), or None: still to train."""
    return {c: find_stored(runs, c, teacher_id) for c in configs}


def to_train(configs, runs: pl.DataFrame, teacher_id: str) -> list:
    """The configs that have no stored run yet."""
    return [c for c, run_id in stored_runs(configs, runs, teacher_id).items() if run_id is None]


def claim_grid(
    teacher: str, lemmatize: LemmaMode, vocabulary: str, missing: Sequence[tuple[float, float]], epochs: int
) -> SweepGrid | None:
    """The Model B grid that trains the paper claim's missing (p, poison) points
    (core.poisoning.lab.claim_missing) for `epochs` epochs; None when nothing is missing. The grid is every
    combination of the missing p values and rates, so it may hold a few points already stored:
    `to_train` leaves those out."""
    if not missing:
        return None
    return SweepGrid(
        teacher=teacher,
        models=(StudentKind.B,),
        ps=tuple(sorted({p for p, _ in missing})),
        epochs=epochs,
        lemmatize=(lemmatize,),
        poison=tuple(sorted({rate for _, rate in missing})),
        vocabulary=vocabulary,
    )


# ---- the selection comparison: does choosing the words beat a random draw? --------------------------------------

SELECTION_PS = (0.003, 0.01, 0.03, 0.1)  # small budgets: where the literature reports active learning's gains
SELECTION_STRATEGIES = ("random", "typical", "kcenter")
SELECTION_SEEDS = (0, 1, 2, 3, 4)


@dataclass(frozen=True)
class Grids:
    """Several sweep grids trained as one sweep job (core.jobs.start_sweep, core.runs.sweep.run_sweep): their
    configs one after the other, each once. It answers what those read of a grid: `configs()`, `lemmatize`
    and `epochs`."""

    grids: tuple[SweepGrid, ...]

    def configs(self) -> list:
        seen, out = set(), []
        for grid in self.grids:
            for config in grid.configs():
                if config not in seen:
                    seen.add(config)
                    out.append(config)
        return out

    @property
    def lemmatize(self) -> tuple[LemmaMode, ...]:
        return tuple(dict.fromkeys(m for grid in self.grids for m in grid.lemmatize))

    @property
    def epochs(self) -> int:
        return max(grid.epochs for grid in self.grids)


def selection_comparison(
    teacher: str,
    lemmatize: LemmaMode,
    vocabulary: str,
    model: StudentKind = StudentKind.KERNEL,
    ps: Sequence[float] = SELECTION_PS,
    selections: Sequence[str] = SELECTION_STRATEGIES,
    seeds: Sequence[int] = SELECTION_SEEDS,
) -> Grids:
    """The runs that answer "does choosing the words beat a random draw?" for one student (the kernel adapter:
    the best, closed form, fast): every selection x p x seed, plus its ceiling on the same seeds (p = CEILING_P,
    random words: every answer but a held-out 10 %). The ceiling is a grid of its own: the other selections at
    p = CEILING_P would be runs nobody draws."""
    common = dict(
        teacher=teacher, models=(model,), epochs=1, lemmatize=(lemmatize,), vocabulary=vocabulary, seeds=tuple(seeds)
    )
    return Grids(
        (
            SweepGrid(ps=tuple(ps), selections=tuple(selections), **common),
            SweepGrid(ps=(CEILING_P,), selections=("random",), **common),
        )
    )
