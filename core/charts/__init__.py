"""Chart builders: pure functions from a Polars frame to an Altair chart (no Streamlit).

Every chart has a title, labelled axes and a legend (the sentence a person reads beside it is the UI's:
`pages/_labels.py`'s EXPLAIN). `to_svg` / `to_png` export a chart.
"""

from __future__ import annotations

import altair as alt
import polars as pl

from core.config import STUDENT_LABELS
from core.evaluation.evaluate import BASELINE_LABEL, QUALITY_METRICS

# Charts of the whole vocabulary (10k points, 2 x 10k for projections) are the point here.
alt.data_transformers.disable_max_rows()

TEACHER_COLOUR = "#444444"
# Student kinds as people read them, by the kind's value ("B" -> "Model B"): the config's one list.
STUDENT_NAMES = {kind.value: label for kind, label in STUDENT_LABELS.items()}
SPLIT_COLOURS = {"training": "#1f77b4", "held-out": "#ff7f0e", "poisoned": "#d62728"}


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """A count with its noun, singular only for one: plural(1, "epoch") -> "1 epoch", plural(2_000, "run") -> "2,000 runs"."""
    return f"{count:,} {noun if count == 1 else (plural_form or noun + 's')}"


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


def _line_style_legend() -> alt.Legend:
    """A legend of line styles (dashes): long dark strokes, so the dash pattern reads whatever the colour."""
    return alt.Legend(
        orient="right",
        labelLimit=0,
        titleLimit=0,
        symbolType="stroke",
        symbolStrokeWidth=2.5,
        symbolStrokeColor="#333333",
        symbolSize=600,
    )


def _fixed_width(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    # "container" width means nothing outside a page; give exported files a real width.
    spec = chart.to_dict()
    return chart.properties(width=700) if spec.get("width") == "container" else chart


def to_svg(chart: alt.TopLevelMixin) -> bytes:
    import vl_convert as vlc

    return vlc.vegalite_to_svg(_fixed_width(chart).to_json()).encode()


def to_png(chart: alt.TopLevelMixin, scale: float = 2.0) -> bytes:
    import vl_convert as vlc

    return vlc.vegalite_to_png(_fixed_width(chart).to_json(), scale=scale)


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
            legend=_line_style_legend(),
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
                legend=_line_style_legend(),
            ),
        )
    )
    points = alt.Chart(data.clone()).mark_point(filled=True, size=40).encode(x=x, y=y, color=colour, tooltip=tooltip)
    return alt.layer(lines, points).properties(title=title, width=560, height=320)


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


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_csv(frame: pl.DataFrame) -> str:
    """CSV text a spreadsheet will not run: text cells that start like a formula (=, +, -, @, tab, CR) get a
    leading apostrophe (OWASP's advice against CSV injection). Numbers are written as they are."""
    guarded = []
    for name, dtype in frame.schema.items():
        if dtype != pl.Utf8:
            continue
        risky = pl.lit(False)
        for mark in FORMULA_START:
            risky = risky | pl.col(name).str.starts_with(mark)
        guarded.append(pl.when(risky).then(pl.lit("'") + pl.col(name)).otherwise(pl.col(name)).alias(name))
    return (frame.with_columns(guarded) if guarded else frame).write_csv()
