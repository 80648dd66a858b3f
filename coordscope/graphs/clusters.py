"""Cluster tables: what a group of accounts did together, and the evidence behind it.

A cluster is a candidate group of the significance stage (communities of the pair graph,
tested as a group, :mod:`coordscope.stats.significance`). This module adds what an
analyst reads: size, density, the keys the members pushed together, the signals that
agree, how close in time they acted, and CooRnet's component summary measures
(Giglietto et al. 2020, "It takes a village to manipulate the media", *Information,
Communication & Society* 23(6)): mean strength and degree, the share of the members'
actions that were coordinated, and how concentrated their links are on few domains (Gini).
"""

from __future__ import annotations

import polars as pl

from coordscope.results import AuditTables
from coordscope.schema import (
    ACTOR_ID,
    ACTOR_NAME,
    CLUSTER_SCHEMA,
    EVENT_ID,
    TEXT,
    TS,
    URLS,
    EventFrame,
)
from coordscope.signals.exact import registrable_domain

__all__ = ["cluster_evidence", "describe_clusters", "gini", "membership"]

#: Keys listed per cluster in ``top_keys``; domains in ``top_domains``.
TOP_KEYS = 10
TOP_DOMAINS = 5


def membership(clusters: pl.DataFrame) -> pl.DataFrame:
    """One row per account: the first cluster (by table order) it is a member of.

    Parameters
    ----------
    clusters : polars.DataFrame
        Columns ``cluster`` (Int64), ``members`` (List(String)) and ``significant``.

    Returns
    -------
    polars.DataFrame
        ``actor_id, cluster, flagged`` (``flagged`` = member of any significant cluster),
        sorted by ``actor_id``. Cost ``O(M log M)`` for ``M`` memberships.

    Examples
    --------
    ``b`` is in both clusters: it keeps the first, and is flagged because the second is
    significant:

    >>> clusters = pl.DataFrame(
    ...     {"cluster": [1, 2], "members": [["a", "b"], ["b", "c"]], "significant": [False, True]}
    ... )
    >>> membership(clusters).rows()
    [('a', 1, False), ('b', 1, True), ('c', 2, True)]
    """
    long = clusters.select(
        "cluster", pl.col("significant").fill_null(False), pl.col("members").alias(ACTOR_ID)
    ).explode(ACTOR_ID)
    return (
        long.with_row_index("_order")
        .group_by(ACTOR_ID)
        .agg(
            pl.col("cluster").sort_by("_order").first(),
            pl.col("significant").any().alias("flagged"),
        )
        .sort(ACTOR_ID)
    )


def _long(groups: pl.DataFrame) -> pl.DataFrame:
    return (
        groups.select(pl.col("cluster"), pl.col("members").alias(ACTOR_ID))
        .explode(ACTOR_ID)
        .drop_nulls()
        .unique()
    )


def _inside(table: pl.DataFrame, long: pl.DataFrame, a: str, b: str) -> pl.DataFrame:
    """Rows of a pair table whose two accounts are members of the same cluster (with it)."""
    return table.join(long.rename({ACTOR_ID: a}), on=a, how="inner").join(
        long.rename({ACTOR_ID: b}), on=[b, "cluster"], how="inner"
    )


def gini(counts: pl.Expr, *, by: str) -> pl.Expr:
    """Gini index of non-negative ``counts`` within each ``by`` group (an aggregation).

    ``G = 2·Σ i·x_(i) / (n·Σ x) − (n + 1) / n`` with ``x`` sorted ascending and ``i``
    from 1; 0 when all counts are equal or ``n = 1``, approaching 1 when one value holds
    everything. Use inside ``group_by(by).agg(...)``.

    Examples
    --------
    Equal counts give 0; with two values, one holding everything gives ``(n - 1) / n``:

    >>> df = pl.DataFrame({"cluster": [1, 1, 2, 2], "n": [3, 3, 0, 4]})
    >>> df.group_by("cluster").agg(gini(pl.col("n"), by="cluster")).sort("cluster").rows()
    [(1, 0.0), (2, 0.5)]
    """
    _ = by
    x = counts.sort().cast(pl.Float64)
    n = x.len().cast(pl.Float64)
    i = pl.int_range(1, x.len() + 1, dtype=pl.Int64).cast(pl.Float64)
    return 2.0 * (i * x).sum() / (n * x.sum()) - (n + 1.0) / n


