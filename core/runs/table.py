"""The Runs table: every run a person may see in one comparable table (`runs_metrics_table`: student, p, teacher
answers, held-out score, analogies as % of the teacher, whose it is), searched by words (`search_runs`), and whose a
run is as the table says it (`whose_run`).

    table = runs_metrics_table(list_runs(runs_dir()), {run_id: read_stored_evaluation(folder)}, me="t-ada")
    search_runs(table, "king b", origins=["yours"])
"""

from __future__ import annotations

from core.config import StudentKind

RUN_ORIGINS = ("yours", "the lab's example", "shared by a classmate", "imported")  # and "shared by <nickname>"


def whose_run(owner: str, me: str | None, names: dict[str, str] | None = None, imported: bool = False) -> str:
    """Whose a run is, as the Runs table says it to the person `me` (their lab id on a host; None on one's own
    machine, where every run is theirs). `names`: lab id -> nickname (core.classroom.people.nicknames).

    >>> whose_run("t-bob", "t-ada", {"t-bob": "Bob"}), whose_run("", "t-ada"), whose_run("t-ada", "t-ada")
    ('shared by Bob', "the lab's example", 'yours')
    """
    if me is None or owner == me:
        return RUN_ORIGINS[3] if imported else RUN_ORIGINS[0]
    if not owner:  # trained ahead by the lab (the warm-up, the command line): nobody's
        return RUN_ORIGINS[1]
    name = (names or {}).get(owner, "")
    return f"shared by {name}" if name else RUN_ORIGINS[2]


def runs_metrics_table(runs, evaluations: dict, me: str | None = None, names: dict[str, str] | None = None):
    """One table to compare runs: `runs` is `core.runs.store.list_runs` (filtered to what a person may see),
    `evaluations` maps run ids to `stored_evaluation` results (runs missing from it get no analogy score),
    `me` the viewer's owner id in hosted mode (None: every run is the viewer's own), `names` lab id -> nickname.

    Columns: name, student, p, teacher_queries, heldout_cosine, analogy_pct_of_teacher, seconds, origin (whose it
    is, `whose_run`: 'yours' | "the lab's example" | 'shared by Bob' | 'shared by a classmate' | 'imported'), status,
    created, run_id; newest first.
    e.g. a run with 1,000 teacher answers scored 0.61 held-out and 42 % of the teacher's analogies ->
    {"teacher_queries": 1000, "heldout_cosine": 0.61, "analogy_pct_of_teacher": 42.0, ...}
    """
    import polars as pl

    analogy = {
        run_id: (ev.get("summary") or {}).get("analogy_pct_of_teacher") for run_id, ev in evaluations.items() if ev
    }
    labels = {k.value: k.label for k in StudentKind}
    names_column = runs["name"] if "name" in runs.columns else pl.Series("name", [""] * runs.height, pl.Utf8)
    whose = [
        whose_run(owner or "", me, names, bool(imported))
        for owner, imported in zip(runs["owner"].to_list(), runs["imported"].to_list())
    ]
    return (
        runs.with_columns(name=names_column, origin=pl.Series("origin", whose, pl.Utf8))
        .select(
            pl.col("name").fill_null(""),
            pl.col("model").replace_strict(labels, default=pl.col("model")).alias("student"),
            "p",
            pl.col("teacher_queries").cast(pl.Int64),
            pl.col("heldout_cosine").cast(pl.Float64),
            pl.col("run_id")
            .replace_strict(analogy, default=None, return_dtype=pl.Float64)
            .alias("analogy_pct_of_teacher"),
            pl.col("seconds").cast(pl.Float64),
            "origin",
            "status",
            "created",
            "run_id",
        )
        .sort("created", descending=True)
    )


def search_runs(table, text: str = "", students=(), origins=()):
    """Rows of `runs_metrics_table` whose name, student, run id, creation date or owner ('shared by Bob') contain
    every word of `text` (any case), of the chosen students and origins (empty: all). 'king b' -> Model B runs named
    '… king …'; 'bob' -> Bob's shared runs."""
    import polars as pl

    haystack = pl.concat_str(
        [pl.col("name"), pl.col("student"), pl.col("run_id"), pl.col("created"), pl.col("origin")], separator=" "
    ).str.to_lowercase()
    keep = pl.lit(True)
    for word in str(text or "").lower().split():
        keep = keep & haystack.str.contains(word, literal=True)
    if students:
        keep = keep & pl.col("student").is_in(list(students))
    if origins:
        keep = keep & pl.col("origin").is_in(list(origins))
    return table.filter(keep)
