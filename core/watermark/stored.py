"""The stored grid: a grid's rows and costs kept on disk under an id of everything that made them (`grid_id`), read
back (`load_grid`), trained and kept in one call (`train_and_save`, what the Watermark page's button runs)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import polars as pl

from core.watermark.grid import GridResult, GridSpec, Materials, run_grid
from core.watermark.verify import LEVEL


def grid_id(spec: GridSpec, teacher_id: str, items: Sequence[str], cheap_id: str = "") -> str:
    """A name for this grid's results: its settings, the teacher, the cheap model and the words."""
    import hashlib
    import json
    from dataclasses import asdict

    words = hashlib.sha256("\n".join(items).encode()).hexdigest()[:12]
    # A grid with removal attacks stored before its attacked controls existed has another name: it is trained again.
    controls = {"controls": "attacked"} if spec.removal else {}
    text = json.dumps(
        {**asdict(spec), "teacher": teacher_id, "cheap": cheap_id, "words": words, **controls}, sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def save_grid(result: GridResult, folder) -> None:
    """rows.parquet and costs.parquet in `folder`, each written to a temporary name first and then renamed, so a
    reader never meets half a file."""
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in (("rows", result.rows), ("costs", result.costs)):
        part = folder / f".{name}.parquet.part"
        frame.write_parquet(part)
        part.replace(folder / f"{name}.parquet")


def load_grid(folder, level: float = LEVEL) -> GridResult | None:
    """A stored grid, or None when there is none (or it cannot be read: it is computed again)."""
    from pathlib import Path

    folder = Path(folder)
    try:
        rows, costs = pl.read_parquet(folder / "rows.parquet"), pl.read_parquet(folder / "costs.parquet")
    except (OSError, pl.exceptions.PolarsError):
        return None
    return GridResult(rows, costs, level, 0.0)


def train_and_save(
    spec: GridSpec,
    load: Callable[[], Materials],
    folder,
    say: Callable[[str], None] = lambda text: None,
    should_stop: Callable[[], bool] | None = None,
    device: str = "cpu",
) -> bool:
    """What a background job does: load the materials (`load()`: they may have to be computed), train the grid,
    store it in `folder` — unless stopped (True when stored). `say` hears what it does, in words."""
    say("Reading the cheap model's vectors and the words' frequencies…")
    materials = load()
    found = run_grid(
        spec,
        materials,
        progress=lambda done, total: say(f"{done} of {total} students trained"),
        should_stop=should_stop,
        device=device,
    )
    if should_stop and should_stop():
        return False
    save_grid(found, folder)
    return True
