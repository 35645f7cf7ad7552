"""Story: the lab's finding in five steps, Next / Back; the step lives in the address (?step=3), so a link
reproduces it. Every number comes from ordinary stored runs (core/story/), trained once ahead."""

from __future__ import annotations

from pages._frame import through_app

through_app()  # run bare (a fresh server's first request for this address)? then through app.py

import polars as pl
import streamlit as st

from core import story
from core.charts import story as story_charts
from core.config import StudentKind
from core.errors import LabError
from core.paths import runs_dir
from core.runs.store import list_runs, load_run
from core.runs.visibility import visible_runs
from core.teachers.teacher import TeacherUnavailable
from pages._plain import literal
from pages._shared import PAGES, K, download_buttons, host_settings, job_board
from pages._waits import training_progress

STEPS = {
    1: "What the teacher knows",
    2: "The paper's student learns its lessons by heart",
    3: "A student that reads a cheap model",
    4: "How few answers are enough",
    5: "What poison does",
}
# the person's own Try-it pair, as pages/start.py leaves it: the jobs training now (Model B first), the runs reused from
# the store (student kind -> run id), and the sentence saying where the pair comes from ({"runs": "B,A", "text": ...})
JOBS, REUSED, PAIR_NOTE = "story_jobs", "story_reused", "story_pair_note"
POLITE = "Offensive words are left out of these lists, as on the map."
HIGHLIGHT = (
    "story_highlight"  # the words a door's page highlights (a tuple), with K.RUN and ?run= (the doors' contract)
)


@st.cache_resource(show_spinner=False)
def settings_from_env(_stamp: str) -> story.StorySettings:
    return story.StorySettings.from_env()


@st.cache_resource(show_spinner="Reading the teacher's answers…", max_entries=2)
def teacher_neighbours(settings: story.StorySettings) -> pl.DataFrame:
    items, vectors = story.teacher_vectors(settings)
    return story.teacher_neighbours_frame(
        items, vectors, settings.words + settings.more_words, settings.k, settings.polite
    )


@st.cache_data(show_spinner="Reading the trained students…", max_entries=64)
def scores_of(run_id: str, settings: story.StorySettings) -> dict:
    """A story run's scores; a damaged or unreadable run is its sentence and the step stops there."""
    try:
        return story.story_scores(load_run(runs_dir(), run_id), settings=settings)
    except (LabError, ValueError, OSError) as err:  # DamagedData / StorageUnavailable: the store's sentence
        st.warning(literal(str(err)))
        st.stop()


def story_runs() -> pl.DataFrame:
    """Every finished run this person may open: hosted, their own plus the gallery (the story's runs are in it)."""
    owner = st.session_state.get(K.OWNER, "")
    return visible_runs(list_runs(runs_dir()), owner, host_settings().hosted, gallery=True, unowned=True)


@st.cache_data(show_spinner=False, max_entries=8, ttl=60)
def zero_scores(settings: story.StorySettings) -> dict | None:
    """Step 4's student given no answer, as the warm-up kept it (read, never fitted on a visitor's click)."""
    return story.zero_answer_scores(settings)


def zero_sentence(zero: dict) -> str:
    """Step 4's zero-answer student in plain words, beside the learns-nothing student with the same information. Its
    closest words and analogies are the cheap model's own (a map that only turns a space keeps them, right or wrong):
    the cosine says whether it found the teacher's coordinates, and the sentence says so when it did not."""
    verdict = (
        f"better than a student that learns nothing ({zero['baseline_cosine']:.2f})"
        if zero["heldout_cosine"] > zero["baseline_cosine"]
        else f"below a student that learns nothing ({zero['baseline_cosine']:.2f}): the shapes of the two spaces "
        "alone did not tell it where the teacher's coordinates are"
    )
    analogies = ""
    if zero.get("analogy_pct_of_teacher") is not None:
        analogies = f" and the {zero['analogy_pct_of_teacher']:.0f} % of the teacher's analogies it solves"
    return (
        f"**And with no answers at all?** A map from the cheap model's numbers into the teacher's, learnt only by "
        f"matching the shapes of the two spaces (mini-vec2vec), reaches a cosine of {zero['heldout_cosine']:.2f} to "
        f"the teacher on new words: {verdict}. The {zero['neighbours_shared']:.1f} of {settings.k} closest words it "
        f"finds{analogies} are the cheap model's own — a map that only turns the cheap model's space keeps them "
        "whether or not it lands on the teacher's."
    )


