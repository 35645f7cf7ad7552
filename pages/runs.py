"""Runs: every stored run in one table; open, compare, take away, import, delete."""

from pages._frame import through_app

through_app()  # run bare (a fresh server's first request for this address)? then through app.py

from pathlib import Path

import polars as pl
import streamlit as st

from core import charts
from core.errors import LabError
from core.paths import runs_dir
from core.runs.evaluated import read_stored_evaluation
from core.runs.store import RunNotFound, delete_run, load_run, rename_run, set_shared
from core.runs.table import RUN_ORIGINS, runs_metrics_table, search_runs
from pages._identity import nicknames
from pages._labels import EXPLAIN
from pages._plain import literal
from pages._shared import (
    PAGES,
    K,
    address_state,
    cannot_read,
    host_settings,
    one_of,
    owns,
    run_label,
    runs_table,
    show_chart,
    text,
)

ss = st.session_state
st.title("Runs")
address_state(
    {
        "runs_search": text(200),
        "runs_students": [text(100)],
        "runs_origins": [text(100)],  # 'yours', "the lab's example", 'shared by <a nickname>', …
        "runs_picked": [text(200)],
        "compare_metric": one_of("heldout_cosine", "train_loss", "train_cosine"),
    }
)  # a link reproduces the view

with st.expander("Import a run exported from this lab (.zip)", icon=":material/upload:"):
    upload = st.file_uploader(
        "A run's zip, as downloaded below on any machine running the lab", type=["zip"], key="run_import_file"
    )
    if upload is not None and st.button("Import it", key="run_import", icon=":material/add:"):
        from core.runs.takeaway import import_run

        settings = host_settings()
        if settings.hosted and upload.size > settings.max_upload_bytes:  # said before the upload is read whole
            st.error(
                f"This zip is {upload.size / 2**20:.2f} MB; this server takes runs of at most {settings.max_upload_mb:g} MB."
            )
        else:
            try:
                imported = import_run(upload.getvalue(), runs_dir(), owner=ss.get(K.OWNER, ""), limits=settings)
            except (LabError, ValueError) as err:  # ImportRefused is a ValueError; StorageUnavailable a LabError
                st.error(str(err))
            else:
                ss[K.RUN] = imported
                st.success(f"Imported as '{literal(imported)}': it is in the table below.")

try:
    table = runs_table()
except LabError as err:  # the runs folder cannot be read (StorageUnavailable): a sentence, not a traceback
    st.error(str(err))
    st.stop()
if table.is_empty():
    st.info("There are no trained runs yet.")
    st.page_link(PAGES["train"], label="Train a student first", icon=":material/model_training:")
    st.stop()

hosted = host_settings().hosted
st.caption(
    "Your runs and the class gallery, newest first: search, filter, and compare them in one table."
    if hosted
    else "Every training run saved on this machine, newest first: search, filter, and compare them in one table."
)
metrics = runs_metrics_table(
    table,
    {r: read_stored_evaluation(runs_dir() / r) for r in table["run_id"]},
    me=ss.get(K.OWNER) if hosted else None,
    names=nicknames() if hosted else None,
)
s1, s2, s3 = st.columns([2, 2, 1])
search = s1.text_input(
    "Search", key="runs_search", max_chars=200, placeholder="a name, a student, a date (2026-11-28)…"
)
students = s2.multiselect("Students", sorted(set(metrics["student"])), key="runs_students", placeholder="every student")
present = set(metrics["origin"])  # the fixed labels first, then classmates by name
origins = s3.multiselect(
    "Whose",
    [o for o in RUN_ORIGINS if o in present] + sorted(present - set(RUN_ORIGINS)),
    key="runs_origins",
    placeholder="all",
)
found = search_runs(metrics, search, students, origins)
st.dataframe(
    found,
    hide_index=True,
    width="stretch",
    key="runs_table",
    column_config={
        "name": st.column_config.TextColumn("name", help="A name you gave the run (open it below to name it)"),
        "teacher_queries": st.column_config.NumberColumn(
            "teacher queries", help="Answers of the teacher the student learnt from", format="%d"
        ),
        "heldout_cosine": st.column_config.NumberColumn(
            "held-out cosine", help="Cosine to the teacher on words the student never saw", format="%.3f"
        ),
        "analogy_pct_of_teacher": st.column_config.NumberColumn(
            "analogies, % of teacher", format="%.1f", help="Empty until the run is scored on Honest evaluation"
        ),
        "seconds": st.column_config.NumberColumn("seconds", format="%.1f"),
        "origin": st.column_config.TextColumn(
            "whose", help="yours, the lab's example (trained ahead for everyone), or the classmate who shared it"
        ),
    },
)
if found.height < metrics.height:
    st.caption(f"{found.height} of {metrics.height} runs match.")
labels = {r["run_id"]: run_label(r) for r in table.iter_rows(named=True)}
default = [ss[K.RUN]] if ss.get(K.RUN) in labels else []
options = [r for r in found["run_id"] if r in labels] + [
    r for r in ss.get("runs_picked", []) if r in labels and r not in set(found["run_id"])
]
picked = st.multiselect(
    "Open one run, or choose several to compare",
    options,
    default=[d for d in default if d in options],
    format_func=labels.get,
    key="runs_picked",
)
if not picked:
    st.info("Choose one run to open it, or several to compare them.")
    st.stop()

