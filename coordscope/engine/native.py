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

Work is split by key hash into partitions that run on both cores; pairs are produced by
:func:`coordscope.engine.kernel.band_pairs` in chunks of at most ``max_pairs`` and
aggregated chunk by chunk, so memory is bounded by the size of the aggregates (at most one
row per (pair, key)), never by the number of co-actions of one key.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final

import polars as pl

from coordscope.engine.kernel import DEFAULT_MAX_PAIRS, band_pairs
from coordscope.errors import ParameterError
from coordscope.schema import EDGE_SCHEMA, EVIDENCE_SCHEMA, SECONDS_PER_US, US

__all__ = ["NativeResult", "native_pairs"]


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


_TRIPLE_SCHEMA: Final[dict[str, pl.DataType]] = {
    "lo": pl.UInt64(), "hi": pl.UInt64(), "k": pl.UInt64(), "s": pl.UInt8(), "n": pl.UInt32(),
    "dt": pl.Int64(), "t0": pl.Int64(), "t1": pl.Int64(), "r_lo": pl.UInt32(), "r_hi": pl.UInt32(),
}  # fmt: skip


def _partition_pairs(
    part: pl.DataFrame, window_us: int, max_pairs: int, only: pl.LazyFrame | None = None
) -> pl.DataFrame:
    """Triples (pair, key) of one partition.

    The kernel gives index pairs; the columns of both actions are gathered by polars (in
    Rust, on all cores). A (pair, key) can recur only when an account acted on the key
    more than once; pairs of two single actions are triples already and skip aggregation.
    Only pairs touching a repeated (key, account) are grouped, and merged once more at
    the end (a key may span chunks). With ``only`` (``lo, hi`` account codes), every
    # chunk keeps only those pairs before anything is aggregated.
    """
    # a (key, account) seen twice marks its pairs for aggregation; the hash mix may mark
    # a few more (harmless: they are aggregated too), never fewer. Keys are whole within
    # a partition, so this is exact per partition.
    part = part.with_columns((pl.col("k") ^ (pl.col("a") * _MIX)).is_duplicated().alias("rep"))
    part = part.sort(["k", "t"])
    keys = part["k"].to_numpy()
    ts = part["t"].to_numpy()
    cols = {c: pl.lit(part[c]) for c in ("a", "k", "s", "t", "row", "rep")}
    i, j = pl.col("i"), pl.col("j")
    ai, aj = cols["a"].gather(i), cols["a"].gather(j)
    direct: list[pl.DataFrame] = []
    grouped: list[pl.DataFrame] = []
    for ii, jj in band_pairs(keys, ts, window_us, max_pairs=max_pairs):
        first = pl.col("ai") <= pl.col("aj")
        chunk_lf = (
            pl.DataFrame({"i": ii, "j": jj})
            .lazy()
            .select(
                ai=ai,
                aj=aj,
                k=cols["k"].gather(i),
                s=cols["s"].gather(i),
                ti=cols["t"].gather(i),
                tj=cols["t"].gather(j),
                ri=cols["row"].gather(i),
                rj=cols["row"].gather(j),
                rep=cols["rep"].gather(i) | cols["rep"].gather(j),
            )
            .filter(pl.col("ai") != pl.col("aj"))
            .select(
                lo=pl.min_horizontal("ai", "aj"),
                hi=pl.max_horizontal("ai", "aj"),
                k="k",
                s="s",
                n=pl.lit(1, dtype=pl.UInt32),
                dt=pl.col("tj") - pl.col("ti"),
                t0="ti",
                t1="tj",
                r_lo=pl.when(first).then("ri").otherwise("rj"),
                r_hi=pl.when(first).then("rj").otherwise("ri"),
                rep="rep",
            )
        )
        if only is not None:
            chunk_lf = chunk_lf.join(only, on=["lo", "hi"], how="semi", maintain_order="left")
        chunk = chunk_lf.collect()
        if not chunk["rep"].any():
            direct.append(chunk.drop("rep"))
            continue
        split = chunk.partition_by("rep", as_dict=True, include_key=False)
        if (False,) in split:
            direct.append(split[(False,)])
        grouped.append(_aggregate_triples(split[(True,)]))
        # partial triples of a crowded key repeat from chunk to chunk: merge them as soon
        # as they outgrow the budget, so memory follows distinct triples, not chunks
        if len(grouped) > 1 and sum(g.height for g in grouped) > max_pairs:
            grouped = [_aggregate_triples(pl.concat(grouped))]
    if len(grouped) == 1:  # one chunk: already complete
        direct.append(grouped[0])
    elif grouped:  # a key may span chunks: merge the partial triples once more
        direct.append(_aggregate_triples(pl.concat(grouped)))
    if not direct:
        return pl.DataFrame(schema=_TRIPLE_SCHEMA)
    return pl.concat(direct).select(list(_TRIPLE_SCHEMA))


