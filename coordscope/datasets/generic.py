"""Generic tables: CSV, TSV, Parquet, JSON lines, JSON arrays (plain, ``.gz``, ``.zst``).

Columns named as the canonical schema are taken as they are; others are mapped by name
(``mapping={"actor_id": "user_screen_name"}``, or ``--map actor_id=user_screen_name``).
Without a mapping, a few common names are recognised (:data:`ALIASES`); an explicit
mapping always wins. ``ts`` may be ISO 8601 (with or without offset; naive values are
taken as UTC and counted) or epoch seconds/milliseconds. List columns may be JSON arrays,
bracketed lists, or space/comma separated strings. ``kind`` defaults to ``post``, or
``repost`` where only ``object_id`` says so. Without an ``event_id`` column, events are
numbered ``<file name>:<record>``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import polars as pl

from coordscope.datasets._io import compression_of, head_bytes, strip_bom
from coordscope.datasets._lists import to_string_list
from coordscope.datasets._stage import RECORD, REJECT, SOURCE, Staged
from coordscope.datasets._tables import (
    read_delimited,
    read_json_array,
    read_json_lines,
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


def _load(path: str) -> tuple[pl.LazyFrame, pl.Series | None, list[tuple[int, str]]]:
    """Load the raw table (lazy where the file allows), its record numbers, bad JSON lines.

    Plain CSV/TSV and Parquet are scanned lazily, so only the columns used are read;
    compressed text, JSON arrays and JSON lines are read eagerly. Record numbers are
    ``None`` when they are simply 1..n.
    """
    raw_head = head_bytes(path, 1 << 12)
    plain = compression_of(path) is None
    if plain and raw_head.startswith(b"PAR1"):
        try:
            pl.read_parquet_schema(path)
        except (pl.exceptions.PolarsError, OSError) as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(path, f"not a readable Parquet file ({message})") from None
        return pl.scan_parquet(path), None, []
    head = strip_bom(raw_head).lstrip()
    if head[:1] == b"[":
        return read_json_array(path).lazy(), None, []
    if head[:1] == b"{":
        lines = read_json_lines(path)
        return lines.frame.lazy(), pl.Series(lines.lines, dtype=pl.Int64), lines.bad
    if plain and not raw_head.startswith(b"\xef\xbb\xbf"):
        first = raw_head.split(b"\n", 1)[0].decode("utf-8", errors="replace")
        scan = pl.scan_csv(
            path,
            separator=sniff_delimiter(first),
            infer_schema=False,
            encoding="utf8-lossy",
            raise_if_empty=False,
        )
        return scan, None, []
    return read_delimited(path).lazy(), None, []


def read(path: str, *, mapping: Mapping[str, str] | None = None) -> Staged:
    """Stage a generic table (see the module docstring).

    Cost ``O(n)``; only the columns used are read from plain CSV and Parquet files.
    """
    lazy, records, bad = _load(path)
    try:
        names = lazy.collect_schema().names()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(path, f"not readable as a table ({_first_line(exc)})") from None
    resolved = resolve_columns(names, mapping, path=path)
    extras = [c for c in names if c.startswith(EXTRA_PREFIX) and c not in resolved.values()]
    wanted = list(dict.fromkeys([*resolved.values(), *extras]))
    try:
        raw = lazy.select(wanted).collect()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(path, f"not readable as a table ({_first_line(exc)})") from None
    n = raw.height
    cols: dict[str, pl.Series] = {
        SOURCE: pl.repeat(path, n, eager=True, dtype=pl.String),
        RECORD: records if records is not None else pl.int_range(1, n + 1, eager=True),
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
    notes = {"mapped_by_alias": _alias_count(resolved, mapping)}
    return Staged(frame, format="generic", notes=notes)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _alias_count(resolved: Mapping[str, str], mapping: Mapping[str, str] | None) -> int:
    mapping = mapping or {}
    return sum(1 for c, s in resolved.items() if c not in mapping and c != s)
