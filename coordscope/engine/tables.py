"""Native edge and evidence tables from the partitioned engine, one pair partition at a time.

:func:`pair_tables` counts the co-actions of actions of any signals — same key (the pair
``(signal, key)``), different accounts, ``|Δt| <= W`` inclusive — with
:class:`coordscope.engine.partitioned.LocalPairEngine` and writes, for every pair
partition, its edges (:data:`~coordscope.schema.EDGE_SCHEMA`) and its evidence
(:data:`~coordscope.schema.EVIDENCE_SCHEMA`: one row per pair and key, with the two events
of the closest co-action — the first in the actions' (key, time, input row) order among
equal Δt). Neither table is ever whole in memory: both are
:class:`~coordscope.parts.PartedTable` pieces on disk, in pair order (account codes follow
id order, so the pieces in order are sorted by ``actor_a, actor_b``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from coordscope.budget import Budget
from coordscope.engine.kernel import count_band_pairs
from coordscope.engine.runners import LocalRunner, Runner
from coordscope.parts import PartedTable, WorkDir
from coordscope.schema import DETECT_NODE_SCHEMA, EDGE_SCHEMA, EVIDENCE_SCHEMA, SECONDS_PER_US, US

__all__ = ["PairTables", "edge_columns", "pair_tables", "signal_lists"]


@dataclass
class PairTables:
    """What :func:`pair_tables` returns.

    Attributes
    ----------
    edges : coordscope.parts.PartedTable
        :data:`~coordscope.schema.EDGE_SCHEMA`, sorted by ``actor_a, actor_b``.
    evidence : coordscope.parts.PartedTable
        :data:`~coordscope.schema.EVIDENCE_SCHEMA`, sorted by pair, signal and key.
    degree : polars.DataFrame
        ``actor_id, degree``: the edges of every account that has one.
    """

    edges: PartedTable
    evidence: PartedTable
    degree: pl.DataFrame


@functools.cache
def signal_lists(names: tuple[str, ...]) -> pl.Series:
    """Return the signal names of every bit mask over ``names`` (index = mask), in order.

    Gathering this table by a mask column gives every row its list of signals at the cost
    of a lookup (building a list per row costs about a microsecond a row).
    """
    return pl.Series(
        "signals",
        [[n for i, n in enumerate(names) if mask >> i & 1] for mask in range(1 << len(names))],
        dtype=pl.List(pl.String),
    )


def edge_columns(
    pairs: pl.DataFrame, ids: pl.Series, names: tuple[str, ...]
) -> list[pl.Expr | pl.Series]:
    """Return the expressions that turn engine pairs into :data:`EDGE_SCHEMA` columns.

    Parameters
    ----------
    pairs : polars.DataFrame
        :data:`~coordscope.engine.partitioned.PAIR_SCHEMA` rows (times in microseconds).
    ids : polars.Series
        The account id of every account code (row ``i`` holds code ``i``).
    names : tuple of str
        The signal of every bit of ``sig``.

    Returns
    -------
    list of polars.Expr or polars.Series
        For ``pairs.select``: ids, counts, Δt in seconds, UTC times and the signal lists
        (looked up by bit mask: :func:`signal_lists`).
    """
    to_ts = pl.Datetime("us", "UTC")
    return [
        ids.gather(pairs["lo"]).alias("actor_a"),
        ids.gather(pairs["hi"]).alias("actor_b"),
        pl.col("n_keys").cast(EDGE_SCHEMA["n_keys"]),
        pl.col("n_co").cast(EDGE_SCHEMA["n_coactions"]).alias("n_coactions"),
        pl.col("min_dt").cast(pl.Float64) * SECONDS_PER_US,
        pl.col("median_dt") * SECONDS_PER_US,
        pl.col("first_ts").cast(pl.Datetime("us")).dt.replace_time_zone("UTC").cast(to_ts),
        pl.col("last_ts").cast(pl.Datetime("us")).dt.replace_time_zone("UTC").cast(to_ts),
        pl.lit(signal_lists(names)).gather(pl.col("sig")).alias("signals"),
    ]


def pair_tables(
    actions: pl.DataFrame,
    *,
    window: float,
    budget: Budget,
    work: WorkDir,
    min_edge_weight: int = 1,
    runner: Runner | None = None,
) -> PairTables:
    """Count every co-acting pair and write its edge and evidence rows in pieces.

    Parameters
    ----------
    actions : polars.DataFrame
        ``signal, key, actor_id, ts, event_id`` of every action, any order.
    window : float
        ``W`` in seconds (inclusive); time resolution one microsecond.
    budget : Budget
        Memory and workers of the engine (what the run does not hold already:
        :meth:`coordscope.budget.Budget.after`).
    work : WorkDir
        Where partials and pieces are written.
    min_edge_weight : int, default 1
        Least ``n_keys`` of an edge (and of the pairs whose evidence is kept).
    runner : Runner, optional
        Who counts the pairs (default: threads of this process); the tables do not
        depend on it.

    Returns
    -------
    PairTables

    Notes
    -----
    ``n_keys`` counts distinct keys, ``median_dt`` is the median over the pair's keys of
    each key's smallest Δt, ``first_ts``/``last_ts`` span every co-action. Cost
    ``O(n log n + P)`` for ``n`` actions and ``P`` in-window pairs; memory: the coded
    actions plus the engine's budgeted pieces.
    """
    names = tuple(sorted(actions["signal"].unique().to_list()))
    empty = PairTables(
        PartedTable.of(pl.DataFrame(schema=EDGE_SCHEMA)),
        PartedTable.of(pl.DataFrame(schema=EVIDENCE_SCHEMA)),
        pl.DataFrame(schema={"actor_id": pl.String, "degree": DETECT_NODE_SCHEMA["degree"]}),
    )
    if actions.height < 2:
        return empty
    ids = actions["actor_id"].unique().sort()
    sig = pl.col("signal").replace_strict(dict(zip(names, range(len(names)), strict=True)))
    coded = actions.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("row"),
        sig.cast(pl.Int64).alias("s"),
        pl.struct(sig, "key").rank("dense").cast(pl.Int64).alias("k"),
        pl.col("actor_id").rank("dense").cast(pl.Int64).alias("a") - 1,
        pl.col("ts").dt.epoch("us").alias("t"),
    ).sort(["k", "t", "row"])
    k = coded["k"].to_numpy()
    t = coded["t"].to_numpy()
    w = round(window * US)
    engine = (runner or LocalRunner()).pair_engine(
        n_accounts=ids.len(),
        n_pairs=count_band_pairs(k, t, w),
        budget=budget,
        work=work,
    )
    engine.add(k, coded["a"].to_numpy(), t, coded["s"].to_numpy(), window=w)
    del k, t
    row = coded["row"]
    del coded
    signal_names = pl.Series("signal", names, dtype=pl.String)
    degree = np.zeros(ids.len(), dtype=np.int64)
    edge_files: list[pl.DataFrame | Path] = []
    evidence_files: list[pl.DataFrame | Path] = []
    for part in engine.reduce():
        pairs = part.pairs.filter(pl.col("n_keys") >= min_edge_weight)
        if pairs.height == 0:
            continue
        degree += np.bincount(pairs["lo"].to_numpy(), minlength=ids.len())
        degree += np.bincount(pairs["hi"].to_numpy(), minlength=ids.len())
        edges = pairs.select(edge_columns(pairs, ids, names))
        edge_files.append(work.spill(edges, f"detect-edges-q{part.q:05d}"))
        keyed = part.keyed
        if min_edge_weight > 1:
            keyed = keyed.join(pairs.select("lo", "hi"), on=["lo", "hi"], how="semi")
        row_a = row.gather(keyed["ra"])
        row_b = row.gather(keyed["rb"])
        evidence = pl.DataFrame(
            {
                "lo": keyed["lo"],
                "hi": keyed["hi"],
                "s": keyed["s"],
                "signal": signal_names.gather(keyed["s"]),
                "key": actions["key"].gather(row_a),
                "n_coactions": keyed["n"].cast(EVIDENCE_SCHEMA["n_coactions"]),
                "dt": keyed["dt"] * SECONDS_PER_US,
                "event_a": actions["event_id"].gather(row_a),
                "event_b": actions["event_id"].gather(row_b),
                "ts_a": actions["ts"].gather(row_a),
                "ts_b": actions["ts"].gather(row_b),
            }
        ).sort(["lo", "hi", "s", "key"])
        evidence = evidence.with_columns(
            ids.gather(evidence["lo"]).alias("actor_a"), ids.gather(evidence["hi"]).alias("actor_b")
        ).select([pl.col(c).cast(d) for c, d in EVIDENCE_SCHEMA.items()])
        evidence_files.append(work.spill(evidence, f"detect-evidence-q{part.q:05d}"))
        del pairs, edges, keyed, evidence, row_a, row_b
    if not edge_files:
        return empty
    has = np.flatnonzero(degree)
    return PairTables(
        PartedTable(edge_files, EDGE_SCHEMA, owner=work),
        PartedTable(evidence_files, EVIDENCE_SCHEMA, owner=work),
        pl.DataFrame(
            {"actor_id": ids.gather(has), "degree": degree[has]},
            schema={"actor_id": pl.String, "degree": DETECT_NODE_SCHEMA["degree"]},
        ),
    )
