"""Train: pick the student and the experiment's knobs, train in the background, watch it live."""

from pages._frame import through_app

through_app()  # run bare (a fresh server's first request for this address)? then through app.py

import polars as pl
import streamlit as st

from core import charts
from core.config import (
    MAX_TRIM,
    PAPER_PS,
    SELECTIONS,
    LemmaMode,
    StudentKind,
    TrainConfig,
    cheap_choices,
    default_cheap,
)
from core.data.dataset import train_size_for
from core.jobs import JobState, QueueFull
from core.teachers.rates import ms_per_1k
from core.teachers.teacher import teacher_id_for
from pages._choices import CHEAP_LABELS, SELECTION_HELP, SELECTION_LABELS
from pages._labels import DEFENCE_LABELS, EXPLAIN, defences_help, detection_sentence
from pages._shared import (
    LEMMA_LABELS,
    PAGES,
    K,
    address_state,
    between,
    host_settings,
    job_board,
    knobs,
    one_of,
    prepare,
    require_prepared,
    show_chart,
)
from pages._waits import training_progress

STUDENT_CHOICES = [
    StudentKind.B,
    StudentKind.A,
    StudentKind.KERNEL,
    StudentKind.RIDGE,
    StudentKind.MLP,
    StudentKind.SUBWORD,
]
STUDENT_HELP = {
    "A": "Model A — a table of word vectors (paper)",
    "B": "Model B — table + two small layers (paper's better model)",
    "kernel": "Adapter (kernel) — reads six layers of a cheap model; the best at new words",
    "ridge": "Adapter (ridge) — maps a cheap model's vectors, one closed-form step",
    "mlp": "Adapter (MLP) — the ridge map plus a small learnt network",
    "subword": "Subword — learns from letter groups (no other model needed)",
}

ADVERSARIES = {
    "random": "A random direction (the paper's)",
    "swap": "Another word's true answer",
    "negate": "The true answer turned around",
    "noise": "The true answer plus strong noise",
    "concentrated": "One shared direction for all (coordinated)",
}

ss = st.session_state
st.title("Train a student")
address_state(
    {
        "model": one_of(*(k.value for k in STUDENT_CHOICES)),
        "p_choice": one_of(*PAPER_PS, "custom"),
        "p_custom": between(0.001, 1.0),
        "epochs": between(1, host_settings().max_epochs, int),
        "poison": between(0.0, 0.5),
        "adversary": one_of(*ADVERSARIES),
        "poison_scope": one_of("all", "train"),
        "defence": one_of(*DEFENCE_LABELS),
        "trim": between(0.0, MAX_TRIM),
        "seed": between(0, 2**31 - 1, int),
        "train_lemma": one_of(*LemmaMode),
        "selection": one_of(*SELECTIONS),
        "cheap": one_of(*CHEAP_LABELS),
    }
)  # the page's choices live in its address: a link reproduces the view
prepared = require_prepared()
board = job_board()

