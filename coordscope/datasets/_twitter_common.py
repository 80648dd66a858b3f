"""Shared by the X/Twitter readers: fast JSON-lines decoding and reject rows.

Why not :func:`polars.read_ndjson`? With a schema holding lists of structs (entities,
referenced tweets, includes), polars 2.1's NDJSON reader spends several microseconds on
every list present in a line, 50–150 µs per tweet: 1M twarc2 tweets take ~50 s or more.
Reading each line as one string and decoding the column with
:meth:`polars.Expr.str.json_decode` against the same explicit schema is 10–20× faster and
gives the same values (fields not in the schema are ignored, missing ones become null,
numbers and booleans read into String fields as their JSON text). So
:func:`iter_decoded` does that, block by block of the file (sized from the memory
budget), in chunks on all of polars' threads, and keeps the counted-reject contract of
:func:`coordscope.datasets._tables.iter_json_lines`: a line that is not JSON, not an
object, or whose fields do not have the schema's types is a reject naming its line;
blank lines are skipped; only a chunk that fails to decode does more than one vectorized
pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Final

import polars as pl

from coordscope.datasets._io import ReadLimits, iter_blocks, mark_invalid_utf8
from coordscope.datasets._stage import RECORD, REJECT, SOURCE
from coordscope.datasets._tables import invalid_utf8_reason
from coordscope.errors import InputError

__all__ = [
    "CHUNK_LINES",
    "MAX_TYPE_MISMATCHES",
    "PLATFORM_NAME",
    "DecodedLines",
    "Transform",
    "first_line_is_object",
    "iter_decoded",
    "reject_rows",
    "staged_pieces",
]

#: The ``platform`` value of every event read from X/Twitter data.
PLATFORM_NAME: Final = "twitter"

#: Above this many lines whose fields have the wrong JSON types, the file is not of the
#: format at all: raise instead of rejecting line by line.
MAX_TYPE_MISMATCHES: Final = 1000

_LINE: Final = "_line"
# Bytes that valid JSON never holds raw (control characters must be escaped): reading
# with one the block does not hold as the CSV separator gives one whole line per row.
_SEPARATORS: Final = tuple(chr(c) for c in (*range(0x1F, 0x0D, -1), 0x0C, 0x0B, *range(8, 0, -1)))


#: Most lines decoded per task; tasks run on :func:`polars.thread_pool_size` threads, and
#: a block of the file is cut into at least as many tasks as there are threads.
CHUNK_LINES: Final = 50_000

#: Per-chunk work after decoding: staged rows and counters from a decoded chunk.
Transform = Callable[[pl.DataFrame], tuple[pl.DataFrame, dict[str, int]]]


@dataclass
class DecodedLines:
    """One block of JSON lines decoded against a schema (and transformed, when asked).

    Attributes
    ----------
    frame : polars.DataFrame
        Without a transform, one row per line that decoded: ``_record`` (Int64, 1-based
        line number) and one column per field of the schema, in schema order. With one,
        the transform's rows, chunk after chunk.
    bad : polars.DataFrame
        ``_record`` (Int64) and ``_reject`` (String) of every non-blank line of the block
        that did not decode, in line order.
    notes : dict
        The transform's counters, summed over the block's chunks.
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


