"""The ``cnt`` counting mode: exactly coordination-network-toolkit's directed networks.

coordination-network-toolkit (QUT Digital Observatory, newest commit) stores every message
once (``insert or ignore`` on ``message_id``: the first row of a repeated id wins) and
computes, for each network type, one SQL self-join per type::

    select e_1.user_id as user_1, e_2.user_id as user_2,
           count(distinct e_1.message_id) as weight
    from edge e_1 join edge e_2
      on <same key> and e_2.timestamp between e_1.timestamp - W and e_1.timestamp + W
    group by e_1.user_id, e_2.user_id having weight >= min_edge_weight

so the directed weight ``A → B`` is the number of distinct messages of ``A`` with at least
one matching message of ``B`` within ``W`` seconds, either side, inclusive. The query as
published lets a message match itself (every account would get a self-loop weighted by
its message count); the reference outputs count only matches with *another* message, and
so does this mode, while two different messages of one account do match: self-loops
``A → A`` stay in the table. The five same-key network types and the messages they use:

============  ============  =============================================================
toolkit       coordscope    messages and key
============  ============  =============================================================
co_retweet    co_share      reposts (``repost_id`` set); the reposted message
co_tweet      co_text       non-reposts; the text lower-cased, ``@mentions`` (``@`` up to
                            the next white space) removed, white space collapsed
co_reply      co_reply      non-reposts with a ``reply_id``; the replied-to message
co_link       co_link       non-reposts; each URL *as written* (a message with several
                            URLs matches through any of them and counts once)
co_post       co_post       every message; one key (pure temporal co-activity)
============  ============  =============================================================

The sixth type, ``co_similar_tweet`` (``co_similar``), matches two non-repost messages
within the window when the Jaccard index of their token sets is at least
``similarity_threshold`` (the toolkit's ``similarity``: ``len(A & B) / len(A | B) >= t``,
command-line default 0.8; messages with fewer than ``--min_document_size_similarity``
tokens, default 1, match nothing, so empty messages never match). Tokens are the
toolkit's ``tokenize``: the text lower-cased, ``@`` up to the next white space removed,
split at Unicode word boundaries with punctuation kept as tokens
(:func:`coordscope.signals.similar.toolkit_tokens`: UAX #29 word segmentation as one
regular expression; equal to the toolkit's ``regex``-module tokenizer except for a
letter + zero-width joiner + pictograph followed by more letters). The toolkit compares
every pair of messages inside the window in Python; here the pairs are found exactly by
prefix filtering (:func:`coordscope.signals.similar.jaccard_pairs`): a pair at Jaccard
``>= t`` shares one of the first ``|A| − ceil(t·|A|) + 1`` rarest tokens of ``A``, so
candidates come from a band join on those tokens within the window and are checked
exactly (float64 division, as Python divides; :mod:`coordscope.compat._cnt_similar`).

Two toolkit artifacts are deliberately not reproduced: an empty ``urls`` cell becomes the
URL ``''`` in the toolkit and links every such message (the reference outputs'
``co_link_emptyurls_deleted`` tables are the ones matched), and likewise an empty
normalised text (an empty message, or one made only of mentions) never becomes a
``co_tweet`` key. Empty strings never become keys.

Reading, not counting, differs in a few edge cases (the ``cnt`` reader): a
row without a user id or message id, or whose timestamp is not a number, is rejected and
counted (the toolkit keeps an empty user id as the account ``''`` and stops on a bad
timestamp); ids lose surrounding white space; times are kept to the microsecond.

Method. The same-key networks are one sorted band join on ``(key, ts)`` that counts
every (message, account) match once (:mod:`coordscope.compat._cnt_band_join`); the
counts are 64-bit keys of account pairs, sorted once and read off into the sorted edge
list by linear passes on ``workers`` threads (:mod:`coordscope.compat._pair_counter`).
A key reposted 40,000 times inside an hour (~170M pairs) costs about 8 bytes a pair while
sorting and 12 bytes an edge after.
"""

from __future__ import annotations

import math
import os
from typing import Any, Final

import numpy.typing as npt
import polars as pl

