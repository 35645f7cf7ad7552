"""The commands that train and measure: `embed`, `train`, `sweep`, `evaluate`, `adapter`."""

from __future__ import annotations

import json
import time

from core.cli.common import cached_teacher, say, vocabulary
from core.config import LemmaMode, StudentKind, TrainConfig, check_selection
from core.data.sentences import default_sentences, sentences_from_upload
from core.evaluation.benchmarks import Benchmarks, load_analogies, load_pairs
from core.evaluation.evaluate import evaluate_teacher
from core.paths import cache_dir, runs_dir, teacher_cache_dir
from core.runs.hosting import HostSettings, load_host_settings
from core.teachers.teacher import (
    CachedTeacher,
    load_teacher,
    ms_per_1k,
)


def cmd_embed(args) -> int:
    from core.runs.experiment import lemmatize  # lazy: loads numba, polars, torch

    vocab = vocabulary(args)
    say(vocab.summary())
    result = lemmatize(vocab.words, args.lemmatize)
    if args.lemmatize != "none":
        say(result.summary())
    teacher = cached_teacher(args)
    start = time.perf_counter()
    teacher.embed(
        list(result.lemmas),
        progress=lambda done, total: (
            say(f"  embedded {done:,}/{total:,}") if done == total or done % 2048 == 0 else None
        ),
    )
    for note in getattr(teacher.teacher, "notes", ()):  # the API teacher: a server's token count not believed
        say(note)
    print(
        json.dumps(
            {
                "teacher": teacher.id,
                "dim": teacher.dim,
                "items": len(result.lemmas),
                "computed": teacher.computed,
                "cached": teacher.cached,
                "seconds": round(time.perf_counter() - start, 3),
            }
        )
    )
    return 0


def cmd_train(args) -> int:
    from core.runs.experiment import TrainingRun, prepare_items  # lazy: loads numba, polars, torch

    vocab = vocabulary(args)
    config = TrainConfig(
        teacher=args.teacher,
        model=args.model,
        p=args.p,
        epochs=args.epochs,
        lemmatize=args.lemmatize,
        poison=args.poison,
        seed=args.seed,
        batch_size=args.batch_size,
        lr=args.lr,
        vocabulary=vocab.label,
        cheap=args.cheap,
        adversary=args.adversary,
        poison_scope=args.poison_scope,
        defence=args.defence,
        trim=args.trim,
        selection=args.select,
    )
    teacher = cached_teacher(args)
    prepared = prepare_items(vocab.words, config.lemmatize, teacher)
    if not args.json:
        say(vocab.summary())
        if config.lemmatize is not LemmaMode.NONE:
            say(prepared.lemma.summary())
    run = TrainingRun(config, prepared, runs_dir(), device=args.device, checkpoint_every=2.0)
    if not args.json:
        say(
            f"{config.model.label} on {run.teacher_queries:,} of {len(prepared.items):,} items (p = {config.p:g}"
            f"{'' if config.selection == 'random' else ', chosen by ' + config.selection}), "
            f"{int(run.dataset.poisoned.sum()):,} poisoned, {config.epochs} epochs on {run.device}."
        )
    try:
        for r in run:
            if args.json:
                print(json.dumps(r.scalars()), flush=True)
            else:
                held = "n/a (p = 1)" if r.heldout_cosine is None else f"{r.heldout_cosine:.4f}"
                print(
                    f"epoch {r.epoch:>4}  loss {r.train_loss:.4f}  train cos {r.train_cosine:.4f}  held-out cos {held}  {r.seconds:6.1f}s",
                    flush=True,
                )
    except KeyboardInterrupt:
        say("Stopped; the finished epochs were saved.")
    summary = run.summary()
    if args.json:
        print(json.dumps(summary), flush=True)
    else:
        if summary.get("detection_precision") is not None or summary.get("detection_recall") is not None:

            def pct(v):
                return "n/a" if v is None else f"{v:.0%}"

            print(
                f"Detection: {summary['detection_flagged']:,} answers flagged, precision {pct(summary['detection_precision'])}, "
                f"recall {pct(summary['detection_recall'])}."
            )
        print(f"Saved run {summary['run_id']} ({summary['status']}).")
    return 0


def _list(text: str, convert, name: str) -> tuple:
    try:
        values = tuple(convert(v.strip()) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"--{name} must be a comma-separated list, got '{text}'.") from None
    if not values:
        raise ValueError(f"--{name} needs at least one value.")
    return values


