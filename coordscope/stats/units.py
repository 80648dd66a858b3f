"""Units of co-action: actions coded by account and by burst of a key, and their statistics.

A *unit* is a maximal run of one (signal, key)'s actions whose consecutive gaps are at
most the signal's window ``W`` (a burst). Every co-action lies inside one unit, so
counting co-acted units instead of keys changes nothing for a key pushed once, and counts
a hashtag pushed in ten separate bursts ten times.

This module codes the actions (:func:`code_units`: account codes, unit codes, the
split-half block of each action), computes each unit's statistics
(:func:`coordscope.stats.null.key_stats`), drops the actions of *saturated* units
(flash-viral bursts, :data:`SATURATED_ACTORS`, :data:`SATURATED_PI`), marks the
*crowded* units whose pairs are not enumerated (:data:`CROWDED_NEIGHBOURS`), and finds the
clock-driven accounts (:func:`scheduled_accounts`). Everything works on integer codes; no
loop over rows, units or accounts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from coordscope.errors import ParameterError
from coordscope.parts import Piece, WorkDir, concat_compact, lazy_frames, take_pieces
from coordscope.schema import US
from coordscope.stats import null

__all__ = [
    "CROWDED_NEIGHBOURS",
    "MINUTE_US",
    "PART_ROWS",
    "SATURATED_ACTORS",
    "SATURATED_PI",
    "SPLIT_BLOCK_S",
    "Incidence",
    "Units",
    "block_half",
    "code_of",
    "code_units",
    "scheduled_accounts",
]

#: One minute in microseconds: the grid of clock-driven (scheduled) accounts.
MINUTE_US: Final = 60 * US
#: A unit is *saturated* — its co-actions are not enumerated — when at least
#: ``SATURATED_ACTORS`` accounts acted in it and at least ``SATURATED_PI`` of its
#: different-account pairs are within the window: a flash-viral burst, where any two
#: of its thousands of sharers co-act by chance (q >= π) and ~n²/2 pairs would be
#: enumerated for no evidence. Dropping whole units is a test on the remaining units,
#: chosen by unit-level statistics only, so it stays valid. The events of a saturated
#: unit are dropped from every signal (their carried hashtags and links would bring the
#: burst back inside a long-lived hashtag unit), a choice made on the same statistics.
SATURATED_ACTORS: Final = 100
#: Share of in-window different-account pairs from which a unit can be saturated.
SATURATED_PI: Final = 0.25
#: A unit that is not saturated but has at least ``SATURATED_ACTORS`` accounts is
#: *crowded* when its actions have on average at least ``CROWDED_NEIGHBOURS`` other
#: accounts' actions within the window (``2·near_k / n_k``, ``near_k`` its in-window
#: different-account pairs): a hashtag in use all day, a post reshared by thousands over
#: hours. Its ``π`` is small, but every action sits beside a hundred others by chance;
#: a pair co-acts in it at most once, while its pairs grow with ``n_k`` times the rate
#: and, over a month of data, outnumber all the other pairs. Its co-actions are not
#: enumerated (no pair counts it as co-acted), but it stays in the null model: a pair's
#: expectation still includes it, so leaving out its co-actions can only raise p-values
#: (conservative), and the group statistic, which reads the coded actions, still sees it.
CROWDED_NEIGHBOURS: Final = 100
#: Actions read at a time, and per key partition, by :func:`code_units` (working copies of
#: about 250 bytes an action: 2 GB).
PART_ROWS: Final = 1 << 23
#: Length of the time blocks of the split-half group test (seconds): 6 hours.
SPLIT_BLOCK_S: Final = 6 * 3600

_SCHEDULED_SHARE: Final = 0.8
_SCHEDULED_MIN: Final = 5
_MIX: Final = 0x9E3779B97F4A7C15
_MIX2: Final = 0xC2B2AE3D27D4EB4F
_ACTOR_SEED: Final = 11

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Incidence:
    """The (unit, account) action counts of the unsaturated units, as the tests read them.

    A unit that one account alone acted in (at 30 days of 1M events a day, 93 % of them)
    is never co-acted in and has ``π = 0``: the null models need its actions only in the
    totals. So the rows of the units with at least two accounts are kept, and the rest
    only as sums.

    Attributes
    ----------
    shared : polars.DataFrame
        ``a, k, m, s`` (Int64): ``m`` actions of account ``a`` on unit ``k`` of signal
        ``s``, for the unsaturated units with at least two accounts, sorted by ``(k, a)``.
    activity : ndarray of float64
        Every account's actions on the unsaturated units (whole numbers).
    n_units_of : ndarray of int64
        The unsaturated units every account acted in.
    per_signal : ndarray of int64
        The actions on the unsaturated units of every signal index.
    """

    shared: pl.DataFrame
    activity: npt.NDArray[np.float64]
    n_units_of: IntArray
    per_signal: IntArray

    @property
    def total(self) -> int:
        """Return the number of actions on the unsaturated units."""
        return int(self.per_signal.sum())


@dataclass(frozen=True)
class Units:
    """The actions coded by unit, and the statistics of every unit.

    Unit codes ``k`` run over ``0 .. K-1`` and index every per-unit array; account codes
    ``a`` run over ``0 .. A-1`` in sorted id order, so ``a < b`` exactly when the ids are in
    order.

    Attributes
    ----------
    coded : polars.DataFrame
        ``k, a, t, event, row, hb``: one row per action of an unsaturated unit, sorted by
        ``(k, t, row)``; ``t`` in microseconds, ``row`` the action's row in the input,
        ``hb`` the half of the split its time falls in (:func:`block_half`).
    table : polars.DataFrame
        ``s, row0, h, kid``: one row per unit (saturated ones included), row ``k`` for
        unit code ``k``; ``s`` the signal's index in ``signals`` (Int8), ``row0`` the
        input row of its first action, ``h`` the bit mask of the halves its actions fall
        in (1, 2 or 3), ``kid`` the code of its (signal, key): the units of one key have
        the same ``kid`` and consecutive codes.
    actor_codes : polars.DataFrame
        ``actor_id, a, h``: ``h`` a 64-bit hash of the id (collision-checked), for
        integer joins (:func:`code_of`).
    signals : tuple of str
        The audited signals, sorted; ``s`` indexes them.
    seed : int
        The seed of the split into halves.
    pi : ndarray of float64
        Every unit's ``π`` (:func:`coordscope.stats.null.key_stats`), over all of its
        actions.
    incidence : Incidence
        The (unit, account) action counts of the unsaturated units.
    key_sig : ndarray of int8
        The signal index of every unit (``table["s"]``, not a copy).
    key_half : ndarray of int8
        The bit mask of the halves of every unit (``table["h"]``).
    w_signal : ndarray of int64
        The window of every signal index, in microseconds (inclusive).
    saturated : ndarray of bool
        Whether each unit is saturated (its actions are not in ``coded``).
    n_saturated_actions : int
        The actions dropped with the saturated units, and the other actions of their
        events.
    crowded : ndarray of bool
        Whether each unit is crowded: its actions are in ``coded`` and in the null
        model, but its co-actions are not enumerated.
    """

    coded: pl.DataFrame
    table: pl.DataFrame
    actor_codes: pl.DataFrame
    signals: tuple[str, ...]
    seed: int
    pi: npt.NDArray[np.float64]
    incidence: Incidence
    key_sig: npt.NDArray[np.int8]
    key_half: npt.NDArray[np.int8]
    w_signal: IntArray
    saturated: npt.NDArray[np.bool_]
    n_saturated_actions: int
    crowded: npt.NDArray[np.bool_]

    @property
    def n_accounts(self) -> int:
        """Return the number of account codes."""
        return self.actor_codes.height

    def windows_of(self, k: IntArray) -> IntArray:
        """Return the window (µs, inclusive) of the signal of every unit code of ``k``."""
        return self.w_signal[self.key_sig[k]]

    @property
    def ids(self) -> pl.DataFrame:
        """Return ``actor_id, a``: the account codes without the hash column."""
        return self.actor_codes.select("actor_id", "a")


def code_units(
    actions: pl.DataFrame | pl.LazyFrame,
    signals: list[str],
    win: dict[str, float],
    *,
    seed: int,
    part_rows: int = PART_ROWS,
    work: WorkDir | None = None,
) -> Units:
    """Code the actions by account and unit, and compute every unit's statistics.

    Parameters
    ----------
    actions : polars.DataFrame or polars.LazyFrame
        ``signal, key, actor_id, ts, event`` of every action (at least one row); a lazy
        frame (a scan of spilled actions) is read a few columns at a time, and no string
        column is held: the keys and accounts are coded from their 64-bit hashes.
    signals : list of str
        The signals of ``actions``, sorted.
    win : dict of str to float
        The window ``W`` of every signal, in seconds (inclusive).
    seed : int
        Seeds the split into halves (:func:`block_half`).
    part_rows : int, default :data:`PART_ROWS`
        The actions are read ``part_rows`` at a time and coded in key partitions of
        about that many actions (ranges of the key hash, so that the partitions, one
        after the other, are in key-hash order); the result does not depend on it.
    work : WorkDir, optional
        Where the batches wait, cut into key partitions, until their partition is coded
        (default: in memory).

    Returns
    -------
    Units
        The coded actions without those of saturated units (at least
        :data:`SATURATED_ACTORS` accounts and ``π >= SATURATED_PI``), the crowded units
        (that many accounts and on average :data:`CROWDED_NEIGHBOURS` in-window
        neighbours per action), and the unit statistics computed over all actions.

    Notes
    -----
    Cost ``O(n log n)`` for ``n`` actions (the sort by key hash and time, partition by
    partition; the unit statistics reuse that order). Memory: the coded actions (about
    37 bytes an action), about 60 bytes a unit and the (unit, account) rows of the units
    with several accounts, plus the working copies of one partition (about 250 bytes an
    action); without ``work``, also every batch until its partition is coded (about 44
    bytes an action).
    """
    if isinstance(part_rows, bool) or not isinstance(part_rows, int) or part_rows < 1:
        raise ParameterError(f"part_rows must be an integer >= 1, got {part_rows!r}")
    coded, table, actor_codes, parts = _unit_codes(actions, signals, win, seed, part_rows, work)
    return Units(
        coded=coded,
        table=table,
        actor_codes=actor_codes,
        signals=tuple(signals),
        seed=seed,
        pi=parts.pi,
        incidence=parts.incidence,
        key_sig=table["s"].to_numpy(),
        key_half=table["h"].to_numpy(),
        w_signal=_windows_us(signals, win),
        saturated=parts.saturated,
        n_saturated_actions=parts.n_dropped,
        crowded=parts.crowded,
    )


def code_of(ids: pl.Expr | str, codes: pl.DataFrame, frame: pl.DataFrame) -> pl.Series:
    """Look up the account codes of a String column of ``frame``.

    Parameters
    ----------
    ids : str or polars.Expr
        The column (or expression) of account ids.
    codes : polars.DataFrame
        ``h, a``: the account codes and id hashes (:attr:`Units.actor_codes`).
    frame : polars.DataFrame
        The frame holding ``ids``.

    Returns
    -------
    polars.Series
        The code ``a`` of every row of ``frame``, in its order (null for an unknown id).

    Notes
    -----
    A left join on the 64-bit id hash (integer keys). Cost ``O(n)``.
    """
    col = pl.col(ids) if isinstance(ids, str) else ids
    return (
        frame.select(col.hash(seed=_ACTOR_SEED).alias("h"))
        .join(codes.select("h", "a"), on="h", how="left", maintain_order="left")
        .get_column("a")
    )


def block_half(column: str, *, seed: int) -> pl.Expr:
    """Assign a time column (µs) to a half (0/1) of the split by a hash of its block.

    Time is cut into blocks of :data:`SPLIT_BLOCK_S` seconds; each block falls in the
    half given by a hash seeded with ``seed``.

    Parameters
    ----------
    column : str
        A column of times in microseconds since the epoch.
    seed : int
        Seeds the hash.

    Returns
    -------
    polars.Expr
        The half, Int8.

    Notes
    -----
    The groups are found on one half and tested on the other. Splitting by *time* keeps
    every action of an event — its share, its links, its hashtags — in one half, so the
    same pair of events can never be both found and tested; a campaign active on several
    days falls into both halves, and so does a hashtag pushed in many bursts.
    """
    block = pl.col(column) // (SPLIT_BLOCK_S * US)
    return (block.hash(seed=2 * seed + 13) & 1).cast(pl.Int8)


def scheduled_accounts(coded: pl.DataFrame, *, n_accounts: int) -> npt.NDArray[np.bool_]:
    """Find the accounts acting (almost) only on whole minutes: clock-driven, not coordinated.

    An account is *scheduled* when it has at least 5 events of which at least 80 % fall
    exactly on a whole minute (an organic account: 1 in 60 by chance).

    Parameters
    ----------
    coded : polars.DataFrame
        ``a, t, event`` of the actions (:attr:`Units.coded`; ``t`` in microseconds).
    n_accounts : int
        The number of account codes.

    Returns
    -------
    ndarray of bool
        Whether each account code is scheduled.

    Notes
    -----
    Only accounts with at least ``0.8 · 5`` actions on a whole minute can qualify (they
    need that many such events), so the per-event count runs on their actions only
    (exact). Cost ``O(n)`` over the other actions.
    """
    a = coded["a"].to_numpy()
    on = coded["t"].to_numpy() % MINUTE_US == 0
    maybe = np.bincount(a[on], minlength=n_accounts) >= _SCHEDULED_SHARE * _SCHEDULED_MIN
    per = (
        coded.filter(pl.Series(maybe[a]))
        .unique(subset=["a", "event"])
        .group_by("a")
        .agg(pl.len().alias("n"), (pl.col("t") % MINUTE_US == 0).sum().alias("on"))
    )
    out = np.zeros(n_accounts, dtype=bool)
    ok = per.filter(
        (pl.col("n") >= _SCHEDULED_MIN) & (pl.col("on") >= _SCHEDULED_SHARE * pl.col("n"))
    )
    out[ok["a"].to_numpy()] = True
    return out


def _actor_codes(ids: pl.Series) -> pl.DataFrame:
    """Code the distinct account ids ``ids`` densely, in sorted id order.

    Returns ``actor_id, a, h``: ``a < b`` exactly when the ids are in order; ``h`` a
    64-bit hash of the id (collision-checked) for cheap integer joins.
    """
    ids = ids.sort()
    codes = pl.DataFrame(
        {"actor_id": ids, "a": pl.int_range(ids.len(), eager=True, dtype=pl.Int64)}
    ).with_columns(pl.col("actor_id").hash(seed=_ACTOR_SEED).alias("h"))
    if codes["h"].n_unique() != codes.height:  # pragma: no cover - probability ~ n² / 2**65
        raise ParameterError("internal: 64-bit hash collision between two ids; please report")
    return codes


@dataclass
class _Stats:
    """What :func:`_unit_codes` keeps of every key partition's unit statistics."""

    pi: npt.NDArray[np.float64]
    saturated: npt.NDArray[np.bool_]
    crowded: npt.NDArray[np.bool_]
    incidence: Incidence
    n_dropped: int = 0


