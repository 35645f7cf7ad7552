"""The Honest evaluation page's quality-per-query section over seeds and query selections: the band chart,
the mean ± half-width table, the paired comparison with random words and the "how few answers" box."""

import json

import pytest

from core.config import CEILING_P, TrainConfig
from core.paths import runs_dir
from core.runs.experiment import TrainingRun
from pages._labels import difference_sentence, plus_minus, queries_sentence, target_words
from tests.app.apphelpers import make_app, no_errors

SEEDS = (0, 1, 2)


@pytest.fixture
def seeded_runs(prepared, vocab) -> str:
    """The kernel adapter on the fake teacher: random and typical words at two budgets, three seeds each, and its
    ceiling on the same seeds. Returns one run's id."""
    configs = [
        TrainConfig(teacher="hash-32", model="kernel", p=p, selection=selection, seed=seed, vocabulary=vocab.label)
        for selection in ("random", "typical")
        for seed in SEEDS
        for p in (0.1, 0.3)
    ]
    configs += [
        TrainConfig(teacher="hash-32", model="kernel", p=CEILING_P, seed=seed, vocabulary=vocab.label) for seed in SEEDS
    ]
    ids = []
    for config in configs:
        run = TrainingRun(config, prepared, runs_dir(), device="cpu")
        list(run)
        ids.append(run.run_id)
    return ids[0]


def _charts(at):
    return [json.loads(c.proto.spec) for c in at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")]


def test_the_quality_section_shows_bands_strategies_the_table_and_how_few_answers(seeded_runs, prepared, vocab):
    at = make_app("evaluate", run_id=seeded_runs, prepared=prepared, vocabulary=vocab, teacher_name="hash-32")
    no_errors(at)

    # The table: one row per student, selection and p, each score its mean ± half-width over the seeds.
    table = next(d.value for d in at.dataframe if "Seeds" in d.value.columns)
    assert len(table) == 5  # random and typical at two budgets, and the ceiling (p = 0.9)
    assert set(table["Words asked"]) == {
        "Random words (the paper's)",
        "Typical words",
        "Every answer but 10 % (the ceiling)",
    }
    assert list(table["Seeds"]) == [3] * 5
    assert all(" ± " in cell for cell in table["Cosine to teacher"])

    # The strategy filter, the band chart (area + lines + the ceiling) and the paired-difference chart.
    assert at.multiselect(key="quality_selections").value == ["random", "typical"]
    specs = _charts(at)
    quality, differences = specs[0], specs[1]
    marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in quality["layer"]]
    assert {"area", "line", "rule", "text"} <= set(marks)
    assert quality["title"]["text"] == "Quality per teacher query"
    assert differences["title"]["text"] == "Does choosing the words beat a random draw?"

    # One plain sentence per strategy under the paired comparison, with its verdict.
    verdicts = [
        m.value for m in at.markdown if "random" in m.value and ("real difference" in m.value or "noise" in m.value)
    ]
    assert len(verdicts) == 1 and "Typical words" in verdicts[0]

    # The box: how few answers for a share of the teacher, per student and strategy, in words.
    at.selectbox(key="quality_target_metric").set_value("heldout_cosine").run()
    at.number_input(key="quality_target").set_value(80).run()
    no_errors(at)
    assert any("How few teacher answers for 80 % of the teacher's cosine" in m.value for m in at.markdown)
    answers = next(m.value for m in at.markdown if "Adapter (kernel, layers), random words" in m.value)
    assert "Adapter (kernel, layers), typical words" in answers and "answers" in answers

    # Showing one strategy only: no pairs left to compare, the chart is coloured by student again.
    at.multiselect(key="quality_selections").set_value(["typical"]).run()
    no_errors(at)
    assert len(_charts(at)) == 1
    shown = set(next(d.value for d in at.dataframe if "Seeds" in d.value.columns)["Words asked"])
    assert shown == {"Typical words", "Every answer but 10 % (the ceiling)"}  # the ceiling stays


# every kind of setting a page can show (download buttons are not settings: they stay, beside their charts)
SETTINGS = ("button", "checkbox", "multiselect", "number_input", "radio", "selectbox", "slider", "text_input", "toggle")


def _setting_keys(block) -> set[str]:
    return {w.key for kind in SETTINGS for w in getattr(block, kind)}


def test_presenter_mode_folds_away_every_setting_of_honest_evaluation(seeded_runs, prepared, vocab):
    """In presenter mode (pages/_shared.py `knobs`) every setting of the page sits in a box hidden for the audience:
    the run picker, which words count, the epochs, the ways of choosing words, the chart's score, the target of
    "how few answers" and the buttons that train more runs. The tables and charts stay, and so do the values."""
    state = dict(run_id=seeded_runs, prepared=prepared, vocabulary=vocab, teacher_name="hash-32")
    shown = make_app("evaluate", **state)
    no_errors(shown)
    everything = _setting_keys(shown.main) - {"presenter_key"}  # the one key that leaves presenter mode
    assert {"run_select", "eval_scope", "quality_selections", "quality_metric", "quality_target"} <= everything
    assert {"eval_sweep_start", "eval_selection_start"} & everything  # something to train: its button is a setting

    at = make_app("evaluate", presenter_mode=True, **state)
    no_errors(at)
    hidden = [e for e in at.main.expander if e.label.endswith("(hidden for the audience)")]
    folded = set().union(*(_setting_keys(e) for e in hidden))
    assert _setting_keys(at.main) - {"presenter_key"} == everything  # folded, not gone: their values stay
    assert everything - folded == set(), f"settings an audience would see: {everything - folded}"
    assert len(_charts(at)) == len(_charts(shown)) == 2  # the charts stay
    assert any("Seeds" in d.value.columns for d in at.dataframe)  # and the tables


