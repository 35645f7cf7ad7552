"""How fast each model embeds on this machine: measured rates (ms per item) kept in the cache folder, with
the lab's defaults before anything was measured. The job board's estimates and the warm-up read them."""

from __future__ import annotations

from pathlib import Path

from core.paths import cache_dir

# Milliseconds per item measured on the lab's 2-core CPU (docs/BENCHMARKS.md, issue 19): the estimate's
# fallback before this machine has measured its own (`record_rate`, written by the warm-up and embeddings).
DEFAULT_MS_PER_ITEM = {
    "all-MiniLM-L6-v2": 1.0,
    "all-MiniLM-L6-v2-layers": 1.5,
    "all-MiniLM-L6-v2-tokens": 18.0,
    "all-mpnet-base-v2": 4.0,
    "all-mpnet-base-v2-layers": 5.0,
    "all-mpnet-base-v2-tokens": 100.0,
    "all-mpnet-base-v2-sentences": 105.0,
    "all-MiniLM-L6-v2-sentences": 18.0,
    # The static tables (a lookup and a mean per word, issue 21): 1.6-5 ms per 1,000 words measured here.
    "static-all-MiniLM-L6-v2-256": 0.003,
    "static-all-mpnet-base-v2-256": 0.003,
}


def _rates_path() -> Path:
    return cache_dir() / "rates.json"


def record_rate(model_id: str, items: int, seconds: float, path: Path | None = None) -> None:
    """Remember how fast `model_id` computed `items` items (only measurements of 100 items or more count)."""
    import json
    import os

    if items < 100 or seconds <= 0:
        return
    path = Path(path or _rates_path())
    rates = measured_rates(path)
    rates[model_id] = round(1000.0 * seconds / items, 3)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(rates, indent=1, sort_keys=True))
    os.replace(tmp, path)


def measured_rates(path: Path | None = None) -> dict[str, float]:
    """ms per item by model id, as measured on this machine (empty when nothing was measured)."""
    import json

    try:
        data = json.loads(Path(path or _rates_path()).read_text())
        return {str(k): float(v) for k, v in data.items() if isinstance(v, (int, float)) and v > 0}
    except (OSError, ValueError, AttributeError):
        return {}


def ms_per_1k(model_id: str, path: Path | None = None) -> float:
    """Milliseconds per 1,000 words: this machine's measured rate, else the lab's default."""
    return 1000.0 * embedding_seconds(model_id, 1000, path)


def embedding_seconds(model_id: str, items: int, path: Path | None = None) -> float:
    """Seconds a model needs for `items` new items: this machine's measured rate, else the lab's default."""
    rate = measured_rates(path).get(model_id) or DEFAULT_MS_PER_ITEM.get(model_id, 4.0)
    return rate * items / 1000.0
