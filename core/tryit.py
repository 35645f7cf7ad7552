"""Try it (the Start page's "Train my first students"): the story's side-by-side pair for a person's p and seed,
reused when an identical finished run is stored and theirs to see (`find_identical`), joined when an identical
training is in flight (`plan_try_it(running=...)`), else trained; and the sentence that says which.

    plan = plan_try_it(settings, owner, hosted, gallery=True, running=board.trainings())
    plan.to_train          # what must train (together: core.jobs.JobBoard.submit_together)
    plan.sentence()        # "The same pair was trained at 10:02 for a classmate — here it is. …"
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from core.config import TrainConfig
from core.errors import LabError
from core.paths import runs_dir
from core.story import StorySettings, describe, pair_configs, story_scores
from core.teachers.teacher import teacher_id_for


@dataclass(frozen=True)
class StoredTwin:
    """A finished stored run trained with exactly a config's settings (`find_identical`): reusing it gives the
    very result a new training would (same teacher, words, p, seed, student and every other setting)."""

    config: TrainConfig
    run_id: str
    owner: str  # who trained it: '' = the lab itself (the warm-up, the command line)
    created: str  # run.json's time, '%Y-%m-%dT%H:%M:%S%z'
    story: bool  # trained ahead for the story by the warm-up (`warm_story`)


def find_identical(
    config: TrainConfig,
    owner: str = "",
    hosted: bool = False,
    runs_root: Path | None = None,
    runs: pl.DataFrame | None = None,
    gallery: bool = True,
) -> StoredTwin | None:
    """The newest finished run trained here with exactly `config`'s settings (`core.runs.sweep.find_stored`: every
    field of the config, the teacher by its id, never an imported run) that `owner` may open
    (`core.runs.visibility.visible_runs`: on a host their own, the gallery's and the lab's runs); None when there
    is none. `runs`: `list_runs(runs_root)`'s frame when the caller has it. Reads the found run's run.json only
    (`core.runs.store.read_meta`): loading the whole run (its tables of 10,002 words) cost seconds per click."""
    from core.runs.store import check_run_id, list_runs, read_meta  # lazy: loads numba, torch
    from core.runs.sweep import find_stored  # lazy: loads numba, torch
    from core.runs.visibility import visible_runs  # lazy: loads polars

    root = Path(runs_root or runs_dir())
    frame = list_runs(root) if runs is None else runs
    seen = visible_runs(frame, owner, hosted, gallery=gallery, unowned=True)
    run_id = find_stored(seen, config, teacher_id_for(config.teacher))
    if run_id is None:
        return None
    row = seen.filter(pl.col("run_id") == run_id).row(0, named=True)
    try:
        story = bool(read_meta(root / check_run_id(run_id), run_id).get("story"))
    except (LabError, ValueError, OSError):  # damaged (DamagedData), deleted or closed since it was listed: not reused
        return None
    return StoredTwin(config, run_id, str(row.get("owner") or ""), str(row.get("created") or ""), story)


def try_it_extra(hosted: bool, gallery: bool = True) -> dict:
    """What Try it stores in its runs' run.json beside the owner: on a host with a gallery, `shared`. A Try-it pair
    holds nothing of the person's (the lab's words, teacher and settings; only p and the seed chosen), and the
    class's identical clicks are one computation: in the gallery, a classmate's click reuses it, or joins it while
    it trains (`plan_try_it`), instead of training the same pair again."""
    return {"shared": True} if hosted and gallery else {}


def may_join(job, owner: str, hosted: bool, gallery: bool) -> bool:
    """Whether `owner` may watch a training in flight as their own Try it: the rule of `visible_runs` for the run it
    will store (own, the lab's, or the gallery's)."""
    if not hosted or job.owner in ("", owner):
        return True
    return gallery and bool((getattr(job, "extra", None) or {}).get("shared"))


@dataclass(frozen=True)
class TryItPlan:
    """Try it's pair (Model B, the adapter; `pair_configs`): which are reused from the store, which join an identical
    training in flight, which must train."""

    configs: tuple  # TrainConfigs, Model B first
    reused: dict  # TrainConfig -> StoredTwin
    owner: str = ""
    hosted: bool = False
    joined: dict = field(default_factory=dict)  # TrainConfig -> the identical TrainingJob training now (core.jobs)

    @property
    def to_train(self) -> list[TrainConfig]:
        return [c for c in self.configs if c not in self.reused and c not in self.joined]

    def _whose(self, job) -> str:
        """Whom a joined training is for, to follow 'is training': 'for a classmate', 'for you'."""
        if not job.owner:
            return "for the lab"
        if self.owner and job.owner == self.owner:
            return "for you (an earlier click)"
        return "for a classmate" if self.hosted else "on this computer"

    def _joined_sentence(self, now=None, trained: bool = False) -> str:
        change = "Change p or the seed to train a new one."
        if set(self.joined) == set(self.configs) and len({self._whose(j) for j in self.joined.values()}) == 1:
            whose = self._whose(next(iter(self.joined.values())))
            if trained:
                return (
                    f"The same pair was trained just now {whose}: you watched that training, not a second one. {change}"
                )
            return (
                f"The same pair is already training {whose}: you watch that training instead of starting a second one."
            )
        parts = []
        for c in self.configs:
            if c in self.reused:
                parts.append(
                    f"{describe(c)} was trained {_origin(self.reused[c], self.owner, self.hosted, now)}: it is reused"
                )
            elif c in self.joined:
                whose = self._whose(self.joined[c])
                parts.append(
                    f"{describe(c)} was trained just now {whose}: you watched that training"
                    if trained
                    else f"{describe(c)} is already training {whose}: you watch that training"
                )
            else:
                parts.append(f"{describe(c)} {'was trained just now' if trained else 'trains now'}")
        text = "; ".join(parts)
        return f"{text[0].upper()}{text[1:]}."

    def sentence(self, now=None, trained: bool = False) -> str | None:
        """What was reused or joined, in plain words; None when nothing was. `trained`: the others have been trained
        since."""
        if self.joined:
            return self._joined_sentence(now, trained)
        if not self.reused:
            return None
        change = "Change p or the seed to train a new one."
        twins = [self.reused[c] for c in self.configs if c in self.reused]
        whens = {_origin(t, self.owner, self.hosted, now) for t in twins}
        if len(twins) == len(self.configs):
            if len(whens) == 1:
                return f"The same pair was trained {whens.pop()} — here it is. {change}"
            return (
                "The same pair was trained before — "
                + "; ".join(f"{describe(t.config)} {_origin(t, self.owner, self.hosted, now)}" for t in twins)
                + f". Here it is. {change}"
            )
        (twin,) = twins
        (other,) = self.to_train
        return (
            f"The same {describe(twin.config)} was trained {_origin(twin, self.owner, self.hosted, now)}: it is reused; "
            f"{describe(other)} {'was trained just now' if trained else 'trains now'}."
        )


def _clock(created: str, now=None) -> str:
    """'at 10:02' (today) or 'on 6 December at 10:02', in the run's own time zone; '' when unreadable."""
    from datetime import datetime

    try:
        when = datetime.strptime(created, "%Y-%m-%dT%H:%M:%S%z")
    except (TypeError, ValueError):
        return ""
    now = now or datetime.now(when.tzinfo)
    if when.date() == now.astimezone(when.tzinfo).date():
        return f"at {when:%H:%M}"
    return f"on {when.day} {when:%B} at {when:%H:%M}"


