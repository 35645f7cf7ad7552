"""How long: a training's time from stored runs' measured rates before it starts, its time left while it trains,
and the plain words a page says it in (`duration`)."""

from __future__ import annotations

import math

from core.config import TrainConfig


def estimate_seconds(config: TrainConfig, n_items: int, runs) -> float | None:
    """Seconds a training of `config` on `n_items` items will take, from stored runs of the same student
    (and teacher width is ignored: it moves the time little): seconds per epoch as a straight line in the
    training rows, fitted on the stored runs (`runs` is `core.runs.store.list_runs`'s frame). None when no stored
    run of that student has a time.

        runs at 100 rows: 1 s/epoch, at 1,000 rows: 4 s/epoch -> 550 rows, 10 epochs: ~25 s
    """
    import numpy as np

    if runs is None or runs.is_empty() or "seconds" not in runs.columns:
        return None
    took = runs["seconds"]
    same = runs.filter(  # a time that is not a finite, non-negative number (a damaged run's) measures nothing
        (runs["model"] == config.model.value)
        & took.is_not_null()
        & took.is_finite()
        & (took >= 0)
        & (runs["epochs"] > 0)
        & (runs["status"] == "finished")
    )
    if same.is_empty():
        return None
    rows = np.asarray(same["train_size"].to_list(), float)
    per_epoch = np.asarray(same["seconds"].to_list(), float) / np.asarray(same["epochs"].to_list(), float)
    train_rows = max(1.0, round(config.p * n_items))
    if len(set(rows.tolist())) >= 2:
        slope, intercept = np.polyfit(rows, per_epoch, 1)
        slope, intercept = max(slope, 0.0), max(intercept, 0.0)
        seconds = intercept + slope * train_rows
        if seconds <= 0:
            seconds = float(np.median(per_epoch))
    else:  # one size measured: scale by rows, but never below a tenth of it (every epoch has a fixed part)
        seconds = float(np.median(per_epoch)) * max(0.1, train_rows / max(1.0, float(rows[0])))
    seconds = float(seconds * config.epochs)
    return seconds if math.isfinite(seconds) else None


def remaining_seconds(records: list, epochs: int, estimate: float | None = None, elapsed: float = 0.0) -> float | None:
    """A training's time left: epochs left x the mean of its last (up to 5) epochs; before the first epoch,
    the estimate less the time already spent (never below zero). None when nothing is known."""
    if records:
        recent = [getattr(r, "epoch_seconds", 0.0) for r in records[-5:]]
        return max(0.0, (epochs - len(records)) * sum(recent) / len(recent))
    if estimate is None:
        return None
    return max(0.0, estimate - elapsed)


def duration(seconds: float | None) -> str:
    """Plain words for a duration: 'a few seconds', 'about 40 s', 'about 3 min', 'about 1 h 20 min'.

    duration(4) -> 'a few seconds';  duration(95) -> 'about 2 min'
    """
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "unknown"
    if seconds < 10:
        return "a few seconds"
    if seconds < 60:
        return f"about {int(round(seconds / 5.0) * 5)} s"
    minutes = int(round(seconds / 60.0))
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60:02d} min"
