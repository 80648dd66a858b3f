"""The pipeline: wires the stages together, and does nothing else.

:func:`audit` runs events → actions → co-actions and significance → clusters → bursts →
node and edge tables, and returns an :class:`~coordscope.outputs.AuditResult`.
:func:`detect` runs events → actions → native pair counting, and returns a
:class:`~coordscope.results.DetectResult` (the reference tools' modes are in
:mod:`coordscope.compat`). Reading files and writing folders is :mod:`coordscope.runs`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from coordscope._version import __version__
from coordscope.budget import Budget, held_bytes, peak_rss_mib, trim_freed_memory
from coordscope.datasets.ingest import describe_events
from coordscope.datasets.pseudonym import pseudonymize_events
from coordscope.engine.runners import LocalRunner, Runner
from coordscope.engine.tables import pair_tables
from coordscope.errors import ParameterError, check_seed, check_window
from coordscope.graphs.clusters import describe_clusters, membership
from coordscope.graphs.lineage import track_campaigns
from coordscope.graphs.scores import ClusterScorer, score_clusters
from coordscope.graphs.tables import degree_nodes, edges_with_clusters, node_table
from coordscope.outputs import AuditResult
from coordscope.parts import WorkDir
from coordscope.progress import log, track
from coordscope.results import DetectResult
from coordscope.schema import BURST_SCHEMA, SIGNALS, TS, EventFrame, TextRule
from coordscope.signals.actions import (
    ActionOptions,
    actions,
    resolve_signals,
    runner_action_batches,
)
from coordscope.signals.media import DEFAULT_DISTANCE
from coordscope.stats.bursts import bursts as find_bursts
from coordscope.stats.significance import significance
from coordscope.stats.stored import Block, StoredPairs

__all__ = [
    "KeptDay",
    "KeptDays",
    "StageHook",
    "StageTimer",
    "audit",
    "coactions",
    "detect",
    "edges",
    "newest_day",
]

#: ``hook(name, label)`` returns a context manager entered around each stage: a progress
#: display (the CLI shows a spinner), a profiler, a logger. ``name`` is the key of the
#: stage in ``summary["timings_s"]``; ``label`` says what it does, in a few words.
StageHook = Callable[[str, str], AbstractContextManager[None]]


class StageTimer:
    """Times each stage (seconds, summed by name) and calls the progress hook around it.

    Each stage's start and end are logged (``event=stage_start`` and ``stage_done``, with
    its seconds and the peak memory; :func:`coordscope.progress.log`).

    Also records, after each stage, the peak resident memory of the process so far
    (MiB): the stage where it rises is the one that needed it.
    """

    def __init__(self, hook: StageHook | None) -> None:
        self.hook = hook
        self.timings: dict[str, float] = {}
        self.peak_mib: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str, label: str) -> Iterator[None]:
        """Time the stage ``name`` (shown as ``label``) run inside the ``with`` block."""
        start = time.perf_counter()
        log("stage_start", stage=name, label=label)
        with self.hook(name, label) if self.hook is not None else contextlib.nullcontext():
            yield
        took = time.perf_counter() - start
        self.timings[name] = self.timings.get(name, 0.0) + took
        self.peak_mib[name] = peak_rss_mib()
        log("stage_done", stage=name, seconds=took, peak_rss_mib=self.peak_mib[name])
        trim_freed_memory()  # the next stage starts from what is in use


@dataclass(frozen=True)
class KeptDay:
    """What a daily state kept of one day of the audited events (:mod:`coordscope.daily`).

    Attributes
    ----------
    first_event : int
        The row, in the audited events, of the day's first event.
    actions : dict of str to (Path, int)
        Per row-local signal: the day's actions (``event`` counted from the day's first
        event) and their number.
    partials, checks : pathlib.Path
        The day's pair partials and the units they hold
        (:func:`coordscope.stats.stored.day_pairs`).
    partial_rows : int
        Rows of ``partials``.
    """

    first_event: int
    actions: dict[str, tuple[Path, int]]
    partials: Path
    checks: Path
    partial_rows: int


@dataclass(frozen=True)
class KeptDays:
    """What a daily state kept of the audited days, in day order, and with which windows.

    ``options`` holds, per kept signal, the options its actions were made with
    (:meth:`~coordscope.signals.actions.ActionOptions.of_signal`: the text rule and
    least length of ``co_text``; none for most signals). :func:`audit` reuses a signal's
    kept actions and partials only when they are those of the run.
    """

    days: list[KeptDay]
    windows: dict[str, float]
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: ``co_similar`` actions of the audited events made from the days' kept
    #: near-duplicate sets (their file and number), and the options they were made with
    similar: tuple[Path, int] | None = None
    similar_options: dict[str, Any] = field(default_factory=dict)
    #: the days whose near-duplicate sets or pairs were made by this run
    similar_made: list[str] = field(default_factory=list)

    @property
    def signals(self) -> set[str]:
        """The signals whose actions were kept (every day has them all)."""
        return set(self.days[0].actions) if self.days else set()


def check_audit_options(
    *,
    signals: Sequence[str] | str | None = None,
    window: float = 60.0,
    windows: Mapping[str, float] | None = None,
    alpha: float = 0.05,
    seed: int = 0,
    min_actors: int = 3,
    memory: str | int | Budget | None = None,
    workers: int | None = None,
    partition_memory: str | int | None = None,
    text_rule: TextRule = "default",
    min_text_length: int = 10,
    similarity: float = 0.8,
    min_shingles: int = 5,
    media_distance: int = DEFAULT_DISTANCE,
    **_: Any,
) -> None:
    """Raise :class:`~coordscope.errors.ParameterError` for the first bad option of audit.

    The same checks as :func:`audit`'s, made before any work: the runs call it before
    they read their input, so a bad option costs no ingest.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0.0 < alpha < 1.0:
        raise ParameterError(f"alpha must be between 0 and 1, got {alpha}")
    check_window(window)
    for name, value in (windows or {}).items():
        if name not in SIGNALS:
            raise ParameterError(
                f"windows: unknown signal '{name}'; choose from: {', '.join(SIGNALS)}"
            )
        check_window(value, f"windows['{name}']")
    check_seed(seed)
    if isinstance(min_actors, bool) or not isinstance(min_actors, int) or min_actors < 2:
        raise ParameterError(f"min_actors must be an integer >= 2, got {min_actors!r}")
    resolve_signals(signals)
    Budget.of(memory, workers, partition_memory)
    ActionOptions(text_rule, min_text_length, similarity, min_shingles, media_distance)


