"""The sweep's figures (the paper's figures 2-4, 6-8, 10-12): time against p, the Pareto heatmap and lines."""

from __future__ import annotations

import altair as alt
import polars as pl

from core.charts.common import STUDENT_NAMES

# ---- sweep figures (the paper's figures 2-4, 6-8, 10-12) -------------------------------------

METRICS = {
    "train_loss": "Training loss (lower is better)",
    "heldout_cosine": "Held-out cosine (higher is better)",
    "train_cosine": "Training cosine (higher is better)",
}


def _setting_label(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        setting=pl.concat_str(
            [
                pl.col("model").replace_strict(
                    STUDENT_NAMES, default=pl.concat_str([pl.lit("Model "), pl.col("model")])
                ),
                pl.when(pl.col("lemmatize") == "none").then(pl.lit(", no lemmas")).otherwise(pl.lit(", lemmas")),
                pl.when(pl.col("poison") > 0)
                .then(
                    pl.lit(", ") + (pl.col("poison") * 100).round(0).cast(pl.Int64).cast(pl.Utf8) + pl.lit("% poison")
                )
                .otherwise(pl.lit(", clean")),
            ]
        )
    )


def time_vs_p(sweep: pl.DataFrame, title: str = "Training time against p") -> alt.Chart:
    """Columns: the `sweep_frame` of the runs. One point per run at its last epoch."""
    last = _setting_label(sweep).group_by("run_id", maintain_order=True).agg(pl.all().sort_by("epoch").last())
    return (
        alt.Chart(last)
        .mark_line(point=True)
        .encode(
            x=alt.X("p:Q", title="p — fraction of words the teacher answered (log scale)", scale=alt.Scale(type="log")),
            y=alt.Y("seconds:Q", title="Training time (seconds)"),
            color=alt.Color("setting:N", title="Runs", legend=alt.Legend(orient="bottom", columns=2, labelLimit=400)),
            tooltip=[
                alt.Tooltip("setting:N", title="Runs"),
                alt.Tooltip("p:Q", format="g"),
                alt.Tooltip("epoch:Q", title="Epochs"),
                alt.Tooltip("seconds:Q", title="Seconds", format=".2f"),
            ],
        )
        .properties(title=title, width="container", height=300)
    )


def pareto_heatmap(
    sweep: pl.DataFrame, metric: str = "train_loss", title: str = "Score over epochs and p"
) -> alt.Chart:
    """Epoch (x) by p (y, log-spaced rows) coloured by the metric, one panel per setting."""
    data = (
        _setting_label(sweep)
        .drop_nulls(metric)
        .with_columns(p_label=pl.col("p").map_elements(lambda v: f"{v:g}", return_dtype=pl.Utf8))
    )
    ps = [f"{v:g}" for v in sorted(set(data["p"].to_list()), reverse=True)]
    return (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x=alt.X(
                "epoch:O", title="Epoch", axis=alt.Axis(labelAngle=0, values=[e for e in range(0, 1001, 10)] + [1])
            ),
            y=alt.Y("p_label:O", title="p (training fraction)", sort=ps),
            color=alt.Color(
                f"{metric}:Q",
                title=METRICS.get(metric, metric),
                scale=alt.Scale(scheme="viridis", reverse=metric == "train_loss"),
                legend=alt.Legend(orient="bottom", gradientLength=300, titleLimit=0),
            ),
            tooltip=[
                alt.Tooltip("setting:N", title="Runs"),
                alt.Tooltip("p_label:N", title="p"),
                alt.Tooltip("epoch:Q", title="Epoch"),
                alt.Tooltip(f"{metric}:Q", title=METRICS.get(metric, metric), format=".4f"),
            ],
        )
        .properties(width=340, height=220)
        .facet(facet=alt.Facet("setting:N", title=None, header=alt.Header(labelFontSize=12, labelLimit=400)), columns=2)
        .properties(title=title)
    )


def pareto_lines(sweep: pl.DataFrame, metric: str = "train_loss", title: str = "One line per p") -> alt.Chart:
    data = _setting_label(sweep).drop_nulls(metric)
    return (
        alt.Chart(data)
        .mark_line()
        .encode(
            x=alt.X("epoch:Q", title="Epoch", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y(f"{metric}:Q", title=METRICS.get(metric, metric)),
            color=alt.Color(
                "p:O",
                title="p (training fraction)",
                scale=alt.Scale(scheme="viridis"),
                legend=alt.Legend(orient="bottom", columns=10),
            ),
            tooltip=[
                alt.Tooltip("setting:N", title="Runs"),
                alt.Tooltip("p:Q", format="g"),
                alt.Tooltip("epoch:Q", title="Epoch"),
                alt.Tooltip(f"{metric}:Q", format=".4f"),
            ],
        )
        .properties(width=340, height=220)
        .facet(facet=alt.Facet("setting:N", title=None, header=alt.Header(labelFontSize=12, labelLimit=400)), columns=2)
        .properties(title=title)
    )


# Query selection strategies as people read them (core.config.SELECTIONS; what each does: core.data.selection).
