"""What every page shares: session keys, cached loaders around the engine, the sidebar, and
small rendering helpers. The engine (`core/`) never sees Streamlit; this file is the edge."""

from __future__ import annotations

import os
import secrets
import threading
import uuid

import polars as pl
import streamlit as st

from core import charts
from core.config import LemmaMode, StudentKind
from core.corpus import Vocabulary, default_vocabulary
from core.experiment import PreparedData, RunVectors, lemmatize, run_vectors
from core.jobs import JobBoard
from core.lemmatize import LemmaResult, load_lemmatizer
from core.paths import cache_dir, runs_dir
from core.projection import ProjectionCache
from core.store import list_runs, load_run
from core.hosting import HostSettings, load_host_settings, owner_id
from core.teacher import CachedTeacher, TeacherUnavailable, load_teacher


class K:
    """Session-state keys, in one place."""

    OWNER = "owner"  # a random id per browser session: jobs and query counts belong to it
    TEACHER = "teacher_name"  # 'minilm', 'mpnet' or a model name / folder
    VOCAB = "vocabulary"  # core.corpus.Vocabulary
    LEMMA = "lemma_mode"  # core.config.LemmaMode
    PREPARED = "prepared"  # core.experiment.PreparedData for (teacher, vocabulary, lemma mode)
    QUERIES = "teacher_queries_computed"  # teacher vectors this session paid for (cache misses)
    CACHED = "teacher_queries_cached"
    JOB = "job_id"  # the current training job
    RUN = "run_id"  # the run the comparison pages look at
    SWEEP = "sweep_job_id"  # the current sweep job


PAGES = {
    "start": "pages/start.py",
    "data": "pages/data.py",
    "train": "pages/train.py",
    "distributions": "pages/distributions.py",
    "projection": "pages/projection.py",
    "analogies": "pages/analogies.py",
    "runs": "pages/runs.py",
    "sweep": "pages/sweep.py",
    "evaluate": "pages/evaluate.py",
    "poisoning": "pages/poisoning.py",
    "adapters": "pages/adapters.py",
}

TEACHERS = {
    "minilm": "all-MiniLM-L6-v2 — bundled, 384 numbers per word, fast (default)",
    "mpnet": "all-mpnet-base-v2 — bundled, 768 numbers per word, ~6× slower, better",
}


def teacher_options() -> dict[str, str]:
    """The bundled teachers; a paid API when one is configured; the instant fake one when
    $EMBEDDING_LAB_FAKE_TEACHER is set."""
    options = dict(TEACHERS)
    env = api_env()
    if env.get("EMBEDDING_LAB_API_BASE"):
        model = env.get("EMBEDDING_LAB_API_MODEL") or "text-embedding-3-small"
        options[f"api:{model}"] = f"{model} — a paid API (OpenAI-compatible): each new word costs money, shown before any call"
    if os.environ.get("EMBEDDING_LAB_FAKE_TEACHER"):
        options["hash-32"] = "Fake teacher — instant random vectors (for testing the app)"
    return options


API_SECRETS = {"base_url": "EMBEDDING_LAB_API_BASE", "key": "EMBEDDING_LAB_API_KEY", "model": "EMBEDDING_LAB_API_MODEL",
               "price_per_million": "EMBEDDING_LAB_API_PRICE", "budget_usd": "EMBEDDING_LAB_API_BUDGET"}


def api_env() -> dict:
    """The environment plus Streamlit secrets' [api] table (base_url, key, model, price_per_million,
    budget_usd), secrets first. The key stays in memory: it is passed on, never stored."""
    env = dict(os.environ)
    try:
        table = dict(st.secrets.get("api", {}))
    except Exception:  # no secrets file, or an unreadable one: the environment alone
        table = {}
    env.update({API_SECRETS[k]: str(v) for k, v in table.items() if k in API_SECRETS})
    return env

LEMMA_LABELS = {
    LemmaMode.NONE: "Off — every word is its own item",
    LemmaMode.SPACY: "spaCy (accurate, ~2 s for 10k words)",
    LemmaMode.LOOKUP: "Lookup table (fastest, a few odd lemmas)",
}

# The paper's example pair, added to the default word list so the Projection preset works.
PAPER_PAIR = ("nonviolent", "antiaggressive")


