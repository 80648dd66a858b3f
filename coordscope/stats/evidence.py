"""Co-action evidence of account pairs, counted by unit in one partitioned kernel pass.

Every pair is counted by the partitioned engine with the unit code as key
(:func:`pair_partitions`), except in crowded units, whose pairs are not enumerated; each
pair partition comes with its (pair, unit) rows and the positions of the two actions of
every unit's closest co-action. Only pairs with two co-acted units of one signal can be
tested (one co-action is never evidence, :func:`is_candidate`): the others become edge
rows as they are (:func:`single_edges`), and the evidence — with account, event and key
strings — is built for the candidates only, one pair partition at a time
(:func:`unit_evidence`). A pair with as many co-acted units as signals had one per signal
(a retweet carries a share, a link and a hashtag: one occasion, three units) and is not
a candidate.

The module also turns the evidence into the tables the tests read: key-level evidence
(:func:`key_evidence`, the published one), the (unit, account) incidence
(:func:`incidence`) and the evidence as integer codes with its half of the split and
whether it is a clock co-action (:func:`coded_evidence`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import polars as pl

from coordscope.budget import Budget
from coordscope.engine.kernel import count_band_pairs
from coordscope.engine.partitioned import LocalPairEngine, PairPartition
from coordscope.engine.tables import edge_columns
from coordscope.parts import WorkDir
from coordscope.schema import EDGE_SCHEMA, EVIDENCE_SCHEMA, SECONDS_PER_US
from coordscope.stats.units import MINUTE_US, Units, block_half

T = TypeVar("T")

__all__ = [
    "coded_evidence",
    "edges_from_evidence",
    "incidence",
    "is_candidate",
    "key_evidence",
    "pair_partitions",
    "single_edges",
    "unit_evidence",
]


def pair_partitions(
    units: Units, *, budget: Budget, work: WorkDir, then: Callable[[PairPartition], T]
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

    Yields
    ------
    object
        What ``then`` returned, partition by partition in code order.

    Notes
    -----
    Cost ``O(n log n + P)`` for ``n`` actions and ``P`` in-window pairs; memory: the
    coded actions plus the engine's budgeted tasks, never all pairs. Signals sharing a
    window run in one pass of the engine.
    """
    coded = units.coded
    k = coded["k"].to_numpy()
    a = coded["a"].to_numpy()
    t = coded["t"].to_numpy()
    s = units.key_sig[k]
    w_act = units.w_unit[k]
    enumerated = ~units.crowded[k]  # a crowded unit's pairs are not enumerated
    groups = [int(w) for w in np.unique(w_act[enumerated])]
    masks: list[npt.NDArray[np.bool_] | None] = (
        [None]
        if len(groups) == 1 and enumerated.all()
        else [(w_act == w) & enumerated for w in groups]
    )
    n_pairs = sum(
        count_band_pairs(k if m is None else k[m], t if m is None else t[m], w)
        for m, w in zip(masks, groups, strict=True)
    )
    engine = LocalPairEngine(n_accounts=units.n_accounts, n_pairs=n_pairs, budget=budget, work=work)
    for m, w in zip(masks, groups, strict=True):
        if m is None:
            engine.add(k, a, t, s, window=w)
        else:
            pos = np.flatnonzero(m).astype(np.int64)
            engine.add(k[m], a[m], t[m], s[m], pos, window=w)
    del k, a, t, s, w_act, masks
    yield from engine.reduce_each(then)


def is_candidate() -> pl.Expr:
    """Whether a pair (:data:`~coordscope.engine.partitioned.PAIR_SCHEMA`) is a candidate.

    A candidate co-acted in more units than it has signals: two co-acted units of one
    signal (a retweet co-acted on gives one share, one link and one hashtag unit: one
    piece of evidence, not three). Only candidates can reach ``p < 1``.
    """
    return pl.col("n_keys") > pl.col("sig").bitwise_count_ones().cast(pl.Int64)


