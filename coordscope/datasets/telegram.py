"""Telegram Desktop "Export chat history" in JSON (``result.json``).

Two shapes are read, both written by Telegram Desktop's JSON exporter:

- a **single chat** export: ``{"name", "type", "id", "messages": [...]}``;
- a **whole-account** export: ``{"about", "personal_information", ...,
  "chats": {"about", "list": [chat, ...]}, "left_chats": {"about", "list": [...]}}``, where
  every chat has the shape of a single chat export. Chats of ``chats.list`` come first,
  then those of ``left_chats.list``.

Mapping of a message to the canonical event (design.md §3):

==================  ==============================================================
canonical           Telegram
==================  ==============================================================
``event_id``        ``"{chat id}:{message id}"`` (message ids are unique per chat only)
``platform``        ``telegram``
``actor_id``        ``from_id`` as written (``"user123"``, ``"channel123"``; older
                    exports write a bare number, kept as it is so that ids written by
                    :func:`write` read back unchanged)
``actor_name``      ``from`` (the channel name for channel posts; null for deleted accounts)
``ts``              ``date_unixtime`` (epoch seconds, UTC); else ``date``, which is the
                    exporting computer's local time without an offset: it is taken as UTC
                    and counted as naive
``kind``            ``forward`` when ``forwarded_from``/``forwarded_from_id`` is set, else
                    ``reply`` when ``reply_to_message_id`` is set, else ``post``
``object_id``       forward: ``forwarded_from_id`` when exported, else
                    ``"name:{forwarded_from}"`` -- Telegram Desktop writes only the name of
                    the original author or channel, never the original message, so the
                    forwarded *source* is the shared object; reply:
                    ``"{chat id}:{reply_to_message_id}"``, or
                    ``"{peer id}:{reply_to_message_id}"`` when ``reply_to_peer_id``
                    (``"channel123"``) says the replied-to message is in another chat
``text``            the text parts concatenated (``text_entities[].text``)
``urls``            ``link`` entities (their text) and ``text_link`` entities (their
                    ``href``)
``hashtags``        ``hashtag`` entities
``mentions``        ``mention`` entities (``@handle``) and ``mention_name`` entities
                    (``"user{user_id}"``, the form of ``from_id``)
``media``           ``photo`` and ``file`` paths; the exporter's placeholders for files not
                    downloaded (``"(File not included. ...)"``) are not media keys and are
                    dropped
``channel``         the chat ``id``; ``x_chat_name`` and ``x_chat_type`` keep its name and
                    type, ``x_media_type`` the message's ``media_type``
==================  ==============================================================

A forward of an author without a name (a deleted account: ``"forwarded_from": null``)
cannot be told from a post, and is read as one.

Service messages (``"type": "service"``: joins, pins, title changes, calls...) are rejects
with the reason ``service message (ACTION)``; messages of media the exporter does not
support (``"type": "unsupported"``) are rejects too. The record number of a message is its
1-based index among all messages of the file, in document order.

Reading. The whole document is read by polars' own JSON reader with an explicit schema
(:data:`_DOC_SCHEMA`), then the ``messages`` lists are exploded -- no Python object per
message. The ``text`` field cannot be read that way: it is a string when the message has
no formatting and otherwise a list mixing strings and entity objects, and polars 2.1
cannot deserialize a value that is sometimes a string and sometimes a list (nor a list
mixing strings and objects) into any one dtype, with or without a schema (it raises
``error deserializing value ... as string``). The schema therefore leaves ``text`` out
and everything is taken from ``text_entities``, the same content as a homogeneous list
of ``{type, text, href?, user_id?}`` objects, which current Telegram Desktop versions
write for every message. Older exports have no ``text_entities`` (and no ``date_unixtime``);
for those, and for files whose fields have types the schema does not expect, the
document is parsed once with :mod:`json` and each message is brought to the same shape
with one pass in Python (:func:`_legacy_messages`): a compatibility path for old exports,
not the path of current ones.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from typing import Any, Final

import polars as pl

from coordscope.datasets._io import read_bytes, strip_bom
from coordscope.datasets._stage import RECORD, REJECT, SOURCE, Staged
from coordscope.datasets.normalize import normalize_urls
from coordscope.errors import InputError
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
    PLATFORM,
    TEXT,
    TS,
    URLS,
)

__all__ = ["CHAT_TYPES", "FORMAT", "NAME_PREFIX", "read", "sniff", "write"]

#: The ``--format`` name of this reader.
FORMAT: Final = "telegram"

#: Prefix of the object id of a forward whose source has no exported id.
NAME_PREFIX: Final = "name:"

_ENTITY: Final = pl.Struct(
    {"type": pl.String, "text": pl.String, "href": pl.String, "user_id": pl.Int64}
)
_ENTITIES: Final = pl.List(_ENTITY)

#: The message fields read (everything else in a message is ignored).
_MESSAGE_FIELDS: Final[dict[str, pl.DataType]] = {
    "id": pl.Int64(),
    "type": pl.String(),
    "date": pl.String(),
    "date_unixtime": pl.String(),
    "from": pl.String(),
    "from_id": pl.String(),
    "action": pl.String(),
    "forwarded_from": pl.String(),
    "forwarded_from_id": pl.String(),
    "reply_to_message_id": pl.Int64(),
    "reply_to_peer_id": pl.String(),
    "photo": pl.String(),
    "file": pl.String(),
    "media_type": pl.String(),
    "text_entities": _ENTITIES,
}
_MESSAGE: Final = pl.Struct(_MESSAGE_FIELDS)
_CHAT_FIELDS: Final[dict[str, pl.DataType]] = {
    "name": pl.String(),
    "type": pl.String(),
    "id": pl.Int64(),
    "messages": pl.List(_MESSAGE),
}
_CHAT: Final = pl.Struct(_CHAT_FIELDS)
_CHAT_LIST: Final = pl.Struct({"about": pl.String, "list": pl.List(_CHAT)})

#: Schema of both export shapes at once: a single chat, or a whole account.
_DOC_SCHEMA: Final[dict[str, pl.DataType]] = {
    **_CHAT_FIELDS,
    "about": pl.String(),
    "personal_information": pl.Struct({"user_id": pl.Int64}),
    "chats": _CHAT_LIST,
    "left_chats": _CHAT_LIST,
}

#: Columns of the flat message table (chat fields prefixed ``chat_``).
_FLAT_SCHEMA: Final[dict[str, pl.DataType]] = {
    "chat_id": pl.Int64(),
    "chat_name": pl.String(),
    "chat_type": pl.String(),
    **_MESSAGE_FIELDS,
}

#: Telegram Desktop's chat types (``type`` of a chat object).
CHAT_TYPES: Final = (
    "personal_chat", "bot_chat", "private_group", "private_supergroup", "public_supergroup",
    "private_channel", "public_channel", "saved_messages", "replies",
)  # fmt: skip

_SNIFF_START: Final = re.compile(r"^\s*\{")
_SNIFF_MESSAGES: Final = re.compile(r'"messages"\s*:\s*\[')
_SNIFF_CHAT_TYPE: Final = re.compile(r'"type"\s*:\s*"(' + "|".join(CHAT_TYPES) + r')"')
_SNIFF_MESSAGE: Final = re.compile(r'"type"\s*:\s*"(message|service)"\s*,\s*"date"')
_SNIFF_ACCOUNT: Final = re.compile(
    r'^\s*\{\s*"about"\s*:\s*"(?:[^"\\]|\\.)*"\s*,\s*"(personal_information|profile_pictures|'
    r'contacts|frequent_contacts|chats|left_chats|sessions|other_data)"\s*:'
)

#: Start of the placeholders Telegram Desktop writes instead of the path of a file it did
#: not download, e.g. ``(File not included. Change data exporting settings to download.)``.
_PLACEHOLDER_START: Final = "("
_PEER_PREFIX_RE: Final = r"^(user|channel|chat)"


def sniff(head: str) -> bool:
    """True when ``head`` (the first 64 KiB of a file) looks like a Telegram JSON export.

    A single chat export is a JSON object with a ``"messages": [`` list and either a
    Telegram chat type (``"type": "public_channel"``...) or a message object
    (``"type": "message"``/``"service"`` followed by ``"date"``); a whole-account export
    starts with ``{"about": "...",`` followed by one of the account sections.
    """
    if not _SNIFF_START.match(head):
        return False
    if _SNIFF_ACCOUNT.match(head):
        return True
    if not _SNIFF_MESSAGES.search(head):
        return False
    return bool(_SNIFF_CHAT_TYPE.search(head) or _SNIFF_MESSAGE.search(head))


def read(path: str, *, mapping: Mapping[str, str] | None = None) -> Staged:
    """Read a Telegram Desktop ``result.json`` into staged rows, one per message.

    Parameters
    ----------
    path : str
        The export (plain, gzip or zstd).
    mapping : mapping, optional
        Ignored: the fields of a Telegram export are fixed.

    Returns
    -------
    Staged
        One row per message of every chat, in document order; ``_record`` is the
        1-based index of the message in the file.

    Raises
    ------
    InputError
        When the file is not JSON, or is JSON but not a Telegram Desktop export (the
        message names what is missing).

    Notes
    -----
    Cost ``O(size)``: one polars JSON parse and an explode for current exports; old
    exports without ``text_entities`` take the :mod:`json` path (see the module
    docstring).
    """
    del mapping
    data = strip_bom(read_bytes(path))
    flat = _read_polars(data)
    if flat is None or _needs_legacy(flat):
        flat = _legacy_messages(path, data)
    notes = {"telegram_messages": flat.height}
    return Staged(_stage(flat, path), format=FORMAT, notes=notes)


def _read_polars(data: bytes) -> pl.DataFrame | None:
    """The flat message table via polars' JSON reader, or None when polars cannot read it.

    None means: not an object, not JSON, unexpected field types, or neither a
    ``messages`` list nor ``chats`` (the :mod:`json` path then says precisely what is
    wrong, or reads what polars could not).
    """
    if data.lstrip()[:1] != b"{":
        return None
    try:
        doc = pl.read_json(io.BytesIO(data), schema=_DOC_SCHEMA)
    except (pl.exceptions.PolarsError, OSError, ValueError, RuntimeError):
        return None
    if doc.height != 1:
        return None
    has_messages = doc["messages"].is_not_null().item()
    lists = doc.select(
        (pl.col(c).struct.field("list").is_not_null() | pl.col(c).is_null()).alias(c)
        for c in ("chats", "left_chats")
    ).row(0)
    present = doc["chats"].is_not_null().item() or doc["left_chats"].is_not_null().item()
    has_chats = present and all(lists)  # a section without its "list" is malformed
    if has_messages:
        chats = doc.select(pl.struct(list(_CHAT_FIELDS)).alias("chat"))
    elif has_chats:
        empty = pl.lit([], dtype=pl.List(_CHAT))
        chats = doc.select(
            pl.concat_list(
                pl.col("chats").struct.field("list").fill_null(empty),
                pl.col("left_chats").struct.field("list").fill_null(empty),
            ).alias("chat")
        ).explode("chat", keep_nulls=False)
    else:
        return None
    chats = chats.unnest("chat").rename({"id": "chat_id", "name": "chat_name", "type": "chat_type"})
    flat = chats.explode("messages", keep_nulls=False).unnest("messages")
    return flat.select(list(_FLAT_SCHEMA)).cast(pl.Schema(_FLAT_SCHEMA))


def _needs_legacy(flat: pl.DataFrame) -> bool:
    """True when some message has no ``text_entities`` (an export by an old version)."""
    missing = flat.select(
        (
            pl.col("text_entities").is_null()
            & pl.col("type").fill_null("message").is_in(["message"])
        ).any()
    ).item()
    return bool(missing)


def _legacy_messages(path: str, data: bytes) -> pl.DataFrame:
    """The flat message table through :mod:`json`: old exports and unusual field types.

    One pass in Python over the messages: ``text`` (a string, or a list mixing strings
    and entity objects) becomes ``text_entities``; scalar fields are converted to the
    types of :data:`_FLAT_SCHEMA` (numbers to strings and back). A message that is not a
    JSON object becomes a row of type ``"(not an object)"`` (a reject).

    Raises
    ------
    InputError
        Not JSON, or JSON without a ``messages`` list or ``chats.list``.
    """
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise InputError(path, f"not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise InputError(
            path,
            f"not a Telegram Desktop export: the top level is a JSON {type(doc).__name__}, "
            "expected an object with 'messages' (one chat) or 'chats' (whole account)",
        )
    chats: list[dict[str, Any]] = []
    if "messages" in doc:
        if not isinstance(doc["messages"], list):
            raise InputError(path, "not a Telegram Desktop export: 'messages' is not a list",
                             field="messages")  # fmt: skip
        chats = [doc]
    elif isinstance(doc.get("chats"), dict) or isinstance(doc.get("left_chats"), dict):
        for section in ("chats", "left_chats"):
            block = doc.get(section)
            if block is None:
                continue
            listed = block.get("list") if isinstance(block, dict) else None
            if not isinstance(listed, list):
                raise InputError(
                    path, f"not a Telegram Desktop export: '{section}.list' is missing or "
                    "not a list", field=f"{section}.list",
                )  # fmt: skip
            chats.extend(c if isinstance(c, dict) else {} for c in listed)
    else:
        keys = ", ".join(f"'{k}'" for k in list(doc)[:8]) or "none"
        raise InputError(
            path,
            "not a Telegram Desktop export: no 'messages' list (single chat export) and no "
            f"'chats.list' (whole-account export); top-level keys: {keys}",
        )
    rows: list[dict[str, Any]] = []
    for chat in chats:  # one iteration per chat
        messages = chat.get("messages")
        if not isinstance(messages, list):
            continue
        head = {
            "chat_id": _as_int(chat.get("id")),
            "chat_name": _as_str(chat.get("name")),
            "chat_type": _as_str(chat.get("type")),
        }
        rows.extend(_legacy_row(head, m) for m in messages)  # compatibility path only
    return pl.DataFrame(rows, schema=_FLAT_SCHEMA)


def _legacy_row(head: dict[str, Any], message: Any) -> dict[str, Any]:
    """One message of an old export, in the shape of :data:`_FLAT_SCHEMA`."""
    row: dict[str, Any] = dict(head)
    if not isinstance(message, dict):
        row.update(dict.fromkeys(_MESSAGE_FIELDS))
        row["type"] = "(not an object)"
        return row
    for name, dtype in _MESSAGE_FIELDS.items():
        value = message.get(name)
        if name == "text_entities":
            continue
        row[name] = _as_int(value) if dtype == pl.Int64 else _as_str(value)
    entities = message.get("text_entities")
    if not isinstance(entities, list):
        entities = message.get("text", "")
        entities = [entities] if isinstance(entities, str) else entities
        if not isinstance(entities, list):
            entities = []
    row["text_entities"] = [_as_entity(part) for part in entities if part != ""]
    return row


def _as_entity(part: Any) -> dict[str, Any]:
    if isinstance(part, dict):
        return {
            "type": _as_str(part.get("type")),
            "text": _as_str(part.get("text")) or "",
            "href": _as_str(part.get("href")),
            "user_id": _as_int(part.get("user_id")),
        }
    return {"type": "plain", "text": _as_str(part) or "", "href": None, "user_id": None}


def _as_str(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None


def _stage(flat: pl.DataFrame, path: str) -> pl.DataFrame:
    """Map the flat message table to staged canonical columns (vectorized)."""
    chat = pl.col("chat_id").cast(pl.String)
    mtype = pl.col("type").fill_null("message")
    forwarded = pl.col("forwarded_from").is_not_null() | pl.col("forwarded_from_id").is_not_null()
    replied = pl.col("reply_to_message_id").is_not_null()
    peer = pl.col("reply_to_peer_id").str.strip_chars().str.replace(_PEER_PREFIX_RE, "")
    reply_object = (
        pl.coalesce(peer.replace("", None), chat)
        + pl.lit(":")
        + pl.col("reply_to_message_id").cast(pl.String)
    )
    forward_object = pl.coalesce(
        pl.col("forwarded_from_id").str.strip_chars().replace("", None),
        pl.lit(NAME_PREFIX) + pl.col("forwarded_from"),
    )
    # list.eval with .filter (not when/then + drop_nulls, several times slower)
    ents = pl.col("text_entities")
    etype = pl.element().struct.field("type")
    etext = pl.element().struct.field("text")
    href = pl.element().struct.field("href")
    user_id = pl.element().struct.field("user_id")
    urls = ents.list.eval(pl.coalesce(href, etext).filter(etype.is_in(["link", "text_link"])))
    hashtags = ents.list.eval(etext.filter(etype == "hashtag"))
    mentions = ents.list.eval(
        pl.coalesce(pl.lit("user") + user_id.cast(pl.String), etext).filter(
            etype.is_in(["mention", "mention_name"])
        )
    )
    media = pl.concat_list(pl.col("photo"), pl.col("file")).list.eval(
        pl.element().filter(
            pl.element().is_not_null() & ~pl.element().str.starts_with(_PLACEHOLDER_START)
        )
    )
    reject = (
        pl.when(mtype == "service")
        .then(pl.lit("service message (") + pl.col("action").fill_null("unknown") + pl.lit(")"))
        .when(mtype == "unsupported")
        .then(pl.lit("unsupported message (Telegram Desktop exported no content)"))
        .when(mtype == "(not an object)")
        .then(pl.lit("message is not a JSON object"))
        .when(mtype != "message")
        .then(pl.lit("field 'type': unknown message type '") + mtype.str.slice(0, 40) + "'")
    )
    return flat.select(
        pl.lit(path, dtype=pl.String).alias(SOURCE),
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(RECORD),
        reject.alias(REJECT),
        (chat + pl.lit(":") + pl.col("id").cast(pl.String)).alias(EVENT_ID),
        pl.lit(FORMAT).alias(PLATFORM),
        pl.col("from_id").str.strip_chars().alias(ACTOR_ID),
        pl.col("from").alias(ACTOR_NAME),
        pl.coalesce(
            pl.col("date_unixtime").str.strip_chars().replace("", None), pl.col("date")
        ).alias(TS),
        pl.when(forwarded)
        .then(pl.lit("forward"))
        .when(replied)
        .then(pl.lit("reply"))
        .otherwise(pl.lit("post"))
        .alias(KIND),
        pl.when(forwarded).then(forward_object).when(replied).then(reply_object).alias(OBJECT_ID),
        ents.list.eval(etext).list.join("").alias(TEXT),
        urls.alias(URLS),
        hashtags.alias(HASHTAGS),
        mentions.alias(MENTIONS),
        media.alias(MEDIA),
        chat.alias(CHANNEL),
        pl.col("chat_name").alias("x_chat_name"),
        pl.col("chat_type").alias("x_chat_type"),
        pl.col("media_type").alias("x_media_type"),
    )


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------

#: Chat ids given to channels that are not numbers (and to events without a channel).
_ASSIGNED_CHAT_BASE: Final = 1_000_000_000
#: Message ids given to replies whose target is not in the data (hashed).
_HASHED_MESSAGE_BASE: Final = 2_000_000_000
_EVENT_ID_RE: Final = r"^(-?\d+):(\d+)$"
_URL_TOKEN: Final = r"https?://[^\s<>\"]*[^\s<>\".,;:!?)\]}']"
_TOKEN_RE: Final = _URL_TOKEN + r"|#\w+|@\w+"
_SEP: Final = "\x00"
_ABOUT: Final = (
    "Here is the data you requested. Remember: Telegram is ad free, it doesn't sell your "
    "data, and we don't use your data for ad targeting or any other commercial purposes."
)
_CHATS_ABOUT: Final = "This page lists all chats from this export."
_LEFT_ABOUT: Final = (
    "This page lists all supergroups and channels from this export that you've left."
)
#: Indentation of a message's fields in a single chat export (Telegram Desktop: 3).
_MSG_INDENT: Final = 3
_IMAGE_RE: Final = r"(?i)\.(jpe?g|png|webp|gif|heic)$"


def write(events: pl.DataFrame, path: str) -> None:
    """Write canonical events as a Telegram Desktop JSON export (``result.json``).

    Events of one channel give a single chat export; events of several channels a
    whole-account export with one chat per channel in ``chats.list``. Layout, field names
    and order are Telegram Desktop's (one-space indentation, fields absent rather than
    null, ``text`` a string or a list mixing strings and entity objects, ``text_entities``
    always present). ``.gz`` paths are gzip-compressed.

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

    Cost ``O(n log n)`` (sorting), vectorized: no Python loop over events or chats; the
    file is written by polars, one message a chunk.
    """
    chunks = _render(events)
    chunks.write_csv(
        path,
        include_header=False,
        quote_style="never",
        compression="gzip" if str(path).endswith(".gz") else "uncompressed",
    )


def _json_str(expr: pl.Expr) -> pl.Expr:
    """JSON text of a String expression (``"..."`` escaped, ``null`` for null)."""
    encoded = pl.struct(expr.alias("v")).struct.json_encode()
    return encoded.str.slice(5).str.strip_suffix("}")


def _field(key: str, value: pl.Expr, indent: str) -> pl.Expr:
    """``<indent>"key": value`` (null when ``value`` is null, so the field is left out)."""
    return pl.lit(f'{indent}"{key}": ') + value


def _optional(key: str, column: str, indent: str) -> pl.Expr:
    """A string field that is left out (null) where ``column`` is null."""
    return pl.when(pl.col(column).is_not_null()).then(
        _field(key, _json_str(pl.col(column)), indent)
    )


def _prepare(events: pl.DataFrame) -> pl.DataFrame:
    """Chat ids, message ids, kinds and resolved objects of the events to write."""
    have = set(events.columns)
    chat_name_x = pl.col("x_chat_name") if "x_chat_name" in have else pl.lit(None, pl.String)
    chat_type_x = pl.col("x_chat_type") if "x_chat_type" in have else pl.lit(None, pl.String)
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
        chat_name_x.cast(pl.String).alias("x_chat_name"),
        chat_type_x.cast(pl.String).alias("x_chat_type"),
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
    """Forward sources and reply targets of the events (joins, no loop)."""
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


def _entities(ev: pl.DataFrame, *, indent: int = _MSG_INDENT, fast: bool = True) -> pl.DataFrame:
    """``_text_json`` and ``_entities_json`` (JSON text) of every row (``_row``) of ``ev``.

    Rows without URLs, hashtags or mentions are one plain part (the text as it is).
    Rows with list items are built by rewriting the JSON-encoded text
    (:func:`_fast_entities`), except for rare ones (a backslash in the text, a quote in
    an item, a link of the text that is a listed URL only once normalised) that go
    through the general :func:`_split_parts` (explode, joins, merge of plain runs).
    Both give the same result; ``fast=False`` sends every row with items the general
    way. ``indent`` is the indentation of the message's fields (the JSON spans several
    lines, laid out as Telegram Desktop does).
    """
    element = pl.element()
    # the marker characters are never in a text (replaced by spaces)
    text = pl.col(TEXT).fill_null("").str.replace_all(r"[\x00-\x02]", " ")
    rows = ev.select(
        "_row",
        text.alias("_text"),
        pl.col(URLS).fill_null([]),
        pl.col(HASHTAGS).fill_null([]),
        pl.col(MENTIONS).fill_null([]),
        # typed keys of the items: URLs as written, #hashtag, @mention
        pl.col(HASHTAGS).fill_null([]).list.eval(pl.lit("#") + element).alias("_h"),
        pl.col(MENTIONS).fill_null([]).list.eval(pl.lit("@") + element).alias("_m"),
    )
    # typed keys of the text's tokens: hashtags and mentions lower-cased, URLs as written
    token_key = (
        pl.when(element.str.starts_with("h")).then(element).otherwise(element.str.to_lowercase())
    )
    rows = rows.with_columns(
        pl.col("_text").str.extract_all(_TOKEN_RE).list.eval(token_key).alias("_tokens")
    )
    n_items = pl.col(URLS).list.len() + pl.col(HASHTAGS).list.len() + pl.col(MENTIONS).list.len()
    has_items = n_items > 0
    unlisted = (
        pl.col("_tokens").list.set_difference(URLS).list.set_difference("_h")
    ).list.set_difference("_m")
    all_listed = unlisted.list.len() == 0
    joined_items = pl.concat_str([pl.col(c).list.join("") for c in (URLS, HASHTAGS, MENTIONS)])
    plain_chars = ~pl.col("_text").str.contains("\\", literal=True) & ~joined_items.str.contains(
        r'[\\"\x00-\x1f]'
    )
    ind = "\n" + " " * indent
    empty = pl.col("_text") == ""
    simple = rows.filter(~has_items).select(
        "_row",
        pl.when(empty).then(pl.lit('""')).otherwise(_json_str(pl.col("_text"))).alias("_text_json"),
        pl.when(empty)
        .then(pl.lit("[]"))
        .otherwise(
            pl.lit("[" + ind + " ")
            + _entity_json(pl.lit("plain"), pl.col("_text"), ind)
            + pl.lit(ind + "]")
        )
        .alias("_entities_json"),
    )
    if fast:
        # a link of the text that matches a listed URL only once normalised is an
        # entity where it stands: such rows take the general path (it normalises)
        rows = rows.with_columns(unlisted.alias("_unlisted"))
        links = (
            rows.filter(has_items & ~all_listed & plain_chars)
            .select("_row", pl.col("_unlisted").alias("_key"))
            .explode("_key", keep_nulls=False)
            .filter(pl.col("_key").str.starts_with("h"))
        )
        listed_urls = (
            rows.filter(pl.col("_row").is_in(links["_row"].implode()))
            .select("_row", pl.col(URLS).alias("_key"))
            .explode("_key", keep_nulls=False)
        )
        # only a link with the host of a listed URL can normalise to it (cheap test)
        host = (
            pl.col("_key")
            .str.extract(r"(?i)^[a-z][a-z0-9+.\-]*://(?:www\.)?([^/?#:@]*)", 1)
            .str.to_lowercase()
        )
        candidates = links.with_columns(host.alias("_host")).join(
            listed_urls.with_columns(host.alias("_host")).select("_row", "_host").unique(),
            on=["_row", "_host"],
            how="semi",
        )
        renamed = candidates.select(
            "_row", normalize_urls(pl.concat_list(pl.col("_key"))).list.first().alias("_key")
        )
        retry = renamed.join(listed_urls, on=["_row", "_key"], how="semi")["_row"]
        easy = has_items & plain_chars & ~pl.col("_row").is_in(retry.implode())
        quick, leftover = _fast_entities(rows.filter(easy), ind)
        rest = pl.concat([rows.filter(has_items & ~easy), leftover], how="diagonal_relaxed")
    else:
        quick = simple.clear()
        rest = rows.filter(has_items)
    merged = _split_parts(rest)
    plain = pl.col("_type") == "plain"
    obj = _entity_json(pl.col("_type"), pl.col("_part"), ind)
    entity_sep = "," + ind + " "
    per_row = (
        merged.with_columns(
            obj.alias("_obj"),
            pl.when(plain).then(_json_str(pl.col("_part"))).otherwise(obj).alias("_mixed"),
        )
        .group_by("_row")
        .agg(
            pl.len().alias("_n"),
            pl.col("_type").first().alias("_first_type"),
            pl.col("_part").first().alias("_first_part"),
            pl.col("_obj"),
            pl.col("_mixed"),
        )
        .with_columns(  # list.join after the group_by: twice as fast as agg(str.join)
            pl.col("_obj").list.join(entity_sep).alias("_objs"),
            pl.col("_mixed").list.join(entity_sep).alias("_mix"),
        )
    )
    single_plain = (pl.col("_n") == 1) & (pl.col("_first_type") == "plain")
    listed = per_row.select(
        "_row",
        pl.when(single_plain)
        .then(_json_str(pl.col("_first_part")))
        .otherwise(pl.lit("[" + ind + " ") + pl.col("_mix") + pl.lit(ind + "]"))
        .alias("_text_json"),
        (pl.lit("[" + ind + " ") + pl.col("_objs") + pl.lit(ind + "]")).alias("_entities_json"),
    )
    return pl.concat([simple, quick, listed])


def _entity_json(kind: pl.Expr, text: pl.Expr, ind: str) -> pl.Expr:
    """One ``{"type": ..., "text": ...}`` object, laid out as Telegram Desktop does."""
    return (
        pl.lit("{" + ind + '  "type": ')
        + _json_str(kind)
        + pl.lit("," + ind + '  "text": ')
        + _json_str(text)
        + pl.lit(ind + " }")
    )


#: Markers around a token in :func:`_fast_entities`, and how :func:`_json_str` writes
#: them (as regexes).
_OPEN: Final = "\x00"
_CLOSE: Final = "\x01"
_TYPE: Final = "\x02"
_OPEN_RE: Final = r"\\u0000"
_CLOSE_RE: Final = r"\\u0001"
_TYPE_RE: Final = r"\\u0002"
#: Entity types of the tokens, in the order of the groups of the marking regexes.
_KINDS: Final = ("link", "hashtag", "mention")


def _mark(kind: str, token: str) -> str:
    """A token wrapped in markers that carry its entity type."""
    return _OPEN + kind + _TYPE + token + _CLOSE


def _fast_entities(rows: pl.DataFrame, ind: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Text and entity JSON of rows with list items, by string rewriting, row-wise.

    The text, with its tokens that are list items and the list items missing from it
    (appended after a space each) wrapped in markers (``\x00`` before, ``\x01``
    after), is JSON-encoded once; a few regex replacements then turn each marked token
    into its entity object and the plain runs between them into strings (``text``) or
    plain objects (``text_entities``); tokens that are not list items stay in the plain
    text. This gives the same parts as :func:`_split_parts`.

    Which tokens to mark is decided per row and per kind (links; hashtags and
    mentions): all of a kind or none of it, so that one regex per case marks them
    (e.g. a tweet's ``t.co`` link is not a list item while its hashtags are). Rows
    where a kind is partly listed are returned as the second frame, for the general
    path. The caller only sends rows whose text has no backslash and whose items hold
    no backslash, quote or control character, so markers cannot be confused with
    text, and no row where a link matches a listed URL only once normalised.
    """
    element = pl.element()
    is_link = element.str.starts_with("h")
    rows = rows.with_columns(
        pl.col("_tokens").list.eval(element.filter(is_link)).alias("_lt"),
        pl.col("_tokens").list.eval(element.filter(~is_link)).alias("_tt"),
    )
    links, tags = pl.col("_lt"), pl.col("_tt")
    links_all = links.list.set_difference(URLS).list.len() == 0
    links_none = links.list.set_intersection(URLS).list.len() == 0
    tags_all = tags.list.set_difference("_h").list.set_difference("_m").list.len() == 0
    tags_none = (
        tags.list.set_intersection("_h").list.len() + tags.list.set_intersection("_m").list.len()
    ) == 0
    mode = (
        pl.when(links_all & tags_all)
        .then(pl.lit("both"))
        .when(links_all & tags_none)
        .then(pl.lit("links"))
        .when(links_none & tags_all)
        .then(pl.lit("tags"))
        .when(links_none & tags_none)
        .then(pl.lit("none"))
    )
    rows = rows.with_columns(mode.alias("_mode"))
    leftover = rows.filter(pl.col("_mode").is_null()).drop("_lt", "_tt", "_mode")
    rows = rows.filter(pl.col("_mode").is_not_null())
    # the listed tokens marked with their type, one regex per case; the markers of the
    # groups that did not match (empty) are dropped
    three = "(" + _URL_TOKEN + r")|(#\w+)|(@\w+)"
    two = "(" + _URL_TOKEN + r")|(#\w+|@\w+)"
    link, hashtag, mention = (_mark(k, f"${{{i}}}") for i, k in enumerate(_KINDS, 1))
    replacements = {
        "both": (three, link + hashtag + mention),
        "links": (two, link + "${2}"),
        "tags": (three, "${1}" + hashtag + mention),
    }
    empty = pl.col("_text")
    for kind in _KINDS:
        empty = empty.str.replace_all(_mark(kind, ""), "", literal=True)
    marked = pl.concat(
        [
            rows.filter(pl.col("_mode") == case).with_columns(
                pl.col("_text").str.replace_all(*replacements[case])
            )
            for case in replacements
        ]
    ).with_columns(empty)
    marked = pl.concat([marked, rows.filter(pl.col("_mode") == "none")])
    suffix = _missing_suffix(marked)
    marked = marked.join(suffix, on="_row", how="left", maintain_order="left").select(
        "_row", _json_str(pl.col("_text") + pl.col("_suffix").fill_null("")).alias("_enc")
    )
    sep = "," + ind + " "
    plain_open = "{" + ind + '  "type": "plain",' + ind + '  "text": '
    close = ind + " }"

    entity = "{" + ind + '  "type": "${1}",' + ind + '  "text": "${2}"' + ind + " }"
    token = _OPEN_RE + r"(\w+)" + _TYPE_RE + r"([^\\]*)" + _CLOSE_RE
    mixed = pl.col("_enc").str.replace_all(token, '"' + sep + entity + sep + '"')
    objects = (pl.lit(plain_open) + pl.col("_enc") + pl.lit(close)).str.replace_all(
        token, '"' + close + sep + entity + sep + plain_open + '"'
    )
    empty_plain = plain_open + '""' + close
    mixed = (
        mixed.str.strip_prefix('""' + sep)
        .str.strip_suffix(sep + '""')
        .str.replace_all(sep + '""' + sep, sep, literal=True)
    )
    objects = (
        objects.str.strip_prefix(empty_plain + sep)
        .str.strip_suffix(sep + empty_plain)
        .str.replace_all(sep + empty_plain + sep, sep, literal=True)
    )
    done = marked.select(
        "_row",
        (pl.lit("[" + ind + " ") + mixed + pl.lit(ind + "]")).alias("_text_json"),
        (pl.lit("[" + ind + " ") + objects + pl.lit(ind + "]")).alias("_entities_json"),
    )
    return done, leftover


