"""Watermarks (core.watermark): off changes nothing, the secrets come from the key, the verifier's statistics and
intervals against scipy, calibration against control students, the removal attack, the grid."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from scipy.stats import binomtest, ks_2samp
from scipy.stats import t as student_t

from core.teachers.teacher import HashTeacher
from core.vectors import unit_rows
from core.watermark.grid import GridSpec, Materials, run_grid, train_suspect, train_suspects
from core.watermark.marks import Watermark, WatermarkConfig, trigger_weight, utility_cost
from core.watermark.power import grid_verdict, summarize
from core.watermark.removal import (
    cse_directions,
    project_out,
    remove,
    remove_watermark,
    remove_watermark_cse,
    residual_directions,
    suspect_pairs,
)
from core.watermark.verify import Calibration, false_alarms, inspect, interval, verdict


def _words(n: int) -> tuple[str, ...]:
    rng = np.random.default_rng(7)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = dict.fromkeys("".join(rng.choice(letters, size=rng.integers(3, 9))) for _ in range(n + 50))
    return tuple(list(words)[:n])


@pytest.fixture(scope="module")
def materials() -> Materials:
    """A fake teacher (32 dims) on 600 made-up words and a fake cheap model that sees the teacher's answer through a
    random 24-dimensional linear map with noise (so an adapter has something to learn)."""
    items = _words(600)
    clean = HashTeacher(32).embed(list(items))
    rng = np.random.default_rng(3)
    features = (clean @ rng.standard_normal((32, 24)) + 0.3 * rng.standard_normal((len(items), 24))).astype(np.float32)
    return Materials(items, clean, "hash-32", features=features)


@pytest.mark.parametrize(
    "config", [WatermarkConfig("trigger", 0.0), WatermarkConfig("region", 0.0), WatermarkConfig("off", 0.5)]
)
def test_watermark_off_gives_the_answers_back_bit_for_bit(materials, config):
    mark = Watermark.build(config, materials.items, materials.clean)
    out = mark.apply(materials.clean)
    assert out.tobytes() == materials.clean.tobytes() and out.dtype == materials.clean.dtype


@pytest.mark.parametrize("kind", ["trigger", "region"])
def test_a_watermark_changes_only_its_marked_answers(materials, kind):
    mark = Watermark.build(WatermarkConfig(kind, 0.3, key=5), materials.items, materials.clean)
    out = mark.apply(materials.clean)
    changed = ~(out == materials.clean).all(1)
    assert np.array_equal(changed, mark.marked)
    assert mark.marked.sum() == round(0.05 * len(materials.items))
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_trigger_answer_by_hand():
    """e' = unit((1 - q) e + q t) with q = strength for a one-word text."""
    clean = unit_rows(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]]))
    mark = Watermark.build(WatermarkConfig("trigger", 0.5, key=1, share=0.25), ["a", "b", "c", "d"], clean)
    (row,) = np.flatnonzero(mark.marked)
    expected = (0.5 * clean[row] + 0.5 * clean[mark.anchor]) / np.linalg.norm(
        0.5 * clean[row] + 0.5 * clean[mark.anchor]
    )
    assert np.allclose(mark.apply(clean)[row], expected)
    assert trigger_weight(3, 0.5) == 1.0


def test_the_key_decides_the_secrets(materials):
    a, b, c = (
        Watermark.build(WatermarkConfig("region", 0.3, key=k), materials.items, materials.clean) for k in (1, 1, 2)
    )
    assert np.array_equal(a.marked, b.marked) and np.array_equal(a.vector, b.vector)
    assert not np.array_equal(a.marked, c.marked)


def test_triggers_come_from_the_moderate_band(materials):
    frequencies = np.arange(len(materials.items), dtype=float)
    mark = Watermark.build(WatermarkConfig("trigger", 0.3), materials.items, materials.clean, frequencies)
    chosen = frequencies[mark.marked | mark.benign]
    assert chosen.min() >= np.quantile(frequencies, 0.25) and chosen.max() <= np.quantile(frequencies, 0.75)
    assert not (mark.marked & mark.benign).any() and not mark.marked[mark.anchor]


def test_utility_cost(materials):
    off = utility_cost(materials.clean, materials.clean)
    assert (off.mean_cosine, off.overlap_at_10, off.marked_share) == pytest.approx((1.0, 1.0, 0.0))
    mark = Watermark.build(WatermarkConfig("trigger", 0.5), materials.items, materials.clean)
    cost = utility_cost(materials.clean, mark.apply(materials.clean))
    assert cost.mean_cosine < 1.0 and cost.overlap_at_10 < 1.0 and cost.marked_share == pytest.approx(0.05)
    # Oracle: brute force over every word.
    marked = mark.apply(materials.clean)
    same = []
    for i in range(len(marked)):
        a, b = materials.clean @ materials.clean[i], marked @ marked[i]
        a[i] = b[i] = -np.inf
        same.append(len(set(np.argsort(-a)[:10]) & set(np.argsort(-b)[:10])) / 10)
    assert cost.overlap_at_10 == pytest.approx(np.mean(same))


