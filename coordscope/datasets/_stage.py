"""The contract between readers and the canonical table, and the shared last step.

A reader turns one input file into *staged* pieces: frames that, one after the other,
hold one row per input record, with

- ``_source`` (String): the file path as given;
- ``_record`` (Int64): the 1-based record number in that file (CSV data row, JSON line,
  JSON array element, Telegram message index);
- ``_reject`` (String, null): a reason the reader already knows the record must be
  rejected for (a Telegram service message, a JSON line that is not JSON, …); reasons
  found only while parsing a record's bytes (bytes that are not valid UTF-8) may come
  instead through :attr:`Staged.row_rejects`;
- any of the canonical columns of :data:`coordscope.schema.EVENT_SCHEMA`, in raw form:
  ``ts`` and ``actor_created`` as strings, numbers (epoch s, ms, µs or ns) or datetimes;
  ``kind`` as a string (null means "decide": ``repost`` when ``object_id`` is set, else
  ``post``); list columns as ``List(String)``, not yet normalised; ``platform`` as a
  string;
- optional ``x_*`` platform columns.

A reader returns its pieces as a generator that reads the file as it is consumed, so a
file is never held whole in its raw form. :class:`Finalizer` then does everything readers
share, vectorized: per piece, as it arrives, timestamp parsing (naive values taken as UTC
and counted; epoch units decided once per file and column; values outside the supported
range rejected, see :func:`coordscope.datasets.normalize.parse_times`), required-field
checks, kind checks, URL/hashtag/mention normalisation and the split into accepted and
rejected rows (all of it row by row, so pieces give the same rows as one frame would);
at the end, over the accepted rows of every file, exact-duplicate removal, optional
merging of long-form rows, and the row accounting
``input == accepted + rejected + duplicates``. :func:`finalize` does both steps at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import polars as pl

from coordscope.datasets._io import ReadLimits, read_ahead
from coordscope.datasets.normalize import (
    EpochUnit,
    clean_list,
    normalize_hashtags,
    normalize_mentions,
    normalize_url_lists,
    parse_times,
)
from coordscope.parts import WorkDir
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

__all__ = [
    "BATCH_ROWS",
    "RECORD",
    "REJECT",
    "REJECT_SCHEMA",
    "SOURCE",
    "Finalized",
    "Finalizer",
    "RowRejects",
    "Staged",
    "finalize",
    "reject_frame",
]

SOURCE: Final = "_source"
RECORD: Final = "_record"
REJECT: Final = "_reject"


#: Staged rows prepared at once, at most (see :class:`Finalizer`).
BATCH_ROWS: Final = 100_000

_SCALAR_STRINGS: Final = (EVENT_ID, ACTOR_ID, ACTOR_NAME, OBJECT_ID, CHANNEL)
_LIST_DTYPE: Final = pl.List(pl.String())


class RowRejects:
    """Records a reader rejects while parsing them, apart from the staged rows.

    A reader whose parser cannot carry a reason in the rows it returns (delimited text
    read by polars, with its own columns) adds ``(record, reason)`` pairs here as it reads
    a piece; :class:`Finalizer` takes them before it prepares the piece, and the record's
    staged rows are rejected with that reason. Safe to add to from the read-ahead thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: list[pl.DataFrame] = []

    def add(self, records: pl.Series, reasons: pl.Series) -> None:
        """Reject ``records`` (Int64) for ``reasons`` (String), one each."""
        part = pl.DataFrame({RECORD: records.cast(pl.Int64), REJECT: reasons.cast(pl.String)})
        with self._lock:
            self._parts.append(part)

    def take(self) -> pl.DataFrame:
        """Return (and forget) every pair added so far: ``_record``, ``_reject``."""
        with self._lock:
            parts, self._parts = self._parts, []
        if not parts:
            return pl.DataFrame(schema={RECORD: pl.Int64, REJECT: pl.String})
        return pl.concat(parts)


