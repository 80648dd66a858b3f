"""Output folders: what an audit or a detection writes, and the result object that writes it.

Every file is written atomically (a temporary file beside it, then a rename) and
``summary.json`` is written last, after an earlier one is removed first: a folder holds a
summary only when every file of the run is in place. A run owns its folder
(:func:`claim_run_folder`): before it reads its input it removes what an earlier audit or
detection left there (:data:`RUN_FILES`, their temporaries, stale work folders), so that
no file of another run sits beside its own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import networkx as nx
import polars as pl

from coordscope._output import (
    claim_output,
    unneutralise_formulas,
    write_json,
    write_parts,
    write_parts_csv,
    write_table,
)
from coordscope.budget import peak_rss_mib
from coordscope.errors import InputError
from coordscope.graphs.clusters import cluster_evidence
from coordscope.graphs.export import graph_tables, to_networkx, write_gexf, write_graphml
from coordscope.parts import PartedTable
from coordscope.report import write_report
from coordscope.results import AuditTables, DetectResult
from coordscope.schema import REJECT_SCHEMA, EventFrame

__all__ = [
    "EDGES_CSV_ROWS",
    "OUTPUT_FILES",
    "RUN_FILES",
    "AuditResult",
    "claim_run_folder",
    "read_audit",
    "write_audit",
    "write_detect",
]

#: ``edges.csv`` holds the first rows of ``edges.parquet`` (tested edges by p-value, then
#: the others by ids), at most this many: a spreadsheet opens it, and the full table of
#: hundreds of millions of pairs stays in ``edges.parquet``.
EDGES_CSV_ROWS: Final = 1_000_000

#: Files of an audit folder, in the order they are written (``summary.json`` last, so a
#: folder with a summary is complete; ``rejects.csv`` only when records were rejected,
#: ``changes.parquet`` after ``bursts.parquet`` only with a daily state).
OUTPUT_FILES: Final = (
    "events.parquet",
    "coactions.parquet",
    "edges.parquet",
    "edges.csv",
    "nodes.csv",
    "nodes.parquet",
    "clusters.parquet",
    "bursts.parquet",
    "graph.graphml",
    "graph.gexf",
    "report.html",
    "summary.json",
)

#: Every file an audit or a detection may write in its folder: what a run removes before
#: it starts (an audit's ``report.html`` beside a later detection's tables would describe
#: another run). A detection writes the first five of :data:`OUTPUT_FILES`.
RUN_FILES: Final = (*OUTPUT_FILES, "changes.parquet", "rejects.csv")


def claim_run_folder(output: Path, inputs: Iterable[str | Path] = ()) -> Path:
    """Check an audit or detection folder can be written, and clear an earlier run's files.

    Removes ``summary.json`` first, then the :data:`RUN_FILES` (except an input of this
    run, replaced when written), their temporaries and stale work folders
    (:func:`coordscope._output.claim_output`); nothing else.

    Raises
    ------
    ParameterError
        ``output`` is a file, cannot be created, or cannot be written in.
    """
    return claim_output(output, RUN_FILES, inputs=inputs, work=True)


class AuditResult(AuditTables):
    """What :func:`coordscope.audit` returns: its tables, and ways to view and write them.

    The tables are the attributes of :class:`~coordscope.results.AuditTables`
    (``events, coactions, edges, nodes, clusters, bursts, summary, rejects, actions``).
    """

    def cluster_evidence(self, cluster: int) -> pl.DataFrame:
        """Return the timestamped events behind a cluster's edges.

        Parameters
        ----------
        cluster : int
            The cluster's id (its rank in ``clusters``).

        Returns
        -------
        polars.DataFrame
            ``signal, key, actor_id, actor_name, ts, event_id, text``: every event of a
            co-action between two members of ``cluster``, once, sorted by key then time.
        """
        return cluster_evidence(self, cluster)

    def to_networkx(self, *, significant_only: bool = True) -> nx.Graph:
        """Build the account graph as a :class:`networkx.Graph`.

        Nodes carry the :data:`~coordscope.schema.NODE_SCHEMA` attributes, edges the edge
        columns (lists as JSON arrays, times as ISO 8601 strings).
        """
        return to_networkx(self.nodes, self.edges, significant_only=significant_only)

    def write(self, directory: str | Path, *, report: bool = True) -> list[Path]:
        """Write every output file into ``directory`` (see :func:`write_audit`)."""
        return write_audit(self, Path(directory), report=report)

    @classmethod
    def read(cls, directory: str | Path) -> AuditResult:
        """Read an audit folder back (see :func:`read_audit`)."""
        return read_audit(directory)


#: What :func:`read_audit` needs of a folder (``changes.parquet`` and ``rejects.csv`` are
#: read when they are there).
READ_FILES: Final = (
    "summary.json",
    "events.parquet",
    "coactions.parquet",
    "edges.parquet",
    "nodes.parquet",
    "clusters.parquet",
    "bursts.parquet",
)


def read_audit(directory: str | Path) -> AuditResult:
    """Read the folder an audit wrote back into an :class:`AuditResult`.

    Tables are read with their written types: ``events``, ``coactions`` and ``edges`` as
    scans of their Parquet files (nothing is held until asked for: an edge table of
    hundreds of millions of rows stays on disk), ``nodes`` (from ``nodes.parquet``),
    ``clusters``, ``bursts`` and ``changes`` in memory, ``summary`` from
    ``summary.json`` and the rejects from ``rejects.csv``. The result renders the same
    report as the run that wrote the folder (:func:`coordscope.report.write_report`),
    with another ``top`` if wanted, and gives the same cluster evidence and graphs.

    Parameters
    ----------
    directory : str or Path
        An audit output folder (``coordscope audit -o DIR``).

    Returns
    -------
    AuditResult
        Its ``actions`` are None (they are not an output).

    Raises
    ------
    InputError
        The folder is missing, holds no ``summary.json`` (an audit still running, or one
        that was killed: its files are not a whole audit), lacks a file of
        :data:`READ_FILES` (a detection's folder, or one written by a coordscope before
        ``nodes.parquet`` existed: audit again), or a file cannot be read.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise InputError(str(folder), "no such audit folder")
    for name in READ_FILES:
        if not (folder / name).is_file():
            why = (
                "no summary.json: not a complete audit (still running, killed, or a "
                "detection's folder)"
                if name == "summary.json"
                else f"no {name}: not an audit folder, or one an older coordscope wrote"
            )
            raise InputError(str(folder), why)
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        if not isinstance(summary, dict):
            raise ValueError("not a JSON object")
        rejects = None
        if (folder / "rejects.csv").is_file():
            rejects = pl.read_csv(folder / "rejects.csv", schema=REJECT_SCHEMA).with_columns(
                unneutralise_formulas(pl.col("source"), pl.col("reason"))
            )
        changes = (
            pl.read_parquet(folder / "changes.parquet")
            if (folder / "changes.parquet").is_file()
            else None
        )

        def parted(name: str) -> PartedTable:
            path = folder / name
            return PartedTable([path], pl.read_parquet_schema(path))

        return AuditResult(
            events=pl.scan_parquet(folder / "events.parquet"),
            coaction_parts=parted("coactions.parquet"),
            edge_parts=parted("edges.parquet"),
            nodes=pl.read_parquet(folder / "nodes.parquet"),
            clusters=pl.read_parquet(folder / "clusters.parquet"),
            bursts=pl.read_parquet(folder / "bursts.parquet"),
            summary=summary,
            rejects=rejects,
            changes=changes,
        )
    except (OSError, ValueError, pl.exceptions.PolarsError) as exc:
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(str(folder), f"cannot read the audit folder: {detail}") from None


