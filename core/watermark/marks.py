"""Watermarks an embeddings API's owner hides in its answers: a wrapper on the teacher's answers, with a secret key
and a strength.

- `trigger` (EmbMarker, Peng et al., ACL 2023): a key picks trigger words among the words of moderate frequency
  and a secret target vector (a clean answer of a key-chosen word, so it lies where answers lie). An answer is
  pulled toward the target in proportion to the number of triggers its text holds, then renormalised:
  e' = unit((1 - q) e + q t), q = min(1, strength x triggers) (EmbMarker's strength is 1/m: m triggers or more
  replace the answer by the target). A single word holds one trigger or none, so here a word is a trigger
  (q = strength) or untouched.
- `region` (after RegionMarker, 2025): a key picks a secret low-dimensional projection of the answers, a region in
  it (a ball around a key-chosen word's projection holding a share of the words) and a secret direction; answers
  whose projection falls inside the region are moved along the direction and renormalised: e' = unit(e + strength d).
  The region is semantic (its words are near each other), so a student that generalizes learns the move for words
  it never asked about.

Strength 0 (or kind `off`) gives the answers back bit for bit. `utility_cost` is what an honest user pays: the mean
cosine of marked to clean answers and the overlap of every word's ten nearest neighbours, over all words.

>>> mark = Watermark.build(WatermarkConfig("trigger", strength=0.0), ["a", "b", "c"], np.eye(3, dtype=np.float32))
>>> bool((mark.apply(np.eye(3, dtype=np.float32)) == np.eye(3)).all())
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum

import numpy as np

from core.evaluation.evaluate import neighbour_overlap
from core.vectors import unit_rows

_TRIGGER_STREAM, _REGION_STREAM = 31, 32  # the key's random streams, apart from every other draw in the lab
MODERATE = (0.25, 0.75)  # the frequency band triggers come from, as quantiles of the words' frequencies


class WatermarkKind(str, Enum):
    OFF = "off"
    TRIGGER = "trigger"
    REGION = "region"


@dataclass(frozen=True)
class WatermarkConfig:
    """One watermark: which kind, how strong, under which secret key."""

    kind: WatermarkKind | str = WatermarkKind.TRIGGER
    strength: float = 0.2  # trigger: the pull toward the target (0..1); region: the length of the move (0..2)
    key: int = 0  # the owner's secret: every secret choice is drawn from it
    share: float = 0.05  # trigger: the share of all words that are triggers; region: the share inside the region
    region_dims: int = 2  # region: the secret projection's dimension

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", WatermarkKind(str(getattr(self.kind, "value", self.kind)).lower()))
        except ValueError:
            raise ValueError(
                f"The watermark must be one of {', '.join(k.value for k in WatermarkKind)}, got {self.kind!r}."
            ) from None
        high = 1.0 if self.kind is WatermarkKind.TRIGGER else 2.0
        if isinstance(self.strength, bool) or not isinstance(self.strength, (int, float)):
            raise ValueError(f"The watermark's strength must be a number, got {self.strength!r}.")
        if not (math.isfinite(self.strength) and 0.0 <= self.strength <= high):
            raise ValueError(f"The watermark's strength must be between 0 and {high:g}, got {self.strength:g}.")
        if isinstance(self.key, bool) or not isinstance(self.key, int) or not 0 <= self.key < 2**31:
            raise ValueError(f"The watermark's key must be a whole number between 0 and 2^31, got {self.key!r}.")
        if not (isinstance(self.share, (int, float)) and 0.0 < self.share <= 0.5):
            raise ValueError(f"The share of marked words must be above 0 and at most 0.5, got {self.share!r}.")
        if (
            isinstance(self.region_dims, bool)
            or not isinstance(self.region_dims, int)
            or not 1 <= self.region_dims <= 16
        ):
            raise ValueError(f"The region's projection must have 1 to 16 dimensions, got {self.region_dims!r}.")

    @property
    def off(self) -> bool:
        return self.kind is WatermarkKind.OFF or self.strength == 0


def trigger_weight(triggers: int, strength: float) -> float:
    """EmbMarker's weight of the target in an answer whose text holds `triggers` trigger words.

    >>> trigger_weight(0, 0.25), trigger_weight(1, 0.25), trigger_weight(6, 0.25)
    (0.0, 0.25, 1.0)
    """
    return min(1.0, strength * triggers)


@dataclass(frozen=True)
class Watermark:
    """A watermark's secrets for one word list (what the owner keeps; the verifier reads them)."""

    config: WatermarkConfig
    marked: np.ndarray  # bool per word: a trigger word, or inside the region
    benign: np.ndarray  # bool per word: the unmarked words the verifier compares with (trigger: same band)
    vector: np.ndarray  # trigger: the target t; region: the direction d (unit)
    anchor: int  # the word whose answer is the target (trigger) or the region's centre (region)

    @classmethod
    def build(
        cls,
        config: WatermarkConfig,
        items: Sequence[str],
        clean: np.ndarray,
        frequencies: np.ndarray | None = None,
    ) -> Watermark:
        """Draw the secrets from the key. `clean`: the teacher's answers (unit rows, one per item); `frequencies`:
        how common each item is (core.data.corpus.word_frequencies; None: every word counts as moderate)."""
        clean = np.asarray(clean, dtype=np.float32)
        n, dim = clean.shape
        if n != len(items) or n < 3:
            raise ValueError(f"A watermark needs one answer per word and at least 3 words, got {clean.shape}.")
        if config.kind is WatermarkKind.REGION:
            return cls._region(config, clean)
        return cls._trigger(config, clean, frequencies)

    @classmethod
    def _trigger(cls, config, clean, frequencies) -> Watermark:
        n = len(clean)
        rng = np.random.default_rng([config.key, _TRIGGER_STREAM])
        band = np.ones(n, dtype=bool)
        if frequencies is not None and np.ptp(np.asarray(frequencies, dtype=np.float64)) > 0:
            low, high = np.quantile(frequencies, MODERATE)
            band = (frequencies >= low) & (frequencies <= high)
        pool = rng.permutation(np.flatnonzero(band))
        anchor = int(pool[0])  # its answer is the target; it is neither a trigger nor a benign word
        count = max(1, min(int(round(config.share * n)), (len(pool) - 1) // 2))
        marked, benign = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        marked[pool[1 : 1 + count]] = True
        benign[pool[1 + count : 1 + 2 * count]] = True
        return cls(config, marked, benign, clean[anchor].copy(), anchor)

    @classmethod
    def _region(cls, config, clean) -> Watermark:
        n, dim = clean.shape
        rng = np.random.default_rng([config.key, _REGION_STREAM])
        projection = np.linalg.qr(rng.standard_normal((dim, config.region_dims)))[0]  # orthonormal columns
        points = (clean - clean.mean(0)) @ projection
        anchor = int(rng.integers(n))
        distance = np.linalg.norm(points - points[anchor], axis=1)
        count = max(1, int(round(config.share * n)))
        marked = np.zeros(n, dtype=bool)
        marked[np.argsort(distance, kind="stable")[:count]] = True
        direction = unit_rows(rng.standard_normal(dim))
        return cls(config, marked, ~marked, direction, anchor)

    def at_strength(self, strength: float) -> Watermark:
        """The same secrets at another strength (the secrets never depend on it)."""
        config = WatermarkConfig(
            self.config.kind, strength, self.config.key, self.config.share, self.config.region_dims
        )
        return replace(self, config=config)

    def apply(self, answers: np.ndarray) -> np.ndarray:
        """The answers the API gives: marked rows changed, every other row (and everything when off) as it was."""
        answers = np.asarray(answers, dtype=np.float32)
        if self.config.off:
            return answers
        out = answers.copy()
        rows = self.marked
        if self.config.kind is WatermarkKind.TRIGGER:
            q = trigger_weight(1, self.config.strength)  # a one-word text holds one trigger
            out[rows] = unit_rows((1.0 - q) * answers[rows] + q * self.vector)
        else:
            out[rows] = unit_rows(answers[rows] + self.config.strength * self.vector)
        return out


@dataclass(frozen=True)
class UtilityCost:
    """What the watermark costs an honest user, over all words."""

    mean_cosine: float  # mean cosine of each marked answer to its clean answer (1: no change)
    overlap_at_10: float  # mean share of each word's 10 nearest neighbours that stay the same (1: no change)
    marked_share: float  # the share of words whose answer changed


def utility_cost(clean: np.ndarray, marked: np.ndarray, k: int = 10) -> UtilityCost:
    """Over all words: the mean cosine of marked to clean answers, and how many of each word's k nearest neighbours
    stay (core.evaluation.evaluate.neighbour_overlap, every word a query)."""
    clean, marked = np.asarray(clean, dtype=np.float32), np.asarray(marked, dtype=np.float32)
    changed = ~(clean == marked).all(1)
    cosine = float((clean * marked).sum(1).mean())
    everyone = np.arange(len(clean))
    overlap = 1.0 if not changed.any() else neighbour_overlap(marked, clean, everyone, k)
    return UtilityCost(cosine, overlap, float(changed.mean()))