def current_step() -> int:
    try:
        step = int(st.query_params.get("step", 1))
    except (TypeError, ValueError):
        step = 1
    return min(max(step, 1), len(STEPS))


def go_to(step: int) -> None:
    st.query_params["step"] = str(step)


def show_chart(chart, frame: pl.DataFrame, explain: str, key: str, file_stem: str) -> None:
    """The step's one plain sentence, then its chart (title kept whole) and its downloads (SVG picture, CSV data)."""
    st.markdown(f"**{explain}**")
    height = getattr(chart, "height", None)
    # a container-wide chart needs its whole height from Streamlit (title, axis and legend too), or Vega squeezes it
    st.altair_chart(chart, width="stretch", **({"height": height + 170} if isinstance(height, int) else {}))
    download_buttons(chart, frame, file_stem, key)


def neighbour_table(heading: str, scores: dict) -> None:
    """Steps 2-3: each story word's closest words under the teacher and each student, and how many they share. A
    word from the lessons is searched among the lessons (core.story.run_scores), and the table says so: among all
    words, Model B's never-taught words keep random numbers that crowd out what it learnt by heart. A plain table,
    so the closest words wrap instead of being cut on a projector."""
    st.markdown(f"**{heading}**")
    frame = story.neighbours_frame(scores, settings.words)

    def among(row: dict) -> str:
        if row["among"] is None:
            return ""
        return (
            f"its {row['among']:,} lesson words" if row["searched"] == "the lessons" else f"all {row['among']:,} words"
        )

    rows = [
        {
            "word": r["word"],
            "whose answer": r["who"],
            f"shared with the teacher (of {settings.k})": r["shared"],
            "was this word in its lessons?": "" if r["seen"] is None else ("yes" if r["seen"] else "no, new to it"),
            "searched among": among(r),
            "closest words": r["neighbours"],
        }
        for r in frame.iter_rows(named=True)
    ]
    st.table(pl.DataFrame(rows).to_pandas().set_index("word"))
    lessons = any(r["searched"] == "the lessons" for r in frame.iter_rows(named=True))
    caption = (
        "A word from the lessons is looked up among the lesson words only (for the teacher too, so the lists "
        "compare): among all the words, the words Model B was never taught keep random numbers, and those crowd "
        "out what it learnt by heart. A new word is looked up among all of them. "
        if lessons
        else ""
    ) + (POLITE if settings.polite else "")
    if caption:
        st.caption(caption.strip())


def open_page(label: str, page: str, run_id: str | None, key: str, icon: str) -> None:
    """A door: a button that opens another page on this step's run, carrying the story's setup (the doors' contract:
    K.RUN and ?run= name the run, whose own settings the page rebuilds; HIGHLIGHT the words this step shows)."""
    if st.button(label, key=key, icon=icon, disabled=run_id is None):
        st.session_state[K.RUN] = run_id
        st.session_state[HIGHLIGHT] = tuple(settings.words)
        st.switch_page(PAGES[page], query_params={"run": run_id})


def say_waiting(runs: story.StoryRuns, step: int) -> bool:
    """True (after one plain sentence) when the runs this step needs are not trained yet."""
    sentence = runs.waiting_sentence(step)
    if sentence:
        st.info(sentence, icon=":material/hourglass_top:")
    return sentence is not None


