"""Write canonical events as X/Twitter API v1.1 statuses, one JSON object a line.

The counterpart of :mod:`coordscope.datasets.twitter_v1`: what it writes reads back as the
same events (kinds without a v1.1 form aside).
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

#: ``created_at`` as v1.1 writes it (always UTC): ``Wed Oct 10 20:19:24 +0000 2018``.
_V1_TIME: Final = "%a %b %d %H:%M:%S +0000 %Y"


def write(events: pl.DataFrame, path: str) -> None:
    """Write canonical events as v1.1 statuses, one JSON object a line.

    Each line has ``created_at`` (v1 format, UTC, whole seconds), ``id_str``, ``text``,
    ``truncated: false``, ``in_reply_to_status_id_str`` (replies), ``user`` (``id_str``,
    ``screen_name``, ``created_at``), ``retweeted_status`` (reposts: a stub with ``id_str``),
    ``is_quote_status`` and ``quoted_status_id_str`` (quotes), ``entities`` (``hashtags``
    ``{text}``, ``user_mentions`` -- ``id_str`` for an all-digit mention, else
    ``screen_name`` --, ``urls`` ``{url, expanded_url}``, ``media``: the first item),
    ``extended_entities.media`` (every media id), ``lang`` (``x_lang`` when present) and
    ``timestamp_ms`` (so times keep their milliseconds). Kinds without a v1.1 form are
    written as the nearest one: ``forward`` as a retweet, ``comment`` as a reply,
    ``reaction`` as a plain status.

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
    is_repost = kind.is_in(["repost", "forward"])
    is_quote = kind == "quote"
    is_reply = kind.is_in(["reply", "comment"])
    element = pl.element()
    media_items = pl.col(MEDIA).list.eval(
        pl.struct(element.alias("id_str"), pl.lit("photo").alias("type"))
    )
    entities = pl.struct(
        pl.col(HASHTAGS).list.eval(pl.struct(element.alias("text"))).alias("hashtags"),
        pl.col(MENTIONS)
        .list.eval(
            pl.struct(
                id_or_none(element, numeric=True).alias("id_str"),
                id_or_none(element, numeric=False).alias("screen_name"),
            )
        )
        .alias("user_mentions"),
        pl.col(URLS)
        .list.eval(pl.struct(element.alias("url"), element.alias("expanded_url")))
        .alias("urls"),
        media_items.list.head(1).alias("media"),
    )
    lang = optional_string(events, "x_lang")
    out = events.select(
        pl.col(TS).dt.strftime(_V1_TIME).alias("created_at"),
        pl.col(EVENT_ID).alias("id_str"),
        pl.col(TEXT).alias("text"),
        pl.lit(False).alias("truncated"),
        pl.when(is_reply).then(pl.col(OBJECT_ID)).alias("in_reply_to_status_id_str"),
        pl.struct(
            pl.col(ACTOR_ID).alias("id_str"),
            pl.col(ACTOR_NAME).alias("screen_name"),
            pl.col(ACTOR_CREATED).dt.strftime(_V1_TIME).alias("created_at"),
        ).alias("user"),
        pl.when(is_repost)
        .then(pl.struct(pl.col(OBJECT_ID).alias("id_str")))
        .alias("retweeted_status"),
        is_quote.alias("is_quote_status"),
        pl.when(is_quote).then(pl.col(OBJECT_ID)).alias("quoted_status_id_str"),
        entities.alias("entities"),
        pl.when(pl.col(MEDIA).list.len() > 0)
        .then(pl.struct(media_items.alias("media")))
        .alias("extended_entities"),
        lang.alias("lang"),
        pl.col(TS).dt.epoch("ms").cast(pl.String).alias("timestamp_ms"),
    )
    write_json_lines(out, path)