def _missing_suffix(rows: pl.DataFrame) -> pl.DataFrame:
    """``(_row, _suffix)``: list items missing from the text, marked, each after a space.

    Items are in list order (URLs, then hashtags, then mentions), without repeats. Per
    list a ``set_difference`` does it when at most one item is missing (its order is not
    the list's in general); lists missing more go through a per-row filter.
    """
    element = pl.element()
    tokens = element.filter(element.str.starts_with("T")).str.slice(1).implode()
    pieces = []
    for column, kind in zip((URLS, "_h", "_m"), _KINDS, strict=True):
        prefix = _OPEN + kind + _TYPE
        missing = pl.col(column).list.set_difference("_tokens")
        ordered = pl.concat_list(
            pl.col("_tokens").list.eval(pl.lit("T") + element),
            pl.col(column).list.eval(pl.lit("I") + element),
        ).list.eval(
            element.filter(element.str.starts_with("I") & ~element.str.slice(1).is_in(tokens))
            .str.slice(1)
            .unique(maintain_order=True)
        )
        part = rows.select("_row", missing.alias("_missing")).filter(
            pl.col("_missing").list.len() > 0
        )
        several = part.filter(pl.col("_missing").list.len() > 1)["_row"]
        if several.len():
            fixed = rows.filter(pl.col("_row").is_in(several.implode())).select(
                "_row", ordered.alias("_ordered")
            )
            part = part.join(fixed, on="_row", how="left", maintain_order="left").select(
                "_row", pl.coalesce(pl.col("_ordered"), pl.col("_missing")).alias("_missing")
            )
        pieces.append(
            part.select(
                "_row",
                (
                    pl.lit(" " + prefix)
                    + pl.col("_missing").list.join(_CLOSE + " " + prefix)
                    + pl.lit(_CLOSE)
                ).alias("_piece"),
            )
        )
    suffix = rows.select("_row")
    for i, piece in enumerate(pieces):
        suffix = suffix.join(
            piece.rename({"_piece": f"_piece{i}"}), on="_row", how="left", maintain_order="left"
        )
    return suffix.select(
        "_row",
        pl.concat_str([f"_piece{i}" for i in range(len(pieces))], ignore_nulls=True).alias(
            "_suffix"
        ),
    )


