"""The account tables of a run: nodes with activity and degree, edges with their cluster.

These turn the pair table and the cluster membership into the ``nodes.csv`` and
``edges.parquet`` that every output shares. Each is a few group-bys and joins,
``O(E + n)`` for ``E`` edges and ``n`` events.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from coordscope.errors import ParameterError
from coordscope.parts import PartedTable
from coordscope.progress import track
from coordscope.schema import (
    ACTOR_ID,
    ACTOR_NAME,
    AUDIT_EDGE_SCHEMA,
    DETECT_NODE_SCHEMA,
    NODE_SCHEMA,
    TS,
    EventFrame,
)

__all__ = [
    "NODE_PART_ROWS",
    "account_degrees",
    "degree_nodes",
    "edges_with_clusters",
    "node_table",
]

#: Events per account partition of :func:`node_table` (its default).
NODE_PART_ROWS: Final = 1 << 23
#: Seed of the account hash that cuts :func:`node_table`'s partitions.
_PART_SEED: Final = 29


def _activity(events: EventFrame) -> pl.DataFrame:
    """Per account: its first name, events, first and last event time (three columns read)."""
    return (
        events.lazy()
        .select(ACTOR_ID, ACTOR_NAME, TS)
        .group_by(ACTOR_ID)
        .agg(
            pl.col(ACTOR_NAME).drop_nulls().first().alias("actor_name"),
            pl.len().alias("n_events"),
            pl.col(TS).min().alias("first_ts"),
            pl.col(TS).max().alias("last_ts"),
        )
        .collect()
    )


def edges_with_clusters(edges: PartedTable, members: pl.DataFrame) -> PartedTable:
    """Edges with the cluster both accounts are in (null when none or different ones).

    Parameters
    ----------
    edges : PartedTable
        Native edge columns and the significance columns, in the order to keep (the
        significance stage puts tested pairs by p-value first).
    members : polars.DataFrame
        :data:`~coordscope.schema.MEMBERSHIP_SCHEMA` rows (small: clustered accounts only).

    Returns
    -------
    PartedTable
        :data:`~coordscope.schema.AUDIT_EDGE_SCHEMA`, rows in the input order; the
        column is added piece by piece as the table is read. Cost ``O(E)`` lookups in
        the membership table.
    """
    # joins, not a replace: a replace is not streamed, and would hold every edge at once
    # when the table is written (hundreds of millions of rows)
    of = members.select(ACTOR_ID, "cluster").unique(ACTOR_ID, keep="first", maintain_order=True)
    side_a = of.lazy().rename({ACTOR_ID: "actor_a", "cluster": "_ca"})
    side_b = of.lazy().rename({ACTOR_ID: "actor_b", "cluster": "_cb"})

    def add(lf: pl.LazyFrame) -> pl.LazyFrame:
        out = (
            lf.join(side_a, on="actor_a", how="left", maintain_order="left")
            .join(side_b, on="actor_b", how="left", maintain_order="left")
            .with_columns(pl.when(pl.col("_ca") == pl.col("_cb")).then("_ca").alias("cluster"))
        )
        return out.select([pl.col(c).cast(t) for c, t in AUDIT_EDGE_SCHEMA.items()])

    return edges.map(add)


def node_table(
    events: EventFrame,
    actions: pl.DataFrame | pl.LazyFrame,
    edges: PartedTable,
    members: pl.DataFrame,
    *,
    part_rows: int = NODE_PART_ROWS,
) -> pl.DataFrame:
    """One row per account of an audit: activity, degree over all and significant edges.

    Pairs are unique in ``edges``, so an account's degree is its number of rows there.

    Parameters
    ----------
    events : polars.DataFrame or polars.LazyFrame
        Canonical events.
    actions : polars.DataFrame or polars.LazyFrame
        The audited actions (``n_actions`` counts them per account), held or a scan.
    edges : PartedTable
        Edges with ``n_keys`` and ``significant``; read one piece at a time.
    members : polars.DataFrame
        :data:`~coordscope.schema.MEMBERSHIP_SCHEMA`.
    part_rows : int, default :data:`NODE_PART_ROWS`
        The accounts are taken in partitions (by a hash of the id) of about this many
        events each: the group-bys on account ids, whose memory is many times their
        rows', see one partition's accounts at a time (30 days × 1M events: 5.2 GB for
        the activity alone in one piece). The result does not depend on it.

    Returns
    -------
    polars.DataFrame
        :data:`~coordscope.schema.NODE_SCHEMA`, sorted by ``actor_id``.

    Notes
    -----
    Cost ``O(P·(n + a + E))`` reading for ``P`` partitions of ``n`` events, ``a``
    actions and ``E`` edges (filtered scans), and group-bys of one partition at a time.
    """
    if isinstance(part_rows, bool) or not isinstance(part_rows, int) or part_rows < 1:
        raise ParameterError(f"part_rows must be an integer >= 1, got {part_rows!r}")
    n_events = int(events.lazy().select(pl.len()).collect().item())
    n_parts = max(1, -(-n_events // part_rows))
    parts = []
    with track("account partitions", total=n_parts, unit="partitions") as progress:
        for p in range(n_parts):
            parts.append(_node_part(events, actions, edges, members, p, n_parts))
            progress.advance()
    out = pl.concat(parts).sort(ACTOR_ID)
    return out.select([pl.col(c).cast(t) for c, t in NODE_SCHEMA.items()])


def _node_part(
    events: EventFrame,
    actions: pl.DataFrame | pl.LazyFrame,
    edges: PartedTable,
    members: pl.DataFrame,
    p: int,
    n_parts: int,
) -> pl.DataFrame:
    """Return the node rows of the accounts of partition ``p`` of ``n_parts`` (unsorted)."""

    def mine(column: str) -> pl.Expr:
        if n_parts == 1:
            return pl.lit(True)
        return (pl.col(column).hash(seed=_PART_SEED) % n_parts) == p

    n_actions = (
        actions.lazy()
        .filter(mine(ACTOR_ID))
        .group_by(ACTOR_ID)
        .agg(pl.len().alias("n_actions"))
        .collect(engine="streaming")
    )
    sig = pl.col("significant").fill_null(False)
    degree = pl.DataFrame(
        schema={ACTOR_ID: pl.String, "degree": pl.Int64, "sig_degree": pl.Int64,
                "strength": pl.Int64}
    )  # fmt: skip
    for piece in edges.pieces:  # a running sum: memory follows accounts, not edges
        sides = [
            edges.scan(piece)
            .filter(mine(side))
            .group_by(pl.col(side).alias(ACTOR_ID))
            .agg(
                pl.len().cast(pl.Int64).alias("degree"),
                sig.sum().cast(pl.Int64).alias("sig_degree"),
                pl.col("n_keys").filter(sig).cast(pl.Int64).sum().alias("strength"),
            )
            .collect()
            for side in ("actor_a", "actor_b")
        ]
        degree = (
            pl.concat([degree, *sides])
            .group_by(ACTOR_ID)
            .agg(pl.col("degree").sum(), pl.col("sig_degree").sum(), pl.col("strength").sum())
        )
    return (
        _activity(events.lazy().filter(mine(ACTOR_ID)))
        .join(n_actions, on=ACTOR_ID, how="left")
        .join(degree, on=ACTOR_ID, how="left")
        .join(members, on=ACTOR_ID, how="left")
        .with_columns(
            pl.col("n_actions").fill_null(0),
            pl.col("degree").fill_null(0),
            pl.col("sig_degree").fill_null(0),
            pl.col("strength").fill_null(0),
            pl.col("flagged").fill_null(False),
        )
    )


def account_degrees(events: pl.DataFrame, edge_table: pl.DataFrame, a: str, b: str) -> pl.DataFrame:
    """Accounts with activity counts and degree (distinct neighbours in ``edge_table``).

    Parameters
    ----------
    events : polars.DataFrame
        Canonical events.
    edge_table : polars.DataFrame
        Any pair table: native edges, CooRTweet's network or the toolkit's directed edges.
    a, b : str
        Its two account columns (``actor_a``/``actor_b``, ``from``/``to``,
        ``user_1``/``user_2``); self-loops do not count.

    Returns
    -------
    polars.DataFrame
        :data:`~coordscope.schema.DETECT_NODE_SCHEMA`, sorted by id.
    """
    if edge_table.height:
        ends = pl.concat(
            [
                edge_table.select(pl.col(a).alias(ACTOR_ID), pl.col(b).alias("other")),
                edge_table.select(pl.col(b).alias(ACTOR_ID), pl.col(a).alias("other")),
            ]
        ).filter(pl.col(ACTOR_ID) != pl.col("other"))
        degree = ends.group_by(ACTOR_ID).agg(
            pl.col("other").n_unique().cast(DETECT_NODE_SCHEMA["degree"]).alias("degree")
        )
    else:
        degree = pl.DataFrame(schema={ACTOR_ID: pl.String, "degree": DETECT_NODE_SCHEMA["degree"]})
    return degree_nodes(events, degree)


def degree_nodes(events: EventFrame, degree: pl.DataFrame) -> pl.DataFrame:
    """Accounts with activity counts and a given degree.

    Parameters
    ----------
    events : polars.DataFrame
        Canonical events.
    degree : polars.DataFrame
        ``actor_id, degree`` of the accounts with edges (others get 0).

    Returns
    -------
    polars.DataFrame
        :data:`~coordscope.schema.DETECT_NODE_SCHEMA`, sorted by id.
    """
    return (
        _activity(events)
        .join(degree, on=ACTOR_ID, how="left")
        .with_columns(pl.col("degree").fill_null(0))
        .sort(ACTOR_ID)
        .select([pl.col(c).cast(t) for c, t in DETECT_NODE_SCHEMA.items()])
    )
