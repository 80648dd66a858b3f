"""Integer codes and orders for the compiled kernels.

Everything here is compiled (numba, without the GIL) and trusts its inputs:

- :func:`msort`, the one sort of the kernels: stable, int64 keys with an int64 payload;
- :func:`dense_codes`: codes 0, 1, … for the distinct values of a 64-bit hash, in order
  of first appearance, with a second hash that proves them collision-free;
- :func:`key_time_order` (built on :func:`pack_rows` and :func:`key_order`): the
  ``(key, time, row)`` order of rows keyed by a 64-bit hash, by one sort of 64-bit words
  (the key's high bits and the row number) and a stable sort of each key's rows by time,
  on several threads.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl

from coordscope.engine.jit import jit

__all__ = [
    "dense_codes",
    "id_order",
    "key_order",
    "key_time_order",
    "lookup_codes",
    "msort",
    "pack_rows",
]

U64Array = npt.NDArray[np.uint64]
I64Array = npt.NDArray[np.int64]
I32Array = npt.NDArray[np.int32]

_MIX: Final = 0x9E3779B97F4A7C15
#: The multiplier of Fibonacci hashing (2**64 / golden ratio), as a numba constant.
_MIX_U64: Final = np.uint64(_MIX)
#: Runs up to this length are sorted by insertion; longer ones by merging.
_SMALL: Final = 32


def key_time_order(
    k1: U64Array,
    k2: U64Array,
    t: I64Array,
    *,
    mix: bool,
    workers: int = 1,
    pool: ThreadPoolExecutor | None = None,
) -> tuple[I64Array, I64Array, I64Array, bool]:
    """Order rows by ``(key, t, row)``; keys are the distinct values of the hash ``k1``.

    Parameters
    ----------
    k1, k2 : ndarray of uint64
        Two independent 64-bit hashes of every row's key (``k2`` proves ``k1`` has no
        collision).
    t : ndarray of int64
        Every row's time.
    mix : bool
        Keys come in an order mixed by Fibonacci hashing (True), or in ascending unsigned
        order of ``k1`` (False).
    workers : int, default 1
        Parts of the sorted words (whole keys each) ordered at once.
    pool : ThreadPoolExecutor, optional
        Runs the parts but the first (which runs on the calling thread); without it, the
        parts run one after the other.

    Returns
    -------
    order : ndarray of int64
        The input row at every sorted position.
    t_sorted : ndarray of int64
        Its time.
    starts : ndarray of int64
        The first position of every key, then the number of rows.
    clash : bool
        Whether some ``k1`` value came with two ``k2`` values (a hash collision).

    Notes
    -----
    One sort of ``n`` 64-bit words (numpy), then :func:`key_order` on each part. Cost
    ``O(n log n)``; memory about 48 bytes a row.
    """
    n = k1.shape[0]
    order = np.empty(n, dtype=np.int64)
    t_sorted = np.empty(n, dtype=np.int64)
    if n == 0:
        return order, t_sorted, np.zeros(1, dtype=np.int64), False
    row_bits = max(1, (n - 1).bit_length())
    packed, ktk = pack_rows(k1, k2, t, row_bits, mix)
    packed.sort()
    # parts of whole groups of equal high bits (hence of whole keys)
    low = np.uint64((1 << row_bits) - 1)
    cuts = {
        int(np.searchsorted(packed, packed[n * i // workers] | low, "right"))
        for i in range(1, workers)
    }
    spans = list(pairwise([0, *sorted(c for c in cuts if 0 < c < n), n]))

    def one(span: tuple[int, int]) -> tuple[I64Array, bool]:
        lo, hi = span
        starts, clash = key_order(packed[lo:hi], ktk, row_bits, order[lo:hi], t_sorted[lo:hi])
        return starts[:-1] + lo, clash

    later = [pool.submit(one, span) for span in spans[1:]] if pool is not None else []
    done = [one(spans[0]), *(f.result() for f in later)]
    if pool is None:
        done += [one(span) for span in spans[1:]]
    starts = np.concatenate([*(st for st, _ in done), [n]]).astype(np.int64)
    return order, t_sorted, starts, any(clash for _, clash in done)


@jit
def msort(keys: I64Array, a: I64Array) -> None:
    """Sort ``keys`` ascending, stably, carrying ``a`` along (in place).

    The one sort of the kernels (int64 keys and payload: one compiled version; numba's
    own sorts are neither stable nor cheap to compile).

    Insertion sort on runs of :data:`_SMALL`, then bottom-up merges through a buffer.
    Cost ``O(m log m)``; ``O(m)`` extra memory when ``m > _SMALL``.
    """
    m = keys.shape[0]
    for r0 in range(0, m, _SMALL):
        r1 = min(r0 + _SMALL, m)
        for p in range(r0 + 1, r1):
            kv = keys[p]
            av = a[p]
            q = p - 1
            while q >= r0 and keys[q] > kv:
                keys[q + 1] = keys[q]
                a[q + 1] = a[q]
                q -= 1
            keys[q + 1] = kv
            a[q + 1] = av
    if m <= _SMALL:
        return
    tk = np.empty_like(keys)
    ta = np.empty_like(a)
    width = _SMALL
    flip = False
    while width < m:
        if flip:
            _merge_pass(tk, ta, keys, a, width)
        else:
            _merge_pass(keys, a, tk, ta, width)
        flip = not flip
        width *= 2
    if flip:
        for p in range(m):
            keys[p] = tk[p]
            a[p] = ta[p]


@jit
def _merge_pass(sk: I64Array, sa: I64Array, dk: I64Array, da: I64Array, width: int) -> None:
    """Merge neighbouring sorted runs of ``width`` from ``sk, sa`` into ``dk, da``.

    On ties the left run comes first (stable).
    """
    m = sk.shape[0]
    for lo in range(0, m, 2 * width):
        mid = min(lo + width, m)
        hi = min(lo + 2 * width, m)
        i = lo
        j = mid
        for o in range(lo, hi):
            if j >= hi or (i < mid and not sk[j] < sk[i]):
                dk[o] = sk[i]
                da[o] = sa[i]
                i += 1
            else:
                dk[o] = sk[j]
                da[o] = sa[j]
                j += 1


def id_order(ids: pl.Series) -> tuple[I64Array, I32Array]:
    """Return the permutation that sorts distinct ids, and each id's rank.

    ``ids`` are distinct (the first row of every :func:`dense_codes` code, in code order).
    Returns ``by_id`` (the code at every rank: ``ids.gather(by_id)`` is sorted) and
    ``rank`` (the rank of every code), so ``rank[codes]`` renumbers rows' codes in id
    order. Sorted on one thread: callers run it beside a sort that has the other cores.
    Cost ``O(m log m)`` string comparisons for ``m`` ids.
    """
    sort = pl.arg_sort_by("id", multithreaded=False)
    by_id = ids.to_frame("id").select(sort).to_series().to_numpy().astype(np.int64)
    rank = np.empty(by_id.shape[0], dtype=np.int32)
    rank[by_id] = np.arange(by_id.shape[0], dtype=np.int32)
    return by_id, rank


@jit
def dense_codes(h1: U64Array, h2: U64Array) -> tuple[Any, I64Array, bool]:
    """Give the distinct values of ``h1`` codes 0, 1, … in order of first appearance.

    Open addressing (Fibonacci hashing, linear probing, load <= 1/2, doubling). Returns
    the code of each row (int32), the first row of each code, and whether some ``h1``
    value came with two different ``h2`` values (a collision of the first hash). Cost
    ``O(n)`` expected.
    """
    n = h1.shape[0]
    codes = np.empty(n, dtype=np.int32)
    bits = 12
    while (1 << bits) < n // 2:  # room for n / 4 distinct values before the first rehash
        bits += 1
    slots = np.full(1 << bits, -1, dtype=np.int64)
    size = max(1024, 1 << (bits - 2))
    u1 = np.empty(size, dtype=np.uint64)
    u2 = np.empty(size, dtype=np.uint64)
    first = np.empty(size, dtype=np.int64)
    m = 0
    clash = False
    for i in range(n):
        x = h1[i]
        mask = (1 << bits) - 1
        s = np.int64((x * _MIX_U64) >> np.uint64(64 - bits))
        c = slots[s]
        while c >= 0 and u1[c] != x:
            s = (s + 1) & mask
            c = slots[s]
        if c >= 0:
            clash |= u2[c] != h2[i]
            codes[i] = c
            continue
        if m == size:
            size *= 2
            u1 = np.concatenate((u1, np.empty(size - m, dtype=np.uint64)))
            u2 = np.concatenate((u2, np.empty(size - m, dtype=np.uint64)))
            first = np.concatenate((first, np.empty(size - m, dtype=np.int64)))
        u1[m] = x
        u2[m] = h2[i]
        first[m] = i
        slots[s] = m
        codes[i] = m
        m += 1
        if 2 * m > (1 << bits):
            bits += 1
            mask = (1 << bits) - 1
            slots = np.full(1 << bits, -1, dtype=np.int64)
            for c2 in range(m):
                s = np.int64((u1[c2] * _MIX_U64) >> np.uint64(64 - bits))
                while slots[s] >= 0:
                    s = (s + 1) & mask
                slots[s] = c2
    return codes, first[:m].copy(), clash


@jit
def pack_rows(
    k1: U64Array, k2: U64Array, t: I64Array, row_bits: int, mix: bool = True
) -> tuple[U64Array, I64Array]:
    """Build the sort keys of :func:`key_order` and each row's key, time and second hash.

    ``packed``: ``mix(k1)`` (or ``k1`` itself when ``mix`` is False: the keys then come
    in ascending order of ``k1``, unsigned) with its low ``row_bits`` bits replaced by
    the row number; ``ktk[i] = (k1[i], t[i], k2[i])`` side by side, so that one memory
    access fetches a row's three. Cost ``O(n)``.
    """
    n = k1.shape[0]
    keep = ~((np.uint64(1) << np.uint64(row_bits)) - np.uint64(1))
    packed = np.empty(n, dtype=np.uint64)
    ktk = np.empty((n, 3), dtype=np.int64)
    for i in range(n):
        word = k1[i] * _MIX_U64 if mix else k1[i]
        packed[i] = (word & keep) | np.uint64(i)
        ktk[i, 0] = np.int64(k1[i])
        ktk[i, 1] = t[i]
        ktk[i, 2] = np.int64(k2[i])
    return packed, ktk


@jit
def key_order(
    packed: U64Array, ktk: I64Array, row_bits: int, order: I64Array, tt: I64Array
) -> tuple[I64Array, bool]:
    """Order rows by ``(key, t, row)``; keys are the distinct ``k1`` values.

    Keys come in the order of ``packed``'s high bits; rows whose high bits are equal but
    keys differ are ordered by ``k1`` as a signed integer, which agrees with the unsigned
    order of unmixed keys (``pack_rows(mix=False)``: the high bits include the sign).

    ``packed`` and ``ktk`` come from :func:`pack_rows`, ``packed`` sorted (or a part of
    it that begins and ends with whole groups): rows grouped by the high bits of the
    mixed key, in row order. A group that holds two keys (the high bits collide) is
    sorted by key, stably; then each key by time, stably, so ties keep the row order.
    Writes the input row and the time of each sorted position into ``order`` and ``tt``;
    returns the start of each key (plus the end) and whether a ``k1`` value came with
    two different ``k2`` values (a hash collision). Cost ``O(n + Σ m log m)`` over keys
    of ``m`` actions.
    """
    n = packed.shape[0]
    low = (np.uint64(1) << np.uint64(row_bits)) - np.uint64(1)
    kk = np.empty(n, dtype=np.int64)
    clash = False
    for p in range(n):
        r = np.int64(packed[p] & low)
        order[p] = r
        kk[p] = ktk[r, 0]
        tt[p] = ktk[r, 1]
        # the same key on the row before: the second hashes must agree too
        if p > 0 and kk[p] == kk[p - 1] and ktk[r, 2] != ktk[order[p - 1], 2]:
            clash = True
    s = 0
    while s < n:  # groups of equal high bits
        high = packed[s] & ~low
        e = s + 1
        mixed = False
        while e < n and packed[e] & ~low == high:
            mixed |= kk[e] != kk[s]
            e += 1
        if mixed:  # two keys share the high bits: order the group by key, stably
            idx = np.arange(s, e)
            msort(kk[s:e], idx)
            g_t, g_order = tt[idx], order[idx]
            for p in range(e - s):
                tt[s + p] = g_t[p]
                order[s + p] = g_order[p]
            for p in range(s + 1, e):
                if kk[p] == kk[p - 1] and ktk[order[p], 2] != ktk[order[p - 1], 2]:
                    clash = True
        s = e
    n_keys = 1
    for p in range(1, n):
        if kk[p] != kk[p - 1]:
            n_keys += 1
    starts = np.empty(n_keys + 1, dtype=np.int64)
    starts[0] = 0
    k = 1
    for p in range(1, n):
        if kk[p] != kk[p - 1]:
            starts[k] = p
            k += 1
    starts[n_keys] = n
    for k in range(n_keys):
        s = starts[k]
        e = starts[k + 1]
        if e - s > 1:
            msort(tt[s:e], order[s:e])
    return starts, clash


@jit
def lookup_codes(keys: U64Array, values: I64Array, queries: U64Array) -> I64Array:
    """Return ``values[i]`` for every query equal to ``keys[i]`` (``-1`` when unknown).

    ``keys`` are distinct 64-bit hashes. An open-addressing table (Fibonacci hashing,
    linear probing, load <= 1/2) is built over ``keys`` and probed once per query: a
    binary search in the sorted keys was fifteen times slower on 10M random queries (a
    cache miss at every step). Cost ``O(len(keys) + len(queries))`` expected.
    """
    bits = 4
    while (1 << bits) < 2 * keys.shape[0]:
        bits += 1
    mask = (1 << bits) - 1
    shift = np.uint64(64 - bits)
    slots = np.full(1 << bits, -1, dtype=np.int64)
    for c in range(keys.shape[0]):
        s = np.int64((keys[c] * _MIX_U64) >> shift)
        while slots[s] >= 0:
            s = (s + 1) & mask
        slots[s] = c
    out = np.empty(queries.shape[0], dtype=np.int64)
    for i in range(queries.shape[0]):
        x = queries[i]
        s = np.int64((x * _MIX_U64) >> shift)
        c = slots[s]
        while c >= 0 and keys[c] != x:
            s = (s + 1) & mask
            c = slots[s]
        out[i] = values[c] if c >= 0 else -1
    return out