def own_pair() -> tuple[str, str] | None:
    """The person's own Try-it runs (Model B, adapter), from the address (?runs=B_ID,ADAPTER_ID) when they exist."""
    ids = [r for r in st.query_params.get("runs", "").split(",") if r]
    if len(ids) != 2:
        return None
    known = set(story_runs()["run_id"].to_list())
    return (ids[0], ids[1]) if all(r in known for r in ids) else None


@st.fragment(run_every=1.0)
def watch_own_pair(job_ids: list[str]) -> None:
    """The Try-it pair training live (both at once); when both are done, their ids (and any reused run's) go into
    the address and the step redraws."""
    board = job_board()
    jobs = [board.get(j) for j in job_ids]
    if any(j is None for j in jobs):
        st.session_state.pop(JOBS, None)
        return
    for job in jobs:
        share, text, _ = training_progress(job, board, story.student_label(job.config.model), True, len(jobs) > 1)
        st.progress(share, text=text)
    if all(j.done for j in jobs):
        st.session_state.pop(JOBS, None)
        ids = dict(st.session_state.pop(REUSED, None) or {})
        ids.update({j.config.model.value: j.run_id for j in jobs if j.run_id})
        pair = [ids.get(StudentKind.B.value), ids.get(StudentKind.KERNEL.value)]
        if all(pair):
            st.query_params["runs"] = ",".join(pair)
            note = st.session_state.get(PAIR_NOTE) or {}
            text = note.get("text") or "These are **your own** two students, trained just now on the same words."
            st.session_state[PAIR_NOTE] = {"runs": ",".join(pair), "text": text}
        st.rerun(scope="app")


def pair_sentence(own: tuple[str, str]) -> str:
    """Where the pair on step 3 comes from: the sentence Try it left for these runs, or a plain one for a link."""
    note = st.session_state.get(PAIR_NOTE) or {}
    if note.get("runs") == ",".join(own) and note.get("text"):
        return note["text"]
    return "These two students were trained with Try it, on the same words."


def pair_p(own: tuple[str, str]) -> float:
    """The share of answers the pair on step 3 was trained on (Try it lets a person choose it)."""
    rows = story_runs().filter(pl.col("run_id") == own[0])
    return float(rows["p"][0]) if rows.height else settings.p


settings = settings_from_env(story.TEACHER_ENV)
step = current_step()
st.title("What this lab found, in five steps")
st.caption(f"Step {step} of {len(STEPS)} · " + " → ".join(f"**{t}**" if i == step else t for i, t in STEPS.items()))
back, forward, _ = st.columns([1, 1, 4])
back.button(
    "Back",
    key="story_back",
    icon=":material/arrow_back:",
    disabled=step == 1,
    on_click=go_to,
    args=(step - 1,),
    width="stretch",
)
forward.button(
    "Next",
    key="story_next",
    icon=":material/arrow_forward:",
    type="primary",
    disabled=step == len(STEPS),
    on_click=go_to,
    args=(step + 1,),
    width="stretch",
)
st.header(f"{step}. {STEPS[step]}")

runs = story.find_story_runs(story_runs(), settings)
b_label, adapter_label = story.student_label(StudentKind.B), story.student_label(StudentKind.KERNEL)
b_id, adapter_id = runs.run_id(StudentKind.B), runs.run_id(StudentKind.KERNEL)
pct = f"{settings.p:.0%}"

