"""Write canonical events as a coordination-network-toolkit CSV.

The counterpart of :mod:`coordscope.datasets.cnt`.
"""

from __future__ import annotations

import polars as pl

from coordscope.datasets.writers._common import write_bytes
from coordscope.schema import TS_DTYPE

__all__ = ["write"]


def write(events: pl.DataFrame, path: str) -> None:
    """Write events as a toolkit CSV (header row, seconds since 1970 as decimals).

    The columns are :data:`~coordscope.datasets.cnt.COLUMNS`. ``repost_id`` holds the
    object of reposts and forwards, ``reply_id`` that of replies and comments; quotes
    are written as plain messages (the toolkit has no quote column). ``urls`` are
    joined with a space; a missing name or message is an empty cell.

    Parameters
    ----------
    events : polars.DataFrame
        Canonical events (:data:`coordscope.schema.EVENT_SCHEMA`).
    path : str
        The file to write; gzip-compressed when it ends with ``.gz``.
    """
    kind = pl.col("kind").cast(pl.String)
    out = events.select(
        pl.col("event_id").alias("message_id"),
        pl.col("actor_id").alias("user_id"),
        pl.col("actor_name").fill_null("").alias("username"),
        pl.when(kind.is_in(["repost", "forward"])).then(pl.col("object_id")).alias("repost_id"),
        pl.when(kind.is_in(["reply", "comment"])).then(pl.col("object_id")).alias("reply_id"),
        pl.col("text").fill_null("").alias("message"),
        (pl.col("ts").cast(TS_DTYPE).dt.epoch("us") / 1_000_000.0).alias("timestamp"),
        pl.col("urls").list.join(" ").alias("urls"),
    )
    write_bytes(path, out.write_csv(None).encode())
