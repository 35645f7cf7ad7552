"""Poisoning lab: what poisoned teacher answers do to a student, what gives them away, what a defence recovers,
and the paper's robustness claim re-tested on held-out words."""

from pages._frame import through_app

through_app()  # run bare (a fresh server's first request for this address)? then through app.py

import polars as pl
import streamlit as st

from core import charts
from core.config import Adversary, StudentKind
from core.errors import LabError
from core.evaluation.benchmarks import BenchmarkUnavailable
from core.jobs import JobState, start_sweep
from core.paths import runs_dir
from core.poisoning.lab import (
    claim_missing,
    claim_runs,
    damage_frame,
    defence_summary,
    detection_summary,
    has_poisoned_claim_runs,
    mean_baseline,
    poisoned_runs,
    training_answers,
)
from core.poisoning.poison import CLAIM_EPOCHS, baseline_heldout_cosine, claim_frame, retest_paper_claim
from core.runs.families import claim_grid as runs_claim_grid
from core.runs.families import stored_runs
from core.runs.families import to_train as runs_to_train
from core.runs.store import RunNotFound, load_run
from core.runs.sweep import SweepGrid, sweep_frame
from core.teachers.teacher import TeacherUnavailable
from pages._labels import (
    ADVERSARY_HELP,
    DEFENCE_LABELS,
    EXPLAIN,
    claim_verdict,
    defences_help,
    detection_sentence,
    with_defence_labels,
)
from pages._shared import (
    PAGES,
    K,
    address_state,
    cannot_read,
    default_run_of,
    from_story,
    host_settings,
    job_board,
    knobs,
    one_of,
    require_prepared,
    run_evaluation,
    run_label,
    runs_table,
    show_chart,
    start_job,
    text,
)
from pages._waits import grid_progress

RATES = (0.05, 0.1, 0.2, 0.3, 0.5)

ss = st.session_state
st.title("Poisoning lab")
address_state(
    {
        "poison_run": text(200),
        "poison_p": one_of(0.01, 0.03, 0.1, 0.3, 0.5),
        "poison_epochs": int,
        "poison_rates": [float],
        "damage_metric": one_of(*charts.DAMAGE_METRICS),
    }
)  # the page's choices live in its address: a link reproduces the view
st.write(
    "Someone selling embeddings — or a compromised API — can return wrong answers for some words. The paper poisons "
    "10 % of the answers with random directions and judges the damage by the training loss. Here the damage is measured "
    "where it matters, on words the student never saw, for five kinds of poison, with defences, and with the poison "
    "found again from the student's own losses (the lab knows which answers it poisoned, so it can grade the detective)."
)
story_words = from_story()  # opened by the story's last door: its poisoned adapter, selected below
prepared = require_prepared()
board = job_board()
table = runs_table()
if story_words:
    st.info(
        "Opened from the story: its student trained on poisoned answers is selected below — how its losses give the "
        "poison away, then what defences recover.",
        icon=":material/auto_stories:",
    )


def sweep_panel(job_key: str, what: str) -> None:
    """Progress of a background grid, redrawn every two seconds while it runs."""
    job = board.get(ss.get(job_key))
    running = job is not None and not job.done

    @st.fragment(run_every=2.0 if running else None)
    def status() -> None:
        job = board.get(ss.get(job_key))
        if job is None:
            return
        snap = grid_progress(job, board, what)  # read under the job's lock (pages/_waits.py)
        if snap.state is JobState.FAILED:
            st.error(f"The training stopped: {snap.error}")
        if not snap.done:
            st.button(
                "Stop",
                on_click=job.stop,
                key=f"{job_key}_stop",
                icon=":material/stop_circle:",
                help="Stops after the current run; finished runs are kept and reused next time.",
            )
        if running and job.done:
            st.rerun(scope="app")

    status()


def is_running(job_key: str) -> bool:
    job = board.get(ss.get(job_key))
    return job is not None and not job.done


# ---- 1. one poisoned run -------------------------------------------------------------------------

st.subheader("1 · One poisoned run: does the loss give the poison away?")
poisoned = poisoned_runs(table, prepared.teacher_id)
if poisoned.is_empty():
    st.info(
        "No poisoned run with this teacher yet. Train one with the comparison below, or on the Train page with "
        "'Poisoned answers' above 0."
    )
    st.page_link(PAGES["train"], label="Go to Train", icon=":material/model_training:")