def describe_clusters(
    groups: pl.DataFrame,
    *,
    edges: pl.DataFrame,
    evidence: pl.DataFrame,
    actions: pl.DataFrame | pl.LazyFrame,
    events: EventFrame,
) -> pl.DataFrame:
    """Descriptive columns of candidate groups (:data:`CLUSTER_SCHEMA`, ``score`` null).

    Parameters
    ----------
    groups : polars.DataFrame
        ``group`` (Int64), ``members`` (List(String)), ``statistic``, ``expected``,
        ``pvalue``, ``qvalue``, ``significant`` — the significance stage's group tests.
    edges : polars.DataFrame
        Pair table with ``actor_a, actor_b, n_keys, significant``.
    evidence : polars.DataFrame
        Evidence rows (``actor_a, actor_b, signal, key, dt, ts_a, ts_b``).
    actions : polars.DataFrame or polars.LazyFrame
        The audited actions (``signal, key, actor_id``), held or a scan.
    events : polars.DataFrame or polars.LazyFrame
        Canonical events (for the members' link domains).

    Returns
    -------
    polars.DataFrame
        One row per group, in the order of ``groups``; ``cluster`` = the group id.

    Notes
    -----
    - ``n_edges``, ``density``, ``mean_strength``, ``mean_degree`` count **significant**
      edges between members; ``n_keys``, ``top_keys``, ``signals``, ``median_dt`` (seconds),
      ``first_ts``, ``last_ts`` read the evidence of **every** pair of members (a group of
      rotating accounts is made of weak pairs).
    - ``coordinated_share``: the members' actions on keys that at least one pair of
      members co-acted on, over all the members' actions (CooRnet's share of coordinated
      shares).
    - ``domain_gini`` and ``top_domains`` count the registrable domains of the members'
      URLs (null / empty when they posted none).

    Cost ``O((E + R + A + U) log)`` for ``E`` edges, ``R`` evidence rows, ``A`` actions and
    ``U`` URLs, by joins and group-bys.
    """
    base = groups.select(
        pl.col("group").cast(pl.Int64).alias("cluster"),
        pl.col("members").list.unique().list.sort(),
        *(pl.col(c).cast(CLUSTER_SCHEMA[c]) for c in ("statistic", "expected", "pvalue")),
        pl.col("qvalue").cast(pl.Float64),
        pl.col("significant").cast(pl.Boolean).fill_null(False),
    ).with_columns(pl.col("members").list.len().cast(CLUSTER_SCHEMA["size"]).alias("size"))
    long = _long(base)

    sig_edges = edges.filter(pl.col("significant").fill_null(False)).select(
        "actor_a", "actor_b", "n_keys"
    )
    inner = _inside(sig_edges, long, "actor_a", "actor_b")
    edge_stats = inner.group_by("cluster").agg(
        pl.len().cast(CLUSTER_SCHEMA["n_edges"]).alias("n_edges"),
        pl.col("n_keys").cast(pl.Float64).sum().alias("_strength"),
    )

    ev = _inside(
        evidence.select("actor_a", "actor_b", "signal", "key", "dt", "ts_a", "ts_b"),
        long,
        "actor_a",
        "actor_b",
    )
    ev_stats = ev.group_by("cluster").agg(
        pl.struct("signal", "key").n_unique().cast(CLUSTER_SCHEMA["n_keys"]).alias("n_keys"),
        pl.col("signal").unique().sort().alias("signals"),
        pl.col("dt").median().alias("median_dt"),
        pl.min_horizontal(pl.col("ts_a").min(), pl.col("ts_b").min()).alias("first_ts"),
        pl.max_horizontal(pl.col("ts_a").max(), pl.col("ts_b").max()).alias("last_ts"),
    )
    top = (
        ev.group_by("cluster", "signal", "key")
        .agg(pl.len().alias("_pairs"))
        .sort(["cluster", "_pairs", "signal", "key"], descending=[False, True, False, False])
        .group_by("cluster", maintain_order=True)
        .agg(pl.col("key").head(TOP_KEYS).alias("top_keys"))
    )

    cluster_keys = ev.select("cluster", "signal", "key").unique()
    member_actions = (  # a scan of the actions is read three columns at a time, members only
        actions.lazy()
        .select(ACTOR_ID, "signal", "key")
        .join(long.lazy(), on=ACTOR_ID)
        .collect(engine="streaming")
    )
    share = (
        member_actions.join(
            cluster_keys.with_columns(pl.lit(True).alias("_co")),
            on=["cluster", "signal", "key"],
            how="left",
        )
        .group_by("cluster")
        .agg((pl.col("_co").fill_null(False).sum() / pl.len()).alias("coordinated_share"))
    )

    domains = (  # a lazy table of events is read two columns at a time, members only
        events.lazy()
        .select(ACTOR_ID, URLS)
        .join(long.lazy(), on=ACTOR_ID)
        .explode(URLS)
        .drop_nulls(URLS)
        .select("cluster", registrable_domain(pl.col(URLS)).alias("_domain"))
        .drop_nulls("_domain")
        .group_by("cluster", "_domain")
        .agg(pl.len().alias("_n"))
        .collect()
    )
    domain_stats = (
        domains.sort(["cluster", "_n", "_domain"], descending=[False, True, False])
        .group_by("cluster", maintain_order=True)
        .agg(
            gini(pl.col("_n"), by="cluster").alias("domain_gini"),
            pl.col("_domain").head(TOP_DOMAINS).alias("top_domains"),
        )
    )

    out = (
        base.join(edge_stats, on="cluster", how="left", maintain_order="left")
        .join(ev_stats, on="cluster", how="left", maintain_order="left")
        .join(top, on="cluster", how="left", maintain_order="left")
        .join(share, on="cluster", how="left", maintain_order="left")
        .join(domain_stats, on="cluster", how="left", maintain_order="left")
    )
    size = pl.col("size").cast(pl.Float64)
    n_edges = pl.col("n_edges").fill_null(0)
    out = out.with_columns(
        n_edges,
        pl.col("n_keys").fill_null(0),
        pl.col("signals").fill_null([]),
        pl.col("top_keys").fill_null([]),
        pl.col("top_domains").fill_null([]),
        pl.col("coordinated_share").fill_null(0.0),
        pl.when(size > 1)
        .then(n_edges.cast(pl.Float64) / (size * (size - 1.0) / 2.0))
        .otherwise(0.0)
        .alias("density"),
        pl.when(size > 0)
        .then(2.0 * pl.col("_strength").fill_null(0.0) / size)
        .otherwise(0.0)
        .alias("mean_strength"),
        pl.when(size > 0)
        .then(2.0 * n_edges.cast(pl.Float64) / size)
        .otherwise(0.0)
        .alias("mean_degree"),
        pl.lit(None, dtype=pl.Float64).alias("score"),
        pl.lit(None, dtype=pl.String).alias("campaign"),  # given once ranked
    )
    return out.select([pl.col(c).cast(t) for c, t in CLUSTER_SCHEMA.items()])


