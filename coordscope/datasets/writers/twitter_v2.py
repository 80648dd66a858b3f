"""Write canonical events as X/Twitter API v2 tweets flattened by twarc2, one a line.

The counterpart of :mod:`coordscope.datasets.twitter_v2`: what it writes reads back as the
same events (kinds without a v2 form aside).
"""

from __future__ import annotations

from typing import Final

import polars as pl

from coordscope.datasets.writers._common import id_or_none, optional_string, write_json_lines
from coordscope.schema import (
    ACTOR_CREATED,
    ACTOR_ID,
    ACTOR_NAME,
    EVENT_ID,
    HASHTAGS,
    KIND,
    MEDIA,
    MENTIONS,
    OBJECT_ID,
    TEXT,
    TS,
    URLS,
)

__all__ = ["write"]

#: ``created_at`` as v2 writes it: UTC with milliseconds, ``2022-03-01T12:00:00.000Z``.
_V2_TIME: Final = "%Y-%m-%dT%H:%M:%S%.3fZ"


def write(events: pl.DataFrame, path: str) -> None:
    """Write canonical events as flattened v2 tweets (twarc2 ``flatten``), one a line.

    Each line has ``id``, ``text``, ``created_at`` (UTC, milliseconds, ``Z``),
    ``author_id``, ``author`` (``id``, ``username``, ``created_at``), ``conversation_id``
    (``x_conversation_id`` when present, else the replied-to id for replies and the
    tweet's own id otherwise), ``lang`` (``x_lang`` when present), ``edit_history_tweet_ids``,
    ``referenced_tweets`` (``[{type, id}]`` for reposts, quotes and replies), ``entities``
    (``urls`` ``{url, expanded_url}``, ``hashtags`` ``{tag}``, ``mentions`` -- ``id`` for an
    all-digit mention, else ``username``), ``attachments.media_keys`` when there are media,
    and ``__twarc`` (``version: "coordscope"``). Kinds without a v2 form are written as the
    nearest one: ``forward`` as a retweet, ``comment`` as a reply, ``reaction`` as a plain
    tweet. Sub-millisecond time is dropped.

    Parameters
    ----------
    events : polars.DataFrame
        Canonical events (:data:`coordscope.schema.EVENT_SCHEMA`).
    path : str
        The file to write; gzip-compressed when it ends with ``.gz``.

    Notes
    -----
    Cost ``O(n)``, vectorized.
    """
    kind = pl.col(KIND).cast(pl.String)
    ref_type = (
        pl.when(kind.is_in(["repost", "forward"]))
        .then(pl.lit("retweeted"))
        .when(kind == "quote")
        .then(pl.lit("quoted"))
        .when(kind.is_in(["reply", "comment"]))
        .then(pl.lit("replied_to"))
    )
    element = pl.element()
    entities = pl.struct(
        pl.col(URLS)
        .list.eval(pl.struct(element.alias("url"), element.alias("expanded_url")))
        .alias("urls"),
        pl.col(HASHTAGS).list.eval(pl.struct(element.alias("tag"))).alias("hashtags"),
        pl.col(MENTIONS)
        .list.eval(
            pl.struct(
                id_or_none(element, numeric=False).alias("username"),
                id_or_none(element, numeric=True).alias("id"),
            )
        )
        .alias("mentions"),
    )
    lang = optional_string(events, "x_lang")
    conversation = (
        pl.when(ref_type == "replied_to").then(pl.col(OBJECT_ID)).otherwise(pl.col(EVENT_ID))
    )
    if "x_conversation_id" in events.columns:
        conversation = pl.col("x_conversation_id").cast(pl.String)
    out = events.select(
        pl.concat_list(pl.col(EVENT_ID)).alias("edit_history_tweet_ids"),
        pl.col(EVENT_ID).alias("id"),
        pl.col(TEXT).alias("text"),
        pl.col(TS).dt.strftime(_V2_TIME).alias("created_at"),
        pl.col(ACTOR_ID).alias("author_id"),
        conversation.alias("conversation_id"),
        lang.alias("lang"),
        pl.when(ref_type.is_not_null())
        .then(pl.concat_list(pl.struct(ref_type.alias("type"), pl.col(OBJECT_ID).alias("id"))))
        .alias("referenced_tweets"),
        entities.alias("entities"),
        pl.when(pl.col(MEDIA).list.len() > 0)
        .then(pl.struct(pl.col(MEDIA).alias("media_keys")))
        .alias("attachments"),
        pl.struct(
            pl.col(ACTOR_ID).alias("id"),
            pl.col(ACTOR_NAME).alias("username"),
            pl.col(ACTOR_CREATED).dt.strftime(_V2_TIME).alias("created_at"),
        ).alias("author"),
        pl.struct(
            pl.lit(None, pl.String).alias("url"),
            pl.lit("coordscope").alias("version"),
            pl.lit(None, pl.String).alias("retrieved_at"),
        ).alias("__twarc"),
    )
    write_json_lines(out, path)
