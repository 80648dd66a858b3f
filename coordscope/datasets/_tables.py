"""Reading tabular and JSON-lines files into polars, with errors that name the file.

Shared by the readers: delimited text (CSV/TSV, delimiter sniffed), Parquet, JSON arrays
and JSON lines (one bad line is a counted reject, not a crash), all optionally gzip/zstd
compressed.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import polars as pl

from coordscope.datasets._io import compression_of, read_bytes, strip_bom
from coordscope.errors import InputError

__all__ = [
    "JsonLines",
    "read_delimited",
    "read_json_array",
    "read_json_lines",
    "read_table",
    "sniff_delimiter",
]

_DELIMITERS: Final = (",", "\t", ";", "|")


def sniff_delimiter(header_line: str) -> str:
    r"""Return the most frequent of ``, \t ; |`` in a header line (comma on a tie or none)."""
    counts = {d: header_line.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def read_delimited(
    path: str,
    *,
    separator: str | None = None,
    has_header: bool = True,
    new_columns: list[str] | None = None,
) -> pl.DataFrame:
    """Read CSV/TSV text with every column as String (no type guessing), BOM dropped.

    Parameters
    ----------
    path : str
        The file (plain, gzip or zstd).
    separator : str, optional
        Field separator; sniffed from the first line when not given.
    has_header : bool
        The first line names the columns (when False, columns are ``column_1`` …).
    new_columns : list of str, optional
        Rename the columns by position.

    Raises
    ------
    InputError
        Unreadable, corrupt, or not parseable as delimited text.
    """
    data = strip_bom(read_bytes(path))
    if separator is None:
        first = data[: data.find(b"\n") if b"\n" in data else len(data)]
        separator = sniff_delimiter(first.decode("utf-8", errors="replace"))
    try:
        frame = pl.read_csv(
            io.BytesIO(data),
            separator=separator,
            has_header=has_header,
            infer_schema=False,
            new_columns=new_columns,
            encoding="utf8-lossy",
            raise_if_empty=False,
        )
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(path, f"not readable as delimited text ({message})") from None
    return frame


def read_parquet(path: str) -> pl.DataFrame:
    """Read a Parquet file (errors name the file)."""
    try:
        return pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(
            path, f"not a readable Parquet file ({str(exc).splitlines()[0]})"
        ) from None


def read_json_array(path: str) -> pl.DataFrame:
    """Read a JSON array of objects (errors name the file)."""
    data = strip_bom(read_bytes(path))
    try:
        return pl.read_json(io.BytesIO(data), infer_schema_length=None)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise InputError(
            path, f"not a JSON array of objects ({str(exc).splitlines()[0]})"
        ) from None


@dataclass
class JsonLines:
    """Parsed JSON lines.

    ``frame`` has one row per good line; ``lines`` its 1-based line numbers; ``bad`` the
    (line, reason) of lines that are not JSON objects.
    """

    frame: pl.DataFrame
    lines: np.ndarray
    bad: list[tuple[int, str]] = field(default_factory=list)


def _nonblank_lines(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start, end (exclusive) and 1-based number of every non-blank line; vectorized."""
    arr = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(arr == ord("\n"))
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [arr.size]))
    lengths = ends - starts
    # a line of only '\r' or spaces is blank too
    keep = lengths > 0
    short = keep & (lengths <= 2)
    if short.any():
        idx = np.flatnonzero(short)
        for_blank = np.array(
            [data[s:e].strip() == b"" for s, e in zip(starts[idx], ends[idx], strict=True)],
            dtype=bool,
        )
        keep[idx[for_blank]] = False
    number = np.arange(1, starts.size + 1)
    return starts[keep], ends[keep], number[keep]


def read_json_lines(path: str, *, schema: dict[str, pl.DataType] | None = None) -> JsonLines:
    """Read JSON lines; lines that are not JSON objects become ``bad`` (counted rejects).

    The fast path is one :func:`polars.read_ndjson` call. Only when that fails are the
    lines checked one by one (to find and report the bad ones), and the good ones read
    again in one call.

    Parameters
    ----------
    path : str
        The file (plain, gzip or zstd).
    schema : dict, optional
        Polars schema to read with (fields not in it are ignored); inferred otherwise.

    Raises
    ------
    InputError
        When no line of the file is a JSON object.
    """
    data = strip_bom(read_bytes(path))
    starts, ends, numbers = _nonblank_lines(data)
    if starts.size == 0:
        return JsonLines(pl.DataFrame(schema=schema or {}), numbers)
    try:
        frame = _ndjson(data, schema)
        if frame.height == starts.size:
            return JsonLines(frame, numbers)
    except (pl.exceptions.PolarsError, OSError, ValueError, RuntimeError):
        pass
    good = np.zeros(starts.size, dtype=bool)
    bad: list[tuple[int, str]] = []
    for i, (s, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):  # error path only
        try:
            obj = json.loads(data[s:e])
        except ValueError as exc:
            bad.append((int(numbers[i]), f"not valid JSON ({exc.args[0] if exc.args else exc})"))
            continue
        if not isinstance(obj, dict):
            bad.append((int(numbers[i]), "JSON line is not an object"))
            continue
        good[i] = True
    if not good.any():
        raise InputError(path, "not JSON lines: no line is a JSON object", record=bad[0][0])
    joined = b"\n".join(
        data[s:e] for s, e in zip(starts[good].tolist(), ends[good].tolist(), strict=True)
    )
    try:
        frame = _ndjson(joined, schema)
    except (pl.exceptions.PolarsError, OSError, ValueError, RuntimeError) as exc:
        raise InputError(
            path, f"JSON lines could not be read ({str(exc).splitlines()[0]})"
        ) from None
    return JsonLines(frame, numbers[good], bad)


def _ndjson(data: bytes, schema: dict[str, pl.DataType] | None) -> pl.DataFrame:
    if schema is not None:
        return pl.read_ndjson(io.BytesIO(data), schema=schema, ignore_errors=False)
    return pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)


def read_table(path: str) -> tuple[pl.DataFrame, str]:
    """Read any generic tabular file; returns the frame and its kind.

    Kinds: ``parquet`` (by magic bytes), ``json`` (an array, first character ``[``),
    ``jsonl`` (first character ``{``), otherwise ``csv``/``tsv`` (delimiter sniffed).
    Delimited text is read as all-String columns; JSON lines with bad lines raise (use
    :func:`read_json_lines` for counted rejects).
    """
    if compression_of(path) is None:
        with open(path, "rb") as fh:
            if fh.read(4) == b"PAR1":
                return read_parquet(path), "parquet"
    data = strip_bom(read_bytes(path))
    first = data.lstrip()[:1]
    if first == b"[":
        return read_json_array(path), "json"
    if first == b"{":
        return read_json_lines(path).frame, "jsonl"
    frame = read_delimited(path)
    return frame, "csv"
