"""Quality per teacher query over seeds (core.runs.quality), on hand-built frames with known answers."""

import math

import polars as pl
import pytest
from scipy.stats import t

from core.config import CEILING_P
from core.evaluation.evaluate import BASELINE_LABEL, QUALITY_METRICS
from core.runs import quality

KERNEL = "Adapter (kernel, layers)"


def frame(rows) -> pl.DataFrame:
    """Rows of (student, selection, seed, p, queries, cosine[, analogies]) as a quality frame."""
    out = []
    for student, selection, seed, p, queries, cosine, *rest in rows:
        scores = {m: None for m in QUALITY_METRICS}
        scores["heldout_cosine"] = cosine
        scores["analogy_pct_of_teacher"] = rest[0] if rest else None
        out.append(
            {
                "student": student,
                "run_id": f"{student}-{selection}-{seed}-{p}",
                "selection": selection,
                "seed": seed,
                "p": p,
                "queries": queries,
                **scores,
            }
        )
    return pl.DataFrame(out, schema=quality._SCHEMA)


def test_half_width_is_students_t():
    assert quality.half_width(1, 0.5) is None and quality.half_width(3, None) is None
    assert quality.half_width(5, 0.1) == pytest.approx(t.ppf(0.975, 4) * 0.1 / math.sqrt(5))
    assert quality.half_width(2, 1.0) == pytest.approx(12.706 / math.sqrt(2), rel=1e-4)


def test_bands_have_known_means_and_half_widths_and_one_seed_has_none():
    data = frame(
        [
            *[(KERNEL, "random", s, 0.01, 100, v) for s, v in enumerate([0.50, 0.52, 0.54])],
            (KERNEL, "typical", 0, 0.01, 100, 0.60),
            *[(KERNEL, "random", s, CEILING_P, 9000, 0.9) for s in range(3)],  # the ceiling: not a curve point
        ]
    )
    bands = quality.quality_bands(data)
    assert bands.select("student", "selection", "p", "n").rows() == [
        (KERNEL, "random", 0.01, 3),
        (KERNEL, "typical", 0.01, 1),
    ]
    random = bands.row(0, named=True)
    assert random["mean"] == pytest.approx(0.52) and random["queries"] == 100
    assert random["half_width"] == pytest.approx(t.ppf(0.975, 2) * 0.02 / math.sqrt(3))  # sd of .50 .52 .54: 0.02
    assert random["lower"] == pytest.approx(0.52 - random["half_width"])
    typical = bands.row(1, named=True)
    assert typical["mean"] == pytest.approx(0.60) and typical["half_width"] is None and typical["upper"] is None


def test_paired_differences_use_only_the_seeds_both_strategies_have():
    data = frame(
        [
            *[(KERNEL, "random", s, 0.1, 1000, v) for s, v in enumerate([0.50, 0.40, 0.60, 0.99])],
            *[(KERNEL, "typical", s, 0.1, 1000, v) for s, v in enumerate([0.52, 0.421, 0.619])],  # no seed 3
            (KERNEL, "typical", 7, 0.1, 1000, 0.1),  # no random run with seed 7: not paired
        ]
    )
    diff = quality.paired_differences(data).row(0, named=True)
    assert (diff["selection"], diff["n"]) == ("typical", 3)
    assert diff["mean"] == pytest.approx(0.02)  # (0.02 + 0.021 + 0.019) / 3, seed 3 (random only) left out
    assert diff["half_width"] == pytest.approx(t.ppf(0.975, 2) * 0.001 / math.sqrt(3))
    assert diff["strategy"] == pytest.approx(0.52) and diff["reference"] == pytest.approx(0.50)
    assert diff["lower"] > 0 and diff["distinguishable"]  # 0.020 ± 0.0025: a real difference


def test_a_difference_whose_interval_holds_zero_is_not_distinguishable():
    data = frame(
        [
            *[(KERNEL, "random", s, 0.1, 1000, v) for s, v in enumerate([0.50, 0.50, 0.50])],
            *[(KERNEL, "kcenter", s, 0.1, 1000, v) for s, v in enumerate([0.55, 0.45, 0.52])],
            (KERNEL, "random", 0, 0.3, 3000, 0.6),
            (KERNEL, "kcenter", 0, 0.3, 3000, 0.9),  # one shared seed: no interval, never "a real difference"
        ]
    )
    diffs = quality.paired_differences(data)
    assert diffs["queries"].to_list() == [1000, 3000]
    noisy, single = diffs.row(0, named=True), diffs.row(1, named=True)
    assert noisy["lower"] < 0 < noisy["upper"] and not noisy["distinguishable"]
    assert single["n"] == 1 and single["half_width"] is None and not single["distinguishable"]


