"""Native counting (design.md §5): undirected account pairs with their co-action evidence.

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

Work is split by key hash into partitions that run on both cores; pairs are produced by
:func:`coordscope.signals.kernel.band_pairs` in chunks of at most ``max_pairs`` and
aggregated chunk by chunk, so memory is bounded by the size of the aggregates (at most one
row per (pair, key)), never by the number of co-actions of one key.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final

import numpy as np
import polars as pl

from coordscope.errors import ParameterError
from coordscope.signals.kernel import DEFAULT_MAX_PAIRS, band_pairs

__all__ = ["EDGE_SCHEMA", "EVIDENCE_SCHEMA", "NativeResult", "native_pairs"]

EDGE_SCHEMA: Final[dict[str, pl.DataType]] = {
    "actor_a": pl.String(),
    "actor_b": pl.String(),
    "n_keys": pl.UInt32(),
    "n_coactions": pl.UInt64(),
    "min_dt": pl.Float64(),
    "median_dt": pl.Float64(),
    "first_ts": pl.Datetime("us", "UTC"),
    "last_ts": pl.Datetime("us", "UTC"),
    "signals": pl.List(pl.String()),
}

EVIDENCE_SCHEMA: Final[dict[str, pl.DataType]] = {
    "actor_a": pl.String(),
    "actor_b": pl.String(),
    "signal": pl.String(),
    "key": pl.String(),
    "n_coactions": pl.UInt32(),
    "dt": pl.Float64(),
    "event_a": pl.String(),
    "event_b": pl.String(),
    "ts_a": pl.Datetime("us", "UTC"),
    "ts_b": pl.Datetime("us", "UTC"),
}

_US: Final = 1_000_000


@dataclass
class NativeResult:
    """Edges (one row per account pair) and evidence (one row per pair and key)."""

    edges: pl.DataFrame
    evidence: pl.DataFrame


def _prepare_actions(actions: pl.DataFrame) -> pl.DataFrame:
    """Integer columns for the kernel: key code, actor code, time (µs), action row."""
    signals = sorted(actions["signal"].unique().to_list())
    sig_index = {s: i for i, s in enumerate(signals)}
    return actions.select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"),
        # key identity is (signal, key): seed the hash with the signal's index
        pl.struct(pl.col("signal"), pl.col("key")).hash().alias("k"),
        pl.col("actor_id").hash().alias("a"),
        pl.col("ts").dt.epoch("us").alias("t"),
        pl.col("signal").replace_strict(sig_index, return_dtype=pl.UInt8).alias("s"),
    )


def _check_codes(actions: pl.DataFrame, coded: pl.DataFrame) -> None:
    """64-bit hashes stand for keys and accounts; prove no two differ only by collision."""
    n_actor = actions["actor_id"].n_unique()
    if coded["a"].n_unique() != n_actor:
        raise ParameterError("internal: account id hash collision; please report this input")
    n_key = actions.select(pl.struct("signal", "key").n_unique()).item()
    if coded["k"].n_unique() != n_key:
        raise ParameterError("internal: key hash collision; please report this input")


def _partition_pairs(part: pl.DataFrame, window_us: int, max_pairs: int) -> pl.DataFrame:
    """Triples (pair, key) of one partition, aggregated over all its chunks."""
    part = part.sort(["k", "t"])
    keys = part["k"].to_numpy()
    ts = part["t"].to_numpy()
    actor = part["a"].to_numpy()
    rows = part["row"].to_numpy()
    sig = part["s"].to_numpy()
    pieces: list[pl.DataFrame] = []
    held = 0
    for i_all, j_all in band_pairs(keys, ts, window_us, max_pairs=max_pairs):
        keep = actor[i_all] != actor[j_all]
        if not keep.any():
            continue
        ii = i_all[keep]
        jj = j_all[keep]
        ai = actor[ii]
        aj = actor[jj]
        swap = ai > aj
        lo = np.where(swap, aj, ai)
        hi = np.where(swap, ai, aj)
        ri = rows[ii]
        rj = rows[jj]
        chunk = pl.DataFrame(
            {
                "lo": lo,
                "hi": hi,
                "k": keys[ii],
                "s": sig[ii],
                "dt": ts[jj] - ts[ii],
                "t0": ts[ii],
                "t1": ts[jj],
                "r_lo": np.where(swap, rj, ri),
                "r_hi": np.where(swap, ri, rj),
            }
        )
        pieces.append(_aggregate_triples(chunk, first_pass=True))
        held += pieces[-1].height
        if len(pieces) > 1 and held > max_pairs:
            pieces = [_aggregate_triples(pl.concat(pieces), first_pass=False)]
            held = pieces[0].height
    if not pieces:
        return _empty_triples()
    if len(pieces) == 1:
        return pieces[0]
    return _aggregate_triples(pl.concat(pieces), first_pass=False)


def _empty_triples() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "lo": pl.UInt64, "hi": pl.UInt64, "k": pl.UInt64, "s": pl.UInt8, "n": pl.UInt32,
            "dt": pl.Int64, "t0": pl.Int64, "t1": pl.Int64, "r_lo": pl.UInt32, "r_hi": pl.UInt32,
        }
    )  # fmt: skip


def _aggregate_triples(frame: pl.DataFrame, *, first_pass: bool) -> pl.DataFrame:
    """Group co-actions (or partial triples) by (pair, key)."""
    n = pl.len().cast(pl.UInt32) if first_pass else pl.col("n").sum()
    best = pl.col("dt").arg_min()
    return frame.group_by(["lo", "hi", "k"]).agg(
        pl.col("s").first(),
        n.alias("n"),
        pl.col("dt").min(),
        pl.col("t0").min(),
        pl.col("t1").max(),
        pl.col("r_lo").get(best),
        pl.col("r_hi").get(best),
    )


def native_pairs(
    actions: pl.DataFrame,
    *,
    window: float,
    max_pairs: int = DEFAULT_MAX_PAIRS,
    partitions: int = 2,
) -> NativeResult:
    """Native co-action counting over actions of one or more signals.

    Parameters
    ----------
    actions : polars.DataFrame
        Actions (:data:`coordscope.signals.actions.ACTION_SCHEMA`), any order.
    window : float
        ``W`` in seconds; co-actions have ``|Δt| <= W`` (inclusive). Time resolution is
        one microsecond.
    max_pairs : int
        Memory budget in co-action pairs materialised at once (≈ 100 bytes each).
    partitions : int
        Key-hash partitions, run on that many threads.

    Returns
    -------
    NativeResult
        ``edges`` (:data:`EDGE_SCHEMA`, sorted by ``actor_a, actor_b``; ``actor_a <
        actor_b``) and ``evidence`` (:data:`EVIDENCE_SCHEMA`, sorted by pair, signal, key).

    Notes
    -----
    Cost ``O(n log n + P)`` time for ``n`` actions and ``P`` in-window pairs; memory
    ``O(n + max_pairs + T)`` for ``T`` distinct (pair, key) triples.
    """
    if window < 0:
        raise ParameterError(f"window must be >= 0 seconds, got {window}")
    if partitions < 1:
        raise ParameterError(f"partitions must be >= 1, got {partitions}")
    window_us = round(window * _US)
    if actions.height == 0:
        return NativeResult(pl.DataFrame(schema=EDGE_SCHEMA), pl.DataFrame(schema=EVIDENCE_SCHEMA))
    coded = _prepare_actions(actions)
    _check_codes(actions, coded)
    if partitions == 1:
        parts = [coded]
    else:
        parts = coded.with_columns((pl.col("k") % partitions).alias("_p")).partition_by(
            "_p", include_key=False
        )
    with ThreadPoolExecutor(max_workers=min(partitions, len(parts))) as pool:
        triples = list(pool.map(lambda p: _partition_pairs(p, window_us, max_pairs), parts))
    merged = pl.concat(triples) if len(triples) > 1 else triples[0]
    return _finish(actions, merged)


def _finish(actions: pl.DataFrame, triples: pl.DataFrame) -> NativeResult:
    """Codes back to ids, pairs oriented by id, edges aggregated from triples."""
    if triples.height == 0:
        return NativeResult(pl.DataFrame(schema=EDGE_SCHEMA), pl.DataFrame(schema=EVIDENCE_SCHEMA))
    lookup = actions.select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"),
        "signal",
        "key",
        "actor_id",
        "event_id",
        "ts",
    )
    left = lookup.rename({c: f"{c}_lo" for c in ("signal", "key", "actor_id", "event_id", "ts")})
    right = lookup.select(
        pl.col("row"),
        pl.col("actor_id").alias("actor_id_hi"),
        pl.col("event_id").alias("event_id_hi"),
        pl.col("ts").alias("ts_hi"),
    )
    ev = (
        triples.lazy()
        .join(left.lazy(), left_on="r_lo", right_on="row", how="left")
        .join(right.lazy(), left_on="r_hi", right_on="row", how="left")
        .with_columns((pl.col("actor_id_lo") > pl.col("actor_id_hi")).alias("_swap"))
        .select(
            pl.when("_swap").then("actor_id_hi").otherwise("actor_id_lo").alias("actor_a"),
            pl.when("_swap").then("actor_id_lo").otherwise("actor_id_hi").alias("actor_b"),
            pl.col("signal_lo").alias("signal"),
            pl.col("key_lo").alias("key"),
            pl.col("n").cast(pl.UInt32).alias("n_coactions"),
            (pl.col("dt") / _US).alias("dt"),
            pl.when("_swap").then("event_id_hi").otherwise("event_id_lo").alias("event_a"),
            pl.when("_swap").then("event_id_lo").otherwise("event_id_hi").alias("event_b"),
            pl.when("_swap").then("ts_hi").otherwise("ts_lo").alias("ts_a"),
            pl.when("_swap").then("ts_lo").otherwise("ts_hi").alias("ts_b"),
            pl.col("t0"),
            pl.col("t1"),
        )
        .collect()
    )
    edges = (
        ev.lazy()
        .group_by(["actor_a", "actor_b"])
        .agg(
            pl.len().cast(pl.UInt32).alias("n_keys"),
            pl.col("n_coactions").sum().cast(pl.UInt64),
            pl.col("dt").min().alias("min_dt"),
            pl.col("dt").median().alias("median_dt"),
            pl.col("t0").min().alias("first_ts"),
            pl.col("t1").max().alias("last_ts"),
            pl.col("signal").unique().sort().alias("signals"),
        )
        .with_columns(
            pl.col("first_ts").cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
            pl.col("last_ts").cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
        )
        .sort(["actor_a", "actor_b"])
        .collect()
    )
    evidence = ev.drop("t0", "t1").sort(["actor_a", "actor_b", "signal", "key"])
    return NativeResult(edges.select(list(EDGE_SCHEMA)), evidence)
