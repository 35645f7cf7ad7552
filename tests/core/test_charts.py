import polars as pl
import pytest

from core import charts
from core.config import CEILING_P
from core.evaluation.evaluate import QUALITY_METRICS
from core.runs import quality


def epochs():
    return pl.DataFrame(
        {
            "epoch": [1, 2, 3],
            "train_loss": [0.9, 0.5, 0.3],
            "train_cosine": [0.1, 0.5, 0.7],
            "heldout_cosine": [0.1, 0.3, None],
        }
    )


def titles(spec):
    """Every title and axis title anywhere in a Vega-Lite spec."""
    found = []
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key == "title" and isinstance(value, str):
                found.append(value)
            elif key == "title" and isinstance(value, dict) and "text" in value:
                found.append(value["text"])
            else:
                found.extend(titles(value))
    elif isinstance(spec, list):
        for value in spec:
            found.extend(titles(value))
    return found


CASES = {
    "training": lambda: charts.training_curves(epochs()),
    "means": lambda: charts.means_histogram(
        charts.bin_means(
            pl.DataFrame(
                {
                    "panel": ["a"] * 4 + ["b"] * 4,
                    "series": ["Teacher", "Teacher", "S", "S"] * 2,
                    "mean": [0.0, 0.01, 0.02, 0.03] * 2,
                }
            )
        )
    ),
    "projection": lambda: charts.projection_scatter(
        pl.DataFrame(
            {
                "x": [0.0, 1.0],
                "y": [0.0, 1.0],
                "word": ["a", "a"],
                "model": ["teacher", "student"],
                "group": ["training", "training"],
                "highlighted": [True, False],
            }
        )
    ),
    "pairs": lambda: charts.pair_bars(
        pl.DataFrame({"pair": ["a–b", "a–b"], "model": ["teacher", "student"], "cosine": [0.5, 0.2]})
    ),
    "compare": lambda: charts.compare_runs(epochs().with_columns(run=pl.lit("r1"))),
    "quality_per_query": lambda: charts.quality_per_query(
        quality.quality_bands(seeded()), "heldout_cosine", quality.ceiling(seeded())
    ),
    "selection_differences": lambda: charts.selection_differences(quality.paired_differences(seeded())),
}


@pytest.mark.parametrize("name", CASES)
def test_every_chart_has_a_title_and_axis_titles(name):
    spec = CASES[name]().to_dict()
    assert len(titles(spec)) >= 3, titles(spec)  # (the sentence beside each: tests/app/test_labels.py)


def test_svg_and_png_export():
    chart = CASES["pairs"]()
    svg = charts.to_svg(chart)
    assert svg.startswith(b"<svg") and b"Similarity of word pairs" in svg
    assert charts.to_png(chart)[:8] == b"\x89PNG\r\n\x1a\n"


def test_training_curve_skips_missing_heldout_values():
    spec = charts.training_curves(epochs()).to_dict()  # epoch 3 has no held-out score
    cosine = spec["datasets"][spec["hconcat"][1]["data"]["name"]]
    points = sorted((row["which"], row["epoch"]) for row in cosine)
    assert points == [("held-out words", 1), ("held-out words", 2)] + [("words it trained on", e) for e in (1, 2, 3)]
    assert all(row["cosine"] is not None for row in cosine)


def test_bin_means_counts_every_word_once():
    frame = pl.DataFrame(
        {"panel": ["p"] * 6, "series": ["Teacher"] * 3 + ["S"] * 3, "mean": [0.0, 0.5, 1.0, 0.0, 0.0, 1.0]}
    )
    binned = charts.bin_means(frame, bins=2)
    counts = {(r["series"], r["bin_start"]): r["words"] for r in binned.iter_rows(named=True)}
    assert counts == {("S", 0.0): 2, ("S", 0.5): 1, ("Teacher", 0.0): 1, ("Teacher", 0.5): 2}


def test_a_sweep_figure_names_each_student_as_the_rest_of_the_lab_does():
    from core.charts.sweep import _setting_label
    from core.config import STUDENT_LABELS, StudentKind

    kinds = list(StudentKind)
    frame = pl.DataFrame(
        {"model": [k.value for k in kinds], "lemmatize": ["none"] * len(kinds), "poison": [0.0] * len(kinds)}
    )
    shown = _setting_label(frame)["setting"].to_list()
    assert shown == [f"{STUDENT_LABELS[k]}, no lemmas, clean" for k in kinds]
    assert _setting_label(frame.with_columns(model=pl.lit("Z")))["setting"][0] == "Model Z, no lemmas, clean"


def _vega(chart):
    import vl_convert as vlc

    return vlc.vegalite_to_vega(chart.to_json())


