"""Sweep: train a grid of runs (the paper's, or your own), watch it fill in, see the paper's figures."""

from pages._frame import through_app

through_app()  # run bare (a fresh server's first request for this address)? then through app.py

import streamlit as st

from core import charts
from core.config import PAPER_PS, SELECTIONS, LemmaMode, StudentKind
from core.errors import LabError
from core.jobs import JobState, duration, start_sweep, sweep_estimate
from core.paths import cache_dir, runs_dir
from core.runs.store import RunNotFound, load_run
from core.runs.sweep import SweepGrid, find_stored, sweep_frame
from core.teachers.teacher import TeacherUnavailable, cached_vectors
from pages._choices import SELECTION_HELP, SELECTION_LABELS
from pages._labels import EXPLAIN
from pages._plain import literal
from pages._shared import (
    LEMMA_LABELS,
    K,
    address_state,
    host_settings,
    job_board,
    one_of,
    prepare_data,
    require_prepared,
    runs_table,
    show_chart,
    start_job,
)
from pages._waits import grid_progress

ss = st.session_state
st.title("Sweep: the paper's figures, on your teacher and words")
address_state(
    {
        "sweep_kind": one_of("paper", "custom"),
        "sweep_models": [one_of(*StudentKind)],
        "sweep_ps": [one_of(*PAPER_PS)],
        "sweep_epochs": int,
        "sweep_paper_epochs": int,
        "sweep_lemmas": [one_of(*LemmaMode)],
        "sweep_poisons": [float],
        "sweep_selections": [one_of(*SELECTIONS)],
        "sweep_seeds": int,
        "sweep_metric": one_of(*charts.METRICS),
    }
)  # the page's choices live in its address: a link reproduces the view
st.write(
    "The paper's findings come from grids of runs: many values of p, each trained for many epochs, with and "
    "without lemmatization and poisoning. Choose a grid; runs already stored are reused, not retrained."
)
prepared = require_prepared()
board = job_board()
top_epochs = min(200, host_settings().max_epochs)

kind = st.radio(
    "Grid",
    ["paper", "custom"],
    horizontal=True,
    key="sweep_kind",
    format_func={"paper": "The paper's grid (80 runs)", "custom": "My own grid"}.get,
)
if kind == "paper":
    epochs = st.number_input(
        "Epochs per run",
        1,
        top_epochs,
        min(80, top_epochs),
        key="sweep_paper_epochs",
        help="The paper trains up to 80.",
    )
    grid = SweepGrid.paper(teacher=ss[K.TEACHER], vocabulary=ss[K.VOCAB].label, epochs=int(epochs))
    st.caption("Model A and B × the ten values of p × lemmatization off / spaCy × poison 0 % / 10 %.")
else:
    c1, c2, c3 = st.columns(3)
    models = c1.multiselect(
        "Students", list(StudentKind), default=[StudentKind.B], format_func=lambda m: m.label, key="sweep_models"
    )
    ps = c1.multiselect("Values of p", list(PAPER_PS), default=[0.016, 0.095, 0.555, 1.0], key="sweep_ps")
    epochs = c2.number_input("Epochs per run", 1, top_epochs, min(20, top_epochs), key="sweep_epochs")
    lemmas = c2.multiselect(
        "Lemmatization", list(LemmaMode), default=[prepared.lemmatize], format_func=LEMMA_LABELS.get, key="sweep_lemmas"
    )
    poisons = c3.multiselect(
        "Poisoned fraction",
        [0.0, 0.05, 0.1, 0.2, 0.3],
        default=[0.0],
        format_func=lambda r: f"{r:.0%}",
        key="sweep_poisons",
    )
    selections = c3.multiselect(
        "Which words to ask",
        list(SELECTIONS),
        default=["random"],
        format_func=SELECTION_LABELS.get,
        key="sweep_selections",
        help=SELECTION_HELP,
    )
    seeds = c3.number_input(
        "Seeds per setting",
        1,
        10,
        1,
        key="sweep_seeds",
        help="Each setting is trained with seeds 0, 1, 2, …: the Honest evaluation page then draws the mean with a "
        "95 % band, and says whether two ways of choosing words really differ.",
    )
    try:
        grid = SweepGrid(
            teacher=ss[K.TEACHER],
            models=tuple(models),
            ps=tuple(ps),
            epochs=int(epochs),
            lemmatize=tuple(lemmas),
            poison=tuple(poisons),
            vocabulary=ss[K.VOCAB].label,
            selections=tuple(selections),
            seeds=tuple(range(int(seeds))),
        )
    except ValueError as err:
        st.warning(str(err))
        st.stop()

