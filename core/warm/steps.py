"""What the warm-up computes: one factory per kind of step (a model's vectors and layer features of the default words in
one pass, its vectors and token outputs of the bundled sentences, a static table, the story's runs and what their
pages show, the zero-answer map), and `default_steps`, the lab's list, most urgent first. Each step loads its models
through the lab's context (`core.context.Lab.load_model`) and fills the lab's caches; instant when they are full."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable

from core.config import StudentKind
from core.context import Lab
from core.data.corpus import default_word_list
from core.data.lemmatize import no_lemmatization
from core.data.sentences import default_sentences
from core.evaluation.benchmarks import Benchmarks, BenchmarkUnavailable
from core.evaluation.evaluate import kept_analogy_answers, read_analogy_answers
from core.evaluation.projection import (
    MAP_SIZE,
    Method,
    ProjectionCache,
    map_input,
    map_sample,
    project,
    warm_up_umap,
)
from core.paths import runs_dir
from core.teachers.one_pass import encode_views, one_pass_supported
from core.teachers.rates import embedding_seconds
from core.teachers.rates import record_rate as record
from core.teachers.teacher import (
    STATIC_SOURCES,
    CachedTeacher,
    LayerFeatures,
    build_static_model,
    cached_count,
    layer_features_id,
    teacher_id_for,
)
from core.warm.runner import Progress, Step

MODEL_LABELS = {"minilm": "MiniLM", "mpnet": "MPNet"}
CHUNK = 128  # items per progress report


@functools.lru_cache(maxsize=1)
def default_items() -> tuple[str, ...]:
    """The Data page's default items: 10,000 common words plus the paper's pair, not lemmatized."""
    return tuple(no_lemmatization(default_word_list().words).lemmas)


@functools.lru_cache(maxsize=1)
def default_texts() -> tuple[str, ...]:
    """The Adapter lab's bundled sentences."""
    return default_sentences().texts


def vectors_step(
    lab: Lab, name: str, kind: str, items: Callable[[], tuple[str, ...]], rate: str = ""
) -> Callable[[Progress], None]:
    """A model's vectors ('sentence') or layer features ('layers', what the kernel adapter reads) of items,
    into the model's SQLite cache — the very cache `prepare_data` and `cheap_features` read. (The bundled models'
    default steps read both views in one pass: `words_step`.)"""

    def run(progress: Progress) -> None:
        texts = items()
        cache_id = teacher_id_for(name) if kind == "sentence" else layer_features_id(teacher_id_for(name))
        if cached_count(lab.teacher_cache, cache_id, texts) == len(set(texts)):  # the index only: no vector read
            progress(len(texts), len(texts))
            return
        base = lab.load_model(name)
        cached = CachedTeacher(base if kind == "sentence" else LayerFeatures(base), lab.teacher_cache)
        start = time.perf_counter()
        todo = cached.missing(texts)
        for i in range(0, len(todo), CHUNK):  # small pieces, so the progress moves every few seconds
            cached.embed(todo[i : i + CHUNK])
            progress(len(texts) - len(todo) + min(i + CHUNK, len(todo)), len(texts))
        record_rate(cache_id + rate, len(todo), time.perf_counter() - start)

    return run


def words_step(lab: Lab, name: str, items: Callable[[], tuple[str, ...]]) -> Callable[[Progress], None]:
    """A model's vectors AND its layer features of items, from one forward pass per piece (`encode_views`), into
    both SQLite caches (`<model>.sqlite`, `<model>-layers.sqlite`): what `vectors_step` computes for each kind,
    for the price of one. Only the items missing from either cache are read; instant when both are complete."""

    def run(progress: Progress) -> None:
        texts = items()
        sentence_id = teacher_id_for(name)
        layers_id = layer_features_id(sentence_id)
        unique = len(set(texts))
        if all(cached_count(lab.teacher_cache, i, texts) == unique for i in (sentence_id, layers_id)):
            progress(len(texts), len(texts))
            return
        base = lab.load_model(name)
        sentences, layers = (
            CachedTeacher(base, lab.teacher_cache),
            CachedTeacher(LayerFeatures(base), lab.teacher_cache),
        )
        missing = set(sentences.missing(texts)) | set(layers.missing(texts))
        todo = sorted((t for t in dict.fromkeys(texts) if t in missing), key=len)  # similar lengths, little padding
        start = time.perf_counter()
        for i in range(0, len(todo), CHUNK):  # small pieces: the progress moves, and each is kept as it comes
            piece = todo[i : i + CHUNK]
            views = encode_views(base, piece, layers=True)
            sentences.keep(piece, views.sentence)
            layers.keep(piece, views.layers)
            progress(len(texts) - len(todo) + i + len(piece), len(texts))
        seconds = time.perf_counter() - start
        for cache_id in (sentence_id, layers_id):  # one pass paid for both: either alone costs about that
            record_rate(cache_id, len(todo), seconds)

    return run


