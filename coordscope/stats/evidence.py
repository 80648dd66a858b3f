"""Co-action evidence of account pairs, counted by unit in two kernel passes.

Only pairs with two co-acted units of one signal can be tested (one co-action is never
evidence), so every pair is first counted without evidence — the kernel's fast path,
with the unit code as key — and the per-(pair, unit) evidence is built in a second pass
for those candidate pairs only (:func:`co_actions`). A pair with as many co-acted units
as signals had one per signal (a retweet carries a share, a link and a hashtag: one
occasion, three units) and is not a candidate.

The module also turns the evidence into the tables the tests read: key-level evidence
(:func:`key_evidence`, the published one), the (unit, account) incidence
(:func:`incidence`) and the evidence as integer codes with its half of the split and
whether it is a clock co-action (:func:`coded_evidence`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from coordscope.budget import Budget
from coordscope.engine.kernel import count_band_pairs
from coordscope.engine.native import native_pairs
from coordscope.engine.partitioned import PAIR_BYTES, LocalPairEngine
from coordscope.parts import WorkDir
from coordscope.schema import EDGE_SCHEMA, EVIDENCE_SCHEMA, SECONDS_PER_US
from coordscope.stats.units import MINUTE_US, Units, block_half

__all__ = ["PairCount", "co_actions", "coded_evidence", "count_pairs", "incidence", "key_evidence"]


@dataclass
class PairCount:
    """What the first, counting pass over every pair gives.

    Attributes
    ----------
    single : list of Path
        Pieces (Parquet files, in pair-code order) of the edges that are not candidates:
        :data:`~coordscope.schema.EDGE_SCHEMA`, then the significance columns of an
        untested pair (``pvalue = qvalue = 1``), then ``_pid`` (the pair code
        ``a·(A + 1) + b``, sorted within and across pieces).
    piece_of : callable
        The piece index of a pair from its first account code (an expression).
    candidates : polars.DataFrame
        ``actor_a, actor_b`` of the candidate pairs (two co-acted units of one signal).
    n_edges : int
        Every pair that co-acted.
    n_testable : int
        Non-candidate pairs whose two accounts each acted in two or more units (they
        count as hypotheses for Benjamini–Hochberg; Tarone 1990).
    """

    single: list[Path]
    piece_of: Callable[[pl.Expr], pl.Expr]
    candidates: pl.DataFrame
    n_edges: int
    n_testable: int


def count_pairs(
    units: Units,
    win: dict[str, float],
    *,
    testable: npt.NDArray[np.bool_],
    budget: Budget,
    work: WorkDir,
) -> PairCount:
    """Pass 1: count every co-acting pair by unit, spill the non-candidates, keep the rest.

    Runs the partitioned engine (:class:`coordscope.engine.partitioned.LocalPairEngine`)
    over the coded actions of unsaturated units, with the unit code as key: partition
    tasks give partial aggregates per (pair, unit), pair partitions reduce them to one
    row per pair. A pair is a *candidate* when it co-acted in more units than it has
    signals (two co-acted units of one signal; a retweet co-acted on gives one share,
    one link and one hashtag unit: one piece of evidence, not three); candidates are kept
    in memory, every other pair is written to the pieces of :attr:`PairCount.single`.

    Parameters
    ----------
    units : Units
        The coded actions (sorted by unit and time).
    win : dict of str to float
        The window ``W`` of every signal, in seconds (inclusive). Signals sharing a
        window run in one pass of the engine.
    testable : ndarray of bool
        Per account code: whether it acted in two or more unsaturated units.
    budget : Budget
        Memory and workers of the engine.
    work : WorkDir
        Where partials and pieces are spilled.

    Returns
    -------
    PairCount

    Notes
    -----
    Cost ``O(n log n + P)`` for ``n`` actions and ``P`` in-window pairs; memory: the
    coded actions plus the engine's budgeted tasks, never all pairs.
    """
    coded = units.coded
    k = coded["k"].to_numpy()
    a = coded["a"].to_numpy()
    t = coded["t"].to_numpy()
    s = units.key_sig[k]
    w_act = units.w_unit[k]
    groups = [int(w) for w in np.unique(w_act)]
    masks = [w_act == w for w in groups] if len(groups) > 1 else [None]
    n_pairs = sum(
        count_band_pairs(k if m is None else k[m], t if m is None else t[m], w)
        for m, w in zip(masks, groups, strict=True)
    )
    n_acc = units.n_accounts
    engine = LocalPairEngine(n_accounts=n_acc, n_pairs=n_pairs, budget=budget, work=work)
    for m, w in zip(masks, groups, strict=True):
        if m is None:
            engine.add(k, a, t, s, window=w)
        else:
            engine.add(k[m], a[m], t[m], s[m], window=w)
    del k, a, t, s, w_act, masks
    ids = units.actor_codes["actor_id"]  # row i holds code i
    names = units.signals
    to_ts = pl.Datetime("us", "UTC")
    signals = pl.concat_list(
        [
            pl.when((pl.col("sig") & (1 << i)) != 0).then(pl.lit(name))
            for i, name in enumerate(names)
        ]
    ).list.drop_nulls()
    pieces: list[Path] = []
    cands: list[pl.DataFrame] = []
    n_edges = n_testable = 0
    for q, pairs in engine.reduce():
        n_edges += pairs.height
        several = pl.col("n_keys") > pl.col("sig").bitwise_count_ones().cast(pl.Int64)
        cands.append(pairs.filter(several).select("lo", "hi"))
        rest = pairs.filter(~several)
        lo = rest["lo"].to_numpy()
        hi = rest["hi"].to_numpy()
        n_testable += int((testable[lo] & testable[hi]).sum())
        piece = rest.select(
            ids.gather(lo).alias("actor_a"),
            ids.gather(hi).alias("actor_b"),
            pl.col("n_keys").cast(pl.UInt32),
            pl.col("n_co").cast(pl.UInt64).alias("n_coactions"),
            pl.col("min_dt").cast(pl.Float64) * SECONDS_PER_US,
            pl.col("median_dt") * SECONDS_PER_US,
            pl.col("first_ts").cast(pl.Datetime("us")).dt.replace_time_zone("UTC").cast(to_ts),
            pl.col("last_ts").cast(pl.Datetime("us")).dt.replace_time_zone("UTC").cast(to_ts),
            signals.alias("signals"),
            pl.lit(None, dtype=pl.Float64).alias("expected"),
            pl.lit(1.0).alias("pvalue"),
            pl.lit(1.0).alias("qvalue"),
            pl.lit(False).alias("significant"),
            pl.lit("", dtype=pl.String).alias("evidence"),
            (pl.col("lo") * (n_acc + 1) + pl.col("hi")).alias("_pid"),
        )
        path = work.file(f"single-q{q:05d}")
        piece.write_parquet(path, compression="lz4", statistics=False)
        pieces.append(path)
        del pairs, rest, piece
    cand = pl.concat(cands)
    candidates = pl.DataFrame(
        {"actor_a": ids.gather(cand["lo"]), "actor_b": ids.gather(cand["hi"])},
        schema={"actor_a": pl.String, "actor_b": pl.String},
    )
    return PairCount(pieces, engine.bucket_of, candidates, n_edges, n_testable)


def co_actions(
    actions: pl.DataFrame,
    units: Units,
    win: dict[str, float],
    *,
    testable: npt.NDArray[np.bool_],
    budget: Budget,
    work: WorkDir,
) -> tuple[PairCount, pl.DataFrame, pl.DataFrame]:
    """Count every co-acting pair, and build unit-level evidence for the candidate pairs.

    Pass 1 (:func:`count_pairs`) counts every pair's co-acted units without evidence and
    spills the pairs that cannot be tested. Only pairs with two co-acted units of one
    signal can be evidence (one co-action never is), so pass 2 builds evidence for the
    candidate pairs only: over the actions of candidate accounts on units where at least
    two candidate accounts acted (a candidate pair's co-actions all lie there), keeping
    the rows of those pairs. Candidate pairs get key-level edge columns from the evidence
    (``n_keys`` distinct keys, ``median_dt`` over keys of the closest Δt).

    Parameters
    ----------
    actions : polars.DataFrame
        ``signal, key, actor_id, ts, event_id, event`` of every action, in the order
        :func:`coordscope.stats.units.code_units` saw them.
    units : Units
        The coded actions; actions of saturated units take part in neither pass.
    win : dict of str to float
        The window ``W`` of every signal, in seconds (inclusive).
    testable : ndarray of bool
        Per account code: whether it acted in two or more unsaturated units.
    budget : Budget
        Memory and workers.
    work : WorkDir
        Where pass 1 spills.

    Returns
    -------
    count : PairCount
        Pass 1: the non-candidate edges (spilled) and the candidate pairs.
    cand_edges : polars.DataFrame
        :data:`~coordscope.schema.EDGE_SCHEMA` rows of the candidate pairs.
    evidence : polars.DataFrame
        :data:`~coordscope.schema.EVIDENCE_SCHEMA` with the original keys, plus ``unit``:
        one row per candidate pair, signal and unit, sorted by pair, signal and unit.

    Notes
    -----
    Cost: two kernel passes, ``O(n log n + P)`` for ``n`` actions and ``P`` in-window
    pairs, the second only over the candidate accounts' actions on shared units.
    """
    count = count_pairs(units, win, testable=testable, budget=budget, work=work)
    cand = count.candidates
    empty_ev = pl.DataFrame(schema={**EVIDENCE_SCHEMA, "unit": pl.Int64()})
    if cand.height == 0:
        return count, pl.DataFrame(schema=EDGE_SCHEMA), empty_ev
    base = actions.select("signal", "actor_id", "ts", "event_id", "event")
    coded = units.coded
    unit_key = np.full(actions.height, -1, dtype=np.int64)
    unit_key[coded["row"].to_numpy()] = coded["k"].to_numpy()
    by_window: dict[float, list[str]] = {}
    for s, w in win.items():
        by_window.setdefault(w, []).append(s)
    # actions of candidate accounts on units with at least two candidate accounts
    cand_codes = units.actor_codes.join(
        pl.concat([cand["actor_a"], cand["actor_b"]]).unique().to_frame("actor_id"),
        on="actor_id",
        how="semi",
    )["a"].to_numpy()
    flag = np.zeros(units.n_accounts, dtype=bool)
    flag[cand_codes] = True
    mine = coded.select("k", "a", "row").filter(pl.Series(flag[coded["a"].to_numpy()]))
    shared = mine.group_by("k").agg(pl.col("a").n_unique().alias("n")).filter(pl.col("n") >= 2)
    rows = np.sort(mine.join(shared, on="k", how="semi")["row"].to_numpy())
    del mine, shared
    sub = base[rows].with_columns(pl.Series("key", unit_key[rows]))
    max_pairs = max(16, budget.task_bytes() // PAIR_BYTES)
    second: list[pl.DataFrame] = []
    for w, sigs in sorted(by_window.items()):
        part = sub if len(by_window) == 1 else sub.filter(pl.col("signal").is_in(sigs))
        res = native_pairs(
            part, window=w, max_pairs=max_pairs, partitions=budget.workers, only=cand
        )
        second.append(res.evidence.join(cand, on=["actor_a", "actor_b"], how="semi"))
    unit_ev = pl.concat(second).with_columns(pl.col("key").cast(pl.Int64).alias("unit"))
    unit_keys = actions["key"].gather(units.table["row0"])  # the original key of each unit
    unit_ev = unit_ev.with_columns(unit_keys.gather(unit_ev["unit"]).alias("key"))
    unit_ev = unit_ev.select([*EVIDENCE_SCHEMA, "unit"]).sort(
        ["actor_a", "actor_b", "signal", "unit"]
    )
    cand_edges = _edges_from_evidence(key_evidence(unit_ev))
    return count, cand_edges, unit_ev


def key_evidence(unit_ev: pl.DataFrame) -> pl.DataFrame:
    """Reduce unit-level evidence to one row per (pair, signal, key).

    Parameters
    ----------
    unit_ev : polars.DataFrame
        :data:`~coordscope.schema.EVIDENCE_SCHEMA` plus ``unit`` (:func:`co_actions`).

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
        Unit-level evidence (:func:`co_actions`).
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


def _edges_from_evidence(ev: pl.DataFrame) -> pl.DataFrame:
    """Build native edge columns from key-level evidence (one row per pair and key)."""
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