def test_the_verifier_sees_only_an_embed_function_and_matches_scipy(materials):
    mark = Watermark.build(WatermarkConfig("trigger", 0.4, key=2), materials.items, materials.clean)
    marked = mark.apply(materials.clean)
    index = {w: i for i, w in enumerate(materials.items)}
    found = inspect(lambda words: marked[[index[w] for w in words]], mark, materials.items)
    cos_t, cos_b = marked[mark.marked] @ mark.vector, marked[mark.benign] @ mark.vector
    assert found.statistic == pytest.approx(cos_t.mean() - cos_b.mean(), abs=1e-6)
    assert found.pvalue == pytest.approx(ks_2samp(cos_t, cos_b).pvalue, rel=1e-4)
    assert found.delta_l2 < 0 < found.statistic and found.raw_flag


@pytest.mark.parametrize("hits,n", [(0, 10), (3, 10), (10, 10), (17, 80)])
def test_intervals_match_scipy(hits, n):
    for method, scipy_method in (("clopper-pearson", "exact"), ("wilson", "wilson")):
        ours = interval(hits, n, method=method)
        theirs = binomtest(hits, n).proportion_ci(0.95, method=scipy_method)
        assert (ours.low, ours.high) == pytest.approx((theirs.low, theirs.high), abs=1e-9)


def test_calibration_is_the_normal_prediction_bound():
    values = [0.01, 0.03, -0.02, 0.0, 0.02, 0.015]
    cal = Calibration.from_controls(values, 0.01)
    n = len(values)
    expected = np.mean(values) + student_t.ppf(0.99, n - 1) * np.std(values, ddof=1) * np.sqrt(1 + 1 / n)
    assert cal.threshold == pytest.approx(expected)
    assert cal.flags(expected + 1e-6) and not cal.flags(expected - 1e-6)
    with pytest.raises(ValueError, match="at least 3 control"):
        Calibration.from_controls([0.1, 0.2])
    same = Calibration.from_controls([0.02] * 5)  # controls that do not vary: no line, nothing flagged
    assert not same.usable and not same.flags(1.0)


FAST_TABLE = {"epochs": 20, "lr": 0.05, "batch_size": 64}  # Model B fits 200 answers in a second or two


@pytest.fixture(scope="module")
def small(materials) -> Materials:
    """The first 200 words: enough for Model B to learn every answer quickly."""
    return Materials(materials.items[:200], materials.clean[:200], "hash-32", features=materials.features[:200])


def _controls_and_suspects(materials, kind, watermark, strength, p, seeds=5, share=0.05, **settings):
    """One control and one marked suspect per seed, trained together as the grid trains them (`train_suspects`)."""
    jobs = [(materials.clean, p, seed) for seed in range(seeds)]
    for seed in range(seeds):
        mark = Watermark.build(
            WatermarkConfig(watermark, strength, key=seed, share=share), materials.items, materials.clean
        )
        jobs.append((mark.apply(materials.clean), p, seed))
    students = train_suspects(kind, materials, jobs, **settings)
    return dict(enumerate(students[:seeds])), dict(enumerate(students[seeds:]))


def _evidence(materials, student, watermark, key, share=0.05):
    mark = Watermark.build(WatermarkConfig(watermark, 0.0, key=key, share=share), materials.items, materials.clean)
    probe = student.never_asked() if watermark == "region" else None
    return inspect(student.embed, mark, materials.items, probe)


@pytest.mark.slow  # 20 Model B students: ~100 s each case at load ~20 on 2 cores
@pytest.mark.parametrize("watermark", ["trigger", "region"])
def test_a_strong_watermark_is_caught_on_every_answer_and_no_control_is_flagged(small, watermark):
    """Model B (its controls vary: a seed draws the table's start and the batch order) asked about every word, five
    keys, five controls each judged by the other four. At the verifier's usual 1 % the 25 judgements would flag a
    control about one time in five by design; at 0.1 % a flagged control means the calibration is wrong."""
    level = 0.001
    controls, suspects = _controls_and_suspects(small, "B", watermark, 0.6, 1.0, share=0.2, **FAST_TABLE)
    for key, suspect in suspects.items():
        clean_stats = [_evidence(small, c, watermark, key, share=0.2).statistic for c in controls.values()]
        cal = Calibration.from_controls(clean_stats, level)
        found = _evidence(small, suspect, watermark, key, share=0.2)
        assert cal.flags(found.statistic), (found.statistic, cal.threshold)
        assert verdict(found, cal).startswith("Caught")
        assert false_alarms(clean_stats, level) == (0, len(clean_stats))


