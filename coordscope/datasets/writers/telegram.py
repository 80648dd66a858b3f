"""Write canonical events as a Telegram Desktop JSON export (``result.json``).

The counterpart of :mod:`coordscope.datasets.telegram`: what it writes reads back as the
same events, with chat and message ids as the export needs them (see :func:`write`).
The text of each message and its entities are rendered by
:mod:`coordscope.datasets.writers._telegram_text`; this module lays out the chats and the
messages around them.
"""

from __future__ import annotations

import json
from typing import Final

import polars as pl

from coordscope.datasets.telegram import NAME_PREFIX
from coordscope.datasets.writers._common import csv_compression, json_string, optional_string
from coordscope.datasets.writers._telegram_text import text_and_entities
from coordscope.schema import (
    ACTOR_ID,
    ACTOR_NAME,
    CHANNEL,
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

#: Chat ids given to channels that are not numbers (and to events without a channel).
_ASSIGNED_CHAT_BASE: Final = 1_000_000_000
#: Message ids given to replies whose target is not in the data (hashed).
_HASHED_MESSAGE_BASE: Final = 2_000_000_000
_EVENT_ID_RE: Final = r"^(-?\d+):(\d+)$"
_ABOUT: Final = (
    "Here is the data you requested. Remember: Telegram is ad free, it doesn't sell your "
    "data, and we don't use your data for ad targeting or any other commercial purposes."
)
_CHATS_ABOUT: Final = "This page lists all chats from this export."
_LEFT_ABOUT: Final = (
    "This page lists all supergroups and channels from this export that you've left."
)
_IMAGE_RE: Final = r"(?i)\.(jpe?g|png|webp|gif|heic)$"


def write(events: pl.DataFrame, path: str) -> None:
    """Write canonical events as a Telegram Desktop JSON export (``result.json``).

    Events of one channel give a single chat export; events of several channels a
    whole-account export with one chat per channel in ``chats.list``. Layout, field names
    and order are Telegram Desktop's (one-space indentation, fields absent rather than
    null, ``text`` a string or a list mixing strings and entity objects, ``text_entities``
    always present).

    How canonical fields become Telegram ones:

    - chat ``id``: the channel when it is an integer; other channels (and a missing one)
      get ids from 1000000000 up, in sorted order, and their value becomes the chat name
      (else ``x_chat_name`` when present); the chat ``type`` is ``x_chat_type`` when
      present, else ``public_channel`` for one author and ``public_supergroup`` for more;
    - message ``id``: kept when every event id of the chat is ``"{chat id}:{n}"`` and
      unique, else the chat's messages are numbered 1, 2, ... in time order;
    - ``date`` is written in UTC (as exported on a computer set to UTC), ``date_unixtime``
      in epoch seconds; fractions of a second are dropped;
    - ``forward`` and ``repost`` become forwards: ``forwarded_from_id`` is the
      ``object_id`` (so the forwarded object reads back unchanged) and ``forwarded_from``
      a name for it: the author's name of the forwarded event when it is in the data,
      else the name of the account with that id, else the id itself; a ``"name:..."``
      object gives the name only, as Telegram Desktop writes it;
    - ``reply``, ``comment`` and ``quote`` become replies (``reply_to_message_id``, plus
      ``reply_to_peer_id`` for a message of another chat; a target that is not in the
      data and not a ``"{chat}:{message}"`` id gets a message id hashed from it, from
      2000000000 up, the same for every reply to it); other kinds are plain messages;
    - URLs, hashtags and mentions found in the text become ``link``/``hashtag``/
      ``mention`` entities where they are in the event's lists; list items not in the
      text are appended to it, each after a space (the lists are expected canonical:
      URLs normalised, hashtags and mentions lower-case without ``#``/``@``); the first
      media item becomes ``photo`` (an image path) or ``file``.

    Parameters
    ----------
    events : polars.DataFrame
        Canonical events (:data:`coordscope.schema.EVENT_SCHEMA`), optionally with
        ``x_chat_name`` and ``x_chat_type``.
    path : str
        The file to write; gzip-compressed when it ends with ``.gz``.

    Notes
    -----
    Cost ``O(n log n)`` (sorting), vectorized: no Python loop over events or chats; the
    file is written by polars, one message a chunk.
    """
    chunks = _render(events)
    chunks.write_csv(
        path,
        include_header=False,
        quote_style="never",
        compression=csv_compression(path),
    )


def _field(key: str, value: pl.Expr, indent: str) -> pl.Expr:
    """Render ``<indent>"key": value`` (null where ``value`` is null: the field is left out)."""
    return pl.lit(f'{indent}"{key}": ') + value


def _optional(key: str, column: str, indent: str) -> pl.Expr:
    """Render a string field, left out (null) where ``column`` is null."""
    return pl.when(pl.col(column).is_not_null()).then(
        _field(key, json_string(pl.col(column)), indent)
    )


def _prepare(events: pl.DataFrame) -> pl.DataFrame:
    """Give the events to write their chat ids, message ids, chat names and types."""
    ev = events.select(
        pl.col(EVENT_ID).cast(pl.String),
        pl.col(ACTOR_ID).cast(pl.String),
        pl.col(ACTOR_NAME).cast(pl.String),
        pl.col(TS),
        pl.col(KIND).cast(pl.String),
        pl.col(OBJECT_ID).cast(pl.String),
        pl.col(TEXT).cast(pl.String),
        pl.col(URLS),
        pl.col(HASHTAGS),
        pl.col(MENTIONS),
        pl.col(MEDIA),
        pl.col(CHANNEL).cast(pl.String),
        optional_string(events, "x_chat_name").alias("x_chat_name"),
        optional_string(events, "x_chat_type").alias("x_chat_type"),
    ).with_row_index("_row")
    numeric = pl.col(CHANNEL).str.contains(r"^-?\d+$").fill_null(False)
    others = (
        ev.filter(~pl.col(CHANNEL).str.contains(r"^-?\d+$").fill_null(False))
        .select(pl.col(CHANNEL).unique())
        .sort(CHANNEL, nulls_last=False)
        .with_row_index("_rank")
        .select(
            CHANNEL,
            (pl.col("_rank").cast(pl.Int64) + _ASSIGNED_CHAT_BASE).alias("_assigned"),
        )
    )
    ev = ev.join(others, on=CHANNEL, how="left", nulls_equal=True, maintain_order="left")
    ev = ev.with_columns(
        pl.when(numeric)
        .then(pl.col(CHANNEL).cast(pl.Int64, strict=False))
        .otherwise(pl.col("_assigned"))
        .alias("_chat"),
        pl.when(numeric)
        .then(pl.col("x_chat_name"))
        .otherwise(pl.coalesce(pl.col(CHANNEL), pl.col("x_chat_name"), pl.lit("coordscope")))
        .alias("_chat_name"),
    ).sort(["_chat", TS, "_row"])
    parts = pl.col(EVENT_ID).str.extract_groups(_EVENT_ID_RE)
    ev = ev.with_columns(
        parts.struct.field("1").cast(pl.Int64, strict=False).alias("_id_chat"),
        parts.struct.field("2").cast(pl.Int64, strict=False).alias("_id_msg"),
    )
    keep = (
        (pl.col("_id_chat") == pl.col("_chat")).fill_null(False).all()
        & (pl.col("_id_msg").n_unique() == pl.len())
    ).over("_chat")
    ev = ev.with_columns(
        pl.when(keep)
        .then(pl.col("_id_msg"))
        .otherwise(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("_chat"))
        .alias("_msg"),
        pl.col(ACTOR_ID).n_unique().over("_chat").alias("_n_actors"),
        pl.coalesce(
            pl.col("_chat_name").drop_nulls().first().over("_chat"),
            pl.col(ACTOR_NAME).drop_nulls().first().over("_chat"),
            pl.col(CHANNEL),
        ).alias("_chat_name"),
        pl.col("x_chat_type").drop_nulls().first().over("_chat").alias("_chat_type"),
    ).with_columns(
        pl.coalesce(
            pl.col("_chat_type"),
            pl.when(pl.col("_n_actors") == 1)
            .then(pl.lit("public_channel"))
            .otherwise(pl.lit("public_supergroup")),
        ).alias("_chat_type")
    )
    return _resolve_objects(ev)


def _resolve_objects(ev: pl.DataFrame) -> pl.DataFrame:
    """Resolve the forward sources and reply targets of the events (joins, no loop)."""
    kind = pl.col(KIND)
    forward = kind.is_in(["forward", "repost"])
    reply = kind.is_in(["reply", "comment", "quote"])
    by_event = ev.select(
        pl.col(EVENT_ID).alias(OBJECT_ID),
        pl.col(ACTOR_NAME).alias("_src_name"),
        pl.col("_chat").alias("_tgt_chat"),
        pl.col("_msg").alias("_tgt_msg"),
    ).unique(OBJECT_ID, keep="first", maintain_order=True)
    by_actor = (
        ev.filter(pl.col(ACTOR_NAME).is_not_null())
        .select(pl.col(ACTOR_ID).alias(OBJECT_ID), pl.col(ACTOR_NAME).alias("_actor_name"))
        .unique(OBJECT_ID, keep="first", maintain_order=True)
    )
    ev = ev.join(by_event, on=OBJECT_ID, how="left", maintain_order="left").join(
        by_actor, on=OBJECT_ID, how="left", maintain_order="left"
    )
    named = pl.col(OBJECT_ID).str.starts_with(NAME_PREFIX)
    fwd_name = (
        pl.when(named)
        .then(pl.col(OBJECT_ID).str.strip_prefix(NAME_PREFIX))
        .otherwise(pl.coalesce(pl.col("_src_name"), pl.col("_actor_name"), pl.col(OBJECT_ID)))
    )
    fwd_id = pl.when(~named).then(pl.col(OBJECT_ID))
    target = pl.col(OBJECT_ID).str.extract_groups(_EVENT_ID_RE)
    hashed = (pl.col(OBJECT_ID).hash(seed=0) % 1_000_000_000).cast(pl.Int64) + _HASHED_MESSAGE_BASE
    tgt_chat = pl.coalesce(
        pl.col("_tgt_chat"), target.struct.field("1").cast(pl.Int64, strict=False), pl.col("_chat")
    )
    tgt_msg = pl.coalesce(
        pl.col("_tgt_msg"), target.struct.field("2").cast(pl.Int64, strict=False), hashed
    )
    has_object = pl.col(OBJECT_ID).is_not_null()
    return ev.with_columns(
        pl.when(forward & has_object).then(fwd_name).alias("_fwd_name"),
        pl.when(forward & has_object).then(fwd_id).alias("_fwd_id"),
        pl.when(reply & has_object & ~forward).then(tgt_msg).alias("_reply_msg"),
        pl.when(reply & has_object & ~forward & (tgt_chat != pl.col("_chat")))
        .then(pl.lit("channel") + tgt_chat.cast(pl.String))
        .alias("_reply_peer"),
    )


def _render(events: pl.DataFrame) -> pl.DataFrame:
    """Render the ``result.json`` text of the events as one String column of chunks.

    One chunk per message, in document order; the first message of a chat carries the
    chat's opening, the last its closing, the first and last rows the document's head
    and tail. Written one chunk a line, the chunks are the file: no per-chat or
    per-message Python string is built.
    """
    if events.height == 0:
        empty = (
            '{\n "name": "coordscope",\n "type": "public_channel",\n "id": '
            f'{_ASSIGNED_CHAT_BASE},\n "messages": []\n}}'
        )
        return pl.DataFrame({"_chunk": [empty]})
    ev = _prepare(events)
    account = ev["_chat"].n_unique() > 1
    base = 5 if account else 2  # indentation of a message object's braces
    ind = " " * (base + 1)
    texts = text_and_entities(ev, indent=base + 1)
    ev = ev.join(texts, on="_row", how="left", maintain_order="left")
    text_json = pl.col("_text_json")
    entities_json = pl.col("_entities_json")
    media0 = pl.col(MEDIA).list.first()
    is_image = media0.str.contains(_IMAGE_RE).fill_null(False)
    ts_utc = pl.col(TS).dt.convert_time_zone("UTC")
    fields = [
        _field("id", pl.col("_msg").cast(pl.String), ind),
        _field("type", pl.lit('"message"'), ind),
        # dates and numbers need no escaping
        _field("date", ts_utc.dt.strftime('"%Y-%m-%dT%H:%M:%S"'), ind),
        _field("date_unixtime", pl.lit('"') + ts_utc.dt.epoch("s").cast(pl.String) + '"', ind),
        _field("from", json_string(pl.col(ACTOR_NAME)), ind),
        _field("from_id", json_string(pl.col(ACTOR_ID)), ind),
        _optional("forwarded_from", "_fwd_name", ind),
        _optional("forwarded_from_id", "_fwd_id", ind),
        _field("reply_to_message_id", pl.col("_reply_msg").cast(pl.String), ind),
        _optional("reply_to_peer_id", "_reply_peer", ind),
        _field("photo", pl.when(is_image).then(json_string(media0)), ind),
        _field("file", pl.when(~is_image & media0.is_not_null()).then(json_string(media0)), ind),
        _field("text", text_json, ind),
        _field("text_entities", entities_json, ind),
    ]
    # absent fields are left out (concat_str skips nulls), as Telegram Desktop does;
    # "from" is written as null for an author without a name, as it does too
    outer = " " * base
    message = (
        pl.lit(outer + "{\n")
        + pl.concat_str(fields, separator=",\n", ignore_nulls=True)
        + pl.lit("\n" + outer + "}")
    )
    cind = " " * (base - 1)  # indentation of a chat's fields
    opening = (
        pl.lit(("   {\n" if account else "") + cind + '"name": ')
        + json_string(pl.col("_chat_name"))
        + pl.lit(",\n" + cind + '"type": ')
        + json_string(pl.col("_chat_type"))
        + pl.lit(",\n" + cind + '"id": ')
        + pl.col("_chat").cast(pl.String)
        + pl.lit(",\n" + cind + '"messages": [\n')
    )
    openings = ev.unique("_chat", keep="first", maintain_order=True).select(
        "_chat", opening.alias("_opening")
    )  # one row per chat, looked up below
    chat_open = pl.col("_chat").replace_strict(
        openings["_chat"], openings["_opening"], return_dtype=pl.String
    )
    chat_close = "\n" + cind + "]" + ("\n   }" if account else "")
    head, tail = _document_ends(account)
    chat = pl.col("_chat")
    first_in_chat = (chat != chat.shift(1)).fill_null(True)
    last_in_chat = (chat != chat.shift(-1)).fill_null(True)
    index = pl.int_range(pl.len())
    first_row = index == 0
    last_row = index == pl.len() - 1
    chunk = pl.concat_str(
        [
            pl.when(first_row).then(pl.lit(head)),
            pl.when(first_in_chat).then(chat_open),
            message,
            pl.when(last_in_chat).then(pl.lit(chat_close)),
            pl.when(~last_row).then(pl.lit(",")),
            pl.when(last_row).then(pl.lit(tail)),
        ],
        ignore_nulls=True,
    )
    return ev.select(chunk.alias("_chunk"))


def _document_ends(account: bool) -> tuple[str, str]:
    """Return the text before the first chat and after the last one."""
    if not account:
        return "{\n", "\n}"
    head = (
        "{\n"
        f' "about": {json.dumps(_ABOUT)},\n'
        ' "personal_information": {\n'
        '  "user_id": 1000000001,\n'
        '  "first_name": "coordscope",\n'
        '  "last_name": "",\n'
        '  "phone_number": "",\n'
        '  "bio": "Synthetic export written by coordscope"\n'
        " },\n"
        ' "chats": {\n'
        f'  "about": {json.dumps(_CHATS_ABOUT)},\n'
        '  "list": [\n'
    )
    tail = (
        "\n  ]\n"
        " },\n"
        ' "left_chats": {\n'
        f'  "about": {json.dumps(_LEFT_ABOUT)},\n'
        '  "list": []\n'
        " }\n"
        "}"
    )
    return head, tail
