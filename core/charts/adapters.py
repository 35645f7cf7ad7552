"""The adapter lab's charts: training curves against the baseline, quality against cost."""

from __future__ import annotations

import altair as alt
import polars as pl

from core.charts.common import SPLIT_COLOURS

# --- the adapter lab --------------------------------------------------------------------------------


def adapter_curves(frame: pl.DataFrame, baseline: float | None = None, title: str = "Adapter training") -> alt.Chart:
    """Columns: epoch, train_loss, heldout_cosine."""
    loss = (
        alt.Chart(frame)
        .mark_line(point=True, color="#9467bd")
        .encode(
            x=alt.X("epoch:Q", title="Epoch", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("train_loss:Q", title="Training loss (1 − cosine)", scale=alt.Scale(zero=True)),
            tooltip=[alt.Tooltip("epoch:Q"), alt.Tooltip("train_loss:Q", format=".4f", title="Loss")],
        )
        .properties(title="Training loss (lower is better)", width=340, height=240)
    )
    layers = [
        alt.Chart(frame)
        .mark_line(point=True, color=SPLIT_COLOURS["held-out"])
        .encode(
            x=alt.X("epoch:Q", title="Epoch", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("heldout_cosine:Q", title="Cosine to the teacher, unseen texts", scale=alt.Scale(zero=False)),
            tooltip=[alt.Tooltip("epoch:Q"), alt.Tooltip("heldout_cosine:Q", format=".4f", title="Held-out cosine")],
        )
    ]
    if baseline is not None:
        layers.append(
            alt.Chart(pl.DataFrame({"baseline": [baseline]}))
            .mark_rule(strokeDash=[6, 4], color="#888888")
            .encode(y="baseline:Q", tooltip=[alt.Tooltip("baseline:Q", title="Average-vector baseline", format=".4f")])
        )
    cosine = alt.layer(*layers).properties(title="Held-out cosine (higher is better)", width=340, height=240)
    return alt.hconcat(loss, cosine).properties(title=title)


def adapter_tradeoff(frame: pl.DataFrame, title: str = "Quality against cost") -> alt.LayerChart:
    """Columns: name, ms_per_1k, heldout_cosine, kind ('teacher', 'cheap model + adapter')."""
    x = alt.X(
        "ms_per_1k:Q", title="Milliseconds per 1,000 texts on this machine (log scale)", scale=alt.Scale(type="log")
    )
    y = alt.Y("heldout_cosine:Q", title="Cosine to the teacher on unseen texts", scale=alt.Scale(zero=False))
    points = (
        alt.Chart(frame)
        .mark_point(filled=True, size=120)
        .encode(
            x=x,
            y=y,
            color=alt.Color("kind:N", title="What runs", legend=alt.Legend(orient="bottom")),
            shape=alt.Shape("kind:N", legend=None),
            tooltip=[
                alt.Tooltip("name:N", title="Model"),
                alt.Tooltip("ms_per_1k:Q", title="ms per 1,000 texts", format=",.1f"),
                alt.Tooltip("heldout_cosine:Q", title="Held-out cosine", format=".3f"),
            ],
        )
    )
    # Each layer gets its own copy: layers sharing one polars frame trip Streamlit's data handling.
    labels = alt.Chart(frame.clone()).mark_text(align="left", dx=9, dy=-7, fontSize=11).encode(x=x, y=y, text="name:N")
    return alt.layer(points, labels).properties(title=title, width=560, height=300)
