"""Charts of one run or a few: training curves, the distribution of embedding means, the 2-D projection (and its
labels), word-pair similarities, runs compared."""

from __future__ import annotations

import altair as alt
import polars as pl

from core.charts.common import SPLIT_COLOURS, TEACHER_COLOUR


def training_curves(epochs: pl.DataFrame, title: str = "Training progress") -> alt.Chart:
    """Loss (left) and cosine to the teacher (right) by epoch. Needs epoch, train_loss,
    train_cosine and heldout_cosine columns. One epoch (a closed-form student, solved in one step) is drawn
    as bars: a line through one point is not a curve."""
    base = epochs.select("epoch", "train_loss", "train_cosine", "heldout_cosine")
    if base.height == 1:
        return _one_step_bars(base, title)
    loss = (
        alt.Chart(base)
        .mark_line(point=alt.OverlayMarkDef(color="#9467bd"), color="#9467bd")
        .encode(
            x=alt.X("epoch:Q", title="Epoch", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("train_loss:Q", title="Training loss (1 − cosine)", scale=alt.Scale(zero=True)),
            tooltip=[alt.Tooltip("epoch:Q", title="Epoch"), alt.Tooltip("train_loss:Q", title="Loss", format=".4f")],
        )
        .properties(title="Training loss (lower is better)", width=360, height=260)
    )
    long = (
        base.unpivot(index="epoch", on=["train_cosine", "heldout_cosine"], variable_name="which", value_name="cosine")
        .with_columns(
            pl.col("which").replace({"train_cosine": "words it trained on", "heldout_cosine": "held-out words"})
        )
        .drop_nulls("cosine")
    )
    cosine = (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=alt.X("epoch:Q", title="Epoch", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("cosine:Q", title="Cosine to the teacher", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color(
                "which:N",
                title="Measured on",
                scale=alt.Scale(
                    domain=["words it trained on", "held-out words"],
                    range=[SPLIT_COLOURS["training"], SPLIT_COLOURS["held-out"]],
                ),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=[
                alt.Tooltip("epoch:Q", title="Epoch"),
                alt.Tooltip("which:N", title="Measured on"),
                alt.Tooltip("cosine:Q", format=".4f"),
            ],
        )
        .properties(title="Cosine to the teacher (higher is better)", width=360, height=260)
    )
    return alt.hconcat(loss, cosine).properties(title=title)


def _one_step_bars(base: pl.DataFrame, title: str) -> alt.HConcatChart:
    row = base.row(0, named=True)
    loss = (
        alt.Chart(pl.DataFrame({"what": ["training loss"], "value": [row["train_loss"]]}))
        .mark_bar(color="#9467bd", size=40)
        .encode(
            x=alt.X("what:N", title=None, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("value:Q", title="Training loss (1 − cosine)", scale=alt.Scale(zero=True)),
            tooltip=[alt.Tooltip("value:Q", title="Loss", format=".4f")],
        )
        .properties(title="Training loss (lower is better)", width=200, height=260)
    )
    cosines = pl.DataFrame(
        {"which": ["words it trained on", "held-out words"], "cosine": [row["train_cosine"], row["heldout_cosine"]]}
    ).drop_nulls("cosine")
    cosine = (
        alt.Chart(cosines)
        .mark_bar(size=40)
        .encode(
            x=alt.X(
                "which:N",
                title=None,
                sort=["words it trained on", "held-out words"],
                axis=alt.Axis(labelAngle=0, labelLimit=0),
            ),
            y=alt.Y("cosine:Q", title="Cosine to the teacher", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color(
                "which:N",
                legend=None,
                scale=alt.Scale(
                    domain=["words it trained on", "held-out words"],
                    range=[SPLIT_COLOURS["training"], SPLIT_COLOURS["held-out"]],
                ),
            ),
            tooltip=[alt.Tooltip("which:N", title="Measured on"), alt.Tooltip("cosine:Q", format=".4f")],
        )
        .properties(title="Cosine to the teacher (higher is better)", width=260, height=260)
    )
    return alt.hconcat(loss, cosine).properties(
        title=alt.TitleParams(title, subtitle="Solved in one step: one value each, no curve over epochs.")
    )


def means_panels(teacher_means, means: pl.DataFrame, epochs, label: str) -> list[pl.DataFrame]:
    """`means_histogram`'s data for one run: for each of `epochs` the run has (`means`: epoch, mean, one row per
    word, core.runs.store.StoredRun.means), a panel '<label> · epoch N' with the teacher's means (an array, one
    per word) and the student's. Columns panel, series ('Teacher' / 'Student'), mean; `bin_means` takes the list."""
    teacher = [float(v) for v in teacher_means]
    have = set(means["epoch"].to_list())
    parts = []
    for epoch in sorted(e for e in set(epochs) if e in have):
        panel = f"{label} · epoch {epoch}"
        parts.append(pl.DataFrame({"panel": panel, "series": "Teacher", "mean": teacher}, schema=_MEANS_SCHEMA))
        parts.append(
            means.filter(pl.col("epoch") == epoch).select(
                pl.lit(panel).alias("panel"), pl.lit("Student").alias("series"), pl.col("mean").cast(pl.Float64)
            )
        )
    return parts


_MEANS_SCHEMA = {"panel": pl.Utf8, "series": pl.Utf8, "mean": pl.Float64}


def bin_means(frame: pl.DataFrame | list[pl.DataFrame], bins: int = 40) -> pl.DataFrame:
    """Histogram counts per (panel, series) on shared bins: the chart gets a few hundred rows
    instead of one per word. Columns in: panel, series, mean (one frame, or `means_panels`' list of them); out:
    panel, series, bin_start, bin_end, words."""
    if isinstance(frame, list):
        frame = pl.concat([f.with_columns(pl.col("mean").cast(pl.Float64)) for f in frame])
    low, high = float(frame["mean"].min()), float(frame["mean"].max())
    step = (high - low) / bins if high > low else 1e-3
    return (
        frame.with_columns(bin=((pl.col("mean") - low) / step).floor().clip(0, bins - 1).cast(pl.Int32))
        .group_by("panel", "series", "bin", maintain_order=True)
        .agg(words=pl.len())
        .with_columns(bin_start=low + pl.col("bin") * step, bin_end=low + (pl.col("bin") + 1) * step)
        .select("panel", "series", "bin_start", "bin_end", "words")
        .sort("panel", "series", "bin_start")
    )


def means_histogram(binned: pl.DataFrame, title: str = "Distribution of embedding means") -> alt.Chart:
    """One small histogram per panel, teacher and student overlaid. Input: `bin_means` output."""
    panels = binned["panel"].unique(maintain_order=True).to_list()
    series = sorted(binned["series"].unique().to_list(), key=lambda s: s != "Teacher")
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
    colours = [TEACHER_COLOUR if s == "Teacher" else palette[i % len(palette)] for i, s in enumerate(series)]
    return (
        alt.Chart(binned)
        .mark_bar(opacity=0.55, binSpacing=0)
        .encode(
            x=alt.X("bin_start:Q", title="Mean of the vector's numbers", bin="binned"),
            x2="bin_end:Q",
            y=alt.Y("words:Q", title="Number of words", stack=None),
            color=alt.Color(
                "series:N",
                title="Embeddings of",
                scale=alt.Scale(domain=series, range=colours),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=[
                alt.Tooltip("panel:N", title="Run"),
                alt.Tooltip("series:N", title="Embeddings of"),
                alt.Tooltip("bin_start:Q", title="Mean from", format=".4f"),
                alt.Tooltip("words:Q", title="Words"),
            ],
        )
        .properties(width=240, height=180)
        .facet(
            facet=alt.Facet("panel:N", title=None, sort=panels, header=alt.Header(labelFontSize=12, labelLimit=300)),
            columns=3,
        )
        .properties(title=title)
        .resolve_scale(y="independent")
    )


def projection_scatter(frame: pl.DataFrame, title: str = "Teacher and student in the same 2-D map") -> alt.Chart:
    """Columns: x, y, word, model ('teacher' / 'student'), group (training / held-out / poisoned),
    highlighted (bool)."""
    groups = [g for g in SPLIT_COLOURS if g in set(frame["group"].to_list())]
    points = (
        alt.Chart(frame.filter(~pl.col("highlighted")))
        .mark_point(size=14, opacity=0.45, filled=True)
        .encode(
            x=alt.X("x:Q", title="Map coordinate 1", axis=alt.Axis(labels=False, ticks=False)),
            y=alt.Y("y:Q", title="Map coordinate 2", axis=alt.Axis(labels=False, ticks=False)),
            color=alt.Color(
                "group:N",
                title="Word was",
                scale=alt.Scale(domain=groups, range=[SPLIT_COLOURS[g] for g in groups]),
                legend=alt.Legend(orient="top"),  # above the map: in view on a 900-px screen,
            ),
            shape=alt.Shape(
                "model:N",
                title="Embedded by",
                scale=alt.Scale(domain=["teacher", "student"], range=["circle", "cross"]),
                legend=alt.Legend(orient="top"),
            ),
            tooltip=[
                alt.Tooltip("word:N", title="Word"),
                alt.Tooltip("model:N", title="Embedded by"),
                alt.Tooltip("group:N", title="Word was"),
            ],
        )
    )
    marked = frame.filter(pl.col("highlighted"))
    layers = [points]
    if marked.height:
        layers.append(
            alt.Chart(marked)
            .mark_point(size=160, filled=True, stroke="black", strokeWidth=1.5)
            .encode(
                x="x:Q",
                y="y:Q",
                shape=alt.Shape("model:N", legend=None),
                color=alt.value("#ffd700"),
                tooltip=[alt.Tooltip("word:N", title="Word"), alt.Tooltip("model:N", title="Embedded by")],
            )
        )
        labels = projection_labels(frame, marked)
        for side, align, dx in (("left", "right", -10), ("right", "left", 10)):
            layers.append(
                alt.Chart(labels.filter(pl.col("side") == side))
                .mark_text(
                    align=align,
                    dx=dx,
                    dy=-8,
                    fontSize=12,
                    fontWeight="bold",
                    stroke="white",
                    strokeWidth=3,
                    strokeOpacity=0.8,
                )
                .encode(x="x:Q", y="y:Q", text="label:N")
            )
            layers.append(  # the halo above sits under the text: drawn twice, white outline then black letters
                alt.Chart(labels.filter(pl.col("side") == side).clone())
                .mark_text(align=align, dx=dx, dy=-8, fontSize=12, fontWeight="bold")
                .encode(x="x:Q", y="y:Q", text="label:N")
            )
    return alt.layer(*layers).properties(title=title, width="container", height=520)


LABEL_PX = {
    "width": 900,
    "height": 520,
    "char": 7.5,
    "line": 16,
    "gap": 10,
}  # the map's size and its labels', in pixels


def projection_labels(frame: pl.DataFrame, marked: pl.DataFrame, close: float = 0.03) -> pl.DataFrame:
    """One label per highlighted mark, placed so that labels do not sit on each other: the teacher's to the left
    of its mark, the student's to the right; a word whose two marks are within `close` of the map's size gets
    one label, "word", instead of two. Two labels that would still overlap (king's and queen's: close in meaning,
    close on the map) are moved apart by whole lines, the nearest free line first (`LABEL_PX`: the map's size in
    pixels, about). Columns out: x, y (where the label sits), label, side ('left' / 'right')."""
    span = max(float(frame["x"].max() - frame["x"].min()), float(frame["y"].max() - frame["y"].min()), 1e-9)
    wide = marked.pivot(on="model", index="word", values=["x", "y"], aggregate_function="first")
    rows = []
    for r in wide.iter_rows(named=True):
        tx, ty, sx, sy = r.get("x_teacher"), r.get("y_teacher"), r.get("x_student"), r.get("y_student")
        if None not in (tx, sx) and ((tx - sx) ** 2 + (ty - sy) ** 2) ** 0.5 < close * span:
            rows.append({"x": tx, "y": ty, "label": r["word"], "side": "right"})
            continue
        if tx is not None:
            rows.append({"x": tx, "y": ty, "label": f"{r['word']} (teacher)", "side": "left"})
        if sx is not None:
            rows.append({"x": sx, "y": sy, "label": f"{r['word']} (student)", "side": "right"})
    x_px = max(float(frame["x"].max() - frame["x"].min()), 1e-9) / LABEL_PX["width"]  # data units per pixel
    y_px = max(float(frame["y"].max() - frame["y"].min()), 1e-9) / LABEL_PX["height"]
    placed: list[tuple[float, float, float, float]] = []  # boxes in pixels: left, right, bottom, top
    for row in sorted(rows, key=lambda r: -r["y"]):
        width = len(row["label"]) * LABEL_PX["char"]
        x0 = row["x"] / x_px + (LABEL_PX["gap"] if row["side"] == "right" else -LABEL_PX["gap"] - width)
        for shift in (0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6):
            bottom = row["y"] / y_px + shift * LABEL_PX["line"]
            box = (x0, x0 + width, bottom, bottom + LABEL_PX["line"])
            if not any(box[0] < b[1] and b[0] < box[1] and box[2] < b[3] and b[2] < box[3] for b in placed):
                break
        placed.append(box)
        row["y"] += shift * LABEL_PX["line"] * y_px
    return pl.DataFrame(rows, schema={"x": pl.Float64, "y": pl.Float64, "label": pl.Utf8, "side": pl.Utf8})


def pair_bars(frame: pl.DataFrame, title: str = "Similarity of word pairs") -> alt.Chart:
    """Columns: pair, model ('teacher' / 'student'), cosine."""
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=alt.Y("pair:N", title="Word pair", sort=None),
            yOffset=alt.YOffset("model:N", sort=["teacher", "student"]),
            x=alt.X("cosine:Q", title="Cosine similarity", scale=alt.Scale(domain=[-1, 1])),
            color=alt.Color(
                "model:N",
                title="According to",
                scale=alt.Scale(domain=["teacher", "student"], range=[TEACHER_COLOUR, "#1f77b4"]),
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=[
                alt.Tooltip("pair:N", title="Pair"),
                alt.Tooltip("model:N", title="According to"),
                alt.Tooltip("cosine:Q", format=".3f"),
            ],
        )
        .properties(title=title, width="container", height=alt.Step(14))
    )


def compare_runs(frame: pl.DataFrame, metric: str = "heldout_cosine", title: str = "Runs compared") -> alt.Chart:
    """Columns: run (a label), epoch, and the metric column."""
    names = {
        "heldout_cosine": "Held-out cosine (higher is better)",
        "train_loss": "Training loss (lower is better)",
        "train_cosine": "Training cosine (higher is better)",
    }
    return (
        alt.Chart(frame.drop_nulls(metric))
        .mark_line(point=True)
        .encode(
            x=alt.X("epoch:Q", title="Epoch", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y(f"{metric}:Q", title=names.get(metric, metric)),
            color=alt.Color("run:N", title="Run", legend=alt.Legend(orient="bottom", columns=1, labelLimit=500)),
            tooltip=[
                alt.Tooltip("run:N", title="Run"),
                alt.Tooltip("epoch:Q", title="Epoch"),
                alt.Tooltip(f"{metric}:Q", format=".4f"),
            ],
        )
        .properties(title=title, width="container", height=320)
    )
