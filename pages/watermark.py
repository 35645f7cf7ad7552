"""Watermark lab: can an embeddings API's owner prove that a student learned from its answers? Marked answers,
students trained on them and on clean ones, the owner's verifier, its false alarms, and the imitator's removal."""

from pages._frame import through_app

through_app()  # run bare (a fresh server's first request for this address)? then through app.py

import time

import streamlit as st

from core.config import StudentKind, default_cheap
from core.jobs import JobState, SlotJob
from core.paths import cache_dir
from core.teachers.teacher import teacher_id_for
from core.watermark.chart import catch_chart, catch_frame
from core.watermark.grid import ROLES, GridSpec
from core.watermark.load import load_materials
from core.watermark.power import grid_verdict, summarize
from core.watermark.stored import grid_id, load_grid, train_and_save
from pages._shared import (
    K,
    address_state,
    between,
    job_board,
    knobs,
    one_of,
    require_prepared,
    show_chart,
    start_job,
)

KINDS = (StudentKind.RIDGE, StudentKind.B, StudentKind.KERNEL, StudentKind.SUBWORD, StudentKind.MLP)
PS = (0.01, 0.03, 0.1, 0.3, 1.0)
STRENGTHS = (0.1, 0.2, 0.3, 0.5)
WATERMARKS = {"trigger": "Trigger words (EmbMarker)", "region": "Secret region (RegionMarker-style)"}
MARK_NAMES = {"trigger": "trigger-word mark (EmbMarker)", "region": "secret-region mark"}  # mid-sentence
ATTACKS = {"residual": "Residual directions", "cse": "WARDEN's CSE"}
ATTACK_NAMES = {"residual": "residual directions", "cse": "WARDEN's CSE"}  # mid-sentence
ATTACK_AFTER = {"residual": "after it removed the residual directions", "cse": "after WARDEN's CSE"}  # chart titles
ATTACKS_HELP = (
    "Residual directions: remove what the imitator's cheap model cannot explain in the answers it bought. WARDEN's "
    "CSE (cluster, select, eliminate): remove the main directions of the answers the API calls far more alike than "
    "the cheap model does."
)
ATTACK_SENTENCES = {
    "residual": "Before training, the imitator projected out the {k} directions in which the answers it bought differ "
    "most from what its cheap model predicts.",
    "cse": "Before training, the imitator ran WARDEN's CSE attack: it grouped the answers it bought into clusters, "
    "picked the pairs of words that the API calls much more alike than its own cheap model does (marked answers "
    "share a secret pull), and projected the {k} main directions of those answers out of every answer.",
}
EXPLAIN = (
    "Each point: of the students trained with that share p of the words answered by a marked API, how many the owner "
    "flags (coloured), and of the students trained on clean answers, how many it flags by mistake (grey). Bars: 95 % "
    "intervals. A watermark is only worth something where the coloured line stands well above the grey one."
)
JOB_KEY = "watermark_job"

ss = st.session_state
st.title("Watermark lab")
address_state(
    {
        "watermark_kind": one_of(*KINDS),
        "watermark_strength": one_of(*STRENGTHS),
        "watermark_seeds": between(4, 20, int),
        "watermark_ps": [one_of(*PS)],
        "watermark_kinds": [one_of(*WATERMARKS)],
        "watermark_removal": between(0, 16, int),
        "watermark_attacks": [one_of(*ATTACKS)],
    }
)  # the page's choices live in its address: a link reproduces the view
st.write(
    "The other side of the lab's question: the owner of an embeddings API hides a secret mark in its answers. Can it "
    "later prove that someone's cheap student learned from them? Two marks: **trigger words** (a few hundred words of "
    "moderate frequency get answers pulled toward a secret vector, as in EmbMarker) and a **secret region** (answers "
    "that fall in a secret corner of the space are nudged along a secret direction). The owner's verifier sees only "
    "the suspect's answers, and is checked against **control students** trained on clean answers: a test that flags "
    "clean students too proves nothing."
)
prepared = require_prepared()
board = job_board()

with knobs():
    with st.form("watermark_grid"):
        c1, c2, c3 = st.columns(3)
        kind = c1.selectbox(
            "Student",
            KINDS,
            format_func=lambda k: k.label,
            key="watermark_kind",
            help="The ridge adapter trains in well under a second; Model B (the paper's table) takes a few seconds; the "
            "kernel adapter up to minutes per student when it is asked about thousands of words.",
        )
        strength = c2.select_slider(
            "Strength of the mark", options=list(STRENGTHS), value=0.3, key="watermark_strength"
        )
        seeds = c3.number_input("Students per point (seeds)", 4, 20, 5, key="watermark_seeds")
        ps = st.multiselect(
            "Shares of words the imitator asks about (p)",
            list(PS),
            default=[0.01, 0.1, 0.3, 1.0],
            format_func=lambda p: f"{p:.0%}",
            key="watermark_ps",
        )
        watermarks = st.multiselect(
            "Watermarks", list(WATERMARKS), default=list(WATERMARKS), format_func=WATERMARKS.get, key="watermark_kinds"
        )
        c4, c5 = st.columns([1, 2])
        removal = c4.number_input(
            "Removal attack: directions the imitator projects out (0: none)",
            0,
            16,
            0,
            key="watermark_removal",
            help="Before training, the imitator tries to wash the mark out of the answers it bought, by removing this "
            "many directions from every answer.",
        )
        attacks = c5.multiselect(
            "Removal attacks (when directions > 0)",
            list(ATTACKS),
            default=list(ATTACKS),
            format_func=ATTACKS.get,
            key="watermark_attacks",
            help=ATTACKS_HELP,
        )
        st.form_submit_button("Update the grid", icon=":material/refresh:")

