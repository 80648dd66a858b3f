"""Audits on Apache Spark, from a notebook or a ``spark-submit`` job.

:func:`spark_audit` takes a ``SparkSession`` and canonical events (a Spark DataFrame, a
table name, or a Parquet or Delta path), runs the audit with Spark making the row-local
signals' actions, coding the bursts and counting the pairs
(:class:`~coordscope.engine.spark.SparkRunner`), and the candidates' tests and the rest in
the driver with the local code; it writes the output folder and returns
the large tables as Spark DataFrames and the small ones as polars. The folder is the one
``coordscope audit`` writes for the same events, byte for byte (``summary.json`` aside:
timings and the engine's name).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from coordscope.engine.spark import SparkRunner
from coordscope.errors import SchemaError
from coordscope.outputs import claim_run_folder, write_audit
from coordscope.parts import WorkDir
from coordscope.pipeline import audit
from coordscope.schema import ACTOR_CREATED, EVENT_SCHEMA, EXTRA_PREFIX, TS, validate_events

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkFrame
    from pyspark.sql import SparkSession

__all__ = ["SparkAudit", "spark_audit", "spark_events"]


@dataclass
class SparkAudit:
    """What :func:`spark_audit` returns.

    Attributes
    ----------
    edges : pyspark.sql.DataFrame
        ``edges.parquet`` of the output folder, read by Spark (one row per pair that
        co-acted: hundreds of millions of rows at scale).
    coactions : pyspark.sql.DataFrame
        ``coactions.parquet`` (the evidence rows), read by Spark.
    nodes, clusters, bursts : polars.DataFrame
        The accounts, ranked clusters and ranked bursts.
    summary : dict
        What ``summary.json`` holds.
    output : pathlib.Path
        The output folder (``report.html`` and the Gephi files are there).
    """

    edges: SparkFrame
    coactions: SparkFrame
    nodes: pl.DataFrame
    clusters: pl.DataFrame
    bursts: pl.DataFrame
    summary: dict[str, Any]
    output: Path


def spark_events(
    session: SparkSession, events: SparkFrame | str | Path, *, work: WorkDir
) -> pl.LazyFrame:
    """Copy canonical events from Spark into the work directory; return a polars scan.

    Parameters
    ----------
    session : pyspark.sql.SparkSession
        The session.
    events : pyspark.sql.DataFrame, str or Path
        A DataFrame, a Parquet file or folder, a Delta table's folder (with its
        ``_delta_log``; needs Delta Lake in the session), or a table name. It must hold
        the canonical columns (``x_`` columns are kept): a team's own table is mapped
        with a ``select`` of its columns ``AS`` the canonical names first.
    work : WorkDir
        Where the copy goes (a folder the driver reads).

    Returns
    -------
    polars.LazyFrame
        The events in Spark's row order, with the canonical types (times as UTC
        microseconds), checked by :func:`~coordscope.schema.validate_events`.

    Raises
    ------
    SchemaError
        A canonical column is missing or a value does not fit its type (names it).
    """
    from pyspark.sql import functions as F  # noqa: N812 - the optional extra

    frame = _spark_frame(session, events)
    missing = [c for c in EVENT_SCHEMA if c not in frame.columns]
    if missing:
        raise SchemaError(f"column '{missing[0]}' is missing from the Spark event table")
    extras = [c for c in frame.columns if c.startswith(EXTRA_PREFIX)]
    times = (TS, ACTOR_CREATED)
    frame = frame.select(
        *(F.unix_micros(F.col(c)).alias(c) if c in times else F.col(c) for c in EVENT_SCHEMA),
        *extras,
    )
    folder = work.subdir("spark-events-in")
    frame.write.mode("overwrite").parquet(folder.resolve().as_uri())
    files = sorted(folder.glob("*.parquet"))
    if not files:  # no partition had a row: Spark wrote no data file
        return pl.DataFrame(schema=EVENT_SCHEMA).lazy()
    lazy = pl.scan_parquet(files).select(
        *(
            pl.from_epoch(pl.col(c), time_unit="us").dt.replace_time_zone("UTC")
            if c in times
            else pl.col(c).cast(t)
            for c, t in EVENT_SCHEMA.items()
        ),
        *extras,
    )
    try:
        validate_events(lazy)
    except pl.exceptions.PolarsError as err:
        raise SchemaError(
            f"the Spark event table does not fit the canonical types: {err}"
        ) from None
    return lazy


def spark_audit(
    session: SparkSession,
    events: SparkFrame | str | Path,
    output: str | Path,
    *,
    work_dir: str | Path | None = None,
    **options: Any,
) -> SparkAudit:
    """Audit canonical events with Spark; write the output folder; return the tables.

    Parameters
    ----------
    session : pyspark.sql.SparkSession
        The session (a notebook's own, or :func:`coordscope.engine.spark.spark_session`).
    events : pyspark.sql.DataFrame, str or Path
        Canonical events: see :func:`spark_events`.
    output : str or Path
        The output folder (the files of ``coordscope audit``); a path the driver writes.
    work_dir : str or Path, optional
        Where scratch files go (a hidden subfolder, removed at the end, also after an
        error); default: inside ``output``. Spark's executors and the driver must both
        see it (a shared mount on a cluster).
    **options
        Keyword arguments of :func:`coordscope.audit` (``signals``, ``window``,
        ``alpha``, ``seed``, ``memory``, ``workers``, …).

    Returns
    -------
    SparkAudit
    """
    output = Path(output)
    # checked and cleared before Spark reads anything (see coordscope.outputs)
    claim_run_folder(output, [events] if isinstance(events, str | Path) else [])
    work = WorkDir(output if work_dir is None else work_dir, prefix=".coordscope-work-")
    try:
        lazy = spark_events(session, events, work=work)
        result = audit(lazy, work_dir=work, runner=SparkRunner(session), **options)
        write_audit(result, output)
        nodes, clusters, bursts = result.nodes, result.clusters, result.bursts
        summary = result.summary
        del result
    finally:
        work.close()
    return SparkAudit(
        edges=session.read.parquet((output / "edges.parquet").resolve().as_uri()),
        coactions=session.read.parquet((output / "coactions.parquet").resolve().as_uri()),
        nodes=nodes,
        clusters=clusters,
        bursts=bursts,
        summary=summary,
        output=output,
    )


def _spark_frame(session: SparkSession, events: SparkFrame | str | Path) -> SparkFrame:
    """Return ``events`` as a Spark DataFrame (a path or table name is read)."""
    if not isinstance(events, str | Path):
        return events
    text = str(events)
    path = Path(text)
    if (path / "_delta_log").is_dir():
        return session.read.format("delta").load(text)
    if path.exists() or "://" in text or text.endswith(".parquet"):
        return session.read.parquet(text)
    return session.table(text)
