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
``actor_id``        ``from_id`` (``"user123"``, ``"channel123"``; a bare number, as in
                    exports before 2021, becomes ``"user{number}"``)
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
of ``{type, text, href?, user_id?}`` objects, which Telegram Desktop writes for every
message since 2021. Older exports have no ``text_entities`` (and no ``date_unixtime``);
for those, and for files whose fields have types the schema does not expect, the
document is parsed once with :mod:`json` and each message is brought to the same shape
with one pass in Python (:func:`_legacy_messages`): a compatibility path for old exports,
not the path of current ones.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from collections.abc import Mapping
from pathlib import Path
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

__all__ = ["FORMAT", "read", "sniff", "write"]

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
_SNIFF_ACCOUNT: Final = re.compile(r'^\s*\{\s*"about"\s*:\s*"(?:[^"\\]|\\.)*"\s*,\s*"(personal_information|profile_pictures|contacts|frequent_contacts|chats|left_chats|sessions|other_data)"\s*:')  # noqa: E501

#: Placeholder Telegram Desktop writes instead of a path for files it did not download.
_PLACEHOLDER_RE: Final = r"^\(.*\)$"
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
    has_chats = doc["chats"].is_not_null().item() or doc["left_chats"].is_not_null().item()
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
    chats = chats.unnest("chat").rename(
        {"id": "chat_id", "name": "chat_name", "type": "chat_type"}
    )
    flat = chats.explode("messages", keep_nulls=False).unnest("messages")
    return flat.select(list(_FLAT_SCHEMA)).cast(_FLAT_SCHEMA)


