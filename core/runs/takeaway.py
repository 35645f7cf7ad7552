"""Take a student away, and bring a run back.

- `export_static(stored, folder)`: the run's student as a sentence-transformers model folder that
  `SentenceTransformer(path)` loads offline — a `StaticEmbedding` (one vector per vocabulary item: the
  student's answer for it, for the held-out items too) with a word-level tokenizer, then `Normalize`. A text
  of several words gets the normalized mean of their vectors; a word outside the run's vocabulary adds
  nothing (it maps to a zero row). Every student exports this way, generalizing ones as a snapshot of their
  answers on the run's vocabulary. Beside the modules: `run_card.json`; the README opens by saying so (a table of
  these words only, a zero vector for any other: `what_the_export_is`), as the card and the CLI do.
- `run_card(stored)`: config, teacher, a hash of the data (items, split, poison), metrics.
- `zip_run(stored)` / `import_run(data, root)`: a run folder as one zip, and back. Import reads only the
  run's own file names (JSON, Parquet, safetensors — nothing is unpickled), never extracts a path from the
  archive (no zip-slip), caps the sizes, checks every file (settings, shapes, item counts) before the run
  appears, and gives it a fresh, valid name when its own is taken or unusable.

The two halves live in `core.runs.export` and `core.runs.importing`; their names are re-exported here.
"""

from __future__ import annotations

from core.runs.export import (
    GENERALIZING_NOTE,
    OUTSIDE_THE_TABLE,
    ExportRefused,
    check_exportable,
    data_hash,
    export_static,
    export_zip,
    run_card,
    what_the_export_is,
    with_note,
    zip_run,
)
from core.runs.importing import (
    MAX_IMPORT_BYTES,
    REQUIRED,
    RUN_FILES,
    SPLITS,
    ImportLimits,
    ImportRefused,
    check_as_imported,
    check_run_files,
    import_run,
)

__all__ = [
    "GENERALIZING_NOTE",
    "MAX_IMPORT_BYTES",
    "OUTSIDE_THE_TABLE",
    "REQUIRED",
    "RUN_FILES",
    "SPLITS",
    "ExportRefused",
    "ImportLimits",
    "ImportRefused",
    "check_as_imported",
    "check_exportable",
    "check_run_files",
    "data_hash",
    "export_static",
    "export_zip",
    "import_run",
    "run_card",
    "what_the_export_is",
    "with_note",
    "zip_run",
]
