"""The story's charts (pages/story.py): pure functions from the frames of `core.story` to Altair charts.

One per step, each with a title and labelled axes; like `core.charts`, nothing here needs Streamlit.

One colour per student across the whole story (`STUDENT_COLOURS`, Okabe-Ito's colour-blind-safe palette): Model B is
blue and the adapter green in every step; poisoned answers are vermillion (`POISON_COLOUR`), which no student uses;
the student given no answer pink (`ZERO_COLOUR`); the teacher dark grey; the learns-nothing student light grey.
What is measured (lessons / new words) is told apart by shade and by the axis, never by another colour. Legends
sit above the plot, so a 900-pixel-high screen shows them with the chart.
"""

from __future__ import annotations

import altair as alt
import polars as pl

from core.charts.common import TEACHER_COLOUR

STUDENT_COLOURS = {"Model B (the paper's)": "#0072B2", "Adapter reading a cheap model": "#009E73"}
POISON_COLOUR = "#D55E00"  # poisoned answers, in step 5: no student's colour
ZERO_COLOUR = "#CC79A7"
BASELINE_COLOUR = "#7f7f7f"
NEW_WORDS_OPACITY = 0.45  # steps 2-3: a student's bar on new words is its own colour, lighter
CHART_HEIGHT = 260  # the plot alone: with its title, legend and axis it fits under a step's text at 1400 x 900
ZERO_AXIS = "0 answers"  # a log axis has no 0: the student with no answer gets its own column at the left
COSINE_AXIS = "Cosine to the teacher (1 = same)"


def _students(frame: pl.DataFrame, column: str = "student") -> alt.Scale:
    names = [n for n in STUDENT_COLOURS if n in set(frame[column].to_list())] or list(
        dict.fromkeys(frame[column].to_list())
    )
    return alt.Scale(domain=names, range=[STUDENT_COLOURS.get(n, TEACHER_COLOUR) for n in names])


def teacher_neighbours(frame: pl.DataFrame, title: str = "The teacher's closest words") -> alt.VConcatChart:
    """Step 1: one small bar chart per word, its nearest words by cosine. Columns word, rank, neighbour, cosine."""
    panels = []
    for word in dict.fromkeys(frame["word"].to_list()):
        part = frame.filter(pl.col("word") == word)
        panels.append(
            alt.Chart(part)
            .mark_bar(color=TEACHER_COLOUR)
            .encode(
                x=alt.X("cosine:Q", title="Closeness (cosine)", scale=alt.Scale(domain=[0, 1])),
                y=alt.Y(
                    "neighbour:N",
                    title=None,
                    sort=alt.EncodingSortField("rank", order="ascending"),
                    axis=alt.Axis(labelFontSize=13, labelLimit=200),
                ),
                tooltip=[
                    alt.Tooltip("neighbour:N", title="Word"),
                    alt.Tooltip("cosine:Q", title="Cosine", format=".3f"),
                ],
            )
            .properties(title=f"Closest to “{word}”", width=200, height=190)
        )
    rows = [alt.hconcat(*panels[i : i + 2]) for i in range(0, len(panels), 2)]  # two a row: fits a laptop screen
    return alt.vconcat(*rows).properties(title=alt.TitleParams(title, fontSize=16, anchor="start"))


