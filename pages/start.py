"""Start: what the lab is about, in plain words, and a one-click first run."""

from pages._frame import through_app

through_app()  # run bare (a fresh server's first request for this address)? then through app.py

import uuid
from dataclasses import replace
from functools import partial
from pathlib import Path

import streamlit as st

from core import story, tryit
from core.config import LemmaMode
from core.errors import LabError
from core.jobs import QueueFull
from pages._plain import literal
from pages._shared import PAGES, K, default_words, host_settings, job_board, prepare

ASSETS = Path(__file__).resolve().parents[1] / "assets"
# pages/story.py's step 3 reads these (the person's own pair): the jobs training now (Model B first), the runs reused
# from the store (student kind -> run id), and the sentence saying where the pair comes from
STORY_JOBS, STORY_REUSED, PAIR_NOTE = "story_jobs", "story_reused", "story_pair_note"

st.title("How cheaply can an expensive AI model be imitated?")
st.markdown(
    """
An **embedding model** turns each word into a list of a few hundred numbers — a point in space
where words with similar meanings sit close together. Good models are expensive to ask.

This lab trains a small, cheap **student** to give the same answers as an expensive **teacher**,
after asking the teacher about only a fraction of the words:
"""
)
st.image(str(ASSETS / "pipeline.svg"), caption="The experiment, step by step.", width="stretch")

left, right = st.columns(2)
with left:
    st.markdown(
        """
- **Teacher** — the expensive model we want to imitate (here all-mpnet-base-v2 or all-MiniLM-L6-v2, running on this computer).
- **Student** — a tiny model that learns one vector per word (*Model A*, or *Model B* with two extra layers).
- **p** — the fraction of words whose teacher answer the student may see. *p = 0.1* means 1 word in 10.
"""
    )
with right:
    st.markdown(
        """
- **Lemmatization** — merging forms of a word first (*fighting → fight*, *was → be*), so there are fewer to ask about.
- **Poisoning** — some teacher answers are replaced by random nonsense, as if an attacker tampered with them.
- **Held-out words** — the words the student never saw: the honest test of what it learned.
"""
    )

st.subheader("See what the lab found")
settings = story.StorySettings.from_env()
st.write(
    "A five-step story, ready to show: what the teacher knows, why the paper's student fails on words it never saw, "
    f"and how a student that reads a cheap model gets them right from {settings.p:.0%} of the teacher's answers."
)
if st.button("Play the story", type="primary", icon=":material/play_arrow:", key="play_story"):
    st.switch_page(PAGES["story"], query_params={"step": "1"})

st.subheader("Try it yourself")
st.write(
    "One click trains **both** students at once on the same share *p* of the 10,000 most common English words, "
    f"with {settings.teacher_label} as the teacher: the paper's Model B and the adapter that reads {settings.cheap_label}. "
    "You will watch them train, then see them side by side. A pair already trained with the same settings is shown at once."
)
choices = sorted({*settings.ps, settings.p})
p_col, seed_col, _ = st.columns([2, 1, 2])
p = p_col.select_slider(
    "p: the share of words whose teacher answer they may see",
    options=choices,
    value=settings.p,
    format_func=lambda v: f"{v:g} ({v:.0%})",
    key="try_p",
)
seed = seed_col.number_input(
    "Seed (which words are drawn)", min_value=0, max_value=1_000_000, value=settings.seed, step=1, key="try_seed"
)
if st.button("Train my first students", icon=":material/rocket_launch:", key="try_it"):
    vocab = default_words()
    chosen = replace(settings, p=float(p), seed=int(seed), vocabulary=vocab.label)
    owner, host = st.session_state[K.OWNER], host_settings()
    # The engine decides what is reused (an identical finished run this person may open) and what is joined (an
    # identical training in flight, a classmate's click a minute ago): core.tryit.plan_try_it.
    try:
        plan = tryit.plan_try_it(chosen, owner, host.hosted, gallery=host.gallery, running=job_board().trainings())
    except (LabError, OSError, ValueError) as err:  # a store that cannot be read: its sentence, nothing started
        st.warning(literal(str(err)))
        st.stop()
    reused = {c.model.value: t.run_id for c, t in plan.reused.items()}
    if not plan.to_train and not plan.joined:  # the whole pair is stored: shown at once, saying where it comes from
        ids = ",".join(reused[c.model.value] for c in plan.configs)
        st.session_state[PAIR_NOTE] = {"runs": ids, "text": plan.sentence()}
        st.session_state.pop(STORY_JOBS, None)
        st.switch_page(PAGES["story"], query_params={"step": "3", "runs": ids})
    jobs = []
    with st.status("Getting everything ready…", expanded=True) as status:
        # The data too when the pair is only joined: the session's setup is the pair's (the other pages open on it);
        # the server holds one copy of these answers, so a classmate's click already read them.
        bar = st.progress(0.0, text="Reading the teacher's answers (computed once, then cached)…")
        prepared = prepare(
            settings.teacher,
            vocab,
            LemmaMode.NONE,
            progress=lambda done, total: bar.progress(
                done / total, text=f"Teacher answers: {done:,} of {total:,} words"
            ),
        )
        started = {}
        try:  # both at once, as one training for this host's limits (core.jobs.JobBoard.submit_together)
            if plan.to_train:
                extra = tryit.try_it_extra(host.hosted, host.gallery)
                # each scored for step 3 as soon as it is stored, in its own training thread (core.tryit)
                board = job_board()
                then = tryit.score_when_stored(settings, board.runs_root, board.lab.teacher_cache)
                # a classmate's identical pair submitted since the plan (while this click read its data) is joined,
                # decided under the board's lock: a class's clicks at one moment train one pair
                join = partial(tryit.may_join, owner=owner, hosted=host.hosted, gallery=host.gallery)
                group = uuid.uuid4().hex[:12]
                started = dict(
                    zip(plan.to_train, board.submit_together(plan.to_train, prepared, owner, extra, then, join, group))
                )
                late = {c: j for c, j in started.items() if j.group != group}  # joined after all: said so
                if late:
                    plan = replace(plan, joined={**plan.joined, **late})
            # the pair's trainings, Model B first: the joined ones (a classmate's identical click) and the new ones
            jobs = [plan.joined.get(c) or started[c] for c in plan.configs if c not in plan.reused]
        except QueueFull as err:
            st.warning(str(err))
        status.update(label="Training started" if jobs else "Not started", state="complete" if jobs else "error")
    if jobs:
        st.session_state[K.JOB] = jobs[0].job_id
        st.session_state[STORY_JOBS] = [j.job_id for j in jobs]  # Model B first, as the story shows them
        st.session_state[STORY_REUSED] = reused
        st.session_state[PAIR_NOTE] = {"runs": None, "text": plan.sentence(trained=True), "now": plan.sentence()}
        st.switch_page(PAGES["story"], query_params={"step": "3"})

st.caption("Prefer to choose everything yourself? Go step by step:")
cols = st.columns(3)
cols[0].page_link(PAGES["data"], label="1. Data & teacher", icon=":material/dataset:")
cols[1].page_link(PAGES["train"], label="2. Train a student", icon=":material/model_training:")
cols[2].page_link(PAGES["projection"], label="3. Compare with the teacher", icon=":material/scatter_plot:")
st.caption(
    "Based on Sahoo & Alberdi, *In the pursuit of cheap and robust word embeddings* (MIT, 2023). "
    "Unlike the paper, every score here is also measured on held-out words."
)
