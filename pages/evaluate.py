"""Honest evaluation: scores on words the student never saw, beside the teacher and the
average-vector baseline, and the quality-per-query curve over every stored run."""

import polars as pl
import streamlit as st

from core import charts
from core.config import StudentKind, default_cheap
from core.evaluation.evaluate import BenchmarkUnavailable
from core.jobs import JobState, start_sweep
from core.runs.families import (
    epoch_choices,
    latest_per_point,
    most_points_per_student,
    quality_family,
    run_row,
    to_train,
)
from core.runs.sweep import SweepGrid
from core.teachers.teacher import TeacherUnavailable
from pages._labels import EXPLAIN
from pages._shared import (
    K,
    address_state,
    choose_run,
    host_settings,
    job_board,
    model_cost_ms,
    one_of,
    run_evaluation,
    runs_table,
    show_chart,
    start_job,
)

ss = st.session_state
st.title("Honest evaluation")
address_state(
    {"eval_scope": one_of("heldout", "training", "all"), "quality_metric": one_of(*charts.QUALITY_METRICS)}
)  # the page's choices live in its address: a link reproduces the view
st.write(
    "The paper judges students by their training loss. Here every score is measured on **held-out words** — words "
    "whose teacher answer the student never saw, the very words the method exists to save — and always next to the "
    "teacher itself and to a student that learns nothing (each unknown word gets the average of the teacher's answers)."
)

COLUMNS = {
    "model": "Model",
    "heldout_cosine": "Cosine to teacher",
    "heldout_euclidean": "Distance",
    "analogy_accuracy": "Analogies right",
    "analogy_pct_of_teacher": "Analogies vs teacher",
    "simlex_spearman": "SimLex ρ",
    "wordsim_spearman": "WordSim ρ",
    "neighbour_overlap_at_10": "Neighbours (of 10)",
}

RHO_HELP = (
    "Spearman ρ: how well the model's similarities rank word pairs the way people do (1 = same order). "
    "— means it cannot be computed: the average-vector baseline gives every new word the same vector, so all its similarities tie."
)


def dash_missing(frame: pl.DataFrame, columns) -> pl.DataFrame:
    """Scores as text with three decimals, a missing one as "—" (a table cell would say "None")."""
    return frame.with_columns(
        [pl.col(c).map_elements(lambda v: f"{v:.3f}", return_dtype=pl.Utf8).fill_null("—") for c in columns]
    )


run_id = choose_run()
scope = st.radio(
    "Which words count",
    ["heldout", "training", "all"],
    horizontal=True,
    key="eval_scope",
    format_func={"heldout": "Held-out (never seen)", "training": "Training words", "all": "All words"}.get,
)
try:
    with st.spinner("Scoring the student, the teacher and the baseline (a few seconds, once per run)…"):
        ev = run_evaluation(run_id, scope)
except (TeacherUnavailable, BenchmarkUnavailable) as err:
    st.error(str(err))
    st.stop()

summary = ev["summary"]
if not summary["words_in_scope"]:
    st.info("This run trained on every word (p = 1): there are no held-out words to score. Choose 'Training words'.")
else:
    rows = pl.DataFrame(ev["table"]).with_columns(
        pl.col("neighbour_overlap_at_10") * 10
    )  # a share of 10 -> how many of 10
    # A ρ that cannot be computed (the baseline gives every new word one vector: all its similarities tie) reads "—".
    rows = dash_missing(rows, ("simlex_spearman", "wordsim_spearman"))
    table = rows.select(list(COLUMNS)).rename(COLUMNS)
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "Analogies right": st.column_config.NumberColumn(format="percent", width="small"),
            "Analogies vs teacher": st.column_config.NumberColumn(
                format="%.0f %%", help="Analogies solved, as a % of the teacher's score."
            ),
            "Cosine to teacher": st.column_config.NumberColumn(format="%.3f"),
            "Distance": st.column_config.NumberColumn(
                format="%.3f", width="small", help="Euclidean distance to the teacher's vector (lower is better)."
            ),
            "SimLex ρ": st.column_config.TextColumn(help=RHO_HELP, width="small"),
            "WordSim ρ": st.column_config.TextColumn(help=RHO_HELP, width="small"),
            "Neighbours (of 10)": st.column_config.NumberColumn(
                format="%.1f",
                help="Of the teacher's 10 closest words, how many are also among the student's 10 closest (average over words).",
            ),
        },
    )
    st.caption(
        f"{summary['words_in_scope']:,} words in scope · {summary['analogy_questions']:,} analogy questions with all four "
        f"words in scope · {summary['simlex_pairs']} SimLex-999 and {summary['wordsim_pairs']} WordSim-353 pairs. "
        "Analogies: a − b + c, the closest word (the three question words excluded) must be the expected one. "
        "ρ: how well the model's similarities rank word pairs the way people do (1 = same order). "
        "Neighbours (of 10): of the teacher's 10 closest words, how many the student also puts in its 10 closest."
    )
    if not StudentKind.parse(summary["model"]).generalizes:
        st.warning(EXPLAIN["lookup_tables"])

