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

The parser and the commands live in `core/cli/`; here, which command runs and how its errors are said.
"""

from __future__ import annotations

import sys

from core.cli.experiments import cmd_adapter, cmd_embed, cmd_evaluate, cmd_sweep, cmd_train
from core.cli.parser import build_parser
from core.cli.setup import cmd_install_models, cmd_warm
from core.cli.store import cmd_delete, cmd_export, cmd_import, cmd_runs
from core.data.corpus import VocabularyError
from core.data.lemmatize import LemmatizerUnavailable
from core.errors import LabError
from core.evaluation.benchmarks import BenchmarkUnavailable
from core.teachers.teacher import TeacherUnavailable
from core.watermark.cli import cmd_watermark

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
