"""Quality per teacher query, with honest uncertainty: stored runs' scores over seeds and query selections.

Pure functions on Polars frames (no Streamlit); the Honest evaluation page lays out what they return.

- `quality_frame`: one row per scored run (student, selection, seed, p, teacher answers, the scores), plus
  the learns-nothing baseline per number of answers, selection and seed; `quality_table` the same per run as
  a table people read.
- `quality_bands`: per student x selection x p, the mean over seeds with a 95 % interval (Student's t).
- `paired_differences`: each selection strategy minus random on the *same* seeds (and teacher), with its
  95 % interval and whether that interval excludes 0: with few seeds, a strategy can look better or worse
  than random by chance (the active-learning literature's warning), and the interval says when it does.
- `ceiling`: the same kind of student given every answer but a held-out 10 % (p = `CEILING_P`, random
  words): how close any student of that kind can get. Those runs are a reference line, never a curve point.
- `queries_for`: how few teacher answers reach a target share of the teacher (the curve's first crossing,
  interpolated in log(answers) between neighbouring budgets), over seeds.
- `zero_answer_bands`: the student given no answer at all (a map learnt without pairs, `core.words.zero_answer`)
  beside the learns-nothing student with the same information, drawn at "0 answers" left of the curve.

A 95 % interval of n values is mean ± t(0.975, n − 1) · sd / √n; one value has no interval (None). Three rules
keep these numbers from saying more than the runs can:
- a number of answers is positive and its spread multiplicative, so `queries_for` takes the interval on
  log(answers) (a geometric mean, mean ÷ f to mean × f) and clips it to the budgets the runs tried: "146 ± 176"
  (reaching below zero) becomes "about 146 (100 to 1,000)";
- a verdict from fewer than `MIN_SEEDS_FOR_VERDICT` seeds is `tentative` (two seeds: t = 12.7, and one lucky pair
  of runs is enough for an interval that excludes 0);
- a curve whose points rest on different numbers of seeds (a one-seed story run beside a two-seed sweep) is
  split by seed count (`quality_bands`' `line`), never drawn as one line.

>>> half_width(2, 1.0) > 8  # two seeds: t = 12.7, a very wide interval
True
"""

from __future__ import annotations

import math

import polars as pl

from core.config import CEILING_P, SELECTIONS, StudentKind
from core.evaluation.evaluate import BASELINE_LABEL, QUALITY_METRICS

REFERENCE = "random"  # the paper's draw: what every other strategy is compared with
CONFIDENCE = 0.95
# Fewer seeds than this and a verdict is tentative: with two, t(0.975, 1) = 12.7 and the interval rests on one
# standard deviation of two numbers, which a single lucky pair of runs makes small.
MIN_SEEDS_FOR_VERDICT = 3
# What the teacher itself scores on each metric a target can be a share of ("90 % of the teacher"). SimLex
# and WordSim have no such fixed value (the teacher's own ρ is far from 1), so no target is offered on them.
TEACHER_SCORE = {"analogy_pct_of_teacher": 100.0, "heldout_cosine": 1.0, "neighbour_overlap_at_10": 1.0}

_KEY = ["student", "selection", "p"]
_SCHEMA = {
    "student": pl.Utf8,
    "run_id": pl.Utf8,
    "selection": pl.Utf8,
    "seed": pl.Int64,
    "p": pl.Float64,
    "queries": pl.Int64,
    **{m: pl.Float64 for m in QUALITY_METRICS},
}


def half_width(n: int, sd: float | None, confidence: float = CONFIDENCE) -> float | None:
    """Half the width of the `confidence` interval of a mean of `n` values with standard deviation `sd`
    (Student's t); None for fewer than two values: one seed says nothing about the spread."""
    if n is None or n < 2 or sd is None or not math.isfinite(sd):
        return None
    from scipy.stats import t  # scipy is heavy to import: only when a band is computed

    return float(t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n))