from coordscope.compat._cnt_band_join import MessageRows, count_matches
from coordscope.compat._cnt_similar import similar_edges
from coordscope.engine.kernel import DEFAULT_MAX_PAIRS
from coordscope.errors import ParameterError, SchemaError
from coordscope.schema import ACTOR_ID, EVENT_ID, KIND, OBJECT_ID, TEXT, TS, URLS
from coordscope.signals.exact import toolkit_text

__all__ = [
    "CNT_ALL_NETWORKS",
    "CNT_NETWORKS",
    "MAX_USERS",
    "URLS_RAW",
    "cnt_edges",
    "cnt_messages",
    "toolkit_text",
]

#: The toolkit's network names and the coordscope signal each one corresponds to.
CNT_NETWORKS: Final[dict[str, str]] = {
    "co_retweet": "co_share",
    "co_tweet": "co_text",
    "co_reply": "co_reply",
    "co_link": "co_link",
    "co_post": "co_post",
}

#: Every network type of the toolkit: :data:`CNT_NETWORKS` (same-key networks, counted by
#: one band join on the key) and ``co_similar_tweet`` (token-set Jaccard of messages
#: within the window; :func:`cnt_edges` finds the pairs by prefix filtering).
CNT_ALL_NETWORKS: Final[dict[str, str]] = {**CNT_NETWORKS, "co_similar_tweet": "co_similar"}

#: The URLs of a message as written (the ``cnt`` reader's extra column).
URLS_RAW: Final = "x_urls_raw"

#: Accounts a network can have (pair counts are 63-bit keys ``lo << 34 | hi << 2 | tag``).
MAX_USERS: Final = 1 << 29

#: Kinds the toolkit sees with a ``repost_id`` / a ``reply_id`` (as ``cnt.write`` writes).
_REPOST_KINDS: Final = ("repost", "forward")
_REPLY_KINDS: Final = ("reply", "comment")


def cnt_messages(events: pl.DataFrame, *, network: str) -> pl.DataFrame:
    """Select the toolkit's messages of one network type, one row per (message, key).

    Parameters
    ----------
    events : polars.DataFrame
        Canonical events in input order (:func:`coordscope.read_events`); the columns
        ``event_id, actor_id, ts, kind, object_id`` are used, plus ``text`` for
        ``co_tweet`` and ``co_similar_tweet`` and ``x_urls_raw`` (else ``urls``) for
        ``co_link``.
    network : str
        One of :data:`CNT_ALL_NETWORKS` (``co_similar_tweet``: ``key`` is the text as
        exported, tokenised by :func:`cnt_edges`).

    Returns
    -------
    polars.DataFrame
        ``key`` (String), ``actor_id``, ``t`` (Int64, microseconds since 1970), ``unit``
        (UInt32: one number per (message, account)), in input order.

    Notes
    -----
    Repeated ``event_id`` s keep their first row (the toolkit's ``insert or ignore``),
    except for ``co_link``, whose ``message_url`` rows are inserted for every input row
    (with that row's account, time and repost status) and are unique per (message, URL).
    Reposts are ``kind`` repost or forward with an ``object_id``; replies are ``kind``
    reply or comment with an ``object_id``; quotes count as plain messages.

    Cost ``O(n)`` for ``n`` events (one lazy polars pass; ``co_link`` adds a hash-based
    ``unique`` over (message, URL) and a rank of (message, account)).
    """
    _check_network(network)
    needed = [EVENT_ID, ACTOR_ID, TS, KIND, OBJECT_ID]
    if network in ("co_tweet", "co_similar_tweet"):
        needed.append(TEXT)
    url_column = URLS_RAW if URLS_RAW in events.columns else URLS
    if network == "co_link":
        needed.append(url_column)
    missing = [c for c in needed if c not in events.columns]
    if missing:
        raise SchemaError(f"events lack the column(s) {', '.join(missing)} needed by {network}")

    kind = pl.col(KIND).cast(pl.String)
    repost = kind.is_in(list(_REPOST_KINDS)) & pl.col(OBJECT_ID).is_not_null()
    base = events.lazy().select(
        pl.col(EVENT_ID).cast(pl.String),
        pl.col(ACTOR_ID).cast(pl.String),
        pl.col(TS).dt.epoch("us").alias("t"),
        repost.alias("_repost"),
        (kind.is_in(list(_REPLY_KINDS)) & ~repost).alias("_reply"),
        pl.col(OBJECT_ID).cast(pl.String),
        *([pl.col(TEXT).cast(pl.String)] if network in ("co_tweet", "co_similar_tweet") else []),
        *([pl.col(url_column).alias("_urls")] if network == "co_link" else []),
    )
    if network == "co_link":
        lf = (
            base.filter(~pl.col("_repost"))
            .select(EVENT_ID, ACTOR_ID, "t", pl.col("_urls").alias("key"))
            .explode("key", keep_nulls=False, empty_as_null=False)
            .filter(pl.col("key").is_not_null() & (pl.col("key") != ""))
            .unique(subset=[EVENT_ID, "key"], keep="first", maintain_order=True)
        )
        unit = pl.struct(EVENT_ID, ACTOR_ID).rank("dense").cast(pl.UInt32) - 1
    else:
        lf = base.filter(pl.col(EVENT_ID).is_first_distinct())
        if network == "co_retweet":
            lf = lf.filter(pl.col("_repost")).with_columns(pl.col(OBJECT_ID).alias("key"))
        elif network == "co_reply":
            lf = lf.filter(pl.col("_reply")).with_columns(pl.col(OBJECT_ID).alias("key"))
        elif network == "co_similar_tweet":  # the text as exported; tokenised later
            lf = lf.filter(~pl.col("_repost")).with_columns(pl.col(TEXT).alias("key"))
        elif network == "co_tweet":
            key = toolkit_text(pl.col(TEXT).fill_null(""))
            lf = lf.filter(~pl.col("_repost")).with_columns(key.alias("key"))
        else:  # co_post
            lf = lf.with_columns(pl.lit("*").alias("key"))
        lf = lf.filter(pl.col("key").is_not_null() & (pl.col("key") != ""))
        unit = pl.int_range(pl.len(), dtype=pl.UInt32)
    lf = lf.filter(pl.col(ACTOR_ID).is_not_null() & pl.col("t").is_not_null())
    return lf.select("key", ACTOR_ID, "t", unit.alias("unit")).collect()


