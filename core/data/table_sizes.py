"""What reading a Parquet file would cost, told from its footer before any value is read.

A Parquet file compresses well: 41 KB on disk can hold 200 rows of 5 MB strings (1 GB once read), and a 9.8 KB
file a 200 MB column of junk. So a file from elsewhere (an imported run) is judged by what its footer says it
holds — rows, columns and the uncompressed size of every column chunk — against what the reader expects, and
refused before a page is decompressed. pyarrow only; imports nothing of core.

    >>> import pyarrow as pa, pyarrow.parquet as pq, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.parquet")
    >>> pq.write_table(pa.table({"item": [f"{i:04d}" + "x" * 996 for i in range(100)]}), path)
    >>> parquet_problem(path, columns={"item"}, max_rows=100, max_bytes=10_000)
    'it would take 0.1 MB once read (its column item alone 0.1 MB), where it can need at most 0.01 MB'
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path


def parquet_problem(
    path: Path | str, *, columns: Collection[str], max_rows: int, max_bytes: int, max_text_bytes: int = 1024
) -> str | None:
    """Why the Parquet file at `path` must not be read — more rows than `max_rows`, a column not in `columns`, more
    than `max_bytes` once decompressed (by its footer's own count), or a text longer than `max_text_bytes` — or
    None when it may be. A footer that cannot be read is a problem too. The reason is a clause the caller puts in
    its own sentence.

    The footer's sizes count a dictionary-encoded column's dictionary once, though reading decodes it into every
    row (one 5 MB string in 200 rows: 1 GB): text columns are therefore read still encoded, and their longest
    value measured, before anything decodes them."""
    import pyarrow.parquet as pq

    try:
        with pq.ParquetFile(path) as parquet:
            meta = parquet.metadata
            schema = parquet.schema_arrow
            names = list(schema.names)
            rows, groups = int(meta.num_rows), meta.num_row_groups
            # A number takes its full width once read, however well its pages were encoded (400,000 equal numbers
            # are a few bytes of run-length encoding on disk and in the footer's sizes)
            fixed = sum(rows * _byte_width(field.type) for field in schema)
            per_column: dict[str, int] = {}
            total = 0
            for g in range(groups):
                group = meta.row_group(g)
                total += max(int(group.total_byte_size), 0)
                for c in range(group.num_columns):
                    chunk = group.column(c)
                    name = chunk.path_in_schema.split(".", 1)[0]
                    size = max(int(chunk.total_uncompressed_size), 0)
                    per_column[name] = per_column.get(name, 0) + size
    except Exception as err:  # pyarrow raises several kinds for a damaged footer
        return f"its footer cannot be read ({type(err).__name__})"
    extra = [name for name in names if name not in columns]
    if extra:
        shown = ", ".join(repr(n[:40]) for n in extra[:3]) + (", …" if len(extra) > 3 else "")
        return f"it has columns a run does not write ({shown})"
    if rows > max_rows:
        return f"{rows:,} rows where it can have at most {max_rows:,}"
    size = max(total, sum(per_column.values()), fixed)
    if size > max_bytes:
        widest = max(per_column, key=per_column.__getitem__, default=None)
        alone = f" (its column {widest[:40]} alone {per_column[widest] / 1e6:.1f} MB)" if widest else ""
        return f"it would take {size / 1e6:.1f} MB once read{alone}, where it can need at most {max_bytes / 1e6:.2f} MB"
    return _long_text(path, max_text_bytes)


def _byte_width(arrow_type) -> int:
    """Bytes per value of a fixed-width type once read (8 for int64, 1 for a boolean's bit); 0 for text."""
    try:
        return max(1, arrow_type.bit_width // 8)
    except ValueError:  # text, binary, nested: no fixed width (their sizes are the footer's and _long_text's)
        return 0


def _long_text(path: Path | str, max_text_bytes: int) -> str | None:
    """The first text column holding a value longer than `max_text_bytes`, read dictionary-encoded (its memory is
    the dictionary and one small index per row, both bounded by the footer's sizes checked before)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        with pq.ParquetFile(path) as parquet:
            schema = parquet.schema_arrow
        texts = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_binary(f.type)]
        texts += [f.name for f in schema if pa.types.is_large_string(f.type) or pa.types.is_large_binary(f.type)]
        if not texts:
            return None
        with pq.ParquetFile(path, read_dictionary=texts) as parquet:
            table = parquet.read(columns=texts)
        for name in texts:
            for chunk in table.column(name).chunks:
                values = chunk.dictionary if pa.types.is_dictionary(chunk.type) else chunk
                longest = pc.max(pc.binary_length(values)).as_py() or 0
                if longest > max_text_bytes:
                    return f"its column {name[:40]} holds a text of {longest:,} bytes, where at most {max_text_bytes:,} fit"
    except Exception as err:  # pyarrow raises several kinds for a damaged page
        return f"its text cannot be read ({type(err).__name__})"
    return None