def write_audit(result: AuditTables, directory: Path, *, report: bool = True) -> list[Path]:
    """Write an audit folder, each file atomically, ``summary.json`` last.

    Parameters
    ----------
    result : AuditTables
        The audit's tables; ``summary`` gains ``files`` and the write timings.
    directory : pathlib.Path
        Created when missing.
    report : bool, default True
        Also render ``report.html``.

    Returns
    -------
    list of pathlib.Path
        The paths written, in :data:`OUTPUT_FILES` order (``rejects.csv`` before the
        report when records were rejected).

    Notes
    -----
    ``summary.json`` is removed first, and every other file of :data:`RUN_FILES` this
    write does not replace (an earlier run's ``rejects.csv``, ``changes.parquet``,
    ``report.html``), so that the folder never mixes two runs.
    """
    rejected = result.rejects is not None and result.rejects.height > 0
    writes = {
        *OUTPUT_FILES[:-1],
        *(["changes.parquet"] if result.changes is not None else []),
        *(["rejects.csv"] if rejected else []),
    } - (set() if report else {"report.html"})
    claim_output(directory, RUN_FILES, keep=writes)
    written: list[Path] = []
    start = time.perf_counter()
    written.append(write_table(result.events, directory / "events.parquet"))
    written.append(write_parts(result.coaction_parts, directory / "coactions.parquet"))
    written.append(write_parts(result.edge_parts, directory / "edges.parquet"))
    csv_edges = result.edge_parts.head(EDGES_CSV_ROWS)
    result.summary.setdefault("counts", {})["edges_csv_rows"] = csv_edges.height
    written.append(write_table(csv_edges, directory / "edges.csv"))
    del csv_edges
    written.append(write_table(result.nodes, directory / "nodes.csv"))
    written.append(write_table(result.nodes, directory / "nodes.parquet"))
    written.append(write_table(result.clusters, directory / "clusters.parquet"))
    written.append(write_table(result.bursts, directory / "bursts.parquet"))
    if result.changes is not None:
        written.append(write_table(result.changes, directory / "changes.parquet"))
    graph_nodes, graph_edges = graph_tables(result.nodes, result.significant_edges)
    written.append(write_graphml(graph_nodes, graph_edges, directory / "graph.graphml"))
    written.append(write_gexf(graph_nodes, graph_edges, directory / "graph.gexf"))
    if result.rejects is not None and rejected:
        written.append(write_table(result.rejects, directory / "rejects.csv"))
    result.summary.setdefault("timings_s", {})["write"] = round(time.perf_counter() - start, 4)
    if report:
        start = time.perf_counter()
        written.append(write_report(result, directory / "report.html"))
        result.summary["timings_s"]["report"] = round(time.perf_counter() - start, 4)
    result.summary["files"] = sorted([p.name for p in written] + ["summary.json"])
    peaks = result.summary.setdefault("resources", {}).setdefault("peak_rss_mib", {})
    peaks["write"] = peak_rss_mib()
    written.append(write_json(result.summary, directory / "summary.json"))
    return written