def test_the_ceiling_is_random_words_at_ceiling_p_per_student():
    data = frame(
        [
            *[(KERNEL, "random", s, CEILING_P, 9000, v) for s, v in enumerate([0.90, 0.92])],
            (KERNEL, "typical", 0, CEILING_P, 9000, 0.1),  # not the ceiling: another selection
            (KERNEL, "random", 0, 0.1, 1000, 0.5),
            ("Model B", "random", 0, CEILING_P, 9000, 0.7),
            (BASELINE_LABEL, "random", 0, CEILING_P, 9000, 0.3),
        ]
    )
    top = quality.ceiling(data)
    assert top["student"].to_list() == [KERNEL, "Model B"]
    kernel = top.filter(pl.col("student") == KERNEL).row(0, named=True)
    assert kernel["n"] == 2 and kernel["mean"] == pytest.approx(0.91) and kernel["queries"] == 9000
    assert kernel["half_width"] == pytest.approx(t.ppf(0.975, 1) * math.sqrt(2e-4) / math.sqrt(2))
    assert top.filter(pl.col("student") == "Model B")["half_width"][0] is None
    assert quality.ceiling(data.filter(pl.col("p") < 0.5)).is_empty()


def test_crossing_interpolates_in_log_queries():
    # 50 at 100 answers, 100 at 10,000: 75 is half way in log(answers), at 1,000.
    assert quality.crossing([100, 10_000], [50.0, 100.0], 75.0) == (pytest.approx(1000.0), "crossed")
    assert quality.crossing([100, 1000], [95.0, 99.0], 90.0) == (100.0, "at most")
    assert quality.crossing([100, 1000], [10.0, 20.0], 90.0) == (None, "not reached")
    # The first crossing, even when a later point falls back below.
    assert quality.crossing([10, 100, 1000], [0.0, 100.0, 0.0], 50.0)[0] == pytest.approx(10**1.5)


def test_queries_for_a_target_over_seeds_with_seeds_that_never_get_there():
    rows = []
    for seed, top in enumerate([100.0, 100.0, 100.0, 80.0]):  # seed 3 never reaches 90 %
        rows += [(KERNEL, "random", seed, 0.01, 100, 0.0, 50.0), (KERNEL, "random", seed, 0.1, 10_000, 0.0, top)]
    rows += [(KERNEL, "typical", 0, 0.01, 100, 0.0, 95.0), (KERNEL, "typical", 0, 0.1, 10_000, 0.0, 99.0)]
    rows += [(KERNEL, "random", 0, CEILING_P, 90_000, 0.0, 100.0)]  # the ceiling is no point of the curve
    answer = quality.queries_for(frame(rows), "analogy_pct_of_teacher", 90.0)
    random, typical = answer.row(0, named=True), answer.row(1, named=True)
    expected = 10 ** (2 + 2 * 40 / 50)  # 50 -> 100 over 100 -> 10,000: 90 is 4/5 of the way in log
    assert (random["seeds"], random["reached"], random["not_reached"]) == (4, 3, 1)
    assert random["mean"] == pytest.approx(expected) and random["half_width"] is None  # no symmetric "±" (issue 33)
    assert random["lower"] == pytest.approx(expected) and random["upper"] == pytest.approx(expected)  # no spread
    assert random["largest"] == 10_000 and random["threshold"] == 90.0
    assert (typical["at_most"], typical["half_width"], typical["lower"]) == (1, None, None)  # one seed, at most 100
    assert typical["mean"] == pytest.approx(100.0)  # exp(log(100)): the geometric mean of one value is that value


def test_a_cosine_target_is_a_share_of_the_teachers_one():
    assert quality.target_value("heldout_cosine", 90) == pytest.approx(0.9)
    assert quality.target_value("analogy_pct_of_teacher", 90) == 90.0
    with pytest.raises(ValueError, match="has none"):
        quality.target_value("simlex_spearman", 90)
    data = frame([(KERNEL, "random", 0, 0.01, 100, 0.8), (KERNEL, "random", 0, 0.1, 1000, 0.95)])
    reached = quality.queries_for(data, "heldout_cosine", 90).row(0, named=True)
    assert 100 < reached["mean"] < 1000 and reached["reached"] == 1
    never = quality.queries_for(data, "heldout_cosine", 99).row(0, named=True)
    assert never["reached"] == 0 and never["mean"] is None and never["not_reached"] == 1