def cmd_sweep(args) -> int:
    from core.runs.executors import make_executor  # lazy: loads numba, polars, torch (and ray, when asked)
    from core.runs.experiment import prepare_items  # lazy: loads numba, polars, torch
    from core.runs.sweep import SWEEP_CHECKPOINT_SECONDS, SweepGrid, run_sweep  # lazy: loads numba, polars, torch

    host = load_host_settings()
    if args.executor is not None or args.ray_address is not None:  # the flags win over the host's settings
        host = HostSettings(
            executor=args.executor or ("ray" if args.ray_address is not None else host.executor),
            ray_address=host.ray_address if args.ray_address is None else args.ray_address,
            ray_cpus_per_run=host.ray_cpus_per_run,
            ray_gpus_per_run=host.ray_gpus_per_run,
        )
    executor = make_executor(host.executor, host.ray_address, host.ray_cpus_per_run, host.ray_gpus_per_run)
    vocab = vocabulary(args)
    if args.grid == "paper":
        grid = SweepGrid.paper(teacher=args.teacher, vocabulary=vocab.label, epochs=args.epochs)
    else:
        grid = SweepGrid(
            teacher=args.teacher,
            models=_list(args.models, StudentKind.parse, "models"),
            ps=_list(args.ps, float, "ps"),
            epochs=args.epochs,
            lemmatize=_list(args.lemmas, LemmaMode, "lemmas"),
            poison=_list(args.poisons, float, "poisons"),
            seed=args.seed,
            seeds=_list(args.seeds, int, "seeds") if args.seeds.strip() else (),
            selections=tuple(check_selection(s) for s in _list(args.select, str, "select")),
            cheap=args.cheap,
            vocabulary=vocab.label,
        )
    teacher = cached_teacher(args)
    prepared = {mode: prepare_items(vocab.words, mode, teacher) for mode in grid.lemmatize}
    progress = None
    try:
        for progress in run_sweep(
            grid,
            prepared,
            runs_dir(),
            device=args.device,
            checkpoint_every=SWEEP_CHECKPOINT_SECONDS,
            executor=executor,
        ):
            c = progress.current
            eta = "?" if progress.eta_seconds is None else f"{progress.eta_seconds:.0f}s"
            line = {
                "done": progress.done,
                "total": progress.total,
                "reused": progress.reused,
                "trained": progress.trained,
                "run_id": progress.run_ids[-1],
                "model": c.model.value,
                "p": c.p,
                "lemmatize": c.lemmatize.value,
                "poison": c.poison,
                "selection": c.selection,
                "seed": c.seed,
                "eta_seconds": progress.eta_seconds,
            }
            print(
                json.dumps(line)
                if args.json
                else f"[{progress.done}/{progress.total}] {c.model.label} p={c.p:g} lemmas={c.lemmatize.value} poison={c.poison:g}"
                f"{'' if c.selection == 'random' else ' select=' + c.selection} seed={c.seed}"
                f"{' (stored before, reused)' if progress.last_reused else ''}  ETA {eta}",
                flush=True,
            )
    except KeyboardInterrupt:
        say("Stopped; finished runs are stored and a new `sweep` with the same flags resumes.")
    done = progress.done if progress else 0
    summary = {
        "sweep": "finished" if progress and done == progress.total else "stopped",
        "runs": done,
        "total": len(grid.configs()),
        "reused": progress.reused if progress else 0,
        "trained": progress.trained if progress else 0,
        "run_ids": progress.run_ids if progress else [],
    }
    print(
        json.dumps(summary)
        if args.json
        else f"Sweep {summary['sweep']}: {done} of {summary['total']} runs ({summary['reused']} reused)."
    )
    return 0


def _benchmarks(args):
    return Benchmarks(
        tuple(load_analogies(args.analogies)) if args.analogies else tuple(load_analogies()),
        tuple(load_pairs(args.simlex or "simlex")),
        tuple(load_pairs(args.wordsim or "wordsim")),
    )


def _fmt(value, pattern: str = "{:.3f}") -> str:
    return "—" if value is None else pattern.format(value)


