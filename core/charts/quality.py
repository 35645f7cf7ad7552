"""Quality per teacher answer: query-selection strategies with their seeds' bands, the zero-answer column, the
strategies' differences, and analogies by section."""

from __future__ import annotations

import altair as alt
import polars as pl

from core.charts.common import TEACHER_COLOUR, line_style_legend
from core.evaluation.evaluate import BASELINE_LABEL, QUALITY_METRICS

SELECTION_NAMES = {
    "random": "Random words (the paper's)",
    "typical": "Typical words",
    "kcenter": "Spread-out words",
    "frequency": "Common to rare words",
}
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
BASELINE_COLOUR = "#888888"


# Each strategy's line style (random, the paper's, solid), and the learns-nothing baseline's.
SELECTION_DASHES = {
    "random": [1, 0],
    "typical": [9, 4],
    "kcenter": [12, 3, 2, 3],
    "frequency": [4, 2],
}  # the ceiling is dotted
BASELINE_DASH = [5, 5]


def _dashes(names: list[str]) -> list[list[int]]:
    """The line styles of strategies given as people read them (SELECTION_NAMES' values)."""
    by_name = {selection_name(key): dash for key, dash in SELECTION_DASHES.items()}
    return [by_name.get(name, [1, 0]) for name in names]


def selection_name(selection: str) -> str:
    return SELECTION_NAMES.get(selection, selection)


def _strategies(frame: pl.DataFrame) -> list[str]:
    """The strategies of a frame's `selection` column as people read them, in core.config's order."""
    present = set(frame["selection"].drop_nulls().to_list()) if "selection" in frame.columns else set()
    return [selection_name(s) for s in [*SELECTION_NAMES, *sorted(present - set(SELECTION_NAMES))] if s in present]


# The quality metrics in a few words, for an axis that has little room.
SHORT_METRICS = {
    "heldout_cosine": "cosine",
    "analogy_pct_of_teacher": "analogy % points",
    "simlex_spearman": "SimLex ρ",
    "wordsim_spearman": "WordSim ρ",
    "neighbour_overlap_at_10": "neighbour overlap",
}


def _log_domain(values: pl.Series) -> alt.Scale:
    """A log scale from a little below the smallest value to a little above the largest (Vega's 'nice' log
    domain would run to the next power of ten: an empty half chart)."""
    low, high = values.min(), values.max()
    if low is None or high is None or low <= 0:
        return alt.Scale(type="log")
    return alt.Scale(type="log", domain=[low / 1.35, high * 1.35], nice=False)


def _number_format(metric: str) -> str:
    return ".1f" if metric == "analogy_pct_of_teacher" else ".3f"


ZERO_COLOUR = "#9467bd"
ZERO_AXIS = "0 answers"  # a log axis has no 0: the student with no answer gets a column of its own at the left


def zero_answer_column(zero: pl.DataFrame, metric: str = "heldout_cosine", y_scale=None) -> alt.LayerChart:
    """The student given no answer (`core.runs.quality.zero_answer_bands`) in a narrow column labelled '0 answers':
    a purple diamond with its 95 % interval over seeds, beside a grey tick, the learns-nothing student with the same
    information. Drawn at the left of a log-scale chart, which cannot show 0."""
    label, number = QUALITY_METRICS[metric], _number_format(metric)
    data = zero.drop_nulls("mean").with_columns(at=pl.lit(ZERO_AXIS))
    x = alt.X("at:N", title=None, axis=alt.Axis(labelAngle=0, labelFontSize=12))
    y_scale = y_scale or alt.Scale(zero=False)
    y = alt.Y("mean:Q", title=label, scale=y_scale)
    tooltip = [
        alt.Tooltip("student:N", title="Student"),
        alt.Tooltip("queries:Q", title="Teacher answers"),
        alt.Tooltip("mean:Q", title=f"{label}, mean over seeds", format=number),
        alt.Tooltip("half_width:Q", title="± (95 % interval)", format=number),
        alt.Tooltip("n:Q", title="Seeds"),
    ]
    mapped_names = [n for n in dict.fromkeys(data["student"].to_list()) if n != BASELINE_LABEL]
    colour = alt.Color(
        "student:N",
        title=None,
        scale=alt.Scale(
            domain=[*mapped_names, BASELINE_LABEL], range=[ZERO_COLOUR] * len(mapped_names) + [BASELINE_COLOUR]
        ),
        legend=alt.Legend(orient="bottom", labelLimit=0),
    )
    mapped = data.filter(pl.col("student") != BASELINE_LABEL)
    nothing = data.filter(pl.col("student") == BASELINE_LABEL)
    return alt.layer(
        alt.Chart(mapped.drop_nulls("lower"))
        .mark_rule(strokeWidth=2)
        .encode(x=x, y=alt.Y("lower:Q", title=label, scale=y_scale), y2="upper:Q", color=colour),
        alt.Chart(mapped.clone())
        .mark_point(shape="diamond", filled=True, size=150)
        .encode(x=x, y=y, color=colour, tooltip=tooltip),
        alt.Chart(nothing).mark_tick(thickness=2, size=26).encode(x=x, y=y, color=colour, tooltip=tooltip),
    ).properties(width=70, height=340)