def _origin(twin: StoredTwin, owner: str, hosted: bool, now=None) -> str:
    """Where a reused run came from, to follow 'was trained': 'when the lab was set up', 'at 10:02 for a classmate'."""
    clock = _clock(twin.created, now)
    if twin.story:
        return "when the lab was set up"
    if not twin.owner:
        return f"{clock} by the lab".strip()
    if owner and twin.owner == owner:
        return f"{clock} by you".strip()
    if hosted:
        return f"{clock} for a classmate".strip()
    return f"{clock} on this computer".strip()


def plan_try_it(
    settings: StorySettings,
    owner: str = "",
    hosted: bool = False,
    runs_root: Path | None = None,
    gallery: bool = True,
    running: Sequence = (),
) -> TryItPlan:
    """Try it's pair for `settings`: each of Model B and the adapter reused when an identical finished run is stored
    and visible to `owner` (`find_identical`); else joined when an identical training is in flight in `running`
    (`core.jobs.JobBoard.trainings()`, newest first) and its run will be visible to `owner` (own, the lab's, or
    shared: `try_it_extra`), so a class's identical clicks cost one training; the others to train (together:
    `core.jobs.JobBoard.submit_together`). Reading the store only: well under a second for a class's runs."""
    from core.runs.store import list_runs  # lazy: loads numba, torch

    root = Path(runs_root or runs_dir())
    frame = list_runs(root)
    configs = pair_configs(settings)
    reused, joined = {}, {}
    for config in configs:
        twin = find_identical(config, owner, hosted, root, frame, gallery)
        if twin is not None:
            reused[config] = twin
            continue
        job = next((j for j in running if j.config == config and may_join(j, owner, hosted, gallery)), None)
        if job is not None:
            joined[config] = job
    return TryItPlan(configs, reused, owner, hosted, joined)


def score_when_stored(settings: StorySettings, runs_root: Path | None = None, cache_root: Path | None = None):
    """What each training of a Try-it pair computes once its run is stored, before it counts as done
    (`core.jobs.JobBoard.submit_together(then=...)`): the story's scores of that run (`story-scores.json`, what step 3
    shows), in the training's own thread, so the two are scored side by side and step 3 redraws by reading two
    small files (scored by the page after both were done, 2026-12-07: 4 s of a new pair's 22 s, quiet).
    `cache_root`: the teachers' cache folder (default: the lab home's)."""
    from core.runs.store import load_run  # lazy: loads numba, torch

    root = Path(runs_root or runs_dir())

    def score(run_id: str) -> None:
        story_scores(load_run(root, run_id), cache_root, settings)

    return score