def cmd_evaluate(args) -> int:
    from core.runs.evaluated import evaluate_run  # lazy: loads numba, polars, torch
    from core.runs.experiment import lemmatize  # lazy: loads numba, polars, torch
    from core.runs.store import load_run  # lazy: loads numba, polars, torch

    benchmarks = _benchmarks(args)
    if args.run:
        result = evaluate_run(load_run(runs_dir(), args.run), teacher_cache_dir(), args.scope, benchmarks)
        if args.json:
            print(json.dumps(result.summary()))
        else:
            print(f"Run {args.run}: {result.words_in_scope:,} {args.scope} words")
            for row in result.table():
                print(
                    f"  {row['model']:<16} cosine {_fmt(row['heldout_cosine'])}  analogies {_fmt(row['analogy_accuracy'], '{:.1%}')} "
                    f"({_fmt(row['analogy_pct_of_teacher'], '{:.0f}')} % of teacher, {row['analogy_questions']:,} questions)  "
                    f"SimLex ρ {_fmt(row['simlex_spearman'])}  WordSim ρ {_fmt(row['wordsim_spearman'])}  overlap@10 {_fmt(row['neighbour_overlap_at_10'])}"
                )
        return 0
    vocab = vocabulary(args)
    words = list(lemmatize(vocab.words, args.lemmatize).lemmas)
    teacher = cached_teacher(args)
    vectors = teacher.embed(words)
    scores = evaluate_teacher(words, vectors, benchmarks)
    out = {"teacher": teacher.id, "items": len(words), **scores.row()}
    for key in ("model", "heldout_cosine", "heldout_euclidean", "neighbour_overlap_at_10"):
        out.pop(key)
    if not args.no_cost:
        out["ms_per_1k"] = round(ms_per_1k(teacher.teacher, words), 1)
    if args.json:
        print(json.dumps(out))
    else:
        print(
            f"{teacher.id} on {len(words):,} items: analogies {_fmt(out['analogy_accuracy'], '{:.1%}')} of {out['analogy_questions']:,} questions, "
            f"SimLex ρ {_fmt(out['simlex_spearman'])} ({out['simlex_pairs']} pairs), WordSim ρ {_fmt(out['wordsim_spearman'])} ({out['wordsim_pairs']} pairs)"
            + (f", {out['ms_per_1k']:.0f} ms per 1,000 words" if "ms_per_1k" in out else "")
        )
    return 0


def cmd_adapter(args) -> int:
    from pathlib import Path

    from core.sentences.adapters import AdapterConfig, adapter_ms_per_1k  # lazy: loads torch
    from core.sentences.experiment import AdapterExperiment  # lazy: loads torch
    from core.sentences.features import text_features  # lazy: loads torch

    if args.texts:
        path = Path(args.texts)
        if not path.is_file():
            raise ValueError(f"There is no file '{args.texts}'.")
        sentences = sentences_from_upload(path.name, path.read_bytes())
    else:
        sentences = default_sentences()
    config = AdapterConfig(
        cheap=args.cheap,
        teacher=args.teacher,
        arch=args.arch,
        pooling=args.pooling,
        p=args.p,
        epochs=args.epochs,
        seed=args.seed,
        lr=args.lr,
        batch_size=args.batch_size,
        hidden=args.hidden,
        texts=sentences.label,
        encoder_lr=args.encoder_lr,
    )
    texts = list(sentences.texts)
    say(sentences.summary())
    teacher = CachedTeacher(load_teacher(args.teacher, args.device), cache_dir() / "teachers")
    targets = teacher.embed(
        texts, progress=lambda d, t: say(f"  teacher embedded {d:,}/{t:,}") if d == t or d % 1024 == 0 else None
    )
    cheap = load_teacher(args.cheap, args.device)
    start = time.perf_counter()
    features = text_features(cheap, texts)
    feature_seconds = time.perf_counter() - start
    experiment = AdapterExperiment(config, features, targets, args.device, encoder=cheap)
    for last in experiment:
        if args.json:
            print(json.dumps(last.__dict__), flush=True)
        else:
            print(
                f"epoch {last.epoch:>4}  loss {last.train_loss:.4f}  held-out cos {last.heldout_cosine:.4f}  "
                f"euclid {last.heldout_euclidean:.4f}  {last.seconds:6.1f}s",
                flush=True,
            )
    model, best = experiment.model, experiment.best
    summary = {**experiment.summary(), "cheap_features_seconds": round(feature_seconds, 3)}
    if not args.no_cost:
        sample = texts[:256]
        summary["teacher_ms_per_1k"] = round(ms_per_1k(teacher.teacher, sample, sample=256), 1)
        summary["cheap_ms_per_1k"] = round(ms_per_1k(cheap, sample, sample=256), 1)
        summary["adapter_ms_per_1k"] = round(adapter_ms_per_1k(model, features, sample=256), 2)
    if args.export:
        from core.sentences.export import export_adapter  # lazy: loads torch

        folder = export_adapter(
            model,
            config,
            cheap,
            Path(args.export),
            card={k: summary[k] for k in ("heldout_cosine", "heldout_euclidean", "baseline_cosine")},
        )
        summary["exported_to"] = str(folder)
    if args.json:
        print(json.dumps(summary), flush=True)
    else:
        print(
            f"Best epoch {best.epoch} of {len(experiment.records)} (the weights kept): held-out cosine "
            f"{best.heldout_cosine:.4f} (average-vector baseline {experiment.baseline_cosine:.4f}), Euclidean "
            f"{best.heldout_euclidean:.4f} (baseline {experiment.baseline_euclidean:.4f}), on "
            f"{len(experiment.heldout_idx):,} texts the adapter never saw."
        )
    return 0
