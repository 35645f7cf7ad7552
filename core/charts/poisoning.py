"""The Poisoning lab's charts: the loss histogram of clean and poisoned answers, damage against the poison rate."""

from __future__ import annotations

import altair as alt
import polars as pl

from core.charts.common import SPLIT_COLOURS, line_style_legend

# --- the poisoning lab ------------------------------------------------------------------------------

POISON_COLOURS = {"poisoned": SPLIT_COLOURS["poisoned"], "clean": "#7f7f7f"}
ADVERSARY_NAMES = {
    "random": "random direction (paper)",
    "swap": "another word's answer",
    "negate": "answer turned around",
    "noise": "answer + strong noise",
    "concentrated": "one shared direction",
    "clean": "no poison",
}
DAMAGE_METRICS = {
    "heldout_cosine": "Held-out cosine to the clean teacher",
    "analogy_pct_of_teacher": "Analogies solved, % of the teacher's score",
}


def bin_losses(losses: pl.DataFrame, bins: int = 40) -> pl.DataFrame:
    """Columns in: loss, group ('poisoned' / 'clean'); out: group, bin_start, bin_end, answers (shared bins over [0, max])."""
    top = max(float(losses["loss"].max() or 1.0), 1e-6)
    width = top / bins
    return (
        losses.with_columns(bin=(pl.col("loss") / width).floor().clip(0, bins - 1).cast(pl.Int64))
        .group_by("group", "bin")
        .agg(answers=pl.len())
        .with_columns(bin_start=pl.col("bin") * width, bin_end=(pl.col("bin") + 1) * width)
        .sort("group", "bin")
        .select("group", "bin_start", "bin_end", "answers")
    )


def loss_histogram(
    binned: pl.DataFrame, threshold: float | None = None, title: str = "How well the student fits each training answer"
) -> alt.Chart:
    """`bin_losses` output, stacked poisoned / clean; a dashed rule at the detection threshold."""
    bars = (
        alt.Chart(binned)
        .mark_bar()
        .encode(
            x=alt.X(
                "bin_start:Q",
                title="Loss on the answer (1 − cosine between the student and the answer it was given)",
                bin="binned",
            ),
            x2="bin_end:Q",
            y=alt.Y("answers:Q", title="Training answers", stack=True),
            color=alt.Color(
                "group:N",
                title="Answer",
                scale=alt.Scale(domain=list(POISON_COLOURS), range=list(POISON_COLOURS.values())),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=[
                alt.Tooltip("group:N", title="Answer"),
                alt.Tooltip("bin_start:Q", title="Loss from", format=".3f"),
                alt.Tooltip("bin_end:Q", title="to", format=".3f"),
                alt.Tooltip("answers:Q", title="Answers"),
            ],
        )
    )
    layers = [bars]
    if threshold is not None:
        rule = pl.DataFrame({"threshold": [threshold], "label": ["flagged from here"]})
        layers.append(
            alt.Chart(rule)
            .mark_rule(strokeDash=[6, 4], color="black")
            .encode(x="threshold:Q", tooltip=[alt.Tooltip("threshold:Q", title="Suspicious above", format=".3f")])
        )
        layers.append(
            alt.Chart(rule)
            .mark_text(align="left", dx=4, dy=-6, baseline="bottom")
            .encode(x="threshold:Q", y=alt.value(12), text="label:N")
        )
    return alt.layer(*layers).properties(title=title, width=560, height=280)


def damage_vs_rate(
    frame: pl.DataFrame, metric: str = "heldout_cosine", title: str = "Damage against poison rate"
) -> alt.LayerChart:
    """Columns: rate (0-1), adversary, defence (labels), the metric. The clean run (rate 0) is drawn at the start
    of every adversary's line."""
    label = DAMAGE_METRICS[metric]
    clean = frame.filter(pl.col("rate") == 0)
    adversaries = [a for a in dict.fromkeys(frame["adversary"].to_list()) if a != "clean"]
    data = pl.concat(
        [frame.filter(pl.col("rate") > 0), *[clean.with_columns(adversary=pl.lit(a)) for a in adversaries]],
        how="vertical_relaxed",
    ).drop_nulls(metric)
    data = data.with_columns(
        adversary_label=pl.col("adversary").replace_strict(ADVERSARY_NAMES, default=pl.col("adversary"))
    )
    x = alt.X("rate:Q", title="Poisoned answers (share of the teacher's answers)", axis=alt.Axis(format="%"))
    y = alt.Y(f"{metric}:Q", title=label, scale=alt.Scale(zero=False))
    colour = alt.Color(
        "adversary_label:N", title="Poison", legend=alt.Legend(orient="right", labelLimit=0, titleLimit=0)
    )
    tooltip = [
        alt.Tooltip("adversary_label:N", title="Poison"),
        alt.Tooltip("defence:N", title="Defence"),
        alt.Tooltip("rate:Q", title="Poisoned", format=".0%"),
        alt.Tooltip(f"{metric}:Q", title=label, format=".3f"),
        alt.Tooltip("seconds:Q", title="Train seconds", format=".2f"),
    ]
    # Lines and points are separate layers: a line's own point overlay would make the line-style swatches
    # of the defence legend transparent (Vega-Lite copies the filled point's stroke onto them).
    lines = (
        alt.Chart(data)
        .mark_line()
        .encode(
            x=x,
            y=y,
            color=colour,
            tooltip=tooltip,
            strokeDash=alt.StrokeDash(
                "defence:N",
                title="Defence (line style)",
                legend=line_style_legend(),
            ),
        )
    )
    points = alt.Chart(data.clone()).mark_point(filled=True, size=40).encode(x=x, y=y, color=colour, tooltip=tooltip)
    return alt.layer(lines, points).properties(title=title, width=560, height=320)