# Plain widgets, not a form: the student and p choices must redraw what depends on them (the cheap-model
# note, the number of teacher answers), and Enter in a number box must not start a training.
with knobs("The student and the experiment's settings"):
    left, middle, right = st.columns(3)
    with left:
        model = st.radio(
            "Student",
            [k.value for k in STUDENT_CHOICES],
            format_func=STUDENT_HELP.get,
            key="model",
            help="Model A and B are the paper's lookup tables: words the teacher never answered keep a random vector. "
            "The adapters and the subword student compute a vector for any word, so they can handle words they never saw.",
        )
        kind = StudentKind.parse(model)
        p_choice = st.select_slider(
            "p — fraction of words the teacher is asked about",
            options=[*PAPER_PS, "custom"],
            value=0.095,
            key="p_choice",
            help="The paper's ten values, or 'custom' for your own.",
        )
        if p_choice == "custom":
            p_custom = st.number_input(
                "Your own p", min_value=0.001, max_value=1.0, value=0.2, step=0.01, format="%.3f", key="p_custom"
            )
        p = float(p_custom if p_choice == "custom" else p_choice)
        answers = train_size_for(len(prepared.items), p)
        st.markdown(
            f"**p = {p:g}** ({answers:,} teacher {'answer' if answers == 1 else 'answers'} of {len(prepared.items):,} words)"
        )
        selection = st.selectbox(
            "Which words to ask the teacher about",
            list(SELECTIONS),
            format_func=SELECTION_LABELS.get,
            key="selection",
            help=SELECTION_HELP,
        )
    with middle:
        if kind.closed_form:
            epochs = 1
            st.caption(f"{kind.label} is solved in one step: there are no epochs to choose.")
        else:
            epochs = st.number_input(
                "Epochs (passes over the training words)",
                min_value=1,
                max_value=host_settings().max_epochs,
                value=min(20, host_settings().max_epochs),
                step=1,
                key="epochs",
                help="The paper trains up to 80. More than 200 is allowed but slow.",
            )
        poison = st.slider(
            "Poisoned answers (fraction of ALL words)",
            0.0,
            0.5,
            0.0,
            0.01,
            key="poison",
            help="The paper poisons 10 %: those words get a random direction instead of the teacher's answer.",
        )
        adversary = st.selectbox(
            "What a poisoned answer is",
            list(ADVERSARIES),
            format_func=ADVERSARIES.get,
            key="adversary",
            help="The paper's attack is a random direction; the others are smarter adversaries.",
        )
        scope = st.radio(
            "Poison which answers",
            ["all", "train"],
            horizontal=True,
            key="poison_scope",
            format_func={"all": "All words, before the split (paper)", "train": "Training answers only"}.get,
            help="The paper poisons the whole vocabulary, so only part of the poison lands in the training set. "
            "'Training answers only' poisons exactly the chosen share of what the student learns from.",
        )
        defence = st.selectbox(
            "Defence against poison",
            list(DEFENCE_LABELS),
            format_func=DEFENCE_LABELS.get,
            key="defence",
            help=defences_help(),
        )
        trim = st.number_input(
            "Share of answers the defence leaves out (0 = decide from the losses)",
            min_value=0.0,
            max_value=MAX_TRIM,
            value=0.0,
            step=0.05,
            format="%.2f",
            key="trim",
            help="0 lets the defence leave out the answers whose loss is unusually high (no need to know how much is poisoned). "
            "Trimmed and small-loss only.",
        )
        seed = st.number_input(
            "Seed (same seed = same split and same result)",
            min_value=0,
            max_value=2**31 - 1,
            value=0,
            step=1,
            key="seed",
        )
    with right:
        modes = list(LemmaMode)
        lemma = st.radio(
            "Lemmatization",
            modes,
            index=modes.index(prepared.lemmatize),
            format_func=LEMMA_LABELS.get,
            key="train_lemma",
        )
        st.caption(f"Teacher: **{prepared.teacher_id}** · {len(prepared.lemma.words):,} words")
        cheap = ""
        if kind.needs_cheap:
            # What each model costs per 1,000 words on this machine (measured by the warm-up), beside the teacher's.
            options = cheap_choices(ss[K.TEACHER])
            cheap = st.selectbox(
                "Cheap model the student reads",
                options,
                index=options.index(default_cheap(ss[K.TEACHER])),
                format_func=lambda name: (
                    f"{CHEAP_LABELS.get(name, name)} · {ms_per_1k(teacher_id_for(name)):,.0f} ms per 1,000 words"
                ),
                key="cheap",
                help="It runs on every word (its vectors are computed once, then cached), so it must cost less than "
                "the teacher to be worth it.",
            )
            st.caption(f"The teacher costs {ms_per_1k(prepared.teacher_id):,.0f} ms per 1,000 words on this machine.")
        if selection in ("typical", "kcenter"):
            st.caption(
                f"The selection reads the cheap model **{cheap or default_cheap(ss[K.TEACHER])}**'s vectors of the "
                "words, never the teacher's answers."
            )
    submitted = st.button("Train", type="primary", icon=":material/model_training:", key="train")

