"""Start: what the lab is about, in plain words, and a one-click first run."""

import os
from pathlib import Path

import streamlit as st

from core.config import LemmaMode, TrainConfig
from pages._shared import K, PAGES, default_words, job_board, prepare, start_job

ASSETS = Path(__file__).resolve().parents[1] / "assets"
# The teacher of the one-click path; tests point it at the instant fake teacher.
TRY_IT_TEACHER = os.environ.get("EMBEDDING_LAB_TRY_IT_TEACHER", "minilm")

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
- **Teacher** — the expensive model we want to imitate (here all-MiniLM-L6-v2, running on this computer).
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

st.subheader("Try it")
st.write(
    "One click: the 10,000 most common English words, the MiniLM teacher, and Model B trained on "
    "p = 0.095 (950 words) for 20 epochs. You will watch it learn live."
)
if st.button("Train my first student", type="primary", icon=":material/rocket_launch:", key="try_it"):
    with st.status("Getting everything ready…", expanded=True) as status:
        st.write("Loading the vocabulary and the teacher…")
        vocab = default_words()
        bar = st.progress(0.0, text="Asking the teacher about every word (cached after the first time)…")
        prepared = prepare(TRY_IT_TEACHER, vocab, LemmaMode.NONE,
                           progress=lambda done, total: bar.progress(done / total, text=f"Teacher embeddings: {done:,} of {total:,} words"))
        config = TrainConfig(teacher=TRY_IT_TEACHER, model="B", p=0.095, epochs=20, vocabulary=vocab.label)
        started = start_job(K.JOB, lambda: job_board().submit(config, prepared, owner=st.session_state[K.OWNER]))
        status.update(label="Training started" if started else "Not started", state="complete" if started else "error")
    if started:
        st.switch_page(PAGES["train"])

st.caption("Prefer to choose everything yourself? Go step by step:")
cols = st.columns(3)
cols[0].page_link(PAGES["data"], label="1. Data & teacher", icon=":material/dataset:")
cols[1].page_link(PAGES["train"], label="2. Train a student", icon=":material/model_training:")
cols[2].page_link(PAGES["projection"], label="3. Compare with the teacher", icon=":material/scatter_plot:")
st.caption(
    "Based on Sahoo & Alberdi, *In the pursuit of cheap and robust word embeddings* (MIT, 2023). "
    "Unlike the paper, every score here is also measured on held-out words."
)