def _with_interval(stats: pl.DataFrame) -> pl.DataFrame:
    """Add half_width, lower and upper to a frame with n, mean and sd columns."""
    halves = [half_width(n, sd) for n, sd in zip(stats["n"].to_list(), stats["sd"].to_list())]
    return stats.with_columns(pl.Series("half_width", halves, dtype=pl.Float64)).with_columns(
        lower=pl.col("mean") - pl.col("half_width"), upper=pl.col("mean") + pl.col("half_width")
    )


# ---- the frame -----------------------------------------------------------------------------------------------


def quality_frame(evaluations: list[dict], runs: pl.DataFrame | None = None) -> pl.DataFrame:
    """The data of the quality-per-query chart from `core.runs.evaluated.stored_evaluation` results: one row per
    run (student label, run_id, selection, seed, p, teacher queries and the metrics), plus one baseline row
    (student `BASELINE_LABEL`) per number of queries, selection and seed: the mean of those runs' baselines.

    A run's selection and seed come from `runs` (the store's table, `core.runs.store.list_runs`) by run_id, so
    stored evaluations need not be recomputed; else from its summary; else the paper's: random, seed 0."""
    known = {}
    if runs is not None and not runs.is_empty() and {"selection", "seed"} <= set(runs.columns):
        known = {
            r["run_id"]: (r["selection"], r["seed"]) for r in runs.select("run_id", "selection", "seed").to_dicts()
        }
    rows, baseline = [], {}
    for ev in evaluations:
        s = ev["summary"]
        student_row, _, base_row = ev["table"]
        selection, seed = known.get(s["run_id"], (s.get("selection", REFERENCE), s.get("seed", 0)))
        common = {
            "selection": str(selection),
            "seed": int(seed),
            "p": float(s["p"]),
            "queries": int(s["teacher_queries"]),
        }
        rows.append(
            {
                "student": StudentKind.parse(s["model"]).label,
                "run_id": s["run_id"],
                **common,
                **{m: student_row.get(m) for m in QUALITY_METRICS},
            }
        )
        key = (common["queries"], common["selection"], common["seed"])
        baseline.setdefault(key, []).append({**common, **{m: base_row.get(m) for m in QUALITY_METRICS}})
    for group in baseline.values():
        row = {
            "student": BASELINE_LABEL,
            "run_id": "",
            **{k: group[0][k] for k in ("selection", "seed", "p", "queries")},
        }
        for m in QUALITY_METRICS:
            values = [g[m] for g in group if g[m] is not None]
            row[m] = sum(values) / len(values) if values else None
        rows.append(row)
    return pl.DataFrame(rows, schema=_SCHEMA)


def quality_table(frame: pl.DataFrame) -> pl.DataFrame:
    """`quality_frame` as a table people read: one row per run (student, selection, seed, p, teacher answers,
    the scores), each beside the learns-nothing baseline at the same number of queries, selection and seed;
    neighbour overlap as a count of 10 (0.5 -> 5.0). Sorted by student, selection, p, then seed."""
    base = frame.filter(pl.col("student") == BASELINE_LABEL).select(
        "queries", "selection", "seed", baseline_cosine=pl.col("heldout_cosine")
    )
    return (
        frame.filter(pl.col("student") != BASELINE_LABEL)
        .join(
            base.unique(["queries", "selection", "seed"], keep="first"), on=["queries", "selection", "seed"], how="left"
        )
        .with_columns(neighbours_of_10=pl.col("neighbour_overlap_at_10") * 10)
        .sort(_order("p", "seed"))
        .select(
            "student",
            "selection",
            "seed",
            "p",
            "queries",
            "heldout_cosine",
            "baseline_cosine",
            "analogy_pct_of_teacher",
            "neighbours_of_10",
            "simlex_spearman",
            "wordsim_spearman",
            "run_id",
        )
    )


