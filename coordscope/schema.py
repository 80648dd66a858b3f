"""The canonical event table (design.md §3): column names, types and one validator.

Every reader in :mod:`coordscope.datasets` produces a :class:`polars.DataFrame` with
exactly the columns of :data:`EVENT_SCHEMA`, in that order, optionally followed by
platform-specific columns whose names start with ``x_``.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from coordscope.errors import SchemaError

__all__ = [
    "ACTOR_CREATED",
    "ACTOR_ID",
    "ACTOR_NAME",
    "CHANNEL",
    "EVENT_ID",
    "EVENT_SCHEMA",
    "EXTRA_PREFIX",
    "HASHTAGS",
    "KIND",
    "KINDS",
    "KIND_DTYPE",
    "LIST_COLUMNS",
    "MEDIA",
    "MENTIONS",
    "OBJECT_ID",
    "PLATFORM",
    "PLATFORMS",
    "REQUIRED_COLUMNS",
    "TEXT",
    "TS",
    "TS_DTYPE",
    "URLS",
    "empty_events",
    "validate_events",
]

EVENT_ID: Final = "event_id"
PLATFORM: Final = "platform"
ACTOR_ID: Final = "actor_id"
ACTOR_NAME: Final = "actor_name"
TS: Final = "ts"
KIND: Final = "kind"
OBJECT_ID: Final = "object_id"
TEXT: Final = "text"
URLS: Final = "urls"
HASHTAGS: Final = "hashtags"
MENTIONS: Final = "mentions"
MEDIA: Final = "media"
CHANNEL: Final = "channel"
ACTOR_CREATED: Final = "actor_created"

#: Prefix of the optional platform-specific columns that may follow the canonical ones.
EXTRA_PREFIX: Final = "x_"

#: The event kinds, in the order of the ``kind`` Enum.
KINDS: Final = ("post", "repost", "quote", "reply", "forward", "comment", "reaction")

#: Platforms coordscope's readers produce; any other lower-case name is accepted too.
PLATFORMS: Final = ("twitter", "telegram", "facebook", "instagram", "generic")

TS_DTYPE: Final = pl.Datetime("us", "UTC")
KIND_DTYPE: Final = pl.Enum(list(KINDS))

#: The canonical schema, in column order (design.md §3).
EVENT_SCHEMA: Final[dict[str, pl.DataType]] = {
    EVENT_ID: pl.String(),
    PLATFORM: pl.Categorical(),
    ACTOR_ID: pl.String(),
    ACTOR_NAME: pl.String(),
    TS: TS_DTYPE,
    KIND: KIND_DTYPE,
    OBJECT_ID: pl.String(),
    TEXT: pl.String(),
    URLS: pl.List(pl.String()),
    HASHTAGS: pl.List(pl.String()),
    MENTIONS: pl.List(pl.String()),
    MEDIA: pl.List(pl.String()),
    CHANNEL: pl.String(),
    ACTOR_CREATED: TS_DTYPE,
}

#: Columns that may never hold a null.
REQUIRED_COLUMNS: Final = (EVENT_ID, PLATFORM, ACTOR_ID, TS, KIND)

#: Columns holding lists of keys (never an empty string inside).
LIST_COLUMNS: Final = (URLS, HASHTAGS, MENTIONS, MEDIA)


def empty_events() -> pl.DataFrame:
    """Return an empty event table with the canonical schema."""
    return pl.DataFrame(schema=EVENT_SCHEMA)


def validate_events(events: pl.DataFrame) -> pl.DataFrame:
    """Check that a table follows the canonical event schema and return it.

    Checks, in order: every canonical column is present, in canonical order, with its
    canonical type (timestamps in microseconds and UTC); extra columns start with ``x_``;
    required columns hold no null; list columns hold no empty string; ``actor_id`` and
    ``event_id`` are not empty. Cost ``O(n)``.

    Parameters
    ----------
    events : polars.DataFrame
        The table to check. It is not modified.

    Returns
    -------
    polars.DataFrame
        ``events`` itself, so the call can be chained.

    Raises
    ------
    SchemaError
        On the first violation, naming the column.
    """
    names = events.columns
    for name, dtype in EVENT_SCHEMA.items():
        if name not in events.schema:
            raise SchemaError(f"column '{name}' is missing from the event table")
        got = events.schema[name]
        if got != dtype:
            raise SchemaError(f"column '{name}' has type {got}, expected {dtype}")
    canonical = list(EVENT_SCHEMA)
    if names[: len(canonical)] != canonical:
        raise SchemaError(f"columns are not in canonical order: expected {canonical} first")
    for extra in names[len(canonical) :]:
        if not extra.startswith(EXTRA_PREFIX):
            raise SchemaError(f"column '{extra}' is not canonical and does not start with 'x_'")
    if events.height == 0:
        return events
    nulls = events.select(pl.col(list(REQUIRED_COLUMNS)).null_count()).row(0)
    for name, count in zip(REQUIRED_COLUMNS, nulls, strict=True):
        if count:
            raise SchemaError(f"column '{name}' has {count} null value(s)")
    for name in (EVENT_ID, ACTOR_ID):
        empty = events.select((pl.col(name) == "").sum()).item()
        if empty:
            raise SchemaError(f"column '{name}' has {empty} empty string(s)")
    for name in LIST_COLUMNS:
        bad = events.select(
            pl.col(name).list.eval(pl.element().is_null() | (pl.element() == "")).list.any().sum()
        ).item()
        if bad:
            raise SchemaError(f"column '{name}' has {bad} row(s) with an empty or null item")
    return events
