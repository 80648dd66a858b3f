"""Native counting: undirected account pairs with their co-action evidence.

For each unordered pair of accounts ``a, b`` the co-actions (same key, different accounts,
``|Δt| <= W`` inclusive) are aggregated into:

- ``n_keys``: distinct keys (signal, key) co-acted on — the primary weight; an account
  acting on one key many times still counts that key once;
- ``n_coactions``: co-acting action pairs;
- ``min_dt`` and ``median_dt`` (seconds): the smallest Δt over all co-actions, and the
  median over the pair's keys of each key's smallest Δt;
- ``first_ts``, ``last_ts``: the earliest and latest action among the co-actions;
- ``signals``: the signals that produced them.

The evidence table has one row per (pair, key): the closest co-action's two events.

How it runs:

1. **Codes.** Keys ``(signal, key)`` and accounts are hashed to 64 bits (a second hash
   proves the codes collision-free); accounts get dense codes numbered in the order of
   their ids, so that ``actor_a < actor_b`` is an integer comparison.
2. **Order.** Actions are grouped by key with one sort of 64-bit words (key hash bits and
   row number) and each key is sorted by time, stably: the order is ``(key, ts, row)``.
3. **Band join.** Two pointers per key give each action's window end; the in-window
   pairs, cut into chunks of at most ``max_pairs`` (whole keys where they fit), run on
   ``partitions`` threads and each gives a *triple* (pair, key). A co-action is a
   complete triple unless the same two accounts may co-act again on the key (an account
   repeated within ``2 W``, or both accounts repeated): only those are merged.
4. **Edges.** A pair seen on one key is an edge as its triple stands, in place; only
   pairs seen on several keys (found from the sorted pair codes) are grouped.

Cost ``O(n log n + P)`` for ``n`` actions and ``P`` in-window pairs; every loop over rows,
keys or pairs is compiled (numba, without the GIL) — Python only loops over chunks.
Memory follows the distinct (pair, key) triples and ``partitions · max_pairs``, never the
co-actions of one key.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from itertools import pairwise
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt
import polars as pl

from coordscope.budget import thread_pool
from coordscope.engine.coding import dense_codes, id_order, key_time_order, msort
from coordscope.engine.jit import jit
from coordscope.engine.kernel import DEFAULT_MAX_PAIRS
from coordscope.errors import ParameterError, check_window
from coordscope.schema import EDGE_SCHEMA, EVIDENCE_SCHEMA, SECONDS_PER_US, US

__all__ = ["NativeResult", "native_pairs"]

U8Array = npt.NDArray[np.uint8]
U32Array = npt.NDArray[np.uint32]
I32Array = npt.NDArray[np.int32]
U64Array = npt.NDArray[np.uint64]
I64Array = npt.NDArray[np.int64]
F64Array = npt.NDArray[np.float64]
#: A triple's arrays (see :class:`_Triples`): lo, hi, key, n, dt, t0, t1, rlo, rhi.
TripleArrays = tuple[
    U32Array, U32Array, I32Array, U64Array, I64Array, I64Array, I64Array, U32Array, U32Array
]
#: Co-actions (or triples) to merge: pair code, key, n, dt, t0, t1, rlo, rhi.
MergeArrays = tuple[U64Array, I32Array, U64Array, I64Array, I64Array, I64Array, U32Array, U32Array]

_MIX: Final = 0x9E3779B97F4A7C15
#: The multiplier of Fibonacci hashing (2**64 / golden ratio), as a numba constant.
_MIX_U64: Final = np.uint64(_MIX)
_SHIFT32: Final = np.uint64(32)
_LOW32: Final = np.uint64(0xFFFFFFFF)
#: An empty slot of a hash set of pair codes (no pair code has all 64 bits set).
_EMPTY: Final = np.uint64(0xFFFFFFFFFFFFFFFF)
#: Runs up to this length are sorted by insertion; longer ones by merging.
_SMALL: Final = 32
#: At most this many signals in one call (a pair's signals are a 64-bit mask).
_MAX_SIGNALS: Final = 64


@dataclass
class NativeResult:
    """Edges (one row per account pair) and evidence (one row per pair and key)."""

    edges: pl.DataFrame
    evidence: pl.DataFrame


def _prepare_actions(actions: pl.DataFrame) -> pl.DataFrame:
    """Integer columns for the kernel: key code, actor code, time (µs), action row.

    Keys are ``(signal, key)``: the key string is hashed with the signal's index as seed.
    Accounts and keys are coded by 64-bit hashes; :func:`_check_codes` proves the codes
    are collision-free with a second, independent hash.
    """
    signals = sorted(actions["signal"].unique().to_list())
    sig_index = {s: i for i, s in enumerate(signals)}
    sig = pl.col("signal").replace_strict(sig_index, return_dtype=pl.UInt8)
    key_hash = pl.col("key").hash(seed=0) ^ (sig.cast(pl.UInt64) * 0x9E3779B97F4A7C15)
    return actions.select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"),
        key_hash.alias("k"),
        pl.col("actor_id").hash(seed=0).alias("a"),
        pl.col("ts").dt.epoch("us").alias("t"),
        sig.alias("s"),
    )


def _check_codes(actions: pl.DataFrame, coded: pl.DataFrame) -> None:
    """Prove the 64-bit codes are collision-free: a second hash must not split any code."""
    second = actions.select(
        pl.col("key").hash(seed=7) ^ pl.col("signal").hash(seed=7),
        pl.col("actor_id").hash(seed=7),
    )
    both = pl.DataFrame(
        {"k": coded["k"], "a": coded["a"], "k2": second["key"], "a2": second["actor_id"]}
    )
    # two ids sharing a first hash almost surely differ in the second, so the xor of both
    # has more distinct values than the first alone
    n_k, n_kk, n_a, n_aa = both.select(
        pl.col("k").n_unique().alias("n_k"),
        (pl.col("k") ^ pl.col("k2")).n_unique().alias("n_kk"),
        pl.col("a").n_unique().alias("n_a"),
        (pl.col("a") ^ pl.col("a2")).n_unique().alias("n_aa"),
    ).row(0)
    if n_k != n_kk or n_a != n_aa:  # pragma: no cover - probability ~ n² / 2**65
        raise ParameterError("internal: 64-bit hash collision between two ids; please report")


def native_pairs(
    actions: pl.DataFrame,
    *,
    window: float,
    max_pairs: int = DEFAULT_MAX_PAIRS,
    partitions: int = 2,
    evidence: bool = True,
    only: pl.DataFrame | None = None,
) -> NativeResult:
    """Native co-action counting over actions of one or more signals.

    Parameters
    ----------
    actions : polars.DataFrame
        Actions (:data:`coordscope.signals.actions.ACTION_SCHEMA`), any order: at most
        64 distinct signals, fewer than 2**32 rows, no null ``actor_id`` or ``ts``.
    window : float
        ``W`` in seconds; co-actions have ``|Δt| <= W`` (inclusive). Time resolution is
        one microsecond.
    max_pairs : int
        Memory budget: in-window pairs materialised at once per thread. A chunk takes
        44 bytes a pair (52 with ``evidence``), and about as much again for the pairs
        that need merging (an account acting on the key again within ``2 W``, or both
        accounts more than once); it exceeds ``max_pairs`` only when one action alone
        has more partners.
    partitions : int
        Threads that share the work.
    evidence : bool
        Also build the evidence table (one row per pair and key, with event ids); when
        False, ``evidence`` is empty and only the edges are built.
    only : polars.DataFrame, optional
        ``actor_a, actor_b``: count only these pairs (in either order). Other pairs are
        dropped as they are produced, so memory follows these pairs.

    Returns
    -------
    NativeResult
        ``edges`` (:data:`EDGE_SCHEMA`; ``actor_a < actor_b``) and ``evidence``
        (:data:`EVIDENCE_SCHEMA`). The row order is deterministic for given
        ``max_pairs`` and ``partitions`` but not sorted: it follows the chunks of pairs
        (keys in the order of their hashes), and the pairs that co-acted on several
        keys come last, by ``actor_a`` and ``actor_b``. The evidence follows the edges,
        a pair's rows by the input rows of ``actor_a``'s, then ``actor_b``'s event. Sort
        as needed. The tables are made of several polars chunks, about one per chunk
        of pairs.

    Raises
    ------
    ParameterError
        ``window < 0``, ``partitions < 1``, ``max_pairs < 1``, more than 64 signals,
        2**32 actions or more, or a null ``actor_id`` or ``ts``.

    Notes
    -----
    Cost ``O(n log n + P)`` time for ``n`` actions and ``P`` in-window pairs (the sorts
    are within keys); memory ``O(n + partitions · max_pairs + T)`` for ``T`` distinct
    (pair, key) triples.

    The closest co-action of a (pair, key), whose events the evidence shows, is the one
    with the smallest Δt; among equally close ones, the first with the actions ordered by
    ``(ts, input row)``: by its earlier action, then by its later one.

    Examples
    --------
    >>> from datetime import datetime, timedelta, UTC
    >>> t0 = datetime(2024, 3, 1, tzinfo=UTC)
    >>> actions = pl.DataFrame(
    ...     {
    ...         "signal": ["co_share"] * 3,
    ...         "key": ["post1", "post1", "post1"],
    ...         "actor_id": ["a", "b", "c"],
    ...         "ts": [t0, t0 + timedelta(seconds=5), t0 + timedelta(seconds=70)],
    ...         "event_id": ["e0", "e1", "e2"],
    ...         "event": pl.Series([0, 1, 2], dtype=pl.UInt32),
    ...     }
    ... )
    >>> edges = native_pairs(actions, window=60, evidence=False).edges
    >>> edges.select("actor_a", "actor_b", "n_keys", "min_dt").rows()
    [('a', 'b', 1, 5.0)]
    """
    check_window(window)
    if partitions < 1:
        raise ParameterError(f"partitions must be >= 1, got {partitions}")
    if max_pairs < 1:
        raise ParameterError(f"max_pairs must be >= 1, got {max_pairs}")
    if actions.height == 0:
        return _empty()
    if actions["actor_id"].null_count() or actions["ts"].null_count():
        raise ParameterError("actions must not have a null actor_id or ts")
    if actions.height >= 2**32:
        raise ParameterError(f"at most 2**32 - 1 actions at once, got {actions.height}")
    names = sorted(actions["signal"].unique().to_list())
    if len(names) > _MAX_SIGNALS:
        raise ParameterError(f"at most {_MAX_SIGNALS} signals at once, got {len(names)}")
    window_us = round(window * US)
    with thread_pool(partitions) as pool:
        coded = _code_actions(actions, names, pool, partitions)
        allowed = None if only is None else _allowed_pairs(only, coded.actors)
        chunks, codes = _all_triples(
            coded, window_us, max_pairs, pool, partitions, allowed, rows=evidence
        )
        actors, sig_of_key = coded.actors, coded.sig_of_key
        del coded
        if not chunks:
            return _empty()
        return _result(actions, chunks, codes, actors, sig_of_key, names, pool, evidence)


# ------------------------------------------------------------------------ coding actions


@dataclass
class _Coded:
    """Actions in ``(key, ts, row)`` order, as integer arrays.

    ``row`` is the input row of each sorted position and ``t`` its time (µs); key ``k``
    is positions ``starts[k]:starts[k + 1]``, of signal ``sig_of_key[k]``. ``codes`` is
    the account code of each input row; codes number the accounts in the order of their
    ids, which ``actors`` holds by code.
    """

    row: I64Array
    t: I64Array
    starts: I64Array
    sig_of_key: U8Array
    codes: I32Array
    actors: pl.Series


def _code_actions(
    actions: pl.DataFrame, names: list[str], pool: ThreadPoolExecutor, workers: int
) -> _Coded:
    """Codes and the ``(key, ts, row)`` order, on ``workers`` threads.

    Keys are ``(signal, key)``, hashed as in :func:`_prepare_actions`; the second hashes
    are those of :func:`_check_codes`. The accounts are coded on one thread, the keys
    ordered in ``workers`` parts of the key hashes (one on the calling thread). Cost
    ``O(n)`` plus the sorts: one of ``n`` 64-bit words, the distinct account ids, and
    each key's actions by time.
    """
    sig = (
        pl.lit(0, dtype=pl.UInt8)
        if len(names) == 1
        else pl.col("signal").replace_strict(
            {s: i for i, s in enumerate(names)}, return_dtype=pl.UInt8
        )
    )
    frame = actions.select(
        k1=pl.col("key").hash(seed=0) ^ (sig.cast(pl.UInt64) * _MIX),
        k2=pl.col("key").hash(seed=7) ^ pl.col("signal").hash(seed=7),
        a1=pl.col("actor_id").hash(seed=0),
        a2=pl.col("actor_id").hash(seed=7),
        t=pl.col("ts").dt.epoch("us"),
        s=sig,
    )
    ids, a1, a2 = actions["actor_id"], frame["a1"].to_numpy(), frame["a2"].to_numpy()
    accounts = pool.submit(_actor_codes, ids, a1, a2) if workers > 1 else None
    row, t_sorted, starts, clash = key_time_order(
        frame["k1"].to_numpy(),
        frame["k2"].to_numpy(),
        frame["t"].to_numpy(),
        mix=True,
        workers=workers,
        pool=pool,
    )
    sig_of_key = frame["s"].to_numpy()[row[starts[:-1]]]
    del frame
    codes, actors = accounts.result() if accounts is not None else _actor_codes(ids, a1, a2)
    if clash:  # pragma: no cover - probability ~ n² / 2**65
        raise ParameterError("internal: 64-bit hash collision between two ids; please report")
    return _Coded(row, t_sorted, starts, sig_of_key, codes, actors)


def _actor_codes(ids: pl.Series, h1: U64Array, h2: U64Array) -> tuple[I32Array, pl.Series]:
    """Account code of each row, the codes numbered in the order of the ids; the ids."""
    codes, first, clash = dense_codes(h1, h2)
    if clash:  # pragma: no cover - probability ~ n² / 2**65
        raise ParameterError("internal: 64-bit hash collision between two ids; please report")
    firsts = ids.gather(first)
    by_id, rank = id_order(firsts)  # on one thread, next to the key sort
    return cast(I32Array, rank[codes]), firsts.gather(by_id)


def _allowed_pairs(only: pl.DataFrame, actors: pl.Series) -> U64Array:
    """Sorted pair codes of the ``only`` pairs whose two accounts both acted."""
    lookup = pl.DataFrame({"actor_id": actors, "c": pl.int_range(actors.len(), eager=True)})
    # both codes looked up in one frame: a join's rows come in no set order, so two
    # separate lookups could not be put side by side
    both = (
        only.select("actor_a", "actor_b")
        .join(lookup.rename({"actor_id": "actor_a", "c": "a"}), on="actor_a", how="inner")
        .join(lookup.rename({"actor_id": "actor_b", "c": "b"}), on="actor_b", how="inner")
    )
    a, b = both["a"].to_numpy().astype(np.uint64), both["b"].to_numpy().astype(np.uint64)
    return cast(U64Array, np.unique((np.minimum(a, b) << _SHIFT32) | np.maximum(a, b)))


# ------------------------------------------------------------------------------- triples


@dataclass
class _Triples:
    """One row per (pair, key).

    Account codes ``lo < hi``, key code, co-actions ``n``, smallest Δt ``dt`` (µs),
    earliest and latest action ``t0``/``t1`` (µs) and, when the evidence is wanted (else
    empty), the input rows ``rlo``/``rhi`` of the closest co-action's events (``rlo``:
    ``lo``'s).
    """

    lo: U32Array
    hi: U32Array
    key: I32Array
    n: U64Array
    dt: I64Array
    t0: I64Array
    t1: I64Array
    rlo: U32Array
    rhi: U32Array

    @property
    def size(self) -> int:
        """Return the number of triples."""
        return int(self.lo.shape[0])

    def arrays(self) -> TripleArrays:
        """Return the nine arrays, in the kernels' order."""
        return (self.lo, self.hi, self.key, self.n, self.dt, self.t0, self.t1, self.rlo, self.rhi)

    def to_merge(self) -> MergeArrays:
        """Return the arrays that :func:`_merge_runs` merges (pair codes for lo, hi)."""
        return (self.codes(), self.key, self.n, self.dt, self.t0, self.t1, self.rlo, self.rhi)

    def take(self, sel: slice | I64Array) -> _Triples:
        """Return the triples at ``sel`` (a slice: views; an index array: copies)."""
        rows = self.rlo.shape[0] > 0
        arrays: tuple[npt.NDArray[Any], ...] = self.arrays()
        parts = tuple(a[sel] if rows or i < 7 else a for i, a in enumerate(arrays))
        return _Triples(*cast(TripleArrays, parts))

    def copy(self) -> _Triples:
        """Return a compact copy (which frees a larger buffer this may be a view of)."""
        return _Triples(*cast(TripleArrays, tuple(np.array(a, copy=True) for a in self.arrays())))

    def codes(self) -> U64Array:
        """Return the pair codes ``lo << 32 | hi`` (ordered like the pairs)."""
        return cast(U64Array, (self.lo.astype(np.uint64) << _SHIFT32) | self.hi)

    @staticmethod
    def concat(parts: list[_Triples]) -> _Triples:
        """Concatenate, one array at a time, releasing the parts' array once copied."""
        out: list[Any] = []
        for f in fields(_Triples):
            arrays = [getattr(p, f.name) for p in parts]
            out.append(arrays[0] if len(arrays) == 1 else np.concatenate(arrays))
            for p in parts:
                setattr(p, f.name, out[-1][:0])
        return _Triples(*out)