def cnt_edges(
    events: pl.DataFrame,
    *,
    network: str,
    window: float,
    min_edge_weight: int = 1,
    max_pairs: int = DEFAULT_MAX_PAIRS,
    similarity_threshold: float = 0.8,
    min_tokens: int = 1,
    workers: int | None = None,
) -> pl.DataFrame:
    """Compute the directed edge table of one toolkit network type, as the toolkit does.

    Parameters
    ----------
    events : polars.DataFrame
        Canonical events in input order (see :func:`cnt_messages` for the columns used).
    network : {"co_retweet", "co_tweet", "co_reply", "co_link", "co_post", "co_similar_tweet"}
        The toolkit's network type (:data:`CNT_ALL_NETWORKS`).
    window : float
        ``W`` in seconds, ``>= 0``; messages match when ``|Δt| <= W`` (inclusive).
    min_edge_weight : int, default 1
        Keep ``A → B`` when its weight is at least this (each direction on its own).
    max_pairs : int
        Memory budget: account-pair counts (8 bytes each, twice while they are sorted)
        are held up to ``16 * max_pairs`` before a sort (2.6 GB at the default; only what
        is used is touched); pairs are produced in chunks of ``min(max_pairs, 262144)``.
    similarity_threshold : float, default 0.8
        ``co_similar_tweet``: the toolkit's ``--similarity_threshold`` (its command-line
        default): two messages match when the Jaccard index of their token sets is at
        least this (inclusive, float64 division as in Python).
    min_tokens : int, default 1
        ``co_similar_tweet``: the toolkit's ``--min_document_size_similarity`` (default
        1): messages with fewer distinct tokens match nothing.
    workers : int, optional
        Threads that assemble the edge list of the same-key networks, ``>= 1``; ``None``
        (default): the cores this process may run on (its CPU affinity where the system
        reports one, else every core). The result does not depend on it.
        ``co_similar_tweet`` does not use it.

    Returns
    -------
    polars.DataFrame
        ``user_1, user_2`` (Enum over the sorted account ids of the network's messages:
        4 bytes a row; ``.cast(pl.String)`` for plain strings) and ``weight`` (UInt32):
        ``weight`` distinct messages of ``user_1`` matched a message of ``user_2``.
        Self-loops (``user_1 == user_2``: two different messages of one account) are
        included. Sorted by ``user_1, user_2`` (lexicographic ids).

    Raises
    ------
    ParameterError
        Unknown network, negative or non-finite window, ``min_edge_weight < 1``,
        ``max_pairs < 1``, ``workers < 1``, or more than :data:`MAX_USERS` accounts.

    Notes
    -----
    Cost ``O(n log n + P log P)`` for ``n`` messages and ``P`` in-window same-key pairs
    (one sort of the pair counts; everything else is linear); memory
    ``O(n + max_pairs + E)`` for ``E`` edges, about 12 bytes an edge for the result
    (plus, for ``co_link``, the (message, account) pairs of messages with several URLs).

    Times are compared as the toolkit compares them, in floating-point seconds
    (``e_1.ts - W <= e_2.ts <= e_1.ts + W``): when every time is a whole second and ``W``
    a whole number this is exact integer arithmetic; otherwise the double-precision
    comparison is reproduced pair by pair. Times are read at microsecond resolution.
    """
    _check_network(network)
    if not math.isfinite(window) or window < 0:
        raise ParameterError(f"window must be a finite number of seconds >= 0, got {window}")
    if min_edge_weight < 1:
        raise ParameterError(f"min_edge_weight must be >= 1, got {min_edge_weight}")
    if max_pairs < 1:
        raise ParameterError(f"max_pairs must be >= 1, got {max_pairs}")
    if workers is not None and workers < 1:
        raise ParameterError(f"workers must be >= 1, got {workers}")
    if network == "co_similar_tweet":
        if not 0 < similarity_threshold <= 1:
            raise ParameterError(
                f"similarity_threshold must be in (0, 1], got {similarity_threshold}"
            )
        if min_tokens < 0:
            raise ParameterError(f"min_tokens must be >= 0, got {min_tokens}")
    messages = cnt_messages(events, network=network)
    users = messages[ACTOR_ID].unique().sort()
    if users.len() > MAX_USERS:
        raise ParameterError(f"the cnt mode handles at most {MAX_USERS} accounts a network")
    user_enum = pl.Enum(users)
    if messages.height == 0:
        return _empty(user_enum)
    if network == "co_similar_tweet":
        user_1, user_2, weight = similar_edges(
            messages,
            user_enum,
            window=float(window),
            threshold=float(similarity_threshold),
            min_tokens=min_tokens,
        )
        return _edge_table(user_1, user_2, weight, user_enum, min_edge_weight)
    rows = MessageRows.build(messages, user_enum, multi_units=network == "co_link")
    del messages
    counter = count_matches(rows, float(window), max_pairs)
    user_1, user_2, weight = counter.columns(workers=workers or _available_cores())
    return _edge_table(user_1, user_2, weight, user_enum, min_edge_weight)


