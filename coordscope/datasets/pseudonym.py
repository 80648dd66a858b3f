"""Keyed pseudonyms for every value that names an account (``--pseudonymize``).

A name is replaced by ``u_`` + the first 24 hex digits (96 bits) of
HMAC-SHA256(KEY, value): the same account gets the same pseudonym in every table and
every run with the same key, and nobody without the key can recompute it from a guessed
id or handle. Applied to the canonical events *before* any detection, so every output —
tables, graphs, report, evidence — only ever sees pseudonyms. One value always gives one
pseudonym, whatever field it is found in, so a co-share of ``channel42`` is a co-share of
the pseudonym the account ``channel42`` has as an actor, and a co-link on
``t.me/foo/12`` stays a co-link on ``t.me/u_…/12``: the detection results are the same
up to the renaming (see *Handles* for the one merge).

What is replaced
----------------
- ``actor_id`` and ``channel``: as written.
- ``actor_name`` and every item of ``mentions``: their handle form (below).
- ``@handle`` in ``text``, and in every string that may hold a URL (``event_id``,
  ``object_id``, the items of ``urls`` and ``media``): ``@`` + the pseudonym of the
  handle form. The at sign may be ``@``, full-width ``＠`` or small ``﹫``; the handle is a
  run of letters, digits and ``_`` of any script, with ``.`` and ``-`` inside it but not
  at its end (``@Mary-Jones`` and ``@john.smith`` are one handle each, ``@john.`` ends a
  sentence). As on the platforms, an at sign right after a letter, digit or ``_`` starts
  no handle (``bob@example.com``, ``photo_1@01-03-2022.jpg``). So ``youtube.com/@name``,
  ``tiktok.com/@name`` and the user of a fediverse ``@user@host`` are replaced too.
- Account names in links to X/Twitter (``twitter.com``, ``x.com``, with ``www.``,
  ``mobile.``, ``m.``), Telegram (``t.me``, ``telegram.me``, ``telegram.dog``: also the
  name after ``s/``, the chat id after ``c/`` and the invite after ``joinchat/``, or a
  ``+invite``), Facebook (``facebook.com``, ``fb.com``, with ``www.``, ``m.``, ``web.``,
  ``mbasic.``, ``business.``: the first path segment, the one after ``groups/``,
  ``people/`` or ``pages/``, and the ``id=`` of ``profile.php``, ``permalink.php`` and
  ``story.php``) and Instagram (``instagram.com``, also after ``stories/``): the segment
  becomes the pseudonym of its handle form, in the same strings as ``@handle``. The
  platforms' own pages (``x.com/i/…``, ``x.com/search``, ``t.me/share``,
  ``facebook.com/watch``, ``instagram.com/p/…``...) are kept: :data:`RESERVED` lists them.
- Telegram ids (events of platform ``telegram``): the chat in every ``event_id``
  (``"{chat}:{message}"`` becomes ``"{pseudonym of chat}:{message}"``); the peer of a
  reply's ``object_id`` the same way; a forward's ``object_id`` (``user…``,
  ``channel…``) whole, and the author's name of ``"name:{author}"`` (``"name:u_…"``).
  Chat ids, peers and forward sources are hashed as written, so the chat ``1234`` of a
  ``channel`` column, an ``event_id`` and a ``t.me/c/1234/5`` link is one pseudonym, and
  a forward from ``channel1234`` has the pseudonym of the actor ``channel1234``.
- In ``text``, the names that mentions show (``x_mention_names``: Telegram's mentions of
  accounts without a username show the account's display name, e.g. ``Борис``; X/Twitter's
  mentioned screen names), wherever they occur, by the pseudonym of their handle form;
  names shorter than three characters are left (they would match inside any word).
- Platform columns (``x_*``) are dropped: they may carry ids.

Kept: message ids (a tweet id, the message number of a Telegram id), hashtags, the
domains and other paths of URLs, media ids, the text around the handles.

Handles
-------
A handle is compared as the platforms do, case-insensitively: its *handle form* is the
NFKC normalisation (full-width letters and at signs become ASCII), lower-cased, without a
leading at sign. ``@ÉMILE``, ``@émile`` and ``＠ÉＭＩＬＥ`` are one pseudonym, that of
``émile``; so are ``x.com/Foo``, ``@foo`` and the screen name ``Foo``. This is the one
place where two different strings get one pseudonym: two links that differ only in the
case of the account name become one co-link key, as they name one account. Ids are
never folded: ``actor_id``, ``channel`` and Telegram ids keep their case.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

import polars as pl

from coordscope.errors import InputError, ParameterError
from coordscope.schema import (
    ACTOR_ID,
    ACTOR_NAME,
    CHANNEL,
    EVENT_ID,
    MEDIA,
    MENTIONS,
    OBJECT_ID,
    PLATFORM,
    TEXT,
    URLS,
    EventFrame,
    event_columns,
)

__all__ = [
    "HANDLE_PATTERN",
    "KEY_ENV",
    "LINK_PATTERN",
    "RESERVED",
    "handle_form",
    "pseudonym",
    "pseudonymize_events",
    "redact_reasons",
    "resolve_key",
]

#: Environment variable that may hold the key (instead of the command line).
KEY_ENV: Final = "COORDSCOPE_PSEUDONYMIZE_KEY"

_PREFIX: Final = "u_"
_HEX: Final = 24

#: An ``@handle`` in text: an at sign (ASCII, full-width or small) at the start or after a
#: character that is not a letter, digit or ``_`` (so not ``bob@example.com``), then
#: letters, digits and ``_`` of any script with ``.`` and ``-`` inside, never at the end.
#: The match includes the character before the at sign, when there is one.
HANDLE_PATTERN: Final = r"(?:^|[^\w])[@＠﹫]\w(?:[\w.\-]*\w)?"
_AT_SIGNS: Final = "@＠﹫"

_SEGMENT: Final = r"[\w%+](?:[\w.\-%]*[\w%])?"
#: A link to an account on X/Twitter, Telegram, Facebook or Instagram, up to the end of
#: the path segment that names the account (case-insensitive; ``\b`` keeps
#: ``netflix.com/…`` from being read as ``x.com/…``).
LINK_PATTERN: Final = (
    r"(?i)(?-u:\b)(?:https?://)?(?:"
    r"(?:(?:www|mobile|m)\.)?(?:twitter|x)\.com/" + _SEGMENT + r"|"
    r"(?:www\.)?(?:(?:t|telegram)\.me|telegram\.dog)/(?:(?:s|c|joinchat)/)?" + _SEGMENT + r"|"
    r"(?:(?:www|m|web|mbasic|business)\.)?(?:facebook|fb)\.com/(?:"
    r"(?:profile|permalink|story)\.php\?(?:[^\s#&\"'<>]*&)*id=\d+|"
    r"(?:(?:groups|people|pages)/)?" + _SEGMENT + r")|"
    r"(?:(?:www|m)\.)?instagram\.com/(?:stories/)?" + _SEGMENT + r")"
)

#: First path segments that are a platform's own pages, not accounts (lower case).
RESERVED: Final[dict[str, frozenset[str]]] = {
    "twitter": frozenset((
        "i", "intent", "hashtag", "search", "home", "share", "explore", "settings",
        "messages", "notifications", "compose", "login", "logout", "signup", "tos",
        "privacy", "about", "download"
    )),
    "telegram": frozenset((
        "s", "c", "joinchat", "share", "addstickers", "addemoji", "addtheme", "proxy",
        "socks", "setlanguage", "iv", "bg", "login", "confirmphone"
    )),
    "facebook": frozenset((
        "groups", "people", "pages", "watch", "events", "hashtag", "sharer", "sharer.php",
        "share", "l.php", "media", "marketplace", "gaming", "reel", "reels", "help",
        "policies", "login", "photo", "photo.php", "video.php", "plugins", "dialog", "ads",
        "story.php", "permalink.php", "profile.php", "privacy", "stories", "business"
    )),
    "instagram": frozenset((
        "p", "reel", "reels", "tv", "explore", "accounts", "direct", "about", "developer",
        "legal", "stories"
    )),
}  # fmt: skip
#: Segments after which the next one names an account or chat, per platform.
_PREFIXES: Final[dict[str, frozenset[str]]] = {
    "twitter": frozenset(),
    "telegram": frozenset({"s", "c", "joinchat"}),
    "facebook": frozenset({"groups", "people", "pages"}),
    "instagram": frozenset({"stories"}),
}
_HOSTS: Final = (
    ("twitter", re.compile(r"(?:^|\.)(?:twitter|x)\.com$")),
    ("telegram", re.compile(r"(?:^|\.)(?:(?:t|telegram)\.me|telegram\.dog)$")),
    ("facebook", re.compile(r"(?:^|\.)(?:facebook|fb)\.com$")),
    ("instagram", re.compile(r"(?:^|\.)instagram\.com$")),
)
_LINK_PARTS: Final = re.compile(
    r"(?P<head>(?:https?://)?(?P<host>[^/]+)/)(?P<pre>[^/]+/)?(?P<name>[^/]+)", re.IGNORECASE
)
_ID_QUERY: Final = re.compile(r"(?P<head>.*[?&]id=)(?P<name>\d+)", re.IGNORECASE | re.DOTALL)

#: A Telegram id with a message number: ``"{chat or peer}:{message}"``.
_TELEGRAM_ID: Final = r"^(.+):(\d+)$"
_NAME_PREFIX: Final = "name:"
#: Platform column of the names that mentions show in text (Telegram's ``mention_name``
#: entities, X/Twitter's mentioned screen names); shorter names are not searched for.
_MENTION_NAMES: Final = "x_mention_names"
_MIN_NAME: Final = 3


def pseudonym(value: str, key: str) -> str:
    """Return the pseudonym of one value: ``u_`` + 24 hex digits of HMAC-SHA256."""
    digest = hmac.new(key.encode("utf-8"), value.encode("utf-8"), hashlib.sha256).hexdigest()
    return _PREFIX + digest[:_HEX]


def handle_form(expr: pl.Expr) -> pl.Expr:
    """Handle form of a String expression: NFKC, lower case, no leading at sign."""
    return expr.str.normalize("NFKC").str.to_lowercase().str.strip_chars_start("@")


def resolve_key(
    key: str | None,
    key_file: str | Path | None,
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """Return the pseudonymisation key from the one source that gives it, or None.

    Parameters
    ----------
    key : str, optional
        The key as given on the command line (``--pseudonymize KEY``).
    key_file : str or Path, optional
        A file whose first line, stripped of surrounding white space, is the key
        (``--pseudonymize-key-file``).
    environ : mapping, optional
        Where :data:`KEY_ENV` is looked up; default :data:`os.environ`.

    Returns
    -------
    str or None
        The key; None when no source gives one (no pseudonymisation).

    Raises
    ------
    ParameterError
        More than one source is given, or the one given is empty.
    InputError
        The key file cannot be read, is not UTF-8 text, or its first line is empty.
    """
    env = os.environ if environ is None else environ
    given = [
        name
        for name, present in (
            ("--pseudonymize", key is not None),
            ("--pseudonymize-key-file", key_file is not None),
            (KEY_ENV, KEY_ENV in env),
        )
        if present
    ]
    if len(given) > 1:
        raise ParameterError(
            f"the pseudonymisation key must come from one source, got {' and '.join(given)}"
        )
    if key is not None:
        if not key.strip():
            raise ParameterError("--pseudonymize: the key must not be empty")
        return key
    if key_file is not None:
        path = str(key_file)
        try:
            data = Path(key_file).read_bytes()
        except OSError as exc:
            raise InputError(
                path, f"cannot read the pseudonymisation key file ({exc.strerror or exc})"
            ) from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(path, "the pseudonymisation key file is not UTF-8 text") from None
        lines = text.splitlines()
        first = lines[0].strip() if lines else ""
        if not first:
            raise InputError(path, "the first line of the pseudonymisation key file is empty")
        return first
    if KEY_ENV in env:
        value = env[KEY_ENV].strip()
        if not value:
            raise ParameterError(f"{KEY_ENV} is set but empty")
        return value
    return None


def _hash_table(values: Iterable[str], key: str) -> pl.DataFrame:
    """Map distinct values to their pseudonyms: one HMAC per *distinct* value.

    The only per-item Python work, ``O(U)`` for ``U`` distinct values (~1 µs each).
    """
    names = sorted(set(values))
    return pl.DataFrame(
        {"_raw": names, "_pseudo": [pseudonym(v, key) for v in names]},
        schema={"_raw": pl.String, "_pseudo": pl.String},
    )


def _platform_of(host: str) -> str | None:
    host = host.lower().split(":", 1)[0]
    for name, pattern in _HOSTS:
        if pattern.search(host):
            return name
    return None


def _split_link(match: str) -> tuple[str, str] | None:
    """Split a :data:`LINK_PATTERN` match into (text kept, account name); None: no account.

    ``("https://t.me/s/", "Foo")`` for ``https://t.me/s/Foo``; None for a platform's own
    page (:data:`RESERVED`).
    """
    if "?" in match:  # only Facebook's profile.php?id=N has a query in a match
        by_id = _ID_QUERY.fullmatch(match)
        return None if by_id is None else (by_id.group("head"), by_id.group("name"))
    parts = _LINK_PARTS.fullmatch(match)
    if parts is None:
        return None
    platform = _platform_of(parts.group("host"))
    if platform is None:
        return None
    pre = parts.group("pre")
    name = parts.group("name")
    if pre is not None:
        if pre[:-1].lower() not in _PREFIXES[platform]:
            return None
        return parts.group("head") + pre, name
    if name.lower() in RESERVED[platform]:
        return None
    return parts.group("head"), name


def _distinct(frame: pl.LazyFrame, expr: pl.Expr) -> pl.LazyFrame:
    return frame.select(expr.alias("v")).drop_nulls().unique()


def _matches(frame: pl.LazyFrame, names: list[str], pattern: str) -> list[pl.LazyFrame]:
    """Distinct matches of ``pattern`` in every string that may hold links and handles.

    These are ``text``, ``event_id``, ``object_id`` and the items of ``urls`` and
    ``media`` (a CrowdTangle event id is the post's address, a photo's media key its
    link).
    """
    out = [
        _distinct(frame, pl.col(c).str.extract_all(pattern).explode())
        for c in (TEXT, EVENT_ID, OBJECT_ID)
        if c in names
    ]
    out += [
        _distinct(frame, pl.col(c).explode().str.extract_all(pattern).explode())
        for c in (URLS, MEDIA)
        if c in names
    ]
    return out


def _is_telegram() -> pl.Expr:
    return pl.col(PLATFORM).cast(pl.String) == "telegram"


def _telegram_part(expr: pl.Expr, *, names: bool) -> pl.Expr:
    """Return the part of a Telegram id that is hashed: chat or peer, author, or all."""
    part = pl.coalesce(expr.str.extract(_TELEGRAM_ID, 1), expr)
    if names:
        part = (
            pl.when(expr.str.starts_with(_NAME_PREFIX))
            .then(expr.str.slice(len(_NAME_PREFIX)))
            .otherwise(part)
        )
    return part


def _rewrite_pairs(
    handles: pl.Series, links: list[str], hashed: dict[str, str], forms: dict[str, str]
) -> tuple[list[str], list[str]]:
    """Patterns and replacements for :meth:`polars.Expr.str.replace_many`, longest first.

    Every match found is a pattern, also the platform pages kept as they are (replaced
    by themselves): at any position the longest match wins, so a kept ``x.com/search`` is
    never read as the account ``x.com/s`` followed by ``earch``.
    """
    pairs: dict[str, str] = {}
    for raw in handles.to_list():
        before, handle = _split_handle(raw)
        pairs[raw] = before + "@" + hashed[forms[handle]]
    for raw in links:
        split = _split_link(raw)
        pairs[raw] = raw if split is None else split[0] + hashed[forms[split[1]]]
    ordered = sorted(pairs, key=lambda p: (-len(p), p))
    return ordered, [pairs[p] for p in ordered]


def _split_handle(match: str) -> tuple[str, str]:
    """Split a :data:`HANDLE_PATTERN` match into (what precedes the at sign, handle)."""
    at = max(match.rfind(sign) for sign in _AT_SIGNS)
    return match[:at], match[at + 1 :]


def _forms(values: list[str]) -> dict[str, str]:
    """Handle form (:func:`handle_form`) of each distinct value, computed by polars."""
    series = pl.Series("v", sorted(set(values)), dtype=pl.String)
    formed = series.to_frame().select(handle_form(pl.col("v"))).to_series()
    return dict(zip(series.to_list(), formed.to_list(), strict=True))


def pseudonymize_events(events: EventFrame, key: str) -> EventFrame:
    """Canonical events with every value that names an account replaced (module docstring).

    Parameters
    ----------
    events : polars.DataFrame or polars.LazyFrame
        Canonical events.
    key : str
        The secret key (non-empty). Keep it to link pseudonyms back later.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        Same rows and canonical columns, ``x_*`` columns dropped; lazy when ``events``
        is (the values to hash are gathered with one pass over the events, the rows are
        rewritten as they are read).

    Notes
    -----
    Cost: one pass gathering the distinct ids, handle forms, ``@handle`` and link
    matches; one HMAC per distinct value; then one vectorised rewrite: ``replace_strict``
    for the id columns and one Aho-Corasick ``replace_many`` (every distinct match is a
    pattern, longest first, so a handle is only ever replaced whole) for the strings.
    """
    if not key:
        raise ParameterError("pseudonymize: the key must not be empty")
    names = event_columns(events)
    lazy = events.lazy()
    named_mentions = (
        _distinct(lazy, pl.col(_MENTION_NAMES).explode().cast(pl.String))
        if _MENTION_NAMES in names
        else None
    )
    frame = lazy.drop([c for c in names if c.startswith("x_")])
    names = [c for c in names if not c.startswith("x_")]
    queries = {
        "ids": [_distinct(frame, pl.col(c).cast(pl.String)) for c in (ACTOR_ID, CHANNEL)],
        "forms": [
            _distinct(frame, handle_form(pl.col(ACTOR_NAME).cast(pl.String))),
            _distinct(frame, handle_form(pl.col(MENTIONS).explode().cast(pl.String))),
        ],
        "handles": _matches(frame, names, HANDLE_PATTERN),
        "links": _matches(frame, names, LINK_PATTERN),
        "telegram": [
            _distinct(frame.filter(_is_telegram()), _telegram_part(pl.col(EVENT_ID), names=False)),
            _distinct(frame.filter(_is_telegram()), _telegram_part(pl.col(OBJECT_ID), names=True)),
        ],
        "named": [] if named_mentions is None else [named_mentions],
    }
    flat = [q for group in queries.values() for q in group]
    results = iter(pl.collect_all(flat))
    found: dict[str, list[str]] = {}
    for group, items in queries.items():
        values: set[str] = set()
        for _ in items:
            values.update(next(results).to_series().to_list())
        found[group] = sorted(values)

    handles = pl.Series(found["handles"], dtype=pl.String)
    link_names = [s[1] for s in map(_split_link, found["links"]) if s is not None]
    named = [n for n in found["named"] if len(n.strip()) >= _MIN_NAME]
    forms = _forms([_split_handle(h)[1] for h in found["handles"]] + link_names + named)
    to_hash = set(found["ids"]) | set(found["forms"]) | set(found["telegram"])
    to_hash |= set(forms.values())
    table = _hash_table(to_hash, key)
    hashed = dict(zip(table["_raw"].to_list(), table["_pseudo"].to_list(), strict=True))
    raw, pseudo = table["_raw"], table["_pseudo"]

    def swap(expr: pl.Expr) -> pl.Expr:
        return expr.replace_strict(raw, pseudo, default=None, return_dtype=pl.String)

    def telegram_id(expr: pl.Expr, *, names: bool) -> pl.Expr:
        peer = expr.str.extract(_TELEGRAM_ID, 1)
        out = (
            pl.when(peer.is_not_null())
            .then(swap(peer) + pl.lit(":") + expr.str.extract(_TELEGRAM_ID, 2))
            .otherwise(swap(expr))
        )
        if names:
            out = (
                pl.when(expr.str.starts_with(_NAME_PREFIX))
                .then(pl.lit(_NAME_PREFIX) + swap(expr.str.slice(len(_NAME_PREFIX))))
                .otherwise(out)
            )
        return pl.when(_is_telegram()).then(out).otherwise(expr)

    out = frame.with_columns(
        swap(pl.col(ACTOR_ID).cast(pl.String)).alias(ACTOR_ID),
        swap(handle_form(pl.col(ACTOR_NAME).cast(pl.String))).alias(ACTOR_NAME),
        pl.col(MENTIONS).list.eval(swap(handle_form(pl.element().cast(pl.String)))),
        swap(pl.col(CHANNEL).cast(pl.String)).alias(CHANNEL),
        telegram_id(pl.col(EVENT_ID), names=False).alias(EVENT_ID),
        telegram_id(pl.col(OBJECT_ID), names=True).alias(OBJECT_ID),
    )
    patterns, replacements = _rewrite_pairs(handles, found["links"], hashed, forms)
    if patterns:

        def rewrite(expr: pl.Expr) -> pl.Expr:
            return expr.str.replace_many(patterns, replacements, leftmost=True)

        out = out.with_columns(
            *(rewrite(pl.col(c)).alias(c) for c in (EVENT_ID, OBJECT_ID) if c in names),
            *(pl.col(c).list.eval(rewrite(pl.element())).alias(c) for c in (URLS, MEDIA)),
        )
    # in text, also the names that mentions of accounts without a username show
    extra = {n: hashed[forms[n]] for n in named if n not in patterns}
    if TEXT in names and (patterns or extra):
        pairs = dict(zip(patterns, replacements, strict=True)) | extra
        ordered = sorted(pairs, key=lambda p: (-len(p), p))
        out = out.with_columns(
            pl.col(TEXT).str.replace_many(ordered, [pairs[p] for p in ordered], leftmost=True)
        )
    schema = frame.collect_schema()
    out = out.select([pl.col(c).cast(t) for c, t in schema.items()])
    return out if isinstance(events, pl.LazyFrame) else out.collect()


def redact_reasons(rejects: pl.DataFrame) -> pl.DataFrame:
    """Rejects whose ``reason`` no longer quotes the rejected record's values.

    A pseudonymised run writes ``rejects.csv`` too, and a reason may quote a raw value
    of the record (the text of a time that could not be read, the start of a line that
    is not JSON, a parser's detail): any of them could name an account. Here every
    quoted value becomes ``'…'`` and every parenthesised detail ``(…)``; what the reader
    named — ``field 'ts'``, ``column 'author'`` — is kept, so the reason still says what
    was wrong where. Rerun without the key to see the values. Records, sources and
    counts are unchanged.

    Examples
    --------
    >>> rejects = pl.DataFrame({"reason": [
    ...     "field 'ts': timestamp not understood: '@mary 2024'",
    ...     'not JSON (Expecting value: line 1 column 5 (char 4)) near "@bob"',
    ...     "missing actor_id",
    ... ]})
    >>> redact_reasons(rejects)["reason"].to_list()  # doctest: +NORMALIZE_WHITESPACE
    ["field 'ts': timestamp not understood: '…'", 'not JSON (…) near "…"',
     'missing actor_id']
    """
    if "reason" not in rejects.columns or rejects.height == 0:
        return rejects
    reason = (
        pl.col("reason")
        .str.replace_all("\x00", "")
        # the names a reader gives (field 'x', column 'x') are protected, then restored
        .str.replace_all(r"\b(field|column) '([^']*)'", "$1 \x00$2\x00")
        .str.replace_all(r"'[^']*'", "'…'")
        .str.replace_all(r'"[^"]*"', '"…"')
    )
    # nested parentheses: the innermost first, as often as they nest (a few times)
    for _ in range(4):
        reason = reason.str.replace_all(r"\([^()]*\)", "\x01")
    reason = (
        reason.str.replace_all("\x01+", "(…)")
        .str.replace_all("\x01", "(…)")
        .str.replace_all("\x00([^\x00]*)\x00", "'$1'")
    )
    return rejects.with_columns(reason.alias("reason"))