# ---- the sentences (pages/_labels.py), on hand-built rows ------------------------------------------------------


def diff(queries, mean, half, n, real, selection="typical"):
    return {
        "selection": selection,
        "queries": queries,
        "mean": mean,
        "half_width": half,
        "n": n,
        "distinguishable": real,
    }


def test_plus_minus_cells():
    assert plus_minus("heldout_cosine", 0.7123, 0.0141, 5, 5) == "0.712 ± 0.014"
    assert plus_minus("heldout_cosine", 0.7123, 0.0141, 4, 5) == "0.712 ± 0.014 (4 seeds)"  # fewer than the row's
    assert plus_minus("analogy_pct_of_teacher", 72.44, 3.06, 5) == "72.4 ± 3.1 %"
    assert plus_minus("heldout_cosine", 0.7123, None, 1, 1) == "0.712 (one seed)"
    assert plus_minus("heldout_cosine", None, None, None) == "—"


def test_a_real_difference_and_the_noise_are_said_plainly():
    text = difference_sentence([diff(1000, 0.002, 0.01, 5, False), diff(300, 0.021, 0.008, 5, True)], "heldout_cosine")
    assert text == (
        "Typical words beat random by 0.021 ± 0.008 at 300 answers (5 seeds): a real difference. "
        "At 1,000 answers the two are within the noise of 5 seeds: not distinguishable."
    )
    noise = difference_sentence(
        [diff(300, -0.004, 0.009, 5, False, "kcenter"), diff(1000, 0.001, 0.01, 5, False, "kcenter")],
        "heldout_cosine",
        "Model B",
    )
    assert noise == (
        "Model B: Spread-out words against random words: within the noise of 5 seeds at every budget "
        "(the largest gap, −0.004 ± 0.009 at 300 answers): not distinguishable with these seeds."
    )
    worse = difference_sentence([diff(30, -2.5, 1.0, 3, True)], "analogy_pct_of_teacher")
    assert worse == "Typical words trail random by 2.5 ± 1.0 points at 30 answers (3 seeds): a real difference."
    several = difference_sentence(
        [diff(30, 0.012, 0.002, 5, True), diff(100, 0.019, 0.002, 5, True), diff(1000, -0.02, 0.003, 5, True)],
        "heldout_cosine",
    )
    assert several == (
        "Typical words beat random by 0.012 ± 0.002 at 30 and 0.019 ± 0.002 at 100 answers but trail random by "
        "0.020 ± 0.003 at 1,000 answers (5 seeds): real differences."
    )
    tentative = difference_sentence([{**diff(30, 0.04, 0.03, 2, True), "tentative": True}], "heldout_cosine")
    assert tentative == (
        "Typical words beat random by 0.040 ± 0.030 at 30 answers (2 seeds): a tentative difference (fewer than 3 seeds)."
    )
    mixed = difference_sentence(
        [{**diff(30, 0.04, 0.03, 2, True), "tentative": True}, diff(100, 0.02, 0.01, 5, True)], "heldout_cosine"
    )
    assert "real differences; at 30 answers a tentative difference (fewer than 3 seeds)" in mixed
    one = difference_sentence([diff(30, 0.1, None, 1, False)], "heldout_cosine")
    assert "only one seed" in one and "no verdict" in one


def answer(**changes):
    row = dict(
        student="Adapter (kernel, layers)",
        selection="typical",
        threshold=90.0,
        seeds=5,
        reached=5,
        not_reached=0,
        at_most=0,
        mean=734.0,
        half_width=None,  # `queries_for` no longer gives a symmetric ±: its interval is lower to upper
        lower=512.0,
        upper=1000.0,
        clipped=True,
        smallest=30,
        largest=1000,
    )
    return {**row, **changes}


def test_how_few_answers_in_words():
    metric = "analogy_pct_of_teacher"
    assert queries_sentence(answer(), metric) == (
        "**Adapter (kernel, layers), typical words**: about 734 answers (95 % interval 512 to 1,000, clipped to the "
        "budgets tried; 5 of 5 seeds got there)."
    )
    inside = queries_sentence(answer(upper=950.0, clipped=False), metric)
    assert "(95 % interval 512 to 950; 5 of 5 seeds got there)" in inside and "±" not in inside
    some = queries_sentence(answer(reached=3, not_reached=2), metric)
    assert "3 of 5 seeds got there); 2 did not within 1,000 answers, so the true number is likely higher" in some
    assert queries_sentence(
        answer(reached=0, not_reached=5, mean=None, lower=None, upper=None), metric, ceiling=80.0
    ) == (
        "**Adapter (kernel, layers), typical words**: not reached within 1,000 answers by any of its 5 seeds — even "
        "its ceiling (every answer but 10 %) stays below, at 80.0 %."
    )
    assert "at most 30 answers" in queries_sentence(answer(at_most=5, mean=30.0), metric)
    assert "one seed got there: no interval" in queries_sentence(
        answer(seeds=1, reached=1, lower=None, upper=None, clipped=False), metric
    )
    assert target_words("heldout_cosine", 90, 0.9) == "a cosine of 0.90 to the teacher (90 % of the teacher's own 1.0)"
