"""Analogies & similarity: word arithmetic (a − b + c) and pair similarities, teacher vs student."""

from pages._frame import through_app

through_app()  # run bare (a fresh server's first request for this address)? then through app.py

import polars as pl
import streamlit as st

from core import charts
from core.config import StudentKind
from core.evaluation.neighbours import UnknownWord, analogy, pair_cosine, parse_analogy, parse_pairs
from core.words.offensive import offensive_indices
from pages._labels import EXPLAIN
from pages._plain import literal
from pages._shared import (
    K,
    address_state,
    between,
    choose_run,
    chosen_run_vectors,
    flag,
    from_story,
    knobs,
    run_evaluation,
    run_stamp,
    runs_table,
    show_chart,
    text,
)

ss = st.session_state
st.title("Analogies & similarity")
address_state(
    {"analogy": text(200), "analogy_k": between(1, 20, int), "pairs": text(5000), "polite": flag}
)  # the page's choices live in its address: a link reproduces the view
story_words = from_story()  # opened by one of the story's doors: its words come first
with knobs("The run"):
    run_id = choose_run()
vectors = chosen_run_vectors(run_id)
groups = dict(zip(vectors.items, vectors.groups))
if story_words:
    st.info(
        "Opened from the story: the same student, and its words ("
        + ", ".join(f"*{literal(w)}*" for w in story_words)
        + ") first below.",
        icon=":material/auto_stories:",
    )

st.subheader("Word arithmetic")
st.caption(
    "Good embeddings obey simple analogies: king − man + woman lands near queen. "
    "Each side lists the words closest to the result (the three question words are left out)."
)
PRESETS = ["king - man + woman", "paris - france + poland", "berlin - germany + france", "walking - walk + swim"]
ss.setdefault("analogy", PRESETS[0])
ss.setdefault("polite", True)
PAIRS = "cat, dog\ncat, car\nking, queen\nhappy, sad\nbuy, purchase\ncold, hot"
ss.setdefault("pairs", PAIRS)
if story_words and len(story_words) >= 2:
    first = f"{story_words[0]}, {story_words[1]}"
    ss["analogy"] = PRESETS[0] if set(story_words[:2]) == {"king", "queen"} else ss["analogy"]
    ss["pairs"] = "\n".join([first, *(line for line in PAIRS.splitlines() if line != first)])
with knobs("The question"):
    cols = st.columns(len(PRESETS))
    for col, preset in zip(cols, PRESETS):
        if col.button(preset.replace(" - ", " − "), key=f"analogy_{preset}", width="stretch"):
            ss["analogy"] = preset
    left, right = st.columns([3, 1])
    question = left.text_input("a − b + c", key="analogy", max_chars=200)
    k = right.number_input("How many answers", min_value=1, max_value=20, value=5, key="analogy_k")
    polite = st.toggle(
        "Leave out offensive words",
        key="polite",
        help="Profanity, slurs and sexual slang are left out of the answers (a short list: core/words/offensive.py).",
    )

try:
    a, b, c = parse_analogy(question)
    skip = offensive_indices(vectors.items) if polite else set()
    teacher_top = analogy(vectors.teacher, vectors.items, a, b, c, int(k), skip=skip)
    student_top = analogy(vectors.student, vectors.items, a, b, c, int(k), skip=skip)
except (ValueError, UnknownWord) as err:
    st.warning(literal(str(err)))  # it quotes the words typed
else:
    st.markdown(f"**{literal(a)} − {literal(b)} + {literal(c)} = ?**")
    st.caption(
        "Did the student see the teacher's answer for the question words? "
        + ", ".join(f"**{literal(w)}** ({groups[w]})" for w in (a, b, c))
    )
    table = pl.DataFrame(
        {
            "rank": list(range(1, len(teacher_top) + 1)),
            "teacher says": [w for w, _ in teacher_top],
            "teacher cosine": [round(s, 3) for _, s in teacher_top],
            "student says": [w for w, _ in student_top],
            "student cosine": [round(s, 3) for _, s in student_top],
        }
    )
    st.dataframe(
        table, hide_index=True, width="stretch", column_config={"rank": st.column_config.NumberColumn(width="small")}
    )

st.subheader("The benchmark: Google's analogy questions")