def _split_parts(rows: pl.DataFrame) -> pl.DataFrame:
    """Text parts ``(_row, _type, _part)`` of rows with list items, in order.

    1. The text is cut at URL, ``#hashtag`` and ``@mention`` tokens (even positions are
       plain text, odd positions tokens); a token is an entity only when it is one of
       the row's list items (:func:`_mark_listed`), else it stays plain text.
    2. List items not in the text are appended, each after a space.
    3. Consecutive plain parts are merged into one (only rows that have some).
    """
    parts = (
        rows.select(
            "_row",
            pl.col("_text")
            .str.replace_all(_TOKEN_RE, _SEP + "${0}" + _SEP)
            .str.split(_SEP)
            .alias("_part"),
        )
        .with_columns(pl.int_ranges(0, pl.col("_part").list.len()).alias("_pos"))
        .explode(["_part", "_pos"], keep_nulls=False)
        .filter(pl.col("_part") != "")
    )
    token = (pl.col("_pos") % 2) == 1
    first = pl.col("_part").str.slice(0, 1)
    ptype = (
        pl.when(~token)
        .then(pl.lit("plain"))
        .when(first == "#")
        .then(pl.lit("hashtag"))
        .when(first == "@")
        .then(pl.lit("mention"))
        .otherwise(pl.lit("link"))
    )
    parts = parts.with_columns(ptype.alias("_type"), token.alias("_token")).with_columns(
        _cheap_key("_part")
    )
    items = pl.concat(
        [
            rows.select("_row", pl.col(col).alias("_item"), pl.lit(kind).alias("_type"))
            .with_columns(pl.int_ranges(0, pl.col("_item").list.len()).alias("_ipos"))
            .explode(["_item", "_ipos"], keep_nulls=False)
            .with_columns(pl.lit(order, dtype=pl.Int64).alias("_list"))
            for order, (col, kind) in enumerate(
                ((URLS, "link"), (HASHTAGS, "hashtag"), (MENTIONS, "mention"))
            )
        ]
    ).with_columns(_cheap_key("_item"))
    parts = _mark_listed(parts, items).with_columns(
        pl.when(pl.col("_token") & pl.col("_listed"))
        .then(pl.col("_type"))
        .otherwise(pl.lit("plain"))
        .alias("_type"),
        pl.lit(0, dtype=pl.Int64).alias("_block"),
        pl.col("_pos").cast(pl.Int64),
    )
    found = parts.filter(pl.col("_type") != "plain").select("_row", "_type", "_key")
    extra = (
        items.join(found, on=["_row", "_type", "_key"], how="anti", maintain_order="left")
        .unique(["_row", "_type", "_key"], keep="first", maintain_order=True)
        .with_columns(
            pl.when(pl.col("_type") == "hashtag")
            .then(pl.lit("#") + pl.col("_item").str.strip_chars_start("#"))
            .when(pl.col("_type") == "mention")
            .then(pl.lit("@") + pl.col("_item").str.strip_chars_start("@"))
            .otherwise(pl.col("_item"))
            .alias("_part"),
            (pl.col("_list") * 1_000_000 + pl.col("_ipos").cast(pl.Int64)).alias("_order"),
        )
    )
    block = pl.lit(1, dtype=pl.Int64).alias("_block")
    allparts = pl.concat(
        [
            parts.select("_row", "_part", "_type", "_block", "_pos"),
            extra.select("_row", pl.lit(" ").alias("_part"), pl.lit("plain").alias("_type"),
                         block, (pl.col("_order") * 2).alias("_pos")),
            extra.select("_row", "_part", "_type", block, (pl.col("_order") * 2 + 1).alias("_pos")),
        ]
    ).sort(["_row", "_block", "_pos"])  # fmt: skip
    plain = pl.col("_type") == "plain"
    same_row = pl.col("_row") == pl.col("_row").shift(1)
    joins_previous = (plain & plain.shift(1) & same_row).fill_null(False)
    allparts = allparts.with_columns(joins_previous.alias("_join"))
    to_merge = allparts.filter(pl.col("_join")).select("_row").unique()
    keep = allparts.join(to_merge, on="_row", how="anti", maintain_order="left")
    # the frame is sorted by row: a run id is a global cumulative sum, no window per row
    merged = (
        allparts.join(to_merge, on="_row", how="semi", maintain_order="left")
        .with_columns((~pl.col("_join")).cum_sum().alias("_run"))
        .group_by("_run", maintain_order=True)
        .agg(pl.col("_row").first(), pl.col("_type").first(), pl.col("_part").str.join(""))
    )
    return pl.concat(
        [keep.select("_row", "_type", "_part"), merged.select("_row", "_type", "_part")]
    ).sort("_row", maintain_order=True)


