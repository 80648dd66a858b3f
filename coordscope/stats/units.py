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
from coordscope.parts import concat_compact, lazy_frames
from coordscope.schema import US
from coordscope.stats import null

__all__ = [
    "CROWDED_NEIGHBOURS",
    "MINUTE_US",
    "PART_ROWS",
    "SATURATED_ACTORS",
    "SATURATED_PI",
    "SPLIT_BLOCK_S",
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
        ``k, s, row0, h, kid``: one row per unit (saturated ones included); ``s`` the
        signal's index in ``signals``, ``row0`` the input row of its first action, ``h``
        the bit mask of the halves its actions fall in (1, 2 or 3), ``kid`` the code of
        its (signal, key): the units of one key have the same ``kid`` and consecutive
        codes ``k``.
    actor_codes : polars.DataFrame
        ``actor_id, a, h``: ``h`` a 64-bit hash of the id (collision-checked), for
        integer joins (:func:`code_of`).
    signals : tuple of str
        The audited signals, sorted; ``s`` indexes them.
    seed : int
        The seed of the split into halves.
    ks : coordscope.stats.null.KeyStats
        Per-unit ``π``, accounts and (unit, account) incidence, over all of a unit's
        actions (saturated units included).
    key_sig : ndarray of int64
        The signal index of every unit.
    key_half : ndarray of int8
        The bit mask of the halves of every unit (``table["h"]``).
    w_unit : ndarray of int64
        The window of every unit's signal, in microseconds (inclusive).
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
    ks: null.KeyStats
    key_sig: IntArray
    key_half: npt.NDArray[np.int8]
    w_unit: IntArray
    saturated: npt.NDArray[np.bool_]
    n_saturated_actions: int
    crowded: npt.NDArray[np.bool_]

    @property
    def n_accounts(self) -> int:
        """Return the number of account codes."""
        return self.actor_codes.height

    def without_incidence(self) -> Units:
        """Return these units without the (unit, account) rows of their statistics.

        Once :func:`coordscope.stats.evidence.incidence` has tabulated them (30 days of
        1M events a day: 1.2 GB of arrays), the statistics need not keep their copy.
        """
        empty = np.zeros(0, dtype=np.int64)
        return dataclasses.replace(
            self, ks=dataclasses.replace(self.ks, inc_k=empty, inc_a=empty, inc_m=empty)
        )

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
    45 bytes an action) plus the working copies of one partition (about 250 bytes an
    action).
    """
    if isinstance(part_rows, bool) or not isinstance(part_rows, int) or part_rows < 1:
        raise ParameterError(f"part_rows must be an integer >= 1, got {part_rows!r}")
    coded, table, actor_codes, ks = _unit_codes(actions, signals, win, seed, part_rows)
    n_units = table.height
    k = coded["k"].to_numpy()
    key_sig = table["s"].to_numpy().astype(np.int64, copy=False)
    w_unit = np.array([round(win[s] * US) for s in signals], dtype=np.int64)[key_sig]
    many = ks.actors >= SATURATED_ACTORS
    saturated = many & (ks.pi >= SATURATED_PI)
    n_k = np.bincount(k, minlength=n_units)
    crowded = many & ~saturated & (2.0 * ks.near >= CROWDED_NEIGHBOURS * n_k)
    keep = ~saturated[k]
    del k, n_k
    if not keep.all():
        # the events of a saturated unit are saturated on every signal: a repost carries
        # the original's hashtags and links, and a flash-viral burst would otherwise come
        # back whole inside a hashtag's unit, diluted there by days of organic use
        event = coded["event"].to_numpy()
        keep &= ~np.isin(event, np.unique(event[~keep]))
    n_saturated_actions = int((~keep).sum())
    if n_saturated_actions:
        coded = coded.filter(pl.Series(keep))
    return Units(
        coded=coded,
        table=table,
        actor_codes=actor_codes,
        signals=tuple(signals),
        seed=seed,
        ks=ks,
        key_sig=key_sig,
        key_half=table["h"].to_numpy(),
        w_unit=w_unit,
        saturated=saturated,
        n_saturated_actions=n_saturated_actions,
        crowded=crowded,
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


def _actor_codes(actions: pl.LazyFrame) -> pl.DataFrame:
    """Code the account ids densely, in sorted id order.

    Returns ``actor_id, a, h``: ``a < b`` exactly when the ids are in order; ``h`` a
    64-bit hash of the id (collision-checked) for cheap integer joins.
    """
    ids = actions.select(pl.col("actor_id").unique()).collect(engine="streaming").to_series().sort()
    codes = pl.DataFrame(
        {"actor_id": ids, "a": pl.int_range(ids.len(), eager=True, dtype=pl.Int64)}
    ).with_columns(pl.col("actor_id").hash(seed=_ACTOR_SEED).alias("h"))
    if codes["h"].n_unique() != codes.height:  # pragma: no cover - probability ~ n² / 2**65
        raise ParameterError("internal: 64-bit hash collision between two ids; please report")
    return codes


def _unit_codes(
    actions: pl.DataFrame | pl.LazyFrame,
    signals: list[str],
    win: dict[str, float],
    seed: int,
    part_rows: int,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, null.KeyStats]:
    """Code the actions as ``k`` (unit), ``a`` (account), ``t`` (µs), ``event``, ``row``.

    Units are numbered in (key hash, time) order. Returns the coded actions sorted by
    ``(k, t, row)`` (``hb`` = the half of the split its time falls in,
    :func:`block_half`), the unit table ``k, s, row0, h, kid`` (``row0`` = the action
    row of its first action, ``h`` = bit mask of the halves its actions fall in: 1, 2 or
    3, ``kid`` = the code of its key), the actor codes (:func:`_actor_codes`) and the
    unit statistics (:func:`coordscope.stats.null.key_stats`).

    The sort and the run boundaries use the 64-bit hash of (signal, key) only (numeric
    comparisons); the hash is proven collision-free with a second, independent hash (a
    second pass over the keys, so that the coded frame never holds both). The strings
    are hashed as they are read: only integer columns are collected, ``part_rows`` rows
    at a time, each batch cut into key partitions by ranges of the hash. A unit lies in
    one key partition, so each partition is sorted, coded and has its statistics
    computed on its own, its codes following the previous partition's: the same codes
    and statistics as one sort of everything. Cost ``O(n log n)``.
    """
    lazy = actions.lazy()
    sig_index = {s: i for i, s in enumerate(signals)}
    codes = _actor_codes(lazy)
    sig = pl.col("signal").replace_strict(sig_index, return_dtype=pl.Int64)
    kh = pl.col("key").hash(seed=3) ^ (sig.cast(pl.UInt64) * _MIX)
    kh2 = pl.col("key").hash(seed=17) ^ (sig.cast(pl.UInt64) * _MIX2)
    n_kh, n_both = (
        lazy.select(kh.alias("kh"), kh2.alias("kh2"))
        .select(
            pl.col("kh").n_unique().alias("n"),
            (pl.col("kh") ^ (pl.col("kh2") * _MIX)).n_unique().alias("n2"),
        )
        .collect(engine="streaming")
        .row(0)
    )
    if n_kh != n_both:  # pragma: no cover - probability ~ n² / 2**65
        raise ParameterError("internal: 64-bit hash collision between two keys; please report")
    n_rows = int(lazy.select(pl.len()).collect().item())
    n_parts = max(1, -(-n_rows // part_rows))
    numeric = lazy.select(
        sig.alias("s"),
        pl.col("ts").dt.epoch("us").alias("t"),
        pl.col("event"),
        kh.alias("kh"),
        pl.col("actor_id").hash(seed=_ACTOR_SEED).alias("h"),
    )
    # every key partition's rows, batch by batch (input order)
    pending: list[list[pl.DataFrame]] = [[] for _ in range(n_parts)]
    start = 0
    for read in lazy_frames(numeric, part_rows):
        batch = read.with_columns(
            pl.int_range(start, start + read.height, dtype=pl.Int64).alias("row")
        )
        start += batch.height
        del read
        if n_parts == 1:
            pending[0].append(batch)
            continue
        # ranges of the hash: (kh >> 32) * P >> 32 is monotone in kh
        part = ((batch["kh"].to_numpy() >> np.uint64(32)) * np.uint64(n_parts)) >> np.uint64(32)
        batch = batch.with_columns(pl.Series("_p", part.astype(np.int64)))
        for (p,), piece in batch.partition_by("_p", as_dict=True, include_key=False).items():
            pending[int(p)].append(piece)
        del batch, part
    w_of = np.array([round(win[s] * US) for s in signals], dtype=np.int64)
    coded_parts: list[pl.DataFrame] = []
    unit_parts: list[pl.DataFrame] = []
    stats_parts: list[null.KeyStats] = []
    n_units = n_keys = 0
    for p in range(n_parts):
        frame = pl.concat(pending[p]) if pending[p] else None
        pending[p] = []
        if frame is None or frame.height == 0:
            continue
        coded, units, ks = _code_part(frame, codes, w_of, seed, n_units, n_keys)
        del frame
        n_units += units.height
        n_keys = int(units["kid"][-1]) + 1
        coded_parts.append(coded)
        unit_parts.append(units)
        stats_parts.append(ks)
    coded = concat_compact(coded_parts)
    units = pl.concat(unit_parts)
    offsets = np.cumsum([0] + [u.height for u in unit_parts])
    ks = null.KeyStats(
        pi=np.concatenate([x.pi for x in stats_parts]),
        actors=np.concatenate([x.actors for x in stats_parts]),
        inc_k=np.concatenate([x.inc_k + o for x, o in zip(stats_parts, offsets, strict=False)]),
        inc_a=np.concatenate([x.inc_a for x in stats_parts]),
        inc_m=np.concatenate([x.inc_m for x in stats_parts]),
        near=np.concatenate([x.near for x in stats_parts]),
    )
    return coded, units, codes, ks


def _code_part(
    frame: pl.DataFrame,
    codes: pl.DataFrame,
    w_of: IntArray,
    seed: int,
    k_offset: int,
    kid_offset: int,
) -> tuple[pl.DataFrame, pl.DataFrame, null.KeyStats]:
    """Code one key partition (``s, t, event, kh, h, row``) as :func:`_unit_codes` says.

    Unit codes start at ``k_offset``, key codes at ``kid_offset``; the statistics are
    indexed by the partition's own units (code minus ``k_offset``).
    """
    a = frame.select("h").join(codes.select("h", "a"), on="h", how="left", maintain_order="left")
    frame = frame.drop("h").with_columns(a.get_column("a"))
    del a
    frame = frame.sort(["kh", "t", "row"])
    kh_np = frame["kh"].to_numpy()
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
            "k": np.arange(k_offset, k_offset + starts.shape[0], dtype=np.int64),
            "s": s_np[starts],
            "row0": frame["row"].to_numpy()[starts],
            "h": np.bitwise_or.reduceat(hb_bit, starts).astype(np.int8),
            "kid": np.cumsum(new_key, dtype=np.int64) - 1 + kid_offset,
        }
    )
    return frame.select("k", "a", "t", "event", "row", "hb"), units, ks
