"""Cached loaders around the engine, one per process and shared by every session: the job board, spaCy, the
default words, a run's vectors and evaluation, the projection cache and UMAP in the background, the prepared data
(with the teacher queries it counted), the runs this person may see and may change."""

from __future__ import annotations

import threading

import polars as pl
import streamlit as st

from core import warm
from core.config import LemmaMode
from core.data.corpus import Vocabulary, default_word_list
from core.data.lemmatize import LemmaResult, load_lemmatizer
from core.errors import LabError
from core.evaluation.projection import ProjectionCache
from core.jobs import JobBoard
from core.paths import cache_dir, runs_dir
from core.runs.evaluated import RunVectors, run_vectors
from core.runs.experiment import PreparedData, lemmatize
from core.runs.prepared import PreparedCache
from core.runs.store import RUN_ID, list_runs, load_run
from core.runs.visibility import visible_runs
from core.teachers.teacher import teacher_id_for
from pages._frame import host_settings
from pages._keys import K
from pages._teachers import cached_teacher
from pages._waits import lab, share_step, warm_up

# ---- cached loaders (one per process, shared by every session) ---------------------------------


@st.cache_resource(show_spinner=False)
def job_board() -> JobBoard:
    from core.runs.store import recover_interrupted

    recover_interrupted(runs_dir())  # once per server start: runs a killed server was training keep their epochs

    try:  # the host's limits and executor: local threads, or Ray tasks (core.runs.executors)
        return JobBoard.for_host(runs_dir(), host_settings(), lab=lab())
    except LabError as err:  # Ray asked for but not installed or not reachable: one sentence, nothing cached
        st.error(str(err))
        st.stop()


@st.cache_resource(show_spinner="Loading spaCy…")
def lemmatizer(mode: LemmaMode):
    return load_lemmatizer(mode)


@st.cache_resource(show_spinner="Loading the 10,000 common English words…")
def default_words() -> Vocabulary:
    return default_word_list()  # the engine's one default list (the story and the warm-up read the same)


@st.cache_resource(show_spinner="Lemmatizing…", max_entries=16)
def lemma_result(label: str, mode: LemmaMode, _words: tuple[str, ...]) -> LemmaResult:
    # `label` (source, size and content hash of the word list) stands for `_words` in the key.
    nlp = lemmatizer(mode) if mode is not LemmaMode.NONE else None
    return lemmatize(_words, mode, nlp)


@st.cache_resource(show_spinner=False)
def projection_cache() -> ProjectionCache:
    return ProjectionCache(cache_dir() / "projections")


def umap_warm_up():
    """Start the server's warm-up once per process (pages/_waits.py: compiled kernels, UMAP, the default
    words' and sentences' vectors under both teachers, the cheap models' features), in one background thread."""
    return warm_up()


def _stamp(run_id: str) -> int:
    """When the run was last written (a run in training is rewritten every few seconds): part of the cache
    keys below, so a cached view never outlives the run it shows."""
    from core.runs.store import check_run_id

    check_run_id(run_id)  # a bad id is the store's sentence here, as before; the stamp itself is the engine's
    return warm.run_stamp(run_id)


@st.cache_resource(show_spinner="Loading the run…", max_entries=8)
def _vectors_for_run(run_id: str, stamp: int) -> RunVectors:
    return run_vectors(load_run(runs_dir(), run_id), cache_dir() / "teachers")


def run_stamp(run_id: str) -> int:
    """When a run was last written (its run.json's mtime; 0 when unreadable): `core.warm.run_stamp`, as the pages
    key what they keep of a run."""
    return _stamp(run_id) if run_id and RUN_ID.match(run_id) else 0


def vectors_for_run(run_id: str) -> RunVectors:
    return _vectors_for_run(run_id, _stamp(run_id))


@st.cache_data(show_spinner=False, max_entries=64)
def _run_evaluation(run_id: str, scope: str, stamp: int) -> dict:
    from core.runs.evaluated import stored_evaluation

    return stored_evaluation(load_run(runs_dir(), run_id), cache_dir() / "teachers", scope)


def run_evaluation(run_id: str, scope: str = "heldout") -> dict:
    """A stored run's scores beside its teacher and the baseline (kept in the run folder)."""
    return _run_evaluation(run_id, scope, _stamp(run_id))


@st.cache_data(show_spinner=False, max_entries=16)
def model_cost_ms(name: str, words: tuple[str, ...]) -> float:
    """Milliseconds per 1,000 words of a model (the model itself, not its cache), measured once."""
    from core.teachers.teacher import ms_per_1k

    return ms_per_1k(cached_teacher(name).teacher, words, sample=256)


def runs_table() -> pl.DataFrame:
    """The runs this person may see: all of them on a personal machine; hosted, their own plus the gallery."""
    settings = host_settings()
    return visible_runs(list_runs(runs_dir()), st.session_state.get(K.OWNER, ""), settings.hosted, settings.gallery)