def single_edges(pairs: pl.DataFrame, units: Units) -> pl.DataFrame:
    """Build the edge rows of pairs that are not candidates (untested: ``p = q = 1``).

    Parameters
    ----------
    pairs : polars.DataFrame
        :data:`~coordscope.engine.partitioned.PAIR_SCHEMA` rows (codes of ``units``).
    units : Units
        Gives the account ids and the signal names.

    Returns
    -------
    polars.DataFrame
        :data:`~coordscope.schema.EDGE_SCHEMA`, the significance columns of an untested
        pair and ``_pid`` (``lo·(A + 1) + hi``), in the order of ``pairs``.
    """
    ids = units.actor_codes["actor_id"]  # row i holds code i
    n_acc = units.n_accounts
    return pairs.select(
        *edge_columns(pairs, ids, units.signals),
        pl.lit(None, dtype=pl.Float64).alias("expected"),
        pl.lit(1.0).alias("pvalue"),
        pl.lit(1.0).alias("qvalue"),
        pl.lit(False).alias("significant"),
        pl.lit("", dtype=pl.String).alias("evidence"),
        (pl.col("lo") * (n_acc + 1) + pl.col("hi")).alias("_pid"),
    )


def unit_evidence(keyed: pl.DataFrame, actions: pl.DataFrame, units: Units) -> pl.DataFrame:
    """Turn (pair, unit) rows with their closest co-action into unit-level evidence.

    Parameters
    ----------
    keyed : polars.DataFrame
        :data:`~coordscope.engine.partitioned.KEYED_SCHEMA` rows of :func:`pair_partitions`
        (``ra``, ``rb``: positions in ``units.coded`` of the ``lo`` and ``hi`` account's
        action).
    actions : polars.DataFrame
        ``signal, key, actor_id, ts, event_id`` of every action (``units.coded["row"]``
        indexes it).
    units : Units
        The coded actions and their units.

    Returns
    -------
    polars.DataFrame
        :data:`~coordscope.schema.EVIDENCE_SCHEMA` with the original keys, plus ``unit``:
        one row per pair, signal and unit, sorted by pair, signal and unit.

    Notes
    -----
    Cost ``O(R log R)`` for ``R`` rows: gathers and one sort.
    """
    if keyed.height == 0:
        return pl.DataFrame(schema={**EVIDENCE_SCHEMA, "unit": pl.Int64()})
    keyed = keyed.sort(["lo", "hi", "s", "k"])
    row = units.coded["row"]
    row_a = row.gather(keyed["ra"])
    row_b = row.gather(keyed["rb"])
    ids = units.actor_codes["actor_id"]
    names = pl.Series("signal", units.signals, dtype=pl.String)
    unit_keys = actions["key"].gather(units.table["row0"].gather(keyed["k"]))
    return pl.DataFrame(
        {
            "actor_a": ids.gather(keyed["lo"]),
            "actor_b": ids.gather(keyed["hi"]),
            "signal": names.gather(keyed["s"]),
            "key": unit_keys,
            "n_coactions": keyed["n"].cast(pl.UInt32),
            "dt": keyed["dt"] * SECONDS_PER_US,
            "event_a": actions["event_id"].gather(row_a),
            "event_b": actions["event_id"].gather(row_b),
            "ts_a": actions["ts"].gather(row_a),
            "ts_b": actions["ts"].gather(row_b),
            "unit": keyed["k"],
        }
    )


def key_evidence(unit_ev: pl.DataFrame) -> pl.DataFrame:
    """Reduce unit-level evidence to one row per (pair, signal, key).

    Parameters
    ----------
    unit_ev : polars.DataFrame
        :data:`~coordscope.schema.EVIDENCE_SCHEMA` plus ``unit`` (:func:`unit_evidence`).

    Returns
    -------
    polars.DataFrame
        :data:`~coordscope.schema.EVIDENCE_SCHEMA`: per key, the co-actions summed over
        its units and the events of the unit with the closest co-action (ties: the
        lowest unit code), sorted by pair, signal and key.
    """
    return (
        unit_ev.sort(["actor_a", "actor_b", "signal", "key", "dt", "unit"])
        .group_by(["actor_a", "actor_b", "signal", "key"], maintain_order=True)
        .agg(
            pl.col("n_coactions").sum(),
            *(pl.col(c).first() for c in ("dt", "event_a", "event_b", "ts_a", "ts_b")),
        )
        .select(list(EVIDENCE_SCHEMA))
        .cast(EVIDENCE_SCHEMA)  # type: ignore[arg-type]
    )