def split_bars(
    frame: pl.DataFrame, title: str = "Right on the words it was taught, and on new words?"
) -> alt.LayerChart:
    """Steps 2-3: mean cosine to the teacher on training words and on new words, one group per student, in the
    student's own colour (new words lighter), each bar labelled with its value. Columns student, words, cosine,
    count."""
    words = list(dict.fromkeys(frame["words"].to_list()))
    opacities = [1.0 if w.startswith("training") else NEW_WORDS_OPACITY for w in words]
    x = alt.X(
        "student:N",
        title=None,
        sort=list(STUDENT_COLOURS),
        # on top, under the legend: a 900-px-high projector shows which student is which without scrolling
        axis=alt.Axis(labelAngle=0, labelFontSize=13, labelLimit=300, orient="top", labelPadding=30, ticks=False),
    )
    offset = alt.XOffset("words:N", sort=words)
    y = alt.Y(
        "cosine:Q",
        title=COSINE_AXIS,
        scale=alt.Scale(domain=[0, 1]),
        axis=alt.Axis(values=[0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    )
    # Each bar says what it measures under its value ("taught" / "new words"): the legend's shade key is neutral grey,
    # while the bars are in the students' colours, and a presenter's audience should not have to match them up.
    data = frame.drop_nulls("cosine")
    data = data.with_columns(
        label=pl.Series(
            [
                f"{c:.2f}\n{'taught' if w.startswith('training') else 'new words'}"
                for c, w in zip(data["cosine"].to_list(), data["words"].to_list())
            ],
            dtype=pl.Utf8,
        )
    )
    bars = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=x,
            xOffset=offset,
            y=y,
            color=alt.Color("student:N", scale=_students(data), legend=None),  # the axis names the students
            opacity=alt.Opacity(
                "words:N",
                title="Measured on",
                sort=words,
                scale=alt.Scale(domain=words, range=opacities),
                legend=alt.Legend(orient="top", labelLimit=400, symbolFillColor=TEACHER_COLOUR, symbolStrokeWidth=0),
            ),
            tooltip=[
                alt.Tooltip("student:N", title="Student"),
                alt.Tooltip("words:N", title="Words"),
                alt.Tooltip("cosine:Q", title="Cosine", format=".2f"),
                alt.Tooltip("count:Q", title="How many words", format=","),
            ],
        )
    )
    labels = (
        alt.Chart(data)
        .mark_text(dy=-24, fontSize=13, lineBreak="\n")
        .encode(x=x, xOffset=offset, y=y, text=alt.Text("label:N"))
    )
    return alt.layer(bars, labels).properties(
        title=alt.TitleParams(title, fontSize=16, anchor="start"), height=CHART_HEIGHT
    )


def quality_lines(
    frame: pl.DataFrame,
    metric: str = "heldout_cosine",
    title: str = "How many teacher answers are enough?",
    zero: pl.DataFrame | None = None,
) -> alt.LayerChart | alt.HConcatChart:
    """Step 4: a held-out score against teacher queries (log scale), one line per student; for cosine, the
    learns-nothing baseline as a grey dashed line. Columns student, queries, the metric, baseline_cosine.

    `zero` (`core.story.zero_answer_frame`, same columns): the student given no answer at all. A log axis cannot
    show 0, so it stands in a narrow column of its own at the left, labelled "0 answers", on the same y scale (a
    purple diamond; for cosine, a grey tick: the learns-nothing student with the same information)."""
    main = _quality_main(frame, metric)
    if zero is None or zero.is_empty():
        return main.properties(title=alt.TitleParams(title, fontSize=16, anchor="start"), height=CHART_HEIGHT)
    return (
        alt.hconcat(_zero_column(zero, metric), main.properties(height=CHART_HEIGHT), spacing=6)
        .resolve_scale(y="shared", color="independent")
        .properties(title=alt.TitleParams(title, fontSize=16, anchor="start"))
    )


def _y(metric: str) -> tuple[str, list[float]]:
    axis = {
        "heldout_cosine": COSINE_AXIS + ", new words",
        "neighbours_shared": "Closest words shared (of 8), new words",
    }[metric]
    return axis, [0, 8] if metric == "neighbours_shared" else [0, 1]


def _zero_column(zero: pl.DataFrame, metric: str) -> alt.LayerChart:
    """The student with no answer, alone in a column labelled '0 answers' (and, for cosine, the learns-nothing
    student with the same information as a grey tick beside it)."""
    axis, domain = _y(metric)
    data = zero.with_columns(at=pl.lit(ZERO_AXIS))
    x = alt.X("at:N", title=None, axis=alt.Axis(labelAngle=0, labelFontSize=12))
    y = alt.Y(f"{metric}:Q", title=axis, scale=alt.Scale(domain=domain))
    layers = [
        alt.Chart(data)
        .mark_point(shape="diamond", filled=True, size=160)
        .encode(
            x=x,
            y=y,
            color=alt.Color(
                "student:N",
                title=None,
                scale=alt.Scale(domain=data["student"].unique().to_list(), range=[ZERO_COLOUR]),
                legend=alt.Legend(orient="top", labelLimit=400),
            ),
            tooltip=[
                alt.Tooltip("student:N", title="Student"),
                alt.Tooltip("queries:Q", title="Teacher answers"),
                alt.Tooltip(f"{metric}:Q", title="Score", format=".2f"),
            ],
        )
    ]
    if metric == "heldout_cosine":
        layers.append(
            alt.Chart(data.with_columns(who=pl.lit("learns nothing (average of the public set)")))
            .mark_tick(color=BASELINE_COLOUR, thickness=2, size=24)
            .encode(
                x=x,
                y=alt.Y("baseline_cosine:Q", title=axis, scale=alt.Scale(domain=domain)),
                tooltip=[
                    alt.Tooltip("who:N", title="Line"),
                    alt.Tooltip("baseline_cosine:Q", title="Cosine", format=".2f"),
                ],
            )
        )
    return alt.layer(*layers).properties(width=70, height=CHART_HEIGHT)