def _order(*then: str) -> list[pl.Expr]:
    """Sort keys: student, then the selections in core.config's order (random, the paper's, first), then `then`."""
    rank = {name: i for i, name in enumerate(SELECTIONS)}
    return [
        pl.col("student"),
        pl.col("selection").replace_strict(rank, default=len(rank), return_dtype=pl.Int64),
        *[pl.col(c) for c in then],
    ]


def is_ceiling(p) -> pl.Expr | bool:
    """Whether a run is at the ceiling's p (every answer but a held-out 10 %): an expression on a column, or
    a bool for a number."""
    if isinstance(p, pl.Expr):
        return (p - CEILING_P).abs() < 1e-9
    return abs(float(p) - CEILING_P) < 1e-9


def curve_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """The rows a curve draws: every run but those at the ceiling's p (a horizontal line, not a point)."""
    return frame.filter(~is_ceiling(pl.col("p")))


def _one_per_seed(frame: pl.DataFrame, metric: str) -> pl.DataFrame:
    """One score per student, selection, p and seed (the first), scores that could not be computed left out."""
    return frame.drop_nulls(metric).filter(pl.col(metric).is_not_nan()).unique([*_KEY, "seed"], keep="first")


# ---- bands, differences, the ceiling -------------------------------------------------------------------------


def quality_bands(frame: pl.DataFrame, metric: str = "heldout_cosine") -> pl.DataFrame:
    """Per student x selection x p (the baseline too, ceiling runs left out): the teacher queries, n seeds,
    the mean of `metric` over them, its 95 % half-width and the interval's lower and upper ends (None for
    one seed), and `line`: '' when every point of that student's and selection's curve rests on the same number
    of seeds, else the point's own count ('1 seed', '2 seeds'), so a chart draws one line per count instead of
    joining a one-seed mean to a two-seed one. Sorted by student, selection, queries."""
    data = _one_per_seed(curve_rows(frame), metric)
    stats = data.group_by(_KEY).agg(
        queries=pl.col("queries").mean().round().cast(pl.Int64),
        n=pl.len().cast(pl.Int64),
        mean=pl.col(metric).mean(),
        sd=pl.col(metric).std(ddof=1),
    )
    mixed = pl.col("n").n_unique().over("student", "selection") > 1
    count = pl.col("n").cast(pl.Utf8) + pl.when(pl.col("n") == 1).then(pl.lit(" seed")).otherwise(pl.lit(" seeds"))
    line = pl.when(mixed).then(count).otherwise(pl.lit(""))
    return _with_interval(stats).drop("sd").with_columns(line=line).sort(_order("queries"))


def paired_differences(frame: pl.DataFrame, metric: str = "heldout_cosine", reference: str = REFERENCE) -> pl.DataFrame:
    """Each strategy minus `reference` per student and p, on the seeds both have (the same words to choose
    from, the same teacher, the same seed: only the choice of words differs). Columns: student, selection,
    p, queries, n (shared seeds), mean (of the differences), half_width, lower, upper, strategy and
    reference (their means over the shared seeds), distinguishable (the 95 % interval excludes 0; never
    with one seed) and tentative (distinguishable, but from fewer than `MIN_SEEDS_FOR_VERDICT` seeds: say so).
    Ceiling runs and the baseline are left out."""
    data = _one_per_seed(curve_rows(frame).filter(pl.col("student") != BASELINE_LABEL), metric)
    ref = data.filter(pl.col("selection") == reference).select("student", "p", "seed", ref_value=pl.col(metric))
    pairs = data.filter(pl.col("selection") != reference).join(ref, on=["student", "p", "seed"], how="inner")
    stats = pairs.group_by(_KEY).agg(
        queries=pl.col("queries").mean().round().cast(pl.Int64),
        n=pl.len().cast(pl.Int64),
        mean=(pl.col(metric) - pl.col("ref_value")).mean(),
        sd=(pl.col(metric) - pl.col("ref_value")).std(ddof=1),
        strategy=pl.col(metric).mean(),
        reference=pl.col("ref_value").mean(),
    )
    out = _with_interval(stats).drop("sd")
    real = ((pl.col("lower") > 0) | (pl.col("upper") < 0)).fill_null(False)  # the 95 % interval excludes 0
    return (
        out.with_columns(distinguishable=real)
        .with_columns(tentative=pl.col("distinguishable") & (pl.col("n") < MIN_SEEDS_FOR_VERDICT))
        .sort(_order("queries"))
    )


