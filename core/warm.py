"""Warm-up: what the lab computes once, before anyone waits for it.

A list of named steps, each (name, a plain sentence, function(progress)). Every step is idempotent: it
checks its cache first (the SQLite index, a file's presence: no model is loaded for that) and is instant
when its work is done, so a warmed lab home runs the list in seconds. Each bundled model reads each list of
texts once (`core.teachers.one_pass`): one step fills every cache of that (model, texts).
The same steps run at server start, in one low-priority background thread whose status the sidebar shows
(`make run` serves at once), and from `python -m core warm` (`make warm`: everything ready before an
audience). A visitor who needs a step that is still running waits on that very computation (told which,
with its progress and about how long: `WarmUp.waiting_for`) instead of starting it a second time.

    runner = WarmUp()                 # the default steps (see `default_steps`)
    for state in runner.run_all():    # in order; a failing step is reported and the others still run
        print(state.name, state.status, state.seconds)
    runner.ensure("mpnet-words", progress=lambda done, total: ...)   # done now, or wait for / run it

To add a step, add one line to `default_steps` (or call `register(Step(...))` from another module).
Disk caches written here (under the lab home, `core.paths`): the teachers' SQLite caches
(`cache/teachers/<model>.sqlite`, `<model>-layers.sqlite`), the Adapter lab's token outputs
(`cache/text_features/*.npz`), the measured rates (`cache/rates.json`, see `core.teachers.rates`). The static
cheap model's table lives in the models folder (`core.paths.models_dir`, beside the assembled MPNet). The compiled
kernels live in numba's own cache; UMAP's compilation lives in the process (the server repeats it).
"""

from __future__ import annotations

import functools
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from core.config import StudentKind
from core.context import Lab
from core.data.corpus import default_word_list
from core.data.lemmatize import no_lemmatization
from core.data.sentences import default_sentences
from core.evaluation.evaluate import Benchmarks, BenchmarkUnavailable, kept_analogy_answers, read_analogy_answers
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

Progress = Callable[[int, int], None]

MODEL_LABELS = {"minilm": "MiniLM", "mpnet": "MPNet"}
CHUNK = 128  # items per progress report


@dataclass(frozen=True)
class Step:
    name: str  # short and stable: 'mpnet-words'
    sentence: str  # what it computes, in plain words: 'MPNet vectors of 10,002 words'
    run: Callable[[Progress], None]  # idempotent: instant when its cache is complete
    # Seconds the step takes when nothing of it is cached, from this machine's measured rates
    # (`core.teachers.rates`); None: no estimate. What `WarmUp.seconds_left` says before the step has progressed.
    estimate: Callable[[], float | None] | None = None
    # Its work lives in the process that ran it, not on disk (UMAP's compiling: numba's disk cache does not keep
    # it): `python -m core warm` skips it unless named, since the server that needs it compiles it itself.
    in_process_only: bool = False


@dataclass
class StepState:
    name: str
    sentence: str
    status: str = "waiting"  # waiting | running | done | failed
    done: int = 0  # progress within the step (items), when it reports any
    total: int = 0
    seconds: float = 0.0
    error: str | None = None
    started: float | None = None  # time.monotonic() when it started running

    def as_dict(self) -> dict:
        return dict(self.__dict__)


