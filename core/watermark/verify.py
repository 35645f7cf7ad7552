"""The owner's verifier: it sees only a suspect's embed function (words -> vectors) and the watermark's secrets.

Two tests, each giving one number per suspect (its `statistic`) and a plain two-sample p-value:

- trigger (EmbMarker's): the cosine and the distance of each answer to the target vector, for the trigger words
  (EmbMarker's backdoor texts) against as many benign words of the same frequency band:
  Δcos = mean cos(trigger) - mean cos(benign), Δl2 = mean l2(trigger) - mean l2(benign) (of unit vectors), and the
  Kolmogorov–Smirnov p-value of the two cosine samples (scipy.stats.ks_2samp). The statistic is Δcos.
- region: the projection of each answer on the secret direction, for probe words inside the secret region against
  probe words outside it (the lab probes words the suspect never asked about, where there are any). The statistic
  is the difference of the two means; the p-value is the KS test's.

A small p-value alone proves nothing: a region is made of similar words, so even a student that never saw a marked
answer projects them differently from the rest (the plain test "cries wolf"). So every statistic is CALIBRATED
against control students (same kind and p, trained on clean answers, several seeds): `Calibration` sets the
threshold a clean student crosses with probability `level` — the upper normal prediction bound of the controls,
mean + t(n-1, 1 - level) x sd x sqrt(1 + 1/n) — and `false_alarms` measures how often a control is flagged by the
others (leave one out). Rates come with an interval (`interval`: Clopper–Pearson or Wilson), and `verdict` says no
more than the controls allow.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from core.vectors import unit_rows
from core.watermark.marks import Watermark, WatermarkKind

Embed = Callable[[Sequence[str]], np.ndarray]  # a suspect: words -> vectors (one row each)
LEVEL = 0.01  # the false-alarm rate a verdict is set at
MIN_CONTROLS = 3
RAW_ALPHA = 0.05  # the plain two-sample test's level (what a verifier without controls would use)
MIN_SPREAD = 1e-6  # controls closer together than this (float noise) do not vary at all


@dataclass(frozen=True)
class Evidence:
    """What one suspect's answers show about one watermark."""

    watermark: str  # 'trigger' or 'region'
    statistic: float  # trigger: Δcos; region: the difference of mean projections (in - out)
    pvalue: float  # the plain two-sample KS test's (not calibrated: see the module's docstring)
    delta_l2: float | None  # trigger only
    marked_words: int  # how many trigger / in-region words were probed
    other_words: int  # how many benign / out-of-region words

    @property
    def raw_flag(self) -> bool:
        """What a verifier without controls would say: the plain test at RAW_ALPHA."""
        return self.pvalue < RAW_ALPHA


def _vectors(embed: Embed, words: Sequence[str]) -> np.ndarray:
    out = np.asarray(embed(list(words)), dtype=np.float64)
    if out.shape[0] != len(words) or out.ndim != 2:
        raise ValueError(f"The suspect answered {out.shape} for {len(words)} words.")
    return unit_rows(out, dtype=np.float64)


def inspect(embed: Embed, mark: Watermark, items: Sequence[str], probe: np.ndarray | None = None) -> Evidence:
    """Query the suspect and compute its evidence. `items`: the word list the watermark was built on; `probe`
    (region only): a bool mask of the words to probe (default: all)."""
    from scipy.stats import ks_2samp  # lazy: scipy is only needed here

    if mark.config.kind is WatermarkKind.TRIGGER:
        marked, other = np.flatnonzero(mark.marked), np.flatnonzero(mark.benign)
        a, b = _vectors(embed, [items[i] for i in marked]), _vectors(embed, [items[i] for i in other])
        target = mark.vector.astype(np.float64)
        cos_a, cos_b = a @ target, b @ target
        l2_a, l2_b = np.linalg.norm(a - target, axis=1), np.linalg.norm(b - target, axis=1)
        return Evidence(
            "trigger",
            float(cos_a.mean() - cos_b.mean()),
            float(ks_2samp(cos_a, cos_b).pvalue),
            float(l2_a.mean() - l2_b.mean()),
            len(marked),
            len(other),
        )
    if mark.config.kind is not WatermarkKind.REGION:
        raise ValueError("There is nothing to verify for a watermark that is off.")
    probe = np.ones(len(items), dtype=bool) if probe is None else np.asarray(probe, dtype=bool)
    inside, outside = np.flatnonzero(probe & mark.marked), np.flatnonzero(probe & ~mark.marked)
    if len(inside) < 2 or len(outside) < 2:
        raise ValueError(f"The region test needs probe words inside and outside the region ({len(inside)} inside).")
    words = [items[i] for i in np.concatenate([inside, outside])]
    projection = _vectors(embed, words) @ mark.vector.astype(np.float64)
    a, b = projection[: len(inside)], projection[len(inside) :]
    return Evidence("region", float(a.mean() - b.mean()), float(ks_2samp(a, b).pvalue), None, len(inside), len(outside))