def start_job(key: str, launch) -> bool:
    """Start a background job (`launch()` returns it) and remember it under `key`; a full queue or this
    person's limit becomes a warning, not a traceback."""
    from core.jobs import QueueFull

    try:
        st.session_state[key] = launch().job_id
    except QueueFull as err:
        st.warning(str(err))
        return False
    return True


def owns(row_or_meta: dict) -> bool:
    """May this person delete / share the run? Everyone on a personal machine; hosted, only its owner."""
    return not host_settings().hosted or row_or_meta.get("owner", "") == st.session_state.get(K.OWNER)


# ---- preparing data ---------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def prepared_registry() -> PreparedCache:
    """The server's prepared data (`core.runs.prepared`): one copy per setup for every session, the 8 most recent."""
    return PreparedCache(size=8)


def prepare_data(teacher_name: str, vocab: Vocabulary, mode: LemmaMode, progress=None) -> PreparedData:
    """Lemmatize and get every item's teacher vector (shared by every session, then the disk cache), counting in the
    session the teacher answers this call paid for and those it did not. The shared arrays are read-only."""
    # the warm-up computes exactly the default words' vectors: wait on it (saying so) rather than compute them twice
    warming = mode is LemmaMode.NONE and vocab.source == "default"
    got = prepared_registry().prepare(
        (teacher_name, vocab.label, mode),
        lambda: cached_teacher(teacher_name),
        lambda: lemma_result(vocab.label, mode, tuple(vocab.words)),
        mode,
        progress,
        before=(lambda: share_step(f"{teacher_name}-words", progress, say=st.info)) if warming else None,
        # a teacher whose answers are all on disk is not loaded (a paid API's id depends on its settings: asked as is)
        disk=None if teacher_name.startswith("api:") else (cache_dir() / "teachers", teacher_id_for(teacher_name)),
    )
    st.session_state[K.QUERIES] += got.queried
    st.session_state[K.CACHED] += got.cached
    return got.data


def prepare(teacher_name: str, vocab: Vocabulary, mode: LemmaMode, progress=None) -> PreparedData:
    """`prepare_data`, made the session's current setup."""
    prepared = prepare_data(teacher_name, vocab, mode, progress)
    st.session_state[K.PREPARED] = prepared
    st.session_state[K.TEACHER] = teacher_name
    st.session_state[K.VOCAB] = vocab
    st.session_state[K.LEMMA] = mode
    remember_setup(teacher_name, vocab, mode)
    return prepared


@st.cache_resource(show_spinner=False)
def _umap_jobs() -> dict:
    from collections import OrderedDict
    from concurrent.futures import ThreadPoolExecutor

    return {
        "executor": ThreadPoolExecutor(max_workers=1, thread_name_prefix="umap"),
        "futures": OrderedDict(),
        "lock": threading.Lock(),
    }


UMAP_FUTURES_KEPT = 64  # finished projections remembered (their maps are on disk): a class's server stays bounded


def umap_in_background(x, key: str):
    """Start (once per key, for everyone) a UMAP projection that lands in the disk cache under `key`. The futures of
    the last `UMAP_FUTURES_KEPT` keys are remembered; older finished ones are forgotten (the page reads their maps from
    the disk cache before it asks here), so a server that draws maps all day keeps a bounded number of them."""
    from core.evaluation.projection import Method, project

    jobs = _umap_jobs()
    with jobs["lock"]:  # two visitors asking for the same map at once start one projection
        futures = jobs["futures"]
        future = futures.get(key)
        if future is None or (future.done() and future.exception() is not None and not future.cancelled()):
            future = jobs["executor"].submit(project, x, Method.UMAP, projection_cache(), key=key)
            futures[key] = future
        futures.move_to_end(key)
        for old in [k for k, f in futures.items() if f.done()][: max(0, len(futures) - UMAP_FUTURES_KEPT)]:
            del futures[old]
    return future


@st.cache_resource(show_spinner=False)
def setups() -> dict:
    """Server-wide: word lists by label (an uploaded list can be found again by its address), and each
    owner's last setup (hosted: a new tab without the setup in its address finds it by the person)."""
    from collections import OrderedDict

    return {"vocabularies": OrderedDict(), "by_owner": {}, "lock": threading.Lock()}


def remember_setup(teacher_name: str, vocab: Vocabulary, mode: LemmaMode) -> None:
    known = setups()
    with known["lock"]:
        known["vocabularies"][vocab.label] = vocab
        known["vocabularies"].move_to_end(vocab.label)
        while len(known["vocabularies"]) > 16:
            known["vocabularies"].popitem(last=False)
        known["by_owner"][st.session_state.get(K.OWNER, "")] = (teacher_name, vocab.label, mode)