try:
    spec = GridSpec(
        ps=tuple(sorted(ps)),
        kinds=(kind.value,),
        watermarks=tuple(watermarks),
        strengths=(float(strength),),
        seeds=int(seeds),
        removal=int(removal),
        attacks=tuple(attacks) if removal else GridSpec.attacks,
    )
except ValueError as err:
    st.warning(f"{err} Choose at least one p and one watermark (and one removal attack when directions > 0).")
    st.stop()

cheap = default_cheap(ss[K.TEACHER])
folder = cache_dir() / "watermark" / grid_id(spec, prepared.teacher_id, prepared.items, teacher_id_for(cheap))
result = load_grid(folder, spec.level)


def grid_work(spec: GridSpec, folder, items, clean, teacher_id: str, teacher: str, cheap: str):
    """The job board's work for this grid (values bound now: the thread outlives this run of the page)."""

    def work(job: SlotJob) -> None:
        if not job.begin():
            return
        try:
            train_and_save(
                spec,
                lambda: load_materials(
                    items, teacher, cheap, clean=clean, teacher_id=teacher_id, layers="kernel" in spec.kinds
                ),
                folder,
                say=lambda text: setattr(job, "phase", text),
                should_stop=lambda: job.stop_requested,
            )
            job.state = JobState.STOPPED if job.stop_requested else JobState.FINISHED
        except Exception as err:  # shown on the page as a sentence
            job.fail(err)
        finally:
            job.finished_at = time.time()

    return work


job = board.get(ss.get(JOB_KEY))
running = job is not None and not job.done
if result is None:
    st.info(f"This grid has not been trained yet: {spec.students} students, {spec.seeds} per point.")
    if st.button(
        f"Train the grid ({spec.students} students)",
        type="primary",
        key="watermark_start",
        disabled=running,
        icon=":material/play_arrow:",
    ):
        work = grid_work(spec, folder, prepared.items, prepared.clean, prepared.teacher_id, ss[K.TEACHER], cheap)
        if start_job(JOB_KEY, lambda: board.launch(SlotJob(owner=ss[K.OWNER], label="watermark"), work, "watermark")):
            st.rerun()


@st.fragment(run_every=2.0 if running else None)
def status() -> None:
    job = board.get(ss.get(JOB_KEY))
    if job is None:
        return
    if not job.done:
        st.caption(f":material/hourglass_top: {job.phase or 'Waiting for a free training slot…'}")
        st.button("Stop", on_click=job.stop, key="watermark_stop", icon=":material/stop_circle:")
    elif job.state is JobState.FAILED:
        st.error(f"The grid stopped: {job.error}")
    if running and job.done:
        st.rerun(scope="app")


status()
if result is None:
    st.stop()

summary = summarize(result.rows, spec.level)


def catch_section(role: str, title: str, key: str) -> None:
    """The chart of one kind of suspect (marked, or marked then cleaned by the imitator) and its verdict."""
    frame = catch_frame(summary, kind.value, float(strength), role=role)
    show_chart(catch_chart(frame, title=title), frame, EXPLAIN, key=key, file_stem=key)
    sentence = grid_verdict(summary, kind.value, float(strength), role=role)
    caught = "catches every imitator from" in sentence  # "never catches every imitator" is no success
    (st.success if caught else st.warning)(f"Verdict: {sentence}")


catch_section("marked", f"Does the owner catch the imitator? ({kind.label}, strength {strength:g})", "watermark_catch")
for r in result.costs.iter_rows(named=True):
    st.caption(
        f"What the {MARK_NAMES[r['watermark']]} costs an honest user: answers keep a mean cosine of "
        f"{r['mean_cosine']:.4f} to the clean ones, and {r['overlap_at_10']:.1%} of every word's 10 nearest "
        f"neighbours stay ({r['marked_share']:.0%} of the answers are marked)."
    )
for attack in spec.attacks if spec.removal else ():
    role = ROLES[attack]
    st.subheader(f"After the imitator's removal attack: {ATTACK_NAMES[attack]}")
    st.write(ATTACK_SENTENCES[attack].format(k=spec.removal))
    catch_section(
        role,
        f"Does the owner still catch the imitator {ATTACK_AFTER[attack]}? ({kind.label}, strength {strength:g})",
        f"watermark_{role}",
    )
    cost = summary.filter((summary["role"] == role) & summary["heldout_cosine"].is_not_null())
    marked = summary.filter((summary["role"] == "marked") & summary["heldout_cosine"].is_not_null())
    if cost.height and marked.height:
        st.caption(
            f"What the attack costs the imitator: its students' mean cosine to the teacher on words they never asked "
            f"about is {cost['heldout_cosine'].mean():.3f}, against {marked['heldout_cosine'].mean():.3f} without the "
            "attack (mean over the shares p that leave words unasked)."
        )
    st.caption(
        "The clean students on this chart went through the same attack: their honest answers were cleaned the same "
        "way before they learned. So the grey line is how often the owner would accuse an honest imitator who ran "
        "the attack too, and a catch above it is the watermark, not the attack's own footprint."
    )
with st.expander("Every number of this grid (one row per p, watermark and attack)"):
    st.dataframe(summary, hide_index=True, width="stretch")