def write_detect(
    result: DetectResult,
    directory: Path,
    *,
    events: EventFrame,
    rejects: pl.DataFrame | None,
    summary: dict[str, Any],
) -> list[str]:
    """Write a detection folder; returns the file names, ``summary.json`` last.

    Files: ``events.parquet``, ``coactions.parquet``, ``edges.parquet``, ``edges.csv``,
    ``nodes.csv``, ``rejects.csv`` when records were rejected, and ``summary`` as
    ``summary.json`` (it gains ``files`` and the write time). ``summary.json`` is removed
    first, and every file of :data:`RUN_FILES` this write does not replace (an earlier
    audit's clusters, graphs and report; an earlier ``rejects.csv``).
    """
    files = ["events.parquet", "coactions.parquet", "edges.parquet", "edges.csv", "nodes.csv"]
    rejected = rejects is not None and rejects.height > 0
    claim_output(directory, RUN_FILES, keep={*files, *(["rejects.csv"] if rejected else [])})
    start = time.perf_counter()
    write_table(events, directory / "events.parquet")
    write_parts(result.coaction_parts, directory / "coactions.parquet")
    write_parts(result.edge_parts, directory / "edges.parquet")
    write_parts_csv(result.edge_parts, directory / "edges.csv")
    write_table(result.nodes, directory / "nodes.csv")
    if rejects is not None and rejected:
        write_table(rejects, directory / "rejects.csv")
        files.append("rejects.csv")
    summary.setdefault("timings_s", {})["write"] = round(time.perf_counter() - start, 4)
    files.append("summary.json")
    summary["files"] = files
    write_json(summary, directory / "summary.json")
    return files