def _all_triples(
    coded: _Coded,
    window_us: int,
    max_pairs: int,
    pool: ThreadPoolExecutor,
    workers: int,
    allowed: U64Array | None,
    *,
    rows: bool,
) -> tuple[list[_Triples], list[U64Array]]:
    """Every (pair, key) triple, produced chunk by chunk on the pool's threads.

    Chunks hold at most ``max_pairs`` in-window pairs (whole keys where they fit; at
    least ``workers`` chunks, so that every thread has work). Complete triples are kept
    as they come; those of a key cut by a chunk boundary (only those that needed merging)
    are merged at the end, or as soon as they outgrow ``max_pairs``. Returns the triples
    and their pair codes, sorted, chunk by chunk.
    """
    row, t, starts = coded.row, coded.t, coded.starts
    n = row.shape[0]
    actor = np.empty(n, dtype=np.int32)
    ends = np.empty(n, dtype=np.int64)
    rep = np.empty(n, dtype=np.uint8)
    n_actors = coded.actors.len()
    # the keys in ranges of about equal numbers of actions, one a thread
    marks = np.searchsorted(starts, np.linspace(0, n, workers + 1)[1:-1]).tolist()
    key_bounds = [0, *sorted(set(marks)), starts.shape[0] - 1]

    def scan(keys: tuple[int, int]) -> None:
        k0, k1 = keys
        _ends_and_repeats(
            t, coded.codes, row, starts, k0, k1, n_actors, window_us, actor, ends, rep
        )

    list(pool.map(scan, pairwise(key_bounds)))
    total = int(ends.sum()) - n * (n + 1) // 2
    per_chunk = max(1, min(max_pairs, -(-total // workers)))
    bounds: list[int] = _chunk_bounds(starts, ends, per_chunk).tolist()
    use_allowed = allowed is not None
    allowed_codes = allowed if allowed is not None else np.empty(0, dtype=np.uint64)

    def run(span: tuple[int, int]) -> tuple[_Triples, _Triples, U64Array]:
        s, e = span
        direct, front, merging = _chunk_pairs(
            s, e, starts, ends, t, actor, row, rep, allowed_codes, use_allowed, rows
        )
        buf = _Triples(*direct)
        end = front
        if merging[0].shape[0]:
            end += _merge_runs(np.argsort(merging[0]), merging, direct, front, rows)
            del merging
            # keys cut by the chunk's bounds: their merged triples are partial
            first_key = int(np.searchsorted(starts, s, side="right")) - 1
            last_key = int(np.searchsorted(starts, e - 1, side="right")) - 1
            cut_a = first_key if starts[first_key] < s else -1
            cut_b = last_key if starts[last_key + 1] > e else -1
            split = _split_partial(direct, front, end, cut_a, cut_b, rows)
        else:
            split = end
        done = buf.take(slice(0, split))
        if split < 0.75 * buf.size:  # much of the buffer was merged or filtered away
            done = done.copy()
        codes = done.codes()
        codes.sort()
        return done, buf.take(slice(split, end)).copy(), codes

    done: list[_Triples] = []
    sorted_codes: list[U64Array] = []
    partial: list[_Triples] = []
    for d, p, c in pool.map(run, pairwise(bounds)):
        if d.size:
            done.append(d)
            sorted_codes.append(c)
        if p.size:
            partial.append(p)
            # a crowded key repeats its partial triples chunk after chunk: merge them as
            # soon as they outgrow the budget, so memory follows distinct triples
            if len(partial) > 1 and sum(q.size for q in partial) > max_pairs:
                partial = [_merge(_Triples.concat(partial), rows=rows)]
    if partial:
        merged = _merge(_Triples.concat(partial), rows=rows)
        codes = merged.codes()
        codes.sort()
        done.append(merged)
        sorted_codes.append(codes)
    return done, sorted_codes


def _merge(t: _Triples, *, rows: bool) -> _Triples:
    """Merge triples of the same (pair, key), given in production order."""
    merging = t.to_merge()
    out = cast(TripleArrays, tuple(np.empty_like(a) for a in t.arrays()))
    m = _merge_runs(np.argsort(merging[0]), merging, out, 0, rows)
    return _Triples(*out).take(slice(0, m)).copy()


# --------------------------------------------------------------------------------- edges


def _result(
    actions: pl.DataFrame,
    chunks: list[_Triples],
    sorted_codes: list[U64Array],
    actors: pl.Series,
    sig_of_key: U8Array,
    names: list[str],
    pool: ThreadPoolExecutor,
    evidence: bool,
) -> NativeResult:
    """Edges (and, with ``evidence``, the evidence) from the triples, chunk by chunk.

    A pair seen on one key is an edge as its triple stands: each chunk's triples become
    its edges in place (:func:`_chunk_edges`), on the pool's threads. The triples of pairs
    seen on several keys (the chunks' ``sorted_codes`` tell which) are taken out and grouped
    (:func:`_multi_edges`). The tables are the chunks' parts, then the grouped pairs'
    part, concatenated without copying.
    """
    offsets = np.cumsum([0, *(c.shape[0] for c in sorted_codes)], dtype=np.int64)
    table = _recurring(np.concatenate(sorted_codes), offsets)
    del sorted_codes
    several = len(names) > 1

    def edges_of(t: _Triples) -> tuple[pl.DataFrame, pl.DataFrame | None, _Triples]:
        n_single, sig, taken = _chunk_edges(
            t.arrays(), t.dt.view(np.float64), table, sig_of_key, several, evidence
        )
        single = t.take(slice(0, n_single))
        min_dt = pl.Series(single.dt.view(np.float64), dtype=pl.Float64)
        a, b = actors.gather(single.lo), actors.gather(single.hi)
        frame = _edge_frame(a, b, single, min_dt, min_dt, None, sig, names)
        ev = _evidence_frame(actions, a, b, single, min_dt) if evidence else None
        return frame, ev, _Triples(*taken)

    parts = list(pool.map(edges_of, chunks))
    edge_frames = [p[0] for p in parts]
    evidence_frames = [p[1] for p in parts if p[1] is not None]
    multi = _Triples.concat([p[2] for p in parts])
    del parts
    if multi.size:
        lo, hi, n_co, min_dt, first, last, n_keys, median, sig, members = _multi_edges(
            multi.arrays(), sig_of_key
        )
        grouped = _Triples(lo, hi, multi.key[:0], n_co, multi.dt[:0], first, last, lo[:0], hi[:0])
        a, b = actors.gather(lo), actors.gather(hi)
        edge_frames.append(
            _edge_frame(a, b, grouped, pl.Series(min_dt), pl.Series(median), n_keys, sig, names)
        )
        if evidence:
            taken = multi.take(members)
            dt = pl.Series(taken.dt.astype(np.float64) * SECONDS_PER_US, dtype=pl.Float64)
            a, b = actors.gather(taken.lo), actors.gather(taken.hi)
            evidence_frames.append(_evidence_frame(actions, a, b, taken, dt))
    edges = pl.concat(edge_frames, rechunk=False)
    if not evidence:
        return NativeResult(edges, pl.DataFrame(schema=EVIDENCE_SCHEMA))
    return NativeResult(edges, pl.concat(evidence_frames, rechunk=False))


def _edge_frame(
    actor_a: pl.Series,
    actor_b: pl.Series,
    t: _Triples,
    min_dt: pl.Series,
    median_dt: pl.Series,
    n_keys: U32Array | None,
    sig: U64Array,
    names: list[str],
) -> pl.DataFrame:
    """:data:`EDGE_SCHEMA` over edge arrays (``n_keys`` None: all 1).

    Only ``n_keys`` is copied, to its signed type (a checked cast); the other arrays are
    taken as they are.

    ``t.n``, ``t.t0``, ``t.t1`` are ``n_coactions``, ``first_ts``, ``last_ts`` (µs);
    ``min_dt``, ``median_dt`` in seconds; ``sig`` the signal masks (unused with one
    signal).
    """
    size = actor_a.len()
    ts = pl.Datetime("us", "UTC")
    int32 = EDGE_SCHEMA["n_keys"]
    keys = (
        pl.repeat(1, size, dtype=int32, eager=True)
        if n_keys is None
        else pl.Series(n_keys, dtype=pl.UInt32).cast(int32)
    )
    return pl.DataFrame(
        {
            "actor_a": actor_a.alias("actor_a"),
            "actor_b": actor_b.alias("actor_b"),
            "n_keys": keys,
            # the kernels count in uint64; a count is far below 2**63, so the same bits
            # read as int64 are the same number (a view, no copy)
            "n_coactions": pl.Series(t.n.view(np.int64), dtype=EDGE_SCHEMA["n_coactions"]),
            "min_dt": min_dt.alias("min_dt"),
            "median_dt": median_dt.alias("median_dt"),
            "first_ts": pl.Series(t.t0, dtype=pl.Int64).cast(ts),
            "last_ts": pl.Series(t.t1, dtype=pl.Int64).cast(ts),
            "signals": _signal_lists(sig, size, names),
        }
    )


def _signal_lists(sig: U64Array, size: int, names: list[str]) -> pl.Series:
    """``List(String)`` of signal names from 64-bit masks (bit ``i``: ``names[i]``)."""
    if len(names) == 1 or size == 0:
        one = pl.Series("signals", [names[:1]], dtype=pl.List(pl.String))
        return one.new_from_index(0, size) if size else one.clear()
    present = np.unique(sig).tolist()
    lists = [[names[i] for i in range(len(names)) if m >> i & 1] for m in present]
    return pl.Series("signals", sig, dtype=pl.UInt64).replace_strict(
        present, lists, return_dtype=pl.List(pl.String)
    )


def _evidence_frame(
    actions: pl.DataFrame, actor_a: pl.Series, actor_b: pl.Series, t: _Triples, dt: pl.Series
) -> pl.DataFrame:
    """:data:`EVIDENCE_SCHEMA`, one row per triple; ``dt`` in seconds.

    The account ids are given (the edges' own columns where the rows match).
    """
    r_a, r_b = pl.Series(t.rlo), pl.Series(t.rhi)
    return pl.DataFrame(
        {
            "actor_a": actor_a.alias("actor_a"),
            "actor_b": actor_b.alias("actor_b"),
            "signal": actions["signal"].gather(r_a),
            "key": actions["key"].gather(r_a),
            "n_coactions": pl.Series(t.n, dtype=pl.UInt64).cast(EVIDENCE_SCHEMA["n_coactions"]),
            "dt": dt.alias("dt"),
            "event_a": actions["event_id"].gather(r_a),
            "event_b": actions["event_id"].gather(r_b),
            "ts_a": actions["ts"].gather(r_a),
            "ts_b": actions["ts"].gather(r_b),
        }
    )


def _empty() -> NativeResult:
    return NativeResult(pl.DataFrame(schema=EDGE_SCHEMA), pl.DataFrame(schema=EVIDENCE_SCHEMA))


# ---------------------------------------------------------------------- compiled kernels
#


@jit
def _ends_and_repeats(
    t: I64Array,
    codes: npt.NDArray[np.int32],
    row: I64Array,
    starts: I64Array,
    k0: int,
    k1: int,
    n_actors: int,
    window: int,
    actor: npt.NDArray[np.int32],
    ends: I64Array,
    rep: npt.NDArray[np.uint8],
) -> None:
    """Find the account, window end and repeat flags of the positions of keys ``k0:k1``.

    ``actor[p] = codes[row[p]]``; ``ends[p]``: one past the last position of ``p``'s key
    with ``t <= t[p] + window`` (two pointers per key); ``rep[p]``: bit 0 when ``p``'s
    account acted on the key more than once, bit 1 when it did so within ``2 * window``
    of ``p``. A co-action can share its (pair, key) with another only if one of its
    actions has bit 1, or both have bit 0 (see :func:`_chunk_pairs`). Writes into the
    given arrays. Cost ``O(n)``.
    """
    # per account: the last key it was seen on, and its last position there
    seen = np.full((n_actors, 2), -1, dtype=np.int64)
    for k in range(k0, k1):
        s = starts[k]
        e = starts[k + 1]
        q = s
        for p in range(s, e):
            a = codes[row[p]]
            actor[p] = a
            rep[p] = 0
            q = max(q, p + 1)
            while q < e and t[q] - t[p] <= window:
                q += 1
            ends[p] = q
            if seen[a, 0] == k:  # a repeats on this key: both positions say so
                before = seen[a, 1]
                near = np.uint8(3) if t[p] - t[before] <= 2 * window else np.uint8(1)
                rep[p] |= near
                rep[before] |= near
            seen[a, 0] = k
            seen[a, 1] = p


@jit
def _chunk_bounds(starts: I64Array, ends: I64Array, per_chunk: int) -> I64Array:
    """Cut the sorted positions into chunks of at most ``per_chunk`` pairs.

    Returns where the chunks begin, and the end. Whole keys are packed greedily; a key
    with more pairs than ``per_chunk`` is cut between positions (a chunk still takes at
    least one position). Cost ``O(n)``.
    """
    n = ends.shape[0]
    bounds = np.empty(n + 1, dtype=np.int64)
    bounds[0] = 0
    nb = 1
    have = 0  # pairs in the open chunk
    for k in range(starts.shape[0] - 1):
        s = starts[k]
        e = starts[k + 1]
        pairs = 0
        for p in range(s, e):
            pairs += ends[p] - p - 1
        if have + pairs <= per_chunk:
            have += pairs
            continue
        if have > 0:  # close the open chunk before this key
            bounds[nb] = s
            nb += 1
            have = 0
        if pairs <= per_chunk:
            have = pairs
            continue
        for p in range(s, e):  # a crowded key: cut it between positions
            c = ends[p] - p - 1
            if have > 0 and have + c > per_chunk:
                bounds[nb] = p
                nb += 1
                have = 0
            have += c
    bounds[nb] = n
    return bounds[: nb + 1].copy()


@jit
def _key_at(starts: I64Array, p: int) -> int:
    """Find the key of sorted position ``p`` (binary search in the key starts)."""
    lo = 0
    hi = starts.shape[0] - 1
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if starts[mid] <= p:
            lo = mid
        else:
            hi = mid
    return lo


@jit
def _contains(sorted_codes: U64Array, code: np.uint64) -> bool:
    """Tell whether ``code`` is in the sorted array (binary search)."""
    lo = 0
    hi = sorted_codes.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if sorted_codes[mid] < code:
            lo = mid + 1
        else:
            hi = mid
    return bool(lo < sorted_codes.shape[0] and sorted_codes[lo] == code)


@jit
def _chunk_pairs(
    ps: int,
    pe: int,
    starts: I64Array,
    ends: I64Array,
    t: I64Array,
    actor: npt.NDArray[np.int32],
    row: I64Array,
    rep: npt.NDArray[np.uint8],
    allowed: U64Array,
    use_allowed: bool,
    rows: bool,
) -> tuple[TripleArrays, int, MergeArrays]:
    """Produce the co-actions whose earlier action is at sorted positions ``ps:pe``.

    A co-action is a complete triple unless another co-action of the same two accounts
    on the same key may exist: only if one of its actions has an action of the same
    account within ``2 W`` on the key, or both accounts acted on the key more than once
    (``rep`` bits 1 and 0, :func:`_ends_and_repeats`). Those must be merged with their
    siblings (:func:`_merge_runs`). Both come in production order (earlier action, then later
    one): the complete ones at the start of the nine triple arrays (sized by the chunk's
    in-window pairs: the merged ones follow) with their number, the others as pair codes
    and seven arrays. Cost ``O(P)`` for ``P`` in-window pairs.
    """
    size = 0
    for p in range(ps, pe):
        size += ends[p] - p - 1
    lo = np.empty(size, dtype=np.uint32)
    hi = np.empty(size, dtype=np.uint32)
    key = np.empty(size, dtype=np.int32)
    cnt = np.ones(size, dtype=np.uint64)
    dt = np.empty(size, dtype=np.int64)
    t0 = np.empty(size, dtype=np.int64)
    t1 = np.empty(size, dtype=np.int64)
    rlo = np.empty(size if rows else 0, dtype=np.uint32)
    rhi = np.empty(size if rows else 0, dtype=np.uint32)
    k = _key_at(starts, ps)
    front = 0  # complete triples from the front, the others from the back
    back = size
    for p in range(ps, pe):
        while starts[k + 1] <= p:
            k += 1
        ap = actor[p]
        tp = t[p]
        for q in range(p + 1, ends[p]):
            aq = actor[q]
            if aq == ap:
                continue
            a = min(ap, aq)
            b = max(ap, aq)
            if use_allowed and not _contains(allowed, (np.uint64(a) << _SHIFT32) | np.uint64(b)):
                continue
            if ((rep[p] | rep[q]) & 2) or (rep[p] & rep[q] & 1):
                back -= 1
                w = back
            else:
                w = front
                front += 1
            lo[w] = a
            hi[w] = b
            key[w] = k
            dt[w] = t[q] - tp
            t0[w] = tp
            t1[w] = t[q]
            if rows:
                rlo[w] = row[p] if ap < aq else row[q]
                rhi[w] = row[q] if ap < aq else row[p]
    # the others, taken out in production order (the back filled backwards)
    rev = np.arange(size - 1, back - 1, -1)
    m_code = (lo[rev].astype(np.uint64) << _SHIFT32) | hi[rev].astype(np.uint64)
    m_rows = (rlo[rev], rhi[rev]) if rows else (rlo[:0], rhi[:0])
    merging = (m_code, key[rev], cnt[rev], dt[rev], t0[rev], t1[rev], *m_rows)
    direct = (lo, hi, key, cnt, dt, t0, t1, rlo, rhi)
    return direct, front, merging


@jit
def _merge_runs(
    perm: I64Array, merging: MergeArrays, out: TripleArrays, at: int, rows: bool
) -> int:
    """Merge co-actions (or partial triples) of the same (pair, key) into triples.

    ``perm`` orders ``merging`` by pair code (in any order among equal codes: each run is
    put in (key, input position) order here); for one (pair, key) the input order must
    be the production order. Sums ``n``, keeps the first smallest ``dt`` with its rows,
    the smallest ``t0`` and the largest ``t1``. Writes the triples into ``out`` from
    ``at`` on, by pair and key; returns how many. Cost ``O(m)`` plus the sorting of long
    runs.
    """
    code, key, cnt, dt, t0, t1, rlo, rhi = merging
    o_lo, o_hi, o_key, o_cnt, o_dt, o_t0, o_t1, o_rlo, o_rhi = out
    m = perm.shape[0]
    run = np.empty(16, dtype=np.int64)
    w = at
    x = 0
    while x < m:
        i = perm[x]
        y = x + 1
        while y < m and code[perm[y]] == code[i]:
            y += 1
        r = y - x
        if run.shape[0] < r:
            run = np.empty(2 * r, dtype=np.int64)
        if r <= _SMALL:  # by (key, input position): insertion sort
            for z in range(r):
                j = perm[x + z]
                q = z - 1
                while q >= 0 and (key[run[q]] > key[j] or (key[run[q]] == key[j] and run[q] > j)):
                    run[q + 1] = run[q]
                    q -= 1
                run[q + 1] = j
        else:
            seg = perm[x:y].copy()
            msort(seg.copy(), seg)  # by input position
            msort(key[seg].astype(np.int64), seg)  # then by key, stably
            for z in range(r):
                run[z] = seg[z]
        z = 0
        while z < r:
            i = run[z]
            kz = key[i]
            nn = cnt[i]
            best = i
            f = t0[i]
            la = t1[i]
            z += 1
            while z < r and key[run[z]] == kz:
                j = run[z]
                nn += cnt[j]
                if dt[j] < dt[best]:
                    best = j
                f = min(f, t0[j])
                la = max(la, t1[j])
                z += 1
            o_lo[w] = np.uint32(code[i] >> _SHIFT32)
            o_hi[w] = np.uint32(code[i] & _LOW32)
            o_key[w] = kz
            o_cnt[w] = nn
            o_dt[w] = dt[best]
            o_t0[w] = f
            o_t1[w] = la
            if rows:
                o_rlo[w] = rlo[best]
                o_rhi[w] = rhi[best]
            w += 1
        x = y
    return w - at


@jit
def _split_partial(
    triples: TripleArrays, s: int, e: int, cut_a: int, cut_b: int, rows: bool
) -> int:
    """Move the triples of keys ``cut_a``, ``cut_b`` in ``s:e`` behind the others, stably.

    Returns where they begin. Cost ``O(e - s)``.
    """
    lo, hi, key, cnt, dt, t0, t1, rlo, rhi = triples
    cut = np.empty(e - s, dtype=np.int64)
    n_cut = 0
    for x in range(s, e):
        if key[x] == cut_a or key[x] == cut_b:
            cut[n_cut] = x
            n_cut += 1
    if n_cut == 0:
        return e
    cut = cut[:n_cut].copy()
    c_lo = lo[cut]
    c_hi = hi[cut]
    c_key = key[cut]
    c_cnt = cnt[cut]
    c_dt = dt[cut]
    c_t0 = t0[cut]
    c_t1 = t1[cut]
    c_rlo = rlo[cut] if rows else rlo
    c_rhi = rhi[cut] if rows else rhi
    w = s
    for x in range(s, e):
        if key[x] == cut_a or key[x] == cut_b:
            continue
        lo[w] = lo[x]
        hi[w] = hi[x]
        key[w] = key[x]
        cnt[w] = cnt[x]
        dt[w] = dt[x]
        t0[w] = t0[x]
        t1[w] = t1[x]
        if rows:
            rlo[w] = rlo[x]
            rhi[w] = rhi[x]
        w += 1
    for c in range(n_cut):
        lo[w + c] = c_lo[c]
        hi[w + c] = c_hi[c]
        key[w + c] = c_key[c]
        cnt[w + c] = c_cnt[c]
        dt[w + c] = c_dt[c]
        t0[w + c] = c_t0[c]
        t1[w + c] = c_t1[c]
        if rows:
            rlo[w + c] = c_rlo[c]
            rhi[w + c] = c_rhi[c]
    return w


@jit
def _recurring(codes: U64Array, offsets: I64Array) -> U64Array:
    """Build a hash set (open addressing) of the codes that occur more than once.

    ``codes`` holds sorted runs, run ``r`` at ``offsets[r]:offsets[r + 1]``: a heap of the
    runs' heads walks them in merged order without writing the merge. Empty slots hold
    :data:`_EMPTY`. Cost ``O(T log K)`` for ``T`` codes in ``K`` runs.
    """
    n_runs = offsets.shape[0] - 1
    pos = offsets[:-1].copy()
    heap = np.empty(n_runs, dtype=np.int64)
    size = 0
    for r in range(n_runs):
        if pos[r] < offsets[r + 1]:
            heap[size] = r
            size += 1
    for i in range(size // 2 - 1, -1, -1):
        _sift_down(heap, np.int64(size), np.int64(i), codes, pos)
    dups = np.empty(1024, dtype=np.uint64)
    n_dup = 0
    count = 0
    prev = _EMPTY
    while size > 0:
        r = heap[0]
        # the top run's codes up to the next run's head need no heap work
        limit = _EMPTY
        for child in (1, 2):
            if child < size:
                limit = min(limit, codes[pos[heap[child]]])
        end = offsets[r + 1]
        x = pos[r]
        while x < end and codes[x] <= limit:
            v = codes[x]
            if v == prev:
                count += 1
                if count == 2:
                    if n_dup == dups.shape[0]:
                        dups = np.concatenate((dups, np.empty(n_dup, dtype=np.uint64)))
                    dups[n_dup] = v
                    n_dup += 1
            else:
                prev = v
                count = 1
            x += 1
        pos[r] = x
        if x == end:  # run r is done
            size -= 1
            heap[0] = heap[size]
        _sift_down(heap, np.int64(size), np.int64(0), codes, pos)
    bits = 4
    while (1 << bits) < 2 * n_dup + 2:
        bits += 1
    mask = (1 << bits) - 1
    table = np.full(1 << bits, _EMPTY, dtype=np.uint64)
    for d in range(n_dup):
        v = dups[d]
        h = np.int64((v * _MIX_U64) >> np.uint64(64 - bits))
        while table[h] != _EMPTY:
            h = (h + 1) & mask
        table[h] = v
    return table


@jit
def _sift_down(heap: I64Array, size: np.int64, i: np.int64, codes: U64Array, pos: I64Array) -> None:
    """Restore the heap (of runs, by their head ``codes[pos[run]]``) below ``i``."""
    while True:
        smallest = i
        for child in (2 * i + 1, 2 * i + 2):
            if child < size and codes[pos[heap[child]]] < codes[pos[heap[smallest]]]:
                smallest = child
        if smallest == i:
            return
        heap[i], heap[smallest] = heap[smallest], heap[i]
        i = smallest


@jit
def _chunk_edges(
    triples: TripleArrays,
    min_dt: F64Array,
    table: U64Array,
    sig_of_key: U8Array,
    several: bool,
    rows: bool,
) -> tuple[int, U64Array, TripleArrays]:
    """Turn one chunk's triples into single-key edges, in place.

    The triples of pairs in ``table`` (pairs seen on several keys) are copied out; the
    holes they leave below ``E`` (the number of the others) take the last triples, so
    that the ``E`` single-key edges fill the first ``E`` entries: ``lo``, ``hi``, ``cnt``
    (``n_coactions``), ``t0``/``t1`` (``first_ts``/``last_ts``, µs) and ``min_dt``
    (seconds; ``min_dt`` is ``dt``'s memory as float64). Returns ``E``, the signal masks
    (when ``several``), and the triples taken out. Cost ``O(T)``.
    """
    lo, hi, key, cnt, dt, t0, t1, rlo, rhi = triples
    n = lo.shape[0]
    bits = 0
    while (1 << bits) < table.shape[0]:
        bits += 1
    mask = (1 << bits) - 1
    shift = np.uint64(64 - bits)
    # a small bit set in front of the table (fits the L1 cache): most pairs stop there
    bbits = min(bits + 3, 18)
    bshift = np.uint64(64 - bbits)
    seen = np.zeros((1 << bbits) >> 6, dtype=np.uint64)
    any_dup = False
    for v in table:
        if v != _EMPTY:
            any_dup = True
            b = np.int64((v * _MIX_U64) >> bshift)
            seen[b >> 6] |= np.uint64(1) << np.uint64(b & 63)
    holes = np.empty(1024, dtype=np.int64)
    n_holes = 0
    for x in range(n):  # find the recurring pairs' triples; convert the others' Δt
        if any_dup:
            v = (np.uint64(lo[x]) << _SHIFT32) | np.uint64(hi[x])
            m = v * _MIX_U64
            b = np.int64(m >> bshift)
            if (seen[b >> 6] >> np.uint64(b & 63)) & np.uint64(1):
                h = np.int64(m >> shift)
                while table[h] != _EMPTY and table[h] != v:
                    h = (h + 1) & mask
                if table[h] == v:
                    if n_holes == holes.shape[0]:
                        holes = np.concatenate((holes, np.empty(n_holes, dtype=np.int64)))
                    holes[n_holes] = x
                    n_holes += 1
                    continue
        min_dt[x] = np.float64(dt[x]) * SECONDS_PER_US
    holes = holes[:n_holes]
    taken_rows = (rlo[holes], rhi[holes]) if rows else (rlo[:0], rhi[:0])
    taken = (
        lo[holes],
        hi[holes],
        key[holes],
        cnt[holes],
        dt[holes],
        t0[holes],
        t1[holes],
        *taken_rows,
    )
    n_single = n - n_holes
    # holes below n_single take the single-key triples from n_single on, in order
    src = n_single
    nxt = 0  # the first hole at or after src
    while nxt < n_holes and holes[nxt] < src:
        nxt += 1
    x = 0
    while x < n_holes and holes[x] < n_single:
        while nxt < n_holes and holes[nxt] == src:
            src += 1
            nxt += 1
        dst = holes[x]
        lo[dst] = lo[src]
        hi[dst] = hi[src]
        key[dst] = key[src]
        cnt[dst] = cnt[src]
        dt[dst] = dt[src]
        t0[dst] = t0[src]
        t1[dst] = t1[src]
        if rows:
            rlo[dst] = rlo[src]
            rhi[dst] = rhi[src]
        src += 1
        x += 1
    sig = np.empty(n_single if several else 0, dtype=np.uint64)
    if several:
        for e in range(n_single):
            sig[e] = np.uint64(1) << np.uint64(sig_of_key[key[e]])
    return n_single, sig, taken


@jit
def _multi_edges(triples: TripleArrays, sig_of_key: U8Array) -> tuple[Any, ...]:
    """Group the triples of the pairs seen on several keys into their edges, by pair.

    Returns ``lo``, ``hi``, ``n_coactions``, ``min_dt`` (seconds), ``first``/``last``
    (µs), ``n_keys``, ``median_dt`` (seconds; the median over the pair's keys of each
    key's smallest Δt), the signal masks, and the order of the triples that matches the
    edges, each pair's by ``(rlo, rhi)`` (when the rows are given). Cost ``O(R log R)``.
    """
    lo, hi, key, cnt, dt, t0, t1, rlo, rhi = triples
    m = lo.shape[0]
    code = np.empty(m, dtype=np.int64)  # lo < 2**31: the int64 order is the pair order
    for z in range(m):
        code[z] = (np.int64(lo[z]) << 32) | np.int64(hi[z])
    member = np.arange(m)
    msort(code, member)
    n_edges = 0
    for z in range(m):
        if z == 0 or code[z] != code[z - 1]:
            n_edges += 1
    e_lo = np.empty(n_edges, dtype=np.uint32)
    e_hi = np.empty(n_edges, dtype=np.uint32)
    e_co = np.empty(n_edges, dtype=np.uint64)
    e_min = np.empty(n_edges, dtype=np.float64)
    e_first = np.empty(n_edges, dtype=np.int64)
    e_last = np.empty(n_edges, dtype=np.int64)
    e_keys = np.empty(n_edges, dtype=np.uint32)
    e_med = np.empty(n_edges, dtype=np.float64)
    e_sig = np.empty(n_edges, dtype=np.uint64)
    order = np.empty(m if rlo.shape[0] else 0, dtype=np.int64)
    d = 0
    x = 0
    while x < m:
        y = x + 1
        while y < m and code[y] == code[x]:
            y += 1
        r = y - x
        dts = np.empty(r, dtype=np.int64)
        nn = np.uint64(0)
        f = t0[member[x]]
        la = t1[member[x]]
        sm = np.uint64(0)
        for z in range(x, y):
            j = member[z]
            nn += cnt[j]
            dts[z - x] = dt[j]
            f = min(f, t0[j])
            la = max(la, t1[j])
            sm |= np.uint64(1) << np.uint64(sig_of_key[key[j]])
        msort(dts, np.empty(r, dtype=np.int64))
        if r % 2 == 1:
            med = np.float64(dts[r // 2])
        else:
            below = np.float64(dts[r // 2 - 1])
            med = below + (np.float64(dts[r // 2]) - below) * 0.5
        e_lo[d] = lo[member[x]]
        e_hi[d] = hi[member[x]]
        e_co[d] = nn
        e_min[d] = np.float64(dts[0]) * SECONDS_PER_US
        e_first[d] = f
        e_last[d] = la
        e_keys[d] = r
        e_med[d] = med * SECONDS_PER_US
        e_sig[d] = sm
        if order.shape[0]:  # this pair's triples in the order of (rlo, rhi)
            mine = member[x:y].copy()
            msort(rhi[mine].astype(np.int64), mine)
            msort(rlo[mine].astype(np.int64), mine)
            for z in range(r):
                order[x + z] = mine[z]
        d += 1
        x = y
    return e_lo, e_hi, e_co, e_min, e_first, e_last, e_keys, e_med, e_sig, order
