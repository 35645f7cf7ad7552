"""Sweeps: the paper's grids (p x epochs x lemmatization x poison, Model A and B) in one call.

Each run records every epoch, so one run per p gives the whole epoch axis. Runs already in the
store (same settings, same teacher, same vocabulary, finished, trained here rather than imported) are
reused, not retrained; since
every finished run is saved atomically, running an interrupted sweep again resumes it.

    grid = SweepGrid.paper()                       # 2 models x 10 p x 2 lemma x 2 poison = 80 runs
    for progress in run_sweep(grid, prepared_by_mode, runs_dir()):
        print(progress.done, progress.total, progress.eta_seconds)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from core.config import PAPER_PS, LemmaMode, StudentKind, TrainConfig, check_selection
from core.runs.executors import Executor, LocalExecutor
from core.runs.experiment import PreparedData
from core.runs.store import StoredRun, list_runs
from core.words.train import group_key, max_group_size

# How often a sweep's runs rewrite their folders while training (every epoch is journaled anyway): a
# group writes every run's table at once (10 runs of the paper's grid: ~160 MB), so less often than a
# single training's 2 s; a killed sweep loses no epoch, only up to this much of its weights' progress.
SWEEP_CHECKPOINT_SECONDS = 30.0


@dataclass(frozen=True)
class SweepGrid:
    """Which runs a sweep trains: every combination of the listed values."""

    teacher: str = "minilm"
    models: tuple[StudentKind, ...] = (StudentKind.B,)
    ps: tuple[float, ...] = PAPER_PS
    epochs: int = 80
    lemmatize: tuple[LemmaMode, ...] = (LemmaMode.NONE,)
    poison: tuple[float, ...] = (0.0,)
    seed: int = 0
    vocabulary: str = "default-10000"
    adversaries: tuple[str, ...] = ("random",)
    defences: tuple[str, ...] = ("none",)
    poison_scope: str = "all"
    selections: tuple[str, ...] = ("random",)  # which words each run asks (core.data.selection)
    seeds: tuple[int, ...] = ()  # several seeds for uncertainty bands; empty: just `seed`
    cheap: str = ""  # adapters: the cheap model they read ('' = the teacher's default, core.config.default_cheap)

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(StudentKind.parse(m) for m in self.models))
        object.__setattr__(self, "lemmatize", tuple(LemmaMode(m) for m in self.lemmatize))
        object.__setattr__(self, "ps", tuple(sorted({float(p) for p in self.ps})))
        object.__setattr__(self, "poison", tuple(sorted({float(r) for r in self.poison})))
        object.__setattr__(self, "adversaries", tuple(dict.fromkeys(str(a).strip().lower() for a in self.adversaries)))
        object.__setattr__(self, "defences", tuple(dict.fromkeys(str(d).strip().lower() for d in self.defences)))
        object.__setattr__(self, "selections", tuple(dict.fromkeys(check_selection(s) for s in self.selections)))
        object.__setattr__(self, "seeds", tuple(dict.fromkeys(self.seeds)) or (self.seed,))
        for name in ("models", "ps", "lemmatize", "poison", "adversaries", "defences", "selections"):
            if not getattr(self, name):
                raise ValueError(f"A sweep needs at least one value for {name}.")
        runs = len(self.configs())  # builds every TrainConfig: each value is validated here
        if runs > 400:
            raise ValueError(f"This grid has {runs} runs; the limit is 400. Choose fewer values.")

    @classmethod
    def paper(cls, teacher: str = "minilm", vocabulary: str = "default-10000", epochs: int = 80) -> SweepGrid:
        """Figures 2-12 of the paper: Model A and B, its ten p, 80 epochs, lemmas on/off, 0 / 10 % poison."""
        return cls(
            teacher=teacher,
            models=(StudentKind.A, StudentKind.B),
            ps=PAPER_PS,
            epochs=epochs,
            lemmatize=(LemmaMode.NONE, LemmaMode.SPACY),
            poison=(0.0, 0.1),
            vocabulary=vocabulary,
        )

    def configs(self) -> list[TrainConfig]:
        """One config per run, grouped so runs sharing prepared data are next to each other.
        Clean runs (poison 0) are one run whatever the adversary, so they appear once per defence."""
        out, seen = [], set()
        for seed, selection, lemma, model, poison, adversary, defence, p in itertools.product(
            self.seeds,
            self.selections,
            self.lemmatize,
            self.models,
            self.poison,
            self.adversaries,
            self.defences,
            self.ps,
        ):
            config = TrainConfig(
                teacher=self.teacher,
                model=model,
                p=p,
                epochs=self.epochs,
                lemmatize=lemma,
                poison=poison,
                seed=seed,
                vocabulary=self.vocabulary,
                adversary=adversary,
                poison_scope=self.poison_scope,
                defence=defence,
                selection=selection,
                cheap=self.cheap,
            )
            key = tuple(sorted(config.to_dict().items()))
            if key not in seen:
                seen.add(key)
                out.append(config)
        return out


def find_stored(runs: pl.DataFrame, config: TrainConfig, teacher_id: str) -> str | None:
    """The id of a finished stored run with exactly these settings, if any, trained here.

    An imported run (`imported` in its run.json, set by core.runs.takeaway.import_run) is never reused: its
    scores and seconds were measured somewhere else, or written by hand — a well-formed fake shared in the
    gallery would otherwise be drawn as a paper figure on every classmate's Sweep page. It stays listed and
    can be opened, compared and taken away; the grid point is trained here instead."""
    if runs.is_empty():
        return None
    trained_here = ~pl.col("imported") if "imported" in runs.columns else pl.lit(True)
    match = runs.filter(
        trained_here
        & (pl.col("status") == "finished")
        & (pl.col("teacher") == teacher_id)
        & (pl.col("model") == config.model.value)
        & ((pl.col("p") - config.p).abs() < 1e-12)
        & (pl.col("epochs") == config.epochs)
        & (pl.col("lemmatize") == config.lemmatize.value)
        & ((pl.col("poison") - config.poison).abs() < 1e-12)
        & (pl.col("seed") == config.seed)
        & (pl.col("vocabulary") == config.vocabulary)
        & (pl.col("batch_size") == config.batch_size)
        & ((pl.col("lr") - config.lr).abs() < 1e-15)
        & (pl.col("cheap") == config.cheap)
        & (pl.col("adversary") == config.adversary)
        & (pl.col("poison_scope") == config.poison_scope)
        & (pl.col("defence") == config.defence)
        & ((pl.col("trim") - config.trim).abs() < 1e-12)
        & (pl.col("selection") == config.selection)
    )
    return match["run_id"][0] if match.height else None


@dataclass
class SweepProgress:
    total: int
    done: int = 0
    reused: int = 0
    trained: int = 0
    run_ids: list[str] = field(default_factory=list)
    current: TrainConfig | None = None
    last_reused: bool = False  # whether the latest run came from the store
    train_seconds: float = 0.0  # time spent training (not reusing)

    @property
    def eta_seconds(self) -> float | None:
        """Remaining time, from the average of the runs trained so far (reused runs cost nothing)."""
        if not self.trained:
            return None
        return self.train_seconds / self.trained * (self.total - self.done)


def run_sweep(
    grid: SweepGrid,
    prepared: Mapping[LemmaMode, PreparedData],
    runs_root: Path,
    device: str | None = None,
    should_stop: Callable[[], bool] | None = None,
    group: bool = True,
    owner: str = "",
    private: bool = False,
    checkpoint_every: float | None = None,
    executor: Executor | None = None,
    cache_root: Path | None = None,
) -> Iterator[SweepProgress]:
    """Train every run of the grid that is not stored yet; yields progress after each run.

    `prepared` maps each lemmatization mode of the grid to its prepared data (same teacher).
    Stopping keeps every finished run; running the same sweep again resumes. With `group` the
    lookup-table runs that can train together do (`core.words.train.train_group`: the same curves, less overhead),
    so their progress arrives a group at a time. `private` (hosted mode): reuse only `owner`'s runs and the
    shared gallery's, never another person's private runs. `checkpoint_every` (seconds; see
    `core.runs.experiment.TrainingRun`): every run in training journals each epoch and checkpoints its folder at
    most this often, so a killed process leaves its runs' epochs for `core.runs.store.recover_interrupted`.
    `executor` (`core.runs.executors`): where the batches train, this thread (the default) or a Ray cluster; the
    same runs either way (a Ray sweep's runs arrive in the order they end). `cache_root`: where the runs read the
    cheap models' features (the teachers' caches; default the lab home's).
    """
    missing = [m.value for m in grid.lemmatize if m not in prepared]
    if missing:
        raise ValueError(f"Prepare the data for lemmatization {', '.join(missing)} before this sweep.")
    configs = grid.configs()
    progress = SweepProgress(total=len(configs))
    stored = list_runs(runs_root)
    if private:  # a hosted sweep reuses only what its owner may see: their own runs and the gallery
        stored = stored.filter((pl.col("owner") == owner) | pl.col("shared"))
    pending: list[TrainConfig] = []
    for config in configs:
        run_id = find_stored(stored, config, prepared[config.lemmatize].teacher_id)
        if run_id is None:
            pending.append(config)
            continue
        progress.current, progress.last_reused = config, True
        progress.reused += 1
        progress.run_ids.append(run_id)
        progress.done += 1
        yield progress

    executor = executor or LocalExecutor()
    extra = {"sweep": True, **({"owner": owner} if owner else {})}
    batches = training_batches(pending, prepared, group)
    for result in executor.run(
        batches,
        prepared,
        runs_root,
        device=device,
        should_stop=should_stop,
        checkpoint_every=checkpoint_every,
        extra=extra,
        cache_root=cache_root,
    ):
        if not all(run.complete for run in result.runs):  # stopped mid-run: saved as 'stopped', not counted
            return
        progress.current, progress.last_reused = batches[result.index][0], False
        for run in result.runs:
            progress.trained += 1
            progress.train_seconds += result.seconds / len(result.runs)
            progress.run_ids.append(run.run_id)
            progress.done += 1
            progress.current = run.config
            yield progress


def training_batches(
    pending: list[TrainConfig], prepared: Mapping[LemmaMode, PreparedData], group: bool = True
) -> list[list[TrainConfig]]:
    """The pending runs in training order: groups of runs that train together (same `group_key`, at most
    `max_group_size`), or single runs; each a batch for `core.runs.executors.train_batch`. A sweep's and the
    story's (`core.story.warm_story`) runs are batched here."""
    out: list[list[TrainConfig]] = []
    groups: dict[tuple, list[TrainConfig]] = {}
    for config in pending:
        data = prepared[config.lemmatize]
        key = group_key(config, len(data.items), int(data.clean.shape[1])) if group else None
        if key is None:
            out.append([config])
            continue
        members = groups.setdefault(key, [])
        if not members:
            out.append(members)  # the group trains where its first run stood in the grid
        members.append(config)
        if len(members) >= max_group_size(len(data.items), int(data.clean.shape[1])):
            groups.pop(key)
    return out


def sweep_frame(runs: Iterable[StoredRun]) -> pl.DataFrame:
    """Every epoch of the given stored runs, with their settings: the data behind the sweep figures."""
    frames = []
    for run in runs:
        c = run.config
        frames.append(
            run.epochs.with_columns(
                run_id=pl.lit(run.run_id),
                model=pl.lit(c.model.value),
                p=pl.lit(c.p),
                lemmatize=pl.lit(c.lemmatize.value),
                poison=pl.lit(c.poison),
                train_size=pl.lit(run.meta["train_size"]),
                adversary=pl.lit(c.adversary),
                defence=pl.lit(c.defence),
                selection=pl.lit(c.selection),
                seed=pl.lit(c.seed),
            )
        )
    return pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame()
