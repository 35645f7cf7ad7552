"""What every page shares: session keys, cached loaders around the engine, the sidebar, and
small rendering helpers. The engine (`core/`) never sees Streamlit; this file is the edge."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import threading
import uuid

import polars as pl
import streamlit as st

from core import charts, story, warm
from core.config import LemmaMode, StudentKind
from core.data.corpus import Vocabulary, default_word_list
from core.data.lemmatize import LemmaResult, load_lemmatizer
from core.errors import LabError
from core.evaluation.projection import ProjectionCache
from core.jobs import JobBoard
from core.paths import cache_dir, runs_dir
from core.runs.experiment import PreparedData, RunVectors, lemmatize, run_vectors
from core.runs.hosting import owner_id
from core.runs.store import RUN_ID, list_runs, load_run
from core.runs.visibility import default_run, visible_runs
from core.teachers.teacher import TeacherUnavailable
from pages._frame import PAGES, current_user_email, host_settings
from pages._identity import identity_sidebar, nicknames, note_visit, signed_in
from pages._plain import literal
from pages._teachers import api_env, cached_teacher
from pages._waits import share_step, warm_up


class K:
    """Session-state keys, in one place."""

    OWNER = "owner"  # a random id per browser session: jobs and query counts belong to it
    TEACHER = "teacher_name"  # 'minilm', 'mpnet' or a model name / folder
    VOCAB = "vocabulary"  # core.data.corpus.Vocabulary
    LEMMA = "lemma_mode"  # core.config.LemmaMode
    PREPARED = "prepared"  # core.runs.experiment.PreparedData for (teacher, vocabulary, lemma mode)
    QUERIES = "teacher_queries_computed"  # teacher vectors this session paid for (cache misses)
    CACHED = "teacher_queries_cached"
    JOB = "job_id"  # the current training job
    RUN = "run_id"  # the run the comparison pages look at
    SWEEP = "sweep_job_id"  # the current sweep job


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
        options[f"api:{model}"] = (
            f"{model} — a paid API (OpenAI-compatible): each new word costs money, shown before any call"
        )
    if os.environ.get("EMBEDDING_LAB_FAKE_TEACHER"):
        options["hash-32"] = "Fake teacher — instant random vectors (for testing the app)"
    return options


LEMMA_LABELS = {
    LemmaMode.NONE: "Off — every word is its own item",
    LemmaMode.SPACY: "spaCy (accurate, ~2 s for 10k words)",
    LemmaMode.LOOKUP: "Lookup table (fastest, a few odd lemmas)",
}

# The paper's example pair, added to the default word list so the Projection preset works.


def init_session() -> None:
    ss = st.session_state
    who = signed_in()  # login = true: the provider's subject is the person, on any browser (pages/_identity.py)
    if who is not None:
        ss[K.OWNER] = who.owner
    elif host_settings().hosted:
        # Who owns what without a sign-in: a token kept in the page's address, so a reload (or a bookmark) finds the
        # same runs again. A fresh tab without it is a new person (the teacher can give them their link again).
        ss.setdefault("owner_token_fresh", not st.query_params.get("u"))  # a first visit: tell them their link
        token = st.query_params.get("u") or ss.get("owner_token") or secrets.token_hex(8)
        try:
            ss[K.OWNER] = owner_id(None, token)
        except ValueError:
            token = secrets.token_hex(8)
            ss[K.OWNER] = owner_id(None, token)
        ss["owner_token"] = token
        if st.query_params.get("u") != token:
            st.query_params["u"] = token
    ss.setdefault(K.OWNER, uuid.uuid4().hex[:12])
    ss.setdefault(K.TEACHER, "minilm")
    ss.setdefault(K.LEMMA, LemmaMode.NONE)
    ss.setdefault(K.QUERIES, 0)
    ss.setdefault(K.CACHED, 0)
    ss["_address_keys"] = {}  # the page's address_state names this run's
    if not ss.get("_address_read"):  # the session's first run: what the address asks for
        ss["_address_read"] = True
        if st.query_params.get("presenter", "").lower() in ("1", "true", "yes", "on"):
            ss["presenter_mode"] = True
        run_id = st.query_params.get("run", "")
        if run_id and RUN_ADDRESS.match(run_id):
            ss[K.RUN] = run_id  # the pages check it against the runs this person may see
    _set_param("presenter", "1" if ss.get("presenter_mode") else None)
    if who is not None or host_settings().hosted:
        note_visit(ss[K.OWNER])  # the class board's 'who is here now'
        identity_sidebar(ss[K.OWNER])  # signed in as … / sign out; the nickname classmates see
    restore_setup()


# ---- cached loaders (one per process, shared by every session) ---------------------------------


@st.cache_resource(show_spinner=False)
def job_board() -> JobBoard:
    from core.runs.store import recover_interrupted

    recover_interrupted(runs_dir())  # once per server start: runs a killed server was training keep their epochs

    try:  # the host's limits and executor: local threads, or Ray tasks (core.runs.executors)
        return JobBoard.for_host(runs_dir(), host_settings())
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
    return _stamp(run_id) if run_id and RUN_ADDRESS.match(run_id) else 0


def vectors_for_run(run_id: str) -> RunVectors:
    return _vectors_for_run(run_id, _stamp(run_id))


@st.cache_data(show_spinner=False, max_entries=64)
def _run_evaluation(run_id: str, scope: str, stamp: int) -> dict:
    from core.runs.experiment import stored_evaluation

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
            # the warm-up computes exactly these vectors: wait on it (saying so) rather than compute them twice
            share_step(f"{teacher_name}-words", progress, say=st.info)
        # This call's own counts, from the cache before it runs: the teacher's counters are shared by every
        # session and the warm-up, so a before/after difference also counted their work (10,002 words read
        # once were reported as 20,004 from the cache while the warm-up read the same words).
        lemmas = list(result.lemmas)
        to_compute = len(teacher.missing(lemmas))
        clean = teacher.embed(lemmas, progress=progress)
        clean.setflags(write=False)
        prepared = PreparedData(result, clean, teacher.id, mode)
        registry.put(key, prepared)
        st.session_state[K.QUERIES] += to_compute
        st.session_state[K.CACHED] += len(lemmas) - to_compute
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
    _remember_setup(teacher_name, vocab, mode)
    return prepared


# ---- page furniture ---------------------------------------------------------------------------


def sidebar() -> None:
    ss = st.session_state
    presenter_switch()
    personal_link_notice()
    with st.sidebar:
        # The mode lives in a plain key: a widget's own value is dropped on a run that does not draw it.
        ss["presenter_toggle"] = bool(ss.get("presenter_mode"))
        st.toggle(
            "Presenter mode",
            key="presenter_toggle",
            on_change=lambda: ss.__setitem__("presenter_mode", ss["presenter_toggle"]),
            help="Hides this sidebar and every page's settings for an audience (charts and tables stay); the key P "
            "switches it on and off, and the address keeps it (?presenter=1), so a link opens in the same mode.",
        )
        st.markdown("#### Current setup")
        prepared: PreparedData | None = ss.get(K.PREPARED)
        vocab: Vocabulary | None = ss.get(K.VOCAB)
        if prepared is None:
            st.caption(
                "No data prepared yet: start on **Data & teacher**, or with **Train my first students** on the Start page."
            )
            if ss.get(SETUP_NOTE):
                st.caption(ss[SETUP_NOTE])
        else:
            st.markdown(
                f"**Teacher:** {prepared.teacher_id}  \n"
                f"**Vocabulary:** {literal(vocab.source) if vocab else '?'}, {len(prepared.lemma.words):,} words  \n"
                f"**Lemmatization:** {prepared.lemmatize.value} ({len(prepared.items):,} items)"
            )
        st.markdown(
            f"**Teacher queries this session:** {ss[K.QUERIES]:,} computed, {ss[K.CACHED]:,} from the cache",
            help="Computed = the teacher model actually ran (what an API would charge for). "
            "From the cache = answers computed earlier by anyone on this machine, free.",
        )
        job = job_board().get(ss.get(K.JOB))
        if job is not None and not job.done:
            st.markdown(
                f"**Training:** {job.config.model.label}, {charts.plural(job.config.epochs, 'epoch')}, in progress"
            )
            st.page_link(PAGES["train"], label="Watch it on the Train page", icon=":material/model_training:")


def require_prepared() -> PreparedData:
    prepared = st.session_state.get(K.PREPARED)
    if prepared is None:
        st.info("First choose a vocabulary and compute the teacher's embeddings.")
        st.page_link(PAGES["data"], label="Go to Data & teacher", icon=":material/dataset:")
        st.page_link(
            PAGES["start"], label="…or press Train my first students on the Start page", icon=":material/rocket_launch:"
        )
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
    if st.session_state.pop("_door_pick", False) and st.session_state.get(K.RUN) in ids:
        st.session_state[key] = st.session_state[K.RUN]  # opened by a door: its run, whatever was picked before
    elif st.session_state.get(key) not in ids:  # first visit, or the picked run is gone: the default run
        st.session_state[key] = default_run_of(table)
    # The value lives in Session State only (no index=): both at once make Streamlit warn on every door.
    chosen = st.selectbox(label, ids, format_func=lambda r: labels[r], key=key)
    st.session_state[K.RUN] = chosen
    _set_param("run", chosen)
    return chosen


def default_run_of(table: pl.DataFrame) -> str | None:
    """The run a picker over `table` starts on (core.runs.visibility.default_run): the session's run, else this
    person's newest; never a classmate's shared run while they have one of their own."""
    owner, hosted, chosen = st.session_state.get(K.OWNER, ""), host_settings().hosted, st.session_state.get(K.RUN)
    return default_run(table, owner, hosted, chosen, preferred=story_pair_b(table))


def story_pair_b(table: pl.DataFrame) -> str | None:
    """The story's Model B run of the pair in `table` (the one the warm-up computed every page for), or None."""
    try:
        return story.find_story_runs(table, story.StorySettings.from_env()).run_id(StudentKind.B)
    except (LabError, OSError, ValueError):  # a story setting that does not parse: no preference, no error
        return None