def _check_network(network: str) -> None:
    """Raise :class:`ParameterError` unless ``network`` is one of the toolkit's."""
    if network not in CNT_ALL_NETWORKS:
        raise ParameterError(
            f"unknown cnt network '{network}'; choose one of: {', '.join(CNT_ALL_NETWORKS)}"
        )


def _available_cores() -> int:
    """Count the cores this process may run on (its CPU affinity; every core elsewhere)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # pragma: no cover - systems without CPU affinity


def _edge_table(
    user_1: npt.NDArray[Any],
    user_2: npt.NDArray[Any],
    weight: pl.Series,
    user_enum: pl.Enum,
    min_edge_weight: int,
) -> pl.DataFrame:
    """Turn sorted account codes and weights into the edge table, without copying them.

    Edges below ``min_edge_weight`` are dropped.
    """
    physical = pl.Series([], dtype=user_enum).to_physical().dtype
    out = pl.DataFrame(
        [
            pl.Series("user_1", user_1).cast(physical).cat.to(user_enum, strict=False),
            pl.Series("user_2", user_2).cast(physical).cat.to(user_enum, strict=False),
            weight.alias("weight"),
        ]
    )
    return out.filter(pl.col("weight") >= min_edge_weight) if min_edge_weight > 1 else out


def _empty(user_enum: pl.Enum) -> pl.DataFrame:
    """Return an edge table without rows."""
    return pl.DataFrame(schema={"user_1": user_enum, "user_2": user_enum, "weight": pl.UInt32})
