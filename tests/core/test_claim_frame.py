"""The paper's claim re-tested: the grid both panels draw (core.poisoning.poison.claim_frame)."""

import polars as pl

from core.poisoning.poison import claim_frame


def test_only_p_values_with_both_panels_and_only_the_claimed_epochs():
    rows = [
        {"p": p, "poison": poison, "epoch": e, "train_loss": 0.5}
        for p, poison, last in [(0.1, 0.0, 80), (0.1, 0.1, 80), (0.2, 0.0, 40), (0.3, 0.1, 40)]
        for e in range(1, last + 1)
    ]
    kept = claim_frame(pl.DataFrame(rows), epochs=40)
    assert sorted(set(kept["p"].to_list())) == [
        0.1
    ]  # 0.2 has no poisoned run, 0.3 no clean one: they would be blank rows
    assert kept["epoch"].max() == 40 and kept.height == 2 * 40
