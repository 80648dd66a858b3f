"""Reading tabular and JSON-lines files into polars in pieces, with errors that name the file.

Shared by the readers: delimited text (CSV/TSV, delimiter sniffed), Parquet, JSON arrays
and JSON lines (one bad line is a counted reject, not a crash), all optionally gzip/zstd
compressed. Delimited text, Parquet and JSON lines are read in pieces sized by
:class:`~coordscope.datasets._io.ReadLimits` and give the same rows as reading the whole
file at once; a JSON array is one document and is read whole.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import polars as pl

from coordscope.datasets._io import (
    ReadLimits,
    iter_blocks,
    mark_invalid_utf8,
    read_document,
    record_ends,
)
from coordscope.datasets._stage import RowRejects
from coordscope.errors import InputError
from coordscope.progress import current

__all__ = [
    "MAX_EMPTY_RECORDS",
    "DelimitedText",
    "JsonLines",
    "first_line",
    "invalid_utf8_reason",
    "iter_json_lines",
    "iter_parquet",
    "parquet_names",
    "read_json_array",
    "sniff_delimiter",
]

_DELIMITERS: Final = (",", "\t", ";", "|")
_QUOTE: Final = b'"'

#: Records without any value (blank lines, lines of separators) a delimited file may hold:
#: beyond this it is not a table (a gigabyte of newlines would be a billion rejects).
MAX_EMPTY_RECORDS: Final = 1_000_000

#: Rows of the first piece of a Parquet file; later pieces are sized from its bytes per row.
_PARQUET_FIRST_ROWS: Final = 1024


def invalid_utf8_reason(where: str) -> str:
    """Return the reject reason of a record with bytes not valid UTF-8 in ``where``."""
    return (
        f"{where} has bytes that are not valid UTF-8 (is the file in another encoding? "
        "convert it to UTF-8)"
    )


def first_line(exc: BaseException) -> str:
    """Return the first line of an exception's message (its type name when empty)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def sniff_delimiter(header_line: str) -> str:
    r"""Return the most frequent of ``, \t ; |`` in a header line (comma on a tie or none)."""
    counts = {d: header_line.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


class DelimitedText:
    """CSV/TSV text read in pieces of whole rows, every column as String, BOM dropped.

    The header is read when the object is made; :meth:`pieces` then reads the rest. Each
    piece is parsed with the header line in front of it, so that polars sees what it would
    see in the whole file (column count and names, short rows padded with nulls), and
    pieces end only at newlines outside quoted fields: the rows are the same as one
    :func:`polars.read_csv` of the whole file. Blank lines before the header are skipped
    (as polars does); blank lines after it are rows without values.

    Bytes that are not valid UTF-8 are never silently replaced: a row with such bytes in
    a column that is read is rejected, with a reason naming the column, through
    :attr:`row_rejects` (two ids that differ only in such bytes would otherwise become
    one; the text of a row is a key too, for near-duplicates). Pieces that are valid
    UTF-8 cost one more decoding pass to find that out; see
    :func:`~coordscope.datasets._io.mark_invalid_utf8` for the others.

    Parameters
    ----------
    path : str
        The file (plain, gzip or zstd).
    limits : ReadLimits, optional
        Piece size and decompression guard.
    separator : str, optional
        Field separator; sniffed from the header line when not given.

    Attributes
    ----------
    path : str
        The file.
    names : list of str
        Column names, as polars makes them (duplicates suffixed ``_duplicated_0``);
        empty for an empty file.
    separator : str
        The field separator.
    row_rejects : RowRejects
        The rows with invalid bytes found so far (pass it on in the reader's
        :class:`~coordscope.datasets._stage.Staged`).

    Raises
    ------
    InputError
        Unreadable, corrupt, or a header that is not parseable as delimited text.
    """

    def __init__(
        self, path: str, *, limits: ReadLimits | None = None, separator: str | None = None
    ) -> None:
        self.path = path
        self.row_rejects = RowRejects()
        self._blocks = iter_blocks(path, limits=limits, quote=_QUOTE)
        first = b""
        for block in self._blocks:
            first = block.lstrip(b"\r\n")  # blank lines before the header are skipped
            if first:
                break
        ends = record_ends(first[: 1 << 16], _QUOTE)
        if ends.size == 0:
            ends = record_ends(first, _QUOTE)
        cut = int(ends[0]) + 1 if ends.size else len(first)
        self._header = first[:cut]
        self._first = first[cut:]
        if separator is None:
            line = first[: first.find(b"\n")] if b"\n" in first else first
            separator = sniff_delimiter(line.decode("utf-8", errors="replace"))
        self.separator = separator
        self.names: list[str] = self._parse(self._header, None).columns if first else []

    def pieces(self, columns: Sequence[str] | None = None) -> Iterator[tuple[int, pl.DataFrame]]:
        """Yield ``(first record, rows)`` pieces; at least one, possibly empty.

        Parameters
        ----------
        columns : sequence of str, optional
            Read only these columns, in this order (default: all).

        Yields
        ------
        (int, polars.DataFrame)
            The 1-based number of the piece's first data row (the header is not a
            record), and the rows, all String.

        Raises
        ------
        InputError
            A piece that polars cannot parse, or more than :data:`MAX_EMPTY_RECORDS`
            records without any value. A piece has at most ``limits.max_lines`` lines, so
            a flood of blank lines costs at most that many rows before it is stopped.
        """
        if not self.names:
            yield 1, pl.DataFrame()
            return
        wanted = list(self.names if columns is None else columns)
        record = 1
        empty = 0
        bodies = self._bodies()
        for raw in bodies:
            body, mark = mark_invalid_utf8(raw)
            frame = self._parse(self._header + body, wanted)
            if mark is not None:
                self._reject_invalid(frame, mark, record)
            if frame.width:
                empty += frame.select(pl.all_horizontal(pl.all().is_null()).sum()).item()
            if empty > MAX_EMPTY_RECORDS:
                raise self._too_many_empty()
            yield record, frame
            record += frame.height

    def _reject_invalid(self, frame: pl.DataFrame, mark: str, record: int) -> None:
        """Add the rows of ``frame`` (first record ``record``) whose cells hold ``mark``."""
        reason = pl.lit(None, dtype=pl.String)
        for name in reversed(frame.columns):  # the first such column names the reason
            hit = pl.col(name).cast(pl.String).str.contains(mark, literal=True).fill_null(False)
            text = invalid_utf8_reason(f"column '{name[:60]}'")
            reason = pl.when(hit).then(pl.lit(text)).otherwise(reason)
        found = (
            frame.select(reason.alias("reason"))
            .with_row_index("at")
            .filter(pl.col("reason").is_not_null())
        )
        if found.height:
            self.row_rejects.add(found["at"].cast(pl.Int64) + record, found["reason"])

    def _bodies(self) -> Iterator[bytes]:
        """Yield the data after the header: the rest of the first block, then the others."""
        yield self._first
        self._first = b""
        yield from self._blocks

    def _parse(self, data: bytes, columns: list[str] | None) -> pl.DataFrame:
        try:
            frame = pl.read_csv(
                data,
                separator=self.separator,
                has_header=True,
                infer_schema=False,
                columns=columns,
                encoding="utf8-lossy",
                raise_if_empty=False,
            )
        except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
            raise InputError(
                self.path, f"not readable as delimited text ({first_line(exc)})"
            ) from None
        return frame if columns is None else frame.select(columns)

    def _too_many_empty(self) -> InputError:
        return InputError(
            self.path,
            f"more than {MAX_EMPTY_RECORDS:,} records hold no value (blank lines or only "
            "separators): not a table",
        )


def parquet_names(path: str) -> list[str]:
    """Return the column names of a Parquet file (errors name the file)."""
    try:
        return list(pl.read_parquet_schema(path))
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(path, f"not a readable Parquet file ({first_line(exc)})") from None


def iter_parquet(
    path: str, *, columns: Sequence[str], limits: ReadLimits | None = None
) -> Iterator[tuple[int, pl.DataFrame]]:
    """Yield ``(first record, rows)`` pieces of a Parquet file; at least one.

    Pieces hold about ``limits.piece_bytes`` bytes in memory: the first
    :data:`_PARQUET_FIRST_ROWS` rows say how many rows that is. Only ``columns`` are read.

    Raises
    ------
    InputError
        Not a readable Parquet file.
    """
    limits = limits or ReadLimits()
    scan = pl.scan_parquet(path).select(columns)
    offset = 0
    rows = _PARQUET_FIRST_ROWS
    progress = current()  # the file's task, when an ingest tracks it (bytes of the file)
    if progress is not None and progress.unit != "bytes":
        progress = None
    if progress is not None:
        size = Path(path).stat().st_size
        try:
            n_rows = int(pl.scan_parquet(path).select(pl.len()).collect().item())
        except (pl.exceptions.PolarsError, OSError):
            progress = None  # the read below says what is wrong with the file
    while True:
        try:
            frame = scan.slice(offset, rows).collect()
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise InputError(path, f"not a readable Parquet file ({first_line(exc)})") from None
        if progress is not None and n_rows:
            progress.update(size * min(1.0, (offset + frame.height) / n_rows))
        if frame.height or offset == 0:
            yield offset + 1, frame
        if frame.height < rows:
            return
        offset += frame.height
        per_row = max(1, int(frame.estimated_size()) // frame.height)
        rows = max(1, limits.piece_bytes // per_row)


def read_json_array(path: str, *, limits: ReadLimits | None = None) -> pl.DataFrame:
    """Read a JSON array of objects, whole (errors name the file).

    A JSON array is one document: it is decompressed and parsed at once (guarded
    against decompression bombs like every read). Bytes that are not valid UTF-8 make
    it unreadable: one error, saying where the first is.
    """
    data = read_document(path, limits=limits)
    try:
        return pl.read_json(io.BytesIO(data), infer_schema_length=None)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        try:  # say where, when it is the encoding (polars says "character 0")
            data.decode("utf-8")
        except UnicodeDecodeError as bad:
            where = f"the document (first at byte {bad.start + 1})"
            raise InputError(path, invalid_utf8_reason(where)) from None
        raise InputError(path, f"not a JSON array of objects ({first_line(exc)})") from None


@dataclass
class JsonLines:
    """Parsed JSON lines (one block of a file).

    ``frame`` has one row per good line; ``lines`` its 1-based line numbers in the file;
    ``bad`` the (line, reason) of lines that are not JSON objects.
    """

    frame: pl.DataFrame
    lines: np.ndarray
    bad: list[tuple[int, str]] = field(default_factory=list)


_WHITESPACE: Final = np.frombuffer(b" \t\n\r\x0b\x0c", dtype=np.uint8)


def _nonblank_lines(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start, end (exclusive) and 1-based number of every non-blank line; vectorized.

    A line of one or two whitespace bytes (a carriage return, spaces) is blank too.
    """
    arr = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(arr == ord("\n"))
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [arr.size]))
    lengths = ends - starts
    keep = lengths > 0
    short = np.flatnonzero((lengths == 1) | (lengths == 2))
    if short.size:
        first = np.isin(arr[starts[short]], _WHITESPACE)
        second = np.isin(arr[np.minimum(starts[short] + 1, arr.size - 1)], _WHITESPACE)
        keep[short[first & (second | (lengths[short] == 1))]] = False
    number = np.arange(1, starts.size + 1)
    return starts[keep], ends[keep], number[keep]


def iter_json_lines(
    path: str,
    *,
    limits: ReadLimits | None = None,
    schema: dict[str, pl.DataType] | None = None,
) -> Iterator[JsonLines]:
    """Read JSON lines block by block; lines that are not JSON objects are ``bad``.

    Per block, the fast path is one :func:`polars.read_ndjson` call (the schema inferred
    from the block unless given). Only when that fails are the block's lines checked one
    by one (to find and report the bad ones), and the good ones read again in one call.
    A line with bytes that are not valid UTF-8 is a bad line (never read with the bytes
    replaced: two ids that differ only there would become one).

    Parameters
    ----------
    path : str
        The file (plain, gzip or zstd).
    limits : ReadLimits, optional
        Block size and decompression guard.
    schema : dict, optional
        Polars schema to read with (fields not in it are ignored); inferred otherwise.

    Yields
    ------
    JsonLines
        One per block of the file (blocks of only blank lines give none).

    Raises
    ------
    InputError
        When no line of the file is a JSON object (after the last block).
    """
    offset = 0  # lines before the block
    decoded = False
    first_bad: tuple[int, str] | None = None
    for block in iter_blocks(path, limits=limits):
        starts, ends, numbers = _nonblank_lines(block)
        numbers = numbers + offset
        offset += block.count(b"\n")
        if starts.size == 0:
            continue
        lines = _read_lines(path, block, starts, ends, numbers, schema)
        decoded = decoded or lines.frame.height > 0
        if lines.bad and first_bad is None:
            first_bad = lines.bad[0]
        yield lines
    if first_bad is not None and not decoded:
        raise InputError(
            path,
            f"not JSON lines: no line is a JSON object (first reason: {first_bad[1]})",
            record=first_bad[0],
        )


def _read_lines(
    path: str,
    data: bytes,
    starts: np.ndarray,
    ends: np.ndarray,
    numbers: np.ndarray,
    schema: dict[str, pl.DataType] | None,
) -> JsonLines:
    """Read the non-blank lines of one block (see :func:`iter_json_lines`)."""
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
        except UnicodeDecodeError:
            bad.append((int(numbers[i]), invalid_utf8_reason("the line")))
            continue
        except (ValueError, RecursionError) as exc:
            bad.append((int(numbers[i]), f"not valid JSON ({exc.args[0] if exc.args else exc})"))
            continue
        if not isinstance(obj, dict):
            bad.append((int(numbers[i]), "JSON line is not an object"))
            continue
        good[i] = True
    if not good.any():
        return JsonLines(pl.DataFrame(schema=schema or {}), numbers[good], bad)
    joined = b"\n".join(
        data[s:e] for s, e in zip(starts[good].tolist(), ends[good].tolist(), strict=True)
    )
    try:
        frame = _ndjson(joined, schema)
    except (pl.exceptions.PolarsError, OSError, ValueError, RuntimeError) as exc:
        raise InputError(path, f"JSON lines could not be read ({first_line(exc)})") from None
    return JsonLines(frame, numbers[good], bad)


def _ndjson(data: bytes, schema: dict[str, pl.DataType] | None) -> pl.DataFrame:
    if schema is not None:
        return pl.read_ndjson(io.BytesIO(data), schema=schema, ignore_errors=False)
    return pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)
