"""What every chart family shares: the teacher's colour, the students' names, the split colours, `plural`, and
the legend of line styles."""

from __future__ import annotations

import altair as alt

from core.config import STUDENT_LABELS

# Charts of the whole vocabulary (10k points, 2 x 10k for projections) are the point here.
alt.data_transformers.disable_max_rows()

TEACHER_COLOUR = "#444444"
# Student kinds as people read them, by the kind's value ("B" -> "Model B"): the config's one list.
STUDENT_NAMES = {kind.value: label for kind, label in STUDENT_LABELS.items()}
SPLIT_COLOURS = {"training": "#1f77b4", "held-out": "#ff7f0e", "poisoned": "#d62728"}


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """A count with its noun, singular only for one: plural(1, "epoch") -> "1 epoch", plural(2_000, "run") -> "2,000 runs"."""
    return f"{count:,} {noun if count == 1 else (plural_form or noun + 's')}"


def line_style_legend() -> alt.Legend:
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