@dataclass
class Staged:
    """What a reader returns for one file.

    Attributes
    ----------
    pieces : iterable of polars.DataFrame
        The staged rows, piece after piece in record order (see the module docstring for
        the columns); usually a generator that reads the file as it is consumed, and
        raises the reader's errors then.
    format : str
        The format name that read the file.
    normalize_urls : bool
        Normalise URLs (False where "URLs" are anonymised ids, as in CooRTweet data).
    merge_rows : bool
        Long-form input: rows of one event (same platform, event, actor, time, kind and
        object) are merged into one event whose lists are the union of the rows'.
    notes : dict
        Reader-specific counters for the summary; complete once ``pieces`` is consumed.
    row_rejects : RowRejects, optional
        Records the reader rejected while parsing (see :class:`RowRejects`); their
        reasons win over every other.
    """

    pieces: Iterable[pl.DataFrame]
    format: str
    normalize_urls: bool = True
    merge_rows: bool = False
    notes: dict[str, int] = field(default_factory=dict)
    row_rejects: RowRejects | None = None


@dataclass
class Finalized:
    """Canonical events of staged input, with its rejects and accounting."""

    events: pl.DataFrame | pl.LazyFrame
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


class Finalizer:
    """Turn staged files into the canonical event table, one piece at a time.

    :meth:`add` prepares the pieces of a file as the reader yields them and keeps only
    their accepted rows (canonical columns) and their rejects, so the raw rows of a file
    are never all held at once; :meth:`finish` then works on the accepted rows of every
    file. Small pieces are prepared together, up to :data:`BATCH_ROWS` rows or
    ``batch_bytes`` bytes of staged rows: preparing costs a few milliseconds a call
    besides its cost per row.

    Parameters
    ----------
    batch_bytes : int, optional
        Most bytes of staged rows prepared at once (four pieces of the default budget).
    spill : WorkDir, optional
        Keep the accepted rows in files of this directory instead of memory: each batch
        is written as it is prepared (Arrow IPC), and :meth:`finish` writes the canonical
        table to one Parquet file there and returns a lazy scan of it. What is held is
        then one batch, a 64-bit hash of every event id, and the rows whose event id
        recurs (the candidates of duplicates). Long-form inputs (rows to merge, CooRTweet's
        tables) are merged in memory all the same.

    Rejects, in this order of precedence: a reason the reader found while parsing the
    record (:class:`RowRejects`: bytes that are not valid UTF-8); the reader's own reason;
    missing ``actor_id``; missing ``event_id``; missing timestamp; a timestamp outside the
    supported range, or an epoch number of another unit than the file's (the unit of
    ``ts`` and of ``actor_created`` is decided once per file, see
    :class:`~coordscope.datasets.normalize.EpochUnit`); a timestamp that is not
    understood; an unknown ``kind``. An ``actor_created`` that is not understood or not
    accepted is dropped (null) and counted. Exact duplicates (every canonical and ``x_``
    field equal, across all files) are dropped after the first and counted. Cost
    ``O(n log n)`` for the duplicate search, everything else ``O(n)`` vectorized.
    """

    def __init__(
        self, *, batch_bytes: int = ReadLimits().piece_bytes * 4, spill: WorkDir | None = None
    ) -> None:
        self._batch_bytes = batch_bytes
        self._spill = spill
        self._accepted: list[pl.DataFrame] = []
        self._files: list[Path] = []  # spilled batches, in input order
        self._ids: list[pl.Series] = []  # their event ids' hashes
        self._rejects: list[pl.DataFrame] = []
        self._notes: dict[str, int] = {}
        self._input = 0
        self._merge = False

    def add(self, part: Staged) -> int:
        """Prepare every piece of one file (consuming ``part.pieces``).

        Parameters
        ----------
        part : Staged
            One input file, added in input order.

        Returns
        -------
        int
            The file's records (staged rows).
        """
        records = 0
        batch: list[pl.DataFrame] = []
        rows = size = 0
        state = _FileState(row_rejects=part.row_rejects)
        for piece in read_ahead(part.pieces):  # the next piece is read meanwhile
            batch.append(piece)
            rows += piece.height
            size += int(piece.estimated_size())
            if rows >= BATCH_ROWS or size >= self._batch_bytes:
                records += self._add_batch(batch, normalize_urls=part.normalize_urls, file=state)
                batch, rows, size = [], 0, 0
        if batch or not records:  # an empty file has its counters too
            records += self._add_batch(batch, normalize_urls=part.normalize_urls, file=state)
        for key, value in part.notes.items():
            self._notes[key] = self._notes.get(key, 0) + value
        self._merge = self._merge or part.merge_rows
        return records

    def _add_batch(
        self, pieces: list[pl.DataFrame], *, normalize_urls: bool, file: _FileState
    ) -> int:
        staged = pl.concat(pieces, how="diagonal_relaxed") if pieces else pl.DataFrame()
        frame = _prepare(staged, normalize_urls=normalize_urls, notes=self._notes, file=file)
        del staged
        rejected = frame[REJECT].is_not_null()
        if rejected.any():
            self._rejects.append(
                frame.filter(rejected).select(
                    pl.col(SOURCE).alias("source"),
                    pl.col(RECORD).alias("record"),
                    pl.col(REJECT).alias("reason"),
                )
            )
            accepted = frame.filter(~rejected)
        else:
            accepted = frame
        keep = [*EVENT_SCHEMA, *(c for c in frame.columns if c.startswith(EXTRA_PREFIX))]
        # platform and kind take 4 bytes and 1 byte a row as categories, 16 as strings
        small = pl.Schema({PLATFORM: EVENT_SCHEMA[PLATFORM], KIND: EVENT_SCHEMA[KIND]})
        accepted = accepted.select(keep).cast(small)
        if self._spill is not None and accepted.height:
            self._files.append(self._spill.spill(accepted, "accepted"))
            self._ids.append(accepted[EVENT_ID].hash(seed=0))
        else:
            self._accepted.append(accepted)
        self._input += frame.height
        return frame.height

    def finish(self) -> Finalized:
        """Drop exact duplicates, merge long-form rows, and account for every row.

        Returns
        -------
        Finalized
            Events in input order (file, then record), in one chunk per column (so that
            files written from them do not depend on the piece sizes), the rejects table
            (``source, record, reason``) and ``rows = {input, accepted, rejected,
            duplicates}`` with ``input == accepted + rejected + duplicates``.
        """
        if not self._accepted and not self._files:
            self._add_batch([], normalize_urls=True, file=_FileState())
        if self._files and self._spill is not None:
            if not self._merge:
                return self._finish_spilled(self._spill)
            # long-form rows are merged by event across every file: in memory
            self._accepted = [pl.read_ipc(f) for f in self._files]
        notes = self._notes
        accepted = pl.concat(self._accepted, how="diagonal_relaxed")
        self._accepted = []

        extras = sorted(c for c in accepted.columns if c.startswith(EXTRA_PREFIX))
        columns = [*EVENT_SCHEMA, *extras]
        before = accepted.height
        accepted, recurring_ids = _drop_exact_duplicates(accepted, columns)
        n_duplicates = before - accepted.height
        n_accepted = accepted.height
        if self._merge:
            accepted = _merge_rows(accepted, extras)
            notes["merged_rows"] = notes.get("merged_rows", 0) + n_accepted - accepted.height

        if recurring_ids:  # otherwise every event id is unique: no conflict to look for
            recurring = accepted.filter(pl.col(EVENT_ID).is_duplicated())
            conflicts = recurring.select(pl.struct(PLATFORM, EVENT_ID).is_duplicated().sum()).item()
            if conflicts:
                notes["event_id_conflicts"] = int(conflicts)
        notes["events"] = accepted.height
        # one chunk per column, a column at a time: the pieces' chunks are freed as it goes
        series = accepted.select(columns).cast(pl.Schema(EVENT_SCHEMA)).get_columns()
        del accepted
        for i, column in enumerate(series):
            series[i] = column.rechunk()
        events = pl.DataFrame(series)
        del series
        validate_events(events)
        rejects, rows = self._rejects_and_rows(n_accepted, n_duplicates)
        return Finalized(events=events, rejects=rejects, rows=rows, notes=notes)

    def _rejects_and_rows(
        self, accepted: int, duplicates: int
    ) -> tuple[pl.DataFrame, dict[str, int]]:
        """Return the rejects table and the row accounting (the rejects are let go)."""
        rejects = (
            pl.concat(self._rejects, how="vertical_relaxed").rechunk()
            if self._rejects
            else pl.DataFrame(schema=REJECT_SCHEMA)
        )
        self._rejects = []
        rows = {
            "input": self._input,
            "accepted": accepted,
            "rejected": rejects.height,
            "duplicates": duplicates,
        }
        return rejects.cast(pl.Schema(REJECT_SCHEMA)), rows

    def _finish_spilled(self, spill: WorkDir) -> Finalized:
        """:meth:`finish` for accepted rows held in files: the same rows, in a file."""
        notes = self._notes
        scans = [pl.scan_ipc(f) for f in self._files]
        whole = pl.concat(scans, how="diagonal_relaxed")
        extras = sorted(c for c in whole.collect_schema().names() if c.startswith(EXTRA_PREFIX))
        columns = [*EVENT_SCHEMA, *extras]
        order = "_order"
        hashes = pl.concat(self._ids)
        self._ids = []
        n_accepted = hashes.len()
        candidate = hashes.is_duplicated()
        del hashes
        drop = pl.Series(order, [], dtype=pl.UInt32)
        if candidate.any():
            # only rows whose event id recurs can be duplicates: compare those in full
            at = pl.Series(order, np.flatnonzero(candidate.to_numpy()), dtype=pl.UInt32)
            suspects = (
                whole.with_row_index(order)
                .filter(pl.col(order).is_in(at.implode()))
                .select(order, *columns)
                .collect()
            )
            kept = suspects.unique(subset=columns, keep="first", maintain_order=True)
            drop = suspects.join(kept.select(order), on=order, how="anti")[order]
            recurring = kept.filter(pl.col(EVENT_ID).is_duplicated())
            conflicts = recurring.select(pl.struct(PLATFORM, EVENT_ID).is_duplicated().sum()).item()
            if conflicts:
                notes["event_id_conflicts"] = int(conflicts)
            del suspects, kept, recurring
        del candidate
        notes["events"] = n_accepted - drop.len()
        events = whole.with_row_index(order)
        if drop.len():
            events = events.filter(~pl.col(order).is_in(drop.implode()))
        lazy = spill.spill_lazy(events.select(columns).cast(pl.Schema(EVENT_SCHEMA)), "events")
        for f in self._files:
            f.unlink()
        self._files = []
        validate_events(lazy)
        rejects, rows = self._rejects_and_rows(n_accepted - drop.len(), drop.len())
        return Finalized(events=lazy, rejects=rejects, rows=rows, notes=notes)