def _legends(vega):
    found = list(vega.get("legends", []))
    for mark in vega.get("marks", []):
        found.extend(_legends(mark))
    return found


def test_line_style_legends_draw_visible_strokes():
    rows = [
        {"rate": r, "adversary": a, "defence": d, "heldout_cosine": 0.8 - r, "seconds": 1.0}
        for a in ("random", "negate")
        for d in ("No defence", "Trimmed loss")
        for r in (0.1, 0.3)
    ]
    rows += [
        {"rate": 0.0, "adversary": "clean", "defence": d, "heldout_cosine": 0.8, "seconds": 1.0}
        for d in ("No defence", "Trimmed loss")
    ]
    dash = [lg for lg in _legends(_vega(charts.damage_vs_rate(pl.DataFrame(rows)))) if "strokeDash" in lg]
    assert len(dash) == 1 and dash[0]["symbolType"] == "stroke"
    # The bug: a point overlay made these swatches' stroke transparent, so the legend showed labels only.
    stroke = dash[0].get("encode", {}).get("symbols", {}).get("update", {}).get("stroke", {}).get("value")
    assert stroke != "transparent"


def seeded(students=("Model B",), selections=("random", "typical"), seeds=(0, 1, 2), ceiling=True) -> pl.DataFrame:
    """A quality frame (core.runs.quality) of several seeds: typical words a little better than random."""
    rows = []
    for student in students:
        for selection in selections:
            for seed in seeds:
                for p, queries in ((0.01, 100), (0.03, 300), (0.1, 1000)):
                    cosine = 0.4 + p + 0.01 * seed + (0.02 if selection == "typical" else 0.0)
                    rows.append((student, selection, seed, p, queries, cosine))
                    rows.append((charts.BASELINE_LABEL, selection, seed, p, queries, 0.3))
        if ceiling:
            rows += [(student, "random", seed, CEILING_P, 9000, 0.8 + 0.01 * seed) for seed in seeds]
    return pl.DataFrame(
        [
            {
                "student": st,
                "run_id": f"{st}{sel}{seed}{p}",
                "selection": sel,
                "seed": seed,
                "p": p,
                "queries": q,
                **{m: None for m in QUALITY_METRICS},
                "heldout_cosine": c,
            }
            for st, sel, seed, p, q, c in rows
        ],
        schema=quality._SCHEMA,
    )


