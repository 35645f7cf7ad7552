"""The story's charts (pages/story.py): pure functions from the frames of `core.story` to Altair charts.

One per step, each with a title and labelled axes; like `core.charts`, nothing here needs Streamlit.
"""

from __future__ import annotations

import altair as alt
import polars as pl

from core.charts import SPLIT_COLOURS, TEACHER_COLOUR

STUDENT_COLOURS = {"Model B (the paper's)": "#d62728", "Adapter reading a cheap model": "#2ca02c"}
ZERO_COLOUR = "#9467bd"
BASELINE_COLOUR = "#7f7f7f"
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


def split_bars(frame: pl.DataFrame, title: str = "Right on the words it was taught, and on new words?") -> alt.Chart:
    """Steps 2-3: mean cosine to the teacher on training words and on new words, one group per student.
    Columns student, words, cosine, count."""
    words = list(dict.fromkeys(frame["words"].to_list()))
    colours = [SPLIT_COLOURS["training"] if w.startswith("training") else SPLIT_COLOURS["held-out"] for w in words]
    return (
        alt.Chart(frame.drop_nulls("cosine"))
        .mark_bar()
        .encode(
            x=alt.X(
                "student:N",
                title=None,
                sort=list(STUDENT_COLOURS),
                axis=alt.Axis(labelAngle=0, labelFontSize=13, labelLimit=300),
            ),
            xOffset=alt.XOffset("words:N", sort=words),
            y=alt.Y("cosine:Q", title=COSINE_AXIS, scale=alt.Scale(domain=[0, 1])),
            color=alt.Color(
                "words:N",
                title="Measured on",
                sort=words,
                scale=alt.Scale(domain=words, range=colours),
                legend=alt.Legend(orient="bottom", labelLimit=400),
            ),
            tooltip=[
                alt.Tooltip("student:N", title="Student"),
                alt.Tooltip("words:N", title="Words"),
                alt.Tooltip("cosine:Q", title="Cosine", format=".2f"),
                alt.Tooltip("count:Q", title="How many words", format=","),
            ],
        )
        .properties(title=alt.TitleParams(title, fontSize=16, anchor="start"), height=320)
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
        return main.properties(title=alt.TitleParams(title, fontSize=16, anchor="start"), height=340)
    return (
        alt.hconcat(_zero_column(zero, metric), main.properties(height=340), spacing=6)
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
                legend=alt.Legend(orient="bottom", labelLimit=400),
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
    return alt.layer(*layers).properties(width=70, height=340)


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
                "student:N", title="Student", scale=_students(frame), legend=alt.Legend(orient="bottom", labelLimit=400)
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
) -> alt.Chart:
    """Step 5: each student's held-out score with clean and with poisoned answers.
    Columns student, answers, heldout_cosine, neighbours_shared."""
    axis = {
        "heldout_cosine": COSINE_AXIS + ", new words",
        "neighbours_shared": "Closest words shared (of 8), new words",
    }[metric]
    domain = [0, 8] if metric == "neighbours_shared" else [0, 1]
    answers = list(dict.fromkeys(frame.sort("answers", descending=True)["answers"].to_list()))
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X(
                "student:N",
                title=None,
                sort=list(STUDENT_COLOURS),
                axis=alt.Axis(labelAngle=0, labelFontSize=13, labelLimit=300),
            ),
            xOffset=alt.XOffset("answers:N", sort=answers),
            y=alt.Y(f"{metric}:Q", title=axis, scale=alt.Scale(domain=domain)),
            color=alt.Color(
                "answers:N",
                title="The teacher's answers",
                sort=answers,
                scale=alt.Scale(domain=answers, range=["#1f77b4", SPLIT_COLOURS["poisoned"]][: len(answers)]),
                legend=alt.Legend(orient="bottom", labelLimit=400),
            ),
            tooltip=[
                alt.Tooltip("student:N", title="Student"),
                alt.Tooltip("answers:N", title="Answers"),
                alt.Tooltip(f"{metric}:Q", title="Score", format=".2f"),
            ],
        )
        .properties(title=alt.TitleParams(title, fontSize=16, anchor="start"), height=320)
    )