configs = grid.configs()
stored = runs_table()
found = {c: find_stored(stored, c, prepared.teacher_id) for c in configs}
have = [run_id for run_id in found.values() if run_id]
to_train = len(configs) - len(have)
estimate = (
    sweep_estimate(grid, {mode: prepared for mode in grid.lemmatize}, runs_dir(), ss[K.OWNER], host_settings().hosted)
    if to_train
    else None
)
how_long = (
    ""
    if not to_train
    else (
        f" — {duration(estimate)}, estimated from the runs stored here"
        if estimate is not None
        else " — no earlier run of these students to estimate the time from"
    )
)
st.info(f"{len(configs)} runs in this grid: {len(have)} already stored, {to_train} to train{how_long}.")

job = board.get(ss.get(K.SWEEP))
running = job is not None and not job.done
if st.button(
    "Run the sweep",
    type="primary",
    key="sweep_start",
    disabled=running or len(have) == len(configs),
    icon=":material/play_arrow:",
):
    try:
        with st.spinner("Preparing the data for each lemmatization mode…"):
            data = {
                mode: (prepared if mode is prepared.lemmatize else prepare_data(ss[K.TEACHER], ss[K.VOCAB], mode))
                for mode in grid.lemmatize
            }
    except TeacherUnavailable as err:
        st.error(str(err))
        st.stop()
    if start_job(K.SWEEP, lambda: start_sweep(board, grid, data, owner=ss[K.OWNER], private=host_settings().hosted)):
        job, running = board.get(ss[K.SWEEP]), True


def progress_panel(job_id: str, polling: bool) -> None:
    job = board.get(job_id)
    snap = grid_progress(job, board, "The sweep")  # the bar and why it waits (pages/_waits.py)
    if snap.done and snap.state is not JobState.FAILED:
        took = f" in {duration(snap.took_seconds)}" if snap.took_seconds is not None else ""
        trained = snap.done_runs - snap.reused
        st.success(
            f"The sweep {'finished' if snap.state is JobState.FINISHED else 'stopped'}: {trained} run(s) trained"
            f"{took}, {snap.reused} reused from the store."
        )
    if not snap.done:
        st.button(
            "Stop the sweep",
            on_click=job.stop,
            key="sweep_stop",
            icon=":material/stop_circle:",
            help="Stops after the current epoch; finished runs are kept, and running the same sweep again resumes.",
        )
    elif snap.state is JobState.FAILED:
        st.error(f"The sweep failed: {snap.error}")
    if polling and snap.done:
        st.rerun(scope="app")


if job is not None:
    polling = not job.done
    st.fragment(progress_panel, run_every=2.0 if polling else None)(job.job_id, polling)

run_ids = [r for r in found.values() if r]
if job is not None:
    run_ids = list(dict.fromkeys([*run_ids, *job.snapshot().run_ids]))
if not run_ids:
    st.caption("The figures appear here as soon as the first runs of the grid are stored.")
    st.stop()

stored_runs = {}
for r in run_ids:  # each run read once per page run; one deleted or damaged meanwhile is left out, not fatal
    try:
        stored_runs[r] = load_run(runs_dir(), r)
    except (RunNotFound, ValueError, OSError):
        continue