# ---- what the steps compute -------------------------------------------------------------------


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
        from core.sentences.adapters import (  # lazy: loads torch
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

    from core.runs.experiment import read_stored_evaluation, run_vectors, stored_evaluation  # lazy: loads torch
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
        warm_zero_answer(lab.runs_root, lab.teacher_cache, progress=progress)

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


# Earlier names of what a combined step now computes (pages, the job board and `core warm --steps` may use them):
# `WarmUp` answers for them with the step that does the work.
ALIASES = {
    "minilm-layers": "minilm-words",
    "mpnet-layers": "mpnet-words",
    "minilm-tokens": "minilm-sentences",
}


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


# ---- running them -----------------------------------------------------------------------------


_background: list[weakref.ref[WarmUp]] = []  # runners with a background thread (`stop_all`)
_last_thread: threading.Thread | None = None  # the latest runner's background thread (`start_background`)


def stop_all(timeout: float = 120.0) -> list[str]:
    """`WarmUp.stop` on every runner started in the background in this process, waiting up to `timeout` seconds
    in all; the names of the steps still running after it (none, normally)."""
    deadline = time.monotonic() + timeout
    runners = [r for r in (ref() for ref in _background) if r is not None]
    for runner in runners:
        runner.stop()
    for runner in runners:
        runner.stop(max(0.0, deadline - time.monotonic()))
    return [s.name for r in runners if not r.stop() for s in r.states.values() if s.status == "running"]


def _in_words(seconds: float) -> str:
    """'a few seconds', 'about 40 s', 'about 3 min', 'about 1 h 20 min' (the job board's wording: `core.jobs.duration`)."""
    if seconds < 10:
        return "a few seconds"
    if seconds < 60:
        return f"about {int(round(seconds / 5.0) * 5)} s"
    minutes = int(round(seconds / 60.0))
    return f"about {minutes} min" if minutes < 60 else f"about {minutes // 60} h {minutes % 60:02d} min"


class _States(dict):
    """The steps' states by name; an earlier name (`ALIASES`) gives the state of the step that now does its work,
    while iterating gives each step once."""

    def __missing__(self, name: str) -> StepState:
        if ALIASES.get(name) in self:
            return self[ALIASES[name]]
        raise KeyError(name)

    def get(self, name, default=None):
        return self[name] if name in self or ALIASES.get(name) in self else default


@dataclass
class WarmUp:
    """Runs the steps once each, from any number of threads; `status()` says where it stands."""

    steps: list[Step] = field(default_factory=default_steps)

    def __post_init__(self) -> None:
        self.states = _States({s.name: StepState(s.name, s.sentence) for s in self.steps})
        self._locks = {s.name: threading.Lock() for s in self.steps}
        self._by_name = {s.name: s for s in self.steps}
        self.started: float | None = None
        self.finished: float | None = None
        self._stopping = threading.Event()  # `stop`: the background thread starts no further step
        self._thread: threading.Thread | None = None

    def __contains__(self, name: str) -> bool:
        return name in self._by_name or ALIASES.get(name) in self._by_name

    def ensure(self, name: str, progress: Progress | None = None, poll: float = 0.25) -> StepState:
        """Step `name` done: at once when it is; run here when nobody runs it; when another thread runs it,
        wait for that computation (relaying its progress to `progress`) instead of computing it twice."""
        name = name if name in self._by_name else ALIASES.get(name, name)
        state, lock = self.states[name], self._locks[name]
        if state.status == "done":
            if progress and state.total:
                progress(state.total, state.total)
            return state
        while not lock.acquire(timeout=poll):
            if progress and state.total:
                progress(state.done, state.total)
        try:
            if state.status != "done":
                self._run(self._by_name[name], state, progress)
        finally:
            lock.release()
        return state

    def _run(self, step: Step, state: StepState, progress: Progress | None) -> None:
        def report(done: int, total: int) -> None:
            state.done, state.total = int(done), int(total)
            if progress:
                progress(done, total)

        state.status, state.error, state.done, state.total = "running", None, 0, 0
        state.started = time.monotonic()
        start = time.perf_counter()
        try:
            step.run(report)
            state.status = "done"
        except Exception as err:  # reported with a sentence; the other steps still run
            state.status = "failed"
            state.error = f"{type(err).__name__}: {err}"
        finally:
            state.seconds = time.perf_counter() - start

    def run_all(self) -> Iterator[StepState]:
        """Every step in order (one already running elsewhere is waited for); yields each when it ends."""
        self.started = self.started or time.time()
        for step in self.steps:
            if self._stopping.is_set():
                return
            if self.states[step.name].status in ("done", "failed"):
                yield self.states[step.name]
                continue
            yield self.ensure(step.name)
        self.finished = time.time()

    def start_background(self, low_priority: bool = True) -> threading.Thread:
        """`run_all` in one daemon thread; at the lowest CPU priority so a visitor's own work comes first."""

        global _last_thread
        before = _last_thread

        def work() -> None:
            if low_priority:
                try:  # Linux schedules threads as tasks: this lowers only this thread
                    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
                except (AttributeError, OSError):
                    pass
            # One background warm-up at a time in a process: a runner started while an earlier one still runs (its
            # Streamlit cache cleared; every AppTest) waits for it and then finds its steps done, instead of
            # compiling the same kernels beside it. Seven threads queued in numba's compiler at once ended a test
            # run on a busy machine with a segmentation fault inside LLVM.
            while before is not None and before.is_alive() and not self._stopping.is_set():
                before.join(0.5)
            for _ in self.run_all():
                pass

        thread = threading.Thread(target=work, name="lab-warm-up", daemon=True)
        self._thread = thread
        _last_thread = thread
        _background[:] = [r for r in _background if r() is not None] + [weakref.ref(self)]
        thread.start()
        return thread

    def stop(self, timeout: float | None = None) -> bool:
        """No further step starts in the background; wait up to `timeout` seconds (None: no wait) for the running
        one to end. True when no background thread is left. For whoever owns the runner and goes away (a test, a
        server shutting down): a daemon thread still inside numba or torch when the interpreter exits can abort the
        process ("terminate called without an active exception")."""
        self._stopping.set()
        if self._thread is not None and timeout is not None:
            self._thread.join(timeout)
        return self._thread is None or not self._thread.is_alive()

    @property
    def ready(self) -> bool:
        return all(s.status in ("done", "failed") for s in self.states.values())

    def status(self) -> str:
        """One line for the sidebar: 'Preparing: MPNet vectors of 10,002 words (2 of 7)…' or 'Everything is ready'."""
        states = list(self.states.values())
        failed = [s for s in states if s.status == "failed"]
        if self.ready:
            if failed:
                return f"Ready, except {len(failed)} step(s) that failed: " + "; ".join(
                    f"{s.sentence} ({s.error})" for s in failed
                )
            return "Everything is ready"
        running = [(i, s) for i, s in enumerate(states, 1) if s.status == "running"]
        position, current = (running or [(i, s) for i, s in enumerate(states, 1) if s.status == "waiting"])[0]
        share = f", {current.done / current.total:.0%}" if current.status == "running" and current.total else ""
        return f"Preparing: {current.sentence} ({position} of {len(states)}{share})…"

    def seconds_left(self, name: str) -> float | None:
        """About how long step `name` still needs: from its own progress while it runs (time per item so far),
        else from its estimate (this machine's measured rates); 0 when done; None when nothing tells."""
        state = self.states.get(name)
        if state is None:
            return None
        if state.status in ("done", "failed"):
            return 0.0
        if state.status == "running" and state.started is not None and state.total and 0 < state.done:
            elapsed = time.monotonic() - state.started
            if elapsed >= 2.0 or state.done >= state.total:  # the first items include loading the model
                return max(0.0, elapsed / state.done * (state.total - state.done))
        step = self._by_name[state.name]
        try:
            whole = step.estimate() if step.estimate else None
        except Exception:  # noqa: BLE001 - an estimate never breaks the sentence
            whole = None
        if whole is None:
            return None
        if state.status == "running" and state.started is not None:
            return max(0.0, whole - (time.monotonic() - state.started))
        return whole

    def waiting_for(self, name: str) -> str | None:
        """A sentence for a visitor whose click needs step `name` while it runs: None when it is done.

        'The lab is preparing MPNet vectors of 10,002 words in the background: 2,048 of 10,002, about 3 min left.
        Waiting for it rather than computing it twice…'"""
        state = self.states.get(name)
        if state is None or state.status in ("done", "failed"):
            return None
        done = f": {state.done:,} of {state.total:,}" if state.total else ""
        left = self.seconds_left(name)
        if left is not None:
            done += ("," if done else ":") + (f" {_in_words(left)} left" if left >= 1 else " finishing")
        return f"The lab is preparing {state.sentence} in the background{done}. Waiting for it rather than computing it twice…"

    def summary(self) -> list[dict]:
        return [s.as_dict() for s in self.states.values()]