def finalize(parts: Iterable[Staged]) -> Finalized:
    """Turn staged files into the canonical event table (see :class:`Finalizer`).

    Parameters
    ----------
    parts : iterable of Staged
        One per input file, in input order.

    Returns
    -------
    Finalized
        See :meth:`Finalizer.finish`.
    """
    finalizer = Finalizer()
    for part in parts:
        finalizer.add(part)
    return finalizer.finish()


@dataclass
class _FileState:
    """What the preparation of one file's batches carries from one batch to the next."""

    row_rejects: RowRejects | None = None
    #: the epoch unit of ``ts`` and of ``actor_created`` in this file
    units: dict[str, EpochUnit] = field(default_factory=dict)
    #: row rejects taken but for records of later batches
    pending: pl.DataFrame | None = None

    def late_reasons(self, records: pl.Series) -> pl.Series | None:
        """Reasons of :class:`RowRejects` for ``records`` (null elsewhere), or None."""
        if self.row_rejects is None:
            return None
        taken = self.row_rejects.take()
        pending = taken if self.pending is None else pl.concat([self.pending, taken])
        if pending.height == 0 or records.len() == 0:
            self.pending = pending
            return None
        last = records.max()
        self.pending = pending.filter(pl.col(RECORD) > last)
        mine = pending.filter(pl.col(RECORD) <= last)
        if mine.height == 0:
            return None
        return records.replace_strict(
            mine[RECORD], mine[REJECT], default=None, return_dtype=pl.String
        )


