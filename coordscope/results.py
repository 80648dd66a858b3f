"""The tables of an audit run and their schemas (design.md §7, §8).

:class:`AuditResult` is what :func:`coordscope.audit` returns and what the report, the
exports and :mod:`coordscope.evaluate` read. Column names and types are fixed here, in
one place; every stage that fills a table conforms to these schemas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from coordscope.schema import TS_DTYPE
from coordscope.signals.native import EDGE_SCHEMA, EVIDENCE_SCHEMA

if TYPE_CHECKING:
    import networkx as nx

__all__ = [
    "AUDIT_EDGE_SCHEMA",
    "BURST_SCHEMA",
    "CLUSTER_SCHEMA",
    "EVIDENCE_SCHEMA",
    "NODE_SCHEMA",
    "SIGNIFICANCE_COLUMNS",
    "AuditResult",
]

#: Columns the significance stage adds to native edges (design.md §6).
SIGNIFICANCE_COLUMNS: Final[dict[str, pl.DataType]] = {
    "expected": pl.Float64(),  # expected co-acted keys under the null model
    "pvalue": pl.Float64(),  # combined pair p-value (Simes across signals)
    "qvalue": pl.Float64(),  # Benjamini–Hochberg q-value
    "significant": pl.Boolean(),  # qvalue <= alpha
    "evidence": pl.String(),  # which test(s) made the edge: "sync", "cooc", "sync+cooc", "" …
}

#: ``edges.parquet`` of an audit: native pair columns, significance columns, and the
#: cluster both accounts belong to (null when they are in different clusters or none).
AUDIT_EDGE_SCHEMA: Final[dict[str, pl.DataType]] = {
    **EDGE_SCHEMA,
    **SIGNIFICANCE_COLUMNS,
    "cluster": pl.Int64(),
}

#: ``nodes.csv``: one row per account that appears in the events.
NODE_SCHEMA: Final[dict[str, pl.DataType]] = {
    "actor_id": pl.String(),
    "actor_name": pl.String(),
    "n_events": pl.UInt32(),  # events of the account (accepted rows)
    "n_actions": pl.UInt32(),  # actions over the audited signals
    "first_ts": TS_DTYPE,
    "last_ts": TS_DTYPE,
    "degree": pl.UInt32(),  # distinct partners over all edges
    "sig_degree": pl.UInt32(),  # distinct partners over significant edges
    "strength": pl.UInt64(),  # sum of n_keys over significant edges
    "cluster": pl.Int64(),  # cluster id (rank in clusters.parquet), null = none
    "flagged": pl.Boolean(),  # member of a significant cluster
}

#: ``clusters.parquet``, ranked by ``score`` (flagged clusters first); ``cluster`` is
#: the 1-based rank.
CLUSTER_SCHEMA: Final[dict[str, pl.DataType]] = {
    "cluster": pl.Int64(),
    "members": pl.List(pl.String()),
    "size": pl.UInt32(),
    "n_edges": pl.UInt64(),  # significant edges inside the cluster
    "density": pl.Float64(),  # n_edges / (size·(size−1)/2)
    "n_keys": pl.UInt32(),  # distinct keys pushed by ≥ 2 members in a co-action
    "top_keys": pl.List(pl.String()),  # up to 10, most co-acting pairs first
    "signals": pl.List(pl.String()),  # signals with co-actions inside the cluster
    "median_dt": pl.Float64(),  # seconds, median of the closest Δt over (pair, key)
    "first_ts": TS_DTYPE,
    "last_ts": TS_DTYPE,
    "statistic": pl.Float64(),  # group test: observed co-actions on held-out keys
    "expected": pl.Float64(),  # group test: expectation under the null
    "pvalue": pl.Float64(),
    "qvalue": pl.Float64(),
    "significant": pl.Boolean(),
    "score": pl.Float64(),
    # CooRnet's component summary
    "mean_strength": pl.Float64(),  # mean over members of the summed n_keys
    "mean_degree": pl.Float64(),  # mean number of partners inside the cluster
    "coordinated_share": pl.Float64(),  # members' actions that are in a co-action / all
    "domain_gini": pl.Float64(),  # Gini index of the members' link domains (null: no links)
    "top_domains": pl.List(pl.String()),  # up to 5
}

#: ``bursts.parquet``, ranked by ``score``; ``burst`` is the 1-based rank.
BURST_SCHEMA: Final[dict[str, pl.DataType]] = {
    "burst": pl.Int64(),
    "signal": pl.String(),
    "key": pl.String(),
    "start": TS_DTYPE,
    "end": TS_DTYPE,
    "actions": pl.UInt32(),
    "actors": pl.UInt32(),
    "synchrony": pl.Float64(),
    "cluster_share": pl.Float64(),  # share of its actors in flagged clusters
    "recurrence": pl.UInt32(),  # other bursts driven by the same accounts
    "cluster": pl.Int64(),  # the cluster with most actors in the burst, null = none
    "score": pl.Float64(),
}


@dataclass
class AuditResult:
    """Everything an audit found, as polars frames.

    Attributes
    ----------
    events : polars.DataFrame
        Canonical events that were read (design.md §3).
    coactions : polars.DataFrame
        Evidence rows (:data:`EVIDENCE_SCHEMA`): one per (pair, signal, key), with the
        two events of the pair's closest co-action on that key.
    edges : polars.DataFrame
        :data:`AUDIT_EDGE_SCHEMA`, significant edges first, then by ``pvalue``.
    nodes : polars.DataFrame
        :data:`NODE_SCHEMA`, sorted by ``actor_id``.
    clusters : polars.DataFrame
        :data:`CLUSTER_SCHEMA`, ranked.
    bursts : polars.DataFrame
        :data:`BURST_SCHEMA`, ranked.
    summary : dict
        What ``summary.json`` holds: version, parameters, inputs, ``rows``, counts,
        timings.
    rejects : polars.DataFrame or None
        Rejected input records (source, record, reason) when read from files.
    actions : polars.DataFrame or None
        The audited actions (``signal, key, actor_id, ts, event_id, event``); kept in
        memory for the evidence views, not written.
    """

    events: pl.DataFrame
    coactions: pl.DataFrame
    edges: pl.DataFrame
    nodes: pl.DataFrame
    clusters: pl.DataFrame
    bursts: pl.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    rejects: pl.DataFrame | None = None
    actions: pl.DataFrame | None = None

    def cluster_evidence(self, cluster: int) -> pl.DataFrame:
        """The timestamped events behind a cluster's edges.

        Returns
        -------
        polars.DataFrame
            ``signal, key, actor_id, actor_name, ts, event_id, text``: every event of a
            co-action between two members of ``cluster``, once, sorted by key then time.
        """
        from coordscope.graphs.clusters import cluster_evidence

        return cluster_evidence(self, cluster)

    def to_networkx(self, *, significant_only: bool = True) -> nx.Graph:
        """The account graph: nodes with :data:`NODE_SCHEMA` attributes, edges with the
        edge columns (lists joined with ``;``, times as ISO 8601 strings)."""
        from coordscope.graphs.export import to_networkx

        return to_networkx(self.nodes, self.edges, significant_only=significant_only)

    def write(self, directory: str | Path, *, report: bool = True) -> list[Path]:
        """Write every output file of design.md §8 into ``directory`` (atomically each).

        Returns the paths written.
        """
        from coordscope.audit import write_audit

        return write_audit(self, Path(directory), report=report)


_ = EVIDENCE_SCHEMA  # re-exported: the coactions table's schema
