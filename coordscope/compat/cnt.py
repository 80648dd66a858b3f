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
exactly (float64 division, as Python divides).

Two toolkit artifacts are deliberately not reproduced: an empty ``urls`` cell becomes the
URL ``''`` in the toolkit and links every such message (the reference outputs'
``co_link_emptyurls_deleted`` tables are the ones matched), and likewise an empty
normalised text (an empty message, or one made only of mentions) never becomes a
``co_tweet`` key. Empty strings never become keys (design.md §3).

Reading, not counting, differs in a few edge cases (the ``cnt`` reader, design.md §3): a
row without a user id or message id, or whose timestamp is not a number, is rejected and
counted (the toolkit keeps an empty user id as the account ``''`` and stops on a bad
timestamp); ids lose surrounding white space; times are kept to the microsecond.

Method. Messages become rows ``(key, ts, account, message)`` sorted by ``(key, ts)``;
:func:`coordscope.engine.kernel.band_pairs` yields every same-key pair within the window
once, in chunks. The distinct-message count needs no table of (message, account) pairs: a
pair adds to ``A → B`` only when the partner is the *first* (in sorted order) of ``B``'s
rows within the window of ``A``'s message — decided from a pointer to the previous row of
the same (key, account) — so every (message, account) relation is counted exactly once,
whichever chunk holds it. A pair of rows whose accounts have no other row on the key (a
viral repost: one repost per account) skips even that test and is counted once for both
directions. Only ``co_link`` messages with several URLs need a set of (message, account)
pairs, since one message can match through two keys.

Every count is a 64-bit key of an account pair; the keys are sorted once (polars, both
cores) and the sorted edge list is read off them in linear passes: the counts
``lo → hi`` are already in order, the counts ``hi → lo`` are transposed by a counting
sort (:mod:`scipy.sparse`). A key where every account has one message contributes its
pairs without any table keyed by message, so a key reposted 40,000 times inside an hour
(~170M pairs) costs about 8 bytes a pair while sorting and 12 bytes an edge after.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import math
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp

from coordscope.engine.kernel import DEFAULT_MAX_PAIRS, band_pairs, count_band_pairs
from coordscope.errors import ParameterError, SchemaError
from coordscope.schema import ACTOR_ID, EVENT_ID, KIND, OBJECT_ID, TEXT, TS, URLS, US
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
#: Python's ``str.split()`` white space (``str.isspace``), which the toolkit collapses.
#: Pair counts held (as multiples of ``max_pairs``) before they are sorted: one sort for
#: up to 320M counts at the default budget (a viral key of 170M pairs fits).
_FLUSH_FACTOR: Final = 16
#: Pairs per chunk of the pair loop: small arrays stay in cache and are reused by the
#: allocator (ten times faster than chunks of tens of millions); ``max_pairs`` caps it.
_CHUNK: Final = 1 << 18

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def cnt_messages(events: pl.DataFrame, *, network: str) -> pl.DataFrame:
    """The toolkit's messages of one network type, one row per (message, key).

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
) -> pl.DataFrame:
    """Directed edge table of one toolkit network type, identical to the toolkit's.

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
        ``max_pairs < 1``, or more than :data:`MAX_USERS` accounts.

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
    if network == "co_similar_tweet":
        if not 0 < similarity_threshold <= 1:
            raise ParameterError(
                f"similarity_threshold must be in (0, 1], got {similarity_threshold}"
            )
        if min_tokens < 0:
            raise ParameterError(f"min_tokens must be >= 0, got {min_tokens}")
        return _similar_edges(
            events, float(window), min_edge_weight, float(similarity_threshold), min_tokens
        )
    messages = cnt_messages(events, network=network)
    users = messages[ACTOR_ID].unique().sort()
    if users.len() > MAX_USERS:
        raise ParameterError(f"the cnt mode handles at most {MAX_USERS} accounts a network")
    user_enum = pl.Enum(users)
    if messages.height == 0:
        return _empty(user_enum)
    rows = _Rows.build(messages, user_enum, multi_units=network == "co_link")
    del messages
    counter = _count(rows, float(window), max_pairs)
    return counter.frame(user_enum, min_edge_weight)


# --------------------------------------------------------------------------------------
# private helpers


_MADV_POPULATE_WRITE: Final = 23  # Linux >= 5.14
_POPULATE_STEP: Final = 64 << 20
_populate_ok = sys.platform == "linux"


@functools.cache
def _madvise() -> Any:
    function = ctypes.CDLL(None, use_errno=True).madvise
    function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    function.restype = ctypes.c_int
    return function