else:
    ids = poisoned["run_id"].to_list()
    labels = {
        r["run_id"]: run_label(r) + f" · {charts.ADVERSARY_NAMES.get(r['adversary'], r['adversary'])} · "
        f"{DEFENCE_LABELS.get(r['defence'], r['defence']).lower()}"
        for r in poisoned.iter_rows(named=True)
    }
    if story_words and ss.get(K.RUN) in ids:
        ss["poison_run"] = ss[K.RUN]  # the door's run, whatever was picked here before
    ss.pop("_door_pick", None)  # (no run picker of choose_run's here)
    with knobs("The poisoned run"):
        run_id = st.selectbox(
            "Poisoned run", ids, index=ids.index(default_run_of(poisoned)), format_func=labels.get, key="poison_run"
        )
    try:
        stored = load_run(runs_dir(), run_id)
    except (LabError, RunNotFound, ValueError, OSError) as err:
        st.error(cannot_read(err))
        st.stop()
    answers = training_answers(stored.items)
    if answers is None:
        st.info(
            "This run was stored before the lab kept each answer's loss. Train it again (same settings) to see its losses."
        )
    else:
        meta = stored.meta
        summary = detection_summary(meta, stored.config.defence, answers["loss"].to_numpy())
        threshold = summary["threshold"]
        c1, c2, c3, c4 = st.columns(4)
        c1.metric(f"Poisoned, of {summary['train_size']:,} training answers", f"{summary['poisoned_in_train']:,}")
        c2.metric("Suspects (loss above the line)", f"{summary['detection_flagged']:,}")
        pct = lambda v: "—" if v is None else f"{v:.0%}"  # noqa: E731
        c3.metric(
            "Precision",
            pct(summary["detection_precision"]),
            help="Of the suspects, the share that really were poisoned.",
        )
        c4.metric(
            "Recall", pct(summary["detection_recall"]), help="Of the poisoned answers, the share among the suspects."
        )
        closed = stored.config.model.closed_form
        show_chart(
            charts.loss_histogram(charts.bin_losses(answers.select("loss", "group")), threshold),
            answers.select("item", "loss", "group"),
            EXPLAIN["loss_histogram"]
            + (
                " For this closed-form adapter each answer's loss is measured by a fit made "
                "without it (leave-one-out): a fit that saw an answer can simply memorize it."
                if closed
                else " The loss is the trained student's, after its last epoch."
            ),
            key="loss_hist",
            file_stem="poisoned_answer_losses",
        )
        st.write(detection_sentence(summary))
        if not stored.config.model.generalizes:
            st.caption(
                "Model A and Model B give every word its own free vector, so a poisoned answer that looks like an honest one "
                "(another word's answer) is fitted just as well and its loss gives nothing away; only answers their narrow "
                "output cannot reach, such as random directions, stand out."
            )

# ---- 2. damage against rate ------------------------------------------------------------------------

st.subheader("2 · Damage against poison rate, for each kind of poison and defence")
with knobs("The grid's settings"), st.form("poison_grid"):
    # The three multiselects take the whole width: in a third of it their chips (long names) were hidden.
    c1, c2, c3 = st.columns(3)
    student = c1.selectbox(
        "Student",
        [StudentKind.RIDGE, StudentKind.KERNEL, StudentKind.MLP, StudentKind.SUBWORD, StudentKind.B, StudentKind.A],
        format_func=lambda k: k.label,
        key="poison_student",
        help="The ridge adapter trains in about a second; the kernel adapter and the trained students take longer.",
    )
    p = c2.select_slider(
        "p — share of words the teacher answers", options=[0.01, 0.03, 0.1, 0.3, 0.5], value=0.3, key="poison_p"
    )
    epochs = c3.number_input("Epochs (trained students)", 1, 200, 20, key="poison_epochs")
    rates = st.multiselect(
        "Poisoned shares (besides the clean run)",
        list(RATES),
        default=[0.1, 0.3],
        format_func=lambda r: f"{r:.0%}",
        key="poison_rates",
    )
    scope = c1.radio(
        "Poison which answers",
        ["all", "train"],
        key="poison_scope_grid",
        format_func={"all": "All words, before the split (paper)", "train": "Training answers only"}.get,
    )
    adversaries = st.multiselect(
        "Kinds of poison",
        [a.value for a in Adversary],
        default=[a.value for a in Adversary],
        format_func=ADVERSARY_HELP.get,
        key="poison_adversaries",
    )
    defences = st.multiselect(
        "Defences",
        list(DEFENCE_LABELS),
        default=["none", "trimmed"],
        format_func=DEFENCE_LABELS.get,
        key="poison_defences",
        help=defences_help(),
    )
    st.form_submit_button("Update the grid", icon=":material/refresh:")