def quality_per_query(
    bands: pl.DataFrame,
    metric: str = "heldout_cosine",
    ceiling: pl.DataFrame | None = None,
    title: str = "Quality per teacher query",
    zero: pl.DataFrame | None = None,
) -> alt.LayerChart | alt.HConcatChart:
    """The mean over seeds of each student's score against the teacher answers it was given (log scale), a
    shaded 95 % band around it, the learns-nothing baseline (grey, dashed) and each student's ceiling (a dotted
    horizontal line: the same student given every answer but a held-out 10 %).

    `bands`: core.runs.quality.quality_bands (student, selection, p, queries, n, mean, half_width, lower, upper;
    the baseline's rows under student 'Average vector (baseline)', averaged here over selections).
    `ceiling`: core.runs.quality.ceiling (student, n, mean, half_width, lower, upper), or None.

    `zero`: core.runs.quality.zero_answer_bands, or None: the student given no answer at all, in a column of its
    own at the left labelled '0 answers' (a log axis cannot show 0), on the same y scale.

    Colour is the student and line style the query selection; with a single student and several selections,
    colour is the selection (three lines of one colour would be hard to tell apart). A curve whose points rest on
    different numbers of seeds (`bands`' `line`, e.g. one-seed story runs beside a two-seed sweep) is drawn as one
    line per count, each named with it ("Kernel adapter · 1 seed"): a mean of one run is never joined to a mean
    of two unsaid."""
    label, number = QUALITY_METRICS[metric], _number_format(metric)
    data = bands.drop_nulls("mean").with_columns(
        strategy=pl.col("selection").replace_strict(SELECTION_NAMES, default=pl.col("selection")),
        seeds=pl.col("n").cast(pl.Utf8) + pl.when(pl.col("n") == 1).then(pl.lit(" (no band)")).otherwise(pl.lit("")),
    )
    if "line" not in data.columns:
        data = data.with_columns(line=pl.lit(""))
    curve = data.filter(pl.col("student") != BASELINE_LABEL)
    students = sorted(set(curve["student"].to_list()))
    strategies = _strategies(curve)
    by_strategy = len(students) == 1 and len(strategies) > 1
    series_title = "Which words were asked" if by_strategy else "Student"
    named = pl.col("strategy" if by_strategy else "student")
    curve = curve.with_columns(
        series=pl.when(pl.col("line") != "").then(named + pl.lit(" · ") + pl.col("line")).otherwise(named),
        # One line per student, strategy and seed count: points on different numbers of seeds are not joined.
        path=pl.col("strategy") + pl.lit("|") + pl.col("line"),
    )
    ordered = strategies if by_strategy else students
    series = [
        name
        for who in ordered
        for name in sorted(set(curve.filter(named == who)["series"].to_list()), key=lambda n: (n != who, n))
    ]
    base = (
        data.filter(pl.col("student") == BASELINE_LABEL)
        .group_by("queries")
        .agg(mean=pl.col("mean").mean(), p=pl.col("p").first())
        .sort("queries")
        .with_columns(series=pl.lit(BASELINE_LABEL))
    )
    domain = [*series, *([BASELINE_LABEL] if base.height else [])]
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(series))] + [BASELINE_COLOUR] * bool(base.height)
    x = alt.X(
        "queries:Q",
        title="Teacher answers (log scale)",
        scale=_log_domain(data["queries"]),
        axis=alt.Axis(format=",", labelOverlap="greedy"),
    )
    y_scale = alt.Scale(zero=False)  # the bands are the point: the axis spans the data, not 0 to 1
    y = alt.Y("mean:Q", title=label, scale=y_scale)
    colour = alt.Color(
        "series:N", title=series_title, scale=alt.Scale(domain=domain, range=colours), legend=BAND_LEGEND
    )
    dashed = not by_strategy and len(strategies) > 1
    dash = (
        alt.StrokeDash(
            "strategy:N",
            title="Which words were asked",
            scale=alt.Scale(domain=strategies, range=_dashes(strategies)),
            legend=line_style_legend(),
        )
        if dashed
        else alt.StrokeDash(
            "series:N",
            title=series_title,
            # Several strategies of one student: each its own line style too, so lines that coincide stay apart.
            scale=alt.Scale(
                domain=domain,
                range=(_dashes(series) if by_strategy else [[1, 0]] * len(series))
                + [BASELINE_DASH] * bool(base.height),
            ),
            legend=BAND_LEGEND,
        )
    )
    tooltip = [
        alt.Tooltip("student:N", title="Student"),
        alt.Tooltip("strategy:N", title="Words asked"),
        alt.Tooltip("queries:Q", title="Teacher answers", format=","),
        alt.Tooltip("p:Q", title="p", format="g"),
        alt.Tooltip("mean:Q", title=f"{label}, mean over seeds", format=number),
        alt.Tooltip("half_width:Q", title="± (95 % interval)", format=number),
        alt.Tooltip("seeds:N", title="Seeds"),
    ]
    # Each layer gets its own copy of its data: layers sharing one polars frame trip Streamlit's data handling.
    layers = [
        alt.Chart(curve.drop_nulls("lower"))
        .mark_area(opacity=0.16)
        .encode(
            x=x,
            y=alt.Y("lower:Q", title=label, scale=y_scale),
            y2="upper:Q",
            color=colour,
            detail="path:N",
        ),
        # Lines and points are separate layers: a line's own point overlay would make the line-style swatches
        # transparent (Vega-Lite copies the filled point's stroke onto them).
        alt.Chart(curve.clone())
        .mark_line(strokeWidth=2.2)
        .encode(x=x, y=y, color=colour, strokeDash=dash, detail="path:N", tooltip=tooltip),
        alt.Chart(curve.clone()).mark_point(filled=True, size=45).encode(x=x, y=y, color=colour, tooltip=tooltip),
    ]
    if base.height:
        base_tooltip = [
            alt.Tooltip("series:N", title="Student"),
            alt.Tooltip("queries:Q", title="Teacher answers", format=","),
            alt.Tooltip("mean:Q", title=label, format=number),
        ]
        base_dash = {"strokeDash": BASELINE_DASH} if dashed else {}
        base_encoding = {} if dashed else {"strokeDash": dash}
        layers.append(
            alt.Chart(base)
            .mark_line(strokeWidth=1.6, **base_dash)
            .encode(x=x, y=y, color=colour, tooltip=base_tooltip, **base_encoding)
        )
    if ceiling is not None and not ceiling.is_empty() and students:
        top = (
            ceiling.drop_nulls("mean")
            .filter(pl.col("student").is_in(students))
            .with_columns(
                series=pl.col("student") if not by_strategy else pl.lit(None, dtype=pl.Utf8),
                text=pl.lit("Ceiling")
                + (pl.lit("") if len(students) == 1 else pl.lit(" of ") + pl.col("student"))
                + pl.lit(": ")
                + pl.col("mean").map_elements(lambda v: format(v, number), return_dtype=pl.Utf8)
                + pl.lit(
                    " (the same student given every answer but 10 %)"
                    if len(students) == 1
                    else " (every answer but 10 %)"
                ),
            )
        )
        # The same colour encoding as the lines (a legend=None here would hide the lines' legend too).
        ceiling_colour = alt.value(TEACHER_COLOUR) if by_strategy else colour
        ceiling_tooltip = [
            alt.Tooltip("student:N", title="Ceiling of"),
            alt.Tooltip("queries:Q", title="Teacher answers", format=","),
            alt.Tooltip("mean:Q", title=f"{label}, mean over seeds", format=number),
            alt.Tooltip("half_width:Q", title="± (95 % interval)", format=number),
            alt.Tooltip("n:Q", title="Seeds"),
        ]
        layers += [
            alt.Chart(top.drop_nulls("lower"))
            .mark_rect(opacity=0.08)
            .encode(y=alt.Y("lower:Q", title=label, scale=y_scale), y2="upper:Q", color=ceiling_colour),
            alt.Chart(top.clone())
            .mark_rule(strokeDash=[2, 3], strokeWidth=2)
            .encode(y=alt.Y("mean:Q", title=label, scale=y_scale), color=ceiling_colour, tooltip=ceiling_tooltip),
            alt.Chart(top.clone())
            .mark_text(align="left", baseline="bottom", dx=6, dy=-3, fontSize=11)
            .encode(x=alt.value(0), y=alt.Y("mean:Q", title=label, scale=y_scale), text="text:N", color=ceiling_colour),
        ]
    subtitle = "Line: the mean over seeds · shaded: 95 % interval of that mean"
    if (curve["line"] != "").any():
        subtitle += " · one line per number of seeds where the runs differ in it"
    if base.height:
        subtitle += " · grey dashed: a student that learns nothing"
    if ceiling is not None and not ceiling.is_empty():
        subtitle += " · dotted: the ceiling"
    heading = alt.TitleParams(title, subtitle=subtitle, subtitleColor="#555555")
    if zero is None or zero.drop_nulls("mean").is_empty():
        return alt.layer(*layers).properties(title=heading, width=560, height=340)
    heading.subtitle = subtitle + " · left, “0 answers”: a map learnt with no teacher answer (a log axis has no 0)"
    return (
        alt.hconcat(zero_answer_column(zero, metric, y_scale), alt.layer(*layers).properties(width=560, height=340))
        .resolve_scale(y="shared", color="independent", strokeDash="independent")
        .properties(title=heading)
    )


