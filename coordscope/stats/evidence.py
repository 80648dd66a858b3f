"""Co-action evidence of account pairs, counted by unit in one partitioned kernel pass.

Every pair is counted by the partitioned engine with the unit code as key
(:func:`pair_partitions`), except in crowded units, whose pairs are not enumerated; each
pair partition comes with its (pair, unit) rows and the positions of the two actions of
every unit's closest co-action. Only pairs with two co-acted units of one signal can be
tested (one co-action is never evidence, :func:`is_candidate`): the others become edge
rows as they are (:func:`single_edges`, with integer codes for the account ids and the
signals, looked up as the table is read: :func:`resolve_edges`), and the evidence is
built for the candidates
only, one pair partition at a time (:func:`unit_evidence`, :func:`key_evidence`), with
action rows in place of keys and event ids; those strings are read from the actions once
every partition is done (:func:`resolve_evidence`), so the actions need not be held. A
pair with as many co-acted units as signals had one per signal (a retweet carries a
share, a link and a hashtag: one occasion, three units) and is not a candidate.

The module also turns the evidence into the tables the tests read: key-level evidence
(:func:`key_evidence`, published once its strings are read) and the evidence as integer
codes with its half of the split and whether it is a clock co-action
(:func:`coded_evidence`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Final, TypeVar

import numpy as np
import numpy.typing as npt
import polars as pl

from coordscope.budget import Budget
from coordscope.engine.jit import jit
from coordscope.engine.partitioned import LocalPairEngine, PairPartition, Sieve
from coordscope.engine.runners import LocalRunner, Runner
from coordscope.engine.tables import signal_lists
from coordscope.parts import Piece, WorkDir, scan_piece
from coordscope.progress import track
from coordscope.schema import EDGE_SCHEMA, EVIDENCE_SCHEMA, SECONDS_PER_US, SIGNIFICANCE_COLUMNS
from coordscope.stats.pairs import CODED_EDGE_SCHEMA
from coordscope.stats.units import MINUTE_US, Units, block_half

T = TypeVar("T")
IntArray = npt.NDArray[np.int64]

__all__ = [
    "CODED_EVIDENCE_SCHEMA",
    "coded_evidence",
    "edges_from_evidence",
    "is_candidate",
    "key_evidence",
    "pair_partitions",
    "resolve_edges",
    "resolve_evidence",
    "single_edges",
    "unit_evidence",
]


def pair_partitions(
    units: Units,
    *,
    budget: Budget,
    work: WorkDir,
    then: Callable[[PairPartition], T],
    runner: Runner | None = None,
    sieve: Sieve | None = None,
    covered: npt.NDArray[np.bool_] | None = None,
    kept: Iterable[pl.DataFrame] = (),
    kept_rows: int = 0,
) -> Iterator[T]:
    """Count co-acting pairs by unit (crowded units aside); run ``then`` on each partition.

    Runs the partitioned engine (:class:`coordscope.engine.partitioned.LocalPairEngine`)
    over the coded actions of unsaturated units that are not crowded, with the unit code
    as key: partition tasks give partial aggregates per (pair, unit), pair partitions
    reduce them to one row per pair. Each partition also carries its (pair, unit) rows
    with the positions (in ``units.coded``) of the two actions of every unit's closest
    co-action, from which :func:`unit_evidence` builds the evidence of the candidate
    pairs — one kernel pass for counting and evidence.

    Parameters
    ----------
    units : Units
        The coded actions (sorted by unit and time).
    budget : Budget
        Memory and workers of the engine (what the run does not hold already).
    work : WorkDir
        Where partials are spilled.
    then : callable
        Runs on every :class:`~coordscope.engine.partitioned.PairPartition` (account
        codes ``lo < hi`` in id order, keys = unit codes) on the engine's worker threads,
        several partitions at once: it must be safe to run concurrently.
    runner : Runner, optional
        Who counts the pairs (default: :class:`~coordscope.engine.runners.LocalRunner`,
        threads of this process); the partitions' rows do not depend on it.
    sieve : callable, optional
        Run on each partition where it is reduced, when that is another process
        (:data:`~coordscope.engine.partitioned.Sieve`); ``then`` gets what it keeps.
    covered : ndarray of bool, optional
        Units whose pairs are not counted here because ``kept`` holds them (partials
        kept from an earlier count, :mod:`coordscope.stats.stored`); local runner only.
    kept : iterable of polars.DataFrame
        :data:`~coordscope.engine.partitioned.PARTIAL_SCHEMA` rows of the covered units,
        handed to the engine with the counted ones.
    kept_rows : int
        How many rows ``kept`` holds (sizes the pair partitions).

    Yields
    ------
    object
        What ``then`` returned, partition by partition in code order.

    Notes
    -----
    Cost ``O(n log n + P)`` for ``n`` actions and ``P`` in-window pairs; memory: the
    coded actions, a chunk of them at a time handed to the engine (a task's bytes, cut
    at unit starts), and the engine's budgeted tasks, never all pairs. Signals sharing a
    window are counted together.
    """
    coded = units.coded
    k = coded["k"].to_numpy()  # views of the held columns: no copy
    a = coded["a"].to_numpy()
    t = coded["t"].to_numpy()
    chunks = _unit_chunks(k, max(_MIN_CHUNK, budget.task_bytes() // _CHUNK_ACTION_BYTES))
    open_units = ~units.crowded  # a crowded unit's pairs are not enumerated
    if covered is not None:  # nor are those of units whose kept partials hold them
        open_units &= ~covered
    windows = [int(w) for w in np.unique(units.w_signal[np.unique(units.key_sig[open_units])])]

    def selections() -> Iterator[tuple[int, npt.NDArray[np.int64] | slice]]:
        """Per chunk and window: the positions of the actions counted together."""
        for lo, hi in chunks:
            kk = k[lo:hi]
            w_act = units.windows_of(kk)
            counted = open_units[kk]
            for w in windows:
                m = (w_act == w) & counted
                if m.all():
                    yield w, slice(lo, hi)
                elif m.any():
                    yield w, np.flatnonzero(m) + lo

    n_pairs = _open_pairs(k, t, units, open_units, windows) + kept_rows
    engine = (runner or LocalRunner()).pair_engine(
        n_accounts=units.n_accounts, n_pairs=n_pairs, budget=budget, work=work
    )
    n_open = int(np.count_nonzero(open_units[k])) if k.size else 0
    with track("counting co-actions", total=n_open, unit="actions") as progress:
        for w, sel in selections():
            pos = np.arange(sel.start, sel.stop) if isinstance(sel, slice) else sel
            kk = k[sel]
            engine.add(kk, a[sel], t[sel], units.key_sig[kk].astype(np.int64), pos, window=w)
            progress.advance(kk.shape[0])
            del kk, pos
    if covered is not None:
        if not isinstance(engine, LocalPairEngine):
            raise TypeError("kept partials need the local pair engine")
        engine.add_partials(kept)
    yield from engine.reduce_each(then, sieve=sieve)


#: Bytes an action costs while the engine is handed a chunk of them (its codes, times,
#: signal, position and the engine's scratch arrays): a chunk is one task's bytes.
_CHUNK_ACTION_BYTES: Final = 80
#: The fewest actions in a chunk (each chunk is a round of tasks on the threads).
_MIN_CHUNK: Final = 1 << 12


def _open_pairs(
    k: IntArray, t: IntArray, units: Units, open_units: npt.NDArray[np.bool_], windows: list[int]
) -> int:
    """Count the in-window pairs of the open units' actions (sorted by unit and time).

    One window sweep over all actions per distinct window (no copy of the actions): a
    unit's pairs never reach past it, so the counts of the units of that window are
    those of their own sweep.
    """
    n = k.shape[0]
    if n == 0:
        return 0
    w_unit = units.w_signal[units.key_sig]
    total = 0
    for w in windows:
        total += _pairs_of(k, t, w, open_units & (w_unit == w))
    return total


@jit
def _pairs_of(k: IntArray, t: IntArray, window: int, counted: npt.NDArray[np.bool_]) -> int:
    """Count the in-window pairs of actions sorted by ``(k, t)`` whose unit is ``counted``.

    Two pointers over the sorted actions (a unit's window never reaches past it).
    """
    n = k.shape[0]
    total = 0
    j = 0
    for i in range(n):
        if j <= i:
            j = i + 1
        while j < n and k[j] == k[i] and t[j] - t[i] <= window:
            j += 1
        if counted[k[i]]:
            total += j - i - 1
    return total


def _unit_chunks(k: IntArray, rows: int) -> list[tuple[int, int]]:
    """Cut actions sorted by unit code ``k`` into spans of about ``rows``, at unit starts."""
    n = k.shape[0]
    marks = np.arange(rows, n, rows, dtype=np.int64)
    cuts = np.searchsorted(k, k[marks], side="left") if marks.shape[0] else marks
    bounds = np.unique(np.concatenate(([0], cuts, [n]))).tolist()
    return [(lo, hi) for lo, hi in itertools.pairwise(bounds) if hi > lo]


def is_candidate() -> pl.Expr:
    """Whether a pair (:data:`~coordscope.engine.partitioned.PAIR_SCHEMA`) is a candidate.

    A candidate co-acted in more units than it has signals: two co-acted units of one
    signal (a retweet co-acted on gives one share, one link and one hashtag unit: one
    piece of evidence, not three). Only candidates can reach ``p < 1``.
    """
    return pl.col("n_keys") > pl.col("sig").bitwise_count_ones().cast(pl.Int64)


def single_edges(pairs: pl.DataFrame) -> pl.DataFrame:
    """Build the edge rows of pairs that are not candidates (untested: ``p = q = 1``).

    Parameters
    ----------
    pairs : polars.DataFrame
        :data:`~coordscope.engine.partitioned.PAIR_SCHEMA` rows.

    Returns
    -------
    polars.DataFrame
        :data:`~coordscope.stats.pairs.CODED_EDGE_SCHEMA` rows in the order of ``pairs``:
        codes in place of the account ids and the signals' names, which are looked up as
        the edge table is read (:func:`resolve_edges`, which also adds the columns every
        untested edge shares: ``pvalue = qvalue = 1``, not significant, no evidence), so
        that the millions of untested edges are not written and read back with them.
    """
    utc = EDGE_SCHEMA["first_ts"]
    return pairs.select(
        "lo",
        "hi",
        pl.col("n_keys").cast(EDGE_SCHEMA["n_keys"]),
        pl.col("n_co").cast(EDGE_SCHEMA["n_coactions"]).alias("n_coactions"),
        pl.col("min_dt").cast(pl.Float64) * SECONDS_PER_US,
        pl.col("median_dt") * SECONDS_PER_US,
        pl.col("first_ts").cast(pl.Datetime("us")).dt.replace_time_zone("UTC").cast(utc),
        pl.col("last_ts").cast(pl.Datetime("us")).dt.replace_time_zone("UTC").cast(utc),
        "sig",
        pl.lit(None, dtype=pl.Float64).alias("expected"),
    ).cast(dict(CODED_EDGE_SCHEMA))  # type: ignore[arg-type]


def resolve_edges(ids: pl.Series, names: tuple[str, ...]) -> Callable[[pl.LazyFrame], pl.LazyFrame]:
    """Return the transform that gives coded edge rows their account ids and signals.

    Parameters
    ----------
    ids : polars.Series
        The account id of every account code (row ``i`` holds code ``i``).
    names : tuple of str
        The signal of every bit of ``sig``.

    Returns
    -------
    callable
        ``LazyFrame -> LazyFrame``: a piece of :data:`~coordscope.stats.pairs.
        CODED_EDGE_SCHEMA` rows becomes :data:`~coordscope.schema.EDGE_SCHEMA` and
        :data:`~coordscope.schema.SIGNIFICANCE_COLUMNS` (two gathers of the ids, one of
        the signal lists: a filter on the other columns is applied first); a piece that
        has its ids already is only reduced to those columns. Row order is kept.
    """
    lists = pl.lit(signal_lists(names))
    accounts = pl.lit(ids)
    columns = [*EDGE_SCHEMA, *SIGNIFICANCE_COLUMNS]

    def resolve(lf: pl.LazyFrame) -> pl.LazyFrame:
        if "lo" not in lf.collect_schema().names():
            return lf.select(columns)
        return lf.with_columns(
            accounts.gather(pl.col("lo")).alias("actor_a"),
            accounts.gather(pl.col("hi")).alias("actor_b"),
            lists.gather(pl.col("sig")).alias("signals"),
            pl.lit(1.0).alias("pvalue"),
            pl.lit(1.0).alias("qvalue"),
            pl.lit(False).alias("significant"),
            pl.lit("", dtype=pl.String).alias("evidence"),
        ).select(columns)

    return resolve


def unit_evidence(keyed: pl.DataFrame, units: Units) -> pl.DataFrame:
    """Turn (pair, unit) rows with their closest co-action into coded unit-level evidence.

    Parameters
    ----------
    keyed : polars.DataFrame
        :data:`~coordscope.engine.partitioned.KEYED_SCHEMA` rows of :func:`pair_partitions`
        (``ra``, ``rb``: positions in ``units.coded`` of the ``lo`` and ``hi`` account's
        action).
    units : Units
        The coded actions and their units.

    Returns
    -------
    polars.DataFrame
        ``lo, hi, s, unit, kid, n_coactions, dt, ta, tb, ea, eb, row_a, row_b``: one row
        per pair, signal and unit, sorted by pair, signal and unit; ``dt`` in seconds,
        ``ta, tb`` the two actions' times (µs), ``ea, eb`` their events' rows, ``row_a,
        row_b`` their rows in the actions. No string: the keys and event ids are looked
        up once every partition is done (:func:`resolve_evidence`).

    Notes
    -----
    Cost ``O(R log R)`` for ``R`` rows: gathers and one sort.
    """
    keyed = keyed.sort(["lo", "hi", "s", "k"])
    coded = units.coded
    ra, rb = keyed["ra"], keyed["rb"]
    return pl.DataFrame(
        {
            "lo": keyed["lo"],
            "hi": keyed["hi"],
            "s": keyed["s"],
            "unit": keyed["k"],
            "kid": units.table["kid"].gather(keyed["k"]),
            "n_coactions": keyed["n"].cast(pl.Int64),
            "dt": keyed["dt"] * SECONDS_PER_US,
            "ta": coded["t"].gather(ra),
            "tb": coded["t"].gather(rb),
            "ea": coded["event"].gather(ra),
            "eb": coded["event"].gather(rb),
            "row_a": coded["row"].gather(ra),
            "row_b": coded["row"].gather(rb),
        },
        schema=_UNIT_EVIDENCE_SCHEMA,
    )


_UNIT_EVIDENCE_SCHEMA: Final = pl.Schema(
    {"lo": pl.Int64(), "hi": pl.Int64(), "s": pl.Int64(), "unit": pl.Int64(),
     "kid": pl.Int64(), "n_coactions": pl.Int64(), "dt": pl.Float64(), "ta": pl.Int64(),
     "tb": pl.Int64(), "ea": pl.UInt32(), "eb": pl.UInt32(), "row_a": pl.Int64(),
     "row_b": pl.Int64()}
)  # fmt: skip

#: Key-level evidence before its strings are looked up (:func:`key_evidence`): the
#: published columns but ``key``, ``event_a`` and ``event_b``, which are rows of the
#: actions (``key_row`` any action of the key; ``row_a``, ``row_b`` the two actions).
CODED_EVIDENCE_SCHEMA: Final = pl.Schema(
    {"actor_a": pl.String(), "actor_b": pl.String(), "signal": pl.String(),
     "key_row": pl.Int64(), "n_coactions": EVIDENCE_SCHEMA["n_coactions"], "dt": pl.Float64(),
     "row_a": pl.Int64(), "row_b": pl.Int64(), "ts_a": EVIDENCE_SCHEMA["ts_a"],
     "ts_b": EVIDENCE_SCHEMA["ts_b"]}
)  # fmt: skip


def key_evidence(unit_ev: pl.DataFrame, units: Units) -> pl.DataFrame:
    """Reduce unit-level evidence to one row per (pair, signal, key).

    Parameters
    ----------
    unit_ev : polars.DataFrame
        Coded unit-level evidence (:func:`unit_evidence`).
    units : Units
        Gives the account ids, the signal names and each unit's first action.

    Returns
    -------
    polars.DataFrame
        :data:`CODED_EVIDENCE_SCHEMA`: per key, the co-actions summed over its units and
        the actions of the unit with the closest co-action (ties: the lowest unit code),
        sorted by pair and signal (within them by key code, not yet by key: see
        :func:`resolve_evidence`).
    """
    ids = units.actor_codes["actor_id"]  # row i holds code i
    names = pl.Series("signal", units.signals, dtype=pl.String)
    key_ev = (
        unit_ev.sort(["lo", "hi", "s", "kid", "dt", "unit"])
        .group_by(["lo", "hi", "s", "kid"], maintain_order=True)
        .agg(
            pl.col("n_coactions").sum(),
            *(pl.col(c).first() for c in ("dt", "unit", "ta", "tb", "row_a", "row_b")),
        )
    )
    utc = EVIDENCE_SCHEMA["ts_a"]
    return pl.DataFrame(
        {
            "actor_a": ids.gather(key_ev["lo"]),
            "actor_b": ids.gather(key_ev["hi"]),
            "signal": names.gather(key_ev["s"]),
            "key_row": units.table["row0"].gather(key_ev["unit"]),
            "n_coactions": key_ev["n_coactions"].cast(EVIDENCE_SCHEMA["n_coactions"]),
            "dt": key_ev["dt"],
            "row_a": key_ev["row_a"],
            "row_b": key_ev["row_b"],
            "ts_a": key_ev["ta"].cast(utc),
            "ts_b": key_ev["tb"].cast(utc),
        },
        schema=CODED_EVIDENCE_SCHEMA,
    )


def resolve_evidence(
    pieces: Sequence[Piece], actions: pl.LazyFrame, *, rows: int, work: WorkDir
) -> list[Piece]:
    """Look up the keys and event ids of coded key-level evidence, piece by piece.

    Parameters
    ----------
    pieces : sequence of polars.DataFrame or Path
        :data:`CODED_EVIDENCE_SCHEMA` pieces (:func:`key_evidence`), in pair order.
    actions : polars.LazyFrame
        ``key, event_id`` of every action (the rows the pieces refer to).
    rows : int
        Evidence rows resolved together: each group of pieces of about that many rows
        reads the actions once (a slice at a time, keeping the rows it refers to).
    work : WorkDir
        Where the resolved pieces are written; the coded piece files are deleted.

    Returns
    -------
    list of polars.DataFrame or Path
        :data:`~coordscope.schema.EVIDENCE_SCHEMA` pieces in the same order, each sorted
        by pair, signal and key.

    Notes
    -----
    Cost: one scan of the actions per group of pieces (a slice at a time), and
    ``O(R log R)`` for the ``R`` rows of a piece. Memory: a group's pieces, the strings
    they refer to and one slice of the actions.
    """
    out: list[Piece] = []
    group: list[Piece] = []
    n_group = 0
    for i, piece in enumerate(pieces):
        group.append(piece)
        n_group += scan_piece(piece).select(pl.len()).collect().item()
        if n_group >= rows or i == len(pieces) - 1:
            out.extend(_resolve_group(group, actions, work))
            group, n_group = [], 0
    return out


#: Rows of the actions read at a time by :func:`resolve_evidence` (two string columns).
_SLICE_ROWS: Final = 1 << 22


def _resolve_group(group: list[Piece], actions: pl.LazyFrame, work: WorkDir) -> list[Piece]:
    """Resolve the pieces of one group against one scan of the actions."""
    frames = [scan_piece(p).collect() for p in group]
    need = np.unique(
        np.concatenate(
            [f[c].to_numpy() for f in frames for c in ("key_row", "row_a", "row_b")]
            or [np.zeros(0, dtype=np.int64)]
        )
    )
    # row need[i] is lookup row i; the actions are read a slice at a time, each slice
    # only when some row is needed there, and only the rows needed are kept
    strings = actions.select("key", "event_id")
    n_rows = int(strings.select(pl.len()).collect().item())
    found: list[pl.DataFrame] = []
    for start in range(0, n_rows, _SLICE_ROWS):
        lo, hi = np.searchsorted(need, [start, start + _SLICE_ROWS])
        if hi > lo:
            rows = strings.slice(start, _SLICE_ROWS).collect()
            found.append(rows[need[lo:hi] - start])
            del rows
    lookup = pl.concat(found) if found else pl.DataFrame(schema=strings.collect_schema())
    del found
    out: list[Piece] = []
    for piece, frame in zip(group, frames, strict=True):
        at = {c: np.searchsorted(need, frame[c].to_numpy()) for c in ("key_row", "row_a", "row_b")}
        resolved = (
            frame.with_columns(
                lookup["key"].gather(at["key_row"]).alias("key"),
                lookup["event_id"].gather(at["row_a"]).alias("event_a"),
                lookup["event_id"].gather(at["row_b"]).alias("event_b"),
            )
            .sort(["actor_a", "actor_b", "signal", "key"])
            .select(list(EVIDENCE_SCHEMA))
            .cast(EVIDENCE_SCHEMA)  # type: ignore[arg-type]
        )
        if isinstance(piece, Path):
            out.append(work.spill(resolved, piece.stem.rsplit("-", 1)[0] + "-resolved"))
            piece.unlink()
        else:
            out.append(resolved)
    return out


def coded_evidence(
    evidence: pl.DataFrame, units: Units, scheduled: npt.NDArray[np.bool_]
) -> pl.DataFrame:
    """Code the unit-level evidence for the tests.

    A pair of events is counted once across signals (a retweet carries the original's
    links and hashtags): only the first row of each (pair, event pair) is kept. An
    account's creation (``co_created``) is no event: its row is kept.

    Parameters
    ----------
    evidence : polars.DataFrame
        Coded unit-level evidence (:func:`unit_evidence`).
    units : Units
        Gives the signal order and the seed of the split.
    scheduled : ndarray of bool
        The clock-driven accounts (:func:`coordscope.stats.units.scheduled_accounts`).

    Returns
    -------
    polars.DataFrame
        ``a, b, s, key, h, clock``: account codes (``a < b`` follows id order), signal
        index, ``key`` the unit code, ``h`` the half of the split both events fall in
        (-1 when they straddle two blocks of different halves), ``clock`` whether both
        accounts are scheduled and both events lie on a whole minute (explained by
        their clocks, not evidence).
    """
    seed = units.seed
    created = units.signals.index("co_created") if "co_created" in units.signals else -1
    no_event = pl.col("s") == created
    ev = evidence.with_columns(
        pl.when(no_event).then(None).otherwise(pl.col("ea")).alias("ea"),
        pl.when(no_event).then(None).otherwise(pl.col("eb")).alias("eb"),
    ).unique(subset=["lo", "hi", "ea", "eb"], keep="first", maintain_order=True)
    half_a, half_b = block_half("ta", seed=seed), block_half("tb", seed=seed)
    sched = pl.lit(pl.Series("sched", scheduled))
    return ev.select(
        pl.col("lo").alias("a"),
        pl.col("hi").alias("b"),
        "s",
        pl.col("unit").alias("key"),
        pl.when(half_a == half_b).then(half_a).otherwise(pl.lit(-1, dtype=pl.Int8)).alias("h"),
        (
            (pl.col("ta") % MINUTE_US == 0)
            & (pl.col("tb") % MINUTE_US == 0)
            & sched.gather(pl.col("lo"))
            & sched.gather(pl.col("hi"))
        ).alias("clock"),
    )


def edges_from_evidence(ev: pl.DataFrame) -> pl.DataFrame:
    """Build native edge columns from key-level evidence (one row per pair and key).

    ``n_keys`` distinct keys, ``median_dt`` over keys of the closest Δt, ``first_ts`` and
    ``last_ts`` over the closest co-actions' events; rows in no particular order.
    """
    return (
        ev.group_by(["actor_a", "actor_b"])
        .agg(
            pl.len().alias("n_keys"),
            # summed in 64 bits: an edge's co-actions add up past a key's Int32
            pl.col("n_coactions").cast(pl.Int64).sum(),
            pl.col("dt").min().alias("min_dt"),
            pl.col("dt").median().alias("median_dt"),
            pl.min_horizontal(pl.col("ts_a").min(), pl.col("ts_b").min()).alias("first_ts"),
            pl.max_horizontal(pl.col("ts_a").max(), pl.col("ts_b").max()).alias("last_ts"),
            pl.col("signal").unique().sort().alias("signals"),
        )
        .select(list(EDGE_SCHEMA))
        .cast(EDGE_SCHEMA)  # type: ignore[arg-type]
    )