# ---- the quality-per-query curve ----------------------------------------------------------------

st.subheader("Quality per teacher query")
table = runs_table()
this = run_row(table, run_id)
family = quality_family(table, this)
options, most_common = epoch_choices(family)
chosen_epochs = None
if options:
    chosen_epochs = st.selectbox(
        "Trained students: runs of how many epochs",
        options,
        index=options.index(most_common),
        key="quality_epochs",
        help="Runs of different lengths are not comparable on one line; closed-form adapters have no epochs and always show.",
    )
family = latest_per_point(family, chosen_epochs)  # one run per student and p: the latest
st.caption(
    f"Every finished run with this run's teacher ({this['teacher']}), vocabulary, lemmatization and poison "
    f"({charts.plural(family.height, 'run')}, the latest per student and p; p = 1 has no held-out words and is left out)."
)

PS = (0.01, 0.03, 0.1, 0.3)
prepared = ss.get(K.PREPARED)
board = job_board()
job = board.get(ss.get("eval_sweep"))
running = job is not None and not job.done
if prepared is not None and prepared.teacher_id == this["teacher"]:
    grid = SweepGrid(
        teacher=ss[K.TEACHER],
        models=tuple(StudentKind),
        ps=PS,
        epochs=20,
        lemmatize=(prepared.lemmatize,),
        vocabulary=ss[K.VOCAB].label,
    )
    missing = to_train(grid.configs(), table, prepared.teacher_id)
    from core.jobs import duration, sweep_estimate
    from core.paths import runs_dir as _runs_dir

    _estimate = (
        sweep_estimate(grid, {prepared.lemmatize: prepared}, _runs_dir(), ss[K.OWNER], host_settings().hosted)
        if missing
        else None
    )
    _about = f", {duration(_estimate)}" if _estimate is not None else ""
    if missing and st.button(
        f"Train the comparison: every student at p = {', '.join(map(str, PS))} ({len(missing)} runs to train{_about})",
        disabled=running,
        key="eval_sweep_start",
        icon=":material/play_arrow:",
    ):
        if start_job(
            "eval_sweep",
            lambda: start_sweep(
                board, grid, {prepared.lemmatize: prepared}, owner=ss[K.OWNER], private=host_settings().hosted
            ),
        ):
            st.rerun()


@st.fragment(run_every=2.0 if running else None)
def sweep_status() -> None:
    job = board.get(ss.get("eval_sweep"))
    if job is None:
        return
    from pages._waits import eta_caption, job_reason

    snap = job.snapshot()
    if not job.done:
        eta = eta_caption(snap, job.done)
        st.progress(
            job.done_runs / max(1, job.total_runs),
            text=f"Comparison: {job.done_runs} of {job.total_runs} runs trained or reused"
            + (f" — {eta}" if eta else ""),
        )
        reason = job_reason(snap, board.queue_position(job) if job.state is JobState.QUEUED else 0)
        if reason:  # e.g. the kernel adapter's cheap-model features, computed once before the runs that read them
            st.info(reason, icon=":material/hourglass_top:")
    elif job.state is not JobState.FAILED:
        st.success(f"The comparison is trained: {job.done_runs - job.reused} run(s) trained, {job.reused} reused.")
    if job.state is JobState.FAILED:
        st.error(f"The comparison stopped: {job.error}")
    if running and job.done:
        st.rerun(scope="app")


sweep_status()

