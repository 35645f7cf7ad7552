"""The table of runs the Honest evaluation page shows beside (or instead of) the quality-per-query chart."""

import pytest

from core.evaluation.evaluate import BASELINE_LABEL
from core.runs.quality import quality_frame, quality_table


def evaluation(model, p, queries, cosine, base_cosine, overlap):
    row = {
        "heldout_cosine": cosine,
        "analogy_pct_of_teacher": 50.0,
        "simlex_spearman": 0.3,
        "wordsim_spearman": 0.4,
        "neighbour_overlap_at_10": overlap,
    }
    base = {
        "heldout_cosine": base_cosine,
        "analogy_pct_of_teacher": 0.0,
        "simlex_spearman": None,
        "wordsim_spearman": None,
        "neighbour_overlap_at_10": 0.0,
    }
    summary = {"model": model, "p": p, "teacher_queries": queries, "run_id": f"{model}-{p}"}
    return {"summary": summary, "table": [row, {"heldout_cosine": 1.0}, base]}


def test_one_row_per_run_beside_its_baseline_with_neighbours_out_of_ten():
    frame = quality_frame(
        [
            evaluation("kernel", 0.1, 1000, 0.8, 0.5, 0.7),
            evaluation("B", 0.1, 1000, 0.45, 0.48, 0.005),
            evaluation("B", 0.03, 300, 0.40, 0.47, 0.0),
        ]
    )
    table = quality_table(frame)
    assert table.height == 3 and BASELINE_LABEL not in table["student"].to_list()
    assert table["student"].to_list() == ["Adapter (kernel, layers)", "Model B", "Model B"]
    assert table["p"].to_list() == [0.1, 0.03, 0.1]
    kernel = table.row(0, named=True)
    assert kernel["baseline_cosine"] == pytest.approx(
        0.49
    )  # both runs at 1,000 queries: the mean of their baselines, (0.5 + 0.48) / 2
    assert kernel["neighbours_of_10"] == pytest.approx(7.0)
    assert table.row(1, named=True)["baseline_cosine"] == pytest.approx(0.47)
