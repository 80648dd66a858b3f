"""X/Twitter Transparency "Information Operations" archives (the tweets CSV).

The archives of state-backed operations that Twitter published from 2018 on: one CSV
of tweets per operation, with the columns of :data:`IO_COLUMNS` (anonymised accounts
have a hash instead of a numeric ``userid``).

Mapping of a row to the canonical event (:data:`coordscope.schema.EVENT_SCHEMA`):

=================  ==================================================================
canonical          IO archive
=================  ==================================================================
``event_id``       ``tweetid``
``platform``       ``twitter``
``actor_id``       ``userid`` (a number, or a hash string for anonymised accounts)
``actor_name``     ``user_screen_name``
``ts``             ``tweet_time`` (``2019-05-10 14:23``, minutes, or with seconds):
                   UTC by the archives' documentation, so it is read as UTC and not
                   counted as naive
``kind``           ``repost`` when ``is_retweet`` is true (object ``retweet_tweetid``),
                   else ``quote`` when ``quoted_tweet_tweetid`` is set, else ``reply``
                   when ``in_reply_to_tweetid`` is set, else ``post``
``object_id``      the id named above
``text``           ``tweet_text``
``urls``           ``urls``
``hashtags``       ``hashtags``
``mentions``       ``user_mentions`` (user ids)
``actor_created``  ``account_creation_date`` (a date, taken as midnight UTC)
=================  ==================================================================

and ``x_tweet_client_name`` and ``x_tweet_language``, kept as written.

Quirks handled: the list columns are Python-style bracketed lists, with or without
quotes (``[]``, ``['a', 'b']``, ``[a, b]``, ``[12345, 67890]``), parsed vectorized
(:func:`parse_bracketed`); ``is_retweet`` is ``True``/``False`` (any case; ``1``/``0``
too); ids written as floats by spreadsheet tools (``1234.0``) lose the ``.0``; empty
cells are missing values.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Final

import polars as pl

from coordscope.datasets._io import ReadLimits
from coordscope.datasets._stage import RECORD, REJECT, SOURCE, Staged
from coordscope.datasets._tables import DelimitedText
from coordscope.errors import InputError
from coordscope.schema import (
    ACTOR_CREATED,
    ACTOR_ID,
    ACTOR_NAME,
    EVENT_ID,
    HASHTAGS,
    KIND,
    MENTIONS,
    OBJECT_ID,
    PLATFORM,
    TEXT,
    TS,
    URLS,
)

__all__ = ["FORMAT", "IO_COLUMNS", "parse_bracketed", "read", "sniff"]

#: The ``--format`` name of this reader.
FORMAT: Final = "twitter-io"

#: Columns of the tweets CSV of an Information Operations archive, in their order.
IO_COLUMNS: Final = (
    "tweetid", "userid", "user_display_name", "user_screen_name", "user_reported_location",
    "user_profile_description", "user_profile_url", "follower_count", "following_count",
    "account_creation_date", "account_language", "tweet_language", "tweet_text",
    "tweet_time", "tweet_client_name", "in_reply_to_userid", "in_reply_to_tweetid",
    "quoted_tweet_tweetid", "is_retweet", "retweet_userid", "retweet_tweetid", "latitude",
    "longitude", "quote_count", "reply_count", "like_count", "retweet_count", "hashtags",
    "urls", "user_mentions", "poll_choices",
)  # fmt: skip

_REQUIRED: Final = ("tweetid", "userid", "tweet_time")
_ID_COLUMNS: Final = (
    "tweetid", "userid", "in_reply_to_userid", "in_reply_to_tweetid", "quoted_tweet_tweetid",
    "retweet_userid", "retweet_tweetid",
)  # fmt: skip
_NAIVE_TIME_RE: Final = r"^\d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$"
#: One item of a bracketed list: a quoted string (quotes may be escaped inside) or a
#: bare run of characters up to the next comma.
_ITEM_RE: Final = r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^,\s\[\]'"][^,\]]*"""
_LIST: Final = pl.List(pl.String())


def sniff(head: str) -> bool:
    """Tell whether the header line names ``tweetid``, ``userid`` and ``tweet_time``."""
    header = head.split("\n", 1)[0]
    if header.lstrip()[:1] in ("{", "["):
        return False
    names = {n.strip().strip('"').strip() for n in header.replace("\t", ",").split(",")}
    return {"tweetid", "userid", "tweet_time"} <= names