def _aggregate_triples(frame: pl.DataFrame) -> pl.DataFrame:
    """Group co-actions or partial triples by (pair, key); keeps the closest co-action."""
    best = pl.col("dt").arg_min()
    return frame.group_by(["lo", "hi", "k"], maintain_order=True).agg(
        pl.col("s").first(),
        pl.col("n").sum().cast(pl.UInt32),
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
    evidence: bool = True,
    only: pl.DataFrame | None = None,
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
    evidence : bool
        Also build the evidence table (one row per pair and key, with event ids); when
        False, ``evidence`` is empty and only the edges are built.
    only : polars.DataFrame, optional
        ``actor_a, actor_b``: count only these pairs (in either order). Other pairs are
        dropped chunk by chunk, as they are produced, so memory follows these pairs.

    Returns
    -------
    NativeResult
        ``edges`` (:data:`EDGE_SCHEMA`; ``actor_a < actor_b``; pairs with one key first,
        in a fixed order — sort as needed) and ``evidence``
        (:data:`EVIDENCE_SCHEMA`, in edge order, then by the order of the actions).

    Notes
    -----
    Cost ``O(n log n + P)`` time for ``n`` actions and ``P`` in-window pairs; memory
    ``O(n + max_pairs + T)`` for ``T`` distinct (pair, key) triples. Pairs that co-acted
    on a single key become edges without grouping.
    """
    if window < 0:
        raise ParameterError(f"window must be >= 0 seconds, got {window}")
    if partitions < 1:
        raise ParameterError(f"partitions must be >= 1, got {partitions}")
    window_us = round(window * US)
    coded = _prepare_actions(actions)
    _check_codes(actions, coded)
    if coded.height == 0:
        return _empty()
    if partitions == 1:
        parts = [coded]
    else:
        parts = coded.with_columns((pl.col("k") % partitions).alias("_p")).partition_by(
            "_p", include_key=False, maintain_order=True
        )
    del coded
    keep = None if only is None else _pair_codes(only)
    with ThreadPoolExecutor(max_workers=min(partitions, len(parts))) as pool:
        triples = list(pool.map(lambda p: _partition_pairs(p, window_us, max_pairs, keep), parts))
    del parts
    merged = pl.concat(triples) if len(triples) > 1 else triples[0]
    del triples
    if merged.height == 0:
        return _empty()
    signal_names = sorted(actions["signal"].unique().to_list())
    merged = merged.with_columns((pl.col("lo") ^ (pl.col("hi") * _MIX)).alias("pair"))
    # every triple of a pair lands in the same part: the parts finish independently
    if partitions == 1:
        pair_parts = [merged]
    else:
        pair_parts = merged.with_columns((pl.col("pair") % partitions).alias("_p")).partition_by(
            "_p", include_key=False, maintain_order=True
        )
    del merged
    with ThreadPoolExecutor(max_workers=min(partitions, len(pair_parts))) as pool:
        done = list(
            pool.map(lambda t: _finish(actions, t, signal_names, evidence=evidence), pair_parts)
        )
    if len(done) == 1:
        return done[0]
    return NativeResult(pl.concat([d.edges for d in done]), pl.concat([d.evidence for d in done]))


_MIX: Final = 0x9E3779B97F4A7C15


def _pair_codes(pairs: pl.DataFrame) -> pl.LazyFrame:
    """``lo, hi``: the account hash codes (as in :func:`_prepare_actions`) of id pairs."""
    ha = pairs["actor_a"].hash(seed=0)
    hb = pairs["actor_b"].hash(seed=0)
    return (
        pl.DataFrame({"a": ha, "b": hb})
        .lazy()
        .select(lo=pl.min_horizontal("a", "b"), hi=pl.max_horizontal("a", "b"))
    )


def _empty() -> NativeResult:
    return NativeResult(pl.DataFrame(schema=EDGE_SCHEMA), pl.DataFrame(schema=EVIDENCE_SCHEMA))


def _finish(
    actions: pl.DataFrame, triples: pl.DataFrame, signal_names: list[str], *, evidence: bool
) -> NativeResult:
    """Edges from triples; ids attached by gathering the rows of the closest co-action.

    Pairs with one triple (one key) are edges as they are; only pairs with several keys are
    grouped. Account ids come from the action rows (``r_lo`` is always an action of the
    pair's ``lo`` account).
    """
    names = pl.Series("signal", signal_names, dtype=pl.String)
    several = triples["pair"].is_duplicated()
    single = triples.filter(~several).select(
        "pair",
        "r_lo",
        "r_hi",
        pl.lit(1, dtype=pl.UInt32).alias("n_keys"),
        pl.col("n").cast(pl.UInt64).alias("n_coactions"),
        pl.col("dt").cast(pl.Float64).alias("min_dt"),
        pl.col("dt").cast(pl.Float64).alias("median_dt"),
        pl.col("t0").alias("first_ts"),
        pl.col("t1").alias("last_ts"),
        pl.concat_list(pl.col("s")).alias("sig"),
    )
    multi = (
        triples.filter(several)
        .group_by("pair", maintain_order=True)
        .agg(
            pl.col("r_lo").first(),
            pl.col("r_hi").first(),
            pl.len().cast(pl.UInt32).alias("n_keys"),
            pl.col("n").sum().cast(pl.UInt64).alias("n_coactions"),
            pl.col("dt").min().cast(pl.Float64).alias("min_dt"),
            pl.col("dt").median().cast(pl.Float64).alias("median_dt"),
            pl.col("t0").min().alias("first_ts"),
            pl.col("t1").max().alias("last_ts"),
            pl.col("s").unique().sort().alias("sig"),
        )
    )
    # no ranking sort here (it would cost more than everything else on millions of
    # edges): the order is fixed by the input and the partitioning, hence deterministic
    edge_codes = pl.concat([single, multi])
    del single, multi
    actor_lo = actions["actor_id"].gather(edge_codes["r_lo"])
    actor_hi = actions["actor_id"].gather(edge_codes["r_hi"])
    swap = actor_lo > actor_hi
    to_ts = pl.Datetime("us", "UTC")
    edges = pl.DataFrame(
        {
            "actor_a": pl.select(pl.when(swap).then(actor_hi).otherwise(actor_lo)).to_series(),
            "actor_b": pl.select(pl.when(swap).then(actor_lo).otherwise(actor_hi)).to_series(),
        }
    ).with_columns(
        edge_codes["n_keys"],
        edge_codes["n_coactions"],
        edge_codes["min_dt"] * SECONDS_PER_US,
        edge_codes["median_dt"] * SECONDS_PER_US,
        edge_codes["first_ts"].cast(pl.Datetime("us")).dt.replace_time_zone("UTC").cast(to_ts),
        edge_codes["last_ts"].cast(pl.Datetime("us")).dt.replace_time_zone("UTC").cast(to_ts),
        edge_codes["sig"].list.eval(pl.element().cast(pl.UInt32)).alias("signals"),
    )
    edges = edges.with_columns(
        pl.col("signals").list.eval(pl.element().replace_strict(range(len(signal_names)), names))
    )
    if not evidence:
        return NativeResult(edges.select(list(EDGE_SCHEMA)), pl.DataFrame(schema=EVIDENCE_SCHEMA))
    rank = edge_codes.select("pair", pl.int_range(pl.len(), dtype=pl.UInt32).alias("_rank"))
    del edge_codes
    ev = triples.select("pair", "r_lo", "r_hi", "n", "dt").join(rank, on="pair", how="left")
    ev = ev.sort(["_rank", "r_lo", "r_hi"])
    r_lo = ev["r_lo"]
    r_hi = ev["r_hi"]
    a_lo = actions["actor_id"].gather(r_lo)
    a_hi = actions["actor_id"].gather(r_hi)
    sw = a_lo > a_hi

    def pick(col: str, first: bool) -> pl.Series:
        lo = actions[col].gather(r_lo)
        hi = actions[col].gather(r_hi)
        a, b = (hi, lo) if first else (lo, hi)
        return pl.select(pl.when(sw).then(a).otherwise(b)).to_series()

    table = pl.DataFrame(
        {
            "actor_a": pick("actor_id", True),
            "actor_b": pick("actor_id", False),
            "signal": actions["signal"].gather(r_lo),
            "key": actions["key"].gather(r_lo),
            "n_coactions": ev["n"],
            "dt": ev["dt"] * SECONDS_PER_US,
            "event_a": pick("event_id", True),
            "event_b": pick("event_id", False),
            "ts_a": pick("ts", True),
            "ts_b": pick("ts", False),
        }
    )
    return NativeResult(edges.select(list(EDGE_SCHEMA)), table.select(list(EVIDENCE_SCHEMA)))
