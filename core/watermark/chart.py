"""The Watermark page's chart, a pure function of Polars frames: does the owner catch the imitator, against p?

`catch_frame` turns `core.watermark.power.summarize`'s table into one row per (p, series): the share of marked
students caught for each watermark, and beside them the share of clean control students the verifier flags (its
false alarms), each with its 95 % interval. `catch_chart` draws it.
"""

from __future__ import annotations

import altair as alt
import polars as pl

from core.watermark.verify import interval

SERIES_NAMES = {
    "trigger": "Trigger words (EmbMarker)",
    "region": "Secret region",
    "control": "Clean students (false alarms)",
}
SERIES_COLOURS = {"trigger": "#d62728", "region": "#1f77b4", "control": "#888888"}
SERIES_SHIFT = {"trigger": -5, "region": 5, "control": 0}  # pixels
CATCH_SCHEMA = {
    "p": pl.Float64,
    "series": pl.Utf8,
    "series_label": pl.Utf8,
    "rate": pl.Float64,
    "low": pl.Float64,
    "high": pl.Float64,
    "hits": pl.Int64,
    "n": pl.Int64,
}


def catch_frame(summary: pl.DataFrame, kind: str, strength: float, role: str = "marked") -> pl.DataFrame:
    """Rows of one student kind and strength: each watermark's power, and the controls' false alarms (pooled over
    the watermarks' tests at each p)."""
    cell = summary.filter(
        (pl.col("kind") == kind) & ((pl.col("strength") - strength).abs() < 1e-9) & (pl.col("role") == role)
    )
    rows = []
    for r in cell.filter(pl.col("calibrated")).iter_rows(named=True):  # no line, no power (power.summarize)
        rows.append(
            {
                "p": r["p"],
                "series": r["watermark"],
                "rate": r["power"],
                "low": r["power_low"],
                "high": r["power_high"],
                "hits": r["caught"],
                "n": r["suspects"],
            }
        )
    for (p,), part in cell.group_by(["p"], maintain_order=True):
        hits, n = int(part["false_alarms"].sum()), int(part["controls_tested"].sum())
        if n:
            rate = interval(hits, n)
            rows.append(
                {
                    "p": p,
                    "series": "control",
                    "rate": hits / n,
                    "low": rate.low,
                    "high": rate.high,
                    "hits": hits,
                    "n": n,
                }
            )
    frame = pl.DataFrame(
        [{**r, "series_label": SERIES_NAMES[r["series"]]} for r in rows],
        schema=CATCH_SCHEMA,
    )
    return frame.sort(["series", "p"])


def catch_chart(frame: pl.DataFrame, title: str = "Does the owner catch the imitator?") -> alt.LayerChart:
    """Share of students the owner's verifier flags against p (log axis, a tick at each p trained): one line per
    watermark (marked students) and a dashed grey one for the clean controls, drawn on top (where both are at 0 %,
    the controls stay visible), with 95 % intervals as vertical bars, the watermarks' a few pixels either side of the
    controls'."""
    present = [s for s in SERIES_NAMES if s in set(frame["series"].to_list())]
    colour = alt.Color(
        "series_label:N",
        title="Students",
        scale=alt.Scale(domain=[SERIES_NAMES[s] for s in present], range=[SERIES_COLOURS[s] for s in present]),
        legend=alt.Legend(  # line symbols: the controls' key is dashed as their line is (a dashed circle read as a blot)
            orient="right", labelLimit=0, titleLimit=0, symbolType="stroke", symbolStrokeWidth=3, symbolSize=400
        ),
    )
    dash = alt.StrokeDash(
        "series_label:N",
        scale=alt.Scale(
            domain=[SERIES_NAMES[s] for s in present], range=[[4, 3] if s == "control" else [1, 0] for s in present]
        ),
        legend=None,
    )
    ps = sorted(set(frame["p"].to_list()))
    x = alt.X(
        "p:Q",
        title="Share of the words the imitator asked the teacher about (p)",
        scale=alt.Scale(type="log", domain=[ps[0], ps[-1]] if ps else None, nice=False, padding=28),
        axis=alt.Axis(format=".0%", values=ps, grid=False),
    )
    y = alt.Y(
        "rate:Q",
        title="Share of students the owner flags",
        scale=alt.Scale(domain=[0, 1], padding=6),
        axis=alt.Axis(format="%", values=[i / 10 for i in range(11)]),  # no tick in the padding (-10 %, 110 %)
    )
    tooltip = [
        alt.Tooltip("series_label:N", title="Students"),
        alt.Tooltip("p:Q", title="p", format=".3f"),
        alt.Tooltip("hits:Q", title="Flagged"),
        alt.Tooltip("n:Q", title="Of"),
        alt.Tooltip("low:Q", title="95 % interval from", format=".0%"),
        alt.Tooltip("high:Q", title="to", format=".0%"),
    ]
    layers = []
    for series in present or ["control"]:  # the controls last: on top (an empty frame still draws axes)
        base = alt.Chart(frame).transform_filter(alt.datum.series == series)
        # Each series a few pixels aside, so that two intervals at the same p sit side by side, not one over the other.
        shift = SERIES_SHIFT[series]
        layers.append(
            base.mark_rule(opacity=0.5, strokeWidth=2, xOffset=shift).encode(
                x=x, y="low:Q", y2="high:Q", color=colour, tooltip=tooltip
            )
        )
        layers.append(
            base.mark_line(point=alt.OverlayMarkDef(filled=True, size=50, xOffset=shift), xOffset=shift).encode(
                x=x, y=y, color=colour, strokeDash=dash, tooltip=tooltip
            )
        )
    return alt.layer(*layers).properties(title=title, width=560, height=320)
