"""The teacher's class board, computed: which class is on (and the archived ones), each person's runs in it, who is
here now, the queue, the gallery and its moderation, the CSV export, and the one chart.

Classes are periods of time (<lab home>/classroom/classes.json): a run belongs to the class that was on when it was
created. Archiving a class writes its results and its people to <lab home>/classroom/archive/<class id>/ (CSV, kept
as they were that day, even if a run is deleted later) and starts the next class; no run is deleted or moved, and
every student keeps seeing their own runs. A teacher's hide (out of the gallery, the owner keeps it) or remove
(deleted) of a shared run is written to classroom/moderation.jsonl, which the board shows: nothing goes silently.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from datetime import datetime
from pathlib import Path

import altair as alt
import polars as pl

from core.charts import safe_csv
from core.classroom.people import display_name, read_people
from core.config import STUDENT_LABELS
from core.paths import lab_home, writing
from core.runs.store import delete_run, list_runs, set_shared

HERE_MINUTES = 5.0  # seen within this many minutes: here now
MAX_CLASS_NAME = 80
RESULT_COLUMNS = {  # column -> what the CSV and the board call it
    "person": "person",
    "lab_id": "lab id",
    "student": "student",
    "p": "p (share of words asked)",
    "answers_used": "answers used",
    "heldout_cosine": "held-out cosine",
    "status": "status",
    "shared": "in the gallery",
    "created": "created",
    "run_id": "run id",
}
STUDENT_NAMES = {kind.value: label for kind, label in STUDENT_LABELS.items()}


def classroom_dir(home: Path | None = None) -> Path:
    return Path(home or lab_home()) / "classroom"


# ---- classes ----------------------------------------------------------------------------------


def _first_class() -> dict:
    return {"id": "class-1", "name": "Class 1", "started": 0.0, "archived": None}


def classes(home: Path | None = None) -> list[dict]:
    """Every class, oldest first; the last one is on (archived None). No file yet: one class since ever."""
    path = classroom_dir(home) / "classes.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        listed = [c for c in data["classes"] if isinstance(c, dict) and {"id", "name", "started"} <= set(c)]
    except (OSError, ValueError, KeyError, TypeError):
        listed = []
    return listed or [_first_class()]


def current_class(home: Path | None = None) -> dict:
    return classes(home)[-1]


def _write_json(path: Path, value) -> None:
    with writing(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(3)}")
        try:
            tmp.write_text(json.dumps(value, indent=2))
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)


def archive_folder(home: Path | None, class_id: str) -> Path:
    return classroom_dir(home) / "archive" / class_id


def archive_class(home: Path | None, runs: pl.DataFrame, new_name: str, now: float | None = None) -> dict:
    """Close the class that is on: its results and its people go to archive/<id>/ (results.csv, people.csv,
    class.json), then the next class starts now under `new_name`. Returns the new class. Deletes nothing."""
    name = " ".join(str(new_name or "").split())
    if not name:
        raise ValueError("Give the new class a name (e.g. 'Tuesday group'), so that the two can be told apart.")
    if len(name) > MAX_CLASS_NAME:
        raise ValueError(f"A class name can be at most {MAX_CLASS_NAME} characters; this one has {len(name)}.")
    now = time.time() if now is None else float(now)
    listed = classes(home)
    closing = dict(listed[-1], archived=now)
    folder = archive_folder(home, closing["id"])
    people = read_people(classroom_dir(home) / "people")
    results = results_table(runs, people, closing)
    with writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "results.csv").write_bytes(results_csv(results))
        (folder / "people.csv").write_bytes(people_csv(class_people(people, closing, results)))
    _write_json(folder / "class.json", closing)
    opened = {"id": f"class-{len(listed) + 1}-{secrets.token_hex(2)}", "name": name, "started": now, "archived": None}
    _write_json(classroom_dir(home) / "classes.json", {"classes": [*listed[:-1], closing, opened]})
    return opened


def archived_results(home: Path | None, class_id: str) -> pl.DataFrame:
    """An archived class's results as they were when it was archived (the CSV written then)."""
    path = archive_folder(home, class_id) / "results.csv"
    if not path.exists():
        raise ValueError(f"The archive of class {class_id} has no results file ({path}).")
    return pl.read_csv(path, infer_schema_length=0)


