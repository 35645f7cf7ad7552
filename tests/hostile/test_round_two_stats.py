"""Issue 33, round two, finding 12: statistics that overclaimed on "how few answers" and the paired verdicts.

- An interval of the teacher answers needed reached below zero ("146 ± 176", "213 ± 334"): it is now taken on
  log(answers) around their geometric mean and clipped to the budgets the runs tried, always above zero.
- A "real difference" was declared from 2 seeds (t(0.975, 1) = 12.7: one lucky pair of runs is enough): a verdict
  from fewer than `MIN_SEEDS_FOR_VERDICT` seeds is tentative, in the engine's frame and in the chart.
- One line joined 1-seed story runs to 2-seed sweep runs: a curve whose points rest on different numbers of
  seeds is split by that number, and each part says it.

Every frame here is built by hand (`tests.core.test_quality.frame`): the answers are known.
"""

from __future__ import annotations

import math

import polars as pl
import pytest
from scipy.stats import t

from core import charts
from core.runs import quality
from tests.core.test_quality import KERNEL, frame


def _two_point_seeds(tops: list[float], low: int = 30, high: int = 3000) -> list[tuple]:
    """One seed per `tops` value: cosine 0 at `low` answers, `top` at `high`; a target of 0.9 is crossed where
    log(answers) is 0.9 / top of the way from log(low) to log(high)."""
    rows = []
    for seed, top in enumerate(tops):
        rows += [(KERNEL, "random", seed, 0.01, low, 0.0), (KERNEL, "random", seed, 0.1, high, top)]
    return rows


def crossing_at(top: float, low: int = 30, high: int = 3000) -> float:
    return math.exp(math.log(low) + 0.9 / top * (math.log(high) - math.log(low)))


def test_the_answers_needed_never_get_an_interval_below_zero():
    # Two seeds, one crossing near the smallest budget (38 answers) and one near the largest (2,377): the old
    # mean ± t·sd/√n was 1,207 ± 14,900, reaching far below zero.
    answer = quality.queries_for(frame(_two_point_seeds([0.9 / 0.05, 0.9 / 0.95])), "heldout_cosine", 90).row(
        0, named=True
    )
    assert answer["reached"] == 2
    assert 0 < answer["smallest"] <= answer["lower"] <= answer["mean"] <= answer["upper"] <= answer["largest"]
    assert answer["clipped"]  # two seeds this far apart: the raw interval runs past the budgets tried
    assert (answer["lower"], answer["upper"]) == (30, 3000)
    assert answer["half_width"] is None  # no symmetric "±" for a number of answers


def test_the_interval_is_students_t_on_log_answers_around_the_geometric_mean():
    tops = [0.9 / s for s in (0.45, 0.5, 0.55)]  # crossings at 30·100^0.45, 30·100^0.5, 30·100^0.55
    answer = quality.queries_for(frame(_two_point_seeds(tops)), "heldout_cosine", 90).row(0, named=True)
    logs = [math.log(crossing_at(top)) for top in tops]
    mean = sum(logs) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / 2)
    half = t.ppf(0.975, 2) * sd / math.sqrt(3)
    assert answer["mean"] == pytest.approx(math.exp(mean))  # 300: the geometric mean, not the arithmetic one
    assert answer["mean"] == pytest.approx(300.0)
    assert answer["lower"] == pytest.approx(math.exp(mean - half))
    assert answer["upper"] == pytest.approx(math.exp(mean + half))
    assert not answer["clipped"] and 30 < answer["lower"] < 300 < answer["upper"] < 3000


def test_one_seed_that_got_there_has_no_interval_at_all():
    answer = quality.queries_for(frame(_two_point_seeds([1.0])), "heldout_cosine", 90).row(0, named=True)
    assert answer["reached"] == 1 and answer["mean"] == pytest.approx(crossing_at(1.0))
    assert answer["lower"] is None and answer["upper"] is None and not answer["clipped"]


def _differences(seeds: int):
    rows = []
    for seed in range(seeds):
        rows += [
            (KERNEL, "random", seed, 0.1, 1000, 0.50 + 0.1 * seed),
            (KERNEL, "typical", seed, 0.1, 1000, 0.52 + 0.1 * seed + 0.001 * seed),
        ]
    return quality.paired_differences(frame(rows))


def test_a_verdict_from_two_seeds_is_tentative_and_from_three_it_is_not():
    two, three = _differences(2).row(0, named=True), _differences(3).row(0, named=True)
    assert two["n"] == 2 and two["distinguishable"] and two["tentative"]  # 0.0205 ± 0.006: excludes 0, yet 2 seeds
    assert three["n"] == 3 and three["distinguishable"] and not three["tentative"]
    assert quality.MIN_SEEDS_FOR_VERDICT == 3


def test_the_difference_chart_never_calls_a_two_seed_difference_real():
    spec = charts.selection_differences(_differences(2)).to_dict()
    rows = spec["datasets"][spec["data"]["name"]]
    assert {r["verdict"] for r in rows} == {charts.TENTATIVE_VERDICT}
    opacity = spec["layer"][2]["encoding"]["opacity"]["scale"]
    assert opacity["domain"] == [charts.REAL_VERDICT, charts.TENTATIVE_VERDICT, charts.NOISE_VERDICT]
    assert "tentative" in spec["title"]["subtitle"]


def _story_beside_a_sweep():
    """Story runs (seed 0) at p = 0.01 and 0.03; sweep runs (seeds 0 and 1) at p = 0.1 and 0.3."""
    rows = [(KERNEL, "random", 0, p, q, 0.5 + p) for p, q in ((0.01, 100), (0.03, 300))]
    rows += [(KERNEL, "random", s, p, q, 0.5 + p + 0.01 * s) for s in (0, 1) for p, q in ((0.1, 1000), (0.3, 3000))]
    return frame(rows)


def test_a_curve_over_one_and_two_seeds_is_split_and_labelled():
    bands = quality.quality_bands(_story_beside_a_sweep())
    assert bands.select("queries", "n", "line").rows() == [
        (100, 1, "1 seed"),
        (300, 1, "1 seed"),
        (1000, 2, "2 seeds"),
        (3000, 2, "2 seeds"),
    ]
    even = quality.quality_bands(_story_beside_a_sweep().filter(pl.col("p") >= 0.1))
    assert set(even["line"]) == {""}  # every point on 2 seeds: one line, nothing to say


def test_the_quality_chart_never_joins_a_one_seed_mean_to_a_two_seed_one():
    spec = charts.quality_per_query(quality.quality_bands(_story_beside_a_sweep())).to_dict()
    line = spec["layer"][1]
    points = spec["datasets"][line["data"]["name"]]
    paths = {}
    for r in points:
        paths.setdefault(r[line["encoding"]["detail"]["field"]], set()).add(r["n"])
    assert len(paths) == 2 and all(len(ns) == 1 for ns in paths.values())  # each drawn line: one seed count
    assert {r["series"] for r in points} == {f"{KERNEL} · 1 seed", f"{KERNEL} · 2 seeds"}  # and it says which
    assert "number of seeds" in spec["title"]["subtitle"]
