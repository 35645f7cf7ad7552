"""Chart builders: pure functions from a Polars frame to an Altair chart (no Streamlit), one module per family.

Every chart has a title, labelled axes and a legend (the sentence a person reads beside it is the UI's:
`pages/_labels.py`'s EXPLAIN). The names are re-exported here, so a caller writes `charts.training_curves`:

- `common`: the teacher's colour, the students' names, the split colours, `plural`, the line-style legend;
- `runs`: one run or a few (training curves, embedding means, the projection, word pairs, runs compared);
- `sweep`: the paper's sweep figures; `quality`: quality per teacher answer, query selection, analogies by section;
- `poisoning`: the Poisoning lab's; `adapters`: the adapter lab's; `story`: the story's (imported by its own name);
- `export`: `to_svg` / `to_png`, and `safe_csv` (the CSV-injection guard).
"""

from __future__ import annotations

from core.charts.adapters import (
    adapter_curves,
    adapter_tradeoff,
)
from core.charts.common import (
    SPLIT_COLOURS,
    STUDENT_NAMES,
    TEACHER_COLOUR,
    line_style_legend,
    plural,
)
from core.charts.export import (
    FORMULA_START,
    safe_csv,
    to_png,
    to_svg,
)
from core.charts.poisoning import (
    ADVERSARY_NAMES,
    DAMAGE_METRICS,
    POISON_COLOURS,
    bin_losses,
    damage_vs_rate,
    loss_histogram,
)
from core.charts.quality import (
    BAND_LEGEND,
    BASELINE_COLOUR,
    BASELINE_DASH,
    BASELINE_LABEL,  # core.evaluation's, as the quality charts name it
    LINE_LEGEND,
    NOISE_VERDICT,
    PALETTE,
    QUALITY_METRICS,
    REAL_VERDICT,
    SELECTION_DASHES,
    SELECTION_NAMES,
    SHORT_METRICS,
    TENTATIVE_VERDICT,
    ZERO_AXIS,
    ZERO_COLOUR,
    analogy_sections,
    quality_per_query,
    section_accuracy,
    selection_differences,
    selection_name,
    zero_answer_column,
)
from core.charts.runs import (
    LABEL_PX,
    bin_means,
    compare_runs,
    means_histogram,
    means_panels,
    pair_bars,
    projection_labels,
    projection_scatter,
    training_curves,
)
from core.charts.sweep import (
    METRICS,
    pareto_heatmap,
    pareto_lines,
    time_vs_p,
)

__all__ = [
    "BASELINE_LABEL",
    "NOISE_VERDICT",
    "QUALITY_METRICS",
    "REAL_VERDICT",
    "TEACHER_COLOUR",
    "STUDENT_NAMES",
    "SPLIT_COLOURS",
    "plural",
    "line_style_legend",
    "training_curves",
    "means_panels",
    "bin_means",
    "means_histogram",
    "projection_scatter",
    "LABEL_PX",
    "projection_labels",
    "pair_bars",
    "compare_runs",
    "METRICS",
    "time_vs_p",
    "pareto_heatmap",
    "pareto_lines",
    "SELECTION_NAMES",
    "PALETTE",
    "BASELINE_COLOUR",
    "SELECTION_DASHES",
    "BASELINE_DASH",
    "selection_name",
    "SHORT_METRICS",
    "ZERO_COLOUR",
    "ZERO_AXIS",
    "zero_answer_column",
    "quality_per_query",
    "TENTATIVE_VERDICT",
    "selection_differences",
    "LINE_LEGEND",
    "BAND_LEGEND",
    "section_accuracy",
    "analogy_sections",
    "POISON_COLOURS",
    "ADVERSARY_NAMES",
    "DAMAGE_METRICS",
    "bin_losses",
    "loss_histogram",
    "damage_vs_rate",
    "adapter_curves",
    "adapter_tradeoff",
    "to_svg",
    "to_png",
    "FORMULA_START",
    "safe_csv",
]
