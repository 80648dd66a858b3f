"""X/Twitter API v1.1 statuses as JSON lines (streaming API, search API, twarc1).

One status a line, as the v1.1 API returns it. Fields read:

=====================  ================================================================
canonical              v1.1 field
=====================  ================================================================
``event_id``           ``id_str`` (else ``id``)
``actor_id``           ``user.id_str`` (else ``user.id``)
``actor_name``         ``user.screen_name``
``actor_created``      ``user.created_at`` (``Wed Oct 10 20:19:24 +0000 2018``)
``ts``                 ``timestamp_ms`` (streaming; milliseconds), else ``created_at``
``kind``/``object_id`` ``retweeted_status`` → ``repost`` of its ``id_str``; else
                       ``quoted_status_id_str`` / ``quoted_status.id_str`` /
                       ``is_quote_status`` → ``quote``; else
                       ``in_reply_to_status_id_str`` → ``reply``; else ``post``
                       (retweet > quote > reply > post)
``text``               ``extended_tweet.full_text`` (streaming compatibility mode), else
                       ``full_text`` (extended mode), else ``text``; a retweet keeps its
                       own, truncated ``RT @user: …`` text as exported
``urls``               ``entities.urls[]``: ``unwound.url``, else ``expanded_url``, else
                       ``url``; the ``twitter.com/i/web/status/…`` link that v1.1 adds to
                       truncated tweets (a link to the tweet itself) is dropped
``hashtags``           ``entities.hashtags[].text``
``mentions``           ``entities.user_mentions[].id_str`` (else ``screen_name``)
``media``              ``extended_entities.media[].id_str``, else ``entities.media[]``
``x_lang``             ``lang``
``x_mention_names``    ``entities.user_mentions[].screen_name``
=====================  ================================================================

Entities are taken from ``extended_tweet.entities`` when present (the top-level ones then
cover only the truncated text). A retweet's URLs, hashtags, mentions and media are those of
the retweeted status, whose full entities the v1.1 API embeds, because the retweet's own
text and entities are cut at 140 characters; when ``retweeted_status`` is only a stub
(no text and no entities), the retweet's own entities are used.

Lines that are not statuses become rejects with a reason: stream notices
(``delete``, ``limit``, ``scrub_geo``, ``status_withheld``, ``user_withheld``,
``disconnect``, ``warning``) as ``not a tweet (delete notice)`` and so on, other objects
as ``not a tweet (no id_str or user)``, and lines that are not JSON objects as such.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial
from typing import Final

import polars as pl

from coordscope.datasets._io import ReadLimits
from coordscope.datasets._stage import RECORD, REJECT, SOURCE, Staged
from coordscope.datasets._twitter_common import (
    PLATFORM_NAME,
    first_line_is_object,
    staged_pieces,
)
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
    PLATFORM,
    TEXT,
    TS,
    URLS,
)

__all__ = ["FORMAT", "LINE_DTYPE", "NOTICES", "read", "sniff"]

#: The ``--format`` name.
FORMAT: Final = "twitter-v1"

#: Top-level keys of the streaming API's non-status messages, in the order they are named.
NOTICES: Final = (
    "delete",
    "limit",
    "scrub_geo",
    "status_withheld",
    "user_withheld",
    "disconnect",
    "warning",
)

_S: Final = pl.String()
_ID: Final = pl.Struct({"id_str": _S, "id": _S})
_URL: Final = pl.Struct({"url": _S, "expanded_url": _S, "unwound": pl.Struct({"url": _S})})
_ENTITIES: Final = pl.Struct(
    {
        "urls": pl.List(_URL),
        "hashtags": pl.List(pl.Struct({"text": _S})),
        "user_mentions": pl.List(pl.Struct({"id_str": _S, "id": _S, "screen_name": _S})),
        "media": pl.List(_ID),
    }
)
_EXTENDED_ENTITIES: Final = pl.Struct({"media": pl.List(_ID)})
_EXTENDED_TWEET: Final = pl.Struct(
    {"full_text": _S, "entities": _ENTITIES, "extended_entities": _EXTENDED_ENTITIES}
)
_CONTENT: Final[dict[str, pl.DataType]] = {
    "text": _S,
    "full_text": _S,
    "extended_tweet": _EXTENDED_TWEET,
    "entities": _ENTITIES,
    "extended_entities": _EXTENDED_ENTITIES,
}
_USER: Final = pl.Struct({"id_str": _S, "id": _S, "screen_name": _S, "created_at": _S})

#: What is read of each line (everything else is ignored).
LINE_DTYPE: Final = pl.Struct(
    {
        "id_str": _S,
        "id": _S,
        "created_at": _S,
        "timestamp_ms": _S,
        **_CONTENT,
        "lang": _S,
        "user": _USER,
        "retweeted_status": pl.Struct({"id_str": _S, "id": _S, **_CONTENT}),
        "is_quote_status": _S,
        "quoted_status_id_str": _S,
        "quoted_status_id": _S,
        "quoted_status": _ID,
        "in_reply_to_status_id_str": _S,
        "in_reply_to_status_id": _S,
        "delete": pl.Struct({"status": _ID}),
        "limit": pl.Struct({"track": _S}),
        "scrub_geo": pl.Struct({"user_id_str": _S}),
        "status_withheld": _ID,
        "user_withheld": _ID,
        "disconnect": pl.Struct({"code": _S}),
        "warning": pl.Struct({"code": _S}),
    }
)

_WHAT: Final = "an X/Twitter v1.1 status"
_SELF_LINK_RE: Final = r"(?i)^https?://(www\.|mobile\.)?twitter\.com/i/web/status/"

# Sniffing: content markers only, searched in the first 64 KiB (which may end mid-line).
_ID_STR_RE: Final = re.compile(r'"id_str"\s*:\s*"\d+"')
_V1_CREATED_RE: Final = re.compile(
    r'"created_at"\s*:\s*"[A-Z][a-z]{2} [A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} [+-]\d{4} \d{4}"'
)
_SCREEN_NAME_RE: Final = re.compile(r'"screen_name"\s*:')
_NOTICE_RE: Final = re.compile(r'^\{\s*"(' + "|".join(NOTICES) + r')"\s*:\s*\{')
_V2_ONLY_RE: Final = re.compile(r'"(author_id|edit_history_tweet_ids|__twarc)"\s*:')


def sniff(head: str) -> bool:
    """Tell whether ``head`` is JSON lines of v1.1 statuses or stream notices.

    The first non-blank character opens an object, and the text holds a v1.1 marker: a
    string ``id_str`` with a v1-style ``created_at`` or a ``screen_name``, or a line that
    starts as a stream notice (``{"delete": {``, ``{"limit": {``, …); and no v2-only field
    (``author_id``, ``edit_history_tweet_ids``, ``__twarc``).
    """
    if not first_line_is_object(head) or _V2_ONLY_RE.search(head):
        return False
    text = head.lstrip()
    if _NOTICE_RE.match(text):
        return True
    return bool(_ID_STR_RE.search(text)) and bool(
        _V1_CREATED_RE.search(text) or _SCREEN_NAME_RE.search(text)
    )


def read(
    path: str, *, mapping: Mapping[str, str] | None = None, limits: ReadLimits | None = None
) -> Staged:
    """Read v1.1 statuses (JSON lines, plain or gzip/zstd) into staged rows.

    One staged row per non-blank line (``_record`` = line number). See the module
    docstring for the fields; notices are counted in ``notes`` (``delete_notices``, …).
    ``mapping`` is ignored: the field names are fixed. Cost ``O(size)``, vectorized, in
    chunks on all of polars' threads; the file is read in blocks of
    ``limits.piece_bytes`` as the pieces are consumed.

    Raises
    ------
    InputError
        While the pieces are read: when no line of the file is a JSON object with the
        fields of a v1.1 status.
    """
    del mapping
    notes: dict[str, int] = {}
    pieces = staged_pieces(
        path,
        LINE_DTYPE,
        what=_WHAT,
        transform=partial(_stage_chunk, path=path),
        notes=notes,
        limits=limits,
    )
    return Staged(pieces, format=FORMAT, notes=notes)


def _stage_chunk(decoded: pl.DataFrame, *, path: str) -> tuple[pl.DataFrame, dict[str, int]]:
    """Staged rows of one decoded chunk, and its notice counts."""
    frame = decoded.select(_staged_columns(path))
    counts = frame.select(
        [(pl.col(REJECT) == _notice_reason(name)).sum().alias(name) for name in NOTICES]
    ).row(0, named=True)
    return frame, {f"{name}_notices": int(n) for name, n in counts.items() if n}


def _notice_reason(name: str) -> str:
    return f"not a tweet ({name.replace('_', ' ')} notice)"


def _content_lists(status: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Return the entities and the media list of a status struct (extended forms first)."""
    extended = status.struct.field("extended_tweet")
    entities = pl.coalesce(extended.struct.field("entities"), status.struct.field("entities"))
    media = pl.coalesce(
        extended.struct.field("extended_entities").struct.field("media"),
        status.struct.field("extended_entities").struct.field("media"),
        entities.struct.field("media"),
    )
    return entities, media


def _staged_columns(path: str) -> list[pl.Expr]:
    """Staged columns from the decoded v1.1 fields (see the module docstring)."""
    element = pl.element()
    own = pl.struct(*(pl.col(name) for name in _CONTENT))
    retweeted = pl.col("retweeted_status")
    # A full retweeted status (as the API embeds it) carries text or entities; a stub
    # (only an id) does not, and the retweet's own entities are used.
    full_retweet = (
        retweeted.struct.field("text").is_not_null()
        | retweeted.struct.field("full_text").is_not_null()
        | retweeted.struct.field("extended_tweet").is_not_null()
        | retweeted.struct.field("entities").is_not_null()
    )
    own_entities, own_media = _content_lists(own)
    rt_entities, rt_media = _content_lists(retweeted)
    entities = pl.when(full_retweet).then(rt_entities).otherwise(own_entities)
    media = pl.when(full_retweet).then(rt_media).otherwise(own_media)

    retweet_id = pl.coalesce(retweeted.struct.field("id_str"), retweeted.struct.field("id"))
    quoted = pl.col("quoted_status")
    quote_id = pl.coalesce(
        pl.col("quoted_status_id_str"),
        pl.col("quoted_status_id"),
        quoted.struct.field("id_str"),
        quoted.struct.field("id"),
    )
    is_repost = retweeted.is_not_null()
    is_quote = quote_id.is_not_null() | (pl.col("is_quote_status").str.to_lowercase() == "true")
    reply_id = pl.coalesce(pl.col("in_reply_to_status_id_str"), pl.col("in_reply_to_status_id"))
    kind = (
        pl.when(is_repost)
        .then(pl.lit("repost"))
        .when(is_quote)
        .then(pl.lit("quote"))
        .when(reply_id.is_not_null())
        .then(pl.lit("reply"))
        .otherwise(pl.lit("post"))
    )
    object_id = (
        pl.when(is_repost).then(retweet_id).when(is_quote).then(quote_id).otherwise(reply_id)
    )

    user = pl.col("user")
    text = pl.coalesce(
        pl.col("extended_tweet").struct.field("full_text"), pl.col("full_text"), pl.col("text")
    )
    urls = (
        entities.struct.field("urls")
        .list.eval(
            pl.coalesce(
                element.struct.field("unwound").struct.field("url"),
                element.struct.field("expanded_url"),
                element.struct.field("url"),
            )
        )
        .list.eval(element.filter(~element.str.contains(_SELF_LINK_RE).fill_null(False)))
    )
    mentions = entities.struct.field("user_mentions")

    reject = pl.lit(None, dtype=pl.String)
    for name in reversed(NOTICES):
        reject = (
            pl.when(pl.col(name).is_not_null()).then(pl.lit(_notice_reason(name))).otherwise(reject)
        )
    is_status = pl.any_horizontal(
        pl.col("id_str").is_not_null(), pl.col("id").is_not_null(), user.is_not_null()
    )
    reject = (
        pl.when(reject.is_null() & ~is_status)
        .then(pl.lit("not a tweet (no id_str or user)"))
        .otherwise(reject)
    )

    return [
        pl.lit(path, dtype=pl.String).alias(SOURCE),
        pl.col(RECORD),
        reject.alias(REJECT),
        pl.coalesce(pl.col("id_str"), pl.col("id")).alias(EVENT_ID),
        pl.lit(PLATFORM_NAME).alias(PLATFORM),
        pl.coalesce(user.struct.field("id_str"), user.struct.field("id")).alias(ACTOR_ID),
        user.struct.field("screen_name").alias(ACTOR_NAME),
        pl.coalesce(pl.col("timestamp_ms"), pl.col("created_at")).alias(TS),
        kind.alias(KIND),
        object_id.alias(OBJECT_ID),
        text.alias(TEXT),
        urls.alias(URLS),
        entities.struct.field("hashtags").list.eval(element.struct.field("text")).alias(HASHTAGS),
        mentions.list.eval(
            pl.coalesce(
                element.struct.field("id_str"),
                element.struct.field("id"),
                element.struct.field("screen_name"),
            )
        ).alias(MENTIONS),
        media.list.eval(
            pl.coalesce(element.struct.field("id_str"), element.struct.field("id"))
        ).alias(MEDIA),
        user.struct.field("created_at").alias(ACTOR_CREATED),
        pl.col("lang").alias("x_lang"),
        mentions.list.eval(element.struct.field("screen_name"))
        .fill_null(pl.lit([], dtype=pl.List(pl.String)))
        .alias("x_mention_names"),
    ]
