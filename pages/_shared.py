"""What every page shares: the session set up on each run (`init_session`), the sidebar, the run picker, charts
with their downloads; and, re-exported so pages import from one place, the keys (`_keys`), the cached loaders
(`_loaders`), the page address (`_address`) and presenter mode (`_presenter`). The engine (`core/`) never sees
Streamlit; these files are the edge."""

from __future__ import annotations

import secrets
import uuid

import polars as pl
import streamlit as st

from core import charts, story
from core.config import LemmaMode, StudentKind
from core.data.corpus import Vocabulary
from core.errors import LabError
from core.runs.evaluated import RunVectors
from core.runs.experiment import PreparedData
from core.runs.hosting import owner_id
from core.runs.visibility import default_run
from core.teachers.teacher import TeacherUnavailable
from pages._address import (
    ADDRESS_NAMES,
    RUN_ADDRESS,
    SETUP_NOTE,
    STORY_HIGHLIGHT,
    address_state,
    between,
    flag,
    follow_run,
    from_story,
    one_of,
    prepared_from_cache,
    restore_setup,
    set_param,
    text,
    write_address,
)
from pages._frame import PAGES, host_settings
from pages._identity import identity_sidebar, note_visit, signed_in
from pages._keys import LEMMA_LABELS, TEACHERS, K, teacher_options
from pages._loaders import (
    default_words,
    job_board,
    lemma_result,
    lemmatizer,
    model_cost_ms,
    owns,
    prepare,
    prepare_data,
    projection_cache,
    run_evaluation,
    run_stamp,
    runs_table,
    start_job,
    umap_in_background,
    umap_warm_up,
    vectors_for_run,
)
from pages._plain import literal
from pages._presenter import knobs, personal_link, personal_link_notice, presenter, presenter_switch, run_origin
from pages._teachers import cached_teacher

# What the pages import from here: this module's own helpers, and (re-exported, so no page changes) the session's
# keys (`_keys`), the cached loaders (`_loaders`), the page address (`_address`), presenter mode (`_presenter`).
__all__ = [
    "ADDRESS_NAMES",
    "K",
    "LEMMA_LABELS",
    "PAGES",
    "RUN_ADDRESS",
    "SETUP_NOTE",
    "STORY_HIGHLIGHT",
    "TEACHERS",
    "address_state",
    "between",
    "cached_teacher",
    "cannot_read",
    "choose_run",
    "chosen_run_vectors",
    "default_run_of",
    "default_words",
    "download_buttons",
    "flag",
    "follow_run",
    "from_story",
    "host_settings",
    "init_session",
    "job_board",
    "knobs",
    "lemma_result",
    "lemmatizer",
    "model_cost_ms",
    "one_of",
    "owns",
    "personal_link",
    "presenter",
    "prepare",
    "prepare_data",
    "prepared_from_cache",
    "projection_cache",
    "require_prepared",
    "run_evaluation",
    "run_label",
    "run_stamp",
    "runs_table",
    "show_chart",
    "sidebar",
    "start_job",
    "story_pair_b",
    "teacher_options",
    "text",
    "umap_in_background",
    "umap_warm_up",
    "vectors_for_run",
    "write_address",
]


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
    set_param("presenter", "1" if ss.get("presenter_mode") else None)
    if who is not None or host_settings().hosted:
        note_visit(ss[K.OWNER])  # the class board's 'who is here now'
        identity_sidebar(ss[K.OWNER])  # signed in as … / sign out; the nickname classmates see
    restore_setup()


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
    set_param("run", chosen)
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