if not stored_runs:
    st.caption("The runs of this grid are no longer in the store.")
    st.stop()
frame = sweep_frame(stored_runs.values())
st.header("The paper's figures")
if frame["seed"].n_unique() > 1:  # the paper's figures are one run per setting: the first seed's
    first_seed = int(frame["seed"].min())
    frame = frame.filter(frame["seed"] == first_seed)
    stored_runs = {r: run for r, run in stored_runs.items() if run.config.seed == first_seed}
    st.caption(
        f"The figures below show seed {first_seed}, one run per setting as in the paper; the Honest evaluation "
        "page draws every seed's runs as a mean with a 95 % band."
    )

st.subheader("Training time against p (paper figures 2 and 3)")
show_chart(
    charts.time_vs_p(frame),
    frame.select("run_id", "model", "p", "lemmatize", "poison", "epoch", "seconds"),
    EXPLAIN["time_vs_p"],
    key="fig_time",
    file_stem="sweep_time_vs_p",
)

st.subheader("Score over epochs and p (paper figures 4, 7, 8, 11)")
metric = st.radio(
    "Score",
    list(charts.METRICS),
    horizontal=True,
    key="sweep_metric",
    format_func=charts.METRICS.get,
    help="The paper uses the training loss; the held-out cosine says how well the student does on words it never saw.",
)
st.caption(
    "Panels side by side compare lemmatized with not, and poisoned with clean. With 10 % poison the paper reports "
    "a local minimum near p ≈ 0.1 and ~20 epochs; check whether the held-out score agrees."
)
show_chart(
    charts.pareto_heatmap(frame, metric),
    frame,
    EXPLAIN["pareto_heatmap"],
    key="fig_heat",
    file_stem="sweep_heatmap",
)
show_chart(charts.pareto_lines(frame, metric), frame, EXPLAIN["pareto_lines"], key="fig_lines", file_stem="sweep_lines")

st.subheader("Distributions of embedding means by p and epoch (paper figures 6, 10, 12)")


def setting_of(run) -> tuple:
    return (run.config.model.value, run.config.lemmatize.value, run.config.poison)


settings = sorted({setting_of(run) for run in stored_runs.values()})
setting = st.selectbox(
    "Runs",
    settings,
    key="sweep_means_setting",
    format_func=lambda s: f"{StudentKind.parse(s[0]).label}, lemmatization {s[1]}, poison {s[2]:.0%}",
)
chosen = [run for run in stored_runs.values() if setting_of(run) == setting]
all_ps = sorted({run.config.p for run in chosen})
pick_ps = st.multiselect("Values of p", all_ps, default=all_ps[:: max(1, len(all_ps) // 3)][:3], key="sweep_means_ps")
last_epoch = int(frame["epoch"].max())
pick_epochs = st.multiselect(
    "Epochs",
    sorted({1, 5, 20, last_epoch} & set(range(1, last_epoch + 1))),
    default=[1, last_epoch] if last_epoch > 1 else [1],
    key="sweep_means_epochs",
)
parts = []
for run in chosen:
    if run.config.p not in pick_ps:
        continue
    try:
        teacher_means = cached_vectors(
            cache_dir() / "teachers", run.meta["teacher_id"], run.items["item"].to_list()
        ).mean(axis=1)
    except TeacherUnavailable as err:
        st.warning(str(err))
        continue
    try:
        means = run.means()
    except (LabError, ValueError, OSError) as err:  # DamagedData, StorageUnavailable: its sentence
        st.warning(literal(str(err)))
        continue
    parts += charts.means_panels(teacher_means, means, pick_epochs, f"p = {run.config.p:g}")
if parts:
    binned = charts.bin_means(parts)
    show_chart(
        charts.means_histogram(binned, title="Embedding means by p and epoch"),
        binned,
        EXPLAIN["sweep_means"],
        key="fig_means",
        file_stem="sweep_means",
    )