def chosen_run_vectors(run_id: str | None = None) -> RunVectors:
    """The run selector (or the run `run_id` a page chose itself), then that run's teacher and student vectors;
    stops the page with a sentence and a link when the teacher's vectors are not cached on this machine."""
    run_id = run_id or choose_run()
    try:
        return vectors_for_run(run_id)
    except TeacherUnavailable as err:
        st.error(str(err))
        st.page_link(PAGES["data"], label="Go to Data & teacher", icon=":material/dataset:")
        st.stop()
    except (LabError, ValueError, OSError) as err:  # damaged or unreadable on disk: say so, keep the rest usable
        st.error(cannot_read(err))
        st.stop()


def cannot_read(err: BaseException) -> str:
    """The sentence a page shows for a run it cannot open (DamagedData says which file and why): as typed, since
    it may quote a value of an imported file."""
    return literal(f"This run cannot be read: {err} Choose another run.")


def run_label(row: dict) -> str:
    parts = [f"“{row['name']}”"] if row.get("name") else []
    parts += [
        StudentKind.parse(row["model"]).label,
        f"p = {row['p']:g}",
        charts.plural(row["epochs"], "epoch"),
        row["teacher"],
    ]
    if row.get("selection", "random") != "random":
        parts.append(f"{row['selection']} words")
    if row.get("seed"):
        parts.append(f"seed {row['seed']}")
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
    if origin := run_origin(row):
        parts.append(origin)
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
    download_buttons(chart, frame, file_stem, key)


