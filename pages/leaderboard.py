"""Challenge leaderboard: who imitates the teacher best with at most N answers, scored on words nobody may see.

A teacher sets a challenge on the data prepared in their session (its teacher and word list), with an answer budget,
a deadline and submissions per day; everyone trains for it here (the lab draws the answers, never from the hidden
words, inside the budget) and submits; the board ranks each person's best public score, and reveals the private
scores at the deadline. The rules and scores are core.classroom.challenge's."""

from pages._frame import through_app

through_app()  # run bare (a fresh server's first request for this address)? then through app.py

import time
from contextlib import nullcontext
from datetime import datetime, timedelta

import streamlit as st

from core.classroom import challenge as ch
from core.config import TrainConfig
from core.errors import LabError
from core.jobs import QueueFull
from core.paths import runs_dir, teacher_cache_dir
from core.runs.evaluated import run_vectors
from core.runs.store import load_run
from pages._identity import is_teacher, nicknames
from pages._plain import literal
from pages._shared import PAGES, K, host_settings, job_board

ss = st.session_state
st.title("Challenge leaderboard")
st.caption(
    "Who imitates the teacher best with at most N of its answers? Scores are measured on hidden words: nobody may ask "
    "the teacher about them, or see which they are. Half of them score the live board; the other half decide the final "
    "ranking, revealed at the deadline, so tuning to the live board does not pay."
)
now = time.time()
if ss.get("lb_said"):
    st.success(ss.pop("lb_said"))

