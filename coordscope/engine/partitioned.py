"""The partitioned pair engine: key partitions in, pair partitions out, under a budget.

Counting co-actions costs memory in proportion to the in-window pairs, which grow with
the density of keys, not with the number of actions. The work is therefore cut twice:

1. **Key partitions** (the map). Actions are split by key — every action of a key in one
   partition, so every co-action of the key is found there. :func:`partition_partials`,
   the partition task, emits *partial aggregates*, one row per (pair of accounts, key):
   co-actions ``n``, the smallest Δt ``dt``, the earliest and latest action ``t0``,
   ``t1``, and the ids ``ra``, ``rb`` of the two actions of the closest co-action (the
   first in sweep order among equal Δt: the earliest first action, then the earliest
   second). Keys of at most ``max_pairs`` in-window pairs are swept and merged whole, in
   compiled code (a key where no account acted twice gives each co-action as its row).
   A crowded key is swept in chunks of ``max_pairs`` pairs (the band sweep of
   :mod:`coordscope.engine.kernel`); a row flagged ``part`` may then have siblings (same
   pair and key) from other chunks: the reduce merges them.
2. **Pair partitions** (the reduce). Partials are routed by the pair's first account
   into pair partitions (ranges of account codes, so pair partitions in order give the
   pairs in code order). The local runner spills them in large Arrow IPC files, rows
   grouped by slice of account codes (or keeps them in memory, each row with its slice,
   when they fit in a quarter of the budget), and plans the pair partitions once it
   knows how many partials each slice holds. :func:`reduce_pairs` turns the partials
   of one pair partition into one row per pair: ``n_keys`` (distinct keys), ``n_co``
   (co-actions), ``min_dt``, ``median_dt`` (median over the pair's keys of each key's
   smallest Δt), ``first_ts``, ``last_ts`` and ``sig`` (bit mask of the signals). The
   complete (pair, key) rows it merged on the way (:func:`merge_partials`) come with it,
   for the callers that need per-key evidence of some pairs.

Both functions are pure functions of a table: the local runner
(:class:`LocalPairEngine`) runs them on threads over spilled partitions; another runner
(Spark) can run the same two functions as grouped tasks. Times are integers in any unit
(microseconds in coordscope), windows inclusive in that unit.

Memory of the local runner: the coded actions (four int64 columns), plus per running
task one chunk of ``max_pairs`` pairs and its buffered partials, plus one pair partition
at a time per worker during the reduce; every part is sized from the
:class:`~coordscope.budget.Budget`. A key shared by 100,000 accounts in a minute is cut
into chunks and costs time, not memory.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

import numpy as np
import numpy.typing as npt
import polars as pl

from coordscope.budget import Budget, thread_pool
from coordscope.engine.coding import msort
from coordscope.engine.jit import jit
from coordscope.engine.kernel import band_pairs, window_ends
from coordscope.parts import SPILL_COMPRESSION, WorkDir
from coordscope.progress import track

__all__ = [
    "KEYED_SCHEMA",
    "PAIR_SCHEMA",
    "PARTIAL_SCHEMA",
    "LocalPairEngine",
    "PairPartition",
    "Sieve",
    "merge_partials",
    "pair_partition_bytes",
    "pair_slices",
    "partition_partials",
    "reduce_pairs",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
T = TypeVar("T")

#: Partial aggregates per (pair, key), emitted by the partition task.
PARTIAL_SCHEMA: Final[dict[str, pl.DataType]] = {
    "lo": pl.Int64(), "hi": pl.Int64(), "k": pl.Int64(), "s": pl.Int64(), "n": pl.Int64(),
    "dt": pl.Int64(), "t0": pl.Int64(), "t1": pl.Int64(), "ra": pl.Int64(), "rb": pl.Int64(),
    "part": pl.Boolean(),
}  # fmt: skip

#: Complete aggregates per (pair, key), from :func:`merge_partials`.
KEYED_SCHEMA: Final[dict[str, pl.DataType]] = {
    c: t for c, t in PARTIAL_SCHEMA.items() if c != "part"
}

#: One row per pair of accounts, from the pair-partition reduce; ``lo < hi`` codes.
PAIR_SCHEMA: Final[dict[str, pl.DataType]] = {
    "lo": pl.Int64(), "hi": pl.Int64(), "n_keys": pl.Int64(), "n_co": pl.Int64(),
    "min_dt": pl.Int64(), "median_dt": pl.Float64(), "first_ts": pl.Int64(),
    "last_ts": pl.Int64(), "sig": pl.Int64(),
}  # fmt: skip

#: Bytes a materialised pair costs in a task: two index arrays and their filtered copies,
#: the gathered codes and times, the partial frame and its grouped part (measured: about
#: three times the 136 bytes of the arrays alone).
PAIR_BYTES: Final = 370
#: Bytes a partial row costs in the reduce (its narrow slices read back and widened, the
#: frame, its group-by and the pair rows; 240 before the spill files were narrowed, which
#: took the 3-day audit 150 MB over its 4 GB budget).
PARTIAL_BYTES: Final = 320
#: Bytes a partial row costs while it waits in memory for its pair partition (eleven
#: columns in 8 to 64 bits, :func:`_narrow`, and its slice): partials are kept in memory,
#: not spilled, when all of them take at most a quarter of the budget.
KEPT_BYTES: Final = 60
#: Spilled partials are grouped by this many slices of the first account code; a pair
#: partition is a run of whole slices.
SLICES: Final = 4096


def partition_partials(
    k: IntArray,
    a: IntArray,
    t: IntArray,
    s: IntArray,
    r: IntArray | None = None,
    *,
    window: int,
    max_pairs: int,
) -> Iterator[pl.DataFrame]:
    """Run the partition task: partial aggregates per (pair, key) of one key partition.

    Parameters
    ----------
    k, a, t, s : ndarray of int64
        Key code, account code, time and signal index of every action of the partition,
        sorted by ``(k, t)``. Every action of a key must be in the partition.
    r : ndarray of int64, optional
        An id of every action, increasing in ``(k, t)`` order (default: its position in
        the partition), reported as ``ra``, ``rb`` for the closest co-action of each
        (pair, key); ties between equal Δt go to the smallest ids.
    window : int
        The co-action window, inclusive, in the unit of ``t``.
    max_pairs : int
        Pairs materialised at once (the task's memory: about
        :data:`PAIR_BYTES` bytes each).

    Yields
    ------
    polars.DataFrame
        :data:`PARTIAL_SCHEMA` rows, at most about ``max_pairs`` per frame: ``lo < hi``
        account codes, key ``k`` and its signal ``s``, co-actions ``n``, smallest Δt
        ``dt``, earliest ``t0`` and latest ``t1`` action of those co-actions, ``ra`` and
        ``rb`` the ids of the ``lo`` and the ``hi`` account's action in the closest
        co-action (ties: the smallest first id, then the smallest second id, that is
        the first in sweep order). Rows with
        ``part = False`` are complete (no other row of the task has their pair and key);
        rows with ``part = True`` must be merged by pair and key.

    Notes
    -----
    A co-action is a pair of actions of one key by different accounts with
    ``|Δt| <= window``. Keys of at most ``max_pairs`` pairs are merged whole in compiled
    code (:func:`_whole_key_partials`; account codes below ``2**31``); a crowded key is
    swept in chunks and grouped with polars. Cost ``O(n log n + P)`` for ``n`` actions
    and ``P`` in-window pairs; memory ``O(n + max_pairs)``.
    """
    n = k.shape[0]
    if n < 2:
        return
    if r is None:
        r = np.arange(n, dtype=np.int64)
    ends = window_ends(k, t, window)
    counts = ends - np.arange(n, dtype=np.int64) - 1
    key_start = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    per_key = np.add.reduceat(counts, key_start)
    if per_key.max() == 0:
        return
    if per_key.max() <= max_pairs:
        # every key fits in a chunk: whole keys, merged in compiled code, in chunks of
        # keys of about max_pairs pairs
        cum = np.cumsum(per_key)
        marks = np.arange(max_pairs, int(cum[-1]), max_pairs, dtype=np.int64)
        cuts = np.searchsorted(cum, marks, side="left") + 1
        bounds = np.unique(np.concatenate(([0], cuts, [key_start.shape[0]]))).tolist()
        starts = np.append(key_start, n).astype(np.int64)
        for k0, k1 in itertools.pairwise(bounds):
            size = int(cum[k1 - 1] - (cum[k0 - 1] if k0 else 0))
            if size == 0:
                continue
            cols = _whole_key_partials(starts[k0 : k1 + 1], k, a, t, s, r, ends, size)
            yield pl.DataFrame(
                dict(zip(_KEYED_COLUMNS, cols, strict=True)), schema=KEYED_SCHEMA
            ).with_columns(pl.lit(False).alias("part"))
        return
    # a crowded key: pairs in chunks of max_pairs, grouped with polars
    # a (key, account) seen twice marks its pairs for grouping (exact: keys are whole)
    rep = pl.DataFrame({"k": k, "a": a}).is_duplicated().to_numpy()
    held: list[pl.DataFrame] = []
    held_rows = 0
    spilled = False
    for i_all, j_all in band_pairs(k, t, window, max_pairs=max_pairs):
        ai = a[i_all]
        aj = a[j_all]
        keep = ai != aj
        ii, jj = i_all, j_all
        if not keep.all():
            ii, jj, ai, aj = ii[keep], jj[keep], ai[keep], aj[keep]
        del i_all, j_all
        if ii.shape[0] == 0:
            continue
        grouped_rows = rep[ii] | rep[jj]
        first = ai < aj
        chunk = pl.DataFrame(
            {
                "lo": np.minimum(ai, aj),
                "hi": np.maximum(ai, aj),
                "k": k[ii],
                "s": s[ii],
                "n": np.ones(ii.shape[0], dtype=np.int64),
                "dt": t[jj] - t[ii],
                "t0": t[ii],
                "t1": t[jj],
                "ra": np.where(first, r[ii], r[jj]),
                "rb": np.where(first, r[jj], r[ii]),
                "g": grouped_rows,
            }
        )
        del ai, aj, ii, jj, first
        if not grouped_rows.any():
            yield chunk.drop("g").with_columns(pl.lit(False).alias("part"))
            continue
        if not grouped_rows.all():
            yield chunk.filter(~pl.col("g")).drop("g").with_columns(pl.lit(False).alias("part"))
        grouped = _merge(chunk.filter(pl.col("g")).drop("g"))
        held.append(grouped)
        held_rows += grouped.height
        if held_rows > max_pairs:
            merged = _merge(pl.concat(held))
            held, held_rows = [merged], merged.height
            if held_rows > max_pairs // 2:  # a crowded key: spill, merge in the reduce
                spilled = True
                yield merged.with_columns(pl.lit(True).alias("part"))
                held, held_rows = [], 0
    if held:
        rest = held[0] if len(held) == 1 else _merge(pl.concat(held))
        yield rest.with_columns(pl.lit(spilled).alias("part"))


_KEYED_COLUMNS: Final = ("lo", "hi", "k", "s", "n", "dt", "t0", "t1", "ra", "rb")


@jit
def _whole_key_partials(
    starts: IntArray,
    k: IntArray,
    a: IntArray,
    t: IntArray,
    s: IntArray,
    r: IntArray,
    ends: IntArray,
    size: int,
) -> tuple[IntArray, ...]:
    """Aggregate the co-actions of whole keys by (pair, key), compiled.

    Key ``q`` is positions ``starts[q]:starts[q + 1]`` (sorted by time), ``ends`` the
    window ends (:func:`coordscope.engine.kernel.window_ends`), ``size`` the keys'
    in-window pairs. A key where no account acted twice gives each co-action as its own
    row; otherwise the key's co-actions are sorted by pair, stably (sweep order kept),
    and each run is merged: co-actions, smallest Δt (the first in sweep order among
    equal ones), earliest and latest action. Returns the :data:`KEYED_SCHEMA` columns.
    Cost ``O(P log P)`` over the co-actions ``P`` of keys with a repeated account,
    ``O(P)`` for the others.
    """
    out_lo = np.empty(size, dtype=np.int64)
    out_hi = np.empty(size, dtype=np.int64)
    out_k = np.empty(size, dtype=np.int64)
    out_s = np.empty(size, dtype=np.int64)
    out_n = np.empty(size, dtype=np.int64)
    out_dt = np.empty(size, dtype=np.int64)
    out_t0 = np.empty(size, dtype=np.int64)
    out_t1 = np.empty(size, dtype=np.int64)
    out_ra = np.empty(size, dtype=np.int64)
    out_rb = np.empty(size, dtype=np.int64)
    m = 0
    for q in range(starts.shape[0] - 1):
        s0 = starts[q]
        e0 = starts[q + 1]
        width = e0 - s0
        if width < 2:
            continue
        accounts = a[s0:e0].copy()
        accounts.sort()
        repeated = False
        for i in range(1, width):
            if accounts[i] == accounts[i - 1]:
                repeated = True
                break
        if not repeated:
            for i in range(s0, e0):
                for j in range(i + 1, ends[i]):
                    first = a[i] < a[j]
                    out_lo[m] = a[i] if first else a[j]
                    out_hi[m] = a[j] if first else a[i]
                    out_k[m] = k[i]
                    out_s[m] = s[i]
                    out_n[m] = 1
                    out_dt[m] = t[j] - t[i]
                    out_t0[m] = t[i]
                    out_t1[m] = t[j]
                    out_ra[m] = r[i] if first else r[j]
                    out_rb[m] = r[j] if first else r[i]
                    m += 1
            continue
        n_pairs = 0
        for i in range(s0, e0):
            n_pairs += ends[i] - i - 1
        code = np.empty(n_pairs, dtype=np.int64)
        pi = np.empty(n_pairs, dtype=np.int64)
        pj = np.empty(n_pairs, dtype=np.int64)
        c = 0
        for i in range(s0, e0):
            for j in range(i + 1, ends[i]):
                if a[i] == a[j]:
                    continue
                code[c] = (min(a[i], a[j]) << 32) | max(a[i], a[j])
                pi[c] = i
                pj[c] = j
                c += 1
        idx = np.arange(c, dtype=np.int64)
        code = code[:c]
        msort(code, idx)  # stable: sweep order within each pair
        x = 0
        while x < c:
            y = x + 1
            while y < c and code[y] == code[x]:
                y += 1
            best = idx[x]
            t0 = t[pi[best]]
            t1 = t[pj[best]]
            for z in range(x + 1, y):
                u = idx[z]
                if t[pj[u]] - t[pi[u]] < t[pj[best]] - t[pi[best]]:
                    best = u
                t0 = min(t0, t[pi[u]])
                t1 = max(t1, t[pj[u]])
            i = pi[best]
            j = pj[best]
            first = a[i] < a[j]
            out_lo[m] = a[i] if first else a[j]
            out_hi[m] = a[j] if first else a[i]
            out_k[m] = k[i]
            out_s[m] = s[i]
            out_n[m] = y - x
            out_dt[m] = t[j] - t[i]
            out_t0[m] = t0
            out_t1[m] = t1
            out_ra[m] = r[i] if first else r[j]
            out_rb[m] = r[j] if first else r[i]
            m += 1
            x = y
    return (
        out_lo[:m], out_hi[:m], out_k[:m], out_s[:m], out_n[:m], out_dt[:m], out_t0[:m],
        out_t1[:m], out_ra[:m], out_rb[:m],
    )  # fmt: skip


def _merge(frame: pl.DataFrame) -> pl.DataFrame:
    """Group co-actions or partial rows by (pair, key).

    The closest co-action is chosen by ``(dt, first action, second action)`` with the
    actions' ids in sweep order (``min(ra, rb)`` came first): a total order, so the choice
    does not depend on how rows were cut or read back (polars' ``arg_min`` does not
    promise the first of equal values).
    """
    return (
        frame.with_columns(
            pl.min_horizontal("ra", "rb").alias("_i"), pl.max_horizontal("ra", "rb").alias("_j")
        )
        .group_by(["lo", "hi", "k"])
        .agg(
            pl.col("s").first(),
            pl.col("n").sum(),
            pl.col("dt").min(),
            pl.col("t0").min(),
            pl.col("t1").max(),
            pl.struct("ra", "rb").sort_by(["dt", "_i", "_j"]).first().alias("_r"),
        )
        .unnest("_r")
        .select(list(KEYED_SCHEMA))
    )


def merge_partials(partials: pl.DataFrame) -> pl.DataFrame:
    """Merge the partial rows of one pair partition into one row per (pair, key).

    Parameters
    ----------
    partials : polars.DataFrame
        :data:`PARTIAL_SCHEMA` rows, in the order the tasks emitted them; every partial
        of a pair must be present.

    Returns
    -------
    polars.DataFrame
        :data:`KEYED_SCHEMA`, one row per (pair, key), in no particular order.

    Notes
    -----
    Only rows flagged ``part`` are grouped. Cost ``O(R)`` for ``R`` rows.
    """
    cols = list(KEYED_SCHEMA)
    if partials.height == 0:
        return pl.DataFrame(schema=KEYED_SCHEMA)
    if not partials["part"].any():
        return partials.select(cols)
    done = partials.filter(~pl.col("part")).select(cols)
    merged = _merge(partials.filter(pl.col("part")).select(cols))
    return pl.concat([done, merged]) if done.height else merged


def reduce_pairs(partials: pl.DataFrame, *, n_accounts: int) -> pl.DataFrame:
    """Run the pair-partition reduce: one row per pair from its partial aggregates.

    Parameters
    ----------
    partials : polars.DataFrame
        :data:`PARTIAL_SCHEMA` rows (every partial of a pair must be present), or
        :data:`KEYED_SCHEMA` rows already merged by :func:`merge_partials`.
    n_accounts : int
        The number of account codes (pairs are ordered by ``lo * (n_accounts + 1) + hi``).

    Returns
    -------
    polars.DataFrame
        :data:`PAIR_SCHEMA`, sorted by ``(lo, hi)``. ``median_dt`` is the median over the
        pair's keys of each key's smallest Δt (the mean of the two middle values for an
        even count).

    Notes
    -----
    One sort of the rows by (pair, Δt), then reductions over each pair's run of rows.
    Cost ``O(R log R)`` for ``R`` rows.
    """
    if partials.height == 0:
        return pl.DataFrame(schema=PAIR_SCHEMA)
    if "part" in partials.columns:
        partials = merge_partials(partials)
    # rows ordered by pair (one sort of 64-bit words: the pair code's bits above the
    # row number), then each pair's run reduced in compiled code
    lo = partials["lo"].to_numpy()
    hi = partials["hi"].to_numpy()
    pid = lo * (n_accounts + 1) + hi
    n = pid.shape[0]
    row_bits = max(1, (n - 1).bit_length())
    if (n_accounts * (n_accounts + 2)).bit_length() + row_bits <= 63:
        packed = (pid << row_bits) | np.arange(n, dtype=np.int64)
        packed.sort()
        order = packed & ((1 << row_bits) - 1)
        sorted_pid = packed >> row_bits
        del packed
    else:  # pragma: no cover - more than about 2**20 accounts and 2**22 rows at once
        order = np.argsort(pid, kind="stable")
        sorted_pid = pid[order]
    cols = _reduce_runs(
        order, sorted_pid, lo, hi, partials["n"].to_numpy(), partials["dt"].to_numpy(),
        partials["t0"].to_numpy(), partials["t1"].to_numpy(), partials["s"].to_numpy(),
    )  # fmt: skip
    return pl.DataFrame(dict(zip(PAIR_SCHEMA, cols, strict=True)), schema=PAIR_SCHEMA)


@jit
def _reduce_runs(
    order: IntArray,
    pid: IntArray,
    lo: IntArray,
    hi: IntArray,
    n: IntArray,
    dt: IntArray,
    t0: IntArray,
    t1: IntArray,
    s: IntArray,
) -> tuple[
    IntArray, IntArray, IntArray, IntArray, IntArray, FloatArray, IntArray, IntArray, IntArray
]:
    """Reduce each run of equal ``pid`` (rows in ``order``) to :data:`PAIR_SCHEMA` columns.

    ``pid`` holds the pair code of every row *in that order* (sorted).

    The median of a run's Δt is the mean of its two middle values (one sort of the run's
    Δt). Cost ``O(R log m)`` for ``R`` rows in runs of at most ``m``.
    """
    size = order.shape[0]
    runs = 0
    for x in range(size):
        if x == 0 or pid[x] != pid[x - 1]:
            runs += 1
    out_lo = np.empty(runs, dtype=np.int64)
    out_hi = np.empty(runs, dtype=np.int64)
    n_keys = np.empty(runs, dtype=np.int64)
    n_co = np.empty(runs, dtype=np.int64)
    min_dt = np.empty(runs, dtype=np.int64)
    median = np.empty(runs, dtype=np.float64)
    first = np.empty(runs, dtype=np.int64)
    last = np.empty(runs, dtype=np.int64)
    sig = np.empty(runs, dtype=np.int64)
    dts = np.empty(0, dtype=np.int64)
    x = 0
    q = 0
    while x < size:
        r0 = order[x]
        y = x + 1
        while y < size and pid[y] == pid[x]:
            y += 1
        m = y - x
        if dts.shape[0] < m:
            dts = np.empty(max(m, 2 * dts.shape[0]), dtype=np.int64)
        co = 0
        f = t0[r0]
        g = t1[r0]
        bits = np.int64(0)
        for z in range(m):
            row = order[x + z]
            dts[z] = dt[row]
            co += n[row]
            f = min(f, t0[row])
            g = max(g, t1[row])
            bits |= np.int64(1) << s[row]
        if m > 32:
            dts[:m].sort()
        else:  # inline insertion sort: most pairs have a few keys (a call of msort per
            # run took 0.55 s for 2.5M runs, this 0.35 s)
            for z in range(1, m):
                v = dts[z]
                w = z - 1
                while w >= 0 and dts[w] > v:
                    dts[w + 1] = dts[w]
                    w -= 1
                dts[w + 1] = v
        out_lo[q] = lo[r0]
        out_hi[q] = hi[r0]
        n_keys[q] = m
        n_co[q] = co
        min_dt[q] = dts[0]
        median[q] = (dts[(m - 1) // 2] + dts[m // 2]) / 2.0
        first[q] = f
        last[q] = g
        sig[q] = bits
        q += 1
        x = y
    return out_lo, out_hi, n_keys, n_co, min_dt, median, first, last, sig


@dataclass(frozen=True)
class PairPartition:
    """One reduced pair partition.

    Attributes
    ----------
    q : int
        Its index; partitions in index order hold the pairs in code order.
    pairs : polars.DataFrame
        :data:`PAIR_SCHEMA`, one row per pair, sorted by ``(lo, hi)``.
    keyed : polars.DataFrame
        :data:`KEYED_SCHEMA`, one row per (pair, key) of those pairs, in no particular
        order.
    notes : tuple of int
        What a :data:`Sieve` that ran where the partition was reduced says of the rows it
        kept back (empty when none ran).
    """

    q: int
    pairs: pl.DataFrame
    keyed: pl.DataFrame
    notes: tuple[int, ...] = ()


#: Runs on a reduced pair partition where it was reduced, before it travels to the
#: consumer: returns the part of it the consumer needs, with ``notes`` on what it kept
#: back (the rows it wrote to files of its own, their counts). Engines that reduce in
#: another process (Spark) run it there; the local engine, whose partitions are already
#: where the consumer is, does not run it. Must be picklable and free of side effects
#: other than writing its own files.
Sieve = Callable[[PairPartition], PairPartition]


class LocalPairEngine:
    """Runs the partition tasks and the pair-partition reduce on threads, spilling to disk.

    Parameters
    ----------
    n_accounts : int
        Account codes run over ``0 .. n_accounts - 1``.
    n_pairs : int
        The in-window pairs the run will produce (an upper bound of the partials), to
        size the pair partitions
        (:func:`coordscope.engine.kernel.count_band_pairs` gives it).
    budget : Budget
        Memory and workers.
    work : WorkDir
        Where partials are spilled.
    keep : bool, optional
        Whether partials wait in memory rather than in files when there are several pair
        partitions (default: when they take at most a quarter of the budget,
        :data:`KEPT_BYTES` a row); the results are the same either way.

    Notes
    -----
    Use :meth:`add` once per group of actions sharing a window, then :meth:`reduce`.
    Pair partitions are ranges of the first account code (:meth:`slice_of`): reading
    them in order gives the pairs in code order.
    """

    def __init__(
        self,
        *,
        n_accounts: int,
        n_pairs: int,
        budget: Budget,
        work: WorkDir,
        keep: bool | None = None,
    ):
        self.n_accounts = max(1, n_accounts)
        self.budget = budget
        self.task_bytes = budget.task_bytes()
        self.max_pairs = max(16, self.task_bytes // PAIR_BYTES)
        self.share = share = pair_partition_bytes(budget)
        # the pair partitions are planned from the partials actually spilled
        # (:meth:`_plan`); this is the number the in-window pairs would need at most
        self.n_buckets = max(1, min(SLICES, math.ceil(n_pairs * PARTIAL_BYTES / share)))
        # partials wait in one buffer shared by the tasks, in hand-off order, and are
        # written as one file when it holds this many rows (~88 bytes each, three times
        # over while sorted): few, large files, whatever the number of pair partitions
        self.flush_rows = max(1, (budget.memory // 6) // (3 * 88))
        if budget.task is not None:
            self.flush_rows = max(1, self.task_bytes // (2 * 3 * 88))
        self._pending: list[pl.DataFrame] = []
        self._pending_rows = 0
        self.dir = work.subdir(f"partials-{id(self)}")
        self._lock = threading.Lock()
        # spilled files: (serial, path, row offsets of each slice of account codes)
        self._runs: list[tuple[int, Path, IntArray]] = []
        # one pair partition holds at most a task's bytes of partials: keep them in memory
        # rather than write and read them back (same frames, same order, same result)
        self.in_memory = self.n_buckets == 1
        self._held: list[tuple[int, pl.DataFrame]] = []
        # several pair partitions whose partials all fit in a quarter of the budget: they
        # are kept in memory as they came, with the slice of every row, and each pair
        # partition filters its rows out of them (no sort by slice, no file)
        fits = n_pairs * KEPT_BYTES <= budget.memory // 4
        self.kept_in_memory = not self.in_memory and (fits if keep is None else keep)
        self._kept: list[tuple[int, pl.DataFrame, npt.NDArray[np.int16]]] = []
        self._serial = 0
        self.n_partials = 0
        self.n_tasks = 0

    def slice_of(self, lo: IntArray) -> IntArray:
        """Return the slice (``0 .. SLICES - 1``) of pairs whose first account code is ``lo``.

        The first account of a pair is the smaller of two codes, which falls in the
        lower codes more often (density ``2(1 − x)`` for a uniform pair), so slice ``g``
        covers ``1 − (1 − lo/n)² ∈ [g/S, (g+1)/S)``: balanced for uniform pairs, and
        increasing in ``lo``. Pair partitions are runs of whole slices, so partitions in
        order give the pairs in code order.
        """
        return pair_slices(lo, self.n_accounts)

    def add(
        self,
        k: IntArray,
        a: IntArray,
        t: IntArray,
        s: IntArray,
        r: IntArray | None = None,
        *,
        window: int,
    ) -> None:
        """Count the co-actions of actions sorted by ``(k, t)``; spill their partials.

        Key partitions are cut at key boundaries so that each holds about ``max_pairs``
        in-window pairs (a crowded key alone is one partition, processed in chunks).
        ``r`` gives the action ids reported as ``ra``, ``rb``, increasing in ``(k, t)``
        order (default: the positions in
        these arrays).
        """
        n = k.shape[0]
        if n < 2:
            return
        if r is None:
            r = np.arange(n, dtype=np.int64)
        ends = window_ends(k, t, window)
        cum = np.cumsum(ends - np.arange(n, dtype=np.int64) - 1)
        total = int(cum[-1])
        if total == 0:
            return
        key_start = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
        # cut where the running pair count crosses multiples of the task size, at keys
        marks = np.arange(self.max_pairs, total, self.max_pairs, dtype=np.int64)
        at = np.searchsorted(cum, marks, side="left")
        cuts = np.unique(key_start[np.searchsorted(key_start, at, side="right") - 1])
        bounds = np.unique(np.concatenate(([0], cuts, [n]))).tolist()
        spans = list(itertools.pairwise(bounds))
        self.n_tasks += len(spans)

        def task(span: tuple[int, int]) -> None:
            lo, hi = span
            self._spill(
                partition_partials(
                    k[lo:hi], a[lo:hi], t[lo:hi], s[lo:hi], r[lo:hi], window=window,
                    max_pairs=self.max_pairs,
                )
            )  # fmt: skip

        with thread_pool(self.budget.workers) as pool:
            list(pool.map(task, spans))
        self._drain()

    def add_partials(self, frames: Iterable[pl.DataFrame]) -> None:
        """Take partial rows counted elsewhere (kept from an earlier run), after :meth:`add`.

        Each frame holds :data:`PARTIAL_SCHEMA` rows; they are routed to their pair
        partitions as a task's would be, and reduced with the others.
        """
        for frame in frames:
            if frame.height:
                self._spill(iter([frame]))
        self._drain()

    def _spill(self, frames: Iterator[pl.DataFrame]) -> None:
        """Buffer a task's partials; write them by pair partition when the buffer is full."""
        buffer: list[pl.DataFrame] = []
        rows = 0
        # partial rows cost ~72 bytes, three times over while they are concatenated and
        # split by pair partition: the buffer takes at most half of the task's bytes
        limit = max(1, self.task_bytes // (2 * 3 * 72))
        for frame in frames:
            buffer.append(frame)
            rows += frame.height
            if rows >= limit:
                self._flush(buffer)
                buffer, rows = [], 0
        if buffer:
            self._flush(buffer)

    def _drain(self) -> None:
        """Write what is left in the shared buffer (after every task has run)."""
        with self._lock:
            batch, self._pending, self._pending_rows = self._pending, [], 0
            serial = self._serial
            self._serial += 1
        if batch:
            self._write(pl.concat(batch) if len(batch) > 1 else batch[0], serial)

    def _flush(self, buffer: list[pl.DataFrame]) -> None:
        """Hand a task's buffered partials over; write the shared buffer when it is full.

        Frames enter the shared buffer in hand-off order under the lock, and a full buffer
        is taken whole under the same lock, so every file holds rows in hand-off order
        and files (numbered in the same order) follow one another: the partials of one
        task, hence of one (pair, key), are read back in the order they were emitted.
        """
        frame = pl.concat(buffer) if len(buffer) > 1 else buffer[0]
        buffer.clear()
        with self._lock:
            serial = self._serial
            self._serial += 1
            self.n_partials += frame.height
            if self.in_memory:
                self._held.append((serial, frame))
                return
            self._pending.append(frame)
            self._pending_rows += frame.height
            if self._pending_rows < self.flush_rows:
                return
            batch, self._pending, self._pending_rows = self._pending, [], 0
        self._write(pl.concat(batch) if len(batch) > 1 else batch[0], serial)

    def _write(self, frame: pl.DataFrame, serial: int) -> None:
        """Write a batch of partials as one file, its rows grouped by slice of ``lo``.

        The sort is stable: within a slice, rows keep their hand-off order. The offsets
        of every slice's rows are kept, so a pair partition reads its rows of each file
        as one contiguous range.
        """
        g = self.slice_of(frame["lo"].to_numpy()).astype(np.int16)  # SLICES <= 2**15
        if self.kept_in_memory:
            narrow = _narrow(frame)  # half the bytes: codes, counts and signals are small
            with self._lock:
                self._kept.append((serial, narrow, g))
            return
        order = np.argsort(g, kind="stable")  # a radix sort for 16-bit keys
        offsets = np.searchsorted(g[order], np.arange(SLICES + 1), side="left")
        path = self.dir / f"p{serial:09d}.arrow"
        _narrow(frame)[pl.Series(order)].write_ipc(path, compression=SPILL_COMPRESSION)
        with self._lock:
            self._runs.append((serial, path, offsets.astype(np.int64)))

    def _plan(self) -> list[tuple[int, int]]:
        """Cut the slices into pair partitions of about ``share`` bytes of partials each.

        Called once the partials are all spilled: their count per slice is known, so
        partitions are as many as the partials need (at most one per slice), cut at
        equal shares of the rows; sets :attr:`n_buckets`.
        """
        rows = np.zeros(SLICES, dtype=np.int64)
        for _, _, offsets in self._runs:
            rows += np.diff(offsets)
        for _, _, g in self._kept:
            rows += np.bincount(g, minlength=SLICES)
        total = int(rows.sum())
        n = max(1, min(SLICES, math.ceil(total * PARTIAL_BYTES / self.share)))
        cum = np.cumsum(rows)
        cuts = np.searchsorted(cum, np.arange(1, n) * (total / n), side="left") + 1
        bounds = np.unique(np.concatenate(([0], np.minimum(cuts, SLICES), [SLICES])))
        self.n_buckets = len(bounds) - 1
        return [(int(lo), int(hi)) for lo, hi in itertools.pairwise(bounds)]

    def reduce(self) -> Iterator[PairPartition]:
        """Yield every pair partition in order, reduced (:func:`reduce_pairs`).

        The same as :meth:`reduce_each` with nothing to run after the reduce.
        """
        return self.reduce_each(_same)

    def reduce_each(
        self, then: Callable[[PairPartition], T], *, sieve: Sieve | None = None
    ) -> Iterator[T]:
        """Reduce every pair partition and run ``then`` on it; yield the results in order.

        ``sieve`` is not run: the partitions are reduced in this process, where ``then``
        reads them whole at no cost (it must accept a partition that was not sieved).

        Partitions are reduced, and ``then`` runs on them, ``workers`` at a time on
        threads, ahead of the consumer by at most that many; each reads its range of rows
        from every spill file, and the files are deleted when the last partition is done
        (or the consumer stops). ``then`` must be safe to run on several threads at once
        (the pair tests of a partition read shared inputs, and write their own pieces).
        When all partials fit in one pair partition they were kept in memory, not spilled;
        when they fit in a quarter of the budget (:data:`KEPT_BYTES` a row), each pair
        partition filters its rows out of the partials kept in memory.
        """
        if self.in_memory:
            spans = [(0, SLICES)]
        else:
            self._runs.sort(key=lambda run: run[0])
            self._kept.sort(key=lambda run: run[0])
            spans = self._plan()

        def one(q: int) -> T:
            if self.in_memory:
                held = [frame for _, frame in sorted(self._held, key=lambda x: x[0])]
                self._held.clear()
                partials = pl.concat(held) if held else pl.DataFrame(schema=PARTIAL_SCHEMA)
            elif self.kept_in_memory:
                lo, hi = spans[q]
                frames = [
                    f.filter(pl.Series((g >= lo) & (g < hi))).cast(PARTIAL_SCHEMA)  # type: ignore[arg-type]
                    for _, f, g in self._kept
                ]
                partials = pl.concat(frames) if frames else pl.DataFrame(schema=PARTIAL_SCHEMA)
                del frames
            else:
                lo, hi = spans[q]
                partials = _read_partials(
                    [(path, int(off[lo]), int(off[hi])) for _, path, off in self._runs]
                )
            keyed = merge_partials(partials)
            del partials
            return then(PairPartition(q, reduce_pairs(keyed, n_accounts=self.n_accounts), keyed))

        workers = self.budget.workers
        n = len(spans)
        try:
            with (
                track("pair partitions", total=n, unit="partitions") as progress,
                thread_pool(workers) as pool,
            ):
                pending = [pool.submit(one, q) for q in range(min(workers, n))]
                for q in range(n):
                    result = pending.pop(0).result()
                    nxt = q + len(pending) + 1
                    if nxt < n:
                        pending.append(pool.submit(one, nxt))
                    progress.advance()
                    yield result
        finally:
            for _, path, _ in self._runs:
                path.unlink(missing_ok=True)
            self._runs.clear()
            self._kept.clear()


def pair_partition_bytes(budget: Budget) -> int:
    """Return the bytes of partials one pair partition may hold while it is reduced.

    A pair partition is reduced while the one before it is consumed and the next ones
    are read: each may take a share of the budget, never less than a task's (exactly a
    task's when the budget fixes the task size).
    """
    if budget.task is not None:
        return budget.task_bytes()
    return max(budget.task_bytes(), budget.memory // (budget.workers + 2))


def pair_slices(lo: IntArray, n_accounts: int) -> IntArray:
    """Return the slice (``0 .. SLICES - 1``) of pairs whose first account code is ``lo``.

    See :meth:`LocalPairEngine.slice_of`; ``n_accounts`` is at least 1.
    """
    x = lo.astype(np.float64) / n_accounts
    share = 1.0 - (1.0 - x) * (1.0 - x)
    return np.clip(np.floor(share * SLICES).astype(np.int64), 0, SLICES - 1)


def _narrow(frame: pl.DataFrame) -> pl.DataFrame:
    """Store each integer column of ``frame`` in the narrowest of 8, 16 or 32 bits it fits.

    Spill files are Arrow IPC, uncompressed: written and read at memory speed (Parquet's
    encoding took most of a task's time), and codes, counts, signals and positions in
    fewer bits keep them about as small as compressed Parquet. :func:`_read_partials`
    widens them back to :data:`PARTIAL_SCHEMA`.
    """
    if frame.height == 0:
        return frame
    ints = [c for c, t in frame.schema.items() if t == pl.Int64]
    bounds = frame.select(
        *(pl.col(c).min().alias(f"min_{c}") for c in ints),
        *(pl.col(c).max().alias(f"max_{c}") for c in ints),
    ).row(0, named=True)
    casts = []
    for c in ints:
        for dtype, bits in ((pl.Int8, 8), (pl.Int16, 16), (pl.Int32, 32)):
            if bounds[f"min_{c}"] >= -(2 ** (bits - 1)) and bounds[f"max_{c}"] < 2 ** (bits - 1):
                casts.append(pl.col(c).cast(dtype))
                break
    return frame.with_columns(casts) if casts else frame


def _read_partials(ranges: list[tuple[Path, int, int]]) -> pl.DataFrame:
    """Read rows ``[start, stop)`` of each spilled file, in order, as :data:`PARTIAL_SCHEMA`."""
    frames = [
        pl.scan_ipc(path).slice(start, stop - start).collect().cast(PARTIAL_SCHEMA)  # type: ignore[arg-type]
        for path, start, stop in ranges
        if stop > start
    ]
    if not frames:
        return pl.DataFrame(schema=PARTIAL_SCHEMA)
    return pl.concat(frames) if len(frames) > 1 else frames[0]


def _same(part: PairPartition) -> PairPartition:
    """Return ``part`` (the identity, for :meth:`LocalPairEngine.reduce`)."""
    return part
