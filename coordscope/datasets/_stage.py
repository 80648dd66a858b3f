"""The contract between readers and the canonical table, and the shared last step.

A reader turns one input file into a *staged* frame: one row per input record, with

- ``_source`` (String): the file path as given;
- ``_record`` (Int64): the 1-based record number in that file (CSV data row, JSON line,
  JSON array element, Telegram message index);
- ``_reject`` (String, null): a reason the reader already knows the record must be
  rejected for (a Telegram service message, a JSON line that is not JSON, …);
- any of the canonical columns of :data:`coordscope.schema.EVENT_SCHEMA`, in raw form:
  ``ts`` and ``actor_created`` as strings, numbers (epoch s/ms) or datetimes; ``kind`` as
  a string (null means "decide": ``repost`` when ``object_id`` is set, else ``post``);
  list columns as ``List(String)``, not yet normalised; ``platform`` as a string;
- optional ``x_*`` platform columns.

:func:`finalize` then does everything readers share, vectorized: timestamp parsing (naive
values taken as UTC and counted), required-field checks, kind checks, URL/hashtag/mention
normalisation, exact-duplicate removal, optional merging of long-form rows, and the row
accounting ``input == accepted + rejected + duplicates``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import polars as pl

from coordscope.datasets.normalize import (
    clean_list,
    normalize_hashtags,
    normalize_mentions,
    normalize_url_lists,
    parse_timestamps,
)
from coordscope.schema import (
    ACTOR_CREATED,
    ACTOR_ID,
    ACTOR_NAME,
    CHANNEL,
    EVENT_ID,
    EVENT_SCHEMA,
    EXTRA_PREFIX,
    HASHTAGS,
    KIND,
    KINDS,
    LIST_COLUMNS,
    MEDIA,
    MENTIONS,
    OBJECT_ID,
    PLATFORM,
    REJECT_SCHEMA,
    TEXT,
    TS,
    TS_DTYPE,
    URLS,
    validate_events,
)

__all__ = ["RECORD", "REJECT", "REJECT_SCHEMA", "SOURCE", "Staged", "finalize", "reject_frame"]

SOURCE: Final = "_source"
RECORD: Final = "_record"
REJECT: Final = "_reject"


_SCALAR_STRINGS: Final = (EVENT_ID, ACTOR_ID, ACTOR_NAME, OBJECT_ID, CHANNEL)
_LIST_DTYPE: Final = pl.List(pl.String())


@dataclass
class Staged:
    """What a reader returns for one file.

    Attributes
    ----------
    frame : polars.DataFrame
        The staged rows (see the module docstring for the columns).
    format : str
        The format name that read the file.
    normalize_urls : bool
        Normalise URLs (False where "URLs" are anonymised ids, as in CooRTweet data).
    merge_rows : bool
        Long-form input: rows of one event (same platform, event, actor, time, kind and
        object) are merged into one event whose lists are the union of the rows'.
    notes : dict
        Reader-specific counters for the summary.
    """

    frame: pl.DataFrame
    format: str
    normalize_urls: bool = True
    merge_rows: bool = False
    notes: dict[str, int] = field(default_factory=dict)


@dataclass
class Finalized:
    """Canonical events of staged input, with its rejects and accounting."""

    events: pl.DataFrame
    rejects: pl.DataFrame
    rows: dict[str, int]
    notes: dict[str, int]


def reject_frame(source: str, records: list[int], reasons: list[str]) -> pl.DataFrame:
    """Build a rejects table for a few records (used by readers for file-level problems)."""
    return pl.DataFrame(
        {"source": [source] * len(records), "record": records, "reason": reasons},
        schema=REJECT_SCHEMA,
    )


def _complete(frame: pl.DataFrame) -> pl.DataFrame:
    """Add missing canonical columns as nulls / empty lists, and the bookkeeping ones."""
    add: list[pl.Expr] = []
    for name, dtype in EVENT_SCHEMA.items():
        if name in frame.columns:
            continue
        if name in LIST_COLUMNS:
            add.append(pl.lit([], dtype=_LIST_DTYPE).alias(name))
        elif name in (TS, ACTOR_CREATED) or name in (KIND, PLATFORM):
            add.append(pl.lit(None, dtype=pl.String).alias(name))
        else:
            add.append(pl.lit(None, dtype=dtype).alias(name))
    if REJECT not in frame.columns:
        add.append(pl.lit(None, dtype=pl.String).alias(REJECT))
    if SOURCE not in frame.columns:
        add.append(pl.lit(None, dtype=pl.String).alias(SOURCE))
    if RECORD not in frame.columns:
        add.append(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(RECORD))
    if add:
        frame = frame.with_columns(add)
    casts: list[pl.Expr] = [
        pl.col(c).cast(pl.String) for c in (*_SCALAR_STRINGS, TEXT, KIND, PLATFORM)
    ]
    casts += [pl.col(c).cast(_LIST_DTYPE) for c in LIST_COLUMNS]
    return frame.with_columns(casts)


def finalize(parts: list[Staged]) -> Finalized:
    """Turn staged frames (one per file) into the canonical event table.

    Rejects, in this order of precedence: the reader's own reason; missing ``actor_id``;
    missing ``event_id``; missing timestamp; a timestamp that is not understood; an
    unknown ``kind``. Exact duplicates (every canonical and ``x_`` field equal, across all
    files) are dropped after the first and counted. Cost ``O(n log n)`` for the duplicate
    search, everything else ``O(n)`` vectorized.

    Parameters
    ----------
    parts : list of Staged
        One per input file, in input order.

    Returns
    -------
    Finalized
        Events in input order (file, then record), the rejects table
        (``source, record, reason``) and ``rows = {input, accepted, rejected,
        duplicates}`` with ``input == accepted + rejected + duplicates``.
    """
    notes: dict[str, int] = {}
    frames: list[pl.DataFrame] = []
    for part in parts:
        for key, value in part.notes.items():
            notes[key] = notes.get(key, 0) + value
        frames.append(_prepare(part, notes))
    if not frames:
        staged = _prepare(Staged(pl.DataFrame(), "generic"), notes)
    else:
        staged = pl.concat(frames, how="diagonal_relaxed")
    n_input = staged.height

    rejected_mask = staged[REJECT].is_not_null()
    rejects = staged.filter(rejected_mask).select(
        pl.col(SOURCE).alias("source"),
        pl.col(RECORD).alias("record"),
        pl.col(REJECT).alias("reason"),
    )
    accepted = staged.filter(~rejected_mask)

    extras = sorted(c for c in accepted.columns if c.startswith(EXTRA_PREFIX))
    columns = [*EVENT_SCHEMA, *extras]
    before = accepted.height
    accepted, recurring_ids = _drop_exact_duplicates(accepted, columns)
    n_duplicates = before - accepted.height
    n_accepted = accepted.height
    merge = any(p.merge_rows for p in parts)
    if merge:
        accepted = _merge_rows(accepted, extras)
        notes["merged_rows"] = notes.get("merged_rows", 0) + n_accepted - accepted.height

    if recurring_ids:  # otherwise every event id is unique: no conflict to look for
        recurring = accepted.filter(pl.col(EVENT_ID).is_duplicated())
        conflicts = recurring.select(pl.struct(PLATFORM, EVENT_ID).is_duplicated().sum()).item()
        if conflicts:
            notes["event_id_conflicts"] = int(conflicts)
    notes["events"] = accepted.height
    events = accepted.select(columns).cast(pl.Schema(EVENT_SCHEMA))
    validate_events(events)
    rows = {
        "input": n_input,
        "accepted": n_accepted,
        "rejected": rejects.height,
        "duplicates": n_duplicates,
    }
    return Finalized(
        events=events, rejects=rejects.cast(pl.Schema(REJECT_SCHEMA)), rows=rows, notes=notes
    )


def _prepare(part: Staged, notes: dict[str, int]) -> pl.DataFrame:
    """Parse, check and normalise one staged frame (still one row per input record)."""
    frame = _complete(part.frame)
    # Scalars: strip ids, empty strings become null.
    frame = frame.with_columns(
        [
            pl.col(c).str.strip_chars().replace("", None).alias(c)
            for c in (EVENT_ID, ACTOR_ID, OBJECT_ID, CHANNEL)
        ]
        + [pl.col(ACTOR_NAME).replace("", None), pl.col(TEXT).replace("", None)]
    )
    raw_ts = frame[TS]
    ts, naive = parse_timestamps(raw_ts)
    created, _ = parse_timestamps(frame[ACTOR_CREATED])
    notes["naive_timestamps"] = notes.get("naive_timestamps", 0) + int(naive.sum())
    bad_created = int((frame[ACTOR_CREATED].is_not_null() & created.is_null()).sum())
    if bad_created:
        notes["actor_created_unparsed"] = notes.get("actor_created_unparsed", 0) + bad_created
    raw_ts_text = raw_ts.cast(pl.String)
    frame = frame.with_columns(
        ts.alias(TS),
        created.cast(TS_DTYPE).alias(ACTOR_CREATED),
        raw_ts_text.alias("_ts_raw"),
    )
    kind = pl.col(KIND).str.strip_chars().str.to_lowercase().replace("", None)
    kind = (
        pl.when(kind.is_null() & pl.col(OBJECT_ID).is_not_null())
        .then(pl.lit("repost"))
        .when(kind.is_null())
        .then(pl.lit("post"))
        .otherwise(kind)
    )
    platform = (
        pl.col(PLATFORM).str.strip_chars().str.to_lowercase().replace("", None).fill_null("generic")
    )
    if part.normalize_urls:
        urls, shortened = normalize_url_lists(frame[URLS])
        notes["urls_shortened"] = notes.get("urls_shortened", 0) + shortened
    else:
        urls = frame.select(clean_list(pl.col(URLS))).to_series()
    frame = frame.with_columns(
        kind.alias(KIND),
        platform.alias(PLATFORM),
        urls.alias(URLS),
        normalize_hashtags(pl.col(HASHTAGS)).alias(HASHTAGS),
        normalize_mentions(pl.col(MENTIONS)).alias(MENTIONS),
        clean_list(pl.col(MEDIA)).alias(MEDIA),
    )
    reason = (
        pl.when(pl.col(REJECT).is_not_null())
        .then(pl.col(REJECT))
        .when(pl.col(ACTOR_ID).is_null())
        .then(pl.lit("missing actor_id"))
        .when(pl.col(EVENT_ID).is_null())
        .then(pl.lit("missing event_id"))
        .when(pl.col("_ts_raw").is_null() | (pl.col("_ts_raw").str.strip_chars() == ""))
        .then(pl.lit("missing ts"))
        .when(pl.col(TS).is_null())
        .then(
            pl.lit("field 'ts': timestamp not understood: '")
            + pl.col("_ts_raw").str.slice(0, 60)
            + pl.lit("'")
        )
        .when(~pl.col(KIND).is_in(list(KINDS)))
        .then(pl.lit("field 'kind': unknown kind '") + pl.col(KIND).str.slice(0, 40) + pl.lit("'"))
    )
    frame = frame.with_columns(reason.alias(REJECT)).drop("_ts_raw")
    return frame


def _drop_exact_duplicates(frame: pl.DataFrame, columns: list[str]) -> tuple[pl.DataFrame, bool]:
    """Keep the first of rows equal in every one of ``columns``.

    Exact duplicates share their ``event_id``, so only rows whose ``event_id`` recurs are
    compared on every column: cost ``O(n)`` hashing plus the full comparison on those few
    candidates. Also says whether any ``event_id`` recurred at all.
    """
    # a 64-bit hash finds recurring ids much faster than the strings; a collision only
    # adds a candidate, which the full comparison below then keeps
    candidate = frame[EVENT_ID].hash(seed=0).is_duplicated()
    if not candidate.any():
        return frame, False
    order = "_order"
    indexed = frame.with_row_index(order)
    suspects = indexed.filter(candidate)
    kept = suspects.unique(subset=columns, keep="first", maintain_order=True)
    drop = suspects.join(kept.select(order), on=order, how="anti")[order]
    return indexed.filter(~pl.col(order).is_in(drop.implode())).drop(order), True


def _merge_rows(accepted: pl.DataFrame, extras: list[str]) -> pl.DataFrame:
    """Merge long-form rows of one event into one row (lists unioned, order kept)."""
    keys = [EVENT_ID, PLATFORM, ACTOR_ID, TS, KIND, OBJECT_ID]
    lists = [*LIST_COLUMNS, *(c for c in extras if isinstance(accepted.schema[c], pl.List))]
    first = [
        c
        for c in (ACTOR_NAME, TEXT, CHANNEL, ACTOR_CREATED, SOURCE, RECORD, *extras)
        if c not in lists
    ]
    aggs = [pl.col(c).first() for c in first] + [
        pl.col(c)
        .list.explode(keep_nulls=False, empty_as_null=False)
        .unique(maintain_order=True)
        .alias(c)
        for c in lists
    ]
    return accepted.group_by(keys, maintain_order=True).agg(aggs)