def audit(
    events: EventFrame,
    *,
    signals: Sequence[str] | str | None = None,
    window: float = 60.0,
    windows: Mapping[str, float] | None = None,
    alpha: float = 0.05,
    seed: int = 0,
    min_actors: int = 3,
    scorer: ClusterScorer | None = None,
    pseudonymize: str | None = None,
    memory: str | int | Budget | None = None,
    workers: int | None = None,
    partition_memory: str | int | None = None,
    text_rule: TextRule = "default",
    min_text_length: int = 10,
    similarity: float = 0.8,
    min_shingles: int = 5,
    media_distance: int = DEFAULT_DISTANCE,
    work_dir: str | Path | WorkDir | None = None,
    progress: StageHook | None = None,
    runner: Runner | None = None,
    kept: KeptDays | None = None,
) -> AuditResult:
    """Find coordinated accounts, clusters and bursts in canonical events.

    Parameters
    ----------
    events : polars.DataFrame or polars.LazyFrame
        Canonical events (:data:`~coordscope.schema.EVENT_SCHEMA`), e.g. from
        :func:`coordscope.read_events`, or a lazy scan of them (``pl.scan_parquet`` of
        what ``coordscope ingest`` wrote): then no stage holds every event, each reads the
        columns it needs when it needs them (the file must stay until the result is
        written).
    signals : str or sequence of str, optional
        Signals to audit; default :data:`~coordscope.schema.DEFAULT_SIGNALS`.
    window : float, default 60
        Co-action window W in seconds (inclusive: ``|Δt| <= W``).
    windows : mapping, optional
        Per-signal windows in seconds, overriding ``window``.
    alpha : float, default 0.05
        False discovery rate for pairs and for clusters (Benjamini–Hochberg).
    seed : int, default 0
        Seed of the split-half group test and of Louvain.
    min_actors : int, default 3
        Bursts need at least this many distinct accounts.
    scorer : object with ``score(clusters) -> Series`` and ``describe() -> dict``, optional
        A learned scorer (:func:`coordscope.load_scorer`) that replaces the formula score
        of clusters; flagging still follows the group test.
    pseudonymize : str, optional
        Key: replace every account identifier by its HMAC-SHA256 pseudonym before any
        stage runs (:func:`coordscope.datasets.pseudonym.pseudonymize_events`).
    memory : str, int or Budget, optional
        Memory budget of the run (``"4GB"``, ``"512MB"``, bytes, or a
        :class:`~coordscope.budget.Budget`; default 4 GiB). Key
        and pair partitions, chunks of pairs and the spill files are sized from it; the
        results do not depend on it.
    workers : int, optional
        Partition tasks run at once (threads); default: every core this process may use.
        The results do not depend on it.
    partition_memory : str or int, optional
        Memory one partition task may use (``"256MB"``, bytes; at most ``memory``):
        smaller means more, smaller key and pair partitions. Default: a third of
        ``memory / workers``. The results do not depend on it.
    text_rule : {"default", "toolkit", "exact"}, default "default"
        ``co_text`` normalisation (:func:`coordscope.signals.exact.normalize_text`).
    min_text_length : int, default 10
        ``co_text``: shortest normalised text that counts (characters).
    similarity : float, default 0.8
        ``co_similar``: Jaccard threshold of near duplicates, in ``(0, 1]`` (inclusive);
        below 0.8 the pairs are found exactly rather than by MinHash
        (:data:`~coordscope.signals.actions.MINHASH_FROM`).
    min_shingles : int, default 5
        ``co_similar``: messages with fewer distinct words give no action.
    media_distance : int, default 6
        ``co_media``: perceptual hashes within this many bits (0–32) are one image.
    work_dir : str, Path or WorkDir, optional
        Where spill files go: a new subdirectory of this folder, removed when the result
        is released (default: in the system's temporary directory), or a
        :class:`~coordscope.parts.WorkDir` the caller owns and removes.
    progress : callable, optional
        A :data:`StageHook` entered around each stage; None is quiet.
    runner : Runner, optional
        Who makes the actions and counts the pairs: threads of this process (the
        default, :class:`~coordscope.engine.runners.LocalRunner`) or Spark
        (:class:`~coordscope.engine.spark.SparkRunner`). The results do not depend on it.
    kept : KeptDays, optional
        What a daily state kept of the days of ``events`` (which must be those days'
        events, in day order): their actions are read rather than made, and their pair
        partials stand for the units they hold exactly; a signal whose kept actions were
        made with other options (``kept.options``) is made again. The results do not
        depend on it (:mod:`coordscope.daily` makes it).

    Returns
    -------
    AuditResult
        Tables ranked: edges significant first, clusters and bursts by score. Its
        ``summary`` describes ``events`` as given (:func:`coordscope.runs.run_audit`
        replaces the row accounting with the ingest's).

    Raises
    ------
    ParameterError
        A parameter out of range; the message names it.

    Notes
    -----
    Cost: the co-action kernel's ``O(n log n + P)`` for ``n`` actions and ``P``
    in-window pairs, plus the significance stage's per-candidate-pair work, plus linear
    passes over edges and evidence for clusters, nodes and bursts.
    """
    check_audit_options(
        signals=signals, window=window, windows=windows, alpha=alpha, seed=seed,
        min_actors=min_actors, memory=memory, workers=workers,
        partition_memory=partition_memory,
    )  # fmt: skip
    options = ActionOptions(text_rule, min_text_length, similarity, min_shingles, media_distance)
    chosen = resolve_signals(signals)
    budget = Budget.of(memory, workers, partition_memory)
    runner = LocalRunner() if runner is None else runner
    stage = StageTimer(progress)
    work = work_dir if isinstance(work_dir, WorkDir) else WorkDir(work_dir)
    if pseudonymize is not None:
        with stage("pseudonymize", "pseudonymising accounts"):
            events = pseudonymize_events(events, pseudonymize)
            if isinstance(events, pl.LazyFrame):  # rewritten once, not at every read
                events = work.spill_lazy(events, "pseudonymized")

    with stage("actions", f"actions ({', '.join(chosen)})"):
        # each signal's actions go to the work directory as they come, and every later
        # stage reads from there the columns and row groups it needs: no stage holds
        # them all (at 30 days × 1M events, 54M actions: 8 GB in memory). The
        # near-duplicate step, whose working memory is the largest, runs first; the
        # files keep the order asked for.
        # Signals made event by event come a slice of events at a time (4M at 4 GB).
        files: dict[str, list[Path]] = {}
        action_counts: dict[str, int] = {}
        slice_rows = max(1 << 16, budget.memory // 1024)
        # kept actions hold the ids as read, and were made with the options they record
        reused = (
            {s for s in kept.signals if kept.options.get(s, {}) == options.of_signal(s)}
            if kept is not None and pseudonymize is None
            else set()
        )
        # near-duplicate groups made from the days' kept sets, with these options
        similar_kept = (
            kept.similar
            if kept is not None
            and pseudonymize is None
            and kept.similar_options == options.of_signal("co_similar")
            and options.similar_method == "minhash"
            else None
        )
        made = [s for s in chosen if s not in reused and not (s == "co_similar" and similar_kept)]
        with track("signals", total=len(made), unit="signals") as progress_signals:
            for s in sorted(chosen, key=lambda s: s != "co_similar"):
                files[s], action_counts[s] = [], 0
                if kept is not None and s in reused:
                    files[s] = [_kept_actions(day, s, work) for day in kept.days]
                    action_counts[s] = sum(day.actions[s][1] for day in kept.days)
                    continue
                if s == "co_similar" and similar_kept is not None:
                    files[s], action_counts[s] = [similar_kept[0]], similar_kept[1]
                    continue
                for part in runner_action_batches(
                    runner, events, signal=s, rows=slice_rows, work=work, options=options
                ):
                    action_counts[s] += part.height
                    files[s].append(work.spill_table(part, f"actions-{s}"))
                    del part
                progress_signals.advance()
        action_counts = {s: action_counts[s] for s in chosen}
        acts = pl.scan_parquet([f for s in chosen for f in files[s]])
        stored = _stored_pairs(kept, reused, chosen, action_counts) if kept and reused else None

    with stage("significance", "co-actions and significance"):
        sig = significance(
            acts,
            window=window,
            windows=windows,
            alpha=alpha,
            seed=seed,
            budget=budget.after(held_bytes(events)),
            work=work,
            runner=runner,
            stored=stored,
        )
    for name, took in sig.timings.items():
        stage.timings[f"significance.{name}"] = took

    with stage("clusters", "clusters and scores"):
        sig_edges = sig.significant_edges
        members_of_groups = sig.groups["members"].explode().drop_nulls()
        clusters = describe_clusters(
            sig.groups,
            edges=sig_edges,
            evidence=sig.evidence_among(members_of_groups),
            actions=acts,
            events=events,
        )
        clusters = score_clusters(clusters, scorer)
        # campaign ids of the flagged clusters, all new: a daily state carries them on
        # (coordscope.runs.run_state_audit)
        clusters = clusters.with_columns(
            track_campaigns(clusters, as_of=newest_day(events)).ids.alias("campaign")
        )
        members = membership(clusters)

    with stage("bursts", "bursts"):
        # key partitions whose working copies (~100 bytes an action) take a fifth of the
        # budget: 8M actions at 4 GB
        burst_table = find_bursts(
            acts,
            window=window,
            min_actors=min_actors,
            membership=members,
            part_rows=max(1 << 16, budget.memory // 512),
            work=work,
        )
        burst_table = burst_table.select([pl.col(c).cast(t) for c, t in BURST_SCHEMA.items()])

    with stage("tables", "nodes and edges"):
        edge_table = edges_with_clusters(sig.edge_parts, members)
        # account partitions of about 8M events at 4 GB: a partition's group-bys on ids
        nodes = node_table(
            events, acts, edge_table, members, part_rows=max(1 << 16, budget.memory // 512)
        )

    parameters: dict[str, Any] = {
        "signals": chosen,
        "window_s": window,
        "windows_s": dict(windows or {}),
        "alpha": alpha,
        "seed": seed,
        "min_actors": min_actors,
        **options.parameters(),
        "scorer": scorer.describe() if scorer is not None else None,
        "pseudonymized": pseudonymize is not None,
    }
    counts: dict[str, Any] = {
        "actions": action_counts,
        "edges": sig.counts["edges"],
        "significant_edges": sig_edges.height,
        "clusters": clusters.height,
        "flagged_clusters": int(clusters["significant"].sum()) if clusters.height else 0,
        "flagged_accounts": int(nodes["flagged"].sum()) if nodes.height else 0,
        "bursts": burst_table.height,
        "significance": sig.counts,
    }
    described = describe_events(events)
    log(
        "audit_done", events=described["events"], edges=counts["edges"],
        significant_edges=counts["significant_edges"], clusters=counts["clusters"],
        flagged_clusters=counts["flagged_clusters"], flagged_accounts=counts["flagged_accounts"],
        bursts=counts["bursts"],
    )  # fmt: skip
    summary: dict[str, Any] = {
        "command": "audit",
        "rows": {
            "input": described["events"],
            "accepted": described["events"],
            "rejected": 0,
            "duplicates": 0,
        },
        "parameters": parameters,
        "counts": counts,
        "timings_s": {k: round(v, 4) for k, v in stage.timings.items()},
        "resources": {
            "engine": runner.name,
            "memory_bytes": budget.memory,
            "workers": budget.workers,
            "partition_memory_bytes": budget.task,
            "peak_rss_mib": dict(stage.peak_mib),
        },
        "inputs": [],
        **described,
        "version": __version__,
    }
    return AuditResult(
        events=events,
        coaction_parts=sig.evidence_parts,
        edge_parts=edge_table,
        nodes=nodes,
        clusters=clusters,
        bursts=burst_table,
        summary=summary,
        rejects=None,
        actions=acts,
        work=work,
    )


def _kept_actions(day: KeptDay, signal: str, work: WorkDir) -> Path:
    """Spill a day's kept actions of ``signal`` with ``event`` counted in the audited events."""
    path, _ = day.actions[signal]
    part = pl.read_parquet(path).with_columns(
        (pl.col("event").cast(pl.Int64) + day.first_event).cast(pl.UInt32)
    )
    return work.spill_table(part, f"actions-{signal}")


def _stored_pairs(
    kept: KeptDays, reused: set[str], chosen: Sequence[str], counts: Mapping[str, int]
) -> StoredPairs:
    """Place the kept days' actions of the ``reused`` signals in the audited actions' rows.

    The rows go signal by signal, then day by day; the signals made again for this run
    have no block, and their kept partials are not used (no window is given for them).
    """
    blocks: list[Block] = []
    at = 0
    for s in chosen:
        if s in reused:
            for i, day in enumerate(kept.days):
                rows = day.actions[s][1]
                blocks.append(Block(day=i, signal=s, start=at, rows=rows))
                at += rows
        else:
            at += counts[s]
    return StoredPairs(
        blocks=blocks,
        partials=[day.partials for day in kept.days],
        checks=[day.checks for day in kept.days],
        windows={s: w for s, w in kept.windows.items() if s in reused},
        n_partials=sum(day.partial_rows for day in kept.days),
    )


def newest_day(events: EventFrame) -> dt.date:
    """Return the UTC day of the newest event (1970-01-01 when there is none)."""
    newest = events.lazy().select(pl.col(TS).dt.convert_time_zone("UTC").dt.date().max())
    day: dt.date | None = newest.collect().item()
    return dt.date(1970, 1, 1) if day is None else day


def detect(
    events: EventFrame,
    *,
    signals: Sequence[str] | str,
    window: float,
    min_edge_weight: int = 1,
    text_rule: TextRule = "default",
    min_text_length: int = 10,
    similarity: float = 0.8,
    min_shingles: int = 5,
    media_distance: int = DEFAULT_DISTANCE,
    memory: str | int | None = None,
    workers: int | None = None,
    partition_memory: str | int | None = None,
    work_dir: str | Path | WorkDir | None = None,
    runner: Runner | None = None,
) -> DetectResult:
    """Native co-action detection: every account pair that acted on the same key within W.

    Parameters
    ----------
    events : polars.DataFrame or polars.LazyFrame
        Canonical events (:data:`~coordscope.schema.EVENT_SCHEMA`), held or a scan.
    signals : str or sequence of str
        Signals (``co_share``, ``co_link``, …); several are counted together.
    window : float
        ``W`` in seconds; inclusive (``|Δt| <= W``).
    min_edge_weight : int, default 1
        Least ``n_keys`` of an edge.
    text_rule : {"default", "toolkit", "exact"}
        ``co_text`` normalisation.
    min_text_length : int, default 10
        ``co_text``: shortest normalised text that counts (characters).
    similarity : float, default 0.8
        ``co_similar``: Jaccard threshold of near duplicates, in ``(0, 1]`` (inclusive);
        below 0.8 the pairs are found exactly rather than by MinHash
        (:data:`~coordscope.signals.actions.MINHASH_FROM`).
    min_shingles : int, default 5
        ``co_similar``: messages with fewer distinct words give no action.
    media_distance : int, default 6
        ``co_media``: perceptual hashes within this many bits (0–32) are one image.
    memory : str or int, optional
        Memory budget (``"4GB"``, ``"512MB"`` or bytes; default 4 GiB): sizes the chunks of
        pairs materialised at once. The results do not depend on it.
    workers : int, optional
        Key partitions run at once (threads); default: every usable core.
    partition_memory : str or int, optional
        Memory one partition task may use (at most ``memory``): smaller means more,
        smaller partitions. The results do not depend on it.
    work_dir : path or WorkDir, optional
        Where the partials and the tables' pieces are written: a folder in which a
        scratch directory is made, removed when the result is released (default: in the
        system's temporary directory), or a :class:`~coordscope.parts.WorkDir` the
        caller owns and removes.
    runner : Runner, optional
        Who counts the pairs: threads of this process (default) or Spark
        (:class:`~coordscope.engine.spark.SparkRunner`); the tables do not depend on it.

    Returns
    -------
    DetectResult
        ``mode = "native"``; the tables are held in pieces on disk; ``edges`` follow
        :data:`~coordscope.schema.EDGE_SCHEMA` (one row per pair, ``actor_a < actor_b``,
        sorted by the two ids), ``coactions`` follow
        :data:`~coordscope.schema.EVIDENCE_SCHEMA` (one row per pair, signal and key, sorted
        by pair, signal and key). The order does not depend on ``memory`` or ``workers``.
        CooRTweet's and the toolkit's tables: :mod:`coordscope.compat`.

    Notes
    -----
    Cost ``O(n log n + P)`` for ``n`` actions and ``P`` in-window pairs
    (:func:`coordscope.engine.tables.pair_tables`); memory follows ``memory``, not the
    number of pairs. Among co-actions of a pair on a key with the same Δt, the evidence
    shows the first in (key, time, input row) order.
    """
    chosen = resolve_signals(signals)
    budget = Budget.of(memory, workers, partition_memory)
    check_window(window)
    if min_edge_weight < 1:
        raise ParameterError(f"min_edge_weight must be >= 1, got {min_edge_weight}")
    options = ActionOptions(text_rule, min_text_length, similarity, min_shingles, media_distance)
    params: dict[str, Any] = {
        "signals": chosen, "window": window, "mode": "native", **options.parameters(),
    }  # fmt: skip
    timings: dict[str, float] = {}
    start = time.perf_counter()
    acts = actions(
        events,
        signals=chosen,
        text_rule=text_rule,
        min_text_length=min_text_length,
        similarity=similarity,
        min_shingles=min_shingles,
        media_distance=media_distance,
    )
    counts: dict[str, Any] = {
        "actions": dict(acts.group_by("signal").len().sort("signal").iter_rows())
    }
    timings["actions"] = time.perf_counter() - start
    start = time.perf_counter()
    work = work_dir if isinstance(work_dir, WorkDir) else WorkDir(work_dir)
    tables = pair_tables(
        acts.select("signal", "key", "actor_id", "ts", "event_id"),
        window=window,
        budget=budget.after(held_bytes(events, acts)),
        work=work,
        min_edge_weight=min_edge_weight,
        runner=runner,
    )
    del acts
    params["min_edge_weight"] = min_edge_weight
    timings["pairs"] = time.perf_counter() - start
    start = time.perf_counter()
    nodes = degree_nodes(events, tables.degree)
    timings["nodes"] = time.perf_counter() - start
    counts.update(
        coactions=tables.evidence.height,
        edges=tables.edges.height,
        accounts_in_edges=tables.degree.height,
    )
    return DetectResult("native", tables.evidence, tables.edges, nodes, params, counts, timings)


def coactions(
    events: pl.DataFrame, *, signals: Sequence[str] | str, window: float, **options: Any
) -> pl.DataFrame:
    """Return the evidence table of :func:`detect`: one row per (pair, signal, key)."""
    return detect(events, signals=signals, window=window, **options).coactions


def edges(
    events: pl.DataFrame, *, signals: Sequence[str] | str, window: float, **options: Any
) -> pl.DataFrame:
    """Return the native pair table of :func:`detect`: one row per account pair."""
    return detect(events, signals=signals, window=window, **options).edges
