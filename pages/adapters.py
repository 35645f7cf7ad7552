"""Adapter lab: map a cheap model's sentence embeddings into an expensive model's space (seed 000), then use
both side by side (seed 002: search, paraphrase mining, similarity)."""

from pages._frame import through_app

through_app()  # run bare (a fresh server's first request for this address)? then through app.py

import os
import time
from contextlib import nullcontext

import numpy as np
import polars as pl
import streamlit as st

from core import charts
from core.data.sentences import default_sentences, sentences_from_paste, sentences_from_upload
from core.jobs import QueueFull, duration
from core.paths import cache_dir, teacher_cache_dir
from core.sentences.adapters import (
    ARCH_LABELS,
    ARCHS,
    POOLING_HELP,
    POOLINGS,
    AdapterConfig,
    adapter_ms_per_1k,
    best_epoch,
    embed_with,
    mine_pairs,
    overlap_at_k,
    search,
)
from core.sentences.experiment import AdapterExperiment
from core.sentences.features import cached_text_features, text_features
from core.teachers.rates import embedding_seconds
from core.teachers.teacher import TeacherUnavailable, cached_vectors, ms_per_1k, teacher_id_for
from pages._labels import EXPLAIN
from pages._plain import literal
from pages._shared import K, address_state, cached_teacher, host_settings, job_board, knobs, one_of, show_chart, text
from pages._waits import share_step

ss = st.session_state
MODELS = {"minilm": "all-MiniLM-L6-v2 — small and fast", "mpnet": "all-mpnet-base-v2 — larger, ~6× slower, better"}
if os.environ.get("EMBEDDING_LAB_FAKE_TEACHER"):
    MODELS = {**MODELS, "hash-16": "Fake cheap model (tests)", "hash-32": "Fake teacher (tests)"}

st.title("Adapter lab: sentences")
address_state(
    {
        "adapter_source": one_of("default", "upload", "paste"),
        "adapter_cheap": text(200),
        "adapter_teacher": text(200),
        "adapter_arch": text(50),
        "adapter_p": one_of(0.01, 0.03, 0.1, 0.3, 0.5),
        "adapter_epochs": int,
        "adapter_query": text(500),
    }
)  # the page's choices live in its address: a link reproduces the view
st.write(
    "Ask the expensive model (the teacher) for the embeddings of only a few texts, then learn to translate a cheap "
    "model's embeddings into the teacher's space. Every other text then costs only the cheap model plus a tiny "
    "adapter. Scores are measured on the texts the adapter never saw, next to a student that answers the average "
    "vector for everything."
)


@st.cache_data(show_spinner=False)
def bundled_sentences():
    return default_sentences()


# ---- 1. texts ----------------------------------------------------------------------------------------

st.subheader("1 · Texts")
source = st.radio(
    "Which texts",
    ["default", "upload", "paste"],
    horizontal=True,
    key="adapter_source",
    format_func={
        "default": "Bundled sentences (~2,900 news and review sentences)",
        "upload": "Upload .txt / .csv",
        "paste": "Paste my own",
    }.get,
)
sentences = None
try:
    if source == "default":
        sentences = bundled_sentences()
    elif source == "upload":
        file = st.file_uploader(
            "One text per line (.txt), or a .csv with a 'text' column", type=["txt", "csv"], key="adapter_file"
        )
        if file is not None:
            sentences = sentences_from_upload(file.name, file.getvalue())
    else:
        pasted = st.text_area("One text per line", height=150, key="adapter_paste")
        if pasted.strip():
            sentences = sentences_from_paste(pasted)
except ValueError as err:
    st.error(literal(str(err)))  # it may quote the file's name: shown as typed, not as Markdown
if sentences is None:
    st.info("Choose the texts to work with.")
    st.stop()
st.caption(literal(sentences.summary()))  # names the user's file
if len(sentences.texts) < 20:
    st.warning("An adapter needs at least 20 texts: a share to learn from and the rest to test on.")
    st.stop()
