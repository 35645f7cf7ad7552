"""Data & teacher: choose the vocabulary, lemmatization and teacher; compute the teacher's vectors.

What a user brings (their words, their file's name, a teacher name) is shown as text, never as Markdown: lists go to
st.text, sentences that quote them through `literal` (pages/_plain.py).
"""

from pages._frame import through_app

through_app()  # run bare (a fresh server's first request for this address)? then through app.py

import polars as pl
import streamlit as st

from core.config import LemmaMode
from core.data.corpus import VocabularyError, csv_columns, parse_vocabulary
from core.data.lemmatize import LemmatizerUnavailable
from core.errors import LabError
from core.teachers.teacher import TeacherUnavailable
from pages._plain import literal
from pages._shared import (
    LEMMA_LABELS,
    PAGES,
    K,
    address_state,
    cached_teacher,
    default_words,
    host_settings,
    lemma_result,
    one_of,
    prepare,
    teacher_options,
    text,
)

ss = st.session_state


def size_text(n: int) -> str:
    return f"{n:,} bytes" if n < 10_000 else f"{n / 2**10:,.0f} KB" if n < 10 * 2**20 else f"{n / 2**20:,.1f} MB"


def storage_sentence(err: Exception) -> str:
    """The lab's own errors are already a sentence; a bare OSError is told in one."""
    if isinstance(err, LabError):
        return literal(str(err))
    where = f" ({literal(err.filename)})" if getattr(err, "filename", None) else ""
    return f"The lab cannot write its files{where}: {literal(err.strerror or err)}. Ask whoever runs the lab to make its home folder writable."


st.title("Data & teacher")
address_state(
    {"vocab_source": one_of("default", "upload"), "lemma_choice": one_of(*LemmaMode), "teacher_choice": text(300)}
)  # the page's choices live in its address: a link reproduces the view
st.write("Choose the words, whether to merge word forms, and which expensive model plays the teacher.")

# ---- vocabulary -----------------------------------------------------------------------------
st.subheader("1. Vocabulary")
source = st.radio(
    "Words to work with",
    ["default", "upload"],
    format_func={
        "default": "10,000 common English words (plus the paper's pair nonviolent / antiaggressive)",
        "upload": "My own list (.txt one word per line, or .csv)",
    }.get,
    key="vocab_source",
)
vocab = None
if source == "default":
    vocab = default_words()
else:
    limits = host_settings()
    upload = st.file_uploader(
        "Upload a word list",
        type=["txt", "csv"],
        key="vocab_upload",
        help=f"UTF-8 or UTF-16 text. Up to {limits.max_words:,} words and {limits.max_upload_mb:g} MB.",
    )
    if upload is not None:
        data = upload.getvalue()
        # A file over Streamlit's own upload cap is refused in the browser (the box says so under it) and the box
        # keeps the previous file as its value; naming the file in use makes that visible instead of silent.
        st.caption(
            f"In use: {literal(upload.name)} ({size_text(len(data))}). A file the box refuses does not replace it."
        )
        column = None
        if upload.name.lower().endswith(".csv"):
            columns = csv_columns(data)
            if columns:
                column = st.selectbox("Column that holds the words", columns, key="vocab_column")
        try:
            vocab = parse_vocabulary(
                data, upload.name, column, max_bytes=limits.max_upload_bytes, max_items=limits.max_words
            )
        except VocabularyError as err:
            st.error(literal(str(err)))
if vocab is None:
    st.info("Upload a word list to continue, or choose the default words.")
    st.stop()
st.success(literal(vocab.summary()))  # its examples of dropped items are the user's words
with st.expander(f"See the first words of '{literal(vocab.source)}'"):
    st.text(", ".join(vocab.words[:200]) + (" …" if len(vocab.words) > 200 else ""))

# ---- lemmatization --------------------------------------------------------------------------
st.subheader("2. Lemmatization")
st.caption(
    "Merging forms of a word before anything else (fighting → fight, was → be): fewer teacher queries, as in the paper."
)
modes = list(LemmaMode)
mode = st.radio(
    "Lemmatization",
    modes,
    index=modes.index(ss[K.LEMMA]),
    format_func=LEMMA_LABELS.get,
    key="lemma_choice",
    horizontal=True,
)
try:
    result = lemma_result(vocab.label, mode, tuple(vocab.words))