# ---- the class's runs and people --------------------------------------------------------------------------


def _epoch(created: str) -> float:
    try:
        return datetime.fromisoformat(created).timestamp()
    except (TypeError, ValueError):
        return 0.0


def class_runs(runs: pl.DataFrame, klass: dict) -> pl.DataFrame:
    """The runs people made while `klass` was on (the lab's own examples, owned by nobody, and imported runs left out)."""
    if runs.is_empty():
        return runs
    start, end = float(klass.get("started") or 0.0), klass.get("archived")
    when = [_epoch(c) for c in runs["created"].to_list()]
    inside = pl.Series("inside", [start <= t and (end is None or t < float(end)) for t in when], pl.Boolean)
    return (
        runs.with_columns(inside)
        .filter(pl.col("inside") & (pl.col("owner") != "") & ~pl.col("imported"))
        .drop("inside")
    )


def name_of(owner: str, names: dict[str, str]) -> str:
    """A person as the board names them: their nickname, else 'no name yet · #<end of their lab id>'.

    >>> name_of("t-0123456789abcdef", {})
    'no name yet · #cdef'
    """
    return names.get(owner) or f"no name yet · #{owner[-4:]}"


def results_table(runs: pl.DataFrame, people: list[dict], klass: dict) -> pl.DataFrame:
    """One row per run of the class: person, lab_id, student, p, answers_used (the teacher's answers the run was
    trained on), heldout_cosine, status, shared, created, run_id; by person, best held-out score first."""
    names = {p["owner"]: display_name(p) for p in people if display_name(p)}
    chosen = class_runs(runs, klass)
    frame = pl.DataFrame(
        {
            "person": [name_of(o, names) for o in chosen["owner"].to_list()],
            "lab_id": chosen["owner"].to_list(),
            "student": [STUDENT_NAMES.get(m, m) for m in chosen["model"].to_list()],
            "p": chosen["p"].to_list(),
            "answers_used": chosen["teacher_queries"].to_list(),
            "heldout_cosine": chosen["heldout_cosine"].to_list(),
            "status": chosen["status"].to_list(),
            "shared": chosen["shared"].to_list(),
            "created": chosen["created"].to_list(),
            "run_id": chosen["run_id"].to_list(),
        },
        schema={
            "person": pl.Utf8,
            "lab_id": pl.Utf8,
            "student": pl.Utf8,
            "p": pl.Float64,
            "answers_used": pl.Int64,
            "heldout_cosine": pl.Float64,
            "status": pl.Utf8,
            "shared": pl.Boolean,
            "created": pl.Utf8,
            "run_id": pl.Utf8,
        },
    )
    return frame.sort(["person", "heldout_cosine"], descending=[False, True], nulls_last=True)


def class_people(people: list[dict], klass: dict, results: pl.DataFrame | None = None) -> list[dict]:
    """The people of `klass`: seen while it was on, or with a run in it."""
    start, end = float(klass.get("started") or 0.0), klass.get("archived")
    with_runs = set(results["lab_id"].to_list()) if results is not None and not results.is_empty() else set()
    return [
        p
        for p in people
        if p["owner"] in with_runs or (p["last_seen"] >= start and (end is None or p["first_seen"] < float(end)))
    ]