@st.cache_data(show_spinner="Answering the analogy questions (once per run, then kept with it)…", max_entries=8)
def benchmark_answers(run_id: str, stamp: int) -> pl.DataFrame:
    """Every usable question on held-out words with the teacher's and the student's answer, kept in the run's folder
    (the warm-up answers them ahead for the story's runs)."""
    import numpy as np

    from core.evaluation.benchmarks import Benchmarks
    from core.evaluation.evaluate import kept_analogy_answers
    from core.paths import runs_dir
    from core.runs.store import check_run_id

    held = np.array([g == "held-out" for g in vectors.groups])
    questions = Benchmarks.bundled().analogies
    folder = runs_dir() / check_run_id(run_id)
    finished = runs_table().filter(pl.col("run_id") == run_id)["status"].to_list() == ["finished"]
    return pl.DataFrame(
        kept_analogy_answers(folder, vectors.student, vectors.teacher, vectors.items, questions, held, keep=finished)
    )


try:
    evaluation = run_evaluation(ss[K.RUN], "heldout")
    answers = benchmark_answers(ss[K.RUN], run_stamp(ss[K.RUN]))
except Exception as err:  # noqa: BLE001 - a missing benchmark file or cache: one sentence, the page goes on
    st.warning(literal(f"The benchmark is not available here: {err}"))
else:
    rows = {r["model"]: r for r in evaluation["table"]}
    student_row = evaluation["table"][0]
    if not answers.height:
        st.info("No analogy question has all four words among this run's held-out words.")
    else:
        c1, c2, c3 = st.columns(3)
        share = student_row["analogy_pct_of_teacher"]
        c1.metric("Teacher: questions right", f"{rows['teacher']['analogy_accuracy']:.1%}")
        c2.metric(
            "Student: questions right",
            f"{student_row['analogy_accuracy']:.1%}",
            help="Only questions whose four words the student never saw the teacher's answer for.",
        )
        c3.metric(
            "Student, as % of the teacher",
            "—" if share is None else f"{share:.0f} %",
            help="— when the teacher itself gets none right.",
        )
        st.caption(
            f"{answers.height:,} questions whose four words are all held-out (from the Google analogy set shipped with gensim)."
        )
        by_section = charts.section_accuracy(evaluation["sections"], student_row["model"])
        show_chart(
            charts.analogy_sections(by_section),
            by_section,
            EXPLAIN["analogy_sections"],
            key="sections_chart",
            file_stem="analogy_sections",
        )
        if not StudentKind.parse(evaluation["summary"]["model"]).generalizes:
            st.info(EXPLAIN["lookup_tables"])
        shown = answers.drop("section")
        right = shown.filter(pl.col("student says") == pl.col("expected"))
        wrong = shown.filter(pl.col("student says") != pl.col("expected"))
        left_col, right_col = st.columns(2)
        left_col.markdown(f"**A sample the student gets right** ({right.height:,} in all)")
        left_col.dataframe(
            right.sample(min(8, right.height), seed=0) if right.height else right, hide_index=True, width="stretch"
        )
        right_col.markdown(f"**A sample the student gets wrong** ({wrong.height:,} in all)")
        right_col.dataframe(
            wrong.sample(min(8, wrong.height), seed=0) if wrong.height else wrong, hide_index=True, width="stretch"
        )

st.subheader("Similarity of word pairs")
with knobs("The pairs"):
    text = st.text_area("One pair per line", key="pairs", height=160, max_chars=5000)
try:
    pairs = parse_pairs(text)[:40]
except ValueError as err:
    st.warning(literal(str(err)))
    pairs = []
rows, unknown = [], []
for x, y in pairs:
    try:
        rows += [
            {"pair": f"{x} – {y}", "model": "teacher", "cosine": pair_cosine(vectors.teacher, vectors.items, x, y)},
            {"pair": f"{x} – {y}", "model": "student", "cosine": pair_cosine(vectors.student, vectors.items, x, y)},
        ]
    except UnknownWord as err:
        unknown.append(str(err))
for message in unknown:
    st.warning(literal(message))
if rows:
    frame = pl.DataFrame(rows)
    show_chart(charts.pair_bars(frame), frame, EXPLAIN["pairs"], key="pairs_chart", file_stem="pair_similarity")