if is_teacher():
    with st.expander("Set a challenge (teachers)", icon=":material/flag:", expanded=not ch.list_challenges()):
        prepared, vocab = ss.get(K.PREPARED), ss.get(K.VOCAB)
        if prepared is None or vocab is None:
            st.caption("Prepare the challenge's teacher and word list on Data & teacher first.")
        else:
            st.caption(
                literal(
                    f"On the data prepared now: {prepared.teacher_id}, {vocab.label}, {len(prepared.items):,} items."
                )
            )
            c1, c2, c3 = st.columns(3)
            c1.text_input("Title", key="ch_title", value="Fewest answers", max_chars=120)
            c2.number_input(
                "Answer budget N", 1, len(prepared.items), min(100, len(prepared.items) // 2), key="ch_budget"
            )
            c3.number_input("Submissions per person per day", 1, 100, 3, key="ch_per_day")
            d0, d1, d2 = st.columns(3)
            d0.selectbox(
                "Scored by",
                list(ch.METRICS),
                format_func={
                    "heldout_cosine": "Held-out cosine to the teacher",
                    "analogy_pct_of_teacher": "Analogies solved, % of the teacher's",
                }.get,
                key="ch_metric",
                help="Either way, only on the hidden words. Analogies: the questions whose answer is a hidden word "
                "(king − man + woman = queen), answered by the student and by the teacher over the whole word list.",
            )
            d1.date_input("Deadline (day)", value=datetime.now() + timedelta(days=1), key="ch_day")
            d2.time_input(
                "Deadline (time)", value=datetime.now().time().replace(second=0, microsecond=0), key="ch_time"
            )
            if st.button("Set the challenge", key="ch_create", icon=":material/flag:"):
                deadline = datetime.combine(ss["ch_day"], ss["ch_time"]).timestamp()
                try:
                    made = ch.create_challenge(
                        None,
                        list(prepared.items),
                        title=ss["ch_title"],
                        teacher=prepared.teacher_id,
                        vocabulary=vocab.label,
                        budget=int(ss["ch_budget"]),
                        deadline=deadline,
                        per_day=int(ss["ch_per_day"]),
                        metric=ss["ch_metric"],
                    )
                    st.success(literal(f"The challenge “{made.title}” is set; its hidden words are drawn and kept."))
                except (ValueError, OSError, LabError) as err:
                    st.error(literal(str(err)))

listed = ch.list_challenges()
if not listed:
    st.info("No challenge yet: a teacher sets one here.")
    st.stop()
chosen = st.selectbox(
    "Challenge",
    [c.id for c in listed],
    format_func=lambda i: next(c.title for c in listed if c.id == i),
    key="lb_challenge",
)
challenge = next(c for c in listed if c.id == chosen)
deadline = datetime.fromtimestamp(challenge.deadline)
closes = f"{deadline.day} {deadline:%b %H:%M}"
closed = now >= challenge.deadline
analogies = challenge.metric == "analogy_pct_of_teacher"
m1, m2, m3, m4 = st.columns(4)
m1.metric("Answer budget", f"{challenge.budget:,}", help="The most teacher answers a run may learn from")
m2.metric("Scored by", "Analogies" if analogies else "Cosine", help=ch.METRICS[challenge.metric].capitalize())
m3.metric("Submissions", f"{challenge.per_day} a day", help="Per person, in any 24 hours")
m4.metric("Closed" if closed else "Closes", closes)
st.caption(literal(f"Teacher {challenge.teacher}, on {ch.word_list_name(challenge.vocabulary)}."))

st.subheader("The board" + (" — final, private scores revealed" if closed else " — live, public scores"))
board = ch.leaderboard(challenge, ch.submissions(None, challenge), nicknames(), now)
if board.is_empty():
    st.caption("No submission yet.")
else:
    unit, number = (" (% of the teacher)", "%.1f") if analogies else ("", "%.4f")
    st.dataframe(
        board if closed else board.drop("private"),  # the private scores exist, but stay hidden until the deadline
        hide_index=True,
        width="stretch",
        key="lb_table",
        column_config={
            "public": st.column_config.NumberColumn(
                "public score" + unit, format=number, help="On the public half of the hidden words"
            ),
            "private": st.column_config.NumberColumn(
                "private score" + unit, format=number, help="On the private half, revealed at the deadline"
            ),
            "answers": st.column_config.NumberColumn("answers used", format="%d"),
        },
    )
    score = (
        "the analogies its student solves whose answer is one of those words, as % of what the teacher solves "
        "(100: as well as the teacher)"
        if analogies
        else "its student's cosine to the teacher on those words (1 would be the teacher itself)"
    )
    st.caption(
        f"Ranked by the private score, on the half of the hidden words nobody could tune to: {score}."
        if closed
        else f"Each person's best run, by the public score, on half of the hidden words: {score}. The other half "
        "decides the final ranking."
    )

if closed:
    st.stop()
if is_teacher():
    with st.popover("End the challenge now", icon=":material/sports_score:"):
        st.write(
            "The lesson is over: the board then shows the private scores and ranks by them, and takes no more "
            f"submissions (it would close by itself on {closes})."
        )
        if st.button("Yes, end it and reveal the private scores", type="primary", key="lb_end"):
            ch.end_challenge(None, challenge)
            ss["lb_said"] = f"“{literal(challenge.title)}” has ended: the private scores are revealed."
            st.rerun()
st.subheader("Train for it and submit")
prepared, vocab = ss.get(K.PREPARED), ss.get(K.VOCAB)
if prepared is None or vocab is None or prepared.teacher_id != challenge.teacher or vocab.label != challenge.vocabulary:
    st.info(
        literal(
            f"Prepare the teacher {challenge.teacher} and the word list {challenge.vocabulary} on Data & teacher first."
        )
    )
    st.page_link(PAGES["data"], label="Go to Data & teacher", icon=":material/dataset:")
    st.stop()
n = len(prepared.items)
s1, s2, s3, s4 = st.columns(4)
kind = s1.selectbox("Student", ch.STUDENTS, format_func=lambda k: k.label, key="lb_student", index=1)
p = s2.number_input(
    "p (share of words asked)", 1.0 / n, challenge.budget / n, challenge.budget / n, format="%.4f", key="lb_p"
)
epochs = s3.number_input("Epochs", 1, host_settings().max_epochs, min(20, host_settings().max_epochs), key="lb_epochs")
seed = s4.number_input("Seed", 0, 10_000, 0, key="lb_seed")
st.caption(
    f"p = {p:.4f} asks the teacher about {max(1, round(p * n)):,} of the {n:,} words (the budget: "
    f"{challenge.budget:,}); the lab draws them at random, never among the hidden words."
)
if st.button("Train and submit", type="primary", key="lb_train", icon=":material/emoji_events:"):
    owner = ss.get(K.OWNER, "")
    config = TrainConfig(
        teacher=challenge.teacher, model=kind, p=float(p), epochs=int(epochs), seed=int(seed), vocabulary=vocab.label
    )
    bar = st.progress(0.0, text="Training…")
    slot = job_board().slot(owner, "challenge", epochs=config.epochs) if host_settings().hosted else nullcontext()
    try:
        today = [s for s in ch.submissions(None, challenge) if s["owner"] == owner and now - s["at"] < ch.DAY]
        if len(today) >= challenge.per_day:
            raise ch.Refused(
                f"You have made {len(today)} submissions in the last 24 hours; the limit is {challenge.per_day}."
            )
        with slot:
            run = ch.challenge_run(None, challenge, config, prepared, runs_dir(), owner)
            for record in run:
                bar.progress(record.epoch / config.epochs, text=f"Epoch {record.epoch} of {config.epochs}")
        stored = load_run(runs_dir(), run.run_id)
        # Scored once, so not kept in the pages' cache of runs to look at: a class submitting together holds no
        # thirty students' vectors after it (issue 30).
        vectors = run_vectors(stored, teacher_cache_dir())
        entry = ch.submit(None, challenge, owner=owner, run_id=run.run_id, meta=stored.meta, vectors=vectors)
        ss["lb_said"] = (
            f"Submitted: public score {ch.shown(challenge, entry['public'])} with {entry['answers']:,} answers."
        )
        st.rerun()
    except (QueueFull, ValueError, LabError, OSError) as err:  # Refused is a ValueError: its sentence
        st.error(literal(str(err)))