try:
    grid = SweepGrid(
        teacher=ss[K.TEACHER],
        models=(student,),
        ps=(float(p),),
        epochs=int(epochs),
        lemmatize=(prepared.lemmatize,),
        poison=(0.0, *rates),
        vocabulary=ss[K.VOCAB].label,
        adversaries=tuple(adversaries),
        defences=tuple(defences),
        poison_scope=scope,
    )
except ValueError as err:
    st.warning(f"{err} Choose at least one kind of poison and one defence.")
    grid = None

if grid is not None:
    configs = grid.configs()
    found = stored_runs(configs, table, prepared.teacher_id)
    missing = [c for c, rid in found.items() if rid is None]
    if missing and st.button(
        f"Train the comparison ({len(configs)} runs, {len(missing)} to train)",
        type="primary",
        key="poison_grid_start",
        disabled=is_running("poison_sweep"),
        icon=":material/play_arrow:",
    ):
        if start_job(
            "poison_sweep",
            lambda: start_sweep(
                board, grid, {prepared.lemmatize: prepared}, owner=ss[K.OWNER], private=host_settings().hosted
            ),
        ):
            st.rerun()
    sweep_panel("poison_sweep", "Comparison")
    damage = damage_frame(found, table)
    if damage.is_empty():
        st.caption("Nothing trained for this grid yet: press the button above.")
    else:
        frame = with_defence_labels(damage)  # the chart's legend and the table read the defences' names
        metric = st.radio(
            "Score",
            list(charts.DAMAGE_METRICS),
            format_func=charts.DAMAGE_METRICS.get,
            horizontal=True,
            key="damage_metric",
        )
        if metric == "analogy_pct_of_teacher":
            scores, bar = [], st.progress(0.0, text="Scoring analogies…")
            for i, rid in enumerate(frame["run_id"].to_list()):
                try:
                    scores.append(run_evaluation(rid, "heldout")["table"][0].get("analogy_pct_of_teacher"))
                except (TeacherUnavailable, BenchmarkUnavailable, ValueError):
                    scores.append(None)
                bar.progress(
                    (i + 1) / frame.height, text=f"Scored {i + 1} of {frame.height} runs (once per run, then kept)"
                )
            bar.empty()
            frame = frame.with_columns(analogy_pct_of_teacher=pl.Series(scores, dtype=pl.Float64))
        show_chart(
            charts.damage_vs_rate(frame, metric, title=f"{student.label} at p = {p:g}: damage against poison rate"),
            frame,
            EXPLAIN["damage_vs_rate"],
            key="damage_chart",
            file_stem="damage_vs_rate",
        )
        # What each defence costs and recovers, averaged over the poisoned runs.
        summary = defence_summary(damage)
        if summary.height:
            st.dataframe(
                with_defence_labels(summary),
                hide_index=True,
                width="stretch",
                column_config={
                    "defence": "Defence",
                    "runs": "Poisoned runs",
                    "heldout_cosine": st.column_config.NumberColumn(
                        "Held-out cosine", format="%.3f", help="Mean over the poisoned runs, on words never seen."
                    ),
                    "pct_of_clean": st.column_config.NumberColumn(
                        "% of clean",
                        format="percent",
                        help="Held-out cosine as a share of the same student's clean run (no poison, no defence).",
                    ),
                    "seconds": st.column_config.NumberColumn("Train s", format="%.2f", help="Mean training seconds."),
                    "extra_seconds": st.column_config.NumberColumn(
                        "Extra s", format="%+.2f", help="Seconds more than the same run without a defence."
                    ),
                    "precision": st.column_config.NumberColumn(
                        "Precision",
                        format="percent",
                        help="Detection: share of the flagged answers that were really poisoned.",
                    ),
                    "recall": st.column_config.NumberColumn(
                        "Recall", format="percent", help="Detection: share of the poisoned answers that were flagged."
                    ),
                },
            )
            st.caption(
                "Averages over the poisoned runs above. Detection: answers whose loss is unusually high "
                "(median + 3 robust spreads), graded against the answers the lab really poisoned. Extra seconds: "
                "the defence's run against the same run without defence, on this machine."
            )

