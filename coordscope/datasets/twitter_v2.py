"""X/Twitter API v2 as JSON lines: raw API pages, or one flattened tweet a line (twarc2).

Two shapes are read, line by line, from the same file if need be:

- **API pages** (``twarc2 search`` output, one response a line):
  ``{"data": [tweet, ...], "includes": {"users": [...], "tweets": [...], "media": [...]},
  "meta": {...}, "errors": [...]}``. Only the ``data`` tweets are events. Authors are
  looked up by ``author_id`` in the page's ``includes.users`` (``username``,
  ``created_at``), referenced tweets by id in its ``includes.tweets``. Every tweet of a
  page has the page's line number as its record number, and reasons the reader gives for
  rejecting it name it (``data[3]: missing author_id``). A page without tweets (only
  ``errors``, or ``meta.result_count: 0``) yields no event and is counted in
  ``notes["pages_without_data"]``; error objects are counted in ``notes["page_errors"]``.
- **Flattened tweets** (``twarc2 flatten`` output): a tweet object with ``author``
  (``id``, ``username``, ``created_at``) embedded, ``referenced_tweets`` holding the
  referenced tweets' fields, and ``__twarc`` metadata.

Fields read from a tweet:

=====================  ================================================================
canonical              v2 field
=====================  ================================================================
``event_id``           ``id``
``actor_id``           ``author_id`` (else ``author.id``)
``actor_name``         the author's ``username``
``actor_created``      the author's ``created_at``
``ts``                 ``created_at`` (``2022-03-01T12:00:00.000Z``)
``kind``/``object_id`` ``referenced_tweets[]``: ``retweeted`` → ``repost``, else
                       ``quoted`` → ``quote``, else ``replied_to`` → ``reply`` (in that
                       precedence), with that reference's ``id``; else ``post``
``text``               ``text`` as exported (a retweet's is ``RT @user: …``, truncated)
``urls``               ``entities.urls[]``: ``unwound_url``, else ``expanded_url``, else
                       ``url``
``hashtags``           ``entities.hashtags[].tag``
``mentions``           ``entities.mentions[].id``, else ``.username``
``media``              ``attachments.media_keys``
``x_lang``             ``lang``
``x_conversation_id``  ``conversation_id``
``x_mention_names``    ``entities.mentions[].username``
=====================  ================================================================

A retweet's URLs, hashtags, mentions and media are those of the retweeted tweet when it
is available (in ``includes.tweets``, or embedded by ``flatten``), because the retweet's
own text and entities are cut short; otherwise the retweet's own.

Decoding uses one explicit schema (:data:`LINE_DTYPE`; other fields are ignored) and no
per-tweet Python: pages are exploded, authors and referenced tweets joined per page.
Decoding dominates the cost: polars parses each line into a JSON value tree, about
3–7 µs of CPU per 600-byte line on a 2-core machine (chunks of lines run on all of
polars' threads); everything else is ~1.5 µs a tweet.
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
from coordscope.datasets.normalize import parse_times
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

__all__ = ["FORMAT", "LINE_DTYPE", "REFERENCE_KINDS", "read", "sniff"]

#: The ``--format`` name.
FORMAT: Final = "twitter-v2"

#: ``referenced_tweets[].type`` → canonical kind, in order of precedence.
REFERENCE_KINDS: Final = {"retweeted": "repost", "quoted": "quote", "replied_to": "reply"}

_S: Final = pl.String()
_ENTITIES: Final = pl.Struct(
    {
        "urls": pl.List(
            pl.Struct({"url": _S, "expanded_url": _S, "unwound_url": _S, "media_key": _S})
        ),
        "hashtags": pl.List(pl.Struct({"tag": _S})),
        "mentions": pl.List(pl.Struct({"id": _S, "username": _S})),
    }
)
_ATTACHMENTS: Final = pl.Struct({"media_keys": pl.List(_S)})
_USER: Final = pl.Struct({"id": _S, "username": _S, "created_at": _S})
# A reference as the API gives it ({type, id}) or as flatten embeds it (plus the tweet).
_REFERENCE: Final = pl.Struct(
    {"type": _S, "id": _S, "text": _S, "entities": _ENTITIES, "attachments": _ATTACHMENTS}
)
_TWEET: Final[dict[str, pl.DataType]] = {
    "id": _S,
    "author_id": _S,
    "created_at": _S,
    "text": _S,
    "conversation_id": _S,
    "lang": _S,
    "entities": _ENTITIES,
    "attachments": _ATTACHMENTS,
    "referenced_tweets": pl.List(_REFERENCE),
}
_INCLUDED_TWEET: Final = pl.Struct(
    {"id": _S, "text": _S, "entities": _ENTITIES, "attachments": _ATTACHMENTS}
)

#: What is read of each line: a flattened tweet's fields and an API page's.
LINE_DTYPE: Final = pl.Struct(
    {
        **_TWEET,
        "author": _USER,
        "data": pl.List(pl.Struct(_TWEET)),
        "includes": pl.Struct({"users": pl.List(_USER), "tweets": pl.List(_INCLUDED_TWEET)}),
        "errors": pl.List(pl.Struct({"title": _S, "detail": _S})),
        "meta": pl.Struct({"result_count": _S}),
    }
)

_WHAT: Final = "an X/Twitter v2 tweet or API page"
_PAGE_KEYS: Final = ("data", "includes", "errors", "meta")

# Internal columns of the tweet-level frame both shapes are brought to.
_USERNAME: Final = "_username"
_USER_CREATED: Final = "_user_created"
_REF: Final = "_ref"  # the reference that decides kind and object (a struct)
_REF_FULL: Final = "_ref_full"  # the referenced tweet's text/entities/attachments are known
_REF_ENTITIES: Final = "_ref_entities"
_REF_ATTACHMENTS: Final = "_ref_attachments"
_INDEX: Final = "_index"

# Sniffing: content markers only, searched in the first 64 KiB (which may end mid-line).
_PAGE_START_RE: Final = re.compile(r'^\{\s*"(data|includes|meta|errors)"\s*:')
_PAGE_MARKER_RE: Final = re.compile(
    r'"(edit_history_tweet_ids|author_id|result_count|newest_id|next_token)"\s*:'
    r'|"type"\s*:\s*"https://api\.(twitter|x)\.com/2/problems/'
)
_AUTHOR_ID_RE: Final = re.compile(r'"author_id"\s*:\s*"\d+"')
_TWEET_MARKER_RE: Final = re.compile(
    r'"(edit_history_tweet_ids|__twarc|referenced_tweets)"\s*:'
    r'|"conversation_id"\s*:\s*"\d+"'
    r'|"created_at"\s*:\s*"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z"'
)
_V1_ONLY_RE: Final = re.compile(r'"(id_str|screen_name|user_mentions)"\s*:')


def sniff(head: str) -> bool:
    """Tell whether ``head`` is JSON lines of v2 API pages or tweets (plain or flattened).

    The first non-blank character opens an object, no v1.1-only field (``id_str``,
    ``screen_name``, ``user_mentions``) appears, and either the first line starts as an
    API page (``{"data":``, ``{"includes":``, ``{"meta":``, ``{"errors":``) holding a v2
    marker (``edit_history_tweet_ids``, ``author_id``, ``result_count``, ``newest_id``,
    ``next_token``, or an ``api.twitter.com/2/problems`` error type), or a tweet's string
    ``author_id`` comes with ``edit_history_tweet_ids``, ``__twarc``,
    ``referenced_tweets``, a ``conversation_id`` or a v2 ``created_at``
    (``2022-03-01T12:00:00.000Z``).
    """
    if not first_line_is_object(head) or _V1_ONLY_RE.search(head):
        return False
    text = head.lstrip()
    if _PAGE_START_RE.match(text):
        return bool(_PAGE_MARKER_RE.search(text))
    return bool(_AUTHOR_ID_RE.search(text)) and bool(_TWEET_MARKER_RE.search(text))


def read(
    path: str, *, mapping: Mapping[str, str] | None = None, limits: ReadLimits | None = None
) -> Staged:
    """Read v2 JSON lines (API pages and/or flattened tweets, plain or gzip/zstd).

    One staged row per flattened tweet line, per tweet of a page's ``data`` (the page's
    line number as record), and per line rejected whole; pages without tweets give no row
    (counted in the notes). See the module docstring for the fields. ``mapping`` is
    ignored. Cost ``O(size)``, vectorized (plus a hash join per page shape); the file is
    read in blocks of ``limits.piece_bytes`` as the pieces are consumed.

    Raises
    ------
    InputError
        While the pieces are read: when no line of the file is a JSON object with the
        fields of a v2 tweet or page.
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


def _stage_chunk(frame: pl.DataFrame, *, path: str) -> tuple[pl.DataFrame, dict[str, int]]:
    """Stage one decoded chunk: flattened tweets first, then page tweets.

    Returns the staged rows and the chunk's page counts.
    """
    is_page = pl.col("id").is_null() & pl.any_horizontal(
        [pl.col(k).is_not_null() for k in _PAGE_KEYS]
    )
    n_pages = int(frame.select(is_page.sum()).item())
    notes: dict[str, int] = {}
    parts: list[pl.DataFrame] = []
    if n_pages < frame.height or frame.height == 0:
        flat = frame if n_pages == 0 else frame.filter(~is_page)
        parts.append(_from_flattened(flat).select(_staged_columns(path)))
    if n_pages:
        pages = frame if n_pages == frame.height else frame.filter(is_page)
        counts = pages.select(
            (pl.col("data").list.len().fill_null(0) == 0).sum().alias("empty"),
            pl.col("errors").list.len().fill_null(0).sum().alias("errors"),
        ).row(0, named=True)
        notes["pages"] = n_pages
        notes["pages_without_data"] = int(counts["empty"])
        notes["page_errors"] = int(counts["errors"])
        parts.append(_from_pages(pages).select(_staged_columns(path)))
    return (pl.concat(parts) if len(parts) > 1 else parts[0]), notes


def _deciding_reference() -> pl.Expr:
    """Pick the reference that decides kind and object: retweeted > quoted > replied_to."""
    element = pl.element()
    rank = element.struct.field("type").replace_strict(
        {name: i for i, name in enumerate(REFERENCE_KINDS)},
        default=len(REFERENCE_KINDS),
        return_dtype=pl.Int8,
    )
    references = pl.col("referenced_tweets")
    return references.list.get(references.list.eval(rank).list.arg_min(), null_on_oob=True)


def _from_flattened(frame: pl.DataFrame) -> pl.DataFrame:
    """Tweet-level frame of flattened lines (one tweet a line, author embedded)."""
    ref = pl.col(_REF)
    lines_not_tweets = pl.all_horizontal(
        pl.col("id").is_null(), pl.col("author_id").is_null(), pl.col("author").is_null()
    )
    author = pl.col("author")
    return frame.with_columns(
        _deciding_reference().alias(_REF),
        pl.when(lines_not_tweets)
        .then(pl.lit("not a tweet or API page (no 'id' or 'data')"))
        .alias(REJECT),
    ).select(
        RECORD,
        REJECT,
        "id",
        pl.coalesce(pl.col("author_id"), author.struct.field("id")).alias("author_id"),
        "created_at",
        "text",
        "conversation_id",
        "lang",
        "entities",
        "attachments",
        author.struct.field("username").alias(_USERNAME),
        author.struct.field("created_at").alias(_USER_CREATED),
        _REF,
        ref.struct.field("text").is_not_null().alias(_REF_FULL),
        ref.struct.field("entities").alias(_REF_ENTITIES),
        ref.struct.field("attachments").alias(_REF_ATTACHMENTS),
    )


def _from_pages(pages: pl.DataFrame) -> pl.DataFrame:
    """Bring API pages to the tweet-level frame.

    ``data`` is exploded; authors and referenced tweets are joined from the same page's
    ``includes``.
    """
    tweets = (
        pages.filter(pl.col("data").list.len() > 0)
        .select(RECORD, "data", pl.int_ranges(0, pl.col("data").list.len()).alias(_INDEX))
        .explode(["data", _INDEX])
        .unnest("data")
        .with_columns(_deciding_reference().alias(_REF))
    )
    users = (
        pages.select(RECORD, pl.col("includes").struct.field("users").alias("u"))
        .explode("u")
        .filter(pl.col("u").is_not_null())
        .select(
            RECORD,
            pl.col("u").struct.field("id").alias("_uid"),
            pl.col("u").struct.field("username").alias(_USERNAME),
            pl.col("u").struct.field("created_at").alias(_USER_CREATED),
        )
        .unique(subset=[RECORD, "_uid"], keep="first", maintain_order=True)
    )
    included = (
        pages.select(RECORD, pl.col("includes").struct.field("tweets").alias("t"))
        .explode("t")
        .filter(pl.col("t").is_not_null())
        .select(
            RECORD,
            pl.col("t").struct.field("id").alias("_tid"),
            pl.col("t").struct.field("text").is_not_null().alias(_REF_FULL),
            pl.col("t").struct.field("entities").alias(_REF_ENTITIES),
            pl.col("t").struct.field("attachments").alias(_REF_ATTACHMENTS),
        )
        .unique(subset=[RECORD, "_tid"], keep="first", maintain_order=True)
    )
    tweets = (
        tweets.with_columns(pl.col(_REF).struct.field("id").alias("_ref_id"))
        .join(
            users,
            left_on=[RECORD, "author_id"],
            right_on=[RECORD, "_uid"],
            how="left",
            maintain_order="left",
        )
        .join(
            included,
            left_on=[RECORD, "_ref_id"],
            right_on=[RECORD, "_tid"],
            how="left",
            maintain_order="left",
        )
    )
    # Reasons that name the tweet within its page (finalize would not know the index).
    parsed = parse_times(tweets["created_at"])
    tweets = tweets.with_columns(parsed.ts.alias("_ts"), parsed.problem.alias("_ts_problem"))
    where = pl.lit("data[") + pl.col(_INDEX).cast(pl.String) + pl.lit("]: ")
    reason = (
        pl.when(pl.col("id").is_null())
        .then(where + pl.lit("missing id"))
        .when(pl.col("author_id").is_null())
        .then(where + pl.lit("missing author_id"))
        .when(pl.col("created_at").is_null())
        .then(where + pl.lit("missing created_at"))
        .when(pl.col("_ts_problem").is_not_null())
        .then(where + pl.lit("field 'created_at': ") + pl.col("_ts_problem"))
        .when(pl.col("_ts").is_null())
        .then(
            where
            + pl.lit("field 'created_at': timestamp not understood: '")
            + pl.col("created_at").str.slice(0, 60)
            + pl.lit("'")
        )
    )
    return tweets.with_columns(reason.alias(REJECT), pl.col(_REF_FULL).fill_null(False)).select(
        RECORD,
        REJECT,
        "id",
        "author_id",
        "created_at",
        "text",
        "conversation_id",
        "lang",
        "entities",
        "attachments",
        _USERNAME,
        _USER_CREATED,
        _REF,
        _REF_FULL,
        _REF_ENTITIES,
        _REF_ATTACHMENTS,
    )


def _staged_columns(path: str) -> list[pl.Expr]:
    """Staged columns from the tweet-level frame of either shape."""
    element = pl.element()
    ref = pl.col(_REF)
    ref_type = ref.struct.field("type")
    kind = ref_type.replace_strict(REFERENCE_KINDS, default="post", return_dtype=pl.String)
    kind = pl.when(ref.is_null()).then(pl.lit("post")).otherwise(kind)
    object_id = pl.when(kind != "post").then(ref.struct.field("id"))
    # A retweet's lists come from the retweeted tweet when its content is known.
    borrow = (kind == "repost") & pl.col(_REF_FULL)
    entities = pl.when(borrow).then(pl.col(_REF_ENTITIES)).otherwise(pl.col("entities"))
    attachments = pl.when(borrow).then(pl.col(_REF_ATTACHMENTS)).otherwise(pl.col("attachments"))
    mentions = entities.struct.field("mentions")
    return [
        pl.lit(path, dtype=pl.String).alias(SOURCE),
        pl.col(RECORD),
        pl.col(REJECT),
        pl.col("id").alias(EVENT_ID),
        pl.lit(PLATFORM_NAME).alias(PLATFORM),
        pl.col("author_id").alias(ACTOR_ID),
        pl.col(_USERNAME).alias(ACTOR_NAME),
        pl.col("created_at").alias(TS),
        kind.alias(KIND),
        object_id.alias(OBJECT_ID),
        pl.col("text").alias(TEXT),
        entities.struct.field("urls")
        .list.eval(
            # Links to the tweet's own photos/videos carry a media_key: media, not URLs.
            pl.coalesce(
                element.struct.field("unwound_url"),
                element.struct.field("expanded_url"),
                element.struct.field("url"),
            ).filter(element.struct.field("media_key").is_null())
        )
        .alias(URLS),
        entities.struct.field("hashtags").list.eval(element.struct.field("tag")).alias(HASHTAGS),
        mentions.list.eval(
            pl.coalesce(element.struct.field("id"), element.struct.field("username"))
        ).alias(MENTIONS),
        attachments.struct.field("media_keys").alias(MEDIA),
        pl.col(_USER_CREATED).alias(ACTOR_CREATED),
        pl.col("lang").alias("x_lang"),
        pl.col("conversation_id").alias("x_conversation_id"),
        mentions.list.eval(element.struct.field("username"))
        .fill_null(pl.lit([], dtype=pl.List(pl.String)))
        .alias("x_mention_names"),
    ]