def parse_bracketed(cells: pl.Expr) -> pl.Expr:
    """Parse Python-style bracketed list cells into ``List(String)``, vectorized.

    ``['a', 'b']``, ``["a", "b"]``, ``[a, b]`` and ``[12345, 67890]`` all give their
    items without quotes or surrounding spaces; quoted items may hold commas; ``[]``,
    an empty cell and a null give ``[]``. A cell without brackets is read the same way
    (one item per comma-separated part).
    """
    items = cells.str.strip_chars().str.extract_all(_ITEM_RE)
    cleaned = items.list.eval(
        pl.element().str.strip_chars().str.replace(r"""^(['"])(.*)(['"])$""", "${2}")
    )
    return cleaned.fill_null(pl.lit([], dtype=_LIST))


def read(
    path: str, *, mapping: Mapping[str, str] | None = None, limits: ReadLimits | None = None
) -> Staged:
    """Read the tweets CSV of an Information Operations archive into staged rows.

    Parameters
    ----------
    path : str
        The CSV (plain, gzip or zstd).
    mapping : mapping, optional
        Ignored: the columns of an IO archive are fixed.
    limits : ReadLimits, optional
        Piece size and decompression guard.

    Returns
    -------
    Staged
        One row per CSV data row (``_record`` 1-based, header not counted).

    Raises
    ------
    InputError
        When the file is not CSV or lacks ``tweetid``, ``userid`` or ``tweet_time``
        (at once), or a piece cannot be parsed (while the pieces are read).

    Notes
    -----
    Cost ``O(n)``, vectorized, a piece of ``limits.piece_bytes`` at a time.
    """
    del mapping
    table = DelimitedText(path, limits=limits)
    missing = [c for c in _REQUIRED if c not in table.names]
    if missing:
        raise InputError(
            path,
            "not an Information Operations archive: missing column(s) "
            + ", ".join(map(repr, missing)),
        )
    notes = {"twitter_io_rows": 0}
    return Staged(_pieces(table, notes), format=FORMAT, notes=notes, row_rejects=table.row_rejects)


def _pieces(table: DelimitedText, notes: dict[str, int]) -> Iterator[pl.DataFrame]:
    for first, frame in table.pieces():
        staged = _stage(frame, table.path, first)
        notes["twitter_io_rows"] += staged.height
        yield staged


def _stage(frame: pl.DataFrame, path: str, first: int) -> pl.DataFrame:
    """Staged rows of a piece whose first row is record ``first``; vectorized."""
    frame = frame.with_columns(
        pl.lit(None, dtype=pl.String).alias(c) for c in IO_COLUMNS if c not in frame.columns
    )
    cell = {c: pl.col(c).str.strip_chars().replace("", None) for c in IO_COLUMNS}
    ids = {c: cell[c].str.replace(r"^(\d+)\.0+$", "${1}") for c in _ID_COLUMNS}
    retweet = (
        cell["is_retweet"].str.to_lowercase().is_in(["true", "1", "t", "yes"]).fill_null(False)
    )
    quote = ids["quoted_tweet_tweetid"].is_not_null()
    reply = ids["in_reply_to_tweetid"].is_not_null()
    time = cell["tweet_time"]
    return frame.select(
        pl.lit(path, dtype=pl.String).alias(SOURCE),
        pl.int_range(first, pl.len() + first, dtype=pl.Int64).alias(RECORD),
        pl.lit(None, dtype=pl.String).alias(REJECT),
        ids["tweetid"].alias(EVENT_ID),
        pl.lit("twitter").alias(PLATFORM),
        ids["userid"].alias(ACTOR_ID),
        cell["user_screen_name"].alias(ACTOR_NAME),
        pl.when(time.str.contains(_NAIVE_TIME_RE))
        .then(time + pl.lit("Z"))
        .otherwise(time)
        .alias(TS),
        pl.when(retweet)
        .then(pl.lit("repost"))
        .when(quote)
        .then(pl.lit("quote"))
        .when(reply)
        .then(pl.lit("reply"))
        .otherwise(pl.lit("post"))
        .alias(KIND),
        pl.when(retweet)
        .then(ids["retweet_tweetid"])
        .when(quote)
        .then(ids["quoted_tweet_tweetid"])
        .when(reply)
        .then(ids["in_reply_to_tweetid"])
        .alias(OBJECT_ID),
        pl.col("tweet_text").alias(TEXT),
        parse_bracketed(pl.col("urls")).alias(URLS),
        parse_bracketed(pl.col("hashtags")).alias(HASHTAGS),
        parse_bracketed(pl.col("user_mentions")).alias(MENTIONS),
        cell["account_creation_date"].alias(ACTOR_CREATED),
        cell["tweet_client_name"].alias("x_tweet_client_name"),
        cell["tweet_language"].alias("x_tweet_language"),
    )