def _needs_legacy(flat: pl.DataFrame) -> bool:
    """True when some message has no ``text_entities`` (an export from before 2021)."""
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
    return pl.DataFrame(rows, schema=_FLAT_SCHEMA, orient="row" if not rows else None)


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
    reply_object = pl.coalesce(peer.replace("", None), chat) + pl.lit(":") + pl.col(
        "reply_to_message_id"
    ).cast(pl.String)
    forward_object = pl.coalesce(
        pl.col("forwarded_from_id").str.strip_chars().replace("", None),
        pl.lit(NAME_PREFIX) + pl.col("forwarded_from"),
    )
    from_id = pl.col("from_id").str.strip_chars()
    actor = pl.when(from_id.str.contains(r"^\d+$")).then(pl.lit("user") + from_id).otherwise(
        from_id
    )
    ents = pl.col("text_entities")
    etype = pl.element().struct.field("type")
    etext = pl.element().struct.field("text")
    urls = ents.list.eval(
        pl.when(etype == "text_link")
        .then(pl.element().struct.field("href"))
        .when(etype == "link")
        .then(etext)
    ).list.drop_nulls()
    hashtags = ents.list.eval(pl.when(etype == "hashtag").then(etext)).list.drop_nulls()
    mentions = ents.list.eval(
        pl.when(etype == "mention")
        .then(etext)
        .when(etype == "mention_name")
        .then(
            pl.lit("user") + pl.element().struct.field("user_id").cast(pl.String)
        )
    ).list.drop_nulls()
    media = (
        pl.concat_list(pl.col("photo"), pl.col("file"))
        .list.eval(pl.element().filter(~pl.element().str.contains(_PLACEHOLDER_RE)))
        .list.drop_nulls()
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
        actor.alias(ACTOR_ID),
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
    - ``forward`` and ``repost`` become forwards: ``forwarded_from`` is the source's name
      and ``forwarded_from_id`` its id (the author of the forwarded event when the
      ``object_id`` is an event of the data, else the ``object_id``; a
      ``"name:..."`` object gives the name only); ``reply``, ``comment`` and ``quote``
      become replies (``reply_to_message_id``, plus ``reply_to_peer_id`` for a message
      of another chat; targets not in the data get a stable hashed message id); other
      kinds are plain messages;
    - URLs, hashtags and mentions found in the text become ``link``/``hashtag``/
      ``mention`` entities where they are in the event's lists; list items not in the
      text are appended to it, each after a space; the first media item becomes
      ``photo`` (an image path) or ``file``.

    Cost ``O(n log n)`` (sorting), vectorized.
    """
    doc = _render(events)
    raw = doc.encode("utf-8")
    out = Path(path)
    if str(path).endswith(".gz"):
        raw = gzip.compress(raw, mtime=0)
    out.write_bytes(raw)


def _json_str(expr: pl.Expr) -> pl.Expr:
    """JSON text of a String expression (``"..."`` escaped, ``null`` for null)."""
    encoded = pl.struct(expr.alias("v")).struct.json_encode()
    return encoded.str.slice(5).str.strip_suffix("}")


def _field(key: str, value: pl.Expr, indent: str) -> pl.Expr:
    """``<indent>"key": value`` (null when ``value`` is null, so the field is left out)."""
    return pl.lit(f'{indent}"{key}": ') + value


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
        pl.col(ACTOR_ID).alias("_src_actor"),
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
    fwd_id = pl.when(named).then(None).otherwise(
        pl.coalesce(pl.col("_src_actor"), pl.col(OBJECT_ID))
    )
    target = pl.col(OBJECT_ID).str.extract_groups(_EVENT_ID_RE)
    hashed = (
        pl.col(OBJECT_ID).hash(seed=0) % 1_000_000_000
    ).cast(pl.Int64) + _HASHED_MESSAGE_BASE
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


def _entities(ev: pl.DataFrame) -> pl.DataFrame:
    """``_text_json`` and ``_entities_json`` of every row (``_row``) of ``ev``."""
    rows = ev.select(
        "_row",
        pl.col(TEXT).fill_null("").str.replace_all(_SEP, " ", literal=True).alias("_text"),
        URLS,
        HASHTAGS,
        MENTIONS,
    )
    # 1. the text split into parts: even positions plain text, odd positions tokens
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
    parts = _with_key(parts.with_columns(ptype.alias("_type")), "_part")
    # 2. the events' own list items, with the same keys
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
    )
    items = _with_key(items, "_item")
    listed = items.select("_row", "_type", "_key").unique()
    parts = parts.join(
        listed.with_columns(pl.lit(True).alias("_listed")),
        on=["_row", "_type", "_key"],
        how="left",
        maintain_order="left",
    ).with_columns(
        pl.when(token & pl.col("_listed").fill_null(False))
        .then(pl.col("_type"))
        .otherwise(pl.lit("plain"))
        .alias("_type"),
        pl.lit(0, dtype=pl.Int64).alias("_block"),
        pl.col("_pos").cast(pl.Int64),
    )
    # 3. items not in the text are appended, each after a space
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
    extra = pl.concat(
        [
            extra.select(
                "_row", pl.lit(" ").alias("_part"), pl.lit("plain").alias("_type"),
                pl.lit(1, dtype=pl.Int64).alias("_block"), (pl.col("_order") * 2).alias("_pos"),
            ),
            extra.select(
                "_row", "_part", "_type", pl.lit(1, dtype=pl.Int64).alias("_block"),
                (pl.col("_order") * 2 + 1).alias("_pos"),
            ),
        ]
    )  # fmt: skip
    allparts = pl.concat(
        [parts.select("_row", "_part", "_type", "_block", "_pos"), extra]
    ).sort(["_row", "_block", "_pos"])
    # 4. runs of plain text merged into one part, as Telegram writes them (the frame is
    #    sorted by row, so a run id is a global cumulative sum: no window per row)
    plain = pl.col("_type") == "plain"
    same_row = pl.col("_row") == pl.col("_row").shift(1)
    joins_previous = (plain & plain.shift(1) & same_row).fill_null(False)
    merged = (
        allparts.with_columns((~joins_previous).cum_sum().alias("_run"))
        .group_by("_run", maintain_order=True)
        .agg(pl.col("_row").first(), pl.col("_type").first(), pl.col("_part").str.join(""))
    )
    ind = "\n" + " " * _MSG_INDENT
    obj = (
        pl.lit("{" + ind + '  "type": ')
        + _json_str(pl.col("_type"))
        + pl.lit("," + ind + '  "text": ')
        + _json_str(pl.col("_part"))
        + pl.lit(ind + " }")
    )
    merged = merged.with_columns(
        obj.alias("_obj"),
        pl.when(plain).then(_json_str(pl.col("_part"))).otherwise(obj).alias("_mixed"),
    )
    entity_sep = "," + ind + " "
    per_row = merged.group_by("_row", maintain_order=True).agg(
        pl.len().alias("_n"),
        pl.col("_type").first().alias("_first_type"),
        pl.col("_part").first().alias("_first_part"),
        pl.col("_obj").str.join(entity_sep).alias("_objs"),
        pl.col("_mixed").str.join(entity_sep).alias("_mix"),
    )
    single_plain = (pl.col("_n") == 1) & (pl.col("_first_type") == "plain")
    return (
        ev.select("_row")
        .join(per_row, on="_row", how="left", maintain_order="left")
        .select(
            "_row",
            pl.when(pl.col("_n").is_null())
            .then(pl.lit('""'))
            .when(single_plain)
            .then(_json_str(pl.col("_first_part")))
            .otherwise(pl.lit("[" + ind + " ") + pl.col("_mix") + pl.lit(ind + "]"))
            .alias("_text_json"),
            pl.when(pl.col("_n").is_null())
            .then(pl.lit("[]"))
            .otherwise(pl.lit("[" + ind + " ") + pl.col("_objs") + pl.lit(ind + "]"))
            .alias("_entities_json"),
        )
    )


#: Indentation of a message's fields in a single chat export (Telegram Desktop: 3).
_MSG_INDENT: Final = 3


def _with_key(frame: pl.DataFrame, value: str) -> pl.DataFrame:
    """Add ``_key``: the comparison key of the URL, hashtag or mention in ``value``.

    Keys are what the reader makes of the item: URLs normalised (only the ``link`` rows
    go through the URL normaliser, the costly part), hashtags and mentions lower-cased
    without ``#``/``@``.
    """
    is_link = pl.col("_type") == "link"
    tag = (
        pl.col(value)
        .str.strip_chars()
        .str.strip_chars_start("#＃@＠")
        .str.to_lowercase()
    )
    frame = frame.with_row_index("_k")
    links = frame.filter(is_link).select(
        "_k", normalize_urls(pl.concat_list(pl.col(value))).list.first().alias("_url")
    )
    return (
        frame.join(links, on="_k", how="left", maintain_order="left")
        .with_columns(pl.when(is_link).then(pl.col("_url")).otherwise(tag).alias("_key"))
        .drop("_k", "_url")
    )


def _render(events: pl.DataFrame) -> str:
    """The whole ``result.json`` text of the events."""
    ev = _prepare(events)
    ev = ev.join(_entities(ev), on="_row", how="left", maintain_order="left")
    n_chats = ev["_chat"].n_unique()
    account = n_chats > 1
    base = 5 if account else 2  # indentation of a message object's braces
    ind = " " * (base + 1)
    shift = base + 1 - _MSG_INDENT
    text_json = pl.col("_text_json")
    entities_json = pl.col("_entities_json")
    if shift:
        pad = "\n" + " " * shift
        text_json = text_json.str.replace_all("\n", pad, literal=True)
        entities_json = entities_json.str.replace_all("\n", pad, literal=True)
    media0 = pl.col(MEDIA).list.first()
    is_image = media0.str.contains(_IMAGE_RE).fill_null(False)
    ts_utc = pl.col(TS).dt.convert_time_zone("UTC")
    fields = [
        _field("id", pl.col("_msg").cast(pl.String), ind),
        _field("type", pl.lit('"message"'), ind),
        _field("date", _json_str(ts_utc.dt.strftime("%Y-%m-%dT%H:%M:%S")), ind),
        _field("date_unixtime", _json_str(ts_utc.dt.epoch("s").cast(pl.String)), ind),
        _field("from", _json_str(pl.col(ACTOR_NAME)), ind),
        _field("from_id", _json_str(pl.col(ACTOR_ID)), ind),
        _field(
            "forwarded_from",
            pl.when(pl.col("_fwd_name").is_not_null()).then(_json_str(pl.col("_fwd_name"))),
            ind,
        ),
        _field(
            "forwarded_from_id",
            pl.when(pl.col("_fwd_id").is_not_null()).then(_json_str(pl.col("_fwd_id"))),
            ind,
        ),
        _field("reply_to_message_id", pl.col("_reply_msg").cast(pl.String), ind),
        _field(
            "reply_to_peer_id",
            pl.when(pl.col("_reply_peer").is_not_null()).then(_json_str(pl.col("_reply_peer"))),
            ind,
        ),
        _field("photo", pl.when(is_image).then(_json_str(media0)), ind),
        _field("file", pl.when(~is_image & media0.is_not_null()).then(_json_str(media0)), ind),
        _field("text", text_json, ind),
        _field("text_entities", entities_json, ind),
    ]
    outer = " " * base
    message = (
        pl.lit(outer + "{\n")
        + pl.concat_str(fields, separator=",\n", ignore_nulls=True)
        + pl.lit("\n" + outer + "}")
    )
    chats = (
        ev.with_columns(message.alias("_json"))
        .group_by("_chat", maintain_order=True)
        .agg(
            pl.col("_chat_name").first(),
            pl.col("_chat_type").first(),
            pl.col("_json").str.join(",\n").alias("_messages"),
        )
    )
    cind = " " * (base - 1)  # indentation of a chat's fields
    chat_head = (
        pl.lit(cind + '"name": ')
        + _json_str(pl.col("_chat_name"))
        + pl.lit(",\n" + cind + '"type": ')
        + _json_str(pl.col("_chat_type"))
        + pl.lit(",\n" + cind + '"id": ')
        + pl.col("_chat").cast(pl.String)
        + pl.lit(",\n" + cind + '"messages": [\n')
        + pl.col("_messages")
        + pl.lit("\n" + cind + "]")
    )
    bodies = chats.select(chat_head.alias("_body"))["_body"]
    if not account:
        if bodies.len() == 0:
            empty = (
                '{\n "name": "coordscope",\n "type": "public_channel",\n "id": '
                f"{_ASSIGNED_CHAT_BASE},\n" + ' "messages": []\n}\n'
            )
            return empty
        return "{\n" + str(bodies[0]) + "\n}\n"
    joined = (
        ("   {\n" + bodies + "\n   }").str.join(",\n").item()
    )
    return (
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
        f"{joined}\n"
        "  ]\n"
        " },\n"
        ' "left_chats": {\n'
        f'  "about": {json.dumps(_LEFT_ABOUT)},\n'
        '  "list": []\n'
        " }\n"
        "}\n"
    )
