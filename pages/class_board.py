"""Class board (teachers only): who is here now, each person's runs, the queue, the gallery (hide or remove a shared
run), a student's link given again, the class's results as CSV, and archiving the class to start the next one.

Only the people lab.toml names as teachers ([classroom] teachers) see it: app.py lists it for them alone, and this
page checks again on every run (a student who types its address or sets its widgets' keys gets one sentence).
Everything is computed by core.classroom.board."""

from pages._frame import through_app

through_app()  # run bare (a fresh server's first request for this address)? then through app.py

import time
from datetime import datetime

import polars as pl
import streamlit as st

from core.classroom import board, challenge
from core.classroom.people import people_dir, read_people
from core.errors import LabError
from core.paths import runs_dir
from core.runs.store import list_runs
from pages._identity import classroom_settings, is_teacher, lab_id
from pages._plain import literal
from pages._shared import PAGES, job_board, show_chart

st.title("Class board")
if not is_teacher():  # asked afresh from the sign-in or the link, never from a widget's value
    st.error("This page is for the class's teachers. Your own runs are on the Runs page.")
    st.stop()


def _teacher_only(action):
    """A board button's callback, checked again when it fires."""

    def guarded(*args):
        if not is_teacher():
            st.session_state["board_said"] = "Only a teacher can do that."
            return
        try:
            st.session_state["board_said"] = action(*args)
        except (LabError, ValueError, OSError) as err:
            st.session_state["board_said"] = f"That did not work: {err}"

    return guarded


def _hide(run_id: str) -> str:
    return board.moderate(None, runs_dir(), run_id, "hide", by=lab_id() or "")


def _remove(run_id: str) -> str:
    if not st.session_state.get(f"board_remove_sure_{run_id}"):
        return "Tick “I am sure” beside the run first: removing deletes it for its owner too."
    return board.moderate(None, runs_dir(), run_id, "remove", by=lab_id() or "")


def _archive() -> str:
    if not st.session_state.get("board_archive_sure"):
        return "Tick “I am sure” first."
    opened = board.archive_class(None, list_runs(runs_dir()), st.session_state.get("board_new_class", ""))
    return f"The class is archived (its results and people kept as CSV files); “{opened['name']}” starts now."


ss = st.session_state
if ss.get("board_said"):
    st.info(literal(ss.pop("board_said")))

now = time.time()
runs = list_runs(runs_dir())
people = read_people(people_dir())
names = {p["owner"]: name for p in people if (name := (p["nickname"] or p["name"]))}
listed = board.classes()
on = listed[-1]
labels = {c["id"]: c["name"] + ("" if c.get("archived") is None else " (archived)") for c in listed}
chosen_id = st.selectbox(
    "Class", [c["id"] for c in reversed(listed)], format_func=lambda i: labels.get(i, i), key="board_class"
)
klass = next((c for c in listed if c["id"] == chosen_id), on)
since = "the start" if not klass.get("started") else datetime.fromtimestamp(klass["started"]).strftime("%d %b %H:%M")

if klass.get("archived") is not None:
    st.caption(
        f"Archived {datetime.fromtimestamp(klass['archived']).strftime('%d %b %H:%M')}: its results as they were."
    )
    try:
        archived = board.archived_results(None, klass["id"])
    except (ValueError, OSError) as err:
        st.warning(literal(str(err)))
    else:
        st.dataframe(archived, hide_index=True, width="stretch", key="board_archived")
        st.download_button(
            "Download these results (CSV)",
            data=board.results_csv(archived),
            file_name=f"{klass['id']}-results.csv",
            mime="text/csv",
            key="board_archived_csv",
            icon=":material/download:",
        )
    st.stop()

results = board.results_table(runs, people, klass)
teaching = classroom_settings()
members = [  # the students: the class's teachers are not counted among them
    p
    for p in board.class_people(people, klass, results)
    if not teaching.is_teacher(email=p["email"], subject=p["subject"], owner=p["owner"])
]
roster = board.people_table(members, results, now)
jobs = board.queue_table(job_board().active(), names, now)
here = int(roster["here_now"].sum()) if not roster.is_empty() else 0

c1, c2, c3, c4 = st.columns(4)
c1.metric("Here now", here, help=f"Seen in the last {board.HERE_MINUTES:g} minutes.")
c2.metric("People in this class", roster.height)
c3.metric("Runs since " + since, results.height)
c4.metric("Waiting in the queue", int((jobs["state"] == "queued").sum()) if not jobs.is_empty() else 0)

st.subheader("Who is here")
if roster.is_empty():
    st.caption("Nobody has opened the lab in this class yet.")
else:
    st.dataframe(
        roster.drop("lab_id"),
        hide_index=True,
        width="stretch",
        key="board_people",
        column_config={
            "person": "person",
            "signed_in_as": "signed in as",
            "here_now": st.column_config.CheckboxColumn("here now"),
            "last_seen_minutes": st.column_config.NumberColumn("last seen (minutes ago)", format="%.1f"),
            "runs": "runs",
            "best_heldout_cosine": st.column_config.NumberColumn("best held-out cosine", format="%.3f"),
        },
    )

st.subheader("Each person's runs")
if results.is_empty():
    st.caption("No run in this class yet.")