# ---- 3. the paper's claim ----------------------------------------------------------------------------

st.subheader("3 · The paper's claim, re-tested on held-out words")
st.write(
    'With 10 % of the answers poisoned, the paper reports "surprising robustness": a local minimum of the training loss '
    "near p ≈ 0.1 after about 20 epochs (Model B). The training loss only says how well the student fits the answers it "
    "was given — poisoned ones included. Below, the same grid is scored on the words the student never saw."
)
family = claim_runs(table, prepared.teacher_id, ss[K.VOCAB].label, prepared.lemmatize.value)
claim_grid = runs_claim_grid(
    ss[K.TEACHER], prepared.lemmatize, ss[K.VOCAB].label, claim_missing(family), CLAIM_EPOCHS
)  # only what is missing: runs of at least CLAIM_EPOCHS epochs already stored are used as they are
if claim_grid is not None:
    to_train = runs_to_train(claim_grid.configs(), table, prepared.teacher_id)
    if to_train and st.button(
        f"Train the paper's grid for this test (Model B, its ten p, {CLAIM_EPOCHS} epochs, clean and 10 % poison: "
        f"{len(to_train)} runs to train)",
        key="claim_start",
        disabled=is_running("claim_sweep"),
        icon=":material/play_arrow:",
    ):
        if start_job(
            "claim_sweep",
            lambda: start_sweep(
                board, claim_grid, {prepared.lemmatize: prepared}, owner=ss[K.OWNER], private=host_settings().hosted
            ),
        ):
            st.rerun()
sweep_panel("claim_sweep", "Paper grid")
if not has_poisoned_claim_runs(family):
    st.caption(
        f"Runs of the Sweep page with the same teacher and words are used too (Model B at the paper's p, at least {CLAIM_EPOCHS} epochs)."
    )
else:
    # Every run drawn over the same CLAIM_EPOCHS epochs, and only the p values both panels have.
    loaded = []
    for rid in family["run_id"].to_list():
        try:
            loaded.append(load_run(runs_dir(), rid))
        except (LabError, RunNotFound, ValueError, OSError):
            continue  # deleted or unreadable since the list was made: left out
    if not loaded:
        st.info("The runs of this test could not be read; train the grid again.")
        st.stop()
    frame = claim_frame(sweep_frame(loaded), CLAIM_EPOCHS)
    if frame.is_empty():
        st.info("The clean and the poisoned runs share no value of p yet: train the grid above.")
        st.stop()
    st.caption(
        f"Model B, clean and with 10 % poison, at {charts.plural(frame['p'].n_unique(), 'value')} of p, each drawn over its first {CLAIM_EPOCHS} epochs."
    )
    baselines = {
        float(pp): baseline_heldout_cosine(prepared.items, prepared.clean, float(pp), 0.1, 0)
        for pp in sorted(set(frame["p"].to_list()))
    }
    check = retest_paper_claim(frame, baselines=baselines)
    if check is None:
        st.info("The poisoned runs do not reach epoch 20, where the paper saw its minimum, yet.")
    else:
        (st.success if check.verdict_kind == "holds" else st.warning)(
            claim_verdict(check).replace("Verdict:", "**Verdict:**")
        )
    show_chart(
        charts.pareto_heatmap(frame, "train_loss", title="What the paper measured: training loss over epochs and p"),
        frame.select("p", "poison", "epoch", "train_loss"),
        EXPLAIN["claim_loss"],
        key="claim_loss",
        file_stem="claim_training_loss",
    )
    show_chart(
        charts.pareto_heatmap(frame, "heldout_cosine", title="What matters: cosine to the teacher on words never seen"),
        frame.select("p", "poison", "epoch", "heldout_cosine"),
        EXPLAIN["claim_heldout"],
        key="claim_heldout",
        file_stem="claim_heldout_cosine",
    )
    base = mean_baseline(baselines)
    if base is not None:
        st.caption(
            f"For scale: a student that learns nothing (every new word gets the average answer) scores about {base:.3f} here."
        )