@st.cache_resource(show_spinner=False)
def host_settings() -> HostSettings:
    """The hosting settings (core.hosting): read once per server; a bad value stops the app with a sentence."""
    return load_host_settings()


def current_user_email() -> str | None:
    try:
        return st.user.email if st.user.is_logged_in else None
    except (AttributeError, KeyError):  # no login configured
        return None


def init_session() -> None:
    ss = st.session_state
    if host_settings().hosted:
        # Who owns what: the logged-in user, else a token kept in the page's address, so a reload (or a
        # bookmark) finds the same runs again. A fresh tab without it is a new person.
        token = st.query_params.get("u") or ss.get("owner_token") or secrets.token_hex(8)
        try:
            ss[K.OWNER] = owner_id(current_user_email(), token)
        except ValueError:
            token = secrets.token_hex(8)
            ss[K.OWNER] = owner_id(current_user_email(), token)
        ss["owner_token"] = token
        if st.query_params.get("u") != token:
            st.query_params["u"] = token
    ss.setdefault(K.OWNER, uuid.uuid4().hex[:12])
    ss.setdefault(K.TEACHER, "minilm")
    ss.setdefault(K.LEMMA, LemmaMode.NONE)
    ss.setdefault(K.QUERIES, 0)
    ss.setdefault(K.CACHED, 0)


# ---- cached loaders (one per process, shared by every session) ---------------------------------


@st.cache_resource(show_spinner=False)
def job_board() -> JobBoard:
    from core.store import recover_interrupted

    recover_interrupted(runs_dir())  # once per server start: runs a killed server was training keep their epochs
    settings = host_settings()
    return JobBoard(runs_dir(), max_concurrent=settings.max_trainings, max_queue=settings.max_queue,
                    max_per_owner=settings.max_trainings_per_user if settings.hosted else None,
                    max_epochs=settings.max_epochs if settings.hosted else None)


@st.cache_resource(show_spinner="Loading the teacher model…")
def cached_teacher(name: str) -> CachedTeacher:
    if name.startswith("api:"):
        from core.api_teacher import load_api_teacher

        return CachedTeacher(load_api_teacher(name, env=api_env()), cache_dir() / "teachers")
    return CachedTeacher(load_teacher(name), cache_dir() / "teachers")


@st.cache_resource(show_spinner="Loading spaCy…")
def lemmatizer(mode: LemmaMode):
    return load_lemmatizer(mode)


@st.cache_resource(show_spinner="Loading the 10,000 common English words…")
def default_words(extra: tuple[str, ...] = PAPER_PAIR) -> Vocabulary:
    vocab = default_vocabulary()
    added = [w for w in extra if w not in set(vocab.words)]
    return Vocabulary(vocab.words + added, source="default")


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
    from pages._waits import warm_up

    return warm_up()


def _stamp(run_id: str) -> int:
    """When the run was last written (a run in training is rewritten every few seconds): part of the cache
    keys below, so a cached view never outlives the run it shows."""
    from core.store import check_run_id

    try:
        return (runs_dir() / check_run_id(run_id) / "run.json").stat().st_mtime_ns
    except OSError:
        return 0


@st.cache_resource(show_spinner="Loading the run…", max_entries=8)
def _vectors_for_run(run_id: str, stamp: int) -> RunVectors:
    return run_vectors(load_run(runs_dir(), run_id), cache_dir() / "teachers")


def vectors_for_run(run_id: str) -> RunVectors:
    return _vectors_for_run(run_id, _stamp(run_id))


@st.cache_data(show_spinner=False, max_entries=64)
def _run_evaluation(run_id: str, scope: str, stamp: int) -> dict:
    from core.experiment import stored_evaluation

    return stored_evaluation(load_run(runs_dir(), run_id), cache_dir() / "teachers", scope)


def run_evaluation(run_id: str, scope: str = "heldout") -> dict:
    """A stored run's scores beside its teacher and the baseline (kept in the run folder)."""
    return _run_evaluation(run_id, scope, _stamp(run_id))


@st.cache_data(show_spinner=False, max_entries=16)
def model_cost_ms(name: str, words: tuple[str, ...]) -> float:
    """Milliseconds per 1,000 words of a model (the model itself, not its cache), measured once."""
    from core.teacher import ms_per_1k

    return ms_per_1k(cached_teacher(name).teacher, words, sample=256)