def _windows_us(signals: list[str], win: dict[str, float]) -> IntArray:
    """Return the window of every signal index in microseconds."""
    return np.array([round(win[s] * US) for s in signals], dtype=np.int64)


def _unit_codes(
    actions: pl.DataFrame | pl.LazyFrame,
    signals: list[str],
    win: dict[str, float],
    seed: int,
    part_rows: int,
    work: WorkDir | None,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, _Stats]:
    """Code the actions as ``k`` (unit), ``a`` (account), ``t`` (µs), ``event``, ``row``.

    Units are numbered in (key hash, time) order. Returns the coded actions sorted by
    ``(k, t, row)`` (``hb`` = the half of the split its time falls in,
    :func:`block_half`), the unit table ``s, row0, h, kid`` (row ``k`` for unit ``k``;
    ``row0`` = the action row of its first action, ``h`` = bit mask of the halves its
    actions fall in: 1, 2 or 3, ``kid`` = the code of its key), the actor codes
    (:func:`_actor_codes`) and what is kept of the unit statistics
    (:func:`coordscope.stats.null.key_stats`): ``π``, which units are saturated or
    crowded, and the (unit, account) incidence (:class:`Incidence`).

    The sort and the run boundaries use the 64-bit hash of (signal, key) only (numeric
    comparisons); the hash is checked for collisions with a second, independent hash,
    which must be the same along every run of equal first hashes (two keys sharing both
    hashes: probability ``2⁻¹²⁸`` a pair). The strings are hashed as they are read: only
    integer columns (and the distinct account ids) are collected, ``part_rows`` rows at
    a time, each batch cut into key partitions by ranges of the hash (and spilled to
    ``work``, when given, until its partition's turn). A unit lies in one key partition,
    so each partition is sorted, coded and has its statistics computed on its own, its
    codes following the previous partition's: the same codes and statistics as one sort
    of everything. Cost ``O(n log n)``.
    """
    lazy = actions.lazy()
    sig_index = {s: i for i, s in enumerate(signals)}
    sig = pl.col("signal").replace_strict(sig_index, return_dtype=pl.Int64)
    n_rows = int(lazy.select(pl.len()).collect().item())
    n_parts = max(1, -(-n_rows // part_rows))
    numeric = lazy.select(
        sig.alias("s"),
        pl.col("ts").dt.epoch("us").alias("t"),
        pl.col("event"),
        (pl.col("key").hash(seed=3) ^ (sig.cast(pl.UInt64) * _MIX)).alias("kh"),
        (pl.col("key").hash(seed=17) ^ (sig.cast(pl.UInt64) * _MIX2)).alias("kh2"),
        pl.col("actor_id"),
    )
    # every key partition's rows, batch by batch (input order), in memory or spilled;
    # the distinct account ids as they come
    pending: list[list[Piece]] = [[] for _ in range(n_parts)]
    ids = pl.Series("actor_id", [], dtype=pl.String)
    start = 0
    for read in lazy_frames(numeric, part_rows):
        ids = pl.concat([ids, read["actor_id"].unique()]).unique()
        batch = read.with_columns(
            pl.col("actor_id").hash(seed=_ACTOR_SEED).alias("h"),
            pl.int_range(start, start + read.height, dtype=pl.Int64).alias("row"),
        ).drop("actor_id")
        start += batch.height
        del read
        if n_parts == 1:
            pending[0].append(batch)
            continue
        # ranges of the hash: (kh >> 32) * P >> 32 is monotone in kh
        part = ((batch["kh"].to_numpy() >> np.uint64(32)) * np.uint64(n_parts)) >> np.uint64(32)
        batch = batch.with_columns(pl.Series("_p", part.astype(np.int64)))
        for (p,), piece in batch.partition_by("_p", as_dict=True, include_key=False).items():
            kept = piece if work is None else work.spill(piece, f"units-p{int(p):05d}")
            pending[int(p)].append(kept)
        del batch, part
    codes = _actor_codes(ids)
    del ids
    w_of = _windows_us(signals, win)
    coded_parts: list[pl.DataFrame] = []
    unit_parts: list[pl.DataFrame] = []
    stats_parts: list[_Stats] = []
    totals = Incidence(
        shared=pl.DataFrame(),
        activity=np.zeros(codes.height),
        n_units_of=np.zeros(codes.height, dtype=np.int64),
        per_signal=np.zeros(len(signals), dtype=np.int64),
    )
    n_units = n_keys = 0
    for p in range(n_parts):
        frame = take_pieces(pending[p])
        pending[p] = []
        if frame is None or frame.height == 0:
            continue
        coded, units, ks = _code_part(frame, codes, w_of, seed, n_units, n_keys)
        del frame
        stats_parts.append(
            _part_stats(ks, coded["k"].to_numpy() - n_units, units, totals, k0=n_units)
        )
        del ks
        n_units += units.height
        n_keys = int(units["kid"][-1]) + 1
        coded_parts.append(coded)
        unit_parts.append(units)
        del coded
    n_dropped = _drop_saturated(coded_parts, [x.saturated for x in stats_parts], unit_parts)
    coded = concat_compact(coded_parts)
    units = pl.concat(unit_parts)
    stats = _Stats(
        pi=np.concatenate([x.pi for x in stats_parts]),
        saturated=np.concatenate([x.saturated for x in stats_parts]),
        crowded=np.concatenate([x.crowded for x in stats_parts]),
        incidence=dataclasses.replace(
            totals, shared=pl.concat([x.incidence.shared for x in stats_parts])
        ),
        n_dropped=n_dropped,
    )
    return coded, units, codes, stats


def _drop_saturated(
    coded: list[pl.DataFrame],
    saturated: list[npt.NDArray[np.bool_]],
    units: list[pl.DataFrame],
) -> int:
    """Drop the actions of saturated units' events from the coded partitions, in place.

    The events of a saturated unit are saturated on every signal: a repost carries the
    original's hashtags and links, and a flash-viral burst would otherwise come back
    whole inside a hashtag's unit, diluted there by days of organic use. ``saturated``
    and ``units`` are each partition's flags and unit table. Returns the actions dropped.
    A partition at a time: the copy made is one partition's.
    """
    first = np.cumsum([0] + [table.height for table in units])  # the first code of each
    events = [
        part["event"].to_numpy()[sat[part["k"].to_numpy() - int(k0)]]
        for part, sat, k0 in zip(coded, saturated, first[:-1], strict=True)
        if sat.any()
    ]
    if not events:
        return 0
    gone = pl.Series("event", np.unique(np.concatenate(events)))
    dropped = 0
    for i, part in enumerate(coded):
        keep = ~part["event"].is_in(gone.implode())
        n_keep = int(keep.sum())
        if n_keep < part.height:
            dropped += part.height - n_keep
            coded[i] = part.filter(keep)
        del part, keep
    return dropped


def _part_stats(
    ks: null.KeyStats, k: IntArray, units: pl.DataFrame, totals: Incidence, *, k0: int
) -> _Stats:
    """Keep what the tests need of one key partition's unit statistics.

    ``k`` holds the partition's own unit codes (from 0) of its coded actions; ``units``
    its unit table, whose first unit has the global code ``k0``. The (unit, account)
    rows of the unsaturated units are added to the sums per account and per signal of
    ``totals`` (in place); those of units with at least two accounts are kept (:class:`Incidence`).
    """
    n_units = units.height
    many = ks.actors >= SATURATED_ACTORS
    saturated = many & (ks.pi >= SATURATED_PI)
    n_k = np.bincount(k, minlength=n_units)
    crowded = many & ~saturated & (2.0 * ks.near >= CROWDED_NEIGHBOURS * n_k)
    del n_k
    s_unit = units["s"].to_numpy()
    sel = ~saturated[ks.inc_k]
    inc_k, inc_a, inc_m = ks.inc_k[sel], ks.inc_a[sel], ks.inc_m[sel]
    del sel
    n_accounts, n_signals = totals.activity.shape[0], totals.per_signal.shape[0]
    m_float = inc_m.astype(np.float64)  # whole numbers: the float sums are exact
    totals.activity[:] += np.bincount(inc_a, weights=m_float, minlength=n_accounts)
    totals.n_units_of[:] += np.bincount(inc_a, minlength=n_accounts)
    by_signal = np.bincount(s_unit[inc_k], weights=m_float, minlength=n_signals)
    totals.per_signal[:] += by_signal.round().astype(np.int64)
    del m_float, by_signal
    shared = ks.actors[inc_k] >= 2
    rows = pl.DataFrame(
        {
            "a": inc_a[shared],
            "k": inc_k[shared] + k0,
            "m": inc_m[shared],
            "s": s_unit[inc_k[shared]],
        },
        schema={"a": pl.Int64, "k": pl.Int64, "m": pl.Int64, "s": pl.Int64},
    )
    return _Stats(ks.pi, saturated, crowded, dataclasses.replace(totals, shared=rows))


def _code_part(
    frame: pl.DataFrame,
    codes: pl.DataFrame,
    w_of: IntArray,
    seed: int,
    k_offset: int,
    kid_offset: int,
) -> tuple[pl.DataFrame, pl.DataFrame, null.KeyStats]:
    """Code one key partition (``s, t, event, kh, kh2, h, row``) as :func:`_unit_codes` says.

    Unit codes start at ``k_offset``, key codes at ``kid_offset``; the statistics are
    indexed by the partition's own units (code minus ``k_offset``).
    """
    a = frame.select("h").join(codes.select("h", "a"), on="h", how="left", maintain_order="left")
    frame = frame.drop("h").with_columns(a.get_column("a"))
    del a
    frame = frame.sort(["kh", "t", "row"])
    kh_np = frame["kh"].to_numpy()
    kh2 = frame["kh2"].to_numpy()
    if np.any((kh_np[1:] == kh_np[:-1]) & (kh2[1:] != kh2[:-1])):  # pragma: no cover
        raise ParameterError("internal: 64-bit hash collision between two keys; please report")
    del kh2
    frame = frame.drop("kh2")
    t = frame["t"].to_numpy()
    s_np = frame["s"].to_numpy()
    new = np.ones(kh_np.shape[0], dtype=bool)
    new[1:] = (kh_np[1:] != kh_np[:-1]) | ((t[1:] - t[:-1]) > w_of[s_np[1:]])
    k = np.cumsum(new, dtype=np.int64) - 1  # the partition's own codes
    starts = np.flatnonzero(new)
    new_key = np.ones(starts.shape[0], dtype=bool)
    new_key[1:] = kh_np[starts[1:]] != kh_np[starts[:-1]]
    del kh_np, new
    ks = null.key_stats(k, frame["a"].to_numpy(), t, w_of[s_np], starts.shape[0])
    frame = frame.drop("kh").with_columns(
        pl.Series("k", k + k_offset), block_half("t", seed=seed).alias("hb")
    )
    del k
    hb_bit = (frame["hb"].to_numpy().astype(np.int8) + 1).astype(np.int8)  # 1 or 2
    units = pl.DataFrame(
        {
            "s": s_np[starts].astype(np.int8),  # fewer than 128 signals
            "row0": frame["row"].to_numpy()[starts],
            "h": np.bitwise_or.reduceat(hb_bit, starts).astype(np.int8),
            "kid": np.cumsum(new_key, dtype=np.int64) - 1 + kid_offset,
        }
    )
    return frame.select("k", "a", "t", "event", "row", "hb"), units, ks
