"""Exact keys: events → actions ``(actor, ts, key, event)`` for field-keyed signals.

These are the signals whose key is a field of the event (a shared object, a URL, a
domain, a hashtag, a mention, a text).

A *signal* says what counts as "the same thing". One event may give several actions (a
post with three links gives three ``co_link`` actions); the same key twice in one event
gives one action. Empty strings never become keys. Near-duplicate texts and media hashes,
whose keys are groups, are in :mod:`coordscope.signals.similar` and
:mod:`coordscope.signals.media`; :func:`coordscope.signals.actions.actions` serves every
signal.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Final

import polars as pl
from publicsuffixlist import PublicSuffixList

from coordscope.errors import ParameterError
from coordscope.schema import (
    ACTOR_CREATED,
    ACTOR_ID,
    EVENT_ID,
    HASHTAGS,
    KIND,
    MEDIA,
    MENTIONS,
    OBJECT_ID,
    SIGNALS,
    TEXT,
    TEXT_RULES,
    TS,
    URLS,
    EventFrame,
    TextRule,
    event_columns,
)

__all__ = [
    "EXACT_KEYED",
    "actions_from_keys",
    "exact_actions",
    "normalize_text",
    "registrable_domain",
    "toolkit_text",
]

#: Signals :func:`exact_actions` serves: every signal but the grouped ones.
EXACT_KEYED: Final = tuple(s for s in SIGNALS if s not in ("co_similar", "co_media"))

_CONSTANT_KEY: Final = "*"

#: The host of an absolute URL: after the scheme and any user-info, up to the port, path,
#: query or fragment; an IPv6 literal keeps its brackets.
_HOST: Final = r"^[A-Za-z][A-Za-z0-9+.\-]*://(?:[^/?#@]*@)?(\[[^\]/?#]*\]|[^/?#:]+)"


#: Python's ``str.isspace`` characters, as a regex class (the toolkit splits on them).
_PY_SPACE: Final = (
    r"[\t\n\x0B\x0C\r\x1C-\x1F \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}"
    r"\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}]+"
)


def toolkit_text(text: pl.Expr) -> pl.Expr:
    r"""coordination-network-toolkit's ``message_preprocessor``: its ``co_tweet`` key.

    ``" ".join(re.sub(r"@.*?(?=(?:\s|$))", "", text.lower()).split())``: lower-case;
    remove every ``@`` with the characters up to the next white space (so ``@someone!``
    and the tail of ``name@example.org`` go too); collapse runs of Python white space
    (``str.isspace``) into one space; strip. URLs are kept.

    Notes
    -----
    Case mapping follows the Unicode version of polars, which differs from Python 3.11's
    ``str.lower`` for 55 characters added in Unicode 15 and 16.

    Examples
    --------
    >>> text = ["RT @Someone!  Look\there: https://x.org/A", "mail a@b.org now"]
    >>> df = pl.DataFrame({"text": text})
    >>> df.select(toolkit_text(pl.col("text")))["text"].to_list()
    ['rt look here: https://x.org/a', 'mail a now']
    """
    out = text.str.to_lowercase().str.replace_all(r"@\S*", "")
    return out.str.replace_all(_PY_SPACE, " ").str.strip_chars(" ")


def normalize_text(text: pl.Expr, *, rule: TextRule = "default") -> pl.Expr:
    """Normalise message text for exact-copy matching (``co_text``).

    Parameters
    ----------
    text : polars.Expr
        A String expression.
    rule : {"default", "toolkit", "exact"}
        See :data:`TEXT_RULES`.

    Examples
    --------
    ``default`` drops URLs and mentions, ``toolkit`` drops mentions only (see
    :func:`toolkit_text`), ``exact`` only strips the ends:

    >>> df = pl.DataFrame({"text": ["  Hello  @bob https://t.co/x WORLD "]})
    >>> for rule in ("default", "toolkit", "exact"):
    ...     print(repr(df.select(normalize_text(pl.col("text"), rule=rule))["text"][0]))
    'hello world'
    'hello https://t.co/x world'
    'Hello  @bob https://t.co/x WORLD'
    """
    if rule == "exact":
        return text.str.strip_chars()
    if rule == "toolkit":
        return toolkit_text(text)
    if rule == "default":
        out = text.str.normalize("NFKC").str.to_lowercase()
        out = out.str.replace_all(r"https?://\S+", " ").str.replace_all(r"@\w+", " ")
        return out.str.replace_all(r"\s+", " ").str.strip_chars()
    raise ParameterError(f"text_rule must be one of {', '.join(TEXT_RULES)}, got '{rule}'")


def registrable_domain(urls: pl.Expr) -> pl.Expr:
    """Return the registrable domain of a String expression of normalised URLs.

    The host is read from the URL (after any user-info, before the port) and lower-cased;
    the registrable domain is the public suffix plus one label, by the Public Suffix List
    (Mozilla's, private suffixes included, from the snapshot bundled with the
    ``publicsuffixlist`` package: no network): ``news.bbc.co.uk`` → ``bbc.co.uk``,
    ``api.github.com`` → ``github.com``, ``me.github.io`` and ``shop.pages.dev`` stay whole
    (``github.io`` and ``pages.dev`` are suffixes under which anyone registers). Names in
    any script are compared in their IDNA form and written in Unicode, so ``bücher.de``
    and ``xn--bcher-kva.de`` are one domain. An IP address (``192.168.1.10``, ``[::1]``)
    is its own domain; a host that is itself a public suffix, or a single label
    (``localhost``), is kept as it is; a string that is not an absolute URL gives null.

    Cost: a regex per URL, and one suffix-list lookup per *distinct* host of a batch.

    Examples
    --------
    >>> urls = [
    ...     "https://www.bbc.co.uk/news", "http://u@Sub.Example.com:8080/a", "not a url",
    ...     "https://me.github.io/x", "https://api.github.com/v3", "http://192.168.1.10/",
    ...     "https://www.xn--bcher-kva.de/", "https://bücher.de/",
    ... ]
    >>> pl.DataFrame({"url": urls}).select(registrable_domain(pl.col("url")))["url"].to_list()
    ['bbc.co.uk', 'example.com', None, 'me.github.io', 'github.com', '192.168.1.10', \
'bücher.de', 'bücher.de']
    """
    host = urls.str.extract(_HOST, 1).str.to_lowercase().str.strip_chars(".")
    return host.map_batches(_domains_of_hosts, return_dtype=pl.String, is_elementwise=True)


@functools.cache
def _suffix_list() -> PublicSuffixList:
    """Return the bundled Public Suffix List, parsed once per process (about 40 ms)."""
    return PublicSuffixList()


def _domain_of_host(host: str) -> str:
    """Return the registrable domain of one lower-cased host (see :func:`registrable_domain`)."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(bare)
    except ValueError:
        pass
    else:
        return host
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:  # a label IDNA cannot carry (too long, forbidden characters)
        return host
    domain = _suffix_list().privatesuffix(ascii_host) or ascii_host
    try:
        return domain.encode("ascii").decode("idna")
    except UnicodeError:
        return domain