def people_table(people: list[dict], results: pl.DataFrame, now: float | None = None) -> pl.DataFrame:
    """person, signed_in_as, here_now, last_seen_minutes, runs, best_heldout_cosine, lab_id: one row per person,
    who is here now first."""
    now = time.time() if now is None else float(now)
    runs_of = results.group_by("lab_id").agg(pl.len().alias("runs"), pl.col("heldout_cosine").max().alias("best"))
    counts = {r["lab_id"]: (r["runs"], r["best"]) for r in runs_of.iter_rows(named=True)}
    rows = []
    for p in people:
        minutes = max(0.0, (now - p["last_seen"]) / 60.0)
        runs, best = counts.get(p["owner"], (0, None))
        rows.append(
            {
                "person": display_name(p) or name_of(p["owner"], {}),
                "signed_in_as": p["email"] or ("signed in" if p["signed_in"] else "personal link"),
                "here_now": minutes <= HERE_MINUTES,
                "last_seen_minutes": round(minutes, 1),
                "runs": int(runs),
                "best_heldout_cosine": best,
                "lab_id": p["owner"],
            }
        )
    schema = {
        "person": pl.Utf8,
        "signed_in_as": pl.Utf8,
        "here_now": pl.Boolean,
        "last_seen_minutes": pl.Float64,
        "runs": pl.Int64,
        "best_heldout_cosine": pl.Float64,
        "lab_id": pl.Utf8,
    }
    return pl.DataFrame(rows, schema=schema).sort(["here_now", "last_seen_minutes"], descending=[True, False])


def results_csv(results: pl.DataFrame) -> bytes:
    """The class's results as a spreadsheet opens them (UTF-8 with a byte-order mark, headers in words)."""
    named = results.rename({k: v for k, v in RESULT_COLUMNS.items() if k in results.columns})
    return ("\ufeff" + safe_csv(named)).encode("utf-8")  # a nickname '=HYPERLINK(…)' stays text


def people_csv(people: list[dict]) -> bytes:
    """The people of a class as a spreadsheet opens them (formula-like text guarded, as in results_csv)."""

    def when(t: float) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else ""

    frame = pl.DataFrame(
        {
            "person": [display_name(p) for p in people],
            "e-mail": [p["email"] for p in people],
            "signed in": ["yes" if p["signed_in"] else "no" for p in people],
            "first seen": [when(p["first_seen"]) for p in people],
            "last seen": [when(p["last_seen"]) for p in people],
            "lab id": [p["owner"] for p in people],
        },
        schema={k: pl.Utf8 for k in ("person", "e-mail", "signed in", "first seen", "last seen", "lab id")},
    )
    return ("\ufeff" + safe_csv(frame)).encode("utf-8")


# ---- the queue and the gallery ------------------------------------------------------------------------------


def queue_table(jobs, names: dict[str, str], now: float | None = None) -> pl.DataFrame:
    """The board's queue (core.jobs.JobBoard.active()): person, what, state, position (0: running), waiting_minutes,
    estimate_minutes; running first, then the queue in its order."""
    now = time.time() if now is None else float(now)
    queued = sorted((j for j in jobs if getattr(j.state, "value", j.state) == "queued"), key=lambda j: j.submitted)
    place = {id(j): i + 1 for i, j in enumerate(queued)}
    rows = []
    for job in jobs:
        config = getattr(job, "config", None)
        if config is not None:
            what = f"{STUDENT_NAMES.get(config.model.value, config.model.value)}, p = {config.p:g}"
        else:
            what = {"SweepJob": "a sweep (several runs)"}.get(type(job).__name__, "other work (adapter lab)")
        estimate = getattr(job, "estimate_seconds", None)
        rows.append(
            {
                "person": name_of(job.owner, names) if job.owner else "the lab",
                "what": what,
                "state": str(getattr(job.state, "value", job.state)),
                "position": place.get(id(job), 0),
                "waiting_minutes": round(max(0.0, now - job.submitted) / 60.0, 1),
                "estimate_minutes": round(estimate / 60.0, 1) if estimate else None,
            }
        )
    schema = {
        "person": pl.Utf8,
        "what": pl.Utf8,
        "state": pl.Utf8,
        "position": pl.Int64,
        "waiting_minutes": pl.Float64,
        "estimate_minutes": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema).sort("position")


