"""Generic tables: CSV, TSV, Parquet, JSON lines, JSON arrays (plain, ``.gz``, ``.zst``).

Columns named as the canonical schema are taken as they are; others are mapped by name
(``mapping={"actor_id": "user_screen_name"}``, or ``--map actor_id=user_screen_name``).
Without a mapping, a few common names are recognised (:data:`ALIASES`); an explicit
mapping always wins. ``ts`` may be ISO 8601 (with or without offset; naive values are
taken as UTC and counted) or epoch numbers, whose unit (s, ms, µs, ns) is decided once per
column and file from the size of its first number; times outside 1970-01-01 to
2099-12-31 UTC are rejects (see :func:`coordscope.datasets.normalize.parse_times`). A CSV
row with bytes that are not valid UTF-8, or such a JSON line, is a reject. List columns
may be JSON arrays, bracketed lists, or space/comma separated strings. ``kind`` defaults
to ``post``, or ``repost`` where only ``object_id`` says so. Without an ``event_id``
column, events are numbered ``<file name>:<record>``.

CSV/TSV, Parquet and JSON lines are read in pieces (only the columns used, for CSV and
Parquet); JSON lines keep, until the whole file is read, only the fields that could be
used (canonical names, aliases, mapped fields, ``x_`` fields), because a field may first
appear on any line. A JSON array is one document and is read whole.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Final

import polars as pl

from coordscope._output import unneutralise_formulas
from coordscope.datasets._io import ReadLimits, compression_of, head_bytes, strip_bom
from coordscope.datasets._lists import to_string_list
from coordscope.datasets._stage import RECORD, REJECT, SOURCE, RowRejects, Staged
from coordscope.datasets._tables import (
    DelimitedText,
    iter_json_lines,
    iter_parquet,
    parquet_names,
    read_json_array,
    sniff_delimiter,
)
from coordscope.errors import InputError
from coordscope.schema import (
    ACTOR_ID,
    EVENT_ID,
    EVENT_SCHEMA,
    EXTRA_PREFIX,
    LIST_COLUMNS,
    PLATFORM,
    TS,
)

__all__ = ["ALIASES", "read", "resolve_columns", "sniff"]

#: Common source names recognised without a mapping, per canonical column, in priority order.
ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "event_id": ("id", "post_id", "message_id", "tweet_id", "status_id"),
    "actor_id": ("user_id", "account_id", "author_id", "userid", "from_id"),
    "actor_name": ("username", "user_name", "screen_name", "user_screen_name", "author"),
    "ts": ("timestamp", "created_at", "time", "datetime", "date", "published_at"),
    "object_id": ("repost_id", "retweet_id", "shared_id"),
    "text": ("message", "content", "body", "tweet_text"),
    "urls": ("url", "links", "link"),
    "hashtags": ("hashtag", "tags"),
}


def sniff(head: str) -> bool:
    """Tell whether the content names (or aliases) at least ``actor_id`` and ``ts``."""
    text = head.lstrip()
    if not text:
        return False
    if text[0] in "[{":
        names = set(_json_keys(text))
    else:
        first = text.splitlines()[0]
        sep = sniff_delimiter(first)
        names = {c.strip().strip('"').strip() for c in first.split(sep)}
    return all(_pick(col, names, {}) is not None for col in (ACTOR_ID, TS))


def _json_keys(text: str) -> list[str]:
    """Return the top-level keys of the first JSON object in ``text`` (no full parse)."""
    body = text[1:].lstrip() if text.startswith("[") else text
    line = body.split("\n", 1)[0].rstrip().rstrip(",")
    try:
        obj = json.loads(line)
    except ValueError:
        decoder = json.JSONDecoder()
        try:
            obj, _ = decoder.raw_decode(body)
        except ValueError:
            return []
    return list(obj) if isinstance(obj, dict) else []


def _pick(column: str, names: set[str], mapping: Mapping[str, str]) -> str | None:
    if column in mapping:
        return mapping[column]
    if column in names:
        return column
    for alias in ALIASES.get(column, ()):
        if alias in names:
            return alias
    return None


def resolve_columns(
    names: list[str], mapping: Mapping[str, str] | None, *, path: str
) -> dict[str, str]:
    """Canonical column → source column, from the mapping, canonical names, then aliases.

    Raises
    ------
    InputError
        A mapped source column does not exist, or ``actor_id``/``ts`` cannot be found.
    """
    mapping = dict(mapping or {})
    present = set(names)
    for col, src in mapping.items():
        if src not in present:
            raise InputError(
                path,
                f"no column '{src}' (mapped to {col}); columns are: {', '.join(names)}",
                field=src,
            )
    # a source column may serve one canonical column only: aliases never steal mapped ones
    used = set(mapping.values())
    resolved: dict[str, str] = {}
    for col in EVENT_SCHEMA:
        found = _pick(col, present - (used - {mapping.get(col, "")}), mapping)
        if found is not None:
            resolved[col] = found
            used.add(found)
    for col in (ACTOR_ID, TS):
        if col not in resolved:
            raise InputError(
                path,
                f"no column for '{col}'; columns are: {', '.join(names[:20])}"
                f"{' …' if len(names) > 20 else ''}; name one with --map {col}=COLUMN",
            )
    return resolved


#: A raw piece: the rows (wanted columns), their record numbers, and bad JSON lines
#: (line, reason) among them.
_Raw = tuple[pl.DataFrame, pl.Series, list[tuple[int, str]]]
#: The pieces of a file, given the columns wanted.
_Pieces = Callable[[list[str]], Iterator[_Raw]]


def _records(first: int, n: int) -> pl.Series:
    return pl.int_range(first, first + n, eager=True, dtype=pl.Int64)


def _open(
    path: str, mapping: Mapping[str, str] | None, limits: ReadLimits | None
) -> tuple[list[str], _Pieces, RowRejects | None]:
    """Open the raw table: its column names, its pieces, and its parse-time rejects.

    The rejects are the rows the parser finds invalid bytes in (delimited text only).

    Plain Parquet, CSV and TSV (compressed or not) are read in pieces of the wanted
    columns; JSON lines block by block (see the module docstring); a JSON array whole.
    """
    raw_head = head_bytes(path, 1 << 12)
    if compression_of(path) is None and raw_head.startswith(b"PAR1"):
        names = parquet_names(path)

        def parquet(wanted: list[str]) -> Iterator[_Raw]:
            for first, raw in iter_parquet(path, columns=wanted, limits=limits):
                yield raw, _records(first, raw.height), []

        return names, parquet, None
    head = strip_bom(raw_head).lstrip()
    if head[:1] == b"[":
        frame = read_json_array(path, limits=limits)

        def array(wanted: list[str]) -> Iterator[_Raw]:
            yield frame.select(wanted), _records(1, frame.height), []

        return frame.columns, array, None
    if head[:1] == b"{":
        names, lines = _open_json_lines(path, mapping, limits)
        return names, lines, None
    table = DelimitedText(path, limits=limits)

    def delimited(wanted: list[str]) -> Iterator[_Raw]:
        for first, raw in table.pieces(wanted):
            # a cell coordscope wrote with a ' before a formula character (its CSV
            # outputs are safe to open in a spreadsheet) is read as it was
            text = [pl.col(c) for c, t in raw.schema.items() if t == pl.String]
            yield raw.with_columns(unneutralise_formulas(*text)), _records(first, raw.height), []

    return table.names, delimited, table.row_rejects


def _open_json_lines(
    path: str, mapping: Mapping[str, str] | None, limits: ReadLimits | None
) -> tuple[list[str], _Pieces]:
    """Read JSON lines whole, keeping only the fields that could be used, per block."""
    usable = {*EVENT_SCHEMA, *(a for names in ALIASES.values() for a in names)}
    usable |= set((mapping or {}).values())
    names: dict[str, None] = {}  # every field, in order of first appearance
    blocks: list[_Raw] = []
    for lines in iter_json_lines(path, limits=limits):
        names.update(dict.fromkeys(lines.frame.columns))
        kept = [c for c in lines.frame.columns if c in usable or c.startswith(EXTRA_PREFIX)]
        records = pl.Series(RECORD, lines.lines, dtype=pl.Int64)
        blocks.append((lines.frame.select(kept), records, lines.bad))

    def json_lines(wanted: list[str]) -> Iterator[_Raw]:
        for frame, records, bad in blocks:
            missing = [
                pl.repeat(None, frame.height, eager=True).alias(c)
                for c in wanted
                if c not in frame.columns
            ]
            yield frame.with_columns(missing).select(wanted), records, bad

    return list(names), json_lines


def read(
    path: str, *, mapping: Mapping[str, str] | None = None, limits: ReadLimits | None = None
) -> Staged:
    """Stage a generic table (see the module docstring).

    Cost ``O(n)``, a piece of ``limits.piece_bytes`` at a time; only the columns used are
    read from CSV and Parquet files.

    Raises
    ------
    InputError
        Unreadable, or no column for ``actor_id`` or ``ts`` (at once); a piece that cannot
        be parsed (while the pieces are read).
    """
    names, pieces, row_rejects = _open(path, mapping, limits)
    resolved = resolve_columns(names, mapping, path=path)
    extras = [c for c in names if c.startswith(EXTRA_PREFIX) and c not in resolved.values()]
    wanted = list(dict.fromkeys([*resolved.values(), *extras]))
    staged = (
        _stage(raw, records, bad, resolved, extras, path=path)
        for raw, records, bad in pieces(wanted)
    )
    notes = {"mapped_by_alias": _alias_count(resolved, mapping)}
    return Staged(staged, format="generic", notes=notes, row_rejects=row_rejects)


def _stage(
    raw: pl.DataFrame,
    records: pl.Series,
    bad: list[tuple[int, str]],
    resolved: Mapping[str, str],
    extras: list[str],
    *,
    path: str,
) -> pl.DataFrame:
    """Staged rows of one raw piece (and rejects for its bad JSON lines); vectorized."""
    n = raw.height
    cols: dict[str, pl.Series] = {
        SOURCE: pl.repeat(path, n, eager=True, dtype=pl.String),
        RECORD: records,
    }
    for col, src in resolved.items():
        values = raw[src]
        if col in LIST_COLUMNS:
            cols[col] = to_string_list(values)
        elif col in (TS, "actor_created"):
            cols[col] = values
        else:
            if isinstance(values.dtype, (pl.List, pl.Struct)):
                raise InputError(path, f"column '{src}' holds lists, not single values", field=src)
            cols[col] = values.cast(pl.String)
    frame = pl.DataFrame(cols).with_columns(pl.col(RECORD).cast(pl.Int64))
    if EVENT_ID not in resolved:
        frame = frame.with_columns(
            (pl.lit(Path(path).name + ":") + pl.col(RECORD).cast(pl.String)).alias(EVENT_ID)
        )
    if PLATFORM not in resolved:
        frame = frame.with_columns(pl.lit("generic").alias(PLATFORM))
    if extras:
        frame = frame.with_columns([raw[c] for c in extras])
    if bad:
        bad_frame = pl.DataFrame(
            {SOURCE: [path] * len(bad), RECORD: [b[0] for b in bad], REJECT: [b[1] for b in bad]},
            schema={SOURCE: pl.String, RECORD: pl.Int64, REJECT: pl.String},
        )
        frame = pl.concat([frame, bad_frame], how="diagonal_relaxed").sort(RECORD)
    return frame


def _alias_count(resolved: Mapping[str, str], mapping: Mapping[str, str] | None) -> int:
    mapping = mapping or {}
    return sum(1 for c, s in resolved.items() if c not in mapping and c != s)
