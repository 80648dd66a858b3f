"""Turning list-like text cells into ``List(String)`` columns, vectorized."""

from __future__ import annotations

import polars as pl

__all__ = ["split_list_cells", "to_string_list"]

_LIST = pl.List(pl.String())


#: A JSON array of strings, whole: ``["a", "b,c", "say \"hi\""]`` (what coordscope writes).
_JSON_STRINGS = r'^\[\s*(?:"(?:[^"\\]|\\.)*"\s*(?:,\s*"(?:[^"\\]|\\.)*"\s*)*)?\]$'


def split_list_cells(cells: pl.Series, *, separator_regex: str = r"[\s,]+") -> pl.Series:
    """Parse text cells holding several values into lists of strings.

    A cell that is a JSON array of strings (``["a","b,c"]``, how coordscope writes lists
    into CSV) is decoded exactly, so items may hold commas, spaces and quotes. Another
    cell that starts with ``[`` is read as a looser bracketed list: numbers,
    ``['a', 'b']`` or ``[a, b]`` (items split at commas, quotes stripped; so an item may
    not itself hold a comma). Any other cell is split at ``separator_regex`` (spaces and
    commas by default). Empty items are kept here and dropped by the shared
    finalisation. Nulls become empty lists.
    """
    frame = pl.DataFrame({"t": cells.cast(pl.String)})
    text = pl.col("t").str.strip_chars()
    plain = text.str.replace_all(separator_regex, " ").str.strip_chars().str.split(" ")
    if not frame.select(pl.col("t").str.contains("[", literal=True).any()).item():
        return frame.select(plain.fill_null(pl.lit([], dtype=_LIST)).alias(cells.name)).to_series()
    is_json = text.str.contains(_JSON_STRINGS).fill_null(False)
    # every cell decodes (the others as an empty array), then the JSON ones are taken
    decoded = pl.when(is_json).then(text).otherwise(pl.lit("[]")).str.json_decode(_LIST)
    items = (
        text.str.strip_chars("[] \t")
        .str.split(",")
        .list.eval(pl.element().str.strip_chars().str.strip_chars("'\"").str.strip_chars())
    )
    parsed = (
        pl.when(is_json)
        .then(decoded)
        .when(text.str.starts_with("["))
        .then(items)
        .otherwise(plain)
        .fill_null(pl.lit([], dtype=_LIST))
    )
    return frame.select(parsed.alias(cells.name)).to_series()


def to_string_list(values: pl.Series, *, separator_regex: str = r"[\s,]+") -> pl.Series:
    """Any column to ``List(String)``: lists are cast, text is split (see above)."""
    if isinstance(values.dtype, pl.List):
        inner = values.dtype.inner
        if inner == pl.String:
            return values
        if isinstance(inner, (pl.Struct, pl.List)):
            return values.list.eval(pl.element().cast(pl.String, strict=False)).cast(_LIST)
        return values.cast(_LIST)
    if values.dtype == pl.Null:
        return pl.Series(values.name, [[]] * values.len(), dtype=_LIST)
    return split_list_cells(values, separator_regex=separator_regex)