def _populate(array: npt.NDArray[Any], start: int = 0, stop: int | None = None) -> None:
    """Map the memory pages of ``array[start:stop]`` now, one system call a 64 MiB.

    Fresh memory is otherwise mapped a page at a time as it is first written; asking the
    kernel for a whole range at once (``madvise(MADV_POPULATE_WRITE)``, Linux 5.14+)
    cost a third of that on the virtual machines measured, where first writes to fresh
    memory took up to a third of the run time. The contents are unchanged; a no-op where
    the call is not available or the array is not contiguous.
    """
    global _populate_ok  # noqa: PLW0603 - switched off for good if the kernel refuses
    if not _populate_ok or array.size == 0 or not array.flags.c_contiguous:
        return
    stop = array.size if stop is None else min(stop, array.size)
    if stop <= start:
        return
    page = 4096
    base = array.ctypes.data
    first = (base + start * array.itemsize + page - 1) // page * page
    last = (base + stop * array.itemsize) // page * page
    try:
        madvise = _madvise()
    except (OSError, AttributeError):  # pragma: no cover - no C library madvise
        _populate_ok = False
        return
    for at in range(first, last, _POPULATE_STEP):
        if madvise(at, min(_POPULATE_STEP, last - at), _MADV_POPULATE_WRITE) != 0:
            _populate_ok = False
            return


def _check_network(network: str) -> None:
    if network not in CNT_ALL_NETWORKS:
        raise ParameterError(
            f"unknown cnt network '{network}'; choose one of: {', '.join(CNT_ALL_NETWORKS)}"
        )


def _similar_edges(
    events: pl.DataFrame,
    window: float,
    min_edge_weight: int,
    threshold: float,
    min_tokens: int,
) -> pl.DataFrame:
    """The toolkit's ``co_similar_tweet`` network (see the module docstring).

    Every pair of non-repost messages within the window whose token sets have Jaccard
    ``>= threshold`` is found exactly by prefix filtering
    (:func:`coordscope.signals.similar.jaccard_pairs`, candidates from a band join on the
    rarest tokens); then ``A → B`` counts the distinct messages of ``A`` with a match by
    ``B``, as for the other networks.
    """
    from coordscope.signals.similar import jaccard_pairs, subset_sets, token_sets

    messages = cnt_messages(events, network="co_similar_tweet")
    users = messages[ACTOR_ID].unique().sort()
    if users.len() > MAX_USERS:
        raise ParameterError(f"the cnt mode handles at most {MAX_USERS} accounts a network")
    user_enum = pl.Enum(users)
    sets = token_sets(messages["key"], tokenizer="toolkit")
    keep = np.flatnonzero(sets.sizes >= max(1, min_tokens))
    if keep.shape[0] < 2:
        return _empty(user_enum)
    t = messages["t"].to_numpy()[keep]
    band = math.ceil(window * US) + 2  # a superset; the float test below decides
    i, j, _ = jaccard_pairs(subset_sets(sets, keep), threshold=threshold, ts=t, window=band)
    ti = t[i] / US
    tj = t[j] / US
    x = (ti - window <= tj) & (tj <= ti + window)  # e_1 = i matched by e_2 = j
    y = (tj - window <= ti) & (ti <= tj + window)  # e_1 = j matched by e_2 = i
    user = messages[ACTOR_ID].cast(user_enum).to_physical().to_numpy()[keep]
    src = np.concatenate((i[x], j[y]))
    dst = np.concatenate((user[j[x]], user[i[y]]))
    matched = pl.DataFrame({"msg": src, "u1": user[src], "u2": dst}).unique(["msg", "u2"])
    counts = (
        matched.group_by("u1", "u2")
        .agg(pl.len().cast(pl.UInt32).alias("weight"))
        .filter(pl.col("weight") >= min_edge_weight)
        .sort("u1", "u2")
    )
    physical = pl.Series([], dtype=user_enum).to_physical().dtype
    return pl.DataFrame(
        [
            counts["u1"].cast(physical).cat.to(user_enum, strict=False).alias("user_1"),
            counts["u2"].cast(physical).cat.to(user_enum, strict=False).alias("user_2"),
            counts["weight"],
        ]
    )


def _empty(user_enum: pl.Enum) -> pl.DataFrame:
    return pl.DataFrame(schema={"user_1": user_enum, "user_2": user_enum, "weight": pl.UInt32})


