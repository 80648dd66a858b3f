"""Pair partials kept from earlier runs: counted once per day, reused by every later audit.

A daily audit over a horizon of ``D`` days would count every co-action of every day
again. Instead each day's co-actions are counted once, on that day's actions alone
(:func:`day_pairs`), and kept as the complete (pair, unit) aggregates the engine's
reduce takes (:data:`DAY_PARTIAL_SCHEMA`); an audit of the horizon reads them back
(:func:`stored_partials`) and counts live only the units they cannot stand for.

Which units a day's partials stand for
--------------------------------------
The pairs of a unit are the in-window pairs of different accounts among its *kept*
actions (those left once saturated units, and the other actions of their events, are
dropped). A unit of the horizon whose kept actions are exactly the kept actions of one
unit of one day has exactly that day-unit's pairs and aggregates: same actions, same
times, same order (rows are offset by a constant within a day and signal), so the same
closest co-action. :func:`covered_units` recognises these units by the day, signal and
row of their first kept action, their number of kept actions and a 64-bit sum of a hash
of their rows (:data:`CHECK_SCHEMA`). A unit whose actions cross midnight (a burst at
00:00, or a hashtag in constant use), whose kept actions differ because a unit of
another day or of a horizon-wide signal (near-duplicate text) was saturated, that was
crowded on its day but is not in the horizon, or of a signal that is not kept per day,
is not covered: the engine counts it live. The results are those of counting every
pair live; only the work differs.

Rows
----
A day's actions of each row-local signal are a contiguous block of the horizon's
actions (signals in the audit's order, then days in order): a *block* is
``(day, signal, start, rows)``, and a day's partials and checks name actions by their
*local* row in their block. The horizon's row of an action is ``start + local``.

Cost: reading the kept partials (about 56 bytes each) and mapping them to the horizon's
codes (gathers), plus one pass over the coded actions for the checks; no sort.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from coordscope.budget import Budget
from coordscope.engine.partitioned import PARTIAL_SCHEMA, PairPartition
from coordscope.parts import WorkDir
from coordscope.schema import SIGNALS
from coordscope.stats.evidence import pair_partitions
from coordscope.stats.units import Units, _windows_us, code_units, coding_sizes

__all__ = [
    "CHECK_SCHEMA",
    "DAY_PARTIAL_SCHEMA",
    "Block",
    "StoredPairs",
    "covered_units",
    "day_pairs",
    "stored_partials",
]

IntArray = npt.NDArray[np.int64]

#: A day's complete (pair, unit) aggregates: ``s`` the signal's index in
#: :data:`~coordscope.schema.SIGNALS`, ``ra`` / ``rb`` the local rows of the two actions
#: of the closest co-action (``ra`` the account first in id order), the rest as in
#: :data:`~coordscope.engine.partitioned.KEYED_SCHEMA` (times in µs).
DAY_PARTIAL_SCHEMA: Final[dict[str, pl.DataType]] = {
    "s": pl.Int8(), "ra": pl.Int64(), "rb": pl.Int64(), "n": pl.Int64(), "dt": pl.Int64(),
    "t0": pl.Int64(), "t1": pl.Int64(),
}  # fmt: skip

#: A day's units whose pairs its partials hold (not crowded, at least two kept
#: actions): signal, local row of the first kept action (by time, then row), kept
#: actions, and the wrapping sum of :func:`_row_hash` over their local rows.
CHECK_SCHEMA: Final[dict[str, pl.DataType]] = {
    "s": pl.Int8(), "first": pl.Int64(), "n": pl.Int64(), "h": pl.UInt64(),
}  # fmt: skip

_SIGNAL_INDEX: Final = {s: i for i, s in enumerate(SIGNALS)}


@dataclass(frozen=True)
class Block:
    """The actions of one signal on one day, as rows ``start .. start + rows - 1``."""

    day: int
    signal: str
    start: int
    rows: int


@dataclass
class StoredPairs:
    """The kept partials of the horizon's days, and where their actions are.

    Attributes
    ----------
    blocks : list of Block
        Every (day, signal) block of the row-local signals' actions, in row order.
    partials : list of pathlib.Path
        Per day (index in ``blocks``' ``day``): :data:`DAY_PARTIAL_SCHEMA` rows.
    checks : list of pathlib.Path
        Per day: :data:`CHECK_SCHEMA` rows.
    windows : dict of str to float
        The window (seconds) each signal's partials were counted with.
    n_partials : int
        Rows of all the partial files (to size the engine).
    """

    blocks: list[Block]
    partials: list[Path]
    checks: list[Path]
    windows: dict[str, float] = field(default_factory=dict)
    n_partials: int = 0


def _row_hash(x: IntArray) -> npt.NDArray[np.uint64]:
    """SplitMix64 finaliser of every value (a 64-bit hash, bijective)."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _unit_checks(
    k: IntArray, local: IntArray
) -> tuple[IntArray, IntArray, IntArray, npt.NDArray[np.uint64], IntArray]:
    """Per unit of coded actions sorted by unit: code, first local row, kept, hash sum, start."""
    n = k.shape[0]
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, np.zeros(0, dtype=np.uint64), empty
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    counts = np.diff(np.r_[starts, n])
    sums = np.add.reduceat(_row_hash(local), starts)  # wraps: a sum modulo 2**64
    uk = k[starts]
    return uk, local[starts], counts.astype(np.int64), sums, starts