# ---- calibration against control students ---------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """The line a clean student crosses with probability `level`, from control students' statistics."""

    controls: tuple[float, ...]
    level: float
    threshold: float

    @classmethod
    def from_controls(cls, statistics: Sequence[float], level: float = LEVEL) -> Calibration:
        """The upper normal prediction bound of one more control: mean + t(n-1, 1-level) sd sqrt(1 + 1/n).

        >>> round(Calibration.from_controls([0.0, 0.1, -0.1, 0.05, -0.05], 0.01).threshold, 3)
        0.324
        """
        from scipy.stats import t as student_t  # lazy: scipy is only needed here

        values = np.asarray(statistics, dtype=np.float64)
        if len(values) < MIN_CONTROLS or not np.isfinite(values).all():
            raise ValueError(f"Calibration needs at least {MIN_CONTROLS} control students, got {len(values)}.")
        if not 0.0 < level < 0.5:
            raise ValueError(f"The false-alarm level must be between 0 and 0.5, got {level!r}.")
        n = len(values)
        spread = float(values.std(ddof=1)) * math.sqrt(1.0 + 1.0 / n)
        if spread < MIN_SPREAD:
            # Controls that do not vary (a closed-form student asked about every word is the same student at every
            # seed) say nothing about how far a clean student may land: no line can be set, nothing is flagged.
            return cls(tuple(float(v) for v in values), float(level), math.inf)
        bound = float(values.mean()) + float(student_t.ppf(1.0 - level, n - 1)) * spread
        return cls(tuple(float(v) for v in values), float(level), bound)

    @property
    def usable(self) -> bool:
        """False when the controls did not vary (see `from_controls`)."""
        return math.isfinite(self.threshold)

    def flags(self, statistic: float) -> bool:
        """Above the line, and above every control (a spread of zero flags nothing a control reached)."""
        return statistic > self.threshold and statistic > max(self.controls)


@dataclass(frozen=True)
class Rate:
    """hits of n, with a two-sided interval at `confidence`."""

    hits: int
    n: int
    low: float
    high: float

    @property
    def value(self) -> float | None:
        return self.hits / self.n if self.n else None


def interval(hits: int, n: int, confidence: float = 0.95, method: str = "clopper-pearson") -> Rate:
    """A binomial rate's interval: Clopper–Pearson (exact, never too narrow) or Wilson (score).

    >>> r = interval(0, 10)
    >>> (r.low, round(r.high, 3))
    (0.0, 0.308)
    >>> r = interval(5, 10, method="wilson")
    >>> (round(r.low, 3), round(r.high, 3))
    (0.237, 0.763)
    """
    if not 0 <= hits <= n:
        raise ValueError(f"hits must be between 0 and n, got {hits} of {n}.")
    if n == 0:
        return Rate(0, 0, 0.0, 1.0)
    alpha = 1.0 - confidence
    if method == "clopper-pearson":
        from scipy.stats import beta  # lazy: scipy is only needed here

        low = 0.0 if hits == 0 else float(beta.ppf(alpha / 2, hits, n - hits + 1))
        high = 1.0 if hits == n else float(beta.ppf(1 - alpha / 2, hits + 1, n - hits))
        return Rate(hits, n, low, high)
    if method == "wilson":
        from scipy.stats import norm  # lazy: scipy is only needed here

        z = float(norm.ppf(1 - alpha / 2))
        p = hits / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return Rate(hits, n, max(0.0, centre - half), min(1.0, centre + half))
    raise ValueError(f"The interval method must be 'clopper-pearson' or 'wilson', got {method!r}.")


def false_alarms(controls: Sequence[float], level: float = LEVEL) -> tuple[int, int]:
    """(flagged, tested): each control judged against a calibration from all the other controls; (0, 0) when
    there are too few controls to leave one out."""
    values = list(controls)
    if len(values) - 1 < MIN_CONTROLS:
        return 0, 0
    others = [values[:i] + values[i + 1 :] for i in range(len(values))]
    flagged = sum(Calibration.from_controls(rest, level).flags(v) for rest, v in zip(others, values))
    return int(flagged), len(values)


STATISTIC_NAMES = {
    "trigger": "pull toward the secret target (Δcos, trigger words minus benign words)",
    "region": "shift along the secret direction (in-region minus out-of-region words)",
}


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %" if x >= 0.01 or x == 0 else f"{100 * x:.1f} %"


def verdict(evidence: Evidence, calibration: Calibration, alarms: Rate | None = None) -> str:
    """One sentence (two at most) that claims no more than the controls allow."""
    n, top = len(calibration.controls), max(calibration.controls)
    name = STATISTIC_NAMES[evidence.watermark]
    known = (
        f" The false-alarm rate itself was measured at {alarms.hits} of {alarms.n} clean students "
        f"(95 % interval {_pct(alarms.low)}–{_pct(alarms.high)})."
        if alarms is not None and alarms.n
        else ""
    )
    if not calibration.usable:
        return (
            f"No verdict: the {n} clean students are all the same student (every seed gives one answer: a closed-form "
            f"student asked about every word), so they cannot say how far a clean student may land."
        )
    if calibration.flags(evidence.statistic):
        return (
            f"Caught: the suspect's {name} is {evidence.statistic:.4f}, above all {n} clean students of its kind "
            f"(at most {top:.4f}) and above the line a clean student crosses about {_pct(calibration.level)} of the "
            f"time ({calibration.threshold:.4f}, if the controls' spread is normal) — evidence that it learned from "
            f"marked answers, not proof.{known}"
        )
    return (
        f"Not caught: the suspect's {name} is {evidence.statistic:.4f}, below the line of {calibration.threshold:.4f} "
        f"set by {n} clean students (at most {top:.4f}): the owner cannot tell it from a student that never saw a "
        f"marked answer.{known}"
    )
