"""Honest evaluation: scores on words the student never saw, beside the teacher and the
average-vector baseline, and the quality-per-query curve over every stored run."""

from pages._frame import through_app

through_app()  # run bare (a fresh server's first request for this address)? then through app.py

import polars as pl
import streamlit as st

from core import charts
from core.config import SELECTIONS, StudentKind, default_cheap
from core.errors import LabError
from core.evaluation.benchmarks import BenchmarkUnavailable
from core.evaluation.evaluate import BASELINE_LABEL
from core.jobs import JobState, duration, start_sweep, sweep_estimate
from core.paths import runs_dir
from core.runs.families import (
    SELECTION_PS,
    SELECTION_SEEDS,
    epoch_choices,
    latest_per_point,
    most_points_per_student,
    quality_family,
    run_row,
    selection_comparison,
    to_train,
)
from core.runs.quality import (
    band_table,
    ceiling,
    curve_rows,
    is_ceiling,
    paired_differences,
    quality_bands,
    quality_frame,
    quality_table,
    queries_for,
    zero_answer_bands,
)
from core.runs.sweep import SweepGrid
from core.story import stored_zero_answers
from core.teachers.teacher import TeacherUnavailable
from pages._labels import (
    CEILING_WORDS,
    EXPLAIN,
    TARGET_CHOICES,
    TARGET_NOUNS,
    difference_sentence,
    plus_minus,
    queries_sentence,
    target_words,
)
from pages._plain import literal
from pages._shared import (
    K,
    address_state,
    cannot_read,
    choose_run,
    from_story,
    host_settings,
    job_board,
    knobs,
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

# The quality tables' columns (the summary over seeds and the expander's one row per run): one wording for both.
QUALITY_COLUMNS = {
    "student": "Student",
    "selection": "Words asked",
    "seed": "Seed",
    "queries": "Teacher answers",
    "seeds": "Seeds",
    "heldout_cosine": "Cosine to teacher",
    "baseline_cosine": "Baseline cosine",
    "analogy_pct_of_teacher": "Analogies vs teacher",
    "neighbours_of_10": "Neighbours (of 10)",
    "simlex_spearman": "SimLex ρ",
    "wordsim_spearman": "WordSim ρ",
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


story_words = from_story()  # opened by one of the story's doors: the story's run, said in one line
with knobs("The run and the words that count"):
    run_id = choose_run()
    scope = st.radio(
        "Which words count",
        ["heldout", "training", "all"],
        horizontal=True,
        key="eval_scope",
        format_func={"heldout": "Held-out (never seen)", "training": "Training words", "all": "All words"}.get,
    )
if story_words:
    st.info(
        "Opened from the story: the scores of its student on words it never saw, beside the teacher and a student "
        "that learns nothing; below, every student of the story by the number of teacher answers it got.",
        icon=":material/auto_stories:",
    )
try:
    with st.spinner("Scoring the student, the teacher and the baseline (a few seconds, once per run)…"):
        ev = run_evaluation(run_id, scope)
except (TeacherUnavailable, BenchmarkUnavailable) as err:
    st.error(literal(str(err)))
    st.stop()
except (LabError, ValueError, OSError) as err:  # DamagedData, StorageUnavailable: the picker stays usable
    st.error(cannot_read(err))
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
    with knobs("The runs on the chart"):
        chosen_epochs = st.selectbox(
            "Trained students: runs of how many epochs",
            options,
            index=options.index(most_common),
            key="quality_epochs",
            help="Runs of different lengths are not comparable on one line; closed-form adapters have no epochs and always show.",
        )
family = latest_per_point(family, chosen_epochs)  # one run per student, selection, p and seed: the latest
st.caption(
    f"Every finished run with this run's teacher ({literal(this['teacher'])}), vocabulary, lemmatization and poison "
    f"({charts.plural(family.height, 'run')}, the latest per student, way of choosing the words, p and seed; "
    "p = 1 has no held-out words and is left out)."
)

PS = (0.01, 0.03, 0.1, 0.3)
prepared = ss.get(K.PREPARED)
board = job_board()
JOBS = {"eval_sweep": "Comparison", "eval_selection": "Selection comparison"}  # session key -> what it trains
running = any((job := board.get(ss.get(key))) is not None and not job.done for key in JOBS)


def grid_button(grid, missing: list, key: str, label: str) -> None:
    """A button that trains `missing`, the runs of `grid` not stored yet, in the background ({runs} and {about} in
    `label`: how many, how long)."""
    by_mode = {prepared.lemmatize: prepared}
    estimate = sweep_estimate(grid, by_mode, runs_dir(), ss[K.OWNER], host_settings().hosted)
    about = f", {duration(estimate)}" if estimate is not None else ""
    if st.button(
        label.format(runs=f"{charts.plural(len(missing), 'run')} to train", about=about),
        disabled=running,
        key=f"{key}_start",
        icon=":material/play_arrow:",
        help=EXPLAIN.get(f"{key}_button"),
    ):
        if start_job(key, lambda: start_sweep(board, grid, by_mode, owner=ss[K.OWNER], private=host_settings().hosted)):
            st.rerun()


if prepared is not None and prepared.teacher_id == this["teacher"]:
    grids = {
        "eval_sweep": (
            SweepGrid(
                teacher=ss[K.TEACHER],
                models=tuple(StudentKind),
                ps=PS,
                epochs=20,
                lemmatize=(prepared.lemmatize,),
                vocabulary=ss[K.VOCAB].label,
            ),
            f"Train the comparison: every student at p = {', '.join(map(str, PS))} ({{runs}}{{about}})",
        ),
        "eval_selection": (
            selection_comparison(ss[K.TEACHER], prepared.lemmatize, ss[K.VOCAB].label),
            f"Train the selection comparison: the kernel adapter asking random, typical and spread-out words at "
            f"p = {', '.join(map(str, SELECTION_PS))}, {len(SELECTION_SEEDS)} seeds each, plus its ceiling "
            "({runs}{about})",
        ),
    }
    missing = {key: to_train(grid.configs(), table, prepared.teacher_id) for key, (grid, _) in grids.items()}
    if any(missing.values()):  # a box only when there is something to train
        with knobs("Train more runs"):
            for key, (grid, label) in grids.items():
                if missing[key]:
                    grid_button(grid, missing[key], key, label)


@st.fragment(run_every=2.0 if running else None)
def sweep_status() -> None:
    from pages._waits import grid_progress

    for key, what in JOBS.items():
        job = board.get(ss.get(key))
        if job is None:
            continue
        snap = grid_progress(job, board, what)  # the bar and why it waits; read under the job's lock
        if snap.done and snap.state is not JobState.FAILED:
            st.success(
                f"The {what.lower()} is trained: {snap.done_runs - snap.reused} run(s) trained, {snap.reused} reused."
            )
        if snap.state is JobState.FAILED:
            st.error(f"The {what.lower()} stopped: {snap.error}")
    if running and not any((job := board.get(ss.get(key))) is not None and not job.done for key in JOBS):
        st.rerun(scope="app")


sweep_status()


def band_cells(rows: pl.DataFrame) -> pl.DataFrame:
    """`core.runs.quality.band_table` as the page shows it: each score its mean ± 95 % half-width over seeds."""

    def cells(metric: str, scale: float = 1.0, shown_as: str | None = None) -> list[str]:
        return [
            plus_minus(
                shown_as or metric,
                None if r[metric] is None else r[metric] * scale,
                None if r[f"{metric}_half"] is None else r[f"{metric}_half"] * scale,
                r[f"{metric}_n"],
                r["seeds"],
            )
            for r in rows.iter_rows(named=True)
        ]

    columns = {
        "student": rows["student"],
        "selection": [
            CEILING_WORDS if is_ceiling(p) else charts.selection_name(s) for s, p in zip(rows["selection"], rows["p"])
        ],
        "p": rows["p"],
        "queries": rows["queries"],
        "seeds": rows["seeds"],
        "heldout_cosine": cells("heldout_cosine"),
        "baseline_cosine": rows["baseline_cosine"],
        "analogy_pct_of_teacher": cells("analogy_pct_of_teacher"),
        "neighbours_of_10": cells("neighbour_overlap_at_10", 10.0, "neighbours_of_10"),
        "simlex_spearman": cells("simlex_spearman"),
        "wordsim_spearman": cells("wordsim_spearman"),
    }
    return pl.DataFrame({QUALITY_COLUMNS.get(name, name): values for name, values in columns.items()})


def how_few_answers(frame: pl.DataFrame) -> None:
    """The box that answers "how few teacher answers for X % of the teacher?" per student and strategy."""
    with st.container(border=True):
        target, goal = ss.get("quality_target", 90), ss.get("quality_target_metric", "analogy_pct_of_teacher")
        st.markdown(f"**How few teacher answers for {target:g} % of the teacher's {TARGET_NOUNS[goal]}?**")
        with knobs("The target"):
            left, right = st.columns([1, 2])
            target = left.number_input(
                "Share of the teacher (%)", min_value=5, max_value=100, value=90, step=5, key="quality_target"
            )
            goal = right.selectbox(
                "Of the teacher's", list(TARGET_CHOICES), format_func=TARGET_CHOICES.get, key="quality_target_metric"
            )
        answers = queries_for(frame, goal, target)
        if answers.is_empty():
            st.caption(EXPLAIN["how_few_none"])
            return
        tops = {r["student"]: r["mean"] for r in ceiling(frame, goal).iter_rows(named=True)}
        st.write(
            f"Teacher answers needed to reach {target_words(goal, target, answers['threshold'][0])}: read off each "
            "seed's curve where it first gets there, then averaged over the seeds on a log scale (a geometric mean: "
            "answers grow by factors) with a 95 % interval, kept within the budgets these runs tried."
        )
        st.markdown(
            "\n".join(f"- {queries_sentence(r, goal, tops.get(r['student']))}" for r in answers.iter_rows(named=True))
        )
        st.caption(EXPLAIN["how_few"])


if family.height:
    evaluations, progress = [], st.progress(0.0, text="Scoring the runs…")
    for i, rid in enumerate(family["run_id"].to_list()):
        try:
            evaluations.append(run_evaluation(rid, "heldout"))
        except (TeacherUnavailable, BenchmarkUnavailable, ValueError):
            continue  # a run whose vectors are not available here: left out of the chart
        progress.progress((i + 1) / family.height, text=f"Scored {i + 1} of {family.height} runs")
    progress.empty()
    frame = quality_frame(evaluations, table)
    present = [s for s in SELECTIONS if s in set(frame.filter(pl.col("student") != BASELINE_LABEL)["selection"])]
    if len(present) > 1:
        with knobs("The ways of choosing words shown"):
            shown = st.multiselect(
                "Ways of choosing the words to show",
                present,
                default=present,
                format_func=charts.selection_name,
                key="quality_selections",
                help=EXPLAIN["selections_help"],
            )
        frame = frame.filter(pl.col("selection").is_in(shown or present) | is_ceiling(pl.col("p")))  # the ceiling stays
    summary_table = band_cells(band_table(frame))
    st.dataframe(
        summary_table,
        hide_index=True,
        width="stretch",
        column_config={
            "Student": st.column_config.TextColumn(width="medium"),
            "Words asked": st.column_config.TextColumn(help=EXPLAIN["selections_help"]),
            "p": st.column_config.NumberColumn(format="%g", width="small"),
            "Teacher answers": st.column_config.NumberColumn(
                format="localized", help="Words the teacher embedded for each run: what it paid for."
            ),
            "Seeds": st.column_config.NumberColumn(
                width="small", help="Runs that differ only in their random seed: the scores are their average."
            ),
            "Cosine to teacher": st.column_config.TextColumn(
                help="On words the student never saw (1 = identical): mean ± 95 % interval over the seeds."
            ),
            "Baseline cosine": st.column_config.NumberColumn(
                format="%.3f",
                help="A student that learns nothing (every new word gets the average answer), same number of answers.",
            ),
            "Analogies vs teacher": st.column_config.TextColumn(
                help="Analogies solved, as a % of the teacher's score."
            ),
            "Neighbours (of 10)": st.column_config.TextColumn(
                help="Of the teacher's 10 closest words, how many are also among the student's 10 closest."
            ),
            "SimLex ρ": st.column_config.TextColumn(help=RHO_HELP, width="small"),
            "WordSim ρ": st.column_config.TextColumn(help=RHO_HELP, width="small"),
        },
    )
    st.caption(EXPLAIN["quality_table"])
    with st.expander("Every run, one row per seed"):
        runs = (
            dash_missing(quality_table(frame), ("simlex_spearman", "wordsim_spearman"))
            .drop("run_id")
            .with_columns(pl.col("selection").map_elements(charts.selection_name, return_dtype=pl.Utf8))
        )
        runs = runs.rename({name: label for name, label in QUALITY_COLUMNS.items() if name in runs.columns})
        st.dataframe(
            runs,
            hide_index=True,
            width="stretch",
            column_config={
                "p": st.column_config.NumberColumn(format="%g", width="small"),
                "Teacher answers": st.column_config.NumberColumn(format="localized"),
                "Cosine to teacher": st.column_config.NumberColumn(format="%.3f"),
                "Baseline cosine": st.column_config.NumberColumn(format="%.3f"),
                "Analogies vs teacher": st.column_config.NumberColumn(format="%.0f %%"),
                "Neighbours (of 10)": st.column_config.NumberColumn(format="%.1f"),
            },
        )
    curve = curve_rows(frame).filter(pl.col("student") != BASELINE_LABEL)
    if most_points_per_student(curve, "student") >= 2:
        with knobs("The chart's score"):
            metric = st.radio(
                "Score",
                list(charts.QUALITY_METRICS),
                horizontal=True,
                format_func=charts.QUALITY_METRICS.get,
                key="quality_metric",
            )
        bands = quality_bands(frame, metric)
        zero_cheap, zero_files = stored_zero_answers(this["teacher"], this["vocabulary"])
        zero = zero_answer_bands(zero_files, metric, f"No answers: a map from {zero_cheap}, learnt without pairs")
        show_chart(
            charts.quality_per_query(bands, metric, ceiling(frame, metric), zero=zero),
            pl.concat([bands, zero], how="diagonal_relaxed"),
            EXPLAIN["quality_per_query"],
            key="quality_chart",
            file_stem="quality_per_query",
        )
        diffs = paired_differences(frame, metric)
        if not diffs.is_empty():
            show_chart(
                charts.selection_differences(diffs, metric),
                diffs,
                EXPLAIN["selection_differences"],
                key="selection_chart",
                file_stem="selection_differences",
            )
            several = diffs["student"].n_unique() > 1
            for (student, _), group in diffs.group_by(["student", "selection"], maintain_order=True):
                rows = group.to_dicts()
                st.write(difference_sentence(rows, metric, student if several else None))
        elif len(present) > 1:
            st.caption(EXPLAIN["no_pairs"])
        how_few_answers(frame)
    else:
        st.caption(
            "Each student has been trained at one value of p only, so there is no curve to draw yet: train the comparison "
            "(or runs at other values of p) to see how quality grows with the number of teacher answers."
        )
    if (
        StudentKind.parse(summary["model"]).generalizes
        and summary_table["Student"].is_in([StudentKind.A.label, StudentKind.B.label]).any()
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
measure = False
if teacher_name is None or teacher_name.startswith("hash"):
    st.caption("Timing is available for the bundled teachers (MiniLM, MPNet).")
else:
    with knobs("Timing"):  # the button only: its figures show below, in presenter mode too
        measure = st.button("Measure the teacher and the cheap model", key="measure_cost", icon=":material/timer:")
if measure:
    from core.runs.store import load_run

    items = tuple(load_run(runs_dir(), run_id).items["item"].to_list()[:256])
    cheap = default_cheap(teacher_name)
    try:
        with st.spinner("Timing both models…"):
            teacher_ms, cheap_ms = model_cost_ms(teacher_name, items), model_cost_ms(cheap, items)
    except TeacherUnavailable as err:
        st.error(literal(str(err)))
    else:
        c1, c2, c3 = st.columns(3)
        c1.metric(f"Teacher ({literal(teacher_name)}): ms per 1,000 words", f"{teacher_ms:,.0f}")
        c2.metric(f"Cheap model ({literal(cheap)}): ms per 1,000 words", f"{cheap_ms:,.0f}")
        c3.metric("Cheap model's cost, share of the teacher's", f"{cheap_ms / teacher_ms:.0%}")
