"""Distributions: histograms of embedding means, teacher vs student, by run and epoch
(the paper's figures 5-6, 9-10 and 12)."""

from pages._frame import through_app

through_app()  # run bare (a fresh server's first request for this address)? then through app.py

import streamlit as st

from core import charts
from core.errors import LabError
from core.paths import runs_dir
from core.runs.families import most_epochs
from core.runs.store import RunNotFound, load_run
from core.teachers.teacher import TeacherUnavailable
from pages._labels import EXPLAIN
from pages._plain import literal
from pages._shared import (
    PAGES,
    address_state,
    default_run_of,
    knobs,
    run_label,
    runs_table,
    show_chart,
    text,
    vectors_for_run,
)

MOST_RUNS = 6  # one small chart per run and epoch: more is unreadable

ss = st.session_state
st.title("Distributions of embedding means")
address_state(
    {"dist_runs": [text(200)], "dist_epochs": [int]}
)  # the page's choices live in its address: a link reproduces the view
st.write(
    "The paper summarises each word's vector by the average of its numbers and compares the spread of those "
    "averages (figures 5, 6, 9, 10, 12). As a student trains longer and on more words, its histogram should "
    "take the teacher's shape; with poisoning, a student trained on too much data drifts away."
)

table = runs_table()
if table.is_empty():
    st.info("There are no trained runs yet.")
    st.page_link(PAGES["train"], label="Train a student first", icon=":material/model_training:")
    st.stop()

labels = {r["run_id"]: run_label(r) for r in table.iter_rows(named=True)}
default = [default_run_of(table)]
if "dist_runs" in ss:  # from the address: only runs this person may see, and no more than the box allows
    allowed = [r for r in ss["dist_runs"] if r in labels][:MOST_RUNS]
    if allowed != ss["dist_runs"]:
        ss["dist_runs"] = allowed
with knobs("The runs and epochs"):  # in presenter mode hidden: the charts stay
    chosen = st.multiselect(
        "Runs to show (one small chart per run and epoch)",
        list(labels),
        default=default,
        format_func=labels.get,
        key="dist_runs",
        max_selections=MOST_RUNS,
    )
    if not chosen:
        st.info("Choose at least one run.")
        st.stop()

    max_epochs = most_epochs(table, chosen)
    candidates = sorted({e for e in (1, 2, 5, 10, 20, 40, 60, 80, 120, 200) if e <= max_epochs} | {max_epochs})
    if "dist_epochs" in ss and not set(ss["dist_epochs"]) <= set(candidates):  # an address's epochs these runs lack
        ss["dist_epochs"] = [e for e in ss["dist_epochs"] if e in candidates]
    epochs = st.multiselect(
        "Epochs",
        candidates,
        default=sorted({candidates[0], max_epochs}),
        key="dist_epochs",
        help="Each run's histogram after this many epochs (runs that stopped earlier are skipped).",
    )
if not epochs:
    st.info("Choose at least one epoch.")
    st.stop()

parts = []
for run_id in chosen:
    try:
        stored = load_run(runs_dir(), run_id)
        teacher_means = vectors_for_run(run_id).teacher.mean(axis=1)
        means = stored.means()
    except (LabError, TeacherUnavailable, RunNotFound, ValueError, OSError) as err:  # DamagedData says which file
        st.warning(literal(f"{labels[run_id]}: {err}"))
        continue
    short = (
        f"{stored.config.model.label}, p={stored.config.p:g}"
        + (f", {stored.config.poison:.0%} poison" if stored.config.poison else "")
        + (", lemmas" if stored.config.lemmatize.value != "none" else "")
    )
    parts += charts.means_panels(teacher_means, means, epochs, short)

if not parts:
    st.stop()
binned = charts.bin_means(parts)
show_chart(charts.means_histogram(binned), binned, EXPLAIN["means"], key="means", file_stem="embedding_means")