def _quality_main(frame: pl.DataFrame, metric: str) -> alt.LayerChart:
    """Step 4's lines against teacher answers (log scale), without a title."""
    axis, domain = _y(metric)
    x = alt.X(
        "queries:Q",
        title="Teacher answers paid for (log scale)",
        scale=alt.Scale(type="log"),
        axis=alt.Axis(format=","),
    )
    lines = (
        alt.Chart(frame)
        .mark_line(point=alt.OverlayMarkDef(size=80), strokeWidth=3)
        .encode(
            x=x,
            y=alt.Y(f"{metric}:Q", title=axis, scale=alt.Scale(domain=domain)),
            color=alt.Color(
                "student:N", title="Student", scale=_students(frame), legend=alt.Legend(orient="top", labelLimit=400)
            ),
            tooltip=[
                alt.Tooltip("student:N", title="Student"),
                alt.Tooltip("p:Q", title="p"),
                alt.Tooltip("queries:Q", title="Teacher answers", format=","),
                alt.Tooltip(f"{metric}:Q", title="Score", format=".2f"),
            ],
        )
    )
    layers = [lines]
    if metric == "heldout_cosine":
        base = (
            frame.group_by("queries")
            .agg(pl.col("baseline_cosine").mean())
            .with_columns(who=pl.lit("learns nothing (average answer)"))
        )
        layers.append(
            alt.Chart(base)
            .mark_line(strokeDash=[6, 4], color=BASELINE_COLOUR)
            .encode(
                x=x,
                y="baseline_cosine:Q",
                tooltip=[
                    alt.Tooltip("who:N", title="Line"),
                    alt.Tooltip("baseline_cosine:Q", title="Cosine", format=".2f"),
                ],
            )
        )
    return alt.layer(*layers)


def poison_bars(
    frame: pl.DataFrame, metric: str = "neighbours_shared", title: str = "What 10 % poisoned answers do"
) -> alt.LayerChart:
    """Step 5: each student's held-out score with clean and with poisoned answers: a clean bar in the student's own
    colour, a poisoned one in the poison's (no student's), each labelled with its value.
    Columns student, answers, heldout_cosine, neighbours_shared."""
    axis, domain = _y(metric)
    answers = list(dict.fromkeys(frame.sort("answers", descending=True)["answers"].to_list()))
    poisoned = [a for a in answers if a != "all clean"]
    students = [n for n in STUDENT_COLOURS if n in set(frame["student"].to_list())] or list(
        dict.fromkeys(frame["student"].to_list())
    )
    data = frame.with_columns(
        bar=pl.when(pl.col("answers") == "all clean")
        .then(pl.col("student") + pl.lit(", all answers clean"))
        .otherwise(pl.lit("Trained on ") + pl.col("answers") + pl.lit(" answers"))
    )
    bars_domain = [f"{n}, all answers clean" for n in students] + [f"Trained on {a} answers" for a in poisoned]
    bars_range = [STUDENT_COLOURS.get(n, TEACHER_COLOUR) for n in students] + [POISON_COLOUR] * len(poisoned)
    x = alt.X(
        "student:N",
        title=None,
        sort=list(STUDENT_COLOURS),
        axis=alt.Axis(labelAngle=0, labelFontSize=13, labelLimit=300),
    )
    offset = alt.XOffset("answers:N", sort=answers)
    y = alt.Y(f"{metric}:Q", title=axis, scale=alt.Scale(domain=domain))
    bars = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=x,
            xOffset=offset,
            y=y,
            color=alt.Color(
                "bar:N",
                title=None,
                sort=bars_domain,
                scale=alt.Scale(domain=bars_domain, range=bars_range),
                legend=alt.Legend(orient="top", labelLimit=400, columns=3),
            ),
            tooltip=[
                alt.Tooltip("student:N", title="Student"),
                alt.Tooltip("answers:N", title="Answers"),
                alt.Tooltip(f"{metric}:Q", title="Score", format=".2f"),
            ],
        )
    )
    labels = (
        alt.Chart(data)
        .mark_text(dy=-8, fontSize=13)
        .encode(x=x, xOffset=offset, y=y, text=alt.Text(f"{metric}:Q", format=".1f" if domain[1] > 1 else ".2f"))
    )
    return alt.layer(bars, labels).properties(
        title=alt.TitleParams(title, fontSize=16, anchor="start"), height=CHART_HEIGHT
    )