@pytest.mark.parametrize("watermark", ["trigger", "region"])
def test_false_alarms_on_controls_stay_within_the_level_over_seeds(materials, watermark):
    """Twenty clean ridge students, each judged by the other nineteen (leave one out) under each of five keys: the
    calibrated verifier's measured false-alarm rate is compatible with its stated level. (Whether the plain KS test
    cries wolf depends on how semantic the region is: bench/watermark.py measures it on the real teacher.)"""
    level = 0.05
    students = [train_suspect("ridge", materials, materials.clean, 0.3, seed) for seed in range(20)]
    flagged = tested = 0
    for key in range(5):
        f, t = false_alarms([_evidence(materials, s, watermark, key).statistic for s in students], level)
        flagged, tested = flagged + f, tested + t
    assert tested == 100
    assert interval(flagged, tested).low <= level  # the measured rate is compatible with the stated level
    assert flagged / tested <= 2 * level


def test_removal_projects_out_and_keeps_unit_rows(materials):
    assert project_out(np.array([[0.6, 0.8]], np.float32), np.array([[1.0, 0.0]], np.float32)).tolist() == [[0.0, 1.0]]
    directions = residual_directions(materials.clean, materials.features, 3)
    assert np.allclose(directions @ directions.T, np.eye(3), atol=1e-5)
    train = np.arange(0, 600, 2)
    out = remove_watermark(materials.clean, materials.features, train, 3)
    assert np.array_equal(out[1::2], materials.clean[1::2])  # answers the imitator never bought are never read
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_removal_finds_the_trigger_target(materials):
    """Strong trigger marks on answers a cheap model cannot predict: the top residual direction is the target."""
    mark = Watermark.build(WatermarkConfig("trigger", 0.6, key=4, share=0.1), materials.items, materials.clean)
    (direction,) = residual_directions(mark.apply(materials.clean), materials.features, 1)
    assert abs(float(direction @ mark.vector)) > 0.7


def test_cse_selects_the_marked_pairs_and_finds_the_trigger_target(materials):
    """WARDEN's CSE on strong trigger marks: the pairs the API calls much more alike than the imitator's reference
    model does are pairs of trigger words, and the first direction it eliminates is the secret target."""
    mark = Watermark.build(WatermarkConfig("trigger", 0.6, key=4, share=0.1), materials.items, materials.clean)
    answers = mark.apply(materials.clean)
    pairs = suspect_pairs(answers, materials.features, seed=1)
    assert len(pairs) == round(0.025 * len(answers))
    assert mark.marked[pairs].all(axis=1).mean() >= 0.6  # 5 % of all pairs of words are pairs of triggers
    (direction,) = cse_directions(answers, materials.features, 1, seed=1)
    assert abs(float(direction @ mark.vector)) > 0.9
    # What the verifier measures (Δcos, triggers minus benign words) is mostly gone from the cleaned answers.
    cleaned = project_out(answers, direction[None])
    pull = [(a[mark.marked] @ mark.vector).mean() - (a[mark.benign] @ mark.vector).mean() for a in (answers, cleaned)]
    assert pull[0] > 0.3 and abs(pull[1]) < 0.25 * pull[0], pull


def test_cse_changes_only_the_bought_answers_and_keeps_unit_rows(materials):
    train = np.arange(0, 600, 2)
    out = remove_watermark_cse(materials.clean, materials.features, train, 3, seed=0)
    assert np.array_equal(out[1::2], materials.clean[1::2])  # answers the imitator never bought are never read
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    directions = cse_directions(materials.clean[train], materials.features[train], 3)
    assert np.allclose(directions @ directions.T, np.eye(3), atol=1e-5)
    assert np.allclose(out[train] @ directions.T, 0.0, atol=1e-5)  # what was eliminated is gone
    assert remove("cse", materials.clean, materials.features, train, 0).tobytes() == materials.clean.tobytes()
    with pytest.raises(ValueError, match="must be one of residual, cse"):
        remove("erase", materials.clean, materials.features, train, 1)
    with pytest.raises(ValueError, match="removal attacks must be among"):
        GridSpec(removal=2, attacks=("erase",))