def _domains_of_hosts(hosts: pl.Series) -> pl.Series:
    """Map a batch of hosts to their registrable domains, one lookup per distinct host."""
    distinct = hosts.drop_nulls().unique()
    if distinct.is_empty():
        return pl.Series(hosts.name, [None] * hosts.len(), dtype=pl.String)
    mapping = dict(zip(distinct.to_list(), map(_domain_of_host, distinct.to_list()), strict=True))
    return hosts.replace_strict(mapping, default=None, return_dtype=pl.String)


def _base(events: EventFrame, first_event: int = 0) -> pl.LazyFrame:
    return events.lazy().with_row_index("event", offset=first_event).select(
        "event", pl.col(ACTOR_ID), pl.col(TS), pl.col(EVENT_ID), pl.col(KIND).cast(pl.String),
        pl.col(OBJECT_ID), pl.col(TEXT), pl.col(URLS), pl.col(HASHTAGS), pl.col(MENTIONS),
        pl.col(MEDIA), pl.col(ACTOR_CREATED),
        *[pl.col(c) for c in event_columns(events) if c == "x_domain_ids"],
    )  # fmt: skip


def _explode(frame: pl.LazyFrame, column: str | pl.Expr) -> pl.LazyFrame:
    expr = pl.col(column) if isinstance(column, str) else column
    return (
        frame.with_columns(expr.alias("key"))
        .explode("key", keep_nulls=False, empty_as_null=False)
        .filter(pl.col("key").is_not_null() & (pl.col("key") != ""))
    )


