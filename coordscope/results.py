"""The tables a run produces, as plain data: what the later stages and writers read.

:class:`AuditTables` holds the tables of an audit (design of the columns:
:mod:`coordscope.schema`); :class:`coordscope.outputs.AuditResult`, what
:func:`coordscope.audit` returns, adds the ways to write and view them.
:class:`DetectResult` holds the tables of one co-action detection (native, or a
reference tool's mode from :mod:`coordscope.compat`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from coordscope.parts import PartedTable, WorkDir
from coordscope.schema import EventFrame

__all__ = ["AuditTables", "DetectResult"]


@dataclass
class AuditTables:
    """Everything an audit found, as polars frames.

    Attributes
    ----------
    events : polars.DataFrame or polars.LazyFrame
        Canonical events that were read (:data:`~coordscope.schema.EVENT_SCHEMA`); a lazy
        scan of a file when the run did not hold them (``coordscope audit`` reads the
        ``events.parquet`` it wrote).
    coaction_parts : coordscope.parts.PartedTable
        Evidence rows (:data:`~coordscope.schema.EVIDENCE_SCHEMA`): one per (pair, signal,
        key) of every pair that could be tested, with the two events of the pair's
        closest co-action on that key; sorted by pair, signal and key, held in pieces.
        :attr:`coactions` reads it whole, :attr:`member_coactions` only the rows between
        members of a cluster.
    edge_parts : coordscope.parts.PartedTable
        :data:`~coordscope.schema.AUDIT_EDGE_SCHEMA`, tested edges first by ``pvalue``,
        then the others by ids; one row per pair that co-acted, held in pieces (most on
        disk: hundreds of millions of rows do not fit in memory). :attr:`edges` reads it
        whole, :attr:`significant_edges` only the significant rows.
    nodes : polars.DataFrame
        :data:`~coordscope.schema.NODE_SCHEMA`, sorted by ``actor_id``.
    clusters : polars.DataFrame
        :data:`~coordscope.schema.CLUSTER_SCHEMA`, ranked.
    bursts : polars.DataFrame
        :data:`~coordscope.schema.BURST_SCHEMA`, ranked.
    summary : dict
        What ``summary.json`` holds: version, parameters, inputs, ``rows``, counts,
        timings.
    rejects : polars.DataFrame or None
        Rejected input records (source, record, reason) when read from files.
    actions : polars.LazyFrame, polars.DataFrame or None
        The audited actions (``signal, key, actor_id, ts, event_id, event``) for the
        evidence views, not written: :func:`coordscope.audit` gives a scan of the files
        it spilled to its work directory (they last as long as the result), and
        :func:`coordscope.runs.run_audit`, whose work directory is gone when it returns,
        None.
    work : coordscope.parts.WorkDir or None
        The scratch directory holding the spilled pieces and actions, kept as long as
        the result (removed when the result is released).
    changes : polars.DataFrame or None
        What changed since the last run of a daily state
        (:data:`~coordscope.graphs.lineage.CHANGE_SCHEMA`, written as
        ``changes.parquet``); None for an audit without a state.
    """

    events: EventFrame
    coaction_parts: PartedTable
    edge_parts: PartedTable
    nodes: pl.DataFrame
    clusters: pl.DataFrame
    bursts: pl.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    rejects: pl.DataFrame | None = None
    actions: pl.DataFrame | pl.LazyFrame | None = None
    work: WorkDir | None = field(default=None, repr=False, compare=False)
    changes: pl.DataFrame | None = None

    @property
    def edges(self) -> pl.DataFrame:
        """The whole edge table in memory (read once from its pieces, then cached)."""
        return self.edge_parts.collect()

    @functools.cached_property
    def significant_edges(self) -> pl.DataFrame:
        """The significant edges (a streaming scan of the pieces, done once)."""
        return self.edge_parts.filter(pl.col("significant").fill_null(False))

    @property
    def coactions(self) -> pl.DataFrame:
        """The whole evidence table in memory (read from its pieces)."""
        return self.coaction_parts.collect()

    @functools.cached_property
    def member_coactions(self) -> pl.DataFrame:
        """The evidence rows whose two accounts are members of clusters (a scan, once).

        A superset of what the cluster views need (both accounts in the *same* cluster).
        """
        if self.clusters.height == 0:
            return self.coaction_parts.head(0)
        ids = self.clusters["members"].explode().unique().drop_nulls()
        return self.coaction_parts.filter(
            pl.col("actor_a").is_in(ids.implode()) & pl.col("actor_b").is_in(ids.implode())
        )


@dataclass
class DetectResult:
    """Tables of one detection run.

    Attributes
    ----------
    mode : str
        ``native`` (:func:`coordscope.detect`), ``coortweet`` or ``cnt``
        (:mod:`coordscope.compat`).
    coaction_parts : coordscope.parts.PartedTable
        Evidence rows: native — one per (pair, signal, key) with the closest co-action's
        events (:data:`~coordscope.schema.EVIDENCE_SCHEMA`); coortweet — CooRTweet's
        result rows (one per coordinated share pair); cnt — the toolkit's edge table
        itself (the toolkit keeps no per-message rows). :attr:`coactions` reads it whole.
    edge_parts : coordscope.parts.PartedTable
        Native pair table (:data:`~coordscope.schema.EDGE_SCHEMA`), CooRTweet's network
        table, or the toolkit's directed edges. Native tables are held in pieces on disk;
        :attr:`edges` reads it whole.
    nodes : polars.DataFrame
        One row per account with activity counts and its degree in ``edges``.
    parameters : dict
        The parameters used.
    counts : dict
        Actions per signal, pairs, edges, accounts.
    timings : dict
        Seconds per stage.
    """

    mode: str
    coaction_parts: PartedTable
    edge_parts: PartedTable
    nodes: pl.DataFrame
    parameters: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def coactions(self) -> pl.DataFrame:
        """The whole evidence table in memory (read from its pieces, then cached)."""
        return self.coaction_parts.collect()

    @property
    def edges(self) -> pl.DataFrame:
        """The whole edge table in memory (read from its pieces, then cached)."""
        return self.edge_parts.collect()