else:
    show_chart(
        board.results_chart(results),
        results,
        "Each dot is one person's run: further right, it asked the teacher more questions; higher, it imitates the "
        "teacher better on words it never saw. The best students sit high and to the left.",
        key="board_chart",
        file_stem="class-results",
    )
    st.dataframe(
        results.drop("lab_id").with_columns(pl.col("created").str.to_datetime("%Y-%m-%dT%H:%M:%S%z", strict=False)),
        hide_index=True,
        width="stretch",
        key="board_results",
        column_config={
            "answers_used": st.column_config.NumberColumn("answers used", format="%d"),
            "heldout_cosine": st.column_config.NumberColumn("held-out cosine", format="%.3f"),
            "p": st.column_config.NumberColumn("p", format="%.3g"),
            "shared": st.column_config.CheckboxColumn("in the gallery"),
            "created": st.column_config.DatetimeColumn("created", format="D MMM HH:mm"),
            "run_id": "run",
        },
    )
st.download_button(
    "Download the class's results (CSV)",
    data=board.results_csv(results),
    file_name=f"{klass['id']}-results.csv",
    mime="text/csv",
    key="board_csv",
    icon=":material/download:",
)

st.subheader("The queue")
if jobs.is_empty():
    st.caption("Nothing is training or waiting.")
else:
    st.dataframe(
        jobs,
        hide_index=True,
        width="stretch",
        key="board_queue",
        column_config={
            "position": st.column_config.NumberColumn("place in the queue (0: training now)"),
            "waiting_minutes": st.column_config.NumberColumn("minutes since asked", format="%.1f"),
            "estimate_minutes": st.column_config.NumberColumn("estimated minutes", format="%.1f"),
        },
    )

st.subheader("Challenges")
challenges = challenge.challenges_table()
if challenges.is_empty():
    st.caption("No challenge yet: set one on the Challenge page.")
else:
    st.dataframe(
        challenges.with_columns(
            pl.Series("closes", [f"{d.day} {d:%b %H:%M}" for d in map(datetime.fromtimestamp, challenges["closes"])])
        ),
        hide_index=True,
        width="stretch",
        key="board_challenges",
        column_config={
            "scored_by": "scored by",
            "budget": st.column_config.NumberColumn("answer budget", format="%d"),
            "open": st.column_config.CheckboxColumn("still open"),
            "people": st.column_config.NumberColumn("people who submitted", format="%d"),
        },
    )
st.page_link(PAGES["leaderboard"], label="Set a challenge, see its board, or end it", icon=":material/emoji_events:")

st.subheader("The gallery")
gallery = board.gallery_table(runs, names)
if gallery.is_empty():
    st.caption("Nobody has shared a run.")
for row in gallery.iter_rows(named=True):
    run_id = row["run_id"]
    score = "not scored" if row["heldout_cosine"] is None else f"held-out cosine {row['heldout_cosine']:.3f}"
    with st.container(border=True):
        left, mid, right = st.columns([6, 2, 3], vertical_alignment="center")
        left.markdown(
            f"**{literal(row['person'])}** · {literal(row['student'])}, p = {row['p']:g}, "
            f"{row['answers_used']:,} answers, {score} · #{run_id[-4:]}"
        )
        mid.button(
            "Hide",
            key=f"board_hide_{run_id}",
            icon=":material/visibility_off:",
            help="Out of the gallery; its owner keeps it.",
            on_click=_teacher_only(_hide),
            args=(run_id,),
        )
        with right:
            st.checkbox("I am sure", key=f"board_remove_sure_{run_id}")
            st.button(
                "Remove",
                key=f"board_remove_{run_id}",
                icon=":material/delete:",
                help="Deletes the run (its settings stay in the moderation log below).",
                on_click=_teacher_only(_remove),
                args=(run_id,),
            )
log = board.moderation_log()
if log:
    with st.expander(f"What teachers hid or removed ({len(log)})", icon=":material/history:"):
        st.dataframe(
            pl.DataFrame(
                {
                    "when": [datetime.fromtimestamp(e["at"]).strftime("%d %b %H:%M") for e in log],
                    "what": [e["action"] for e in log],
                    "whose": [board.name_of(str(e.get("owner", "")), names) for e in log],
                    "run": [f"#{str(e['run_id'])[-4:]}" for e in log],
                }
            ),
            hide_index=True,
            key="board_moderation",
        )

st.subheader("A student lost their link")
linked = [p for p in members if p["token"] and not p["signed_in"]]
if not linked:
    st.caption("Nobody in this class uses a personal link (signed-in students need none).")
else:
    who = st.selectbox(
        "Whose link?",
        [p["owner"] for p in linked],
        format_func=lambda o: board.name_of(o, names),
        index=None,
        placeholder="Choose the student (by nickname)",
        key="board_link_for",
    )
    if who:
        token = next(p["token"] for p in linked if p["owner"] == who)
        base = (st.context.url or "http://localhost:8501/").split("?")[0]
        st.code(f"{base}?u={token}", language=None, wrap_lines=True)
        st.caption("Give it to that student only: whoever has it sees and changes their runs.")

st.subheader("Archive this class and start a new one")
st.caption(
    "Nothing is deleted: every run stays with its owner, and this class's results and people are kept as they are "
    "now (choose the class above to see them again). The board then counts only what happens from now on."
)
a1, a2, a3 = st.columns([4, 2, 3], vertical_alignment="bottom")
a1.text_input(
    "Name of the new class", key="board_new_class", max_chars=board.MAX_CLASS_NAME, placeholder="e.g. Tuesday group"
)
a2.checkbox("I am sure", key="board_archive_sure")
a3.button(
    "Archive and start the new class",
    key="board_archive",
    icon=":material/inventory_2:",
    on_click=_teacher_only(_archive),
)