def ceiling(frame: pl.DataFrame, metric: str = "heldout_cosine") -> pl.DataFrame:
    """Per student: its ceiling, the runs at p = CEILING_P with random words (every answer but a held-out
    10 %): teacher queries, n seeds, mean, half_width, lower, upper. Empty when no such run is stored."""
    data = _one_per_seed(
        frame.filter(
            is_ceiling(pl.col("p")) & (pl.col("selection") == REFERENCE) & (pl.col("student") != BASELINE_LABEL)
        ),
        metric,
    )
    stats = data.group_by("student").agg(
        queries=pl.col("queries").mean().round().cast(pl.Int64),
        n=pl.len().cast(pl.Int64),
        mean=pl.col(metric).mean(),
        sd=pl.col(metric).std(ddof=1),
    )
    return _with_interval(stats).drop("sd").sort("student")


# ---- how few answers for a target ----------------------------------------------------------------------------


def target_value(metric: str, target: float) -> float:
    """The score that is `target` % of the teacher on `metric` (90 -> 90.0 for analogies, as they are a % of
    the teacher already; 0.9 for the cosine, the teacher's being 1)."""
    if metric not in TEACHER_SCORE:
        raise ValueError(
            f"A target as a share of the teacher needs the teacher's own score; {metric} has none. "
            f"Choose one of {', '.join(TEACHER_SCORE)}."
        )
    return float(target) / 100.0 * TEACHER_SCORE[metric]


def crossing(queries: list[float], values: list[float], threshold: float) -> tuple[float | None, str]:
    """Where a curve (points sorted by queries) first reaches `threshold`: (queries, how), how being
    'crossed' (interpolated linearly in log(queries) between the last point below and the first at or above),
    'at most' (already there at the smallest budget: it may need fewer) or 'not reached' (None)."""
    for i, (q, v) in enumerate(zip(queries, values)):
        if v >= threshold:
            if i == 0:
                return float(q), "at most"
            q0, v0 = queries[i - 1], values[i - 1]
            share = (threshold - v0) / (v - v0)
            return float(math.exp(math.log(q0) + share * (math.log(q) - math.log(q0)))), "crossed"
    return None, "not reached"


def queries_per_seed(frame: pl.DataFrame, metric: str = "analogy_pct_of_teacher", target: float = 90.0) -> pl.DataFrame:
    """Per student x selection x seed: where its curve first reaches `target` % of the teacher (`crossing`).
    Columns: student, selection, seed, queries (None when not reached), how, smallest, largest (the budgets
    the seed's runs span)."""
    threshold = target_value(metric, target)
    data = _one_per_seed(curve_rows(frame).filter(pl.col("student") != BASELINE_LABEL), metric)
    rows = []
    for (student, selection, seed), group in data.sort("queries").group_by(
        ["student", "selection", "seed"], maintain_order=True
    ):
        qs, vs = group["queries"].to_list(), group[metric].to_list()
        where, how = crossing(qs, vs, threshold)
        rows.append(
            {
                "student": student,
                "selection": selection,
                "seed": seed,
                "queries": where,
                "how": how,
                "smallest": qs[0],
                "largest": qs[-1],
            }
        )
    schema = {
        "student": pl.Utf8,
        "selection": pl.Utf8,
        "seed": pl.Int64,
        "queries": pl.Float64,
        "how": pl.Utf8,
        "smallest": pl.Int64,
        "largest": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema).sort(_order("seed"))