def cluster_evidence(result: AuditTables, cluster: int) -> pl.DataFrame:
    """Return the timestamped events behind one cluster.

    (What :meth:`coordscope.outputs.AuditResult.cluster_evidence` returns.)

    With the audited actions at hand: every action of a member on a key that two members
    co-acted on (the whole lockstep, not only each pair's closest co-action); otherwise
    the two events of each evidence row between members.
    """
    schema = {
        "signal": pl.String(),
        "key": pl.String(),
        ACTOR_ID: pl.String(),
        ACTOR_NAME: pl.String(),
        TS: result.events.collect_schema().get(TS, pl.Datetime("us", "UTC")),
        EVENT_ID: pl.String(),
        TEXT: pl.String(),
    }
    row = result.clusters.filter(pl.col("cluster") == cluster)
    if row.height == 0:
        return pl.DataFrame(schema=schema)
    long = _long(row.select("cluster", "members"))
    ev = _inside(result.member_coactions, long, "actor_a", "actor_b")
    if result.actions is not None:
        keys = ev.select("signal", "key").unique()
        rows = (
            result.actions.lazy()
            .join(long.select(ACTOR_ID).lazy(), on=ACTOR_ID)
            .join(keys.lazy(), on=["signal", "key"], how="semi")
            .select("signal", "key", ACTOR_ID, TS, EVENT_ID)
            .collect(engine="streaming")
        )
    else:
        rows = pl.concat(
            [
                ev.select(
                    "signal",
                    "key",
                    pl.col("actor_a").alias(ACTOR_ID),
                    pl.col("ts_a").alias(TS),
                    pl.col("event_a").alias(EVENT_ID),
                ),
                ev.select(
                    "signal",
                    "key",
                    pl.col("actor_b").alias(ACTOR_ID),
                    pl.col("ts_b").alias(TS),
                    pl.col("event_b").alias(EVENT_ID),
                ),
            ]
        )
    rows = rows.unique(subset=["signal", "key", ACTOR_ID, EVENT_ID, TS])
    info = (
        result.events.lazy()
        .select(EVENT_ID, ACTOR_ID, ACTOR_NAME, TEXT)
        .filter(pl.col(EVENT_ID).is_in(rows[EVENT_ID].unique().implode()))
        .unique(subset=[EVENT_ID, ACTOR_ID], keep="first", maintain_order=True)
        .collect()
    )
    return (
        rows.join(info, on=[EVENT_ID, ACTOR_ID], how="left")
        .select([pl.col(c).cast(t) for c, t in schema.items()])
        .sort(["signal", "key", TS, ACTOR_ID, EVENT_ID], nulls_last=True)
    )