def day_pairs(
    actions: pl.DataFrame | pl.LazyFrame,
    signals: Sequence[str],
    windows: dict[str, float],
    *,
    budget: Budget,
    work: WorkDir,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Count one day's co-actions once: its partials and the units they stand for.

    Parameters
    ----------
    actions : polars.DataFrame or polars.LazyFrame
        :data:`~coordscope.schema.ACTION_SCHEMA` rows of one day, of row-local signals
        only, concatenated signal by signal in the order of ``signals`` (each signal's
        rows a block, local rows counted from its start).
    signals : sequence of str
        The signals of ``actions``, in the order of their blocks.
    windows : dict of str to float
        ``W`` of each signal (seconds, inclusive): the audit's.
    budget : Budget
        Memory and threads of the count.
    work : WorkDir
        Scratch space.

    Returns
    -------
    (polars.DataFrame, polars.DataFrame)
        :data:`DAY_PARTIAL_SCHEMA` rows (every complete (pair, unit) aggregate of the
        day's units that are not crowded) and :data:`CHECK_SCHEMA` rows (those units,
        with at least two kept actions).

    Notes
    -----
    The units, saturation and crowding are those of the day's actions alone; the
    audit that reads them back checks that a horizon's unit is the same
    (:func:`covered_units`). Cost: one count of the day (the kernel's
    ``O(n log n + P)``).
    """
    lazy = actions.lazy()
    sizes = dict(lazy.group_by("signal").len().collect().iter_rows())
    order = [s for s in signals if sizes.get(s, 0)]
    if not order:
        return pl.DataFrame(schema=DAY_PARTIAL_SCHEMA), pl.DataFrame(schema=CHECK_SCHEMA)
    present = sorted(order)
    units = code_units(
        lazy, present, {s: windows[s] for s in present}, seed=0, work=work,
        **coding_sizes(budget.memory, budget.workers),
    )  # fmt: skip
    # local rows: the day's row minus the start of its signal's block
    starts = np.cumsum([0] + [sizes[s] for s in order])[:-1]
    block_start = dict(zip(order, starts.tolist(), strict=True))
    by_index = np.array([block_start[s] for s in present], dtype=np.int64)
    global_index = np.array([_SIGNAL_INDEX[s] for s in present], dtype=np.int8)
    coded = units.coded
    row = coded["row"].to_numpy().astype(np.int64)
    k = coded["k"].to_numpy()
    local = row - by_index[units.key_sig[k]]

    pieces: list[pl.DataFrame] = []

    def keep(part: PairPartition) -> None:
        keyed = part.keyed
        if keyed.height == 0:
            return
        ra = keyed["ra"].to_numpy()
        rb = keyed["rb"].to_numpy()
        pieces.append(
            pl.DataFrame(
                {
                    "s": global_index[keyed["s"].to_numpy()],
                    "ra": local[ra],
                    "rb": local[rb],
                    "n": keyed["n"],
                    "dt": keyed["dt"],
                    "t0": keyed["t0"],
                    "t1": keyed["t1"],
                },
                schema=DAY_PARTIAL_SCHEMA,
            )
        )

    for _ in pair_partitions(units, budget=budget, work=work, then=keep):
        pass
    partials = pl.concat(pieces) if pieces else pl.DataFrame(schema=DAY_PARTIAL_SCHEMA)
    uk, first, kept, sums, _ = _unit_checks(k, local)
    wanted = (kept >= 2) & ~units.crowded[uk]
    checks = pl.DataFrame(
        {
            "s": global_index[units.key_sig[uk[wanted]]],
            "first": first[wanted],
            "n": kept[wanted],
            "h": sums[wanted],
        },
        schema=CHECK_SCHEMA,
    )
    # a fixed order: the same day gives the same files
    return partials.sort("s", "ra", "rb"), checks.sort("s", "first")


def _block_lookup(
    stored: StoredPairs, n_rows: int
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Return row starts, block ids (-1 in gaps), block days and block signal indices."""
    starts: list[int] = []
    ids: list[int] = []
    at = 0
    for i, b in enumerate(stored.blocks):
        if b.start > at:
            starts.append(at)
            ids.append(-1)
        starts.append(b.start)
        ids.append(i)
        at = b.start + b.rows
    if at < n_rows or not starts:
        starts.append(at)
        ids.append(-1)
    days = np.array([b.day for b in stored.blocks], dtype=np.int64)
    sigs = np.array([_SIGNAL_INDEX[b.signal] for b in stored.blocks], dtype=np.int64)
    return np.array(starts, dtype=np.int64), np.array(ids, dtype=np.int64), days, sigs


def covered_units(
    units: Units, stored: StoredPairs, *, rows: int = 1 << 22
) -> npt.NDArray[np.bool_]:
    """Return, per unit code, whether the kept partials hold the unit's pairs exactly.

    See the module docstring for the rule. Units of a signal counted with another window
    than the audit's are never covered. The coded actions are read ``rows`` at a time
    (cut at unit starts): memory is a few arrays of that many rows, plus the units with
    two kept actions or more.
    """
    n_units = units.key_sig.shape[0]
    covered = np.zeros(n_units, dtype=np.bool_)
    coded = units.coded
    if coded.height == 0 or not stored.blocks:
        return covered
    k_all = coded["k"].to_numpy()
    row_all = coded["row"].to_numpy()
    starts, ids, days, sigs = _block_lookup(stored, int(row_all.max()) + 1)
    # a signal's partials count only if they were counted with the audit's window
    kept_w = _windows_us(
        list(units.signals), {s: stored.windows.get(s, -1.0) for s in units.signals}
    )
    same_window = (kept_w == units.w_signal) & np.array(
        [s in stored.windows for s in units.signals]
    )
    frames: list[pl.DataFrame] = []
    n = k_all.shape[0]
    lo = 0
    while lo < n:
        hi = min(n, lo + rows)
        if hi < n:  # end the chunk at a unit start (past a unit longer than a chunk)
            cut = int(np.searchsorted(k_all, k_all[hi], side="left"))
            hi = cut if cut > lo else int(np.searchsorted(k_all, k_all[hi], side="right"))
        k = k_all[lo:hi]
        row = row_all[lo:hi].astype(np.int64)
        at = np.searchsorted(starts, row, side="right") - 1
        block = ids[at]
        local = row - starts[at]
        del at, row
        uk, first, kept, sums, ustart = _unit_checks(k, local)
        bmin = np.minimum.reduceat(block, ustart)
        bmax = np.maximum.reduceat(block, ustart)
        eligible = (
            (bmin == bmax) & (bmin >= 0) & (kept >= 2) & ~units.crowded[uk]
            & same_window[units.key_sig[uk]]
        )  # fmt: skip
        if eligible.any():
            frames.append(
                pl.DataFrame(
                    {
                        "u": uk[eligible],
                        "day": days[bmin[eligible]],
                        "s": sigs[bmin[eligible]].astype(np.int8),
                        "first": first[eligible],
                        "n": kept[eligible],
                        "h": sums[eligible],
                    }
                )
            )
        lo = hi
    if not frames:
        return covered
    cand = pl.concat(frames)
    del frames
    for day, path in enumerate(stored.checks):
        checks = pl.read_parquet(path).with_columns(pl.lit(day, dtype=pl.Int64).alias("day"))
        hit = cand.filter(pl.col("day") == day).join(
            checks, on=["day", "s", "first", "n", "h"], how="semi"
        )
        covered[hit["u"].to_numpy()] = True
    return covered


def stored_partials(
    units: Units, stored: StoredPairs, covered: npt.NDArray[np.bool_], *, rows: int = 1 << 22
) -> Iterator[pl.DataFrame]:
    """Yield the kept partials of the covered units, in the horizon's codes.

    Parameters
    ----------
    units : Units
        The horizon's coded actions.
    stored : StoredPairs
        The kept partials.
    covered : ndarray of bool
        :func:`covered_units`.
    rows : int, default 4,194,304
        Partials read at a time.

    Yields
    ------
    polars.DataFrame
        :data:`~coordscope.engine.partitioned.PARTIAL_SCHEMA` rows (``part`` false:
        each is its (pair, unit)'s complete aggregate), ``ra`` / ``rb`` positions in
        ``units.coded``.
    """
    coded = units.coded
    if coded.height == 0 or not covered.any():
        return
    row = coded["row"].to_numpy().astype(np.int64, copy=False)
    k = coded["k"].to_numpy()
    a = coded["a"].to_numpy()
    # the position of every row in the coded actions (-1: not coded); 4 bytes a row when
    # the positions allow it
    small = row.shape[0] < np.iinfo(np.int32).max
    position = np.full(int(row.max()) + 1, -1, dtype=np.int32 if small else np.int64)
    position[row] = np.arange(row.shape[0], dtype=position.dtype)
    start_of = {(b.day, _SIGNAL_INDEX[b.signal]): b.start for b in stored.blocks}
    for day, path in enumerate(stored.partials):
        for frame in pl.read_parquet(path).iter_slices(rows):
            s = frame["s"].to_numpy().astype(np.int64)
            base = np.zeros(frame.height, dtype=np.int64)
            for sig in np.unique(s).tolist():
                base[s == sig] = start_of.get((day, sig), -1)
            ok = base >= 0
            ra = np.where(ok, base + frame["ra"].to_numpy(), 0)
            rb = np.where(ok, base + frame["rb"].to_numpy(), 0)
            inside = ok & (ra < position.shape[0]) & (rb < position.shape[0])
            pa = np.where(inside, position[np.where(inside, ra, 0)], -1).astype(np.int64)
            pb = np.where(inside, position[np.where(inside, rb, 0)], -1).astype(np.int64)
            live = (pa >= 0) & (pb >= 0)
            live[live] = covered[k[pa[live]]]
            if not live.any():
                continue
            pa, pb = pa[live], pb[live]
            kk = k[pa]
            yield pl.DataFrame(
                {
                    "lo": a[pa],
                    "hi": a[pb],
                    "k": kk,
                    "s": units.key_sig[kk].astype(np.int64),
                    "n": frame["n"].to_numpy()[live],
                    "dt": frame["dt"].to_numpy()[live],
                    "t0": frame["t0"].to_numpy()[live],
                    "t1": frame["t1"].to_numpy()[live],
                    "ra": pa,
                    "rb": pb,
                    "part": np.zeros(pa.shape[0], dtype=np.bool_),
                },
                schema=PARTIAL_SCHEMA,
            )