def download_buttons(chart, frame, file_stem: str, key: str) -> None:
    """The picture (SVG) and the data (CSV) of a chart, side by side under it; made only when clicked."""
    left, right, _ = st.columns([1, 1, 2])
    left.download_button(
        "Download picture (SVG)",
        data=lambda: charts.to_svg(chart),
        file_name=f"{file_stem}.svg",
        mime="image/svg+xml",
        key=f"{key}_svg",
        on_click="ignore",
        icon=":material/image:",
        width="stretch",
    )
    right.download_button(
        "Download data (CSV)",
        data=lambda: charts.safe_csv(frame),
        file_name=f"{file_stem}.csv",
        mime="text/csv",
        key=f"{key}_csv",
        on_click="ignore",
        icon=":material/table:",
        width="stretch",
    )


@st.cache_resource(show_spinner=False)
def _umap_jobs() -> dict:
    from concurrent.futures import ThreadPoolExecutor

    return {"executor": ThreadPoolExecutor(max_workers=1, thread_name_prefix="umap"), "futures": {}}


def umap_in_background(x, key: str):
    """Start (once per key, for everyone) a UMAP projection that lands in the disk cache under `key`."""
    from core.evaluation.projection import Method, project

    jobs = _umap_jobs()
    future = jobs["futures"].get(key)
    if future is None or (future.done() and future.exception() is not None and not future.cancelled()):
        future = jobs["executor"].submit(project, x, Method.UMAP, projection_cache(), key=key)
        jobs["futures"][key] = future
    return future