if submitted:
    try:
        if lemma is not prepared.lemmatize:
            with st.spinner("Lemmatizing and fetching the teacher's answers for the lemmas…"):
                prepared = prepare(ss[K.TEACHER], ss[K.VOCAB], lemma)
        config = TrainConfig(
            teacher=ss[K.TEACHER],
            model=model,
            p=float(p),
            epochs=int(epochs),
            lemmatize=lemma,
            poison=float(poison),
            seed=int(seed),
            vocabulary=ss[K.VOCAB].label,
            adversary=adversary,
            poison_scope=scope,
            defence=defence,
            trim=float(trim) if defence in ("trimmed", "small-loss") else 0.0,
            selection=selection,
            cheap=cheap if kind.needs_cheap else "",
        )
    except ValueError as err:
        st.error(str(err))
    else:
        running = board.active(ss[K.OWNER])
        if running and board.max_per_owner is None:
            st.warning("You already have a training running; stop it or wait for it before starting another.")
        else:
            try:
                ss[K.JOB] = board.submit(config, prepared, owner=ss[K.OWNER]).job_id
            except QueueFull as err:
                st.warning(str(err))


def live_panel(job_id: str, polling: bool) -> None:
    """Redrawn every second while the job runs (a fragment: the rest of the page stays still)."""
    job = board.get(job_id)
    if job is None:
        return
    snap = job.snapshot()
    cfg = job.config
    done = len(snap.records)
    st.markdown(
        f"**{cfg.model.label}**, p = {cfg.p:g} ({round(cfg.p * job.n_items):,} teacher answers), "
        f"{charts.plural(cfg.epochs, 'epoch')}, poison {cfg.poison:.0%}, lemmatization {cfg.lemmatize.value}"
    )
    share, text, reason = training_progress(job, board)  # the one progress line every page draws
    if reason:  # why nothing moves yet: the queue, or the cheap model's features computed first
        st.info(reason, icon=":material/hourglass_top:")
    if not job.done:
        st.progress(share, text=text)
    if snap.records:
        last = snap.records[-1]
        m1, m2, m3, m4 = st.columns(4)
        m1.metric("Training loss", f"{last.train_loss:.4f}")
        m2.metric("Cosine on training words", f"{last.train_cosine:.3f}")
        m3.metric(
            "Cosine on held-out words",
            "—" if last.heldout_cosine is None else f"{last.heldout_cosine:.3f}",
            help="Words the student never saw. At p = 1 there are none.",
        )
        m4.metric("Seconds", f"{last.seconds:.1f}")
        frame = pl.DataFrame([r.scalars() for r in snap.records])
        if snap.state in (JobState.RUNNING, JobState.QUEUED):
            st.caption(EXPLAIN["training"])
            st.altair_chart(charts.training_curves(frame, title="Training progress (live)"), width="stretch")
        else:
            show_chart(
                charts.training_curves(frame),
                frame,
                EXPLAIN["training"],
                key="train_curve",
                file_stem="training_curves",
            )
    if not job.done and job.owner and job.owner != ss.get(K.OWNER):  # joined by Try it: someone else's to stop
        st.caption("This training was started by someone else's identical click; you are watching it with them.")
    elif not job.done:
        st.button(
            "Stop",
            on_click=job.stop,
            key="stop",
            icon=":material/stop_circle:",
            help="Stops after the current epoch; finished epochs are kept.",
        )
    elif snap.state is JobState.FAILED:
        st.error(f"Training failed: {snap.error}")
    else:
        what = "finished" if snap.state is JobState.FINISHED else f"stopped after {charts.plural(done, 'epoch')}"
        took = f"; it took {snap.records[-1].seconds:.1f} s" if snap.records else ""
        st.success(f"Training {what} and saved as run {snap.run_id}{took}.")
        summary = snap.summary or {}
        if summary.get("detection_flagged") is not None:
            st.info(detection_sentence(summary))
        ss[K.RUN] = snap.run_id
        cols = st.columns(4)
        cols[0].page_link(PAGES["projection"], label="See it on the map", icon=":material/scatter_plot:")
        cols[1].page_link(PAGES["analogies"], label="Try analogies", icon=":material/calculate:")
        cols[2].page_link(PAGES["distributions"], label="Compare distributions", icon=":material/bar_chart:")
        if cfg.poison > 0:
            cols[3].page_link(PAGES["poisoning"], label="Look at the poison", icon=":material/coronavirus:")
    if polling and job.done:
        st.rerun(scope="app")  # one last full run, which stops the polling


job = board.get(ss.get(K.JOB))
if job is not None:
    st.subheader("Live training")
    polling = not job.done
    st.fragment(live_panel, run_every=1.0 if polling else None)(job.job_id, polling)
else:
    st.caption("Press **Train**: the chart of the loss and of the cosine to the teacher grows here epoch by epoch.")