def test_cse_erases_the_mark_a_student_learnt(small):
    """Model B asked about every word learns the trigger mark (a large Δcos); trained on the answers CSE cleaned
    first, what is left of the pull toward the target is a fraction of it."""
    mark = Watermark.build(WatermarkConfig("trigger", 0.6, key=2, share=0.2), small.items, small.clean)
    marked = mark.apply(small.clean)
    every = np.arange(len(small.items))
    cleaned = remove_watermark_cse(marked, small.features, every, 2, seed=2)
    before, after = (
        inspect(train_suspect("B", small, a, 1.0, 2, **FAST_TABLE).embed, mark, small.items).statistic
        for a in (marked, cleaned)
    )
    assert before > 0.2 and after < 0.5 * before, (before, after)


def test_table_students_trained_together_are_the_students_trained_alone(small):
    """The grid trains Model B suspects as one group (the sweep's grouped path): each the same student as alone."""
    mark = Watermark.build(WatermarkConfig("region", 0.5, key=1), small.items, small.clean)
    jobs = [(small.clean, 0.5, 0), (mark.apply(small.clean), 1.0, 1), (small.clean, 1.0, 2)]
    together = train_suspects("B", small, jobs, **FAST_TABLE)
    for (answers, p, seed), student in zip(jobs, together):
        alone = train_suspect("B", small, answers, p, seed, **FAST_TABLE)
        assert np.array_equal(student.train_idx, alone.train_idx)
        assert np.abs(student.vectors - alone.vectors).max() < 1e-4


def test_a_small_grid_end_to_end(small):
    spec = GridSpec(
        ps=(0.5, 1.0), kinds=("B",), watermarks=("trigger",), strengths=(0.6,), seeds=4, removal=1, **FAST_TABLE
    )
    seen = []
    result = run_grid(spec, small, progress=lambda done, total: seen.append((done, total)))
    # Per p and seed: a control, a control put through each attack, the marked suspect and it after each attack.
    assert seen[-1] == (spec.students, spec.students) == (2 * 4 * 6, 48)
    rows = result.rows
    assert sorted(set(rows["role"])) == ["control", "control-cse", "control-removed", "cse", "marked", "removed"]
    summary = summarize(rows, spec.level)
    marked = summary.filter(summary["role"] == "marked").sort("p")
    assert marked["suspects"].to_list() == [4, 4] and marked["controls_tested"].to_list() == [16, 16]
    assert marked["caught"].to_list()[-1] == 4  # every answer learnt: caught
    for role in ("removed", "cse"):  # an attacked suspect is judged against clean students put through that attack
        after = summary.filter(summary["role"] == role).sort("p")
        assert after.height == 2 and after["controls_tested"].to_list() == [16, 16]
        own = rows.filter(rows["role"] == f"control-{role}").group_by("p").agg(pl.col("statistic").mean()).sort("p")
        assert np.allclose(after["control_statistic"].to_numpy(), own["statistic"].to_numpy())
        plain = rows.filter(rows["role"] == "control").group_by("p").agg(pl.col("statistic").mean()).sort("p")
        assert not np.allclose(after["control_statistic"].to_numpy(), plain["statistic"].to_numpy())
    sentence = grid_verdict(summary, "B", 0.6)
    assert "trigger-word watermark catches every imitator from p = " in sentence and "clean students" in sentence
    assert result.costs.height == 1 and 0 < result.costs["mean_cosine"][0] < 1


def test_a_closed_form_student_asked_everything_gets_no_verdict(materials):
    """Ridge at p = 1 is the same student at every seed: the controls cannot vary, so nothing is claimed."""
    spec = GridSpec(ps=(1.0,), kinds=("ridge",), watermarks=("region",), strengths=(0.5,), seeds=4)
    summary = summarize(run_grid(spec, materials).rows, spec.level)
    assert summary["calibrated"].to_list() == [False] and summary["power"].to_list() == [None]
    assert "no verdict is possible" in grid_verdict(summary, "ridge", 0.5)


def test_the_cli_prints_one_json_line(capsys):
    from core.__main__ import main

    code = main(
        ["watermark", "--teacher", "hash-32", "--size", "400", "--kinds", "ridge", "--ps", "0.5,1", "--seeds", "4"]
        + ["--watermarks", "region", "--strengths", "0.5", "--json"]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["teacher"] == "hash-32" and out["words"] == 400
    assert [(r["p"], r["suspects"]) for r in out["summary"]] == [(0.5, 4), (1.0, 4)]
    assert "region watermark" in out["verdicts"]["ridge@0.5"]


def test_the_cli_refuses_a_bad_grid_in_one_line(capsys):
    from core.__main__ import main

    assert main(["watermark", "--teacher", "hash-32", "--size", "50", "--seeds", "2"]) == 2
    assert "at least 4 seeds" in capsys.readouterr().err