def _prepare(
    frame: pl.DataFrame,
    *,
    normalize_urls: bool,
    notes: dict[str, int],
    file: _FileState | None = None,
) -> pl.DataFrame:
    """Parse, check and normalise staged rows (still one row per input record).

    Row by row: the rows of a piece come out as they would from the whole file (the
    epoch units of the file, decided by its first epoch number, come with ``file``). The
    counters in ``notes`` are added to.
    """
    file = file if file is not None else _FileState()
    frame = _complete(frame)
    late = file.late_reasons(frame[RECORD])
    if late is not None:
        frame = frame.with_columns(pl.coalesce(late, pl.col(REJECT)).alias(REJECT))
    # Scalars: strip ids, empty strings become null.
    frame = frame.with_columns(
        [
            pl.col(c).str.strip_chars().replace("", None).alias(c)
            for c in (EVENT_ID, ACTOR_ID, OBJECT_ID, CHANNEL)
        ]
        + [pl.col(ACTOR_NAME).replace("", None), pl.col(TEXT).replace("", None)]
    )
    raw_ts = frame[TS]
    records = frame[RECORD]
    ts, naive, problem = parse_times(
        raw_ts, epoch=file.units.setdefault(TS, EpochUnit()), records=records
    )
    created = parse_times(
        frame[ACTOR_CREATED],
        epoch=file.units.setdefault(ACTOR_CREATED, EpochUnit()),
        records=records,
    )
    notes["naive_timestamps"] = notes.get("naive_timestamps", 0) + int(naive.sum())
    out_created = int(created.problem.is_not_null().sum())
    if out_created:
        notes["actor_created_out_of_range"] = (
            notes.get("actor_created_out_of_range", 0) + out_created
        )
    bad_created = int(
        (frame[ACTOR_CREATED].is_not_null() & created.ts.is_null()).sum() - out_created
    )
    if bad_created:
        notes["actor_created_unparsed"] = notes.get("actor_created_unparsed", 0) + bad_created
    raw_ts_text = raw_ts.cast(pl.String) if not raw_ts.dtype.is_nested() else None
    if raw_ts_text is None:  # lists or objects where one time belongs
        raw_ts_text = pl.select(
            pl.when(raw_ts.is_not_null()).then(pl.lit("(not a single value)"))
        ).to_series()
    frame = frame.with_columns(
        ts.alias(TS),
        created.ts.cast(TS_DTYPE).alias(ACTOR_CREATED),
        raw_ts_text.alias("_ts_raw"),
        problem.alias("_ts_problem"),
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
    if normalize_urls:
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
        .when(pl.col("_ts_problem").is_not_null())
        .then(pl.lit("field 'ts': ") + pl.col("_ts_problem"))
        .when(pl.col(TS).is_null())
        .then(
            pl.lit("field 'ts': timestamp not understood: '")
            + pl.col("_ts_raw").str.slice(0, 60)
            + pl.lit("'")
        )
        .when(~pl.col(KIND).is_in(list(KINDS)))
        .then(pl.lit("field 'kind': unknown kind '") + pl.col(KIND).str.slice(0, 40) + pl.lit("'"))
    )
    frame = frame.with_columns(reason.alias(REJECT)).drop("_ts_raw", "_ts_problem")
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
    first = [c for c in (ACTOR_NAME, TEXT, CHANNEL, ACTOR_CREATED, *extras) if c not in lists]
    aggs = [pl.col(c).first() for c in first] + [
        pl.col(c)
        .list.explode(keep_nulls=False, empty_as_null=False)
        .unique(maintain_order=True)
        .alias(c)
        for c in lists
    ]
    return accepted.group_by(keys, maintain_order=True).agg(aggs)