except LemmatizerUnavailable as err:
    st.error(str(err))
    st.stop()
if mode is not LemmaMode.NONE:
    st.write(f"**{literal(result.summary())}**")
    merges = result.merges()
    preview = pl.DataFrame(
        {
            "lemma": list(merges),
            "merged words": [", ".join(ws) for ws in merges.values()],
            "count": [len(ws) for ws in merges.values()],
        }
    ).sort("count", descending=True)
    st.dataframe(preview.head(200), hide_index=True, height=220, width="stretch")

# ---- teacher --------------------------------------------------------------------------------
st.subheader("3. Teacher")
teachers = teacher_options()
options = [*teachers, "custom"]
current = ss[K.TEACHER] if ss[K.TEACHER] in teachers else "custom"
choice = st.selectbox(
    "Teacher model",
    options,
    index=options.index(current),
    format_func=lambda o: teachers.get(o, "Another sentence-transformers model (name or folder)"),
    key="teacher_choice",
)
teacher_name = choice
if choice == "custom":
    teacher_name = st.text_input(
        "Model name or local folder",
        value="" if current != "custom" else ss[K.TEACHER],
        placeholder="e.g. sentence-transformers/all-MiniLM-L12-v2 (needs internet) or /path/to/model",
        key="teacher_custom",
    ).strip()
    if not teacher_name:
        st.stop()

try:
    teacher = cached_teacher(teacher_name)
    missing_texts = teacher.missing(list(result.lemmas))
except (TeacherUnavailable, ValueError) as err:  # ValueError: a name the loader refuses, e.g. hash-99999
    st.error(literal(str(err)))
    st.stop()
except (LabError, OSError) as err:  # the lab's home or its cache cannot be written (read-only, full, locked)
    st.error(storage_sentence(err))
    st.stop()
missing = len(missing_texts)
items = len(result.lemmas)
paid = getattr(teacher.teacher, "estimate", None)
allowed = True
if missing and paid is not None:
    try:
        est = paid(missing_texts)
    except TeacherUnavailable as err:  # e.g. an unreadable spending record: no call until it is fixed
        st.error(str(err))
        st.stop()
if missing == 0:
    st.success(
        f"All {items:,} teacher answers are already cached on this machine: preparing is instant and costs no queries."
    )
elif paid is None:
    st.info(
        f"{items - missing:,} of {items:,} answers are cached; {missing:,} will be computed now "
        f"(the teacher model runs on this computer; each answer is cached for next time)."
    )
else:
    over = est["spent_usd"] + est["usd"] > est["budget_usd"]
    (st.error if over else st.warning)(
        f"{items - missing:,} of {items:,} answers are cached. The other {missing:,} words cost about **${est['usd']:.4f}** "
        f"(about {est['tokens']:,} tokens). Spent so far: ${est['spent_usd']:.4f} of the ${est['budget_usd']:.2f} cap"
        + (" — this would go over it: use fewer words, or raise the cap (EMBEDDING_LAB_API_BUDGET)." if over else ".")
    )
    allowed = not over and st.checkbox(f"Spend about ${est['usd']:.4f} on the API", key="api_accept_cost")

if st.button("Compute teacher embeddings", type="primary", key="prepare", disabled=not allowed):
    bar = st.progress(0.0, text="Starting…")
    try:
        prepared = prepare(
            teacher_name,
            vocab,
            mode,
            progress=lambda done, total: bar.progress(
                done / max(total, 1), text=f"Teacher embeddings: {done:,} of {total:,}"
            ),
        )
    except TeacherUnavailable as err:
        st.error(str(err))
        st.stop()
    except (LabError, OSError) as err:
        st.error(storage_sentence(err))
        st.stop()
    bar.empty()
    st.session_state["prepared_note"] = (
        f"Ready: {len(prepared.items):,} items × {prepared.clean.shape[1]} numbers from {prepared.teacher_id}."
    )

prepared = ss.get(K.PREPARED)
if prepared is not None:
    st.success(ss.get("prepared_note") or f"Ready: {len(prepared.items):,} items from {prepared.teacher_id}.")
    st.page_link(PAGES["train"], label="Next: train a student", icon=":material/model_training:")