def texts_step(lab: Lab, name: str, items: Callable[[], tuple[str, ...]], tokens: bool) -> Callable[[Progress], None]:
    """A model's vectors of a list of texts (the Adapter lab's sentences) into its SQLite cache and, with `tokens`,
    its token outputs of the same texts into the Adapter lab's .npz (`cached_text_features`) — from one forward
    pass (`encode_views`; a text longer than 64 tokens is read whole once more for its vector). Instant when both
    are complete."""

    def run(progress: Progress) -> None:
        from core.sentences.features import (  # lazy: loads torch
            cached_text_features,
            keep_text_features,
            text_features_path,
        )

        texts = items()
        model_id = teacher_id_for(name)
        path = text_features_path(lab.cache, model_id, texts)
        need_tokens = tokens and not path.is_file()
        need_vectors = cached_count(lab.teacher_cache, model_id, texts) != len(set(texts))
        if not (need_tokens or need_vectors):
            progress(len(texts), len(texts))
            return
        base = lab.load_model(name)
        cache = CachedTeacher(base, lab.teacher_cache)
        start = time.perf_counter()
        if one_pass_supported(base):
            # also for the vectors alone: `encode_views` reads the texts shortest first in batches of 64, which on a
            # CPU is 2.5x faster for these sentences than the teacher's own batches of 256 (MPNet, 384 sentences:
            # 22.9 s against 56.9 s, same vectors to 1.5e-8)
            views = encode_views(base, texts, layers=False, tokens=need_tokens, progress=progress)
            if need_tokens:
                pad = int(getattr(base.model.tokenizer, "pad_token_id", 0) or 0)
                keep_text_features(path, views.tokens, views.ids, pad)
                record_rate(f"{model_id}-tokens", len(texts), time.perf_counter() - start)
            if need_vectors:
                cache.keep(texts, views.sentence)
            record_rate(f"{model_id}-sentences", len(texts), time.perf_counter() - start)
            return
        if need_tokens:  # a model read view by view (the fake teacher)
            cached_text_features(base, model_id, texts, lab.cache, progress=progress)
            record_rate(f"{model_id}-tokens", len(texts), time.perf_counter() - start)
        if need_vectors:
            vectors_step(lab, name, "sentence", items, "-sentences")(progress)

    return run


def static_step(lab: Lab, name: str) -> Callable[[Progress], None]:
    """A static cheap model: its table distilled from its encoder (once: MiniLM 15 s on two idle CPU cores, MPNet a
    few times that; the progress counts the encoder's vocabulary), then its vectors of the default words (a second)."""

    def run(progress: Progress) -> None:
        build_static_model(progress, name)
        vectors_step(lab, name, "sentence", default_items)(progress)

    return run


def kernels_step(progress: Progress) -> None:
    from core.kernels import lazy_adam  # lazy: loads numba

    lazy_adam.warm_up()  # loads from numba's disk cache when compiled before: well under a second


_umap_ready = threading.Event()


def umap_step(progress: Progress) -> None:
    if _umap_ready.is_set():  # compiled in this process already
        return

    warm_up_umap()
    _umap_ready.set()


def story_step(lab: Lab) -> Callable[[Progress], None]:
    def run(progress: Progress) -> None:
        from core.story import warm_story  # lazy: loads polars

        # the default words and the lab's model loader; trains only the runs not stored yet (instant when all are)
        warm_story(lab.runs_root, lab.teacher_cache, progress=progress, items=default_items(), load=lab.load_model)

    return run


