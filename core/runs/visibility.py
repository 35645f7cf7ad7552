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


def default_run(
    runs: pl.DataFrame, owner: str, hosted: bool, chosen: str | None = None, preferred: str | None = None
) -> str | None:
    """The run a page opens: `chosen` (the session's run) when `runs` holds it, else the newest of the person's
    own runs; a classmate's shared run only for someone who has none of their own. So a run someone else shared
    (dated in the future, say, to sort first) never becomes everyone's default. Where that would be one of the runs
    the lab trained itself (owner ''), `preferred` when `runs` holds it: the story's pair, whose pages the warm-up
    computed ahead (its map's UMAP), not whichever of the lab's runs happened to be stored last. None when `runs` is
    empty.

    runs newest first [bob's shared, ada's] -> ada opens her own;  a new classmate with no runs -> bob's
    runs newest first [the lab's poisoned run, the lab's pair B], preferred = pair B -> pair B
    """
    if runs.is_empty():
        return None
    ids = runs["run_id"].to_list()
    if chosen in ids:
        return chosen
    if hosted:
        own = runs.filter(pl.col("owner") == owner)["run_id"].to_list()
        if own:
            return own[0]
    if preferred in ids and runs["owner"][0] == "":
        return preferred
    return ids[0]
