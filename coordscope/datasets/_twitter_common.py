"""Shared by the X/Twitter readers: fast JSON-lines decoding and reject rows.

Why not :func:`polars.read_ndjson`? With a schema holding lists of structs (entities,
referenced tweets, includes), polars 2.1's NDJSON reader spends several microseconds on
every list present in a line, 50–150 µs per tweet: 1M twarc2 tweets take ~50 s or more.
Reading each line as one string and decoding the column with
:meth:`polars.Expr.str.json_decode` against the same explicit schema is 10–20× faster and
gives the same values (fields not in the schema are ignored, missing ones become null,
numbers and booleans read into String fields as their JSON text). So
:func:`decode_json_lines` does that, in chunks on all of polars' threads, and keeps the
counted-reject contract of :func:`coordscope.datasets._tables.read_json_lines`: a line
that is not JSON, not an object, or whose fields do not have the schema's types is a
reject naming its line; blank lines are skipped; only a chunk that fails to decode does
more than one vectorized pass.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Final

import polars as pl

from coordscope.datasets._io import read_bytes, strip_bom
from coordscope.datasets._stage import RECORD, REJECT, SOURCE
from coordscope.errors import InputError

__all__ = [
    "CHUNK_LINES",
    "MAX_TYPE_MISMATCHES",
    "PLATFORM_NAME",
    "DecodedLines",
    "Transform",
    "decode_json_lines",
    "first_line_is_object",
    "reject_rows",
]

#: The ``platform`` value of every event read from X/Twitter data.
PLATFORM_NAME: Final = "twitter"

#: Above this many lines whose fields have the wrong JSON types, the file is not of the
#: format at all: raise instead of rejecting line by line.
MAX_TYPE_MISMATCHES: Final = 1000

_LINE: Final = "_line"
# One byte that valid JSON never holds raw (control characters must be escaped), so
# reading with it as the CSV separator gives one whole line per row.
_NO_SEPARATOR: Final = "\x1f"


#: Lines decoded per task; tasks run on :func:`polars.thread_pool_size` threads.
CHUNK_LINES: Final = 50_000

#: Per-chunk work after decoding: staged rows and counters from a decoded chunk.
Transform = Callable[[pl.DataFrame], tuple[pl.DataFrame, dict[str, int]]]


@dataclass
class DecodedLines:
    """JSON lines decoded against a schema (and transformed, when asked).

    Attributes
    ----------
    frame : polars.DataFrame
        Without a transform, one row per line that decoded: ``_record`` (Int64, 1-based
        line number) and one column per field of the schema, in schema order. With one,
        the transform's rows, chunk after chunk.
    bad : polars.DataFrame
        ``_record`` (Int64) and ``_reject`` (String) of every non-blank line that did not
        decode, in line order.
    notes : dict
        The transform's counters, summed over chunks.
    """

    frame: pl.DataFrame
    bad: pl.DataFrame
    notes: dict[str, int] = field(default_factory=dict)


@dataclass
class _Chunk:
    frame: pl.DataFrame
    bad: pl.DataFrame
    notes: dict[str, int]
    decoded: int
    mismatched: int


def decode_json_lines(
    path: str, dtype: pl.Struct, *, what: str, transform: Transform | None = None
) -> DecodedLines:
    """Read a JSON-lines file (plain, gzip or zstd) and decode every line as ``dtype``.

    Lines are split in one pass (polars CSV reader, no quoting, a separator that JSON
    never holds raw), then decoded with :meth:`polars.Expr.str.json_decode` in chunks of
    :data:`CHUNK_LINES` on all of polars' threads; ``transform`` runs on each decoded
    chunk in the same task. Cost ``O(size)``. Only a chunk whose decoding fails looks for
    its bad lines: lines that are not JSON, or not objects, in one more vectorized pass;
    lines whose fields have other JSON types than ``dtype`` (an object where a string is
    expected, …) by bisection over the rest, ``O(b log n)`` decodes for ``b`` such lines.
    Blank lines are skipped (they are not records).

    Parameters
    ----------
    path : str
        The file.
    dtype : polars.Struct
        The fields to read, with their types. Fields of a line not in it are ignored;
        fields missing from a line are null; JSON numbers and booleans read into String
        fields as their JSON text.
    what : str
        What a line should be, for reject reasons ("an X/Twitter v2 tweet or page").
    transform : callable, optional
        ``frame -> (rows, counters)`` applied to each decoded chunk; it must not depend on
        rows of other chunks (records never span chunks).

    Returns
    -------
    DecodedLines

    Raises
    ------
    InputError
        When the file has non-blank lines but none decodes, or more than
        :data:`MAX_TYPE_MISMATCHES` lines have fields of the wrong type.
    """
    lines = _split_lines(strip_bom(read_bytes(path)))
    starts = range(0, max(lines.height, 1), CHUNK_LINES)
    chunks = [lines.slice(start, CHUNK_LINES) for start in starts]
    work = partial(_decode_chunk, dtype=dtype, path=path, what=what, transform=transform)
    workers = min(len(chunks), pl.thread_pool_size())
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(work, chunks))
    else:
        results = [work(chunk) for chunk in chunks]
    bad = pl.concat([r.bad for r in results])
    if bad.height and not any(r.decoded for r in results):
        first = int(bad[RECORD][0])
        if any(r.mismatched for r in results):
            raise InputError(path, f"no line has the fields of {what}", record=first)
        raise InputError(path, f"not JSON lines: no line is a JSON object ({what})", record=first)
    if sum(r.mismatched for r in results) > MAX_TYPE_MISMATCHES:
        raise _too_many_mismatches(path, what, int(bad[RECORD][0]))
    notes: dict[str, int] = {}
    for result in results:
        for key, value in result.notes.items():
            notes[key] = notes.get(key, 0) + value
    frame = pl.concat([r.frame for r in results], how="diagonal_relaxed")
    return DecodedLines(frame, bad, notes)


def _decode_chunk(
    lines: pl.DataFrame,
    *,
    dtype: pl.Struct,
    path: str,
    what: str,
    transform: Transform | None,
) -> _Chunk:
    """Decode (and transform) one chunk of lines; find its bad lines only on failure."""
    lines = lines.filter(pl.col(_LINE).str.contains(r"\S"))  # blank lines are no records
    bad = _bad_frame([], [])
    mismatched = 0
    try:
        frame = _decode(lines, dtype)
    except pl.exceptions.PolarsError:
        head = pl.col(_LINE).str.strip_chars_start()
        reason = (
            pl.when(pl.col(_LINE).str.json_path_match("$").is_null())
            .then(pl.lit("not valid JSON (malformed or truncated line)"))
            .when(~head.str.starts_with("{"))
            .then(pl.lit("JSON line is not an object"))
        )
        checked = lines.with_columns(reason.alias(REJECT))
        bad = checked.filter(pl.col(REJECT).is_not_null()).select(RECORD, REJECT)
        good = checked.filter(pl.col(REJECT).is_null()).drop(REJECT)
        try:
            frame = _decode(good, dtype)
        except pl.exceptions.PolarsError:
            frame, wrong = _decode_bisect(good, dtype, path=path, what=what)
            mismatched = wrong.height
            bad = pl.concat([bad, wrong]).sort(RECORD)
    decoded = frame.height
    notes: dict[str, int] = {}
    if transform is not None:
        frame, notes = transform(frame)
    return _Chunk(frame, bad, notes, decoded, mismatched)


def reject_rows(path: str, bad: pl.DataFrame) -> pl.DataFrame:
    """Staged rows (``_source, _record, _reject``) for lines rejected while decoding."""
    return bad.select(
        pl.lit(path, dtype=pl.String).alias(SOURCE),
        pl.col(RECORD).cast(pl.Int64),
        pl.col(REJECT).cast(pl.String),
    )


def first_line_is_object(head: str) -> bool:
    """Tell whether the first non-blank character of ``head`` opens a JSON object."""
    return head.lstrip().startswith("{")


def _split_lines(data: bytes) -> pl.DataFrame:
    """``_record`` (1-based line number) and ``_line`` (String) of every line of ``data``.

    Invalid UTF-8 is replaced. Blank lines are kept (as null or whitespace) so that row
    ``i`` is line ``i + 1``; this is checked against the number of newlines.
    """
    expected = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    frame = pl.read_csv(
        data,
        has_header=False,
        separator=_NO_SEPARATOR,
        quote_char=None,
        comment_prefix=None,
        schema={_LINE: pl.String},
        truncate_ragged_lines=True,
        encoding="utf8-lossy",
        raise_if_empty=False,
    )
    if frame.height != expected:  # never seen; keep the line numbers right regardless
        text = data.decode("utf-8", errors="replace").split("\n")
        if data.endswith(b"\n"):
            text.pop()
        frame = pl.DataFrame({_LINE: text}, schema={_LINE: pl.String})
    return frame.with_row_index(RECORD, offset=1).with_columns(pl.col(RECORD).cast(pl.Int64))


def _decode(lines: pl.DataFrame, dtype: pl.Struct) -> pl.DataFrame:
    """Decode ``_line`` as ``dtype`` and unnest it next to ``_record``.

    Raises on any bad line.
    """
    return lines.select(RECORD, pl.col(_LINE).str.json_decode(dtype)).unnest(_LINE)


def _too_many_mismatches(path: str, what: str, record: int) -> InputError:
    return InputError(
        path,
        f"more than {MAX_TYPE_MISMATCHES} lines do not have the fields of {what}",
        record=record,
    )


def _bad_frame(records: list[int], reasons: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {RECORD: records, REJECT: reasons}, schema={RECORD: pl.Int64, REJECT: pl.String}
    )


def _decode_bisect(
    lines: pl.DataFrame, dtype: pl.Struct, *, path: str, what: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Decode the lines that can be, and reject each one that cannot, by bisection.

    A loop over chunks, never over lines: ``O(b log n)`` decode calls for ``b`` bad lines.
    """
    parts: list[tuple[int, pl.DataFrame]] = []
    records: list[int] = []
    reasons: list[str] = []
    stack = [(0, lines.height)]
    while stack:
        lo, hi = stack.pop()
        chunk = lines.slice(lo, hi - lo)
        try:
            parts.append((lo, _decode(chunk, dtype)))
        except pl.exceptions.PolarsError as exc:
            if hi - lo > 1:
                mid = (lo + hi) // 2
                stack.extend([(mid, hi), (lo, mid)])
                continue
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            records.append(int(chunk[RECORD][0]))
            reasons.append(f"fields do not have the types of {what} ({detail[:160]})")
            if len(records) > MAX_TYPE_MISMATCHES:
                raise _too_many_mismatches(path, what, records[0]) from None
    parts.sort(key=lambda p: p[0])
    frames = [p[1] for p in parts]
    frame = pl.concat(frames) if frames else _decode(lines.clear(), dtype)
    return frame, _bad_frame(records, reasons)
