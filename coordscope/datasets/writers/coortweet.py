"""Write the shares among canonical events as CooRTweet's narrow input table.

The counterpart of the narrow form read by :mod:`coordscope.datasets.coortweet`.
"""

from __future__ import annotations

import polars as pl

from coordscope.datasets.writers._common import write_bytes

__all__ = ["write"]


def write(events: pl.DataFrame, path: str) -> None:
    """Write the shares among ``events`` as CooRTweet's narrow input table (CSV).

    Only events with an ``object_id`` (reposts, quotes, replies, forwards) can be
    written: CooRTweet's input has no place for other posts. The columns are
    ``object_id, account_id, content_id, timestamp_share``; ``timestamp_share`` is whole
    epoch seconds (fractions are cut, as CooRTweet's integer column holds them).

    Parameters
    ----------
    events : polars.DataFrame
        Canonical events (:data:`coordscope.schema.EVENT_SCHEMA`).
    path : str
        The file to write; gzip-compressed when it ends with ``.gz``.
    """
    shares = events.filter(pl.col("object_id").is_not_null()).select(
        pl.col("object_id"),
        pl.col("actor_id").alias("account_id"),
        pl.col("event_id").alias("content_id"),
        pl.col("ts").dt.epoch("s").alias("timestamp_share"),
    )
    write_bytes(path, shares.write_csv(None).encode())
