"""Helpers shared by the writers: output files, optional columns, JSON text, ids.

Every writer compresses with gzip when the path ends in ``.gz``, reproducibly (no
timestamp in the gzip header where the writer builds the bytes itself).
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import Final, Literal

import polars as pl

__all__ = [
    "csv_compression",
    "id_or_none",
    "json_string",
    "optional_string",
    "write_bytes",
    "write_json_lines",
]

_NUMERIC_ID_RE: Final = r"^\d+$"


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path``, gzip-compressed when the name ends in ``.gz``.

    Parameters
    ----------
    path : str or Path
        The file to write (replaced when it exists).
    data : bytes
        The uncompressed content.

    Notes
    -----
    Compression level 6 and ``mtime=0``: the same data always gives the same bytes.
    """
    p = Path(path)
    if p.name.lower().endswith(".gz"):
        data = gzip.compress(data, compresslevel=6, mtime=0)
    p.write_bytes(data)


def write_json_lines(frame: pl.DataFrame, path: str) -> None:
    """Write ``frame`` as JSON lines, gzip-compressed when ``path`` ends with ``.gz``.

    Nested structs and lists become JSON objects and arrays, nulls ``null``.

    Parameters
    ----------
    frame : polars.DataFrame
        One line per row; the columns are the line's fields, in order.
    path : str
        The file to write.

    Notes
    -----
    Compression level 1 and ``mtime=0``: the same frame always gives the same bytes.
    """
    out = Path(path)
    if str(path).endswith(".gz"):
        buffer = io.BytesIO()
        frame.write_ndjson(buffer)
        out.write_bytes(gzip.compress(buffer.getvalue(), compresslevel=1, mtime=0))
        return
    frame.write_ndjson(out)


def csv_compression(path: str) -> Literal["gzip", "uncompressed"]:
    """Return the ``compression`` of :meth:`polars.DataFrame.write_csv` for ``path``.

    Parameters
    ----------
    path : str
        The file to write.

    Returns
    -------
    {"gzip", "uncompressed"}
        ``"gzip"`` when the path ends with ``.gz``.
    """
    return "gzip" if str(path).endswith(".gz") else "uncompressed"


def optional_string(events: pl.DataFrame, column: str) -> pl.Expr:
    """Return ``column`` of ``events`` as String, or a null String when it is absent.

    Parameters
    ----------
    events : polars.DataFrame
        The events to write.
    column : str
        An optional platform column (``x_...``).

    Returns
    -------
    polars.Expr
        ``pl.col(column).cast(pl.String)``, or ``pl.lit(None, pl.String)``.
    """
    if column in events.columns:
        return pl.col(column).cast(pl.String)
    return pl.lit(None, pl.String)


def json_string(expr: pl.Expr) -> pl.Expr:
    """Return the JSON text of a String expression (quoted and escaped, ``null`` for null).

    Parameters
    ----------
    expr : polars.Expr
        A String expression.

    Returns
    -------
    polars.Expr
        ``"..."`` as :meth:`polars.Expr.struct.json_encode` escapes it, vectorized.
    """
    encoded = pl.struct(expr.alias("v")).struct.json_encode()
    return encoded.str.slice(5).str.strip_suffix("}")


def id_or_none(values: pl.Expr, *, numeric: bool) -> pl.Expr:
    """Keep ``values`` that are all digits (``numeric=True``) or not, else null.

    Used to put a mention that is an account id into the id field and a handle into the
    name field.

    Parameters
    ----------
    values : polars.Expr
        A String expression.
    numeric : bool
        Keep the all-digit values when true, the others when false.

    Returns
    -------
    polars.Expr
        ``values`` where kept, null elsewhere.
    """
    is_numeric = values.str.contains(_NUMERIC_ID_RE)
    return pl.when(is_numeric if numeric else ~is_numeric).then(values)
