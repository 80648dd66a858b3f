"""The audit: events → actions → significant pairs → clusters → bursts → outputs.

:func:`audit` is the main job of coordscope (``coordscope audit``). It runs every stage
of design.md §2 on a canonical event table and returns an
:class:`~coordscope.results.AuditResult`; :func:`write_audit` writes the output folder
of design.md §8; :func:`run_audit` does both from input files, as the CLI does.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from coordscope._output import write_json, write_table
from coordscope.errors import ParameterError
from coordscope.graphs.clusters import describe_clusters, membership
from coordscope.graphs.export import graph_tables, write_gexf, write_graphml
from coordscope.results import (
    AUDIT_EDGE_SCHEMA,
    BURST_SCHEMA,
    CLUSTER_SCHEMA,
    NODE_SCHEMA,
    AuditResult,
)
from coordscope.schema import ACTOR_ID, ACTOR_NAME, TS
from coordscope.signals.actions import SIGNALS, actions
from coordscope.signals.kernel import DEFAULT_MAX_PAIRS

if TYPE_CHECKING:
    from rich.console import Console

    from coordscope.datasets.ingest import IngestResult
    from coordscope.scorer import Scorer

__all__ = ["OUTPUT_FILES", "audit", "audit_signals", "run_audit", "write_audit"]

#: Files of an audit folder, in the order they are written (``summary.json`` last, so a
#: folder with a summary is complete; ``rejects.csv`` only when records were rejected).
OUTPUT_FILES: Final = (
    "events.parquet",
    "coactions.parquet",
    "edges.parquet",
    "edges.csv",
    "nodes.csv",
    "clusters.parquet",
    "bursts.parquet",
    "graph.graphml",
    "graph.gexf",
    "report.html",
    "summary.json",
)


class _Stages:
    """Times each stage; on a terminal shows a spinner while it runs and a line after."""

    def __init__(self, console: Console | None) -> None:
        self.console = console
        self.timings: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str, label: str) -> Iterator[None]:
        start = time.perf_counter()
        if self.console is None:
            yield
        else:
            with self.console.status(f"[bold]{label}[/bold] …", spinner="dots"):
                yield
        took = time.perf_counter() - start
        self.timings[name] = self.timings.get(name, 0.0) + took
        if self.console is not None:
            self.console.print(f"[green]✓[/green] {label:<28} {took:7.2f} s")


def audit_signals(signals: Sequence[str] | str | None) -> list[str]:
    """The signals to audit: the given ones (checked) or the default set."""
    from coordscope.signals.significance import DEFAULT_SIGNALS

    if signals is None:
        return list(DEFAULT_SIGNALS)
    if isinstance(signals, str):
        signals = [s.strip() for s in signals.split(",") if s.strip()]
    if not signals:
        raise ParameterError("give at least one signal")
    for s in signals:
        if s not in SIGNALS:
            raise ParameterError(f"unknown signal '{s}'; choose from: {', '.join(SIGNALS)}")
    return list(dict.fromkeys(signals))


def audit(
    events: pl.DataFrame,
    *,
    signals: Sequence[str] | str | None = None,
    window: float = 60.0,
    windows: Mapping[str, float] | None = None,
    alpha: float = 0.05,
    seed: int = 0,
    min_actors: int = 3,
    scorer: Scorer | None = None,
    pseudonymize: str | None = None,
    max_pairs: int = DEFAULT_MAX_PAIRS,
    partitions: int = 2,
    read: IngestResult | None = None,
    console: Console | None = None,
) -> AuditResult:
    """Find coordinated accounts, clusters and bursts in canonical events.

    Parameters
    ----------
    events : polars.DataFrame
        Canonical events (design.md §3), e.g. from :func:`coordscope.read_events`.
    signals : sequence of str, optional
        Signals to audit (design.md §4); default
        :data:`coordscope.signals.significance.DEFAULT_SIGNALS`.
    window : float, default 60
        Co-action window W in seconds (inclusive).
    windows : mapping, optional
        Per-signal windows in seconds, overriding ``window`` (and the defaults of
        :data:`coordscope.signals.significance.SIGNAL_WINDOWS`).
    alpha : float, default 0.05
        False discovery rate for pairs and for clusters (Benjamini–Hochberg).
    seed : int, default 0
        Seed of the random key split of the group tests and of Louvain.
    min_actors : int, default 3
        Bursts need at least this many distinct accounts.
    scorer : Scorer, optional
        A learned scorer (:func:`coordscope.scorer.load_scorer`) that replaces the
        formula score of clusters.
    pseudonymize : str, optional
        Key: replace every account identifier by its HMAC-SHA256 pseudonym before any
        stage runs (:mod:`coordscope.pseudonym`).
    max_pairs, partitions : int
        Pair budget per chunk and parallel partitions of the co-action kernel.
    read : IngestResult, optional
        The ingest that produced ``events`` (for the row accounting and input hashes).
    console : rich.console.Console, optional
        Where to show progress; None is quiet.

    Returns
    -------
    AuditResult
        Tables ranked: edges significant first, clusters and bursts by score.

    Notes
    -----
    Cost: the co-action kernel's ``O(n log n + P)`` for ``n`` actions and ``P``
    in-window pairs, plus the significance stage's per-candidate-pair work, plus linear
    passes over edges and evidence for clusters, nodes and bursts.
    """
    from coordscope.signals.bursts import bursts as find_bursts
    from coordscope.signals.significance import significance

    if not 0.0 < alpha < 1.0:
        raise ParameterError(f"--alpha must be between 0 and 1, got {alpha}")
    if window < 0:
        raise ParameterError(f"--window must be >= 0 seconds, got {window}")
    if min_actors < 2:
        raise ParameterError(f"min_actors must be >= 2, got {min_actors}")
    chosen = audit_signals(signals)
    stage = _Stages(console)
    if pseudonymize is not None:
        from coordscope.pseudonym import pseudonymize_events

        with stage("pseudonymize", "pseudonymising accounts"):
            events = pseudonymize_events(events, pseudonymize)

    with stage("actions", f"actions ({', '.join(chosen)})"):
        parts = [actions(events, signal=s) for s in chosen]
        acts = pl.concat(parts) if parts else pl.DataFrame()
    action_counts = {s: p.height for s, p in zip(chosen, parts, strict=True)}

    with stage("significance", "co-actions and significance"):
        sig = significance(
            acts,
            window=window,
            windows=windows,
            alpha=alpha,
            seed=seed,
            max_pairs=max_pairs,
            partitions=partitions,
        )
    timings = dict(stage.timings)
    for name, took in sig.timings.items():
        timings[f"significance.{name}"] = took
    stage.timings = timings

    with stage("clusters", "clusters and scores"):
        clusters = describe_clusters(
            sig.groups, edges=sig.edges, evidence=sig.evidence, actions=acts, events=events
        )
        clusters = _score_clusters(clusters, scorer)
        members = membership(clusters)

    with stage("bursts", "bursts"):
        burst_table = find_bursts(acts, window=window, min_actors=min_actors, membership=members)
        burst_table = burst_table.select([pl.col(c).cast(t) for c, t in BURST_SCHEMA.items()])

    with stage("tables", "nodes and edges"):
        edges = _edges(sig.edges, members)
        nodes = _nodes(events, acts, edges, members)

    rows = (
        dict(read.rows)
        if read is not None
        else {"input": events.height, "accepted": events.height, "rejected": 0, "duplicates": 0}
    )
    parameters: dict[str, Any] = {
        "signals": chosen,
        "window_s": window,
        "windows_s": dict(windows or {}),
        "alpha": alpha,
        "seed": seed,
        "min_actors": min_actors,
        "scorer": scorer.describe() if scorer is not None else None,
        "pseudonymized": pseudonymize is not None,
        "max_pairs": max_pairs,
        "partitions": partitions,
    }
    n_flagged_clusters = int(clusters["significant"].sum()) if clusters.height else 0
    counts: dict[str, Any] = {
        "actions": action_counts,
        "edges": edges.height,
        "significant_edges": int(edges["significant"].sum()) if edges.height else 0,
        "clusters": clusters.height,
        "flagged_clusters": n_flagged_clusters,
        "flagged_accounts": int(nodes["flagged"].sum()) if nodes.height else 0,
        "bursts": burst_table.height,
        "significance": sig.counts,
    }
    summary: dict[str, Any] = {
        "command": "audit",
        "rows": rows,
        "parameters": parameters,
        "counts": counts,
        "timings_s": {k: round(v, 4) for k, v in stage.timings.items()},
    }
    if read is not None:
        info = read.summary()
        summary.update(
            inputs=info["inputs"],
            events=info["events"],
            actors=info["actors"],
            time_span=info["time_span"],
            platforms=info["platforms"],
            ingest_counters=info["counters"],
        )
    else:
        summary.update(_describe_events(events))
    from coordscope import __version__

    summary["version"] = __version__
    return AuditResult(
        events=events,
        coactions=sig.evidence,
        edges=edges,
        nodes=nodes,
        clusters=clusters,
        bursts=burst_table,
        summary=summary,
        rejects=read.rejects if read is not None else None,
        actions=acts,
    )


def _describe_events(events: pl.DataFrame) -> dict[str, Any]:
    """Events, accounts, time span and platforms of a table given directly."""
    span: dict[str, str | None] = {"first": None, "last": None}
    platforms: dict[str, int] = {}
    if events.height:
        lo, hi = events.select(pl.col(TS).min().alias("lo"), pl.col(TS).max().alias("hi")).row(0)
        span = {"first": lo.isoformat(), "last": hi.isoformat()}
        table = events.group_by("platform").len().sort("platform")
        platforms = {str(k): int(v) for k, v in table.iter_rows()}
    return {
        "inputs": [],
        "events": events.height,
        "actors": events[ACTOR_ID].n_unique() if events.height else 0,
        "time_span": span,
        "platforms": platforms,
    }


def _score_clusters(clusters: pl.DataFrame, scorer: Scorer | None) -> pl.DataFrame:
    """Score (formula or learned) and rank: flagged first, then by score."""
    from coordscope.graphs.scores import cluster_score, rank_clusters

    score = scorer.score(clusters) if scorer is not None else cluster_score(clusters)
    scored = clusters.with_columns(pl.Series("score", score, dtype=pl.Float64))
    ranked = rank_clusters(scored)
    return ranked.select([pl.col(c).cast(t) for c, t in CLUSTER_SCHEMA.items()])


def _edges(edges: pl.DataFrame, members: pl.DataFrame) -> pl.DataFrame:
    """Edges with the cluster both accounts are in, in the significance stage's order
    (tested pairs by p-value first). ``O(E)`` lookups in the small membership table."""
    ids = members[ACTOR_ID]
    cluster = members["cluster"]

    def of(column: str) -> pl.Expr:
        return pl.col(column).replace_strict(ids, cluster, default=None, return_dtype=pl.Int64)

    out = edges.with_columns(
        pl.when(of("actor_a") == of("actor_b")).then(of("actor_a")).alias("cluster")
    )
    return out.select([pl.col(c).cast(t) for c, t in AUDIT_EDGE_SCHEMA.items()])


def _nodes(
    events: pl.DataFrame, acts: pl.DataFrame, edges: pl.DataFrame, members: pl.DataFrame
) -> pl.DataFrame:
    """One row per account: activity, degree over all and over significant edges.

    Pairs are unique in ``edges``, so an account's degree is its number of rows there.
    """
    activity = events.group_by(ACTOR_ID).agg(
        pl.col(ACTOR_NAME).drop_nulls().first().alias("actor_name"),
        pl.len().alias("n_events"),
        pl.col(TS).min().alias("first_ts"),
        pl.col(TS).max().alias("last_ts"),
    )
    n_actions = acts.group_by(ACTOR_ID).agg(pl.len().alias("n_actions"))
    sig = pl.col("significant").fill_null(False)
    per_side = [
        edges.group_by(pl.col(side).alias(ACTOR_ID)).agg(
            pl.len().alias("degree"),
            sig.sum().alias("sig_degree"),
            pl.col("n_keys").filter(sig).cast(pl.UInt64).sum().alias("strength"),
        )
        for side in ("actor_a", "actor_b")
    ]
    degree = (
        pl.concat(per_side)
        .group_by(ACTOR_ID)
        .agg(pl.col("degree").sum(), pl.col("sig_degree").sum(), pl.col("strength").sum())
    )
    out = (
        activity.join(n_actions, on=ACTOR_ID, how="left")
        .join(degree, on=ACTOR_ID, how="left")
        .join(members, on=ACTOR_ID, how="left")
        .with_columns(
            pl.col("n_actions").fill_null(0),
            pl.col("degree").fill_null(0),
            pl.col("sig_degree").fill_null(0),
            pl.col("strength").fill_null(0),
            pl.col("flagged").fill_null(False),
        )
        .sort(ACTOR_ID)
    )
    return out.select([pl.col(c).cast(t) for c, t in NODE_SCHEMA.items()])


def write_audit(result: AuditResult, directory: Path, *, report: bool = True) -> list[Path]:
    """Write an audit folder (design.md §8), each file atomically, ``summary.json`` last.

    A ``summary.json`` left by an earlier run is removed first: a folder holds a summary
    only when every file of this run is in place. Returns the paths written.
    """
    directory.mkdir(parents=True, exist_ok=True)
    stale = directory / "summary.json"
    if stale.exists():
        stale.unlink()
    written: list[Path] = []
    start = time.perf_counter()
    written.append(write_table(result.events, directory / "events.parquet"))
    written.append(write_table(result.coactions, directory / "coactions.parquet"))
    written.append(write_table(result.edges, directory / "edges.parquet"))
    written.append(write_table(result.edges, directory / "edges.csv"))
    written.append(write_table(result.nodes, directory / "nodes.csv"))
    written.append(write_table(result.clusters, directory / "clusters.parquet"))
    written.append(write_table(result.bursts, directory / "bursts.parquet"))
    graph_nodes, graph_edges = graph_tables(result.nodes, result.edges)
    written.append(write_graphml(graph_nodes, graph_edges, directory / "graph.graphml"))
    written.append(write_gexf(graph_nodes, graph_edges, directory / "graph.gexf"))
    if result.rejects is not None and result.rejects.height:
        written.append(write_table(result.rejects, directory / "rejects.csv"))
    result.summary.setdefault("timings_s", {})["write"] = round(time.perf_counter() - start, 4)
    if report:
        from coordscope.report import write_report

        start = time.perf_counter()
        written.append(write_report(result, directory / "report.html"))
        result.summary["timings_s"]["report"] = round(time.perf_counter() - start, 4)
    result.summary["files"] = sorted([p.name for p in written] + ["summary.json"])
    written.append(write_json(result.summary, directory / "summary.json"))
    return written


def run_audit(
    inputs: Sequence[str],
    output: Path,
    *,
    format: str = "auto",
    mapping: Mapping[str, str] | None = None,
    console: Console | None = None,
    **options: Any,
) -> AuditResult:
    """Read ``inputs`` (or the bundled demo data when empty), audit, write ``output``.

    ``options`` are the keyword arguments of :func:`audit`.
    """
    from coordscope.datasets.ingest import ingest

    stage = _Stages(console)
    with stage("ingest", "reading input"):
        read = ingest(list(inputs), format=format, mapping=mapping) if inputs else demo_ingest()
    result = audit(read.events, read=read, console=console, **options)
    result.summary["timings_s"] = {
        "ingest": round(stage.timings["ingest"], 4),
        **result.summary["timings_s"],
    }
    with stage("write", "writing outputs and report"):
        write_audit(result, output)
    if console is not None:
        console.print(f"report: {output / 'report.html'}")
    return result


def demo_ingest() -> IngestResult:
    """The bundled demo dataset (the ``demo`` scenario, seed 7, as X API v2 JSON lines),
    generated on the fly — identical every time — and read through the X v2 reader."""
    import tempfile

    from coordscope.datasets.formats import get_format
    from coordscope.datasets.ingest import ingest
    from coordscope.datasets.simulate import simulate

    events, _ = simulate("demo", seed=7)
    with tempfile.TemporaryDirectory(prefix="coordscope-demo-") as tmp:
        path = Path(tmp) / "demo-tweets.jsonl"
        get_format("twitter-v2").write(events, str(path))
        read = ingest([str(path)], format="twitter-v2")
    for item in read.inputs:
        item["path"] = "<bundled demo: simulate --scenario demo --seed 7>"
    return read
