"""The UI's sentences (pages/_labels.py) built from the engine's numbers, on hand-built values."""

import polars as pl
import pytest

from core.poisoning.poison import ClaimCheck, retest_paper_claim
from pages._labels import (
    DEFENCE_LABELS,
    EXPLAIN,
    claim_verdict,
    defences_help,
    detection_sentence,
    with_defence_labels,
)
from tests.core.test_charts import CASES


def check(**changes) -> ClaimCheck:
    values = dict(
        p=0.095,
        epoch=20,
        rate=0.1,
        loss_here=0.30,
        loss_neighbours=(0.35, 0.32),
        neighbour_ps=(0.053, 0.171),
        local_minimum=True,
        heldout_poisoned=0.60,
        heldout_clean=0.62,
        baseline=0.20,
        best_heldout=(0.61, 0.171, 30),
        verdict_kind="holds",
    )
    return ClaimCheck(**{**values, **changes})


def test_a_claim_that_holds_reads_so():
    text = claim_verdict(check())
    assert text.startswith(
        "Training loss: at p = 0.095 after 20 epochs with 10% poison it is 0.300, lower than its neighbours "
        "(0.350 at p = 0.053 and 0.320 at p = 0.171)"
    )
    assert "(the clean run: 0.620; a student that learns nothing: 0.200)." in text
    assert "is 0.610 (p = 0.171, epoch 30)." in text
    assert text.endswith("keeps 97% of the clean run's quality and the loss does dip there.")


@pytest.mark.parametrize(
    "changes,ending",
    [
        ({"verdict_kind": "no held-out words", "heldout_poisoned": None}, "no held-out words to re-test the claim on."),
        ({"verdict_kind": "no better than learning nothing", "heldout_clean": 0.2}, ", and neither is the clean one."),
        (
            {"verdict_kind": "costs quality", "heldout_poisoned": 0.31},
            "(50% of the clean run); the training loss hides it.",
        ),
    ],
)
def test_every_kind_of_verdict_has_its_sentence(changes, ending):
    assert claim_verdict(check(**changes)).endswith(ending)


def test_no_neighbours_and_no_dip():
    text = claim_verdict(check(local_minimum=False, loss_neighbours=(None, None)))
    assert "not lower than its neighbours (none in this grid)" in text and "without the loss dip." in text


def test_the_engine_gives_the_numbers_the_sentence_needs():
    rows = [
        {"p": p, "poison": rate, "epoch": 20, "train_loss": loss, "heldout_cosine": cos}
        for p, rate, loss, cos in [
            (0.053, 0.1, 0.5, 0.4),
            (0.095, 0.1, 0.3, 0.58),
            (0.171, 0.1, 0.4, 0.5),
            (0.095, 0.0, 0.2, 0.6),
        ]
    ]
    result = retest_paper_claim(pl.DataFrame(rows), baselines={0.095: 0.1})
    assert (result.p, result.local_minimum, result.neighbour_ps, result.verdict_kind) == (
        0.095,
        True,
        (0.053, 0.171),
        "holds",
    )
    assert claim_verdict(result).endswith("keeps 97% of the clean run's quality and the loss does dip there.")


def test_detection_sentence_and_defence_names():
    summary = {
        "detection_flagged": 12,
        "train_size": 1000,
        "poisoned_in_train": 10,
        "detection_precision": 0.75,
        "detection_recall": None,
        "defence": "trimmed",
        "defence_left_out": 9,
        "defence_recall": 0.8,
        "defence_precision": 0.9,
    }
    text = detection_sentence(summary)
    assert text.startswith("Judged by their loss, 12 of 1,000 training answers look poisoned (10 really are)")
    assert "precision 75%" in text and "recall — (share" in text
    assert text.endswith("The trimmed loss defence left out 9 answers, 80% of the poison, with precision 90%.")
    frame = with_defence_labels(pl.DataFrame({"defence": ["none", "robust", "mystery"]}))
    assert frame["defence"].to_list() == [DEFENCE_LABELS["none"], DEFENCE_LABELS["robust"], "mystery"]
    assert all(DEFENCE_LABELS[d] in defences_help() for d in DEFENCE_LABELS)


@pytest.mark.parametrize("chart", CASES)
def test_every_chart_of_the_engine_has_a_sentence_a_non_coder_reads_beside_it(chart):
    assert len(EXPLAIN[chart].split()) >= 12
