"""Charts and tables out of the lab: `to_svg` / `to_png` (vl-convert), and `safe_csv` (a spreadsheet never runs a
cell: the CSV-injection guard)."""

from __future__ import annotations

import altair as alt
import polars as pl


def _fixed_width(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    # "container" width means nothing outside a page; give exported files a real width.
    spec = chart.to_dict()
    return chart.properties(width=700) if spec.get("width") == "container" else chart


def to_svg(chart: alt.TopLevelMixin) -> bytes:
    import vl_convert as vlc

    return vlc.vegalite_to_svg(_fixed_width(chart).to_json()).encode()


def to_png(chart: alt.TopLevelMixin, scale: float = 2.0) -> bytes:
    import vl_convert as vlc

    return vlc.vegalite_to_png(_fixed_width(chart).to_json(), scale=scale)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_csv(frame: pl.DataFrame) -> str:
    """CSV text a spreadsheet will not run: text cells that start like a formula (=, +, -, @, tab, CR) get a
    leading apostrophe (OWASP's advice against CSV injection). Numbers are written as they are."""
    guarded = []
    for name, dtype in frame.schema.items():
        if dtype != pl.Utf8:
            continue
        risky = pl.lit(False)
        for mark in FORMULA_START:
            risky = risky | pl.col(name).str.starts_with(mark)
        guarded.append(pl.when(risky).then(pl.lit("'") + pl.col(name)).otherwise(pl.col(name)).alias(name))
    return (frame.with_columns(guarded) if guarded else frame).write_csv()