def run_stamp(run_id: str) -> int:
    """When a stored run was last written (its run.json's mtime, 0 when unreadable): part of the keys of what is kept
    for it (its map), as `pages/_shared.py` computes it, so a kept view never outlives the run it shows."""
    from core.runs.store import check_run_id  # lazy: loads numba, torch

    try:
        return (runs_dir() / check_run_id(run_id) / "run.json").stat().st_mtime_ns
    except (OSError, ValueError):
        return 0


def story_pages_step(lab: Lab) -> Callable[[Progress], None]:
    return lambda progress: warm_story_pages(progress=progress, lab=lab)


def warm_story_pages(settings=None, progress: Progress | None = None, lab: Lab | None = None) -> list[str]:
    """What the pages the story's doors open show for the story's runs, computed ahead and kept where the pages look
    (a fresh server finds it on disk): every story run's held-out evaluation (`evaluation-heldout.json` in its
    folder: Honest evaluation and its quality-per-query chart, the Poisoning lab's analogy damage), and for the
    side-by-side pair (the runs the doors open on the map and on Analogies) the benchmark's analogy answers
    (`analogy-answers-heldout.json`) and the map of the story's words, PCA and UMAP (`cache/projections`, under
    `ProjectionCache.run_key`). Instant when all is kept (a file read per run); nothing when no story run is stored.
    `settings`: the story's (`core.story.StorySettings`; default from the environment); `lab`: its folders (default:
    the lab home's). Returns the runs it looked at."""
    import numpy as np

    from core.runs.evaluated import read_stored_evaluation, run_vectors, stored_evaluation  # lazy: loads torch
    from core.runs.store import list_runs, load_run  # lazy: loads numba, torch
    from core.story import StorySettings, find_story_runs  # lazy: loads polars, torch

    lab = lab or Lab.from_environment()
    settings = settings or StorySettings.from_env()
    progress = progress or (lambda done, total: None)
    story = find_story_runs(list_runs(lab.runs_root), settings)
    ids = list(dict.fromkeys(story.found.values()))
    pair = [r for r in (story.run_id(StudentKind.B), story.run_id(StudentKind.KERNEL)) if r]
    total, done = len(ids) + len(pair), 0
    progress(0, total)
    for run_id in ids:
        stored = load_run(lab.runs_root, run_id)
        if read_stored_evaluation(stored.folder) is None:
            try:
                stored_evaluation(stored, lab.teacher_cache, "heldout")
            except BenchmarkUnavailable:
                pass  # no benchmark files here: the page says so itself
        done += 1
        progress(done, total)
    try:
        questions = Benchmarks.bundled().analogies
    except BenchmarkUnavailable:
        questions = None
    cache = ProjectionCache(lab.cache / "projections")
    for run_id in pair:
        stored = load_run(lab.runs_root, run_id)
        items = stored.items["item"].to_list()
        index = {w: i for i, w in enumerate(items)}
        idx = map_sample(len(items), MAP_SIZE, always=[index[w] for w in settings.words if w in index])
        stamp = run_stamp(run_id)
        maps = [m for m in Method if cache.get(ProjectionCache.run_key(run_id, stamp, idx, m)) is None]
        answers = questions is not None and read_analogy_answers(stored.folder, len(items)) is None
        if maps or answers:
            vectors = run_vectors(stored, lab.teacher_cache)
            _, x = map_input(vectors.teacher, vectors.student, vectors.index(), settings.words)
            for method in maps:  # PCA first: instant
                project(x, method, cache, key=ProjectionCache.run_key(run_id, stamp, idx, method))
            if answers:
                held = np.asarray(vectors.groups) == "held-out"
                finished = stored.meta.get("status", "finished") == "finished"
                kept_analogy_answers(
                    stored.folder, vectors.student, vectors.teacher, vectors.items, questions, held, keep=finished
                )
        done += 1
        progress(done, total)
    return ids