metric = st.radio(
    "Compare by",
    ["heldout_cosine", "train_loss", "train_cosine"],
    horizontal=True,
    key="compare_metric",
    format_func={
        "heldout_cosine": "Held-out cosine",
        "train_loss": "Training loss",
        "train_cosine": "Training cosine",
    }.get,
)
frames = []
for run_id in picked:
    try:
        frames.append(load_run(runs_dir(), run_id).epochs.with_columns(run=pl.lit(labels[run_id])))
    except (RunNotFound, ValueError, OSError) as err:
        st.warning(literal(f"Run {run_id} cannot be read: {err}"))
if frames:
    frame = pl.concat(frames, how="diagonal_relaxed")
    show_chart(
        charts.compare_runs(frame, metric, title="Runs compared epoch by epoch"),
        frame,
        EXPLAIN["compare"],
        key="compare",
        file_stem="runs_compared",
    )

if len(picked) == 1:
    run_id = picked[0]
    try:
        stored = load_run(runs_dir(), run_id)
    except (RunNotFound, ValueError, OSError) as err:
        st.error(cannot_read(err))
        st.stop()
    st.subheader(literal(labels[run_id]))  # its name and teacher are someone's text: shown as typed, never as Markdown
    with st.expander("Settings and results (run card)"):
        st.json({k: v for k, v in stored.meta.items() if k != "owner"})
    left, right = st.columns(2)
    if left.button("Look at this run on the comparison pages", key="open_run", icon=":material/search:"):
        ss[K.RUN] = run_id
        st.switch_page(PAGES["projection"])
    st.markdown("**Take it away**")
    st.caption(
        "The student as a sentence-transformers model: `SentenceTransformer('folder')` loads it anywhere, offline — one "
        "vector per word of this run's vocabulary (a sentence gets the average of its words). Or the whole run, to import "
        "into another copy of the lab. Both carry a run card: settings, teacher, a fingerprint of the data, the scores."
    )
    from core.runs.takeaway import what_the_export_is

    # the export is a table of this run's words only: the same sentence that heads its README
    st.caption(literal(what_the_export_is(stored).removeprefix("# What this is").strip()))
    a, b = st.columns(2)
    if a.button("Prepare the student (.zip)", key="export_student", icon=":material/package_2:"):
        import tempfile

        from core.runs.takeaway import export_static
        from core.sentences.export import zip_folder

        try:
            with st.spinner("Writing the model folder…"), tempfile.TemporaryDirectory() as tmp:
                ss["run_student_zip"] = (run_id, zip_folder(export_static(stored, Path(tmp) / f"student-{run_id}")))
        except (
            ValueError,
            OSError,
            RuntimeError,
        ) as err:  # RuntimeError: TeacherUnavailable (a cheap model's vectors not cached here)
            st.error(literal(f"The student cannot be exported: {err}"))
    if b.button("Prepare the run (.zip)", key="export_run", icon=":material/folder_zip:"):
        from core.runs.takeaway import check_exportable, zip_run

        try:  # the CLI's check first: never a zip that another lab's import would refuse
            check_exportable(stored)
            ss["run_zip"] = (run_id, zip_run(stored))
        except (LabError, ValueError, OSError) as err:  # ExportRefused, DamagedData, StorageUnavailable
            st.error(literal(str(err)))
    for key, column, stem in (("run_student_zip", a, "student"), ("run_zip", b, "run")):
        ready = ss.get(key)
        if ready and ready[0] == run_id:
            column.download_button(
                f"Download {stem}-{run_id}.zip ({len(ready[1]) / 2**20:.1f} MB)",
                data=ready[1],
                file_name=f"{stem}-{run_id}.zip",
                mime="application/zip",
                key=f"{key}_download",
                icon=":material/download:",
            )
    settings = host_settings()
    if not owns(stored.meta):
        right.caption(
            "Shared in the class gallery by someone else: you can look at it and take it away, not change it."
        )
        st.stop()
    if stored.meta.get("status") == "running":
        right.caption("Still being trained: share or delete it once it has finished.")
        st.stop()
    with right.form(f"rename_{run_id}", border=False):
        new_name = st.text_input(
            "Name this run",
            value=stored.meta.get("name", ""),
            max_chars=80,
            key=f"name_{run_id}",
            placeholder="e.g. my first kernel student",
        )
        if st.form_submit_button("Save the name", key=f"rename_{run_id}_save", icon=":material/edit:"):
            try:
                rename_run(runs_dir(), run_id, new_name)
            except (RunNotFound, ValueError, OSError, LabError) as err:
                st.error(literal(str(err)))
            else:
                st.rerun()
    if settings.hosted and settings.gallery:
        shared = right.toggle(
            "Share in the class gallery",
            value=bool(stored.meta.get("shared")),
            key=f"share_{run_id}",
            help="Everyone on this server can then look at this run (not change or delete it).",
        )
        if shared != bool(stored.meta.get("shared")):
            try:
                set_shared(runs_dir(), run_id, shared)
            except (RunNotFound, ValueError, OSError, LabError) as err:
                st.error(literal(str(err)))
            else:
                st.rerun()
    with right.popover("Delete this run", icon=":material/delete:"):
        st.write("This removes the run's files for everyone on this machine. It cannot be undone.")
        if st.button("Yes, delete it", type="primary", key="confirm_delete"):
            try:
                delete_run(runs_dir(), run_id)
            except (RunNotFound, ValueError, OSError, LabError) as err:
                st.error(literal(str(err)))
            else:
                if ss.get(K.RUN) == run_id:
                    ss.pop(K.RUN)
                st.rerun()
