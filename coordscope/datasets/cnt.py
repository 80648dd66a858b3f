"""coordination-network-toolkit CSV input.

Columns by position, whatever the header says (the toolkit always skips the first row):
``message_id, user_id, username, repost_id, reply_id, message, timestamp, urls``.
``timestamp`` is in seconds (float; the toolkit only needs a consistent offset, so small
numbers mean seconds since an arbitrary origin and are read as seconds since 1970). A
number outside the supported range (1970-01-01 to 2099-12-31 UTC, see
:func:`coordscope.datasets.normalize.parse_times`) is a reject naming the field.
``urls`` is space separated; an empty cell means no URL (the toolkit's empty-string URL
artifact is never produced). A UTF-8 byte-order mark is tolerated.

Events: ``kind`` is ``repost`` when ``repost_id`` is set (``object_id = repost_id``), else
``reply`` when ``reply_id`` is set (``object_id = reply_id``), else ``post``. The URLs as
written (split at spaces, empty items dropped) are kept in ``x_urls_raw``, since the
toolkit compares URLs without normalising them; ``urls`` holds the normalised ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Final

import polars as pl

from coordscope.datasets._io import ReadLimits
from coordscope.datasets._stage import RECORD, SOURCE, Staged
from coordscope.datasets._tables import DelimitedText
from coordscope.datasets.normalize import SUPPORTED_RANGE, TS_END
from coordscope.errors import InputError

__all__ = ["COLUMNS", "read", "sniff"]

COLUMNS: Final = (
    "message_id", "user_id", "username", "repost_id", "reply_id", "message", "timestamp", "urls",
)  # fmt: skip
_NUMBER_RE: Final = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
_END_MICROS: Final = int(TS_END.timestamp()) * 1_000_000


def sniff(head: str) -> bool:
    """Tell whether the header is the toolkit's eight column names, in order."""
    first = head.lstrip().splitlines()[0] if head.strip() else ""
    names = tuple(c.strip().strip('"').strip().lower() for c in first.split(","))
    return names == COLUMNS


def read(
    path: str, *, mapping: Mapping[str, str] | None = None, limits: ReadLimits | None = None
) -> Staged:
    """Stage a toolkit CSV (see the module docstring).

    Cost ``O(n)``, vectorized, a piece of ``limits.piece_bytes`` at a time. ``mapping`` is
    not used: the columns are taken by position.

    Raises
    ------
    InputError
        The file does not have exactly eight columns (at once), or a piece cannot be
        parsed (while the pieces are read).
    """
    del mapping
    table = DelimitedText(path, limits=limits, separator=",")
    if len(table.names) != len(COLUMNS):
        raise InputError(
            path,
            f"expected {len(COLUMNS)} columns ({', '.join(COLUMNS)}), found {len(table.names)}",
        )
    return Staged(_pieces(table), format="cnt", row_rejects=table.row_rejects)


def _pieces(table: DelimitedText) -> Iterator[pl.DataFrame]:
    for first, raw in table.pieces():
        raw.columns = list(COLUMNS)
        yield _stage(raw, table.path, first)


def _stage(raw: pl.DataFrame, path: str, first: int) -> pl.DataFrame:
    """Staged rows of a piece whose first row is record ``first``; vectorized."""
    stamp = pl.col("timestamp").str.strip_chars()
    is_number = stamp.str.contains(_NUMBER_RE).fill_null(False)
    scaled = stamp.cast(pl.Float64, strict=False) * 1_000_000.0
    # only times inside the supported range become integers: nothing can overflow
    fits = is_number & (scaled >= 0) & (scaled < _END_MICROS)
    micros = pl.when(fits).then(scaled.round(0)).cast(pl.Int64)
    raw_urls = (
        pl.col("urls")
        .fill_null("")
        .str.split(" ")
        .list.eval(pl.element().filter(pl.element() != ""))
    )
    repost = pl.col("repost_id").str.strip_chars().replace("", None)
    reply = pl.col("reply_id").str.strip_chars().replace("", None)
    return raw.select(
        pl.lit(path).alias(SOURCE),
        pl.int_range(first, pl.len() + first, dtype=pl.Int64).alias(RECORD),
        pl.col("message_id").alias("event_id"),
        pl.lit("generic").alias("platform"),
        pl.col("user_id").alias("actor_id"),
        pl.col("username").alias("actor_name"),
        micros.cast(pl.Datetime("us")).dt.replace_time_zone("UTC").alias("ts"),
        pl.when(repost.is_not_null())
        .then(pl.lit("repost"))
        .when(reply.is_not_null())
        .then(pl.lit("reply"))
        .otherwise(pl.lit("post"))
        .alias("kind"),
        pl.coalesce(repost, reply).alias("object_id"),
        pl.col("message").alias("text"),
        raw_urls.alias("urls"),
        raw_urls.alias("x_urls_raw"),
        pl.when(stamp.is_null() | (stamp == ""))
        .then(pl.lit("missing timestamp"))
        .when(~is_number)
        .then(
            pl.lit("field 'timestamp': not a number of seconds: '")
            + stamp.str.slice(0, 40)
            + pl.lit("'")
        )
        .when(~fits)
        .then(
            pl.lit("field 'timestamp': '")
            + stamp.str.slice(0, 40)
            + pl.lit(f"' seconds is outside the supported range ({SUPPORTED_RANGE})")
        )
        .alias("_reject"),
    )