if step == 1:
    st.markdown(
        f"The **teacher** is an expensive AI model, {settings.teacher_label}. It turns every word into a list of "
        f"hundreds of numbers, and words with similar meanings get similar numbers. Below: the words it puts closest "
        f"to *{settings.words[0]}*, *{settings.words[1]}* and two more. This is what a student must learn to imitate."
    )
    try:
        frame = teacher_neighbours(settings)
    except TeacherUnavailable:
        st.info(
            f"The lab is still preparing the teacher's answers ({settings.teacher_label}'s numbers for "
            f"{len(story.story_vocabulary().words):,} words); this takes a minute once, in the background. Come back soon.",
            icon=":material/hourglass_top:",
        )
    else:
        show_chart(
            story_charts.teacher_neighbours(frame),
            frame,
            "Longer bar = closer in meaning according to the teacher (cosine similarity: 1 = same direction).",
            "story_teacher",
            "story_step1_teacher_neighbours",
        )
        if settings.polite:
            st.caption(POLITE)
    st.page_link(PAGES["data"], label="Choose another teacher or your own words", icon=":material/dataset:")

elif step == 2:
    st.markdown(
        f"The paper's student, **Model B**, keeps one list of numbers per word. It is shown the teacher's answers "
        f"for {pct} of the words (1 word in {round(1 / settings.p)}) and learns them by heart. The score in steps 2 "
        "and 3 is the **cosine** to the teacher: 1 = the same answer, 0 = unrelated."
    )
    if not say_waiting(runs, 2):
        scores = {b_label: scores_of(b_id, settings)}
        show_chart(
            story_charts.split_bars(
                story.split_cosine_frame(scores), title="Model B: right on its lessons, lost on new words"
            ),
            story.split_cosine_frame(scores),
            "Why it fails: a lookup table has no vector for a word it was never told about, so every new word keeps "
            "the random numbers it started with.",
            "story_b_split",
            "story_step2_model_b",
        )
        neighbour_table("Its closest words, beside the teacher's:", scores)
        left, right = st.columns(2)
        with left:
            open_page("See Model B on the map", "projection", b_id, "story_link_b_map", ":material/scatter_plot:")
        with right:
            open_page("Its scores on new words", "evaluate", b_id, "story_link_b_eval", ":material/fact_check:")

elif step == 3:
    own = own_pair()
    training = bool(st.session_state.get(JOBS))
    if training:
        now = (st.session_state.get(PAIR_NOTE) or {}).get("now") or ""  # what is reused or joined (Start)
        if len(st.session_state[JOBS]) > 1:
            st.markdown(f"**Your two students are training now, both at once, on the same words.** {now}")
        else:
            st.markdown(f"**Training now:** {now}")
        watch_own_pair(st.session_state[JOBS])
    if own:
        b_id, adapter_id = own
        pct = f"{pair_p(own):.0%}"
        st.success(pair_sentence(own), icon=":material/person:")
    st.markdown(
        f"A different student does not keep a list per word: it **reads a cheap model** — {settings.cheap_label}, "
        f"about 6× cheaper to run than the teacher — and learns to translate the cheap model's numbers into the "
        f"teacher's. Both students below saw exactly the same {pct} of the teacher's answers (same words, same seed)."
    )
    if training and not own:  # nothing on screen may pass for their students before they are trained
        st.info(
            "Their chart and closest words appear here as soon as both are trained.", icon=":material/hourglass_top:"
        )
    elif own or not say_waiting(runs, 3):
        scores = {b_label: scores_of(b_id, settings), adapter_label: scores_of(adapter_id, settings)}
        frame = story.split_cosine_frame(scores)
        show_chart(
            story_charts.split_bars(frame, title="Same lessons, two students: who is right on new words?"),
            frame,
            "The student that reads a cheap model is nearly as close to the teacher on words it never saw as on its "
            "lessons; Model B is lost on them.",
            "story_pair_split",
            "story_step3_side_by_side",
        )
        neighbour_table("Closest words, side by side:", scores)
        left, right = st.columns(2)
        with left:
            open_page(
                "See the adapter on the map",
                "projection",
                adapter_id,
                "story_link_adapter_map",
                ":material/scatter_plot:",
            )
        with right:
            open_page(
                "Try its word arithmetic",
                "analogies",
                adapter_id,
                "story_link_adapter_analogies",
                ":material/calculate:",
            )

