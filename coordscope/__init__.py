"""coordscope: find coordinated amplification in exported social-media data.

The public Python API (re-exports only). Every function takes and returns polars tables;
options after the data are keyword-only. In a notebook::

    import coordscope as cs

    events = cs.read_events("tweets.jsonl")              # canonical events
    acts = cs.actions(events, signals=["co_share", "co_link"])
    sig = cs.significance(acts, window=60)               # pairs and groups, tested
    result = cs.audit(events)                            # every stage, ranked tables
    result.clusters.head()
    result.write("audit-out")                            # the output folder and report
    cs.daily_audit(["today.jsonl"], Path("out"), state="state", horizon=30)  # daily runs

The stages one by one: :func:`read_events` → :func:`actions` → :func:`significance` →
:func:`describe_clusters` → :func:`bursts` → :func:`write_report`; :func:`detect` counts
native co-action pairs; the reference tools' modes are in :mod:`coordscope.compat`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from coordscope._version import __version__

if TYPE_CHECKING:
    from coordscope.datasets.ingest import IngestResult, ingest, read_events
    from coordscope.datasets.simulate import simulate
    from coordscope.engine.state import StateStore
    from coordscope.errors import (
        CoordscopeError,
        FormatError,
        InputError,
        ParameterError,
        SchemaError,
        StateError,
    )
    from coordscope.graphs.clusters import describe_clusters, membership
    from coordscope.graphs.lineage import track_campaigns
    from coordscope.graphs.scores import cluster_score, rank_clusters
    from coordscope.metrics.evaluate import evaluate
    from coordscope.metrics.scorer import fit_scorer, load_scorer
    from coordscope.outputs import AuditResult
    from coordscope.pipeline import audit, coactions, detect, edges
    from coordscope.report import render_report, write_report
    from coordscope.results import AuditTables, DetectResult
    from coordscope.runs import daily_audit
    from coordscope.schema import DEFAULT_SIGNALS, EVENT_SCHEMA, SIGNALS, validate_events
    from coordscope.signals.actions import actions
    from coordscope.signals.window import estimate_window
    from coordscope.spark_runs import SparkAudit, spark_audit
    from coordscope.stats.bursts import bursts
    from coordscope.stats.significance import Significance, significance

__all__ = [
    "DEFAULT_SIGNALS",
    "EVENT_SCHEMA",
    "SIGNALS",
    "AuditResult",
    "AuditTables",
    "CoordscopeError",
    "DetectResult",
    "FormatError",
    "IngestResult",
    "InputError",
    "ParameterError",
    "SchemaError",
    "Significance",
    "SparkAudit",
    "StateError",
    "StateStore",
    "__version__",
    "actions",
    "audit",
    "bursts",
    "cluster_score",
    "coactions",
    "daily_audit",
    "describe_clusters",
    "detect",
    "edges",
    "estimate_window",
    "evaluate",
    "fit_scorer",
    "ingest",
    "load_scorer",
    "membership",
    "rank_clusters",
    "read_events",
    "render_report",
    "significance",
    "simulate",
    "spark_audit",
    "track_campaigns",
    "validate_events",
    "write_report",
]

#: Where each public name lives. Names load on first use (PEP 562), so that
#: ``import coordscope`` and the CLI start without matplotlib, scipy.stats and
#: scikit-learn, which only some stages need.
_WHERE: dict[str, str] = {
    "AuditResult": "coordscope.outputs",
    "AuditTables": "coordscope.results",
    "CoordscopeError": "coordscope.errors",
    "DEFAULT_SIGNALS": "coordscope.schema",
    "DetectResult": "coordscope.results",
    "EVENT_SCHEMA": "coordscope.schema",
    "FormatError": "coordscope.errors",
    "IngestResult": "coordscope.datasets.ingest",
    "InputError": "coordscope.errors",
    "ParameterError": "coordscope.errors",
    "SIGNALS": "coordscope.schema",
    "SchemaError": "coordscope.errors",
    "Significance": "coordscope.stats.significance",
    "SparkAudit": "coordscope.spark_runs",
    "StateError": "coordscope.errors",
    "StateStore": "coordscope.engine.state",
    "actions": "coordscope.signals.actions",
    "audit": "coordscope.pipeline",
    "bursts": "coordscope.stats.bursts",
    "cluster_score": "coordscope.graphs.scores",
    "coactions": "coordscope.pipeline",
    "daily_audit": "coordscope.runs",
    "describe_clusters": "coordscope.graphs.clusters",
    "detect": "coordscope.pipeline",
    "edges": "coordscope.pipeline",
    "estimate_window": "coordscope.signals.window",
    "evaluate": "coordscope.metrics.evaluate",
    "fit_scorer": "coordscope.metrics.scorer",
    "ingest": "coordscope.datasets.ingest",
    "load_scorer": "coordscope.metrics.scorer",
    "membership": "coordscope.graphs.clusters",
    "rank_clusters": "coordscope.graphs.scores",
    "read_events": "coordscope.datasets.ingest",
    "render_report": "coordscope.report",
    "significance": "coordscope.stats.significance",
    "simulate": "coordscope.datasets.simulate",
    "spark_audit": "coordscope.spark_runs",
    "track_campaigns": "coordscope.graphs.lineage",
    "validate_events": "coordscope.schema",
    "write_report": "coordscope.report",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'coordscope' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(__all__)