def runs_table() -> pl.DataFrame:
    """The runs this person may see: all of them on a personal machine; hosted, their own plus the gallery."""
    table = list_runs(runs_dir())
    settings = host_settings()
    if settings.hosted:
        mine = pl.col("owner") == st.session_state.get(K.OWNER, "")
        table = table.filter(mine | pl.col("shared")) if settings.gallery else table.filter(mine)
    return table


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


class _PreparedRegistry:
    """One PreparedData per (teacher, word list, lemmatization) for the whole server, the 8 most recent: a
    class that starts from the default words holds one copy of the teacher's vectors, not one per person.
    (Not st.cache_resource: the computation draws a progress bar, which a cached function would replay.)"""

    def __init__(self, size: int = 8):
        from collections import OrderedDict

        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        return None

    def put(self, key, value) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


@st.cache_resource(show_spinner=False)
def prepared_registry() -> _PreparedRegistry:
    return _PreparedRegistry()


def prepare_data(teacher_name: str, vocab: Vocabulary, mode: LemmaMode, progress=None) -> PreparedData:
    """Lemmatize and get every item's teacher vector (shared by every session, then the disk cache),
    counting paid queries. The shared arrays are read-only."""
    key = (teacher_name, vocab.label, mode)
    registry = prepared_registry()
    prepared = registry.get(key)
    if prepared is None:
        teacher = cached_teacher(teacher_name)
        result = lemma_result(vocab.label, mode, tuple(vocab.words))
        if mode is LemmaMode.NONE and vocab.source == "default":
            from pages._waits import share_step

            # the warm-up computes exactly these vectors: wait on it (saying so) rather than compute them twice
            share_step(f"{teacher_name}-words", progress, say=st.info)
        before_computed, before_cached = teacher.computed, teacher.cached
        clean = teacher.embed(list(result.lemmas), progress=progress)
        clean.setflags(write=False)
        prepared = PreparedData(result, clean, teacher.id, mode)
        registry.put(key, prepared)
        st.session_state[K.QUERIES] += teacher.computed - before_computed
        st.session_state[K.CACHED] += teacher.cached - before_cached
    else:
        st.session_state[K.CACHED] += len(prepared.items)  # served from memory: no query at all
        if progress:
            progress(len(prepared.items), len(prepared.items))
    return prepared


def prepare(teacher_name: str, vocab: Vocabulary, mode: LemmaMode, progress=None) -> PreparedData:
    """`prepare_data`, made the session's current setup."""
    prepared = prepare_data(teacher_name, vocab, mode, progress)
    st.session_state[K.PREPARED] = prepared
    st.session_state[K.TEACHER] = teacher_name
    st.session_state[K.VOCAB] = vocab
    st.session_state[K.LEMMA] = mode
    return prepared


# ---- page furniture ---------------------------------------------------------------------------


def sidebar() -> None:
    ss = st.session_state
    with st.sidebar:
        st.markdown("#### Current setup")
        prepared: PreparedData | None = ss.get(K.PREPARED)
        vocab: Vocabulary | None = ss.get(K.VOCAB)
        if prepared is None:
            st.caption("No data prepared yet: start on **Data & teacher** or with **Try it** on the Start page.")
        else:
            st.markdown(
                f"**Teacher:** {prepared.teacher_id}  \n"
                f"**Vocabulary:** {vocab.source if vocab else '?'}, {len(prepared.lemma.words):,} words  \n"
                f"**Lemmatization:** {prepared.lemmatize.value} ({len(prepared.items):,} items)"
            )
        st.markdown(
            f"**Teacher queries this session:** {ss[K.QUERIES]:,} computed, {ss[K.CACHED]:,} from the cache",
            help="Computed = the teacher model actually ran (what an API would charge for). "
            "From the cache = answers computed earlier by anyone on this machine, free.",
        )
        job = job_board().get(ss.get(K.JOB))
        if job is not None and not job.done:
            st.markdown(f"**Training:** {job.config.model.label}, {charts.plural(job.config.epochs, 'epoch')}, in progress")
            st.page_link(PAGES["train"], label="Watch it on the Train page", icon=":material/model_training:")


