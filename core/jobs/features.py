"""The cheap models' features an adapter reads, computed before its training starts (saying so), or waited for when
the lab's warm-up is computing those very features (`core.context.Lab.warmup`): never computed twice."""

from __future__ import annotations

from pathlib import Path

from core.config import TrainConfig
from core.context import Lab
from core.jobs.estimates import duration
from core.teachers.rates import embedding_seconds
from core.teachers.teacher import TeacherUnavailable, cached_vectors
from core.warm import steps as warm
from core.words.cheap import cheap_features, features_id


def feature_needs(configs) -> list:
    """One config per distinct (cheap model, kind of features, lemmatization) among the adapters of `configs`."""
    seen, out = set(), []
    for c in configs:
        key = (c.cheap, c.model.features, c.lemmatize)
        if c.cheap and key not in seen:
            seen.add(key)
            out.append(c)
    return out


def features_seconds(config: TrainConfig, data, cache_root: Path) -> float:
    """Seconds to compute the cheap-model features `config` reads that are not in `cache_root` yet (0 when they are)."""
    if data is None or not config.cheap:
        return 0.0
    cheap_id = features_id(config.cheap, config.model.features)  # a static table's 'layers' are its vectors
    try:
        cached_vectors(cache_root, cheap_id, data.items)
        return 0.0
    except TeacherUnavailable:
        return embedding_seconds(cheap_id, len(data.items))


def prepare_cheap_features(configs, data, device: str | None, say, by_mode: dict | None = None, *, lab: Lab) -> None:
    """Compute (or wait for) the cheap-model features the adapters among `configs` read, calling `say(sentence)`
    with what happens: when the lab's warm-up (`lab.warmup`, core.warm) is computing those very features, wait for
    it rather than computing them twice; otherwise compute them with the model `lab.load_model` gives."""
    for config in feature_needs(configs):
        items = (by_mode or {}).get(config.lemmatize, data)
        if items is None or not features_seconds(config, items, lab.teacher_cache):
            continue  # cached already
        kind = config.model.features
        what = (
            f"{warm.MODEL_LABELS.get(config.cheap, config.cheap)} {'layer features' if kind == 'layers' else 'vectors'}"
        )
        runner, step = lab.warmup, warm.step_for_words(config.cheap, kind)
        if runner is not None and step in runner and tuple(items.items) == warm.default_items():
            say(runner.waiting_for(step) or f"Computing the cheap model's features ({what})…")
            state = runner.ensure(
                step,
                lambda d, t: say(
                    f"Waiting for the lab's warm-up to finish the cheap model's features ({what}): {d:,} of {t:,} words"
                ),
            )
            if state.status == "done":
                continue
        eta = duration(features_seconds(config, items, lab.teacher_cache))
        say(
            f"Computing the cheap model's features ({what}) of {len(items.items):,} words, once for this machine ({eta})…"
        )
        cheap_features(
            items.items,
            config.cheap,
            lab.teacher_cache,
            device,
            progress=lambda d, t: say(
                f"Computing the cheap model's features ({what}), once for this machine: {d:,} of {t:,} words"
            ),
            kind=kind,
            load=lab.load_model,
        )
