"""Telegram Desktop "Export chat history" in JSON (``result.json``).

Two shapes are read, both written by Telegram Desktop's JSON exporter:

- a **single chat** export: ``{"name", "type", "id", "messages": [...]}``;
- a **whole-account** export: ``{"about", "personal_information", ...,
  "chats": {"about", "list": [chat, ...]}, "left_chats": {"about", "list": [...]}}``, where
  every chat has the shape of a single chat export. Chats of ``chats.list`` come first,
  then those of ``left_chats.list``.

Mapping of a message to the canonical event (:data:`coordscope.schema.EVENT_SCHEMA`):

==================  ==============================================================
canonical           Telegram
==================  ==============================================================
``event_id``        ``"{chat id}:{message id}"`` (message ids are unique per chat only)
``platform``        ``telegram``
``actor_id``        ``from_id`` as written (``"user123"``, ``"channel123"``; older
                    exports write a bare number, kept as it is so that ids written by
                    :func:`coordscope.datasets.writers.telegram.write` read back
                    unchanged)
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
                    type, ``x_media_type`` the message's ``media_type``,
                    ``x_mention_names`` the text of ``mention_name`` entities (the
                    display name a mention of an account without a username shows)
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

from coordscope.datasets._io import ReadLimits, read_document
from coordscope.datasets._stage import RECORD, REJECT, SOURCE, Staged
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

__all__ = ["CHAT_TYPES", "FORMAT", "NAME_PREFIX", "read", "sniff"]

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
    """Tell whether ``head`` (the first 64 KiB of a file) looks like a Telegram JSON export.

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


def read(
    path: str, *, mapping: Mapping[str, str] | None = None, limits: ReadLimits | None = None
) -> Staged:
    """Read a Telegram Desktop ``result.json`` into staged rows, one per message.

    Parameters
    ----------
    path : str
        The export (plain, gzip or zstd).
    mapping : mapping, optional
        Ignored: the fields of a Telegram export are fixed.
    limits : ReadLimits, optional
        Decompression guard (the document is read whole, see Notes).

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
    docstring). An export is one JSON document, which neither polars nor the standard
    library parse in pieces, so it is read whole: memory grows with the size of the
    document, not with ``limits.piece_bytes`` (decompression stays guarded).
    """
    del mapping
    data = read_document(path, limits=limits)
    flat = _read_polars(data)
    if flat is None or _needs_legacy(flat):
        flat = _legacy_messages(path, data)
    notes = {"telegram_messages": flat.height}
    return Staged([_stage(flat, path)], format=FORMAT, notes=notes)


def _read_polars(data: bytes) -> pl.DataFrame | None:
    """Read the flat message table with polars' JSON reader; None when it cannot.

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
    """Tell whether some message has no ``text_entities`` (an export by an old version)."""
    missing = flat.select(
        (
            pl.col("text_entities").is_null()
            & pl.col("type").fill_null("message").is_in(["message"])
        ).any()
    ).item()
    return bool(missing)


def _legacy_messages(path: str, data: bytes) -> pl.DataFrame:
    """Read the flat message table through :mod:`json`: old exports, unusual field types.

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
    except RecursionError:
        raise InputError(path, "not readable: JSON nested too deeply") from None
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
        ents.list.eval(etext.filter(etype == "mention_name")).alias("x_mention_names"),
    )