def require_prepared() -> PreparedData:
    prepared = st.session_state.get(K.PREPARED)
    if prepared is None:
        st.info("First choose a vocabulary and compute the teacher's embeddings.")
        st.page_link(PAGES["data"], label="Go to Data & teacher", icon=":material/dataset:")
        st.page_link(PAGES["start"], label="…or use Try it on the Start page", icon=":material/rocket_launch:")
        st.stop()
    return prepared


def choose_run(label: str = "Run to look at", key: str = "run_select") -> str:
    """A run selector defaulting to the session's latest run; stops the page if there are none."""
    table = runs_table()
    if table.is_empty():
        st.info("There are no trained runs yet.")
        st.page_link(PAGES["train"], label="Train a student first", icon=":material/model_training:")
        st.stop()
    ids = table["run_id"].to_list()
    labels = {r["run_id"]: run_label(r) for r in table.iter_rows(named=True)}
    current = st.session_state.get(K.RUN)
    index = ids.index(current) if current in ids else 0
    chosen = st.selectbox(label, ids, index=index, format_func=lambda r: labels[r], key=key)
    st.session_state[K.RUN] = chosen
    return chosen


def chosen_run_vectors() -> RunVectors:
    """The run selector, then that run's teacher and student vectors; stops the page with a
    sentence and a link when the teacher's vectors are not cached on this machine."""
    run_id = choose_run()
    try:
        return vectors_for_run(run_id)
    except TeacherUnavailable as err:
        st.error(str(err))
        st.page_link(PAGES["data"], label="Go to Data & teacher", icon=":material/dataset:")
        st.stop()
    except (ValueError, OSError) as err:  # a run folder changed or damaged on disk: say so, keep the rest usable
        st.error(f"This run cannot be read: {err} Choose another run.")
        st.stop()


def run_label(row: dict) -> str:
    parts = [StudentKind.parse(row["model"]).label, f"p = {row['p']:g}", charts.plural(row['epochs'], 'epoch'), row["teacher"]]
    if row["lemmatize"] != "none":
        parts.append(f"lemmas ({row['lemmatize']})")
    if row["poison"]:
        parts.append(f"{row['poison']:.0%} poisoned")
    if row.get("status") == "stopped":
        parts.append("stopped early")
    elif row.get("status") == "interrupted":
        parts.append("interrupted (server stopped)")
    elif row.get("status") == "running":
        parts.append("training now")
    # the run id's random ending tells apart two runs with the same settings made in the same minute
    return " · ".join(parts) + f" · {row['created'][5:16].replace('T', ' ')} · #{str(row.get('run_id', ''))[-4:]}"


def show_chart(chart, frame: pl.DataFrame, explain: str, key: str, file_stem: str) -> None:
    """A chart with its one-sentence explanation and downloads (SVG picture, CSV data)."""
    st.caption(explain)
    plot_height = getattr(chart, "height", None)
    if isinstance(plot_height, int):
        # A single container-wide view needs its full height from Streamlit (title, axis and
        # legend included), or Vega squeezes the plot into what is left and drops the title.
        st.altair_chart(chart, width="stretch", height=plot_height + 120)
    else:
        st.altair_chart(chart, width="stretch")
    left, right, _ = st.columns([1, 1, 2])
    left.download_button("Download picture (SVG)", data=lambda: charts.to_svg(chart), file_name=f"{file_stem}.svg",
                         mime="image/svg+xml", key=f"{key}_svg", on_click="ignore", icon=":material/image:", width="stretch")
    right.download_button("Download data (CSV)", data=lambda: charts.safe_csv(frame), file_name=f"{file_stem}.csv",
                          mime="text/csv", key=f"{key}_csv", on_click="ignore", icon=":material/table:", width="stretch")


@st.cache_resource(show_spinner=False)
def _umap_jobs() -> dict:
    from concurrent.futures import ThreadPoolExecutor

    return {"executor": ThreadPoolExecutor(max_workers=1, thread_name_prefix="umap"), "futures": {}}


def umap_in_background(x, key: str):
    """Start (once per key, for everyone) a UMAP projection that lands in the disk cache."""
    from core.projection import Method, project

    jobs = _umap_jobs()
    future = jobs["futures"].get(key)
    if future is None or (future.done() and future.exception() is not None and not future.cancelled()):
        future = jobs["executor"].submit(project, x, Method.UMAP, projection_cache())
        jobs["futures"][key] = future
    return future