REAL_VERDICT, NOISE_VERDICT = "a real difference", "within the noise"
TENTATIVE_VERDICT = "tentative (too few seeds)"


def selection_differences(
    differences: pl.DataFrame,
    metric: str = "heldout_cosine",
    title: str = "Does choosing the words beat a random draw?",
) -> alt.Chart:
    """Each strategy minus random, on the same seeds, at each number of teacher answers: a dot (the mean
    difference) with a bar (its 95 % interval) and a dashed zero line. A bar that crosses zero: the strategies
    are not distinguishable with these seeds (the dot is drawn faint); one that excludes zero from fewer than
    `core.runs.quality.MIN_SEEDS_FOR_VERDICT` seeds (`tentative`) is drawn half-faint: a tentative difference.
    One panel per student when there are several.

    `differences`: core.runs.quality.paired_differences (student, selection, p, queries, n, mean, half_width,
    lower, upper, distinguishable, tentative)."""
    label, number = QUALITY_METRICS[metric], _number_format(metric)
    data = differences.drop_nulls("mean").with_columns(
        strategy=pl.col("selection").replace_strict(SELECTION_NAMES, default=pl.col("selection")),
        verdict=pl.when(pl.col("tentative"))
        .then(pl.lit(TENTATIVE_VERDICT))
        .when(pl.col("distinguishable"))
        .then(pl.lit(REAL_VERDICT))
        .otherwise(pl.lit(NOISE_VERDICT)),
    )
    strategies = _strategies(data)
    # Strategies at the same budget side by side (a few % apart on the log axis), not on top of each other.
    spread = {name: 1.07 ** (i - (len(strategies) - 1) / 2) for i, name in enumerate(strategies)}
    data = data.with_columns(
        at=pl.col("queries") * pl.col("strategy").replace_strict(spread, default=1.0, return_dtype=pl.Float64)
    )
    colours = [PALETTE[(i + 1) % len(PALETTE)] for i in range(len(strategies))]  # random is PALETTE[0] elsewhere
    x = alt.X("at:Q", title="Teacher answers (log scale)", scale=_log_domain(data["at"]), axis=alt.Axis(format=","))
    y_title = f"Gain over random ({SHORT_METRICS.get(metric, metric)})"
    colour = alt.Color(
        "strategy:N",
        title="Which words were asked",
        scale=alt.Scale(domain=strategies, range=colours),
        legend=alt.Legend(orient="right", labelLimit=0, titleLimit=0),
    )
    tooltip = [
        alt.Tooltip("student:N", title="Student"),
        alt.Tooltip("strategy:N", title="Words asked"),
        alt.Tooltip("queries:Q", title="Teacher answers", format=","),
        alt.Tooltip("mean:Q", title=f"{label}: difference from random", format="+" + number),
        alt.Tooltip("half_width:Q", title="± (95 % interval)", format=number),
        alt.Tooltip("n:Q", title="Seeds both have"),
        alt.Tooltip("verdict:N", title="Verdict"),
    ]
    base = alt.Chart(data)
    layers = alt.layer(
        base.mark_rule(color="#666666", strokeDash=[5, 4]).encode(y=alt.datum(0)),
        base.mark_rule(strokeWidth=2).encode(x=x, y=alt.Y("lower:Q", title=y_title), y2="upper:Q", color=colour),
        base.mark_point(filled=True, size=80).encode(
            x=x,
            y=alt.Y("mean:Q", title=y_title),
            color=colour,
            opacity=alt.Opacity(
                "verdict:N",
                title="Verdict (95 % interval)",
                scale=alt.Scale(domain=[REAL_VERDICT, TENTATIVE_VERDICT, NOISE_VERDICT], range=[1.0, 0.65, 0.35]),
                legend=alt.Legend(orient="right", labelLimit=0, titleLimit=0),
            ),
            tooltip=tooltip,
        ),
    )
    subtitle = (
        "Dot: mean difference on the same seeds · bar: its 95 % interval · a bar across the dashed zero line: not "
        "distinguishable · half-faint: from too few seeds to trust, tentative"
    )
    heading = alt.TitleParams(title, subtitle=subtitle, subtitleColor="#555555")
    students = sorted(set(data["student"].to_list()))
    if len(students) > 1:
        return (
            layers.properties(width=560, height=240)
            .facet(
                row=alt.Row(
                    "student:N",
                    title=None,
                    header=alt.Header(
                        labelFontSize=12,
                        labelFontWeight="bold",
                        labelLimit=400,
                        labelAngle=0,
                        labelOrient="top",
                        labelAnchor="start",
                    ),
                )
            )
            .properties(title=heading)
        )
    return layers.properties(title=heading, width=560, height=260)