def queries_for(frame: pl.DataFrame, metric: str = "analogy_pct_of_teacher", target: float = 90.0) -> pl.DataFrame:
    """How few teacher answers reach `target` % of the teacher on `metric`, per student x selection, over seeds
    (`queries_per_seed`). Columns: student, selection, target, threshold (the score that is), seeds, reached
    (how many seeds got there within their runs), not_reached, at_most (how many were there already at the
    smallest budget: they may need fewer), smallest and largest budget tried, and over the seeds that got there
    (None when none did):

    - mean: their geometric mean (the mean of log(answers), exponentiated): answers needed are positive and
      vary by factors, so 100 and 1,000 average to 316, not 550;
    - lower, upper: the 95 % t-interval of that mean of logs, exponentiated (mean ÷ f to mean × f), then
      clipped to the budgets tried (`smallest` to `largest`): a seed's crossing is never outside them, and
      nothing these runs measured says more. Always above zero; None for one seed;
    - clipped: whether the clipping changed either end (the runs' budgets, not the seeds, bound the interval);
    - half_width: always None, kept for readers of the old symmetric interval — an interval of answers is not
      symmetric ("146 ± 176" reached below zero): read lower and upper.

    Two seeds crossing at 100 and 400 answers: mean 200; t(0.975, 1) = 12.7 makes the raw interval 200 ÷ 6,700
    to 200 × 6,700, so with budgets 30 to 3,000 tried it is reported as 30 to 3,000, clipped."""
    per_seed = queries_per_seed(frame, metric, target).with_columns(log_queries=pl.col("queries").log())
    stats = per_seed.group_by(["student", "selection"]).agg(
        seeds=pl.len().cast(pl.Int64),
        n=pl.col("queries").count().cast(pl.Int64),  # the seeds that got there: the mean is over those
        at_most=(pl.col("how") == "at most").sum().cast(pl.Int64),
        log_mean=pl.col("log_queries").mean(),
        sd=pl.col("log_queries").std(ddof=1),
        smallest=pl.col("smallest").min().cast(pl.Int64),
        largest=pl.col("largest").max().cast(pl.Int64),
    )
    halves = [half_width(n, sd) for n, sd in zip(stats["n"].to_list(), stats["sd"].to_list())]
    low, high = pl.col("log_mean") - pl.col("log_half"), pl.col("log_mean") + pl.col("log_half")
    out = (
        stats.with_columns(pl.Series("log_half", halves, dtype=pl.Float64))
        .with_columns(mean=pl.col("log_mean").exp(), raw_lower=low.exp(), raw_upper=high.exp())
        .with_columns(  # max/min_horizontal skip nulls: one seed (no interval) must stay None
            lower=pl.when(pl.col("raw_lower").is_not_null()).then(
                pl.max_horizontal("raw_lower", pl.col("smallest").cast(pl.Float64))
            ),
            upper=pl.when(pl.col("raw_upper").is_not_null()).then(
                pl.min_horizontal("raw_upper", pl.col("largest").cast(pl.Float64))
            ),
        )
        .with_columns(
            clipped=((pl.col("raw_lower") < pl.col("smallest")) | (pl.col("raw_upper") > pl.col("largest"))).fill_null(
                False
            ),
            half_width=pl.lit(None, dtype=pl.Float64),
            target=pl.lit(float(target)),
            threshold=pl.lit(target_value(metric, target)),
            reached=pl.col("n"),
            not_reached=pl.col("seeds") - pl.col("n"),
        )
    )
    columns = ["student", "selection", "target", "threshold", "seeds", "reached", "not_reached", "at_most"]
    columns += ["mean", "half_width", "lower", "upper", "clipped", "smallest", "largest"]
    return out.select(columns).sort(_order())