# ---- the page address: a link reproduces the view ---------------------------------------------
# Each page names its widget keys once (`address_state`); their values are copied from the address on the
# page's first run in a session and written back on every run. The data setup (teacher, vocabulary,
# lemmatization), the run (`?run=`), presenter mode (`?presenter=1`) and, hosted, the person (`?u=`) are
# kept by init_session on every page. Streamlit's own bind="query-params" names the parameter after the
# widget's key and writes a selectbox's *label*; runs need their id, and the setup is no widget at all.

SETUP_NOTE = "setup_note"  # one sentence: why the address's setup could not be rebuilt
ADDRESS_NAMES = {"highlight": "words", "runs_picked": "runs", "dist_runs": "runs"}  # widget key -> shorter address name
RUN_ADDRESS = RUN_ID  # a run id in an address: the store's own pattern (one definition; no second, looser copy)


def _address_text(value) -> str:
    from enum import Enum

    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _set_param(name: str, value) -> None:
    """Write one address parameter (a list: repeated), only when it changes; None or [] removes it."""
    params = st.query_params
    if value is None or (isinstance(value, (list, tuple)) and not value):
        if name in params:
            del params[name]
        return
    if isinstance(value, (list, tuple)):
        texts = [_address_text(v) for v in value]
        if params.get_all(name) != texts:
            params[name] = texts
    elif params.get(name) != _address_text(value):
        params[name] = _address_text(value)


def between(low, high, kind=float):
    """An address converter for a number widget: `between(0.0, 0.5)('0.1') -> 0.1`; out of range raises ValueError."""

    def parse(text: str):
        value = kind(text)
        if not low <= value <= high:
            raise ValueError(f"{value} is not between {low} and {high}")
        return value

    return parse


def one_of(*choices):
    """An address converter for a choice widget: the choice whose address text is the parameter
    (`one_of(LemmaMode.NONE, LemmaMode.SPACY)('spacy') -> LemmaMode.SPACY`)."""

    def parse(text: str):
        for choice in choices:
            if _address_text(choice) == text:
                return choice
        raise ValueError(f"{text!r} is not a choice")

    return parse


def text(limit: int = 500):
    """An address converter for a text box of at most `limit` characters."""

    def parse(value: str) -> str:
        if len(value) > limit:
            raise ValueError("too long")
        return value

    return parse