# A legend for lines: short strokes as swatches (a dot cannot show a dashed line), labels never cut.
LINE_LEGEND = alt.Legend(
    orient="right", labelLimit=0, titleLimit=0, symbolType="stroke", symbolStrokeWidth=2.5, symbolSize=500
)
# The same, for lines drawn over a shaded band: swatches at full strength, not the band's faint shade.
BAND_LEGEND = alt.Legend(
    orient="right",
    labelLimit=0,
    titleLimit=0,
    symbolType="stroke",
    symbolStrokeWidth=2.5,
    symbolSize=500,
    symbolOpacity=1,
)


def section_accuracy(sections: list[dict], student: str) -> pl.DataFrame:
    """The evaluation's per-section counts (section, questions, teacher_correct, student_correct) as
    `analogy_sections`' long frame: one row per section and model, the share answered right."""
    wide = pl.DataFrame(
        sections,
        schema={"section": pl.Utf8, "questions": pl.Int64, "teacher_correct": pl.Int64, "student_correct": pl.Int64},
    )
    return pl.concat(
        [
            wide.select(
                "section",
                "questions",
                pl.lit(name).alias("model"),
                (pl.col(column) / pl.col("questions")).alias("accuracy"),
            )
            for name, column in (("teacher", "teacher_correct"), (student, "student_correct"))
        ]
    )


def analogy_sections(frame: pl.DataFrame, title: str = "Analogies by section") -> alt.Chart:
    """Columns: section, model ('teacher' / the student's label), accuracy (0-1), questions."""
    models = list(dict.fromkeys(frame["model"].to_list()))
    others = [m for m in models if m != "teacher"]
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=alt.Y("section:N", title="Section of the Google analogy set", sort=None, axis=alt.Axis(labelLimit=260)),
            x=alt.X(
                "accuracy:Q",
                title="Questions answered right",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1]),
            ),
            yOffset=alt.YOffset("model:N", sort=["teacher", *others]),
            color=alt.Color(
                "model:N",
                title="Model",
                legend=alt.Legend(orient="bottom"),
                scale=alt.Scale(
                    domain=["teacher", *others], range=[TEACHER_COLOUR, "#1f77b4", "#ff7f0e"][: 1 + len(others)]
                ),
            ),
            tooltip=[
                alt.Tooltip("section:N"),
                alt.Tooltip("model:N"),
                alt.Tooltip("accuracy:Q", format=".1%"),
                alt.Tooltip("questions:Q"),
            ],
        )
        .properties(title=title, width=420)
    )