def _cheap_key(value: str) -> pl.Expr:
    """``_key`` of a URL, hashtag or mention without URL normalisation.

    Hashtags and mentions are lower-cased without ``#``/``@`` (as the reader does); URLs
    are only stripped: list items are canonical, hence already normalised, and a URL of
    the text that differs from its normalised form is matched by :func:`_mark_listed`.
    """
    item = pl.col(value).str.strip_chars()
    tag = item.str.strip_chars_start("#＃@＠").str.to_lowercase()
    return pl.when(pl.col("_type") == "link").then(item).otherwise(tag).alias("_key")


def _mark_listed(parts: pl.DataFrame, items: pl.DataFrame) -> pl.DataFrame:
    """Add ``_listed``: the part is a token that is one of its row's list items.

    Tokens are first compared as written; only link tokens that match nothing are
    normalised (the costly step) and compared again, so that
    ``https://Example.com/a?utm_source=x`` in a text matches ``https://example.com/a``
    (their ``_key`` becomes the normalised one). Only token rows are joined.
    """
    keys = ["_row", "_type", "_key"]
    listed = items.select(keys).unique()
    parts = parts.with_row_index("_k")
    tokens = parts.filter(pl.col("_token")).select("_k", *keys)
    hit = tokens.join(listed, on=keys, how="semi")["_k"]
    retry = tokens.filter((pl.col("_type") == "link") & ~pl.col("_k").is_in(hit.implode())).select(
        "_k",
        "_row",
        "_type",
        normalize_urls(pl.concat_list(pl.col("_key"))).list.first().alias("_key"),
    )
    again = retry.join(listed, on=keys, how="semi").select("_k", pl.col("_key").alias("_key2"))
    marked = pl.concat([hit, again["_k"]]).implode()
    parts = parts.with_columns(pl.col("_k").is_in(marked).alias("_listed"))
    if again.height:
        parts = parts.join(again, on="_k", how="left", maintain_order="left").with_columns(
            pl.coalesce(pl.col("_key2"), pl.col("_key")).alias("_key")
        )
        parts = parts.drop("_key2")
    return parts.drop("_k")


def _render(events: pl.DataFrame) -> pl.DataFrame:
    """The ``result.json`` text of the events as one String column of chunks.

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
    texts = _entities(ev, indent=base + 1)
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
        _field("from", _json_str(pl.col(ACTOR_NAME)), ind),
        _field("from_id", _json_str(pl.col(ACTOR_ID)), ind),
        _optional("forwarded_from", "_fwd_name", ind),
        _optional("forwarded_from_id", "_fwd_id", ind),
        _field("reply_to_message_id", pl.col("_reply_msg").cast(pl.String), ind),
        _optional("reply_to_peer_id", "_reply_peer", ind),
        _field("photo", pl.when(is_image).then(_json_str(media0)), ind),
        _field("file", pl.when(~is_image & media0.is_not_null()).then(_json_str(media0)), ind),
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
        + _json_str(pl.col("_chat_name"))
        + pl.lit(",\n" + cind + '"type": ')
        + _json_str(pl.col("_chat_type"))
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
    """Text before the first chat and after the last one."""
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
