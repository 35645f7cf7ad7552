"""Projection: teacher and student embeddings on one 2-D map; highlighted words and their neighbours."""

from pages._frame import through_app

through_app()  # run bare (a fresh server's first request for this address)? then through app.py

import polars as pl
import streamlit as st

from core import charts
from core.evaluation.neighbours import nearest
from core.evaluation.projection import MAP_SIZE, STORY_WORDS, Method, ProjectionCache, map_input, project
from core.words.offensive import offensive_indices
from pages._labels import EXPLAIN
from pages._plain import literal
from pages._shared import (
    address_state,
    choose_run,
    chosen_run_vectors,
    flag,
    from_story,
    knobs,
    one_of,
    projection_cache,
    run_stamp,
    show_chart,
    text,
    umap_in_background,
)

ss = st.session_state
st.title("Projection: teacher and student on one map")
address_state(
    {"highlight": text(500), "sample_size": int, "proj_method": one_of(*Method), "polite": flag}
)  # the page's choices live in its address: a link reproduces the view
story_words = from_story()  # opened by one of the story's doors: its words, highlighted

PRESETS = {
    "Royalty": "king, queen, man, woman",
    "Capitals": "paris, france, berlin, germany",
    "The paper's pair": "nonviolent, antiaggressive",
}
if story_words:
    ss["highlight"] = ", ".join(story_words)
ss.setdefault("highlight", ", ".join(STORY_WORDS))  # the story's words: what a presenter opens the map on
ss.setdefault("polite", True)
with knobs("The run"):
    run_id = choose_run()
vectors = chosen_run_vectors(run_id)  # a run it cannot open: its sentence, shown even in presenter mode
index = vectors.index()
with knobs("The map's settings"):
    cols = st.columns(len(PRESETS))
    for col, (name, words) in zip(cols, PRESETS.items()):
        if col.button(name, key=f"preset_{name}", width="stretch"):
            ss["highlight"] = words
    left, right = st.columns([3, 1])
    highlight_text = left.text_input("Words to highlight (comma-separated)", key="highlight", max_chars=500)
    total = len(vectors.items)
    sample_size = right.number_input(
        "Words on the map",
        min_value=min(200, total),
        max_value=min(5000, total),
        value=min(MAP_SIZE, total),
        step=100,
        key="sample_size",
        help="A random sample keeps the map readable and fast; highlighted words are always included.",
    )
    method = st.radio(
        "Map",
        [Method.UMAP, Method.PCA],
        format_func={
            Method.UMAP: "UMAP (keeps neighbours together; slower the first time)",
            Method.PCA: "PCA (instant, a straight-line view)",
        }.get,
        horizontal=True,
        key="proj_method",
    )
    polite = st.toggle(
        "Leave out offensive words",
        key="polite",
        help="Profanity, slurs and sexual slang are left out of the neighbour lists (a short list: "
        "core/words/offensive.py). Switch off to see every neighbour.",
    )

wanted = [w.strip().lower() for w in highlight_text.split(",") if w.strip()][:20]
found = [w for w in wanted if w in index]
if missing := [w for w in wanted if w not in index]:
    st.warning(  # the words come from the text box or the address: shown as typed
        f"Not in this run's vocabulary: {literal(', '.join(missing))}. Add them to your word list on the Data page to see them."
    )

# The map's matrix as the warm-up builds it for the story's runs (core.warm), kept under the run's own key.
idx, x = map_input(vectors.teacher, vectors.student, index, found, int(sample_size))
stamp = run_stamp(run_id)
cache = projection_cache()
coords = project(x, Method.PCA, cache, key=ProjectionCache.run_key(run_id, stamp, idx, Method.PCA))
shown = "PCA"
if method is Method.UMAP:
    key = ProjectionCache.run_key(run_id, stamp, idx, Method.UMAP)
    cached = cache.get(key)
    if cached is not None and cached.shape == (x.shape[0], 2):
        coords, shown = cached, "UMAP"
    else:
        future = umap_in_background(x, key)

        @st.fragment(run_every=1.0)
        def wait_for_umap():
            if future.done():
                st.rerun(scope="app")
            st.info(
                "UMAP is computing (the very first one compiles, ~30–40 s; later ones take seconds). Showing the instant PCA view meanwhile."
            )

        wait_for_umap()

n = len(idx)
frame = pl.DataFrame(
    {
        "x": coords[:, 0],
        "y": coords[:, 1],
        "word": [vectors.items[i] for i in idx] * 2,
        "model": ["teacher"] * n + ["student"] * n,
        "group": [vectors.groups[i] for i in idx] * 2,
        "highlighted": [vectors.items[i] in found for i in idx] * 2,
    }
)
chart = charts.projection_scatter(frame, title=f"Teacher and student in the same 2-D map ({shown}, {n:,} words)")
show_chart(chart, frame, EXPLAIN["projection"], key="projection", file_stem=f"projection_{shown.lower()}")

if found:
    skip = offensive_indices(vectors.items) if polite else set()
    st.subheader("Nearest neighbours")
    st.caption(
        "The words closest in meaning to each highlighted word, according to the teacher and to the student. "
        "The more the two lists share, the better the student imitates the teacher."
        + (" Offensive words are left out of these lists." if skip else "")
    )
    for word in found:
        teacher_nn = nearest(vectors.teacher, vectors.items, word, 8, skip=skip)
        student_nn = nearest(vectors.student, vectors.items, word, 8, skip=skip)
        shared = len({w for w, _ in teacher_nn} & {w for w, _ in student_nn})
        st.markdown(f"**{literal(word)}** — {vectors.groups[index[word]]} word; {shared} of 8 neighbours shared")
        table = pl.DataFrame(
            {
                "rank": list(range(1, 9)),
                "teacher's neighbour": [w for w, _ in teacher_nn],
                "teacher cosine": [round(s, 3) for _, s in teacher_nn],
                "student's neighbour": [w for w, _ in student_nn],
                "student cosine": [round(s, 3) for _, s in student_nn],
            }
        )
        st.dataframe(table, hide_index=True, width="stretch")
