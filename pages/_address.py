"""The page address: a link reproduces the view. Each page names its widget keys once (`address_state`); the data
setup, the run, presenter mode and (hosted) the person travel in it, and a new session rebuilds its setup from
the caches (`restore_setup`); a story door's run and words (`follow_run`, `from_story`)."""

from __future__ import annotations

import streamlit as st

from core.config import LemmaMode
from core.data.corpus import Vocabulary
from core.errors import LabError
from core.paths import cache_dir, runs_dir
from core.runs.experiment import PreparedData
from core.runs.store import RUN_ID
from core.teachers.teacher import TeacherUnavailable
from pages._frame import host_settings
from pages._keys import K, teacher_options
from pages._loaders import default_words, lemma_result, prepare, prepared_registry, remember_setup, runs_table, setups
from pages._plain import literal
from pages._teachers import cached_teacher

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


def set_param(name: str, value) -> None:
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
            set_param(ADDRESS_NAMES.get(key, key), ss[key])


# ---- the data setup, rebuilt from the caches on a new session ---------------------------------


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
        set_param("teacher", ss.get(K.TEACHER))
        set_param("vocab", _vocab_address(vocab) if vocab is not None else None)
        set_param("lemma", prepared.lemmatize.value)
        return
    if ss.get("_setup_restore_tried"):
        return
    ss["_setup_restore_tried"] = True
    wanted = _setup_from_address()
    if wanted is None and host_settings().hosted:
        wanted = setups()["by_owner"].get(ss.get(K.OWNER))
        if wanted is not None:
            wanted = (wanted[0], "default" if wanted[1] == default_words().label else wanted[1], wanted[2])
    if wanted is None:
        return
    teacher_name, vocab_label, mode = wanted
    vocab = default_words() if vocab_label == "default" else setups()["vocabularies"].get(vocab_label)
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
    vocab = words if config.vocabulary in ("", words.label) else setups()["vocabularies"].get(config.vocabulary)
    return None if vocab is None else (config.teacher, vocab, config.lemmatize)


def prepared_from_cache(teacher_name: str, vocab: Vocabulary, mode: LemmaMode) -> PreparedData | None:
    """The prepared data of a setup from what the server already holds — the shared registry, else the teacher's disk
    cache when it has every vector — made the session's setup; None when some vector was never computed. The teacher
    model is neither run nor loaded (a click opens a page in a second, not after MPNet's few seconds of loading)."""
    from core.teachers.teacher import teacher_id_for

    ss = st.session_state
    prepared = prepared_registry().from_disk(
        (teacher_name, vocab.label, mode),
        cache_dir() / "teachers",
        teacher_id_for(teacher_name),
        lambda: lemma_result(vocab.label, mode, tuple(vocab.words)),
        mode,
    )
    if prepared is None:
        return None
    ss[K.CACHED] = ss.get(K.CACHED, 0) + len(prepared.items)
    ss[K.PREPARED], ss[K.TEACHER], ss[K.VOCAB], ss[K.LEMMA] = prepared, teacher_name, vocab, mode
    remember_setup(teacher_name, vocab, mode)
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