def exact_actions(
    events: EventFrame,
    *,
    signal: str,
    text_rule: TextRule = "default",
    min_text_length: int = 10,
    text_kinds: tuple[str, ...] = ("post", "quote", "reply", "comment"),
    first_event: int = 0,
) -> pl.DataFrame:
    """Actions of one exact-key signal: ``signal, key, actor_id, ts, event_id, event``.

    Parameters
    ----------
    events : polars.DataFrame or polars.LazyFrame
        Canonical events (:data:`~coordscope.schema.EVENT_SCHEMA`).
    signal : str
        One of :data:`EXACT_KEYED`.
    text_rule : {"default", "toolkit", "exact"}
        Text normalisation for ``co_text`` (see :func:`normalize_text`).
    min_text_length : int
        ``co_text``: normalised texts shorter than this (characters) give no action.
    text_kinds : tuple of str
        ``co_text``: the kinds whose text counts (reposts and forwards repeat someone
        else's text, so they are left out by default).
    first_event : int, default 0
        The row number of ``events``' first row in the whole input, when ``events`` is a
        slice of it (see :func:`coordscope.signals.actions.action_batches`).

    Returns
    -------
    polars.DataFrame
        :data:`~coordscope.schema.ACTION_SCHEMA`; ``event`` is the row number in
        ``events`` (plus ``first_event``). Sorted by event.
        ``co_created`` gives one action per account (its creation time, ``event_id``
        null); ``co_post`` one constant key for every event.

    Notes
    -----
    Keys per signal: ``co_share`` object of reposts and forwards; ``co_quote`` object of
    quotes; ``co_reply`` object of replies and comments; ``co_link`` each normalised URL;
    ``co_domain`` each registrable domain (or the exported domain ids, ``x_domain_ids``);
    ``co_hashtag``, ``co_mention`` each item; ``co_text`` the normalised text;
    ``co_post`` a constant; ``co_created`` a constant at the account's creation time.
    """
    if signal not in EXACT_KEYED:
        raise ParameterError(
            f"signal: '{signal}' has no exact key; choose one of: {', '.join(EXACT_KEYED)}"
        )
    base = _base(events, first_event)
    object_kinds = {
        "co_share": ("repost", "forward"),
        "co_quote": ("quote",),
        "co_reply": ("reply", "comment"),
    }
    if signal in object_kinds:
        lf = base.filter(
            pl.col(KIND).is_in(list(object_kinds[signal])) & pl.col(OBJECT_ID).is_not_null()
        )
        lf = lf.with_columns(pl.col(OBJECT_ID).alias("key")).filter(pl.col("key") != "")
    elif signal == "co_link":
        lf = _explode(base, URLS)
    elif signal == "co_domain":
        if "x_domain_ids" in event_columns(events):
            lf = _explode(base, "x_domain_ids")
        else:
            # every domain once per event (its first URL's place): explode, then map the
            # flat column, so the suffix list is read once per distinct host of a batch
            lf = (
                _explode(base, URLS)
                .with_columns(registrable_domain(pl.col("key")).alias("key"))
                .filter(pl.col("key").is_not_null() & (pl.col("key") != ""))
                .unique(subset=["event", "key"], keep="first", maintain_order=True)
            )
    elif signal == "co_hashtag":
        lf = _explode(base, HASHTAGS)
    elif signal == "co_mention":
        lf = _explode(base, MENTIONS)
    elif signal == "co_text":
        normalised = normalize_text(pl.col(TEXT), rule=text_rule)
        lf = base.filter(pl.col(KIND).is_in(list(text_kinds))).with_columns(normalised.alias("key"))
        lf = lf.filter(
            pl.col("key").is_not_null() & (pl.col("key").str.len_chars() >= max(1, min_text_length))
        )
    elif signal == "co_post":
        lf = base.with_columns(pl.lit(_CONSTANT_KEY).alias("key"))
    else:  # co_created
        lf = (
            base.filter(pl.col(ACTOR_CREATED).is_not_null())
            .group_by(ACTOR_ID, maintain_order=True)
            .agg(pl.col(ACTOR_CREATED).first(), pl.col("event").first())
            .with_columns(
                pl.col(ACTOR_CREATED).alias(TS),
                pl.lit(None, dtype=pl.String).alias(EVENT_ID),
                pl.lit(_CONSTANT_KEY).alias("key"),
            )
        )
    out = lf.select(
        pl.lit(signal).alias("signal"),
        pl.col("key").cast(pl.String),
        pl.col(ACTOR_ID),
        pl.col(TS),
        pl.col(EVENT_ID),
        pl.col("event").cast(pl.UInt32),
    ).unique(subset=["event", "key", ACTOR_ID, TS], keep="first", maintain_order=True)
    return out.collect()


def actions_from_keys(events: EventFrame, keys: pl.DataFrame, *, signal: str) -> pl.DataFrame:
    """Actions from keys computed by another stage (near-duplicate groups, media groups).

    Parameters
    ----------
    events : polars.DataFrame or polars.LazyFrame
        Canonical events.
    keys : polars.DataFrame
        Columns ``event`` (row number in ``events``) and ``key`` (String); one row per
        action.
    signal : str
        The signal name to record.
    """
    base = events.lazy().with_row_index("event").select("event", ACTOR_ID, TS, EVENT_ID)
    return (
        keys.lazy()
        .select(pl.col("event").cast(pl.UInt32), pl.col("key").cast(pl.String))
        .filter(pl.col("key").is_not_null() & (pl.col("key") != ""))
        # the keys' order within an event must not depend on how the join ran in threads
        .join(base, on="event", how="inner", maintain_order="left")
        .select(pl.lit(signal).alias("signal"), "key", ACTOR_ID, TS, EVENT_ID, "event")
        .unique(subset=["event", "key"], keep="first", maintain_order=True)
        .sort("event", maintain_order=True)
        .collect()
    )
