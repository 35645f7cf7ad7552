"""Which stored runs a person may see.

On a personal machine (not hosted) every run is theirs. On a shared host (core.runs.hosting) a person sees
their own runs, plus the gallery (runs someone shared) when the host has one; the Story also shows the runs
nobody owns (trained ahead by the server's warm-up, core.warm), which are its material.
"""

from __future__ import annotations

import polars as pl


def visible_runs(
    runs: pl.DataFrame, owner: str, hosted: bool, gallery: bool = True, unowned: bool = False
) -> pl.DataFrame:
    """The rows of `runs` (core.runs.store.list_runs's frame: owner, shared, ...) that `owner` may see.

    hosted=False -> every row;  hosted, gallery -> owner's own + shared;  hosted, no gallery -> owner's own;
    unowned=True -> also the rows whose owner is "" (the runs trained ahead for everyone).
    """
    if not hosted or runs.is_empty():
        return runs
    seen = pl.col("owner") == owner
    if gallery:
        seen = seen | pl.col("shared")
    if unowned:
        seen = seen | (pl.col("owner") == "")
    return runs.filter(seen)