@dataclass
class _Rows:
    """Messages as arrays sorted by (key, time): what the pair loop reads.

    ``single`` rows are the only row of their account on their key (and, for ``co_link``,
    of a message with one URL): a pair of two single rows gives both contributions
    without any check. ``single_user`` is the account of single rows and -1 elsewhere.
    """

    key: IntArray  # dense key number, ascending
    t: IntArray  # microseconds
    user: IntArray  # rank of the account id
    unit: IntArray  # (message, account) number
    prev: IntArray  # previous row of the same (key, account), -1 if none
    single_user: IntArray
    multi: BoolArray  # unit with several rows (co_link messages with several URLs)
    n_users: int
    n_units: int
    unit_user: IntArray

    @classmethod
    def build(cls, messages: pl.DataFrame, user_enum: pl.Enum, *, multi_units: bool) -> _Rows:
        """Code keys (hash, checked for collisions), users (sorted rank) and order rows."""
        n_users = len(user_enum.categories)
        coded = messages.select(
            pl.col("key").hash().alias("k"),
            pl.col("t"),
            pl.col(ACTOR_ID).cast(user_enum).to_physical().cast(pl.Int64).alias("u"),
            pl.col("unit").cast(pl.Int64),
        )
        distinct = (
            pl.DataFrame([coded["k"].alias("h"), messages["key"]])
            .select(pl.col("h").n_unique(), pl.col("key").n_unique())
            .row(0)
        )
        if distinct[0] != distinct[1]:  # pragma: no cover - a 64-bit hash collision
            coded = coded.with_columns(messages["key"].rank("dense").cast(pl.UInt64).alias("k"))
        coded = coded.sort(["k", "t"])
        k = coded["k"].to_numpy()
        n = k.shape[0]
        key = np.zeros(n, dtype=np.int64)
        if n > 1:
            np.cumsum(k[1:] != k[:-1], out=key[1:])
        t = coded["t"].to_numpy().astype(np.int64, copy=False)
        user = coded["u"].to_numpy().astype(np.int64, copy=False)
        unit = coded["unit"].to_numpy().astype(np.int64, copy=False)
        prev, has_next = _same_user_neighbours(key, user, n_users)
        n_units = int(unit.max()) + 1
        if multi_units:
            multi = np.bincount(unit, minlength=n_units)[unit] > 1
        else:
            multi = np.zeros(n, dtype=np.bool_)
        single = (prev < 0) & ~has_next & ~multi
        single_user = np.where(single, user, -1)
        unit_user = np.zeros(n_units, dtype=np.int64)
        unit_user[unit] = user
        return cls(key, t, user, unit, prev, single_user, multi, n_users, n_units, unit_user)


def _same_user_neighbours(
    key: IntArray, user: IntArray, n_users: int
) -> tuple[IntArray, BoolArray]:
    """Per row: the previous row of its key and account (-1 if none); is there a later one."""
    n = key.shape[0]
    prev = np.full(n, -1, dtype=np.int64)
    has_next = np.zeros(n, dtype=np.bool_)
    if n < 2:
        return prev, has_next
    if int(key[-1]) < (2**62) // max(n_users, 1):
        order = np.argsort(key * n_users + user, kind="stable")
    else:  # pragma: no cover - more than 2^62 (key, account) combinations
        order = np.lexsort((np.arange(n), user, key))
    ko = key[order]
    uo = user[order]
    same = (ko[1:] == ko[:-1]) & (uo[1:] == uo[:-1])
    prev[order[1:][same]] = order[:-1][same]
    has_next[order[:-1][same]] = True
    return prev, has_next


_SHIFT: Final = np.int64(32)
_LOW: Final = np.int64(0xFFFFFFFF)
#: Entries handled at once in the linear passes of the final assembly: arrays of a few
#: MiB stay in cache and are recycled by the allocator instead of faulted in afresh.
_BLOCK: Final = 1 << 18
#: Pair key tags: a pair counted in both directions, only ``lo → hi`` (self-loops too),
#: only ``hi → lo``.
_BOTH: Final = 0
_UP: Final = 1
_DOWN: Final = 2

UIntArray = npt.NDArray[np.uint32]


