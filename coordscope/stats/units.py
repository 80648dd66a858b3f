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
import itertools
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final, TypedDict

import numpy as np
import numpy.typing as npt
import polars as pl

from coordscope.budget import ordered_map, thread_pool
from coordscope.engine.coding import dense_codes, id_order, key_time_order, lookup_codes
from coordscope.engine.jit import jit
from coordscope.engine.runners import Runner
from coordscope.errors import ParameterError
from coordscope.parts import Piece, WorkDir, concat_compact, lazy_frames, take_pieces
from coordscope.progress import track
from coordscope.schema import US
from coordscope.stats import null

__all__ = [
    "CODE_ACTION_BYTES",
    "CROWDED_NEIGHBOURS",
    "MINUTE_US",
    "PART_ROWS",
    "PENDING_ACTION_BYTES",
    "SATURATED_ACTORS",
    "SATURATED_PI",
    "SPLIT_BLOCK_S",
    "CodingSizes",
    "Incidence",
    "Units",
    "block_half",
    "code_of",
    "code_units",
    "coding_sizes",
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
_ACTOR_SEED2: Final = 29

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
    hold_rows: int = 0,
    workers: int = 1,
    runner: Runner | None = None,
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
    hold_rows : int, default 0
        Inputs of at most that many actions wait in memory even when ``work`` is given:
        the spill costs more than it saves. They are then read whole, cut into key
        partitions at once, and their accounts coded by row (no account is looked up by
        hash), 72 bytes an action (eight integer columns, the partitions' order and the
        row codes); the result is the same.
    workers : int, default 1
        Threads that order a partition's actions.
    runner : Runner, optional
        Who codes the key partitions: this process (default, or the local runner), or
        another runner (Spark), which runs the same partition coding where the
        partitions are and totals each account's actions and units with its own
        aggregation; the result does not depend on it.

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
    with several accounts, plus the working copies of ``workers`` partitions (about 250
    bytes an action); without ``work``, also every batch until its partition is coded
    (52 bytes an action), and under ``hold_rows`` the whole input (72 bytes an action).
    """
    if isinstance(part_rows, bool) or not isinstance(part_rows, int) or part_rows < 1:
        raise ParameterError(f"part_rows must be an integer >= 1, got {part_rows!r}")
    if runner is not None and runner.name != "local":
        coded, table, actor_codes, parts = _remote_unit_codes(
            runner, actions, signals, win, seed, part_rows, work or WorkDir()
        )
    else:
        coded, table, actor_codes, parts = _unit_codes(
            actions, signals, win, seed, part_rows, work,
            hold_rows=hold_rows, workers=workers,
        )  # fmt: skip
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


#: Bytes an action's key partition costs while it is coded, relative to the budget: the
#: working copies (about 250 bytes an action) of the partitions coded at once (one per
#: worker) take a quarter of it (4M actions at 4 GB).
CODE_ACTION_BYTES: Final = 1024
#: Bytes an action costs while the input is held, hashed, until its key partition is
#: coded (eight integer columns, the partitions' order, the account code of every row):
#: the input's actions are held when they take at most a quarter of the budget.
PENDING_ACTION_BYTES: Final = 72


class CodingSizes(TypedDict):
    """How :func:`code_units` cuts and holds its input, from a budget (:func:`coding_sizes`)."""

    part_rows: int
    hold_rows: int
    workers: int


def coding_sizes(memory: int, workers: int) -> CodingSizes:
    """Return ``part_rows``, ``hold_rows`` and ``workers`` of :func:`code_units` for a budget."""
    return {
        "part_rows": max(1, memory // (CODE_ACTION_BYTES * workers)),
        "hold_rows": memory // 4 // PENDING_ACTION_BYTES,
        "workers": workers,
    }


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
    *,
    hold_rows: int,
    workers: int,
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
    ``work``, when given, until its partition's turn); an input of at most ``hold_rows``
    actions is read whole instead, its partitions are index ranges of it, and its
    accounts are coded by row on a thread of their own while the first partitions are
    sorted (:class:`_RowLookup`). A unit lies in one key partition,
    so each partition is sorted, coded and has its statistics computed on its own, its
    codes following the previous partition's: the same codes and statistics as one sort
    of everything. Cost ``O(n log n)``.
    """
    lazy = actions.lazy()
    n_rows = int(lazy.select(pl.len()).collect().item())
    n_parts = max(1, -(-n_rows // part_rows))
    if n_rows <= hold_rows:
        work = None
    numeric = _numeric(lazy, signals)
    w_of = _windows_us(signals, win)
    # every key partition's rows (input order), in memory or spilled, and the accounts
    pending: list[list[Piece]] = [[] for _ in range(n_parts)]
    held: _Held | None = None
    accounts: _HashLookup | _RowLookup
    if work is None and n_rows <= hold_rows:
        held, accounts = _read_held(actions, numeric, n_parts, part_rows, workers)
    else:
        accounts = _read_batches(numeric, pending, part_rows, work)
    coded_parts: list[pl.DataFrame] = []
    unit_parts: list[pl.DataFrame] = []
    stats_parts: list[_Stats] = []
    # partitions coded on the threads (each sorted on one), then numbered in order
    outer = max(1, min(workers, n_parts))
    inner = max(1, workers // outer)

    def code(p: int) -> tuple[pl.DataFrame, pl.DataFrame, null.KeyStats] | None:
        if held is not None:
            rows = held.rows_of(p)
            return _code_part(held.frame, rows, accounts, w_of, seed, inner) if rows.size else None
        frame = take_pieces(pending[p])
        pending[p] = []
        if frame is None or frame.height == 0:
            return None
        return _code_part(frame, None, accounts, w_of, seed, inner)

    n_units = n_keys = 0
    totals: Incidence | None = None
    with track("key partitions", total=n_parts, unit="partitions") as progress:
        for done in ordered_map(code, range(n_parts), outer):
            progress.advance()
            if done is None:
                continue
            if totals is None:  # the accounts are coded by now (a partition needed them)
                totals = _no_incidence(len(signals), accounts.codes.height)
            coded, units, ks = done
            stats_parts.append(_part_stats(ks, coded["k"].to_numpy(), units, totals, k0=n_units))
            del ks, done
            coded_parts.append(coded.with_columns(pl.col("k") + n_units))
            unit_parts.append(units.with_columns(pl.col("kid") + n_keys))
            n_units += units.height
            n_keys = int(units["kid"][-1]) + 1 + n_keys
            del coded, units
    if totals is None:  # pragma: no cover - code_units is given at least one action
        raise ParameterError("internal: no action to code")
    return _joined(coded_parts, unit_parts, stats_parts, accounts.codes, totals)


def _numeric(lazy: pl.LazyFrame, signals: list[str]) -> pl.LazyFrame:
    """Return the integer columns the coding reads (and ``actor_id``), as the rows are read.

    ``s`` (signal index), ``t`` (µs), ``event``, ``kh``/``kh2`` (two 64-bit hashes of the
    signal and key), ``h``/``h2`` (two of the account id).
    """
    sig_index = {s: i for i, s in enumerate(signals)}
    sig = pl.col("signal").replace_strict(sig_index, return_dtype=pl.Int64)
    return lazy.select(
        sig.alias("s"),
        pl.col("ts").dt.epoch("us").alias("t"),
        pl.col("event"),
        (pl.col("key").hash(seed=3) ^ (sig.cast(pl.UInt64) * _MIX)).alias("kh"),
        (pl.col("key").hash(seed=17) ^ (sig.cast(pl.UInt64) * _MIX2)).alias("kh2"),
        pl.col("actor_id"),
        pl.col("actor_id").hash(seed=_ACTOR_SEED).alias("h"),
        pl.col("actor_id").hash(seed=_ACTOR_SEED2).alias("h2"),
    )


def _remote_unit_codes(
    runner: Runner,
    actions: pl.DataFrame | pl.LazyFrame,
    signals: list[str],
    win: dict[str, float],
    seed: int,
    part_rows: int,
    work: WorkDir,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, _Stats]:
    """Code the key partitions with ``runner`` (Spark): :func:`_unit_codes`' results.

    A first pass here reads the actions ``part_rows`` at a time, keeps the distinct
    account ids and writes the integer columns, each row with its key partition, to
    Parquet files the runner reads (the hashes as signed integers: Spark has no unsigned
    ones). The runner runs :class:`_CodeTask` on every key partition (sorting it, cutting
    it into units, their statistics: the same :func:`_code_part` as here) and totals
    each account's actions and units on the unsaturated units with its own aggregation;
    the partitions' codes, units, statistics and shared (unit, account) rows are then
    read in partition order and numbered as :func:`_unit_codes` numbers them.
    """
    lazy = actions.lazy()
    n_rows = int(lazy.select(pl.len()).collect().item())
    n_parts = max(1, -(-n_rows // part_rows))
    staged = work.subdir(f"units-staged-{next(_SERIAL)}")
    batches = _Batches(_numeric(lazy, signals), part_rows)
    for i, batch in enumerate(batches):
        batch.with_columns(
            _part_of(n_parts), *(pl.col(c).reinterpret(signed=True) for c in ("kh", "kh2", "h"))
        ).write_parquet(staged / f"part-{i:06d}.parquet", compression="lz4")
        del batch
    codes = batches.codes()
    task = _CodeTask(
        codes["h"].to_numpy(), codes["a"].to_numpy(), _windows_us(signals, win), seed,
        actions.collect_schema()["event"],
    )  # fmt: skip
    done = runner.map_key_partitions(staged, n_parts=n_parts, task=task, work=work)
    shutil.rmtree(staged, ignore_errors=True)
    totals = _no_incidence(len(signals), codes.height)
    at = done.sums["a"].to_numpy()
    totals.activity[at] = done.sums["m"].to_numpy().astype(np.float64)
    totals.n_units_of[at] = done.sums["n"].to_numpy()
    coded_parts: list[pl.DataFrame] = []
    unit_parts: list[pl.DataFrame] = []
    stats_parts: list[_Stats] = []
    n_units = n_keys = 0
    for _, made in done.parts:
        coded, units, shared = made["coded"], made["units"], made["shared"]
        per = made["signals"]
        np.add.at(totals.per_signal, per["s"].to_numpy(), per["m"].to_numpy())
        stats_parts.append(
            _Stats(
                units["pi"].to_numpy(),
                units["saturated"].to_numpy(),
                units["crowded"].to_numpy(),
                dataclasses.replace(totals, shared=shared.with_columns(pl.col("k") + n_units)),
            )
        )
        coded_parts.append(coded.with_columns(pl.col("k") + n_units))
        unit_parts.append(units.select(_UNIT_COLUMNS).with_columns(pl.col("kid") + n_keys))
        n_units += units.height
        n_keys = int(units["kid"][-1]) + 1 + n_keys
        del coded, units, shared, made
    if not coded_parts:  # pragma: no cover - code_units is given at least one action
        raise ParameterError("internal: no action to code")
    return _joined(coded_parts, unit_parts, stats_parts, codes, totals)


#: The columns of the unit table (:attr:`Units.table`).
_UNIT_COLUMNS: Final = ("s", "row0", "h", "kid")
_SERIAL: Final = itertools.count()


@dataclass(frozen=True)
class _CodeTask:
    """The coding of one key partition, run where the partition is (by a runner).

    ``h``, ``a``: every account's id hash and code (16 bytes an account, shipped with
    the task); ``w_of``: each signal's window (µs); ``seed``: the split's seed;
    ``event``: the type of the event numbers. Returns the partition's coded actions
    (:attr:`Units.coded`), its units (:attr:`Units.table` with ``π`` and the saturated
    and crowded flags), the shared (unit, account) rows of :class:`Incidence`, the
    actions of its unsaturated units per signal, and per account (``a, m, n``: actions
    and units; the runner totals these over every partition). Codes start at 0.
    """

    h: npt.NDArray[np.uint64]
    a: npt.NDArray[np.int64]
    w_of: IntArray
    seed: int
    event: pl.DataType

    @property
    def tables(self) -> dict[str, pl.Schema]:
        """The tables of one partition."""
        i64, i8 = pl.Int64(), pl.Int8()
        return {
            "coded": pl.Schema({"k": i64, "a": i64, "t": i64, "event": self.event,
                                "row": i64, "hb": i8}),
            "units": pl.Schema({"s": i8, "row0": i64, "h": i8, "kid": i64, "pi": pl.Float64(),
                                "saturated": pl.Boolean(), "crowded": pl.Boolean()}),
            "shared": pl.Schema({"a": i64, "k": i64, "m": i64, "s": i64}),
            "signals": pl.Schema({"s": i64, "m": i64}),
            "accounts": pl.Schema({"a": i64, "m": i64, "n": i64}),
        }  # fmt: skip

    @property
    def summed(self) -> str:
        """The per-account table: totalled over the partitions by the runner."""
        return "accounts"

    def __call__(self, frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
        """Code one key partition's rows (``s, t, event, kh, kh2, h, row``, by ``row``)."""
        frame = frame.with_columns(
            pl.col(c).reinterpret(signed=False) for c in ("kh", "kh2", "h")
        ).with_columns(pl.col("event").cast(self.event))
        lookup = _HashLookup(pl.DataFrame({"h": self.h, "a": self.a}))
        coded, units, ks = _code_part(frame, None, lookup, self.w_of, self.seed, 1)
        saturated, crowded = _unit_flags(ks, coded["k"].to_numpy(), units.height)
        s_unit = units["s"].to_numpy().astype(np.int64)
        inc = pl.DataFrame(
            {"a": ks.inc_a, "k": ks.inc_k, "m": ks.inc_m, "s": s_unit[ks.inc_k],
             "open": ~saturated[ks.inc_k], "many": ks.actors[ks.inc_k] >= 2},
            schema={"a": pl.Int64, "k": pl.Int64, "m": pl.Int64, "s": pl.Int64,
                    "open": pl.Boolean, "many": pl.Boolean},
        ).filter("open")  # fmt: skip
        made = {
            "coded": coded,
            "units": units.with_columns(
                pl.Series("pi", ks.pi, dtype=pl.Float64),
                pl.Series("saturated", saturated),
                pl.Series("crowded", crowded),
            ),
            "shared": inc.filter("many").select("a", "k", "m", "s"),
            "signals": inc.group_by("s").agg(pl.col("m").sum()).sort("s"),
            "accounts": inc.group_by("a").agg(pl.col("m").sum(), pl.len().alias("n")).sort("a"),
        }
        tables = self.tables
        return {
            name: rows.select(list(tables[name])).cast(tables[name]) for name, rows in made.items()
        }


def _part_of(n_parts: int) -> pl.Expr:
    """Return the key partition of every row (``_p``, Int32): ranges of the key hash ``kh``.

    ``(kh >> 32) · P >> 32`` (as divisions, in unsigned 64 bits: no overflow for
    ``P < 2**32``) is monotone in ``kh``, so the partitions, one after the other, are in
    key-hash order.
    """
    return (pl.col("kh") // (1 << 32) * n_parts // (1 << 32)).cast(pl.Int32).alias("_p")


def _read_batches(
    numeric: pl.LazyFrame, pending: list[list[Piece]], part_rows: int, work: WorkDir | None
) -> _HashLookup:
    """Read ``numeric`` ``part_rows`` rows at a time into the key partitions of ``pending``.

    Each batch (``s, t, event, kh, kh2, h`` and its input rows ``row``) is cut into key
    partitions (:func:`_part_of`), kept in memory or spilled to ``work``; the distinct
    account ids are kept as they come (one row of each, found by its hash). Returns the
    account codes (:func:`_actor_codes`), looked up by hash.
    """
    n_parts = len(pending)
    batches = _Batches(numeric, part_rows)
    for batch in batches:
        if n_parts == 1:
            pending[0].append(batch)
            continue
        parted = batch.with_columns(_part_of(n_parts))
        del batch
        for (p,), piece in parted.partition_by("_p", as_dict=True, include_key=False).items():
            kept = piece if work is None else work.spill(piece, f"units-p{int(p):05d}")
            pending[int(p)].append(kept)
        del parted
    return _HashLookup(batches.codes())


class _Batches:
    """``numeric`` read ``part_rows`` rows at a time, the distinct account ids kept.

    Iterating yields each batch's ``s, t, event, kh, kh2, h`` and its input rows
    ``row``; :meth:`codes` then codes the distinct ids (:func:`_actor_codes`), kept as
    they came (one row of each, found by its hash).
    """

    def __init__(self, numeric: pl.LazyFrame, part_rows: int) -> None:
        self.numeric = numeric
        self.part_rows = part_rows
        self._firsts: list[pl.DataFrame] = []

    def __iter__(self) -> Iterator[pl.DataFrame]:
        start = 0
        for read in lazy_frames(self.numeric, self.part_rows):
            self._firsts.append(_distinct_ids(read["actor_id"], read["h"], read["h2"]))
            batch = read.drop("actor_id", "h2").with_columns(
                pl.int_range(start, start + read.height, dtype=pl.Int64).alias("row")
            )
            start += batch.height
            del read
            yield batch

    def codes(self) -> pl.DataFrame:
        """Return the account codes of every id read (call after the last batch)."""
        ids = pl.concat(self._firsts)
        self._firsts = []
        return _actor_codes(_distinct_ids(ids["actor_id"], ids["h"], ids["h2"])["actor_id"])


@dataclass(frozen=True)
class _Held:
    """Actions held whole: ``s, t, event, kh, kh2`` (and more) by input row; their partitions."""

    frame: pl.DataFrame
    order: IntArray  # the rows by partition (stable: input order within one)
    bounds: IntArray  # partition p is order[bounds[p]:bounds[p + 1]]

    def rows_of(self, p: int) -> IntArray:
        """Return the input rows of key partition ``p``, increasing."""
        return self.order[self.bounds[p] : self.bounds[p + 1]]


def _read_held(
    actions: pl.DataFrame | pl.LazyFrame,
    numeric: pl.LazyFrame,
    n_parts: int,
    part_rows: int,
    workers: int,
) -> tuple[_Held, _RowLookup]:
    """Read all of ``numeric`` at once and cut it into ``n_parts`` key partitions.

    The integer columns are read whole (a lazy input ``part_rows`` rows at a time; no
    string is held) and the partitions are the input rows of each range of the key hash
    (:func:`_part_of`, one stable sort of 16-bit partition numbers). The accounts are
    coded by row on a thread of their own (:func:`coordscope.engine.coding.dense_codes`)
    while the first partitions are sorted; only the distinct ids are read, at the first
    row of each.
    """
    numbers = numeric.drop("actor_id").with_columns(_part_of(n_parts))  # as the rows are read
    if isinstance(actions, pl.DataFrame):
        frame = numbers.collect()
    else:
        frames = list(lazy_frames(numbers, part_rows))
        frame = pl.concat(frames, rechunk=True) if len(frames) > 1 else frames[0]
        del frames
    h, h2 = frame["h"].to_numpy(), frame["h2"].to_numpy()
    lookup = _RowLookup(actions, h, h2, part_rows)
    # held: at most a quarter of the budget, in partitions of 1/1024 of it per worker,
    # so far fewer than 2**15 partitions
    part = frame["_p"].to_numpy().astype(np.int16)
    order = np.argsort(part, kind="stable")  # a radix sort for 16-bit keys
    bounds = np.searchsorted(part[order], np.arange(n_parts + 1), side="left")
    held = _Held(frame, order, bounds.astype(np.int64))
    return held, lookup


def _no_incidence(n_signals: int, n_accounts: int) -> Incidence:
    """Return the sums of no (unit, account) row, for ``n_accounts`` accounts."""
    return Incidence(
        shared=pl.DataFrame(),
        activity=np.zeros(n_accounts),
        n_units_of=np.zeros(n_accounts, dtype=np.int64),
        per_signal=np.zeros(n_signals, dtype=np.int64),
    )


def _joined(
    coded_parts: list[pl.DataFrame],
    unit_parts: list[pl.DataFrame],
    stats_parts: list[_Stats],
    codes: pl.DataFrame,
    totals: Incidence,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, _Stats]:
    """Drop the saturated units' events and join the key partitions (in code order)."""
    n_dropped = _drop_saturated(coded_parts, [x.saturated for x in stats_parts], unit_parts)
    coded = concat_compact(coded_parts) if len(coded_parts) > 1 else coded_parts[0]
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
    saturated, crowded = _unit_flags(ks, k, units.height)
    s_unit = units["s"].to_numpy()
    shared = _add_incidence(
        ks.inc_k, ks.inc_a, ks.inc_m, saturated, ks.actors, s_unit,
        totals.activity, totals.n_units_of, totals.per_signal,
    )  # fmt: skip
    inc_k = ks.inc_k[shared]
    rows = pl.DataFrame(
        {"a": ks.inc_a[shared], "k": inc_k + k0, "m": ks.inc_m[shared], "s": s_unit[inc_k]},
        schema={"a": pl.Int64, "k": pl.Int64, "m": pl.Int64, "s": pl.Int64},
    )
    return _Stats(ks.pi, saturated, crowded, dataclasses.replace(totals, shared=rows))


def _unit_flags(
    ks: null.KeyStats, k: IntArray, n_units: int
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Return which of a partition's units are saturated and which crowded.

    ``k``: the partition's unit code (from 0) of every coded action.
    """
    many = ks.actors >= SATURATED_ACTORS
    saturated = many & (ks.pi >= SATURATED_PI)
    n_k = np.bincount(k, minlength=n_units)
    crowded = many & ~saturated & (2.0 * ks.near >= CROWDED_NEIGHBOURS * n_k)
    return saturated, crowded


@jit
def _add_incidence(
    inc_k: IntArray,
    inc_a: IntArray,
    inc_m: IntArray,
    saturated: npt.NDArray[np.bool_],
    actors: IntArray,
    s_unit: npt.NDArray[np.int8],
    activity: npt.NDArray[np.float64],
    n_units_of: IntArray,
    per_signal: IntArray,
) -> npt.NDArray[np.bool_]:
    """Add the (unit, account) rows of unsaturated units to the sums, in place.

    ``activity`` (per account, actions: whole numbers, so the float sums are exact),
    ``n_units_of`` (per account, units) and ``per_signal`` (per signal index, actions).
    Returns which rows belong to unsaturated units with at least two accounts. One pass,
    compiled. Cost ``O(R)``.
    """
    shared = np.zeros(inc_k.shape[0], dtype=np.bool_)
    for i in range(inc_k.shape[0]):
        k = inc_k[i]
        if saturated[k]:
            continue
        a = inc_a[i]
        activity[a] += inc_m[i]
        n_units_of[a] += 1
        per_signal[s_unit[k]] += inc_m[i]
        shared[i] = actors[k] >= 2
    return shared


def _code_part(
    frame: pl.DataFrame,
    rows: IntArray | None,
    accounts: _HashLookup | _RowLookup,
    w_of: IntArray,
    seed: int,
    workers: int,
) -> tuple[pl.DataFrame, pl.DataFrame, null.KeyStats]:
    """Code one key partition as :func:`_unit_codes` says.

    The partition is ``frame`` (``s, t, event, kh, kh2, h, row``: a batch's or the spilled
    pieces' rows in input order), or with ``rows`` the rows ``rows`` (increasing) of
    ``frame`` (``s, t, event, kh, kh2``, row ``i`` for input row ``i``). Unit and key codes
    start at 0 (the caller adds the previous partitions' counts); the statistics are
    indexed by them. The rows are in input order, so ordering them by ``(kh, t,
    position)`` (:func:`coordscope.engine.coding.key_time_order`, on ``workers`` threads)
    is the ``(kh, t, row)`` order. ``accounts`` gives the account codes.
    """
    kh, kh2, t = (frame[c].to_numpy() for c in ("kh", "kh2", "t"))
    if rows is not None:
        kh, kh2, t = kh[rows], kh2[rows], t[rows]
    with thread_pool(workers) as pool:
        order, t, key_starts, clash = key_time_order(
            kh, kh2, t, mix=False, workers=workers, pool=pool if workers > 1 else None
        )
    del kh, kh2
    if clash:  # pragma: no cover - probability ~ n² / 2**65
        raise ParameterError("internal: 64-bit hash collision between two keys; please report")
    at = order if rows is None else rows[order]  # the frame's row of every position
    del order
    row = at if rows is not None else frame["row"].to_numpy()[at]
    a = accounts.of(frame, at, row)
    return _coded_units(frame, at, t, key_starts, a, row, w_of, seed)


def _ids_at(actions: pl.DataFrame | pl.LazyFrame, rows: IntArray, part_rows: int) -> pl.Series:
    """Return the ``actor_id`` of the input rows ``rows`` (increasing), in their order.

    A frame in memory is gathered from; a lazy one is read ``part_rows`` rows at a time,
    its one String column only.
    """
    if isinstance(actions, pl.DataFrame):
        return actions["actor_id"].gather(rows)
    found: list[pl.Series] = []
    start = 0
    for batch in lazy_frames(actions.select("actor_id"), part_rows):
        lo, hi = np.searchsorted(rows, [start, start + batch.height])
        found.append(batch["actor_id"].gather(rows[lo:hi] - start))
        start += batch.height
    return pl.concat(found)


def _coded_units(
    frame: pl.DataFrame,
    order: IntArray,
    t: IntArray,
    key_starts: IntArray,
    a: IntArray,
    row: IntArray,
    w_of: IntArray,
    seed: int,
) -> tuple[pl.DataFrame, pl.DataFrame, null.KeyStats]:
    """Return the coded actions, units and statistics of an ordered key partition.

    ``order`` gives the frame's row at every sorted position, ``t`` its time,
    ``key_starts`` the first position of every key (then the length), ``a`` and ``row``
    the account code and input row of every sorted position.
    """
    n = order.shape[0]
    s_np = frame["s"].to_numpy()[order]
    key_first = np.zeros(n, dtype=bool)
    key_first[key_starts[:-1]] = True
    new = key_first.copy()
    new[1:] |= (t[1:] - t[:-1]) > w_of[s_np[1:]]
    k = np.cumsum(new, dtype=np.int64) - 1  # the partition's own codes
    starts = np.flatnonzero(new)
    del new
    ks = null.key_stats(k, a, t, w_of[s_np], starts.shape[0])
    coded = pl.DataFrame(
        {
            "k": k,
            "a": a,
            "t": t,
            "event": frame["event"].to_numpy()[order],
            "row": row,
        },
        schema={"k": pl.Int64, "a": pl.Int64, "t": pl.Int64, "event": frame["event"].dtype,
                "row": pl.Int64},
    ).with_columns(block_half("t", seed=seed).alias("hb"))  # fmt: skip
    del k, a, order
    hb_bit = (coded["hb"].to_numpy().astype(np.int8) + 1).astype(np.int8)  # 1 or 2
    units = pl.DataFrame(
        {
            "s": s_np[starts].astype(np.int8),  # fewer than 128 signals
            "row0": coded["row"].to_numpy()[starts],
            "h": np.bitwise_or.reduceat(hb_bit, starts).astype(np.int8),
            "kid": np.cumsum(key_first[starts], dtype=np.int64) - 1,
        }
    )
    return coded, units, ks


def _distinct_ids(ids: pl.Series, h: pl.Series, h2: pl.Series) -> pl.DataFrame:
    """Return ``actor_id, h, h2``: one row of each distinct id (by its hash ``h``).

    ``h2``, a second independent hash, must agree wherever ``h`` does (two ids sharing
    both hashes: probability ``2⁻¹²⁸`` a pair).
    """
    _, first, clash = dense_codes(h.to_numpy(), h2.to_numpy())
    if clash:  # pragma: no cover - probability ~ n² / 2**65
        raise ParameterError("internal: 64-bit hash collision between two ids; please report")
    take = pl.Series(first)
    return pl.DataFrame({"actor_id": ids.gather(take), "h": h.gather(take), "h2": h2.gather(take)})


class _HashLookup:
    """Account codes, looked up by the 64-bit hash of their id (a hash table, compiled)."""

    def __init__(self, codes: pl.DataFrame) -> None:
        self.codes = codes
        self.h = np.ascontiguousarray(codes["h"].to_numpy())
        self.a = np.ascontiguousarray(codes["a"].to_numpy(), dtype=np.int64)

    def of(self, frame: pl.DataFrame, at: IntArray, row: IntArray) -> IntArray:
        """Return the account code of ``frame``'s rows ``at`` (by their hash ``h``)."""
        return lookup_codes(self.h, self.a, np.ascontiguousarray(frame["h"].to_numpy()[at]))


class _RowLookup:
    """The account code of every input row, coded on a thread of its own.

    Codes the 64-bit id hashes ``h`` (``h2`` checks them) densely by first appearance,
    reads the distinct ids at their first rows, and renumbers them in id order (as
    :func:`_actor_codes` does). :meth:`of` and :attr:`codes` wait for it.
    """

    def __init__(
        self,
        actions: pl.DataFrame | pl.LazyFrame,
        h: npt.NDArray[np.uint64],
        h2: npt.NDArray[np.uint64],
        part_rows: int,
    ) -> None:
        self._pool = ThreadPoolExecutor(1)
        self._done = self._pool.submit(self._code, actions, h, h2, part_rows)
        self._pool.shutdown(wait=False)

    @staticmethod
    def _code(
        actions: pl.DataFrame | pl.LazyFrame,
        h: npt.NDArray[np.uint64],
        h2: npt.NDArray[np.uint64],
        part_rows: int,
    ) -> tuple[pl.DataFrame, npt.NDArray[np.int32]]:
        by_row, first, clash = dense_codes(h, h2)
        if clash:  # pragma: no cover - probability ~ n² / 2**65
            raise ParameterError("internal: 64-bit hash collision between two ids; please report")
        firsts = _ids_at(actions, first, part_rows)
        by_id, rank = id_order(firsts)
        codes = pl.DataFrame(
            {
                "actor_id": firsts.gather(by_id),
                "a": np.arange(by_id.shape[0], dtype=np.int64),
                "h": h[first[by_id]],
            }
        )
        return codes, rank[by_row]

    @property
    def codes(self) -> pl.DataFrame:
        """Return ``actor_id, a, h`` (as :func:`_actor_codes` gives them)."""
        return self._done.result()[0]

    def of(self, frame: pl.DataFrame, at: IntArray, row: IntArray) -> IntArray:
        """Return the account code of the input rows ``row``."""
        return self._done.result()[1][row].astype(np.int64)