def iter_decoded(
    path: str,
    dtype: pl.Struct,
    *,
    what: str,
    transform: Transform | None = None,
    limits: ReadLimits | None = None,
) -> Iterator[DecodedLines]:
    """Read a JSON-lines file (plain, gzip or zstd) block by block, decoding every line.

    The file is read in blocks of whole lines of about ``limits.piece_bytes``. A block's
    lines are split in one pass (polars CSV reader, no quoting, a separator that JSON
    never holds raw), then decoded with :meth:`polars.Expr.str.json_decode` in chunks of
    at most :data:`CHUNK_LINES` on all of polars' threads, while the next block is read
    and split; ``transform`` runs on each decoded chunk in the same task. Cost ``O(size)``
    time, ``O(piece)`` memory besides what the caller keeps. Only a chunk whose decoding
    fails looks for its bad lines: lines that are not JSON, or not objects, in one more
    vectorized pass; lines whose fields have other JSON types than ``dtype`` (an object
    where a string is expected, …) by bisection over the rest, ``O(b log n)`` decodes for
    ``b`` such lines. Blank lines are skipped (they are not records).

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
    limits : ReadLimits, optional
        Block size and decompression guard.

    Yields
    ------
    DecodedLines
        One per block, in file order.

    Raises
    ------
    InputError
        When the file has non-blank lines but none decodes (after the last block), or
        more than :data:`MAX_TYPE_MISMATCHES` lines have fields of the wrong type.
    """
    work = partial(_decode_chunk, dtype=dtype, path=path, what=what, transform=transform)
    threads = pl.thread_pool_size()
    offset = 0  # lines before the block
    decoded = mismatched = 0
    first_bad: int | None = None
    first_reason = ""

    def collect(tasks: list[Future[_Chunk]]) -> DecodedLines:
        nonlocal decoded, mismatched, first_bad, first_reason
        results = [task.result() for task in tasks]
        bad = pl.concat([r.bad for r in results])
        if bad.height and first_bad is None:
            first_bad = int(bad[RECORD][0])
            first_reason = str(bad[REJECT][0])
        decoded += sum(r.decoded for r in results)
        mismatched += sum(r.mismatched for r in results)
        if decoded and mismatched > MAX_TYPE_MISMATCHES and first_bad is not None:
            raise _too_many_mismatches(path, what, first_bad)
        notes: dict[str, int] = {}
        for result in results:
            for key, value in result.notes.items():
                notes[key] = notes.get(key, 0) + value
        frame = pl.concat([r.frame for r in results], how="diagonal_relaxed")
        return DecodedLines(frame, bad, notes)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        previous: list[Future[_Chunk]] = []
        # a block's chunks are decoded while the next block is read and split
        for block in iter_blocks(path, limits=limits):
            if block.isspace():  # blank lines only (a flood of newlines): no records
                offset += block.count(b"\n")
                continue
            lines = _split_lines(block, offset)
            offset += lines.height  # one row a line; only the last block lacks a newline
            size = max(1, min(CHUNK_LINES, -(-lines.height // threads)))
            chunks = [lines.slice(start, size) for start in range(0, max(lines.height, 1), size)]
            del lines, block
            current = [pool.submit(work, chunk) for chunk in chunks]
            if previous:
                yield collect(previous)
            previous = current
        if previous:
            yield collect(previous)
    if first_bad is not None and not decoded:
        if mismatched:
            raise InputError(path, f"no line has the fields of {what}", record=first_bad)
        raise InputError(
            path,
            f"not JSON lines: no line is a JSON object ({what}; first reason: {first_reason})",
            record=first_bad,
        )


def staged_pieces(
    path: str,
    dtype: pl.Struct,
    *,
    what: str,
    transform: Transform,
    notes: dict[str, int],
    limits: ReadLimits | None = None,
) -> Iterator[pl.DataFrame]:
    """Staged rows of a JSON-lines file, block by block (see :func:`iter_decoded`).

    Each piece holds a block's transformed rows and its rejected lines, in record order;
    the transform's counters are added to ``notes`` as the blocks are read.
    """
    for decoded in iter_decoded(path, dtype, what=what, transform=transform, limits=limits):
        for key, value in decoded.notes.items():
            notes[key] = notes.get(key, 0) + value
        frame = decoded.frame
        if decoded.bad.height:
            frame = pl.concat([frame, reject_rows(path, decoded.bad)], how="diagonal")
        if not frame[RECORD].is_sorted():  # pages and flattened lines mixed, or rejects
            frame = frame.sort(RECORD, maintain_order=True)
        yield frame


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
    if REJECT in lines.columns:  # lines with bytes that are not valid UTF-8
        bad = lines.filter(pl.col(REJECT).is_not_null()).select(RECORD, REJECT)
        lines = lines.filter(pl.col(REJECT).is_null()).drop(REJECT)
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
            bad = pl.concat([bad, wrong])
        bad = bad.sort(RECORD)
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


def _split_lines(data: bytes, offset: int) -> pl.DataFrame:
    """``_record`` (1-based line number) and ``_line`` (String) of every line of ``data``.

    ``offset`` lines come before ``data`` in the file. Blank lines are kept (as null or
    whitespace) so that row ``i`` is line ``offset + i + 1``; this is checked against the
    number of newlines. Lines with bytes that are not valid UTF-8 get a ``_reject``
    reason (the column is there only then): replacing the bytes could make two ids one.
    """
    data, mark = mark_invalid_utf8(data)
    expected = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    separator = next((c for c in _SEPARATORS if c.encode() not in data), None)
    frame = None
    if separator is not None:
        frame = pl.read_csv(
            data,
            has_header=False,
            separator=separator,
            quote_char=None,
            comment_prefix=None,
            schema={_LINE: pl.String},
            truncate_ragged_lines=True,
            encoding="utf8-lossy",
            raise_if_empty=False,
        )
    if frame is None or frame.height != expected:  # never seen; keep the numbers right
        text = data.decode("utf-8", errors="replace").split("\n")
        if data.endswith(b"\n"):
            text.pop()
        frame = pl.DataFrame({_LINE: text}, schema={_LINE: pl.String})
    frame = frame.with_row_index(RECORD, offset=offset + 1).with_columns(
        pl.col(RECORD).cast(pl.Int64)
    )
    if mark is not None:
        reason = invalid_utf8_reason("the line")
        invalid = pl.col(_LINE).str.contains(mark, literal=True).fill_null(False)
        frame = frame.with_columns(
            pl.when(invalid).then(pl.lit(reason)).otherwise(None).alias(REJECT)
        )
    return frame


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