elif step == 4:
    st.markdown(
        f"Every teacher answer costs money. How few does each student need? Both students trained at "
        f"p = {', '.join(f'{p:g}' for p in settings.ps)} of the words, scored only on words they never saw."
    )
    st.markdown(
        f"**The score changes here**, from the cosine of steps 2–3 to **closest words, of {settings.k}**: of a new "
        f"word's {settings.k} closest words under the teacher, how many the student also puts among its own "
        f"{settings.k} ({settings.k} of {settings.k} = exactly the teacher's)."
    )
    if not say_waiting(runs, 4):
        scores = {rid: scores_of(rid, settings) for rid in runs.found.values()}
        frame = story.quality_frame(runs, scores)
        adapter_rows = frame.filter(pl.col("student") == adapter_label).sort("queries")
        fewest, most = adapter_rows.row(0, named=True), adapter_rows.row(-1, named=True)
        zero = zero_scores(settings)
        zero_frame = story.zero_answer_frame(zero)
        show_chart(
            story_charts.quality_lines(frame, "neighbours_shared", zero=zero_frame),
            pl.concat([frame, zero_frame]).drop("run_id"),
            f"With only {fewest['queries']:,} answers the adapter already finds {fewest['neighbours_shared']:.1f} of a new "
            f"word's {settings.k} closest words ({most['neighbours_shared']:.1f} with {most['queries']:,}); Model B finds "
            f"almost none, however many answers it gets.",
            "story_quality",
            "story_step4_answers",
        )
        if zero:
            st.markdown(zero_sentence(zero))
            st.caption(
                "A log scale has no 0, so the student given no answer stands in its own column at the left, "
                "labelled “0 answers”, on the same vertical scale. It saw the cheap model's numbers of the words it "
                f"answers and the teacher's numbers of {zero['public_words']:,} other words as a heap with no words "
                "attached — never a teacher answer for a word it was scored on, never a pair."
            )
        else:
            st.markdown(
                "The student given no answer at all (a map learnt without pairs) is still being computed: the lab "
                "fits it last, after every other step of its warm-up. Come back in a few minutes to see it beside "
                "these two."
            )
        open_page(
            "Compare every run on Honest evaluation", "evaluate", adapter_id, "story_link_eval", ":material/fact_check:"
        )

elif step == 5:
    st.markdown(
        f"What if an attacker tampers with the teacher? Here {settings.poison:.0%} of the answers are replaced by "
        f"random nonsense (the paper's attack), and each student trains on them at p = {settings.p:g}. The score is "
        f"step 4's: **closest words, of {settings.k}**, on new words."
    )
    if not say_waiting(runs, 5):
        scores = {rid: scores_of(rid, settings) for rid in runs.found.values()}
        frame = story.poison_frame(runs, scores)
        adapter_rows = {r["answers"]: r for r in frame.filter(pl.col("student") == adapter_label).iter_rows(named=True)}
        clean, poisoned = adapter_rows.get("all clean"), adapter_rows.get(f"{settings.poison:.0%} poisoned")
        cost = (
            f" ({clean['neighbours_shared']:.1f} → {poisoned['neighbours_shared']:.1f} of {settings.k} closest words)"
            if clean and poisoned
            else ""
        )
        show_chart(
            story_charts.poison_bars(frame),
            frame.drop("run_id"),
            f"Poisoned answers cost the adapter only a little on new words{cost}; Model B had nothing to lose.",
            "story_poison",
            "story_step5_poison",
        )
        open_page(
            "Dig deeper in the Poisoning lab",
            "poisoning",
            runs.run_id(StudentKind.KERNEL, poison=settings.poison),
            "story_link_poison",
            ":material/coronavirus:",
        )
    st.markdown("**That's the story.** Train your own pair from the Start page, or explore every page on the left.")
    st.page_link(PAGES["start"], label="Back to Start", icon=":material/rocket_launch:")