class _KeyStream:
    """64-bit keys added in chunks and returned sorted (duplicates kept).

    Keys are copied into one buffer of ``budget`` keys (allocated once, pages touched as
    keys arrive); a full buffer is sorted (polars, both cores) into a partial, and
    :meth:`result` merges the partials (one stable sort of their concatenation merges the
    sorted runs in ``O(m log runs)``).
    """

    def __init__(self, budget: int) -> None:
        self.budget = max(1, budget)
        self.buffer: IntArray | None = None
        self.mapped = 0  # keys of the buffer whose pages are mapped
        self.held = 0
        self.parts: list[IntArray] = []
        self.helper: threading.Thread | None = None

    def expect(self, n_keys: int) -> None:
        """Map the buffer for about ``n_keys`` keys in the background while they are made.

        Mapping is idempotent and leaves the contents alone, so the writer may overtake
        the helper (it then maps what it needs itself).
        """
        if self.buffer is None:
            self.buffer = np.empty(self.budget, dtype=np.int64)
        buffer = self.buffer
        stop = min(n_keys, self.budget)

        def ahead() -> None:
            step = _POPULATE_STEP // 8
            for start in range(0, stop, step):
                _populate(buffer, start, start + step)
                self.mapped = max(self.mapped, min(start + step, stop))

        self.helper = threading.Thread(target=ahead, daemon=True)
        self.helper.start()

    def add(self, keys: IntArray) -> None:
        start = 0
        while start < keys.shape[0]:
            if self.buffer is None:
                self.buffer = np.empty(self.budget, dtype=np.int64)
            take = min(keys.shape[0] - start, self.budget - self.held)
            if self.held + take > self.mapped:
                upto = max(self.held + take, self.mapped + _POPULATE_STEP // 8)
                _populate(self.buffer, self.mapped, upto)
                self.mapped = max(self.mapped, min(upto, self.budget))
            self.buffer[self.held : self.held + take] = keys[start : start + take]
            self.held += take
            start += take
            if self.held == self.budget:
                self.flush()

    def spare(self, nbytes: int) -> npt.NDArray[np.uint8] | None:
        """The emptied buffer as ``nbytes`` of scratch memory (pages already touched),
        or ``None`` when it is smaller; the stream lets go of it."""
        buffer = self.buffer
        self.buffer = None
        if buffer is None or buffer.nbytes < nbytes or self.held:
            return None
        return buffer.view(np.uint8)[:nbytes]

    def flush(self) -> None:
        if self.helper is not None:
            self.helper.join()
            self.helper = None
        if self.buffer is not None and self.held:
            self.parts.append(pl.Series(self.buffer[: self.held]).sort().to_numpy())
            self.held = 0

    def result(self) -> IntArray:
        """Every key added, sorted (the stream is emptied; :meth:`spare` keeps the buffer)."""
        self.flush()
        parts = self.parts
        self.parts = []
        if not parts:
            return np.zeros(0, dtype=np.int64)
        if len(parts) == 1:
            return parts[0]
        keys = np.concatenate(parts)
        parts.clear()
        keys.sort(kind="stable")
        return keys


def _pair_keys(a: IntArray, b: IntArray) -> IntArray:
    """Tagged keys of one count for each ``a[k] → b[k]``."""
    lo = np.minimum(a, b)
    tag = np.where(a > b, _DOWN, _UP)
    np.left_shift(lo, 34, out=lo)
    lo |= np.maximum(a, b) << 2
    lo |= tag
    return lo


class _EdgeCounter:
    """Counts of directed account pairs ``A → B`` (see the module docstring).

    Every contribution is one 64-bit key ``lo << 34 | hi << 2 | tag`` of the unordered
    pair ``lo <= hi`` of codes, tagged ``_BOTH`` (a pair of single rows: one count in each
    direction), ``_UP`` (``lo → hi``, and self-loops) or ``_DOWN`` (``hi → lo``); they go to
    one sorted stream. ``co_link`` messages with several URLs first go to a set of
    ``message << 32 | account`` keys (counted once per pair).

    The edge list is then read off the sorted stream in two linear passes: the counts
    ``lo → hi`` (tags both and up) are row ``lo``'s entries at and right of the diagonal,
    already in order; the counts ``hi → lo`` (tags both and down) are transposed with a
    counting sort (:mod:`scipy.sparse`) into row ``hi``'s entries left of the diagonal;
    row ``A`` of the result is its left piece then its right piece. No second sort.
    """

    def __init__(self, n_users: int, unit_user: IntArray, *, budget: int) -> None:
        self.n_users = n_users
        self.unit_user = unit_user
        self.stream = _KeyStream(budget)
        self.set = _KeyStream(budget)

    def add_both(self, a: IntArray, b: IntArray) -> None:
        """One count for ``a[k] → b[k]`` and one for ``b[k] → a[k]`` (``a[k] != b[k]``)."""
        lo = np.minimum(a, b)
        np.left_shift(lo, 34, out=lo)
        lo |= np.maximum(a, b) << 2
        self.stream.add(lo)  # tag _BOTH == 0

    def add(self, a: IntArray, b: IntArray) -> None:
        """One count for each ``a[k] → b[k]``."""
        if a.shape[0]:
            self.stream.add(_pair_keys(a, b))

    def add_set(self, unit: IntArray, b: IntArray) -> None:
        """Message (unit) ``unit[k]`` matched account ``b[k]`` (counted once per pair)."""
        self.set.add((unit << _SHIFT) | b)

    def columns(self) -> tuple[UIntArray, UIntArray, pl.Series]:
        """``user_1, user_2, weight`` codes of every edge, sorted by ``user_1, user_2``."""
        n = self.n_users
        pairs = self.set.result()
        self.set.spare(0)
        if pairs.shape[0]:
            pairs = np.unique(pairs)
            for lo in range(0, pairs.shape[0], _BLOCK):
                block = pairs[lo : lo + _BLOCK]
                self.add(self.unit_user[block >> _SHIFT], block & _LOW)
        del pairs
        # the result's user_1 column (at most two edges a pair count): its memory is mapped
        # in the background while the counts are sorted
        n_keys = self.stream.held + sum(p.shape[0] for p in self.stream.parts)
        user_1_memory = np.empty(2 * n_keys, dtype=np.uint32)
        mapping = threading.Thread(target=_populate, args=(user_1_memory,), daemon=True)
        mapping.start()
        keys = self.stream.result()
        blocks = _pair_blocks(keys)
        index_dtype = np.int32 if keys.shape[0] < 2**31 else np.int64
        # pass 1, on both cores (numpy releases the GIL): row lengths of the right side
        # (lo → hi: tags both and up); the left side (hi → lo: tags both and down) as rows
        # lo of columns hi for the transpose, with a flag on entries counted more than once
        halves = _halves(blocks)
        with ThreadPoolExecutor(max_workers=2) as pool:
            kinds = [
                k for ks in pool.map(functools.partial(_kinds, keys, blocks), halves) for k in ks
            ]
            offsets = np.zeros(len(blocks) + 1, dtype=np.int64)
            np.cumsum([size for _, _, size in kinds], out=offsets[1:])
            filled = int(offsets[-1])
            left_cols = np.empty(filled, dtype=index_dtype)
            left_flag = np.zeros(filled, dtype=np.uint8)  # pages touched where set
            first = functools.partial(
                _first_pass, keys, blocks, kinds, offsets, left_cols, left_flag, n
            )
            parts = list(pool.map(first, halves))
        left_rows = parts[0][0] + parts[1][0]
        right_length = parts[0][1] + parts[1][1]
        left_heavy = parts[0][2] + parts[1][2]
        del parts
        left_length = np.bincount(left_cols, minlength=n).astype(np.int64)
        row_length = left_length + right_length
        row_start = np.zeros(n, dtype=np.int64)
        np.cumsum(row_length[:-1], out=row_start[1:])
        total = int(row_length.sum())
        spare = self.stream.spare(4 * total)  # reuse the key buffer's memory when it fits
        user_2 = np.empty(total, dtype=np.uint32) if spare is None else spare.view(np.uint32)
        del spare
        heavy: list[tuple[IntArray, UIntArray]] = []  # (positions, counts) above one

        def left_side(
            cols: npt.NDArray[Any],
            flag: npt.NDArray[np.uint8],
            several: list[tuple[IntArray, UIntArray]],
        ) -> tuple[IntArray, UIntArray]:
            """Transpose the left side and place it at the start of each row; return the
            positions and counts of its entries counted more than once."""
            left = _transpose(left_rows, cols, flag, several, n)
            # entry e of row A goes to row_start[A] + e - indptr[A]
            offset = row_start - left.indptr[:-1]
            for r0, r1 in _row_blocks(left.indptr):
                lo, hi = int(left.indptr[r0]), int(left.indptr[r1])
                at = np.repeat(offset[r0:r1], left_length[r0:r1])
                at += np.arange(lo, hi, dtype=np.int64)
                user_2[at] = left.cols[lo:hi]
            rows_of_heavy = np.searchsorted(left.indptr, left.heavy_at, side="right") - 1
            return offset[rows_of_heavy] + left.heavy_at, left.heavy_counts

        with ThreadPoolExecutor(max_workers=1) as pool:  # numpy and scipy release the GIL
            left_done = pool.submit(left_side, left_cols, left_flag[:filled], left_heavy)
            del left_cols, left_flag, left_heavy
            # pass 2: the right pieces, in stream order, after each row's left piece
            right_start = np.zeros(n, dtype=np.int64)
            np.cumsum(right_length[:-1], out=right_start[1:])
            offset = row_start + left_length - right_start
            done = 0
            block = keys[:0]
            for (lo, hi), (tagged, repeated, _) in zip(blocks, kinds, strict=True):
                block = keys[lo:hi]
                if not tagged and not repeated:
                    at = offset[block >> 34]
                    at += np.arange(done, done + block.shape[0], dtype=np.int64)
                    user_2[at] = (block >> 2) & _LOW
                    done += block.shape[0]
                    continue
                pair, count = _side(block, skip=_DOWN)
                at = offset[pair >> _SHIFT]
                at += np.arange(done, done + pair.shape[0], dtype=np.int64)
                user_2[at] = pair & _LOW
                if count is not None:
                    more = count > 1
                    heavy.append((at[more], count[more]))
                done += pair.shape[0]
            del keys, block  # polars memory: the weights below may reuse it
            mapping.join()
            user_1 = user_1_memory[:total]  # row numbers: +1 where a row starts
            user_1.fill(0)
            starts = row_start[1:]
            np.add.at(user_1, starts[starts < total], 1)
            np.cumsum(user_1, out=user_1)
            heavy.append(left_done.result())
        weight = pl.repeat(1, total, dtype=pl.UInt32, eager=True).alias("weight")
        if heavy:
            at = np.concatenate([a for a, _ in heavy])
            weight.scatter(at, np.concatenate([c for _, c in heavy]))
        return user_1, user_2, weight

    def frame(self, user_enum: pl.Enum, min_edge_weight: int) -> pl.DataFrame:
        """The sorted edge table (codes become ids without copying the columns)."""
        user_1, user_2, weight = self.columns()
        physical = pl.Series([], dtype=user_enum).to_physical().dtype
        out = pl.DataFrame(
            [
                pl.Series("user_1", user_1).cast(physical).cat.to(user_enum, strict=False),
                pl.Series("user_2", user_2).cast(physical).cat.to(user_enum, strict=False),
                weight,
            ]
        )
        return out.filter(pl.col("weight") >= min_edge_weight) if min_edge_weight > 1 else out


def _halves(blocks: list[tuple[int, int]]) -> list[range]:
    """Two ranges of block numbers holding about as many keys each."""
    if not blocks:
        return [range(0), range(0)]
    middle = (blocks[0][0] + blocks[-1][1]) // 2
    split = next((b for b, (_, hi) in enumerate(blocks) if hi >= middle), len(blocks) - 1) + 1
    return [range(split), range(split, len(blocks))]


def _kinds(
    keys: IntArray, blocks: list[tuple[int, int]], part: range
) -> list[tuple[bool, bool, int]]:
    """Per block: tagged keys?, repeated keys?, number of left-side (hi → lo) entries."""
    out = []
    for b in part:
        lo, hi = blocks[b]
        block = keys[lo:hi]
        tagged, repeated = _block_kind(block)
        size = block.shape[0] if not tagged and not repeated else _side(block, skip=_UP)[0].shape[0]
        out.append((tagged, repeated, size))
    return out


def _first_pass(
    keys: IntArray,
    blocks: list[tuple[int, int]],
    kinds: list[tuple[bool, bool, int]],
    offsets: IntArray,
    left_cols: npt.NDArray[Any],
    left_flag: npt.NDArray[np.uint8],
    n: int,
    part: range,
) -> tuple[IntArray, IntArray, list[tuple[IntArray, UIntArray]]]:
    """Pass 1 over some blocks: left-side rows and columns (written at the blocks' offsets),
    right-side row lengths, and the left entries counted more than once."""
    left_rows = np.zeros(n, dtype=np.int64)
    right_length = np.zeros(n, dtype=np.int64)
    heavy: list[tuple[IntArray, UIntArray]] = []
    if not part:
        return left_rows, right_length, heavy
    _populate(left_cols, int(offsets[part.start]), int(offsets[part.stop]))
    for b in part:
        lo, hi = blocks[b]
        block = keys[lo:hi]
        at = int(offsets[b])
        tagged, repeated, size = kinds[b]
        if not tagged and not repeated:  # every pair once, both directions
            rows = block >> 34
            _add_sorted_counts(left_rows, rows)
            _add_sorted_counts(right_length, rows)
            np.bitwise_and(block >> 2, _LOW, out=left_cols[at : at + size], casting="unsafe")
            continue
        pair, count = _side(block, skip=_UP)
        _add_sorted_counts(left_rows, pair >> _SHIFT)
        left_cols[at : at + size] = pair & _LOW
        if count is not None:
            several = np.flatnonzero(count > 1)
            left_flag[at + several] = 1
            heavy.append((pair[several], count[several]))
        pair, _ = _side(block, skip=_DOWN)
        _add_sorted_counts(right_length, pair >> _SHIFT)
    return left_rows, right_length, heavy


def _block_kind(block: IntArray) -> tuple[bool, bool]:
    """Does a block of sorted keys hold tagged keys; does a key repeat?"""
    tagged = bool(np.bitwise_and(block, 3).any())
    repeated = block.shape[0] > 1 and bool((block[1:] == block[:-1]).any())
    return tagged, repeated


def _add_sorted_counts(counts: IntArray, values: IntArray) -> None:
    """``counts[v] += 1`` for every ``v`` of the sorted ``values`` (cost ``O(len(values))``)."""
    if values.shape[0] == 0:
        return
    change = np.flatnonzero(values[1:] != values[:-1]) + 1
    starts = np.concatenate(([0], change))
    lengths = np.diff(np.concatenate((starts, [values.shape[0]])))
    counts[values[starts]] += lengths


def _pair_blocks(keys: IntArray) -> list[tuple[int, int]]:
    """Ranges of about ``_BLOCK`` sorted keys that never split the keys of one pair."""
    n = keys.shape[0]
    bounds = [0]
    while bounds[-1] < n:
        end = bounds[-1] + _BLOCK
        if end >= n:
            bounds.append(n)
            break
        next_pair = ((int(keys[end - 1]) >> 2) + 1) << 2
        bounds.append(int(np.searchsorted(keys, next_pair)))
    return list(itertools.pairwise(bounds))


def _side(block: IntArray, *, skip: int | None) -> tuple[IntArray, UIntArray | None]:
    """Distinct pairs ``lo << 32 | hi`` of sorted tagged keys without tag ``skip``
    (``None``: no key is tagged), and how many keys each stands for (``None``: one)."""
    kept = block >> 2 if skip is None else block[(block & 3) != skip] >> 2
    if kept.shape[0] < 2:
        return kept, None
    repeat = kept[1:] == kept[:-1]
    if not repeat.any():
        return kept, None
    starts = np.flatnonzero(~repeat) + 1
    firsts = np.empty(starts.shape[0] + 1, dtype=np.int64)
    firsts[0] = 0
    firsts[1:] = starts
    counts = np.empty(firsts.shape[0], dtype=np.uint32)
    np.subtract(firsts[1:], firsts[:-1], out=counts[:-1], casting="unsafe")
    counts[-1] = kept.shape[0] - firsts[-1]
    return kept[firsts], counts


@dataclass
class _Rowwise:
    """Entries grouped by row: row ``A`` holds ``cols[indptr[A]:indptr[A + 1]]`` (sorted);
    entry ``heavy_at[k]`` is counted ``heavy_counts[k]`` times, every other entry once."""

    indptr: IntArray
    cols: npt.NDArray[np.integer]
    heavy_at: IntArray
    heavy_counts: UIntArray


def _transpose(
    row_length: IntArray,
    cols: npt.NDArray[Any],
    flag: npt.NDArray[np.uint8],
    heavy: list[tuple[IntArray, UIntArray]],
    n: int,
) -> _Rowwise:
    """Rows ``lo`` of columns ``hi`` → rows ``hi`` of columns ``lo`` (a counting sort)."""
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(row_length, out=indptr[1:])
    if cols.shape[0] == 0:
        return _Rowwise(indptr, cols, indptr[:0], np.zeros(0, dtype=np.uint32))
    matrix = sp.csr_array((flag, cols, indptr.astype(cols.dtype)), shape=(n, n))
    by_column = matrix.tocsc()
    del matrix
    heavy_at = np.flatnonzero(by_column.data)  # transposed order: sorted by (hi, lo)
    if heavy:
        pairs = np.concatenate([p for p, _ in heavy])
        counts = np.concatenate([c for _, c in heavy])
        swapped = ((pairs & _LOW) << _SHIFT) | (pairs >> _SHIFT)
        heavy_counts = counts[np.argsort(swapped)]
    else:
        heavy_counts = np.zeros(0, dtype=np.uint32)
    return _Rowwise(by_column.indptr.astype(np.int64), by_column.indices, heavy_at, heavy_counts)


def _row_blocks(indptr: IntArray) -> list[tuple[int, int]]:
    """Consecutive row ranges holding about ``_BLOCK`` entries each."""
    n = indptr.shape[0] - 1
    marks = np.arange(_BLOCK, int(indptr[-1]), _BLOCK, dtype=np.int64)
    cuts = np.unique(np.searchsorted(indptr, marks, side="right"))
    bounds = [0, *(int(c) for c in cuts if 0 < c < n), n]
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def _count(rows: _Rows, window: float, max_pairs: int) -> _EdgeCounter:
    """Run the band join and reduce every chunk (see the module docstring)."""
    window_us = round(window * US)
    exact = window.is_integer() and not bool((rows.t % US).any())
    band = window_us if exact else window_us + 2  # float comparisons decide at the edge
    tf = None if exact else rows.t / US
    counter = _EdgeCounter(rows.n_users, rows.unit_user, budget=_FLUSH_FACTOR * max_pairs)
    # one key a pair for most pairs: map that much of the buffer while the pairs are made
    counter.stream.expect(count_band_pairs(rows.key, rows.t, band))
    for ii, jj in band_pairs(rows.key, rows.t, band, max_pairs=min(max_pairs, _CHUNK)):
        _reduce_chunk(rows, ii, jj, window_us, window, tf, counter)
    return counter


def _reduce_chunk(
    rows: _Rows,
    ii: IntArray,
    jj: IntArray,
    window_us: int,
    window: float,
    tf: npt.NDArray[np.float64] | None,
    counter: _EdgeCounter,
) -> None:
    """Add one chunk of pairs ``(i, j)``, ``i < j``, to the counts.

    A pair gives up to two contributions: message ``i`` matched account ``user[j]``
    ("X", the toolkit's ``e_1 = i``) and message ``j`` matched ``user[i]`` ("Y"). Each is
    counted only from the first row of that account within the message's window, so a
    (message, account) relation is counted once whichever chunk holds its pairs.
    """
    si = rows.single_user[ii]
    sj = rows.single_user[jj]
    fast = (si >= 0) & (sj >= 0)
    ok_x: BoolArray | None = None
    ok_y: BoolArray | None = None
    if tf is not None:  # the toolkit's floating-point window, each direction on its own
        ti = tf[ii]
        tj = tf[jj]
        ok_x = (ti - window <= tj) & (tj <= ti + window)
        ok_y = (tj - window <= ti) & (ti <= tj + window)
        fast &= ok_x & ok_y
    if fast.all():
        counter.add_both(si, sj)
        return
    if fast.any():
        counter.add_both(si[fast], sj[fast])
    slow = ~fast
    i = ii[slow]
    j = jj[slow]
    keep = rows.unit[i] != rows.unit[j]  # a message never matches itself
    if ok_x is not None and ok_y is not None:
        ok_x = ok_x[slow] & keep
        ok_y = ok_y[slow] & keep
    else:
        ok_x = keep
        ok_y = keep.copy()
    prev = rows.prev
    # X: is j the first row of user[j] in i's window (i itself excluded)?
    p = prev[j]
    p = np.where(p == i, prev[i], p)
    ok_x &= (p < 0) | _before(rows.t, tf, p, i, window_us, window)
    # Y: is i the first row of user[i] in j's window?
    p = prev[i]
    ok_y &= (p < 0) | _before(rows.t, tf, p, j, window_us, window)
    for source, partner, ok in ((i, j, ok_x), (j, i, ok_y)):
        src = source[ok]
        dst = partner[ok]
        multi = rows.multi[src]
        if multi.any():
            counter.add_set(rows.unit[src[multi]], rows.user[dst[multi]])
            src = src[~multi]
            dst = dst[~multi]
        counter.add(rows.user[src], rows.user[dst])


def _before(
    t: IntArray,
    tf: npt.NDArray[np.float64] | None,
    p: IntArray,
    ref: IntArray,
    window_us: int,
    window: float,
) -> BoolArray:
    """Row ``p`` lies before the window of row ``ref``: ``ts[p] < ts[ref] - W``.

    Rows ``p < 0`` give an arbitrary answer (the caller masks them).
    """
    q = np.maximum(p, 0)
    if tf is None:
        return np.asarray(t[q] < t[ref] - window_us)
    return np.asarray(tf[q] < tf[ref] - window)