def incidence(units: Units) -> pl.DataFrame:
    """Tabulate the actions of every account on every unsaturated unit.

    Parameters
    ----------
    units : Units
        The units and their statistics.

    Returns
    -------
    polars.DataFrame
        ``a, k, m, s`` (Int64): ``m`` actions of account ``a`` on unit ``k`` of signal
        ``s``, for the unsaturated units; from the (unit, account) counts of
        :func:`coordscope.stats.null.key_stats`, sorted by ``(k, a)``.

    Notes
    -----
    Cost ``O(rows)``.
    """
    ks = units.ks
    keep_units = ~units.saturated
    sel = keep_units[ks.inc_k]
    k = ks.inc_k[sel]
    return pl.DataFrame(
        {"a": ks.inc_a[sel], "k": k, "m": ks.inc_m[sel], "s": units.key_sig[k]},
        schema={"a": pl.Int64, "k": pl.Int64, "m": pl.Int64, "s": pl.Int64},
    )


def coded_evidence(
    evidence: pl.DataFrame, units: Units, scheduled: npt.NDArray[np.bool_]
) -> pl.DataFrame:
    """Code the unit-level evidence for the tests.

    A pair of events is counted once across signals (a retweet carries the original's
    links and hashtags): only the first row of each (pair, event pair) is kept.

    Parameters
    ----------
    evidence : polars.DataFrame
        Unit-level evidence (:func:`unit_evidence`).
    units : Units
        Gives the account codes, the signal order and the seed of the split.
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
    sig_index = {s: i for i, s in enumerate(units.signals)}
    seed = units.seed
    ev = (
        evidence.unique(
            subset=["actor_a", "actor_b", "event_a", "event_b"], keep="first", maintain_order=True
        )
        .with_columns(
            pl.col("ts_a").dt.epoch("us").alias("_ta"), pl.col("ts_b").dt.epoch("us").alias("_tb")
        )
        .select(
            "actor_a",
            "actor_b",
            "signal",
            pl.col("unit").alias("key"),
            pl.when(block_half("_ta", seed=seed) == block_half("_tb", seed=seed))
            .then(block_half("_ta", seed=seed))
            .otherwise(pl.lit(-1, dtype=pl.Int8))
            .alias("h"),
            (
                (pl.col("ts_a").dt.epoch("us") % MINUTE_US == 0)
                & (pl.col("ts_b").dt.epoch("us") % MINUTE_US == 0)
            ).alias("grid"),
        )
        .join(units.ids.rename({"actor_id": "actor_a"}), on="actor_a", how="left")
        .join(units.ids.rename({"actor_id": "actor_b", "a": "b"}), on="actor_b", how="left")
    )
    sched = pl.lit(pl.Series("sched", scheduled))
    return ev.select(
        "a",
        "b",
        pl.col("signal").replace_strict(sig_index, return_dtype=pl.Int64).alias("s"),
        "key",
        "h",
        (pl.col("grid") & sched.gather(pl.col("a")) & sched.gather(pl.col("b"))).alias("clock"),
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
            pl.col("n_coactions").sum(),
            pl.col("dt").min().alias("min_dt"),
            pl.col("dt").median().alias("median_dt"),
            pl.min_horizontal(pl.col("ts_a").min(), pl.col("ts_b").min()).alias("first_ts"),
            pl.max_horizontal(pl.col("ts_a").max(), pl.col("ts_b").max()).alias("last_ts"),
            pl.col("signal").unique().sort().alias("signals"),
        )
        .select(list(EDGE_SCHEMA))
        .cast(EDGE_SCHEMA)  # type: ignore[arg-type]
    )