def zero_answer_step(lab: Lab) -> Callable[[Progress], None]:
    def run(progress: Progress) -> None:
        from core.story import warm_zero_answer  # lazy: loads polars

        # step 4's student given no answer (mini-vec2vec on the story's words: a few minutes, once; then a file read)
        warm_zero_answer(lab.runs_root, lab.teacher_cache, progress=progress, load=lab.load_model)

    return run


def record_rate(model_id: str, items: int, seconds: float) -> None:
    """Keep what a model's computation measured (ms per item) for later estimates; never fatal."""
    try:
        record(model_id, items, seconds)
    except (OSError, ValueError):
        pass


UMAP_COMPILE_S = 40.0  # numba compiling UMAP, once per process, on the 2-core box (../shared/ENVIRONMENT.md)


def _estimate(name: str, items: Callable[[], tuple[str, ...]], rate: str = "") -> Callable[[], float]:
    """Seconds a bundled model's pass over `items` takes from scratch, at this machine's measured rate."""
    return lambda: embedding_seconds(f"{teacher_id_for(name)}{rate}", len(items()))


def default_steps(lab: Lab | None = None) -> list[Step]:
    """The lab's warm-up, most urgent first (a presenter's first clicks), one line per step. Each bundled model
    reads each list of texts once: the words' vectors and layer features together (`words_step`), the sentences'
    vectors and token outputs together (`texts_step`). `lab`: the folders the steps fill and how they load a model
    (`core.context.Lab`; default: the lab home's, `load_teacher`); a step loads a model only when it has work."""
    lab = lab or Lab.from_environment()
    words, texts = f"{len(default_items()):,} words", f"{len(default_texts()):,} sentences"
    return [
        Step("kernels", "the training kernels (compiled once)", kernels_step),
        Step(
            "minilm-words",
            f"MiniLM vectors and layer features of {words} (one pass; the layers are what MPNet's adapters read)",
            words_step(lab, "minilm", default_items),
            _estimate("minilm", default_items),
        ),
        Step(
            "static",
            f"the static cheap model from MiniLM (a word table, built once) and its vectors of {words}",
            static_step(lab, "static"),
        ),
        Step(
            "static-mpnet",
            f"the static cheap model from MPNet (what MiniLM's adapters read; built once) and its vectors of {words}",
            static_step(lab, "static-mpnet"),
        ),
        Step(
            "mpnet-words",
            f"MPNet vectors and layer features of {words} (one pass; the layers are what MiniLM's adapters read)",
            words_step(lab, "mpnet", default_items),
            _estimate("mpnet", default_items),
        ),
        Step(
            "umap", "the map projection (UMAP compiles once)", umap_step, lambda: UMAP_COMPILE_S, in_process_only=True
        ),
        Step("story", "the story's trained students (Model B and the adapter, 12 runs)", story_step(lab)),
        Step(
            "story-pages",
            "what the pages the story opens show for its students (their scores, maps and analogies)",
            story_pages_step(lab),
        ),
        Step(
            "minilm-sentences",
            f"MiniLM vectors and token outputs of {texts} (one pass; the Adapter lab's cheap model)",
            texts_step(lab, "minilm", default_texts, tokens=True),
            _estimate("minilm", default_texts, "-tokens"),
        ),
        Step(
            "mpnet-sentences",
            f"MPNet vectors of {texts} (the Adapter lab's teacher)",
            texts_step(lab, "mpnet", default_texts, tokens=False),
            _estimate("mpnet", default_texts, "-sentences"),
        ),
        Step(
            "zero-answer",
            "the story's student given no answer (a map between the two models' spaces, fitted once)",
            zero_answer_step(lab),
        ),
        *_registered,
    ]


_registered: list[Step] = []


def register(step: Step) -> None:
    """Add a step after the default ones (replacing one of the same name); for modules outside this file."""
    _registered[:] = [s for s in _registered if s.name != step.name] + [step]


def step_for_words(teacher: str, kind: str = "sentence") -> str | None:
    """The step that computes `teacher`'s vectors (or layer features) of the default words, if one does: both kinds
    come from the same step (one pass); the static model's 'layers' are its vectors (`cheap_features`)."""
    if teacher in STATIC_SOURCES:
        return teacher
    return f"{teacher}-words" if teacher in MODEL_LABELS else None