# ---- the student with no answer --------------------------------------------------------------------------------

ZERO_LABEL = "No answers (a map learnt without pairs)"
# What a zero-answer score file (`core.story.zero_answer_scores`) calls each metric, for the map and for the
# learns-nothing student with the same information; metrics it does not score are not drawn at 0.
ZERO_KEYS = {
    "heldout_cosine": ("heldout_cosine", "baseline_cosine"),
    "analogy_pct_of_teacher": ("analogy_pct_of_teacher", "baseline_analogy_pct_of_teacher"),
}


def zero_answer_bands(scores: list[dict], metric: str = "heldout_cosine", label: str = ZERO_LABEL) -> pl.DataFrame:
    """The student given no teacher answer (`core.words.zero_answer`'s map) and the learns-nothing student with the
    same information, over the seeds of `scores` (zero-answer score files, one per seed), in `quality_bands`'
    columns: student, selection ('none'), p (0), queries (0), n, mean, half_width, lower, upper, line. Empty for a
    metric those files do not score, or without files."""
    schema = {
        "student": pl.Utf8,
        "selection": pl.Utf8,
        "p": pl.Float64,
        "queries": pl.Int64,
        "n": pl.Int64,
        "mean": pl.Float64,
        "sd": pl.Float64,
    }
    rows = []
    if metric in ZERO_KEYS:
        for student, key in zip((label, BASELINE_LABEL), ZERO_KEYS[metric]):
            values = [float(s[key]) for s in scores if s.get(key) is not None and math.isfinite(float(s[key]))]
            if values:
                sd = float(pl.Series(values).std(ddof=1)) if len(values) > 1 else None
                rows.append(
                    {
                        "student": student,
                        "selection": "none",
                        "p": 0.0,
                        "queries": 0,
                        "n": len(values),
                        "mean": sum(values) / len(values),
                        "sd": sd,
                    }
                )
    stats = pl.DataFrame(rows, schema=schema)
    return _with_interval(stats).drop("sd").with_columns(line=pl.lit(""))


def band_table(frame: pl.DataFrame, metrics=tuple(QUALITY_METRICS)) -> pl.DataFrame:
    """Every run's scores summed up over seeds, one row per student x selection x p (the ceiling's runs
    included, at their p; the baseline left out): student, selection, p, queries, seeds, and per metric
    `{metric}` (the mean), `{metric}_half` (95 % half-width, None for one seed) and `{metric}_n` (the seeds it
    was computed from), plus baseline_cosine (the learns-nothing student's mean cosine at the same budget)."""
    students = frame.filter(pl.col("student") != BASELINE_LABEL)
    out = (
        students.unique([*_KEY, "seed"], keep="first")
        .group_by(_KEY)
        .agg(queries=pl.col("queries").mean().round().cast(pl.Int64), seeds=pl.len().cast(pl.Int64))
    )
    for m in metrics:
        data = _one_per_seed(students, m)
        stats = _with_interval(
            data.group_by(_KEY).agg(n=pl.len().cast(pl.Int64), mean=pl.col(m).mean(), sd=pl.col(m).std(ddof=1))
        ).select(*_KEY, pl.col("mean").alias(m), pl.col("half_width").alias(f"{m}_half"), pl.col("n").alias(f"{m}_n"))
        out = out.join(stats, on=_KEY, how="left")
    base = (
        _one_per_seed(frame.filter(pl.col("student") == BASELINE_LABEL), "heldout_cosine")
        .group_by("selection", "p")
        .agg(baseline_cosine=pl.col("heldout_cosine").mean())
    )
    return (
        out.join(base, on=["selection", "p"], how="left")
        .with_columns(_ceiling=is_ceiling(pl.col("p")))
        .sort([pl.col("student"), pl.col("_ceiling"), *_order("p")[1:]])
        .drop("_ceiling")
    )  # per student: the ways of choosing words (random first), then the ceiling