with st.expander("A few of the texts"):
    st.dataframe(
        pl.DataFrame({"text": list(sentences.texts[:: max(1, len(sentences.texts) // 12)][:12])}),
        hide_index=True,
        width="stretch",
    )


def embedding_needs(cheap: str, teacher: str, texts) -> dict[str, float]:
    """What the first embedding of these texts still has to compute here, and its seconds (measured rates)."""
    from core.sentences.features import text_features_path

    needs = {}
    try:
        cached_vectors(teacher_cache_dir(), teacher_id_for(teacher), list(texts.texts))
    except TeacherUnavailable:
        needs["the teacher"] = embedding_seconds(f"{teacher_id_for(teacher)}-sentences", len(texts.texts))
    if not text_features_path(cache_dir(), teacher_id_for(cheap), list(texts.texts)).exists():
        needs["the cheap model"] = embedding_seconds(f"{teacher_id_for(cheap)}-tokens", len(texts.texts))
    return needs


# ---- 2. models and their vectors -----------------------------------------------------------------------

st.subheader("2 · The cheap model and the teacher")
c1, c2 = st.columns(2)
cheap_name = c1.selectbox(
    "Cheap model (runs on every text)", list(MODELS), index=0, format_func=MODELS.get, key="adapter_cheap"
)
teacher_name = c2.selectbox(
    "Teacher (asked about a few texts only)", list(MODELS), index=1, format_func=MODELS.get, key="adapter_teacher"
)
if cheap_name == teacher_name:
    st.warning("Choose two different models: an adapter from a model to itself has nothing to learn.")
    st.stop()
key = (cheap_name, teacher_name, sentences.label)
prepared = ss.get("adapter_prepared")
if prepared is None or prepared["key"] != key:
    st.caption(
        "The teacher's vector of every text is needed to *score* the adapter on texts it never saw (it is cached, "
        "so this happens once per machine); the cheap model's token outputs are what the adapter reads."
    )
    needs = embedding_needs(cheap_name, teacher_name, sentences)
    if needs:
        st.caption(
            f"The first time on this machine: {duration(sum(needs.values()))} ("
            + ", ".join(f"{what} {duration(sec)}" for what, sec in needs.items())
            + "); then a second or two."
        )
    if st.button("Embed the texts with both models", type="primary", key="adapter_prepare", icon=":material/bolt:"):
        # A status from the first second: loading a model and tokenising come before the first batch.
        bar = st.progress(0.0, text=f"Loading the teacher ({MODELS[teacher_name].split(' — ')[0]})…")
        note = st.empty()
        default = sentences.kind == "default"
        try:
            start = time.perf_counter()
            if default:  # the server's warm-up computes exactly these: wait on it rather than compute them twice
                share_step(
                    f"{teacher_name}-sentences",
                    lambda d, t: bar.progress(d / t, text=f"Teacher: {d:,} of {t:,} texts (the lab's warm-up)"),
                    say=note.info,
                )
            try:
                targets = cached_vectors(teacher_cache_dir(), teacher_id_for(teacher_name), list(sentences.texts))
            except TeacherUnavailable:
                teacher = cached_teacher(teacher_name)
                bar.progress(
                    0.0, text=f"Teacher: 0 of {len(sentences.texts):,} texts — the first batch takes a few seconds"
                )
                texts, parts = list(sentences.texts), []
                for i in range(0, len(texts), 64):  # small pieces: the bar moves every few seconds, even under MPNet
                    parts.append(teacher.embed(texts[i : i + 64]))
                    done = min(i + 64, len(texts))
                    bar.progress(done / len(texts), text=f"Teacher: {done:,} of {len(texts):,} texts")
                targets = np.concatenate(parts)
            teacher_seconds = time.perf_counter() - start
            note.empty()
            bar.progress(0.0, text=f"The cheap model ({MODELS[cheap_name].split(' — ')[0]}) reads the texts…")
            start = time.perf_counter()
            if default:
                share_step(
                    f"{cheap_name}-sentences",
                    lambda d, t: bar.progress(d / t, text=f"Cheap model: {d:,} of {t:,} texts (the lab's warm-up)"),
                    say=note.info,
                )
            features = cached_text_features(
                lambda: cached_teacher(cheap_name).teacher,
                teacher_id_for(cheap_name),
                list(sentences.texts),
                cache_dir(),
                progress=lambda d, t: bar.progress(d / t, text=f"Cheap model: {d:,} of {t:,} texts"),
            )
            cheap_seconds = time.perf_counter() - start
        except TeacherUnavailable as err:
            st.error(str(err))
            st.stop()
        note.empty()
        bar.empty()
        ss["adapter_prepared"] = prepared = {
            "key": key,
            "targets": np.asarray(targets, dtype=np.float32),
            "features": features,
            "teacher_seconds": teacher_seconds,
            "cheap_seconds": cheap_seconds,
        }
        ss["adapter_results"] = []
        for stale in ("adapter_cost_table", "adapter_zip"):  # they belong to the previous texts or models
            ss.pop(stale, None)
    else:
        st.stop()
targets, features = prepared["targets"], prepared["features"]
st.success(
    f"Ready: {len(sentences.texts):,} texts — teacher vectors of {targets.shape[1]} numbers, cheap model tokens of "
    f"{features.dim} numbers (up to {features.tokens.shape[1]} tokens per text)."
)

# ---- 3. train ----------------------------------------------------------------------------------------------

st.subheader("3 · Train an adapter")
with knobs("The adapter's settings"), st.form("adapter_form"):
    c1, c2, c3 = st.columns(3)
    arch = c1.radio("Adapter", list(ARCHS), format_func=ARCH_LABELS.get, key="adapter_arch")
    pooling = c2.radio(
        "Pooling of the token outputs (attention and GRU)",
        list(POOLINGS),
        index=1,
        key="adapter_pooling",
        format_func={"cls": "CLS (first token)", "mean": "Mean", "max": "Max"}.get,
    )
    c2.caption(" ".join(POOLING_HELP.values()))
    p = c3.select_slider(
        "p — share of texts the teacher embeds for training",
        options=[0.01, 0.03, 0.1, 0.3, 0.5],
        value=0.1,
        key="adapter_p",
    )
    top = min(200, host_settings().max_epochs)
    epochs = c3.number_input("Epochs (not for ridge)", 1, top, min(20, top), key="adapter_epochs")
    c1.caption(
        "Fine-tuning trains the cheap model itself (22 million numbers, not a small adapter): on a CPU one epoch over "
        "the bundled texts takes about 20 seconds at p = 0.1 and a minute at p = 0.5 — 3 to 5 epochs are plenty."
    )
    seed = c3.number_input("Seed", 0, 2**31 - 1, 0, key="adapter_seed")
    go = st.form_submit_button("Train", type="primary", icon=":material/model_training:")

results = ss.setdefault("adapter_results", [])
if go:
    try:
        config = AdapterConfig(
            cheap=cheap_name,
            teacher=teacher_name,
            arch=arch,
            pooling=pooling,
            p=float(p),
            epochs=int(epochs),
            seed=int(seed),
            texts=sentences.label,
        )
        experiment = AdapterExperiment(config, features, targets)
    except ValueError as err:
        st.error(str(err))
    else:
        if config.arch == "finetune":
            experiment.encoder = cached_teacher(cheap_name).teacher
        base_cos = experiment.baseline_cosine
        live, bar, rows = st.empty(), st.progress(0.0, text="Training…"), []
        # On a shared host the adapter trains in one of the host's training slots, under its limits, like every
        # training (the queue's place is shown while it waits); on a personal machine it starts at once.
        slot = (
            job_board().slot(
                ss.get(K.OWNER, ""),
                "adapter",
                epochs=config.epochs,
                waiting=lambda n: bar.progress(0.0, text=f"Waiting for a free trainer: number {n} in the queue…"),
            )
            if host_settings().hosted
            else nullcontext()
        )
        try:
            with slot:
                for record in experiment:
                    rows.append(record.__dict__)
                    bar.progress(record.epoch / config.epochs, text=f"Epoch {record.epoch} of {config.epochs}")
                    live.altair_chart(
                        charts.adapter_curves(pl.DataFrame(rows), base_cos, title="Adapter training (live)"),
                        width="stretch",
                    )
        except QueueFull as err:
            st.warning(str(err))
            rows = []
        except ValueError as err:
            st.error(str(err))
            rows = []
        bar.empty()
        live.empty()
        if rows:
            ss.pop("adapter_zip", None)  # a download belongs to the adapter it was made from
            results.append(
                {
                    "config": config,
                    "records": rows,
                    "model": experiment.model,
                    "baseline_cosine": base_cos,
                    "baseline_euclidean": experiment.baseline_euclidean,
                    "heldout_idx": experiment.heldout_idx,
                    "vectors": embed_with(experiment.model, features),
                }
            )
            ss["adapter_pick"] = len(results) - 1  # a new adapter is the one shown and played with


def adapter_name(config: AdapterConfig) -> str:
    return ARCH_LABELS[config.arch] + (f", {config.pooling} pooling" if config.uses_tokens else "")


if results:

    def result_label(i: int) -> str:
        r = results[i]
        best = max(r["records"], key=lambda rec: rec["heldout_cosine"])
        return f"{i + 1}. {adapter_name(r['config'])}, p = {r['config'].p:g} — held-out cosine {best['heldout_cosine']:.3f}"

    # Everything below (scores, download, cost, playground) is about the adapter picked here, said by name.
    picked = st.selectbox(
        "Adapter to look at and play with",
        list(range(len(results)))[::-1],
        format_func=result_label,
        key="adapter_pick",
        on_change=lambda: ss.pop("adapter_zip", None),
        help="Every adapter trained in this session; the newest first.",
    )
    result = results[picked if picked is not None and picked < len(results) else -1]
    config = result["config"]
    best = best_epoch(result["records"])
    last = next(r for r in result["records"] if r["epoch"] == best)  # the weights kept are the best held-out epoch's
    name = adapter_name(config)
    st.markdown(
        f"**{name}**, p = {config.p:g}: the teacher embedded {len(targets) - len(result['heldout_idx']):,} texts; "
        f"scored on the other {len(result['heldout_idx']):,}."
        + (
            f" Kept: **best epoch {best} of {len(result['records'])}** (the highest cosine on unseen texts)."
            if len(result["records"]) > 1
            else ""
        )
    )
    m1, m2, m3, m4 = st.columns(4)
    m1.metric(
        "Cosine to the teacher (unseen texts)",
        f"{last['heldout_cosine']:.3f}",
        f"{last['heldout_cosine'] - result['baseline_cosine']:+.3f} vs average vector",
    )
    m2.metric(
        "Distance to the teacher (Euclidean)",
        f"{last['heldout_euclidean']:.3f}",
        f"{last['heldout_euclidean'] - result['baseline_euclidean']:+.3f} vs average vector",
        delta_color="inverse",
    )
    m3.metric("Average-vector baseline (cosine)", f"{result['baseline_cosine']:.3f}")
    m4.metric("Training seconds", f"{result['records'][-1]['seconds']:.1f}")
    frame = pl.DataFrame(result["records"])
    show_chart(
        charts.adapter_curves(frame, result["baseline_cosine"]),
        frame,
        EXPLAIN["adapter_curves"],
        key="adapter_curve",
        file_stem="adapter_training",
    )

    if not cheap_name.startswith("hash"):
        if st.button(
            "Prepare a download: cheap model + this adapter as a sentence-transformers model",
            key="adapter_export",
            icon=":material/download:",
        ):
            import tempfile
            from pathlib import Path

            from core.sentences.export import ExportUnavailable, export_adapter, zip_folder

            with st.spinner("Writing the model folder…"), tempfile.TemporaryDirectory() as tmp:
                try:
                    folder = export_adapter(
                        result["model"],
                        config,
                        cached_teacher(cheap_name).teacher,
                        Path(tmp) / f"adapter-{config.arch}",
                        card={"heldout_cosine": last["heldout_cosine"], "baseline_cosine": result["baseline_cosine"]},
                    )
                    ss["adapter_zip"] = (folder.name, zip_folder(folder))
                except ExportUnavailable as err:
                    st.error(str(err))
        if ss.get("adapter_zip"):
            name, data = ss["adapter_zip"]
            st.download_button(
                f"Download {name}.zip ({len(data) / 2**20:.0f} MB)",
                data=data,
                file_name=f"{name}.zip",
                mime="application/zip",
                key="adapter_zip_download",
                icon=":material/folder_zip:",
            )
            if config.uses_tokens:
                st.caption(
                    "Unzip it, then `SentenceTransformer('path/to/folder', trust_remote_code=True)` loads it offline and gives "
                    "the vectors measured here. Sentence-transformers has no built-in attention or GRU layer, so the folder "
                    "carries one short file of code (`modeling_lab_adapter.py`, torch only) — which is why it asks you to "
                    "trust it; read it first."
                )
            else:
                st.caption(
                    "Unzip it, then `SentenceTransformer('path/to/folder')` loads it offline and gives the vectors measured "
                    "here — built from sentence-transformers' own layers, no extra code."
                )

    # ---- 4. cost ---------------------------------------------------------------------------------------------
    st.subheader("4 · What it costs")
    if st.button(
        "Measure the teacher, the cheap model and every adapter trained here",
        key="adapter_cost",
        icon=":material/timer:",
    ):
        sample = list(sentences.texts[:256])
        try:
            with st.spinner("Timing the models on 256 texts…"):
                teacher_ms = ms_per_1k(cached_teacher(teacher_name).teacher, sample, sample=256)
                cheap_ms = ms_per_1k(cached_teacher(cheap_name).teacher, sample, sample=256)
                points = [{"name": "teacher", "ms_per_1k": teacher_ms, "heldout_cosine": 1.0, "kind": "teacher"}]
                for r in results:
                    c = r["config"]
                    label = c.arch + (f"/{c.pooling}" if c.uses_tokens else "") + f", p={c.p:g}"
                    points.append(
                        {
                            "name": label,
                            "ms_per_1k": cheap_ms + adapter_ms_per_1k(r["model"], features, 256),
                            # the kept weights are the best held-out epoch's, as the run card says
                            "heldout_cosine": next(x for x in r["records"] if x["epoch"] == best_epoch(r["records"]))[
                                "heldout_cosine"
                            ],
                            "kind": "cheap model + adapter",
                        }
                    )
            ss["adapter_cost_table"] = pl.DataFrame(points)
        except TeacherUnavailable as err:
            st.error(str(err))
    cost = ss.get("adapter_cost_table")
    if cost is not None:
        show_chart(
            charts.adapter_tradeoff(cost),
            cost,
            EXPLAIN["adapter_tradeoff"]
            + f" For scale: answering the average vector for every text scores {result['baseline_cosine']:.3f} and costs nothing.",
            key="adapter_tradeoff",
            file_stem="adapter_cost",
        )

    # ---- 5. playground -------------------------------------------------------------------------------------
    st.subheader("5 · Playground: the teacher and the adapter side by side")
    student_vectors = result["vectors"]
    model = result["model"]

    def student_vector(text: str) -> np.ndarray:
        return embed_with(model, text_features(cached_teacher(cheap_name).teacher, [text]))[0]

    query = st.text_input("Search the texts for", value="bushfire threatens homes", key="adapter_query", max_chars=500)
    if query.strip():
        try:
            teacher_hits = search(cached_teacher(teacher_name).teacher.embed([query])[0], targets, 5)
            student_hits = search(student_vector(query), student_vectors, 5)
        except TeacherUnavailable as err:
            st.error(str(err))
        else:
            left, right = st.columns(2)
            left.markdown("**Teacher's top 5**")
            left.dataframe(
                pl.DataFrame(
                    {"text": [sentences.texts[i] for i, _ in teacher_hits], "cosine": [s for _, s in teacher_hits]}
                ),
                hide_index=True,
                width="stretch",
                column_config={"cosine": st.column_config.NumberColumn(format="%.3f")},
            )
            right.markdown("**Cheap model + adapter's top 5**")
            right.dataframe(
                pl.DataFrame(
                    {"text": [sentences.texts[i] for i, _ in student_hits], "cosine": [s for _, s in student_hits]}
                ),
                hide_index=True,
                width="stretch",
                column_config={"cosine": st.column_config.NumberColumn(format="%.3f")},
            )
            st.metric(
                "Same texts in both top 5 (overlap@5)",
                f"{overlap_at_k([i for i, _ in teacher_hits], [i for i, _ in student_hits]):.0%}",
            )

    c1, c2 = st.columns(2)
    a = c1.text_input(
        "First text", value="The fire forced people to leave their homes.", key="adapter_a", max_chars=500
    )
    b = c2.text_input(
        "Second text", value="Residents were evacuated as the blaze spread.", key="adapter_b", max_chars=500
    )
    if a.strip() and b.strip():
        t = cached_teacher(teacher_name).teacher.embed([a, b])
        sa, sb = student_vector(a), student_vector(b)
        c1.metric("Similarity under the teacher", f"{float(t[0] @ t[1]):.3f}")
        c2.metric("Similarity under cheap model + adapter", f"{float(sa @ sb):.3f}")

    with st.expander("Paraphrase mining: the most similar pairs among 400 unseen texts"):
        sample = result["heldout_idx"][:400]
        t_pairs = mine_pairs(targets[sample], 8)
        s_pairs = mine_pairs(student_vectors[sample], 8)
        t_set, s_set = {(i, j) for i, j, _ in t_pairs}, {(i, j) for i, j, _ in s_pairs}
        st.metric("Pairs found by both (of 8)", f"{len(t_set & s_set)}")
        st.dataframe(
            pl.DataFrame(
                {
                    "teacher's pair": [
                        f"{sentences.texts[sample[i]]}  ⟷  {sentences.texts[sample[j]]}" for i, j, _ in t_pairs
                    ],
                    "found by the adapter too": [(i, j) in s_set for i, j, _ in t_pairs],
                }
            ),
            hide_index=True,
            width="stretch",
        )