def gallery_table(runs: pl.DataFrame, names: dict[str, str]) -> pl.DataFrame:
    """The runs in the gallery now: person, student, p, answers_used, heldout_cosine, created, run_id."""
    shared = runs.filter(pl.col("shared"))
    return pl.DataFrame(
        {
            "person": [name_of(o, names) if o else "the lab" for o in shared["owner"].to_list()],
            "student": [STUDENT_NAMES.get(m, m) for m in shared["model"].to_list()],
            "p": shared["p"].to_list(),
            "answers_used": shared["teacher_queries"].to_list(),
            "heldout_cosine": shared["heldout_cosine"].to_list(),
            "created": shared["created"].to_list(),
            "run_id": shared["run_id"].to_list(),
        },
        schema={
            "person": pl.Utf8,
            "student": pl.Utf8,
            "p": pl.Float64,
            "answers_used": pl.Int64,
            "heldout_cosine": pl.Float64,
            "created": pl.Utf8,
            "run_id": pl.Utf8,
        },
    )


def moderate(home: Path | None, runs_root: Path, run_id: str, action: str, by: str, now: float | None = None) -> str:
    """A teacher's 'hide' (out of the gallery; its owner keeps it) or 'remove' (deleted) of a shared run, written to
    the moderation log. Returns the sentence the board shows."""
    if action not in ("hide", "remove"):
        raise ValueError(f"Unknown action {action!r}: 'hide' or 'remove'.")
    rows = list_runs(runs_root).filter(pl.col("run_id") == run_id)
    if rows.is_empty():
        raise ValueError(f"There is no run {run_id} any more (its owner may have deleted it).")
    owner = rows["owner"][0]
    if action == "hide":
        set_shared(runs_root, run_id, False)
        said = f"Run #{run_id[-4:]} is out of the gallery; its owner still has it."
    else:
        delete_run(runs_root, run_id)
        said = f"Run #{run_id[-4:]} is deleted (its settings are kept in the moderation log)."
    entry = {"at": time.time() if now is None else float(now), "action": action, "run_id": run_id}
    entry.update({"owner": owner, "by": by, "student": rows["model"][0], "p": rows["p"][0]})
    path = classroom_dir(home) / "moderation.jsonl"
    with writing(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
    return said


def moderation_log(home: Path | None = None) -> list[dict]:
    """What teachers hid or removed, newest first (unreadable lines left out)."""
    path = classroom_dir(home) / "moderation.jsonl"
    entries = []
    with contextlib.suppress(OSError):
        for line in path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict) and {"at", "action", "run_id"} <= set(entry):
                    entries.append(entry)
    return entries[::-1]


# ---- the chart ------------------------------------------------------------------------------------------------


def results_chart(results: pl.DataFrame, title: str = "The class's runs: answers used and held-out score") -> alt.Chart:
    """One dot per finished run: x the teacher's answers it used (log scale), y its held-out cosine, colour the
    person."""
    data = results.drop_nulls("heldout_cosine").filter(pl.col("answers_used") > 0)
    return (
        alt.Chart(data)
        .mark_circle(size=90, opacity=0.8)
        .encode(
            x=alt.X("answers_used:Q", title="Teacher answers used (log scale)", scale=alt.Scale(type="log")),
            y=alt.Y("heldout_cosine:Q", title="Held-out cosine to the teacher (higher is better)"),
            color=alt.Color(
                "person:N",
                title="Person",
                scale=alt.Scale(scheme="tableau10"),
                legend=alt.Legend(orient="right", labelLimit=240),
            ),
            tooltip=[
                alt.Tooltip("person:N", title="Person"),
                alt.Tooltip("student:N", title="Student"),
                alt.Tooltip("p:Q", title="p", format="g"),
                alt.Tooltip("answers_used:Q", title="Answers used", format=","),
                alt.Tooltip("heldout_cosine:Q", title="Held-out cosine", format=".3f"),
            ],
        )
        .properties(title=title, width="container", height=320)
    )