if family.height:
    evaluations, progress = [], st.progress(0.0, text="Scoring the runs…")
    for i, rid in enumerate(family["run_id"].to_list()):
        try:
            evaluations.append(run_evaluation(rid, "heldout"))
        except (TeacherUnavailable, BenchmarkUnavailable, ValueError):
            continue  # a run whose vectors are not available here: left out of the chart
        progress.progress((i + 1) / family.height, text=f"Scored {i + 1} of {family.height} runs")
    progress.empty()
    from core.runs.quality import quality_frame, quality_table

    frame = quality_frame(evaluations)
    runs = (
        dash_missing(quality_table(frame), ("simlex_spearman", "wordsim_spearman"))
        .drop("run_id")
        .rename(
            {
                "student": "Student",
                "queries": "Teacher answers",
                "heldout_cosine": "Cosine to teacher",
                "baseline_cosine": "Baseline cosine",
                "analogy_pct_of_teacher": "Analogies vs teacher",
                "neighbours_of_10": "Neighbours (of 10)",
                "simlex_spearman": "SimLex ρ",
                "wordsim_spearman": "WordSim ρ",
            }
        )
    )
    st.dataframe(
        runs,
        hide_index=True,
        width="stretch",
        column_config={
            "Student": st.column_config.TextColumn(width="medium"),
            "p": st.column_config.NumberColumn(format="%g", width="small"),
            "Teacher answers": st.column_config.NumberColumn(
                format="localized", help="Words the teacher embedded for this run: what it paid for."
            ),
            "Cosine to teacher": st.column_config.NumberColumn(
                format="%.3f", help="On words the student never saw (1 = identical)."
            ),
            "Baseline cosine": st.column_config.NumberColumn(
                format="%.3f",
                help="A student that learns nothing (every new word gets the average answer), same number of answers.",
            ),
            "Analogies vs teacher": st.column_config.NumberColumn(
                format="%.0f %%", help="Analogies solved, as a % of the teacher's score."
            ),
            "Neighbours (of 10)": st.column_config.NumberColumn(format="%.1f"),
            "SimLex ρ": st.column_config.TextColumn(help=RHO_HELP, width="small"),
            "WordSim ρ": st.column_config.TextColumn(help=RHO_HELP, width="small"),
        },
    )
    st.caption(
        "One row per run, scored on the words it never saw. A student is worth its teacher answers only where its "
        "cosine beats the baseline's."
    )
    most_ps = most_points_per_student(runs, "Student")
    if most_ps >= 2:
        metric = st.radio(
            "Score",
            list(charts.QUALITY_METRICS),
            horizontal=True,
            format_func=charts.QUALITY_METRICS.get,
            key="quality_metric",
        )
        show_chart(
            charts.quality_per_query(frame, metric),
            frame,
            EXPLAIN["quality_per_query"],
            key="quality_chart",
            file_stem="quality_per_query",
        )
    else:
        st.caption(
            "Each student has been trained at one value of p only, so there is no curve to draw yet: train the comparison "
            "(or runs at other values of p) to see how quality grows with the number of teacher answers."
        )
    if (
        StudentKind.parse(summary["model"]).generalizes
        and runs["Student"].is_in([StudentKind.A.label, StudentKind.B.label]).any()
    ):
        st.info(EXPLAIN["lookup_tables"])  # said above already when this run is itself a lookup table

# ---- what the cheap model costs -----------------------------------------------------------------

st.subheader("What each model costs")
st.caption(
    "The adapters need a cheap model's vector of every word. That model still runs on every word, but it is "
    "cheaper than the teacher (and local: no API bill). Measured here, on this machine, on 256 words."
)


def model_name_for(teacher_id: str) -> str | None:
    """The loadable name of a run's teacher: the session's teacher or a bundled one with that id."""
    from core.teachers.teacher import BUNDLED, teacher_id_for

    for name in [ss.get(K.TEACHER), *BUNDLED]:
        if not name or name.startswith("api:"):  # a paid API is never timed: every call would cost money
            continue
        try:
            if teacher_id_for(name) == teacher_id:
                return name
        except Exception:  # a name that cannot be resolved here is simply not timed
            continue
    return None


teacher_name = model_name_for(this["teacher"])
if teacher_name is None or teacher_name.startswith("hash"):
    st.caption("Timing is available for the bundled teachers (MiniLM, MPNet).")
elif st.button("Measure the teacher and the cheap model", key="measure_cost", icon=":material/timer:"):
    from core.paths import runs_dir
    from core.runs.store import load_run

    items = tuple(load_run(runs_dir(), run_id).items["item"].to_list()[:256])
    cheap = default_cheap(teacher_name)
    try:
        with st.spinner("Timing both models…"):
            teacher_ms, cheap_ms = model_cost_ms(teacher_name, items), model_cost_ms(cheap, items)
    except TeacherUnavailable as err:
        st.error(str(err))
    else:
        c1, c2, c3 = st.columns(3)
        c1.metric(f"Teacher ({teacher_name}): ms per 1,000 words", f"{teacher_ms:,.0f}")
        c2.metric(f"Cheap model ({cheap}): ms per 1,000 words", f"{cheap_ms:,.0f}")
        c3.metric("Cheap model's cost, share of the teacher's", f"{cheap_ms / teacher_ms:.0%}")
