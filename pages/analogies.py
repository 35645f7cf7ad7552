"""Analogies & similarity: word arithmetic (a − b + c) and pair similarities, teacher vs student."""

import polars as pl
import streamlit as st

from core import charts
from core.neighbours import UnknownWord, analogy, pair_cosine, parse_analogy, parse_pairs
from pages._shared import chosen_run_vectors, show_chart

ss = st.session_state
st.title("Analogies & similarity")
vectors = chosen_run_vectors()
groups = dict(zip(vectors.items, vectors.groups))

st.subheader("Word arithmetic")
st.caption("Good embeddings obey simple analogies: king − man + woman lands near queen. "
           "Each side lists the words closest to the result (the three question words are left out).")
PRESETS = ["king - man + woman", "paris - france + poland", "berlin - germany + france", "walking - walk + swim"]
ss.setdefault("analogy", PRESETS[0])
cols = st.columns(len(PRESETS))
for col, preset in zip(cols, PRESETS):
    if col.button(preset.replace(" - ", " − "), key=f"analogy_{preset}", width="stretch"):
        ss["analogy"] = preset
left, right = st.columns([3, 1])
question = left.text_input("a − b + c", key="analogy", max_chars=200)
k = right.number_input("How many answers", min_value=1, max_value=20, value=5, key="analogy_k")

try:
    a, b, c = parse_analogy(question)
    teacher_top = analogy(vectors.teacher, vectors.items, a, b, c, int(k))
    student_top = analogy(vectors.student, vectors.items, a, b, c, int(k))
except (ValueError, UnknownWord) as err:
    st.warning(str(err))
else:
    st.caption("Did the student see the teacher's answer for the question words? " + ", ".join(f"**{w}** ({groups[w]})" for w in (a, b, c)))
    table = pl.DataFrame({
        "rank": list(range(1, len(teacher_top) + 1)),
        "teacher's answer": [w for w, _ in teacher_top], "teacher cosine": [round(s, 3) for _, s in teacher_top],
        "student's answer": [w for w, _ in student_top], "student cosine": [round(s, 3) for _, s in student_top],
    })
    st.dataframe(table, hide_index=True, width="stretch")

st.subheader("Similarity of word pairs")
ss.setdefault("pairs", "cat, dog\ncat, car\nking, queen\nhappy, sad\nbuy, purchase\ncold, hot")
text = st.text_area("One pair per line", key="pairs", height=160, max_chars=5000)
try:
    pairs = parse_pairs(text)[:40]
except ValueError as err:
    st.warning(str(err))
    pairs = []
rows, unknown = [], []
for x, y in pairs:
    try:
        rows += [{"pair": f"{x} – {y}", "model": "teacher", "cosine": pair_cosine(vectors.teacher, vectors.items, x, y)},
                 {"pair": f"{x} – {y}", "model": "student", "cosine": pair_cosine(vectors.student, vectors.items, x, y)}]
    except UnknownWord as err:
        unknown.append(str(err))
for message in unknown:
    st.warning(message)
if rows:
    frame = pl.DataFrame(rows)
    show_chart(charts.pair_bars(frame), frame, charts.EXPLAIN["pairs"], key="pairs_chart", file_stem="pair_similarity")
