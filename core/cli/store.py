"""The commands over stored runs: `runs` (with owners), `delete`, `export`, `import`."""

from __future__ import annotations

from core.cli.common import say
from core.paths import runs_dir


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
        say(
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