def _layers(spec):
    return [
        (layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"], layer) for layer in spec["layer"]
    ]


def test_quality_legend_shows_colour_and_dash_together():
    frame = seeded(selections=("random",), ceiling=False)
    legends = _legends(_vega(charts.quality_per_query(quality.quality_bands(frame))))
    assert len(legends) == 1 and {"stroke", "strokeDash"} <= set(
        legends[0]
    )  # one legend: each swatch has its colour and dash (the baseline's dashed)
    assert legends[0]["symbolType"] == "stroke" and legends[0].get("labelLimit") == 0


def test_quality_chart_draws_bands_lines_the_baseline_and_the_ceiling():
    frame = seeded(students=("Model B", "Adapter (kernel, layers)"))
    spec = charts.quality_per_query(quality.quality_bands(frame), "heldout_cosine", quality.ceiling(frame)).to_dict()
    marks = [mark for mark, _ in _layers(spec)]
    assert marks == ["area", "line", "point", "line", "rect", "rule", "text"]
    band, line = spec["layer"][0], spec["layer"][1]
    assert band["encoding"]["y"]["field"] == "lower" and band["encoding"]["y2"]["field"] == "upper"
    assert line["encoding"]["color"]["field"] == "series" and line["encoding"]["strokeDash"]["field"] == "strategy"
    assert spec["layer"][0]["mark"]["opacity"] < 0.5  # the band is a shade behind the line
    x = line["encoding"]["x"]
    assert x["scale"]["type"] == "log" and x["title"] == "Teacher answers (log scale)"
    assert line["encoding"]["y"]["title"] == charts.QUALITY_METRICS["heldout_cosine"]
    rule = spec["layer"][5]
    assert "x" not in rule["encoding"] and rule["encoding"]["y"]["field"] == "mean"  # across the whole chart
    texts = [r["text"] for r in spec["datasets"][spec["layer"][6]["data"]["name"]]]
    assert sorted(texts) == [
        "Ceiling of Adapter (kernel, layers): 0.810 (every answer but 10 %)",
        "Ceiling of Model B: 0.810 (every answer but 10 %)",
    ]
    assert spec["title"]["text"] == "Quality per teacher query" and "95 %" in spec["title"]["subtitle"]
    legends = _legends(_vega(charts.quality_per_query(quality.quality_bands(frame), "heldout_cosine")))
    assert sorted(lg.get("title") for lg in legends) == ["Student", "Which words were asked"]
    # The ceiling's runs (p = 0.9) are not points of the curve: the x axis ends at the largest budget.
    curve = spec["datasets"][line["data"]["name"]]
    assert max(r["queries"] for r in curve) == 1000


def test_one_student_with_several_strategies_is_coloured_by_strategy():
    frame = seeded()
    spec = charts.quality_per_query(quality.quality_bands(frame), "heldout_cosine", quality.ceiling(frame)).to_dict()
    line = spec["layer"][1]
    assert line["encoding"]["color"]["title"] == "Which words were asked"
    assert line["encoding"]["color"]["scale"]["domain"] == [
        "Random words (the paper's)",
        "Typical words",
        charts.BASELINE_LABEL,
    ]
    assert spec["layer"][5]["encoding"]["color"] == {"value": charts.TEACHER_COLOUR}  # the ceiling: dark grey
    texts = [r["text"] for r in spec["datasets"][spec["layer"][6]["data"]["name"]]]
    assert texts == ["Ceiling: 0.810 (the same student given every answer but 10 %)"]


def test_one_seed_draws_a_line_without_a_band():
    frame = seeded(seeds=(0,), ceiling=False)
    spec = charts.quality_per_query(quality.quality_bands(frame)).to_dict()
    assert spec["datasets"][spec["layer"][0]["data"]["name"]] == []  # no interval: nothing shaded
    assert len(spec["datasets"][spec["layer"][1]["data"]["name"]]) == 6


def test_selection_differences_have_error_bars_a_zero_rule_and_a_verdict():
    frame = seeded(seeds=(0, 1, 2))
    diffs = quality.paired_differences(frame)
    spec = charts.selection_differences(diffs).to_dict()
    marks = [mark for mark, _ in _layers(spec)]
    assert marks == ["rule", "rule", "point"]
    zero, bars, dots = (layer["encoding"] for layer in spec["layer"])
    assert zero["y"] == {"datum": 0}
    assert bars["y"]["field"] == "lower" and bars["y2"]["field"] == "upper"
    assert dots["opacity"]["field"] == "verdict" and dots["x"]["scale"]["type"] == "log"
    rows = spec["datasets"][spec["data"]["name"]]
    assert {r["verdict"] for r in rows} == {"a real difference"}  # + 0.02 on every seed: no spread at all
    assert spec["title"]["text"] == "Does choosing the words beat a random draw?"
    two = charts.selection_differences(quality.paired_differences(seeded(students=("Model B", "Subword")))).to_dict()
    assert two["facet"]["row"]["field"] == "student"  # one panel per student


def test_one_step_students_are_bars_not_a_one_point_curve():
    one = pl.DataFrame({"epoch": [1], "train_loss": [0.3], "train_cosine": [0.8], "heldout_cosine": [0.7]})
    spec = charts.training_curves(one).to_dict()
    assert {part["mark"]["type"] for part in spec["hconcat"]} == {"bar"}
    assert "one step" in spec["title"]["subtitle"]


def test_plural():
    assert (charts.plural(1, "epoch"), charts.plural(2, "epoch"), charts.plural(10_002, "word")) == (
        "1 epoch",
        "2 epochs",
        "10,002 words",
    )


def test_projection_labels_one_per_close_pair_and_sides_apart():
    frame = pl.DataFrame(
        {
            "x": [0.0, 0.001, 0.0, 1.0, 0.5],
            "y": [0.0, 0.0, 1.0, 0.0, 0.5],
            "word": ["king", "king", "queen", "queen", "cat"],
            "model": ["teacher", "student", "teacher", "student", "teacher"],
            "group": ["training"] * 5,
            "highlighted": [True, True, True, True, False],
        }
    )
    labels = charts.projection_labels(frame, frame.filter(pl.col("highlighted")))
    got = {(r["label"], r["side"]) for r in labels.iter_rows(named=True)}
    assert got == {("king", "right"), ("queen (teacher)", "left"), ("queen (student)", "right")}
    assert charts.projection_scatter(frame).to_dict()  # builds


def test_section_accuracy_is_one_row_per_section_and_model():
    sections = [
        {"section": "capital", "questions": 4, "student_correct": 1, "teacher_correct": 3},
        {"section": "plural", "questions": 2, "student_correct": 2, "teacher_correct": 0},
    ]
    frame = charts.section_accuracy(sections, "Model B")
    rows = {(r["section"], r["model"]): r["accuracy"] for r in frame.iter_rows(named=True)}
    assert rows == {
        ("capital", "teacher"): 0.75,
        ("plural", "teacher"): 0.0,
        ("capital", "Model B"): 0.25,
        ("plural", "Model B"): 1.0,
    }
    assert frame["questions"].to_list() == [4, 2, 4, 2]
    assert charts.section_accuracy([], "Model B").height == 0