def flag(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not on or off")


def address_state(keys: dict) -> None:
    """Keep these widgets' values in the page's address. `keys` maps a widget key to a converter from the
    address's text (`int`, `str`, `flag`, `between(…)`, `one_of(…)`; `[converter]` for a multiselect's list).
    On the page's first run in this session, each parameter that converts is put in session state before the
    widget is drawn; a bad one is dropped from the address, without a word. Every run writes the values back.

    >>> address_state({"highlight": str, "sample_size": between(200, 5000, int)})   # ?words=king,queen&sample_size=500
    """
    ss = st.session_state
    page = "_address_page_" + "|".join(sorted(keys))
    if not ss.get(page):
        ss[page] = True
        for key, convert in keys.items():
            name = ADDRESS_NAMES.get(key, key)
            if name not in st.query_params:
                continue
            try:
                if isinstance(convert, list):
                    ss[key] = [convert[0](text) for text in st.query_params.get_all(name)]
                else:
                    ss[key] = convert(st.query_params[name])
            except (ValueError, TypeError, KeyError, OverflowError):
                del st.query_params[name]
    ss["_address_keys"] = dict(keys)
    write_address()


def write_address() -> None:
    """The current values of the page's address widgets into the address (app.py calls it again after
    the page, so a value a button set during the run is in the address at once)."""
    ss = st.session_state
    for key in ss.get("_address_keys", {}):
        if key in ss:
            _set_param(ADDRESS_NAMES.get(key, key), ss[key])


# ---- the data setup, rebuilt from the caches on a new session ---------------------------------


@st.cache_resource(show_spinner=False)
def _setups() -> dict:
    """Server-wide: word lists by label (an uploaded list can be found again by its address), and each
    owner's last setup (hosted: a new tab without the setup in its address finds it by the person)."""
    from collections import OrderedDict

    return {"vocabularies": OrderedDict(), "by_owner": {}, "lock": threading.Lock()}


def _remember_setup(teacher_name: str, vocab: Vocabulary, mode: LemmaMode) -> None:
    setups = _setups()
    with setups["lock"]:
        setups["vocabularies"][vocab.label] = vocab
        setups["vocabularies"].move_to_end(vocab.label)
        while len(setups["vocabularies"]) > 16:
            setups["vocabularies"].popitem(last=False)
        setups["by_owner"][st.session_state.get(K.OWNER, "")] = (teacher_name, vocab.label, mode)


def _vocab_address(vocab: Vocabulary) -> str:
    return "default" if vocab.source == "default" else vocab.label


def _setup_from_address():
    """(teacher, vocabulary label or 'default', lemma mode) from `?teacher=…&vocab=…&lemma=…`; None when
    absent or not usable (a teacher this server does not offer, an unknown lemmatization)."""
    params = st.query_params
    teacher = params.get("teacher")
    if not teacher:
        return None
    try:
        mode = LemmaMode(params.get("lemma", "none"))
    except ValueError:
        return None
    if teacher not in teacher_options():
        return None
    return teacher, params.get("vocab", "default") or "default", mode


def restore_setup() -> None:
    """On a session's first run, rebuild the prepared data the address names (hosted: else the person's last
    setup) — only from what the server already holds: the shared registry, or the teacher's disk cache when
    it has every vector. The teacher is never run here. Later runs write the current setup into the address."""
    ss = st.session_state
    follow_run()
    prepared = ss.get(K.PREPARED)
    if prepared is not None:
        vocab = ss.get(K.VOCAB)
        _set_param("teacher", ss.get(K.TEACHER))
        _set_param("vocab", _vocab_address(vocab) if vocab is not None else None)
        _set_param("lemma", prepared.lemmatize.value)
        return
    if ss.get("_setup_restore_tried"):
        return
    ss["_setup_restore_tried"] = True
    wanted = _setup_from_address()
    if wanted is None and host_settings().hosted:
        wanted = _setups()["by_owner"].get(ss.get(K.OWNER))
        if wanted is not None:
            wanted = (wanted[0], "default" if wanted[1] == default_words().label else wanted[1], wanted[2])
    if wanted is None:
        return
    teacher_name, vocab_label, mode = wanted
    vocab = default_words() if vocab_label == "default" else _setups()["vocabularies"].get(vocab_label)
    if vocab is None:
        ss[SETUP_NOTE] = (
            f"Your uploaded word list ({literal(vocab_label)}) is no longer on this server: upload it again on Data & teacher."
        )
        return
    try:
        if prepared_registry().get((teacher_name, vocab.label, mode)) is None:
            teacher = cached_teacher(teacher_name)
            result = lemma_result(vocab.label, mode, tuple(vocab.words))
            missing = len(teacher.missing(list(result.lemmas)))
            if missing:
                ss[SETUP_NOTE] = (
                    f"The teacher's vectors for this setup are not all computed yet ({missing:,} to go): "
                    "compute them on Data & teacher."
                )
                return
        prepare(teacher_name, vocab, mode)
    except (TeacherUnavailable, RuntimeError, ValueError, OSError) as err:
        ss[SETUP_NOTE] = literal(f"The setup in the address could not be rebuilt: {err}")


STORY_HIGHLIGHT = "story_highlight"  # set by the story's doors (pages/story.py): the words the opened page highlights


def _run_setup(run_id: str):
    """(teacher name, word list, lemmatization) a run was trained on, when this person may open it and the server
    holds its word list (the default words, or an upload of this server's); None otherwise."""
    from core.runs.store import check_meta, check_run_id, read_meta

    if run_id not in set(runs_table()["run_id"].to_list()):
        return None
    folder = runs_dir() / check_run_id(run_id)
    config = check_meta(read_meta(folder, run_id), run_id)
    if config.teacher not in teacher_options():
        return None
    words = default_words()
    vocab = words if config.vocabulary in ("", words.label) else _setups()["vocabularies"].get(config.vocabulary)
    return None if vocab is None else (config.teacher, vocab, config.lemmatize)


def prepared_from_cache(teacher_name: str, vocab: Vocabulary, mode: LemmaMode) -> PreparedData | None:
    """The prepared data of a setup from what the server already holds — the shared registry, else the teacher's disk
    cache when it has every vector — made the session's setup; None when some vector was never computed. The teacher
    model is neither run nor loaded (a click opens a page in a second, not after MPNet's few seconds of loading)."""
    from core.teachers.teacher import cached_vectors, teacher_id_for

    ss = st.session_state
    key = (teacher_name, vocab.label, mode)
    prepared = prepared_registry().get(key)
    if prepared is None:
        result = lemma_result(vocab.label, mode, tuple(vocab.words))
        teacher_id = teacher_id_for(teacher_name)
        try:
            clean = cached_vectors(cache_dir() / "teachers", teacher_id, list(result.lemmas))
        except TeacherUnavailable:
            return None
        clean.setflags(write=False)
        prepared = PreparedData(result, clean, teacher_id, mode)
        prepared_registry().put(key, prepared)
    ss[K.CACHED] = ss.get(K.CACHED, 0) + len(prepared.items)
    ss[K.PREPARED], ss[K.TEACHER], ss[K.VOCAB], ss[K.LEMMA] = prepared, teacher_name, vocab, mode
    _remember_setup(teacher_name, vocab, mode)
    return prepared


def follow_run() -> None:
    """A page opened on a run (`K.RUN`) carries that run's setup, so that no door is a dead end: when the session
    has no prepared data, or one of the story's doors was just taken (`STORY_HIGHLIGHT` set) onto a run of another
    setup, the run's own teacher, words and lemmatization are rebuilt from what the server already holds
    (`prepared_from_cache`: the teacher is never run). Once per run chosen; a setup that cannot be rebuilt leaves the
    session as it was (the page then asks for data as usual)."""
    ss = st.session_state
    run_id = ss.get(K.RUN)
    door = ss.get(STORY_HIGHLIGHT) is not None
    if not run_id or (not door and (ss.get("_setup_followed") == run_id or ss.get(K.PREPARED) is not None)):
        return
    ss["_setup_followed"] = run_id
    try:
        wanted = _run_setup(run_id)
        if wanted is None:
            return
        teacher_name, vocab, mode = wanted
        prepared, current = ss.get(K.PREPARED), ss.get(K.VOCAB)
        if prepared is not None and current is not None:
            if (ss.get(K.TEACHER), current.label, prepared.lemmatize) == (teacher_name, vocab.label, mode):
                return
        prepared_from_cache(teacher_name, vocab, mode)
    except (LabError, ValueError, OSError, KeyError):  # an unreadable run: the page says so when it opens it
        return


def from_story() -> tuple[str, ...] | None:
    """The words to highlight when this page was just opened by one of the story's doors (`STORY_HIGHLIGHT`, read
    once), else None. The page's run picker then starts on the door's run."""
    ss = st.session_state
    words = ss.pop(STORY_HIGHLIGHT, None)
    if not words:
        return None
    ss["_door_pick"] = True
    return tuple(str(w) for w in words)[:20]


# ---- presenter mode and the personal link ------------------------------------------------------


def presenter() -> bool:
    """Presenter mode (`?presenter=1` or the sidebar toggle): the settings fold away, the charts stay."""
    return bool(st.session_state.get("presenter_mode"))


PRESENTER_KEY = "P"  # the one key that switches presenter mode on and off (a button's shortcut)
_PRESENTER_CSS = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"],
[data-testid="stSidebarCollapseButton"], [class*="st-key-presenter_hidden"] { display: none !important; }
</style>"""
_SWITCH_CSS = """<style>
.st-key-presenter_switch { position: fixed; top: 0.7rem; right: 8rem; z-index: 999991; width: auto; }
</style>"""
_SWITCH_HIDDEN_CSS = "<style>.st-key-presenter_switch { display: none !important; }</style>"


@contextlib.contextmanager
def _hidden_knobs(label: str):
    # In a keyed container the page's CSS hides (`_PRESENTER_CSS`): on screen nothing, in the page's tree the
    # folded settings, whose widgets keep their values (the charts below them do not change).
    name = "presenter_hidden_" + re.sub(r"[^A-Za-z0-9_]+", "_", label)
    with (
        st.container(key=name),
        st.expander(f"{label} (hidden for the audience)", expanded=False, icon=":material/tune:"),
    ):
        yield


def knobs(label: str = "Settings"):
    """The container of a page's settings: a bordered box normally; in presenter mode hidden from the screen (the
    widgets keep their values, so the charts below them do not change). One `knobs` per label on a page."""
    if presenter():
        return _hidden_knobs(label)
    return st.container(border=True)


def _switch_presenter() -> None:
    st.session_state["presenter_mode"] = not st.session_state.get("presenter_mode")


def presenter_switch() -> None:
    """Presenter mode's one key (`PRESENTER_KEY`) and, in presenter mode, its only visible control: the sidebar and
    every page's settings are hidden (`_PRESENTER_CSS`), and a small "Leave presenter mode" button sits at the top
    right. Outside presenter mode the button is not shown (the sidebar's toggle is), its key still works."""
    on = presenter()
    st.html(_SWITCH_CSS + (_PRESENTER_CSS if on else _SWITCH_HIDDEN_CSS))
    with st.container(key="presenter_switch"):
        st.button(
            "Leave presenter mode" if on else "Presenter mode",
            key="presenter_key",
            shortcut=PRESENTER_KEY,
            on_click=_switch_presenter,
            type="tertiary",
            icon=":material/co_present:",
            help=f"Press {PRESENTER_KEY} to switch presenter mode on or off.",
        )


def run_origin(row: dict) -> str:
    """Whose run it is, as every table and picker marks it: 'imported', 'the lab's example' (trained ahead by the lab,
    owned by nobody), 'shared by <nickname>' / 'shared by a classmate' (hosted, someone else's), or '' (this
    person's own)."""
    if row.get("imported"):
        return "imported"
    if host_settings().hosted and row.get("owner", "") != st.session_state.get(K.OWNER):
        if not row.get("owner"):
            return "the lab's example"
        name = nicknames().get(row["owner"], "")
        return f"shared by {name}" if name else "shared by a classmate"
    return ""


def personal_link() -> str | None:
    """Hosted without a login: this person's address, `…?u=<token>`, which brings their runs back."""
    ss = st.session_state
    if not host_settings().hosted or current_user_email() or not ss.get("owner_token"):
        return None
    base = (st.context.url or "http://localhost:8501/").split("?")[0]
    if (
        base.count("/") == 2
    ):  # the bare server address (http://host:8501): the link reads better as http://host:8501/?u=…
        base += "/"
    return f"{base}?u={ss['owner_token']}"


def personal_link_notice() -> None:
    """Hosted: the person's link, prominently above the page until they say they have it (a first visit),
    and in the sidebar always."""
    ss = st.session_state
    link = personal_link()
    if link is None:
        return
    if ss.get("owner_token_fresh") and not ss.get("link_noted"):
        with st.container(border=True, key="personal_link_notice"):
            st.markdown(
                "**This is your personal link: bookmark it.** It is how this lab knows you — open it again "
                "(in any tab, tomorrow too) to find your runs. Keep it to yourself: anyone with it can see and change your runs."
            )
            st.code(link, language=None, wrap_lines=True)
            st.button(
                "I have bookmarked it",
                key="link_noted_button",
                icon=":material/bookmark_added:",
                on_click=lambda: ss.__setitem__("link_noted", True),
            )
    with st.sidebar:
        st.markdown(
            "#### Your personal link", help="Bookmark it: it brings back your runs (and your setup) in any tab."
        )
        st.code(link, language=None, wrap_lines=True)
