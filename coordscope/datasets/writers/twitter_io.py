"""Write canonical events as an X/Twitter Information Operations archive tweets CSV.

The counterpart of :mod:`coordscope.datasets.twitter_io`.
"""

from __future__ import annotations

import polars as pl

from coordscope.datasets.twitter_io import IO_COLUMNS
from coordscope.datasets.writers._common import csv_compression
from coordscope.schema import (
    ACTOR_CREATED,
    ACTOR_ID,
    ACTOR_NAME,
    EVENT_ID,
    HASHTAGS,
    KIND,
    MENTIONS,
    OBJECT_ID,
    TEXT,
    TS,
    URLS,
)

__all__ = ["write"]


def write(events: pl.DataFrame, path: str) -> None:
    """Write canonical events as an Information Operations archive tweets CSV.

    Every column of :data:`~coordscope.datasets.twitter_io.IO_COLUMNS` is written, in
    order. ``tweet_time`` is UTC with minutes (``2019-05-10 14:23``) when every event
    falls on a whole minute, else with seconds (fractions dropped);
    ``account_creation_date`` is the date of ``actor_created``. ``repost`` and
    ``forward`` are retweets (``is_retweet`` ``True``, ``retweet_tweetid`` the object),
    ``quote`` sets ``quoted_tweet_tweetid``, ``reply`` and ``comment`` set
    ``in_reply_to_tweetid``; the matching ``*_userid`` is the author of the object when
    it is in the data. Other kinds are plain tweets. Lists are written ``['a', 'b']``,
    mentions ``[123, 456]`` (numeric ids unquoted); ``latitude``/``longitude`` are
    ``absent`` and counts 0, as in the archives for accounts without them.
    ``actor_name`` is both the screen and the display name; media and channel are not
    carried. ``x_tweet_client_name`` and ``x_tweet_language`` are written back when
    present.

    Parameters
    ----------
    events : polars.DataFrame
        Canonical events (:data:`coordscope.schema.EVENT_SCHEMA`).
    path : str
        The file to write; gzip-compressed when it ends with ``.gz``.

    Notes
    -----
    Cost ``O(n)`` plus one join to find the objects' authors.
    """
    ts = pl.col(TS).dt.convert_time_zone("UTC")
    whole_minutes = events.height == 0 or bool(
        events.select(
            ((pl.col(TS).dt.second() == 0) & (pl.col(TS).dt.microsecond() == 0)).all()
        ).item()
    )
    time_format = "%Y-%m-%d %H:%M" if whole_minutes else "%Y-%m-%d %H:%M:%S"
    authors = events.select(
        pl.col(EVENT_ID).cast(pl.String).alias(OBJECT_ID),
        pl.col(ACTOR_ID).cast(pl.String).alias("_object_author"),
    ).unique(OBJECT_ID, keep="first", maintain_order=True)
    frame = events.with_columns(
        pl.col(OBJECT_ID).cast(pl.String), pl.col(KIND).cast(pl.String)
    ).join(authors, on=OBJECT_ID, how="left", maintain_order="left")
    kind = pl.col(KIND)
    retweet = kind.is_in(["repost", "forward"])
    quote = kind == "quote"
    reply = kind.is_in(["reply", "comment"])
    has_object = pl.col(OBJECT_ID).is_not_null()
    zero = pl.lit("0")

    def extra(name: str, default: str | None) -> pl.Expr:
        if name in events.columns:
            return pl.col(name).cast(pl.String).fill_null(default)
        return pl.lit(default, dtype=pl.String)

    values: dict[str, pl.Expr] = {
        "tweetid": pl.col(EVENT_ID),
        "userid": pl.col(ACTOR_ID),
        "user_display_name": pl.col(ACTOR_NAME),
        "user_screen_name": pl.col(ACTOR_NAME),
        "follower_count": zero,
        "following_count": zero,
        "account_creation_date": pl.col(ACTOR_CREATED)
        .dt.convert_time_zone("UTC")
        .dt.strftime("%Y-%m-%d"),
        "tweet_language": extra("x_tweet_language", None),
        "tweet_text": pl.col(TEXT),
        "tweet_time": ts.dt.strftime(time_format),
        "tweet_client_name": extra("x_tweet_client_name", "Twitter Web App"),
        "in_reply_to_userid": pl.when(reply & has_object).then(pl.col("_object_author")),
        "in_reply_to_tweetid": pl.when(reply).then(pl.col(OBJECT_ID)),
        "quoted_tweet_tweetid": pl.when(quote).then(pl.col(OBJECT_ID)),
        "is_retweet": pl.when(retweet).then(pl.lit("True")).otherwise(pl.lit("False")),
        "retweet_userid": pl.when(retweet & has_object).then(pl.col("_object_author")),
        "retweet_tweetid": pl.when(retweet).then(pl.col(OBJECT_ID)),
        "latitude": pl.lit("absent"),
        "longitude": pl.lit("absent"),
        "quote_count": zero,
        "reply_count": zero,
        "like_count": zero,
        "retweet_count": zero,
        "hashtags": _bracketed(pl.col(HASHTAGS), quote_numbers=True),
        "urls": _bracketed(pl.col(URLS), quote_numbers=True),
        "user_mentions": _bracketed(pl.col(MENTIONS), quote_numbers=False),
    }
    table = frame.select(
        values.get(c, pl.lit(None, dtype=pl.String)).cast(pl.String).alias(c) for c in IO_COLUMNS
    )
    table.write_csv(path, compression=csv_compression(path))


def _bracketed(items: pl.Expr, *, quote_numbers: bool) -> pl.Expr:
    """Write a ``List(String)`` as the archives do: ``['a', 'b']`` or ``[123, 456]``.

    Items are single-quoted, or double-quoted when they hold a single quote (as
    Python's ``repr`` does); numbers are left bare when ``quote_numbers`` is false.
    """
    element = pl.element()
    quoted = (
        pl.when(element.str.contains("'", literal=True))
        .then(pl.lit('"') + element + pl.lit('"'))
        .otherwise(pl.lit("'") + element + pl.lit("'"))
    )
    if not quote_numbers:
        quoted = pl.when(element.str.contains(r"^\d+$")).then(element).otherwise(quoted)
    joined = items.list.eval(quoted).list.join(", ")
    return (pl.lit("[") + joined.fill_null("") + pl.lit("]")).alias("_bracketed")
