import numpy as np
import pytest

from core.evaluation.neighbours import (
    UnknownWord,
    analogy,
    nearest,
    neighbour_overlap,
    pair_cosine,
    parse_analogy,
    parse_pairs,
)


def unit(rows):
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


# A hand-made space where king - man + woman lands exactly on queen.
ITEMS = ["king", "man", "woman", "queen", "apple"]
M = unit([[1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 1, 0], [0, 0, 0, 1]])


def test_hand_worked_analogy():
    (best, score), *_ = analogy(M, ITEMS, "king", "man", "woman", k=2)
    assert best == "queen" and score > 0.9


def test_nearest_excludes_the_word_and_is_sorted():
    result = nearest(M, ITEMS, "king", k=4)
    assert "king" not in [w for w, _ in result]
    assert [s for _, s in result] == sorted([s for _, s in result], reverse=True)
    assert pair_cosine(M, ITEMS, "king", "man") == pytest.approx(1 / np.sqrt(2), rel=1e-5)
    assert neighbour_overlap(M, M, ITEMS, "king", k=2) == 1.0


def test_unknown_words_get_a_sentence():
    with pytest.raises(UnknownWord, match="Not in this vocabulary: 'prince'"):
        analogy(M, ITEMS, "prince", "man", "woman")


def test_parsers():
    assert parse_analogy("King − Man + Woman") == ("king", "man", "woman")
    with pytest.raises(ValueError, match="a - b \\+ c"):
        parse_analogy("king + queen")
    with pytest.raises(ValueError, match="Line 1"):
        parse_pairs("one two three")
