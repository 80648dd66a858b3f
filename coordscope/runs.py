"""File-to-folder runs: read export files, run a job, write its output folder.

These are what the CLI commands call: :func:`run_audit` (``coordscope audit``),
:func:`run_state_audit` (``coordscope audit --state``: a daily state over a rolling
horizon) and :func:`run_detect` (``coordscope detect``, in any counting mode).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, Final

import polars as pl

from coordscope._version import __version__
from coordscope.budget import Budget
from coordscope.compat import detect_cnt, detect_coortweet
from coordscope.daily import keep_days
from coordscope.datasets.demo import demo_ingest
from coordscope.datasets.ingest import ingest
from coordscope.datasets.pseudonym import redact_reasons
from coordscope.engine.runners import LocalRunner, Runner
from coordscope.engine.state import DEFAULT_HORIZON_DAYS, Added, StateStore
from coordscope.errors import ParameterError, check_window
from coordscope.graphs.lineage import track_campaigns
from coordscope.outputs import AuditResult, claim_run_folder, write_audit, write_detect
from coordscope.parts import PartedTable, WorkDir
from coordscope.pipeline import (
    KeptDays,
    StageHook,
    StageTimer,
    audit,
    check_audit_options,
    detect,
)
from coordscope.results import DetectResult
from coordscope.schema import EventFrame, TextRule
from coordscope.signals.actions import ActionOptions, resolve_signals

__all__ = ["MODES", "daily_audit", "run_audit", "run_detect", "run_state_audit"]

#: Counting modes of ``coordscope detect``: native pairs, or a reference tool's tables.
MODES: Final = ("native", "coortweet", "cnt")

#: Options of :func:`run_detect` that only some modes use, and those modes. The reference
#: modes reproduce their tool, whose text rule and signals are fixed; the toolkit has a
#: near-duplicate threshold of its own (``--similarity_threshold``), which ``similarity``
#: sets in cnt mode. Given in another mode, an option is refused rather than ignored.
MODE_OPTIONS: Final[dict[str, tuple[str, ...]]] = {
    "text_rule": ("native",),
    "min_text_length": ("native",),
    "similarity": ("native", "cnt"),
    "min_shingles": ("native",),
    "media_distance": ("native",),
    "partition_memory": ("native",),
}


def run_audit(
    inputs: Sequence[str],
    output: Path,
    *,
    format: str = "auto",
    mapping: Mapping[str, str] | None = None,
    progress: StageHook | None = None,
    work_dir: str | Path | None = None,
    **options: Any,
) -> AuditResult:
    """Read ``inputs`` (or the bundled demo data when empty), audit, write ``output``.

    Parameters
    ----------
    inputs : sequence of str
        Export files; empty: the bundled demo dataset.
    output : pathlib.Path
        The output folder.
    format : str, default "auto"
        Input format name, or recognised from content.
    mapping : mapping of str to str, optional
        Canonical column → source field overrides.
    progress : callable, optional
        A :data:`~coordscope.pipeline.StageHook` around each stage.
    work_dir : str or Path, optional
        Where spill files go (a hidden subdirectory of it); default: inside ``output``.
        Removed when the run ends, also after an error or an interruption.
    **options
        Keyword arguments of :func:`coordscope.audit`.

    Returns
    -------
    AuditResult
        With the ingest's row accounting, inputs and rejects in its summary; its edge
        and co-action tables read the written Parquet files (the spill files are gone),
        and so do its events when they were not held (a lazy scan of ``events.parquet``).
        Its ``actions`` are None (they were spilled, and are not an output):
        :meth:`~coordscope.outputs.AuditResult.cluster_evidence` shows the two events
        of each evidence row.
    """
    check_audit_options(**options)  # a bad option is found before the input is read
    # a path that cannot be written is told before the input is read; an earlier run's
    # files go now, so that a failed run leaves none of them beside its own
    claim_run_folder(output, inputs)
    stage = StageTimer(progress)
    ingest_memory = Budget.of(options.get("memory")).memory  # ingest reads in pieces of it
    work = WorkDir(output if work_dir is None else work_dir, prefix=".coordscope-work-")
    try:
        with stage("ingest", "reading input"):
            # the accepted events go to the work directory, and every stage reads from
            # there the columns it needs: no stage holds them all
            read = (
                ingest(
                    list(inputs), format=format, mapping=mapping, memory=ingest_memory, spill=work
                )
                if inputs
                else demo_ingest()
            )
        result = audit(read.events, progress=progress, work_dir=work, **options)
        # the audit described the events already; the ingest adds what only it knows
        result.summary.update(
            rows=dict(read.rows), inputs=read.inputs, ingest_counters=read.counters()
        )
        result.rejects = _rejects_out(read.rejects, options)
        result.summary["timings_s"] = {
            "ingest": round(stage.timings["ingest"], 4),
            **result.summary["timings_s"],
        }
        resources = result.summary.setdefault("resources", {})
        resources["peak_rss_mib"] = {
            "ingest": stage.peak_mib["ingest"],
            **resources.get("peak_rss_mib", {}),
        }
        with stage("write", "writing outputs and report"):
            write_audit(result, output)
        # the pieces go with the work directory: the result reads the files written
        _reread_outputs(result, output)
    finally:
        work.close()
    return result


def run_state_audit(
    inputs: Sequence[str],
    output: Path,
    *,
    state: str | Path,
    horizon: int = DEFAULT_HORIZON_DAYS,
    format: str = "auto",
    mapping: Mapping[str, str] | None = None,
    progress: StageHook | None = None,
    work_dir: str | Path | None = None,
    **options: Any,
) -> AuditResult:
    """Add ``inputs`` to a daily state, audit its horizon, write ``output``, commit.

    Parameters
    ----------
    inputs : sequence of str
        Export files whose events are added to the state (re-collected events replace
        their stored version); empty: audit the state as it is.
    output : pathlib.Path
        The output folder; it also gets ``changes.parquet``.
    state : str or Path
        The state directory (:class:`~coordscope.engine.state.StateStore`), created when
        missing.
    horizon : int, default 30
        Days audited, counted back from the newest day held (inclusive, calendar days).
    format, mapping, progress, work_dir, **options
        As for :func:`run_audit`.

    Returns
    -------
    AuditResult
        As :func:`run_audit`'s, with ``changes`` (what changed since the last run) and
        the clusters' ``campaign`` ids carried on from the state's registry; its summary
        gains ``state``.

    Notes
    -----
    The state changes only at the end, in one atomic switch of its manifest, after every
    output file is written: a run that fails or is killed leaves the state as it was.
    The run holds the state's lock from start to end; a second run is refused.
    """
    if horizon < 1:
        raise ParameterError(f"horizon must be >= 1 day, got {horizon}")
    check_audit_options(**options)  # a bad option is found before the state is opened
    claim_run_folder(output, inputs)
    stage = StageTimer(progress)
    ingest_memory = Budget.of(options.get("memory")).memory
    made_with = ActionOptions(
        **{f.name: options[f.name] for f in fields(ActionOptions) if f.name in options}
    )
    work = WorkDir(output if work_dir is None else work_dir, prefix=".coordscope-work-")
    try:
        with StateStore(state) as store, store.unchanged():
            read = None
            with stage("ingest", "reading input"):
                if inputs:
                    read = ingest(
                        list(inputs), format=format, mapping=mapping, memory=ingest_memory,
                        spill=work,
                    )  # fmt: skip
            with stage("state", "adding to the state"):
                added = store.add(read.events) if read is not None else Added()
            days = store.pending.horizon(horizon)
            if not days:
                raise ParameterError(f"the state {store.path} holds no events: give input files")
            kept: KeptDays | None = None
            made: list[str] = []
            if options.get("pseudonymize") is None:  # kept actions hold the ids as read
                with stage("keep", "counting the new days"):
                    kept, made = keep_days(
                        store,
                        days,
                        signals=options.get("signals"),
                        window=options.get("window", 60.0),
                        windows=options.get("windows"),
                        options=made_with,
                        budget=Budget.of(
                            options.get("memory"),
                            options.get("workers"),
                            options.get("partition_memory"),
                        ),
                        work=work,
                    )
            result = audit(store.scan(days), progress=progress, work_dir=work, kept=kept, **options)
            as_of = dt.date.fromisoformat(days[-1])
            lineage = track_campaigns(result.clusters, registry=store.campaigns(), as_of=as_of)
            result.clusters = result.clusters.with_columns(lineage.ids.alias("campaign"))
            result.changes = lineage.changes
            statuses = lineage.changes.group_by("status").len().sort("status")
            state_summary: dict[str, Any] = {
                "directory": str(store.path),
                "generation": store.next_generation,
                "days_held": len(store.pending.days),
                "horizon": {
                    "days": horizon,
                    "first": days[0],
                    "last": days[-1],
                    "days_with_events": len(days),
                    "events": sum(store.pending.days[d]["events"] for d in days),
                },
                "added": added.events,
                "replaced": added.replaced,
                "replaced_in_input": added.replaced_in_input,
                "days_written": added.days,
                "days_counted": made,
                # days whose near-duplicate sets or pairs were made (co_similar)
                "near_duplicate_days_made": kept.similar_made if kept is not None else [],
                "days_reused": len(days) - len(made) if kept is not None else 0,
                "changes": dict(statuses.iter_rows()),
                "previous_run": store.committed.runs[-1] if store.committed.runs else None,
            }
            result.summary["state"] = state_summary
            if read is not None:
                result.summary.update(
                    rows=dict(read.rows), inputs=read.inputs, ingest_counters=read.counters()
                )
            else:
                result.summary["rows"] = {"input": 0, "accepted": 0, "rejected": 0, "duplicates": 0}
            result.rejects = _rejects_out(read.rejects, options) if read is not None else None
            timings = result.summary["timings_s"]
            result.summary["timings_s"] = {
                **{k: round(v, 4) for k, v in stage.timings.items()},
                **timings,
            }
            resources = result.summary.setdefault("resources", {})
            resources["peak_rss_mib"] = {
                **stage.peak_mib,  # reading, adding to the state, counting new days
                **resources.get("peak_rss_mib", {}),
            }
            with stage("write", "writing outputs and report"):
                write_audit(result, output)
            with stage("commit", "committing the state"):
                store.set_campaigns(lineage.registry)
                store.record_run(
                    {
                        "as_of": days[-1],
                        "horizon_days": horizon,
                        "events": state_summary["horizon"]["events"],
                        "added": added.events,
                        "replaced": added.replaced,
                        "campaigns": int(lineage.ids.drop_nulls().len()),
                        "changes": state_summary["changes"],
                        "output": str(output),
                    }
                )
                store.commit()
        _reread_outputs(result, output)
    finally:
        work.close()
    return result


#: The Python name of ``coordscope audit --state``.
daily_audit = run_state_audit


def _rejects_out(rejects: pl.DataFrame | None, options: Mapping[str, Any]) -> pl.DataFrame | None:
    """Return the rejects to write: reasons quote no value when accounts are pseudonymised."""
    if rejects is None or options.get("pseudonymize") is None:
        return rejects
    return redact_reasons(rejects)


def _reread_outputs(result: AuditResult, output: Path) -> None:
    """Point the result at the files written (the spill files go with the work dir)."""
    for name, attr in (
        ("edges.parquet", "edge_parts"),
        ("coactions.parquet", "coaction_parts"),
    ):
        written = output / name
        setattr(result, attr, PartedTable([written], pl.read_parquet_schema(written)))
    if isinstance(result.events, pl.LazyFrame):
        result.events = pl.scan_parquet(output / "events.parquet")
    result.actions = result.work = None  # the spilled actions go with the directory


def run_detect(
    inputs: Sequence[str],
    output: Path,
    *,
    signals: Sequence[str],
    window: float,
    mode: str = "native",
    format: str = "auto",
    mapping: Mapping[str, str] | None = None,
    min_participation: int = 2,
    remove_loops: bool = True,
    edge_weight: float = 0.5,
    min_edge_weight: int = 1,
    text_rule: TextRule | None = None,
    min_text_length: int | None = None,
    similarity: float | None = None,
    min_shingles: int | None = None,
    media_distance: int | None = None,
    memory: str | int | None = None,
    workers: int | None = None,
    partition_memory: str | int | None = None,
    runner: Runner | None = None,
) -> dict[str, Any]:
    """Ingest ``inputs``, detect co-actions in ``mode``, write the folder, return the summary.

    Parameters
    ----------
    inputs : sequence of str
        Export files.
    output : pathlib.Path
        The output folder.
    signals : sequence of str
        Signals to count.
    window : float
        ``W`` in seconds (inclusive).
    mode : {"native", "coortweet", "cnt"}
        :func:`coordscope.detect`, :func:`coordscope.compat.detect_coortweet` or
        :func:`coordscope.compat.detect_cnt`.
    format, mapping
        As for :func:`run_audit`.
    min_participation, remove_loops, edge_weight
        ``coortweet`` only: CooRTweet's parameters.
    min_edge_weight : int
        ``native``: least ``n_keys``; ``cnt``: the toolkit's least weight.
    text_rule : {"default", "toolkit", "exact"}, optional
        ``co_text`` normalisation (``native``); default ``default``.
    min_text_length, similarity, min_shingles, media_distance : optional
        The signals' options (:func:`coordscope.detect`; ``native``, and ``similarity``
        also ``cnt``: the toolkit's ``similarity_threshold``); default the defaults.
    memory, workers, partition_memory
        The memory budget, worker threads and the memory of one partition task
        (:class:`coordscope.budget.Budget`; ``partition_memory``: ``native`` only).
    runner : Runner, optional
        Who counts the pairs in ``native`` mode: threads of this process (default) or
        Spark (:class:`~coordscope.engine.spark.SparkRunner`). The reference modes run
        here only.

    Returns
    -------
    dict
        The summary written as ``summary.json``.
    """
    if mode not in MODES:
        raise ParameterError(f"mode must be one of {', '.join(MODES)}, got '{mode}'")
    runner = LocalRunner() if runner is None else runner
    if mode != "native" and runner.name != "local":
        raise ParameterError(
            f"--engine {runner.name} counts native mode only; {mode} mode runs locally"
        )
    given: dict[str, Any] = {
        "text_rule": text_rule, "min_text_length": min_text_length, "similarity": similarity,
        "min_shingles": min_shingles, "media_distance": media_distance,
        "partition_memory": partition_memory,
    }  # fmt: skip
    for name, value in given.items():
        if value is not None and mode not in MODE_OPTIONS[name]:
            raise ParameterError(
                f"{name}: not used in {mode} mode (only in {' and '.join(MODE_OPTIONS[name])} mode)"
            )
    budget = Budget.of(memory, workers, partition_memory)
    made_with = ActionOptions(
        **{k: v for k, v in given.items() if v is not None and k != "partition_memory"}
    )  # checked before the input is read, like the window
    check_window(window)
    resolve_signals(signals)
    claim_run_folder(output, inputs)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    # events (native mode) and native tables are written in pieces here first; removed
    # after, also after an error
    work = WorkDir(output, prefix=".coordscope-work-")
    try:
        # native mode reads the events it needs from the work directory; the reference
        # modes count over the whole table, held
        read = ingest(
            list(inputs),
            format=format,
            mapping=mapping,
            memory=budget.memory,
            spill=work if mode == "native" else None,
        )
        events: EventFrame = read.events
        timings["ingest"] = time.perf_counter() - start
        result: DetectResult
        if mode == "native":
            result = detect(
                events,
                signals=signals,
                window=window,
                min_edge_weight=min_edge_weight,
                text_rule=made_with.text_rule,
                min_text_length=made_with.min_text_length,
                similarity=made_with.similarity,
                min_shingles=made_with.min_shingles,
                media_distance=made_with.media_distance,
                memory=memory,
                workers=workers,
                partition_memory=partition_memory,
                work_dir=work,
                runner=runner,
            )
        elif mode == "coortweet":
            result = detect_coortweet(
                _held(events),
                signals=signals,
                window=window,
                min_participation=min_participation,
                remove_loops=remove_loops,
                edge_weight=edge_weight,
                memory=memory,
            )
        else:
            result = detect_cnt(
                _held(events),
                signals=signals,
                window=window,
                min_edge_weight=min_edge_weight,
                similarity=made_with.similarity,
                memory=memory,
                workers=workers,
            )
        timings.update(result.timings)
        ingest_summary = read.summary()
        summary: dict[str, Any] = {
            "version": __version__,
            "command": "detect",
            "rows": dict(read.rows),
            "inputs": ingest_summary["inputs"],
            "events": ingest_summary["events"],
            "time_span": ingest_summary["time_span"],
            "ingest_counters": ingest_summary["counters"],
            "parameters": result.parameters,
            "counts": result.counts,
        }
        summary["timings_s"] = {k: round(v, 4) for k, v in timings.items()}
        summary["resources"] = {
            "engine": runner.name,
            "memory_bytes": budget.memory,
            "workers": budget.workers,
            "partition_memory_bytes": budget.task,
        }
        write_detect(result, output, events=events, rejects=read.rejects, summary=summary)
    finally:
        work.close()
    return summary


def _held(events: EventFrame) -> pl.DataFrame:
    """Return the events as a held table (read whole when they are a scan)."""
    return events if isinstance(events, pl.DataFrame) else events.collect()