def test_band_table_sums_up_every_cell_with_its_seeds():
    data = frame(
        [
            *[(KERNEL, "random", s, 0.1, 1000, v, a) for s, v, a in [(0, 0.5, 40.0), (1, 0.6, None), (2, 0.7, 60.0)]],
            *[(BASELINE_LABEL, "random", s, 0.1, 1000, 0.2) for s in range(3)],
            (KERNEL, "random", 0, CEILING_P, 9000, 0.9, 99.0),
        ]
    )
    table = quality.band_table(data)
    assert table["p"].to_list() == [0.1, CEILING_P]  # the ceiling's runs are rows of the table
    row = table.row(0, named=True)
    assert (row["seeds"], row["heldout_cosine_n"], row["analogy_pct_of_teacher_n"]) == (3, 3, 2)
    assert row["heldout_cosine"] == pytest.approx(0.6) and row["baseline_cosine"] == pytest.approx(0.2)
    assert row["heldout_cosine_half"] == pytest.approx(t.ppf(0.975, 2) * 0.1 / math.sqrt(3))
    assert row["simlex_spearman"] is None and row["simlex_spearman_n"] is None


def test_quality_frame_takes_selection_and_seed_from_the_runs_table():
    def evaluation(run_id, model, p, queries, cosine):
        row = {m: None for m in QUALITY_METRICS} | {"heldout_cosine": cosine}
        base = {m: None for m in QUALITY_METRICS} | {"heldout_cosine": 0.1}
        summary = {"model": model, "p": p, "teacher_queries": queries, "run_id": run_id}
        return {"summary": summary, "table": [row, {"heldout_cosine": 1.0}, base]}

    runs = pl.DataFrame({"run_id": ["a", "b"], "selection": ["typical", "random"], "seed": [3, 4]})
    data = quality.quality_frame(
        [evaluation("a", "kernel", 0.1, 1000, 0.5), evaluation("b", "kernel", 0.1, 1000, 0.6)], runs
    )
    students = data.filter(pl.col("student") != BASELINE_LABEL)
    assert students.select("run_id", "selection", "seed").rows() == [("a", "typical", 3), ("b", "random", 4)]
    baselines = data.filter(pl.col("student") == BASELINE_LABEL)
    assert sorted(baselines.select("selection", "seed").rows()) == [("random", 4), ("typical", 3)]
    # Without the table (or a run not in it): the paper's random draw, seed 0.
    alone = quality.quality_frame([evaluation("c", "B", 0.1, 1000, 0.5)])
    assert alone.row(0, named=True)["selection"] == "random" and alone.row(0, named=True)["seed"] == 0


def test_the_zero_answer_student_and_learning_nothing_at_0_answers_over_seeds():
    files = [
        {"heldout_cosine": 0.50, "baseline_cosine": 0.40, "analogy_pct_of_teacher": 10.0},
        {"heldout_cosine": 0.54, "baseline_cosine": 0.40, "analogy_pct_of_teacher": None},
    ]
    bands = quality.zero_answer_bands(files)
    mapped, nothing = bands.row(0, named=True), bands.row(1, named=True)
    assert (mapped["student"], nothing["student"]) == (quality.ZERO_LABEL, BASELINE_LABEL)
    assert (mapped["queries"], mapped["p"], mapped["n"]) == (0, 0.0, 2) and mapped["mean"] == pytest.approx(0.52)
    assert mapped["half_width"] == pytest.approx(t.ppf(0.975, 1) * math.sqrt(8e-4) / math.sqrt(2))
    assert nothing["mean"] == pytest.approx(0.40) and nothing["half_width"] == pytest.approx(0.0)
    analogies = quality.zero_answer_bands(files, "analogy_pct_of_teacher")
    assert analogies["n"].to_list() == [1] and analogies["half_width"].to_list() == [None]  # one seed scored them
    assert quality.zero_answer_bands(files, "simlex_spearman").is_empty() and quality.zero_answer_bands([]).is_empty()


def test_the_quality_chart_draws_0_answers_in_a_column_of_its_own():
    from core import charts

    data = frame([(KERNEL, "random", s, p, q, 0.5 + p) for s in (0, 1) for p, q in ((0.01, 100), (0.1, 1000))])
    zero = quality.zero_answer_bands([{"heldout_cosine": 0.45, "baseline_cosine": 0.4}])
    spec = charts.quality_per_query(quality.quality_bands(data), zero=zero).to_dict()
    column, curve = spec["hconcat"]
    assert [layer["mark"]["type"] for layer in column["layer"]] == ["rule", "point", "tick"]
    assert (
        column["layer"][1]["encoding"]["x"]["field"] == "at"
        and curve["layer"][1]["encoding"]["x"]["scale"]["type"] == "log"
    )
    assert spec["resolve"]["scale"]["y"] == "shared" and "0 answers" in spec["title"]["subtitle"]
    points = spec["datasets"][column["layer"][1]["data"]["name"]]
    assert [(r["student"], r["at"], r["queries"]) for r in points] == [(quality.ZERO_LABEL, charts.ZERO_AXIS, 0)]
    assert (
        "hconcat"
        not in charts.quality_per_query(quality.quality_bands(data), zero=quality.zero_answer_bands([])).to_dict()
    )
