"""The toolkit's same-key networks as a band join: each (message, account) counted once.

The directed weight ``A → B`` is the number of distinct messages of ``A`` with at least
one other message of ``B`` on the same key within the window. Messages become rows
``(key, ts, account, message)`` sorted by ``(key, ts)``;
:func:`coordscope.engine.kernel.band_pairs` yields every same-key pair within the window
once, in chunks. The distinct-message count needs no table of (message, account) pairs:
a pair adds to ``A → B`` only when the partner is the *first* (in sorted order) of
``B``'s rows within the window of ``A``'s message — decided from a pointer to the
previous row of the same (key, account) — so every (message, account) relation is
counted exactly once, whichever chunk holds it. A pair of rows whose accounts have no
other row on the key (a viral repost: one repost per account) skips even that test and is
counted once for both directions. Only ``co_link`` messages with several URLs need a set
of (message, account) pairs, since one message can match through two keys.

The counts go to an :class:`~coordscope.compat._pair_counter.EdgeCounter`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from coordscope.compat._pair_counter import EdgeCounter
from coordscope.engine.kernel import band_pairs, count_band_pairs
from coordscope.schema import ACTOR_ID, US

__all__ = ["MessageRows", "count_matches"]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Pair counts held (as multiples of ``max_pairs``) before they are sorted: one sort for
#: up to 320M counts at the default budget (a viral key of 170M pairs fits).
_FLUSH_FACTOR: Final = 16
#: Pairs per chunk of the pair loop: small arrays stay in cache and are reused by the
#: allocator (ten times faster than chunks of tens of millions); ``max_pairs`` caps it.
_CHUNK: Final = 1 << 18


@dataclass
class MessageRows:
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
    def build(cls, messages: pl.DataFrame, user_enum: pl.Enum, *, multi_units: bool) -> MessageRows:
        """Code the keys and accounts of the messages and sort them by (key, time).

        Parameters
        ----------
        messages : polars.DataFrame
            :func:`coordscope.compat.cnt.cnt_messages` of one network, at least one row.
        user_enum : polars.Enum
            The network's sorted account ids (an account's code is its rank).
        multi_units : bool
            Whether a (message, account) may have several rows (``co_link``).

        Returns
        -------
        MessageRows

        Notes
        -----
        Keys are coded by a 64-bit hash, checked for collisions (a dense rank replaces it
        if one is found). Cost ``O(n log n)`` for ``n`` rows.
        """
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


def count_matches(rows: MessageRows, window: float, max_pairs: int) -> EdgeCounter:
    """Run the band join and count every (message, account) match once.

    Parameters
    ----------
    rows : MessageRows
        The network's messages.
    window : float
        ``W`` in seconds, ``>= 0``: messages match when ``ts_1 - W <= ts_2 <= ts_1 + W``,
        compared in floating-point seconds as the toolkit compares them (exact integer
        arithmetic when every time is a whole second and ``W`` a whole number).
    max_pairs : int
        Memory budget: pairs per chunk (at most 262,144) and, times 16, counts held
        before a sort.

    Returns
    -------
    EdgeCounter
        The counts, ready for :meth:`~coordscope.compat._pair_counter.EdgeCounter.columns`.

    Notes
    -----
    Cost ``O(n + P)`` for ``n`` rows and ``P`` in-window same-key pairs, plus the
    counter's sort; memory ``O(n + max_pairs)`` besides the counts.
    """
    window_us = round(window * US)
    exact = window.is_integer() and not bool((rows.t % US).any())
    band = window_us if exact else window_us + 2  # float comparisons decide at the edge
    tf = None if exact else rows.t / US
    counter = EdgeCounter(rows.n_users, rows.unit_user, budget=_FLUSH_FACTOR * max_pairs)
    # one key a pair for most pairs: map that much of the buffer while the pairs are made
    counter.stream.expect(count_band_pairs(rows.key, rows.t, band))
    for ii, jj in band_pairs(rows.key, rows.t, band, max_pairs=min(max_pairs, _CHUNK)):
        _reduce_chunk(rows, ii, jj, window_us, window, tf, counter)
    return counter


def _same_user_neighbours(
    key: IntArray, user: IntArray, n_users: int
) -> tuple[IntArray, BoolArray]:
    """Find, per row, the previous row of its key and account (-1 if none) and a later one.

    Returns the previous row and whether there is a later row (``O(n log n)``).
    """
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


def _reduce_chunk(
    rows: MessageRows,
    ii: IntArray,
    jj: IntArray,
    window_us: int,
    window: float,
    tf: npt.NDArray[np.float64] | None,
    counter: EdgeCounter,
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
    """Tell whether row ``p`` lies before the window of row ``ref``: ``ts[p] < ts[ref] - W``.

    Rows ``p < 0`` give an arbitrary answer (the caller masks them).
    """
    q = np.maximum(p, 0)
    if tf is None:
        return np.asarray(t[q] < t[ref] - window_us)
    return np.asarray(tf[q] < tf[ref] - window)
