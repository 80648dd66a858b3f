"""Runs that read files and write an output folder: what the CLI commands call."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from coordscope import __version__
from coordscope._output import write_json, write_table
from coordscope.datasets.ingest import ingest
from coordscope.signals.actions import TextRule
from coordscope.signals.detect import detect

__all__ = ["run_detect"]


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
) -> dict[str, Any]:
    """Ingest ``inputs``, detect co-actions, write the output folder, return the summary.

    Files written (atomically): ``events.parquet``, ``coactions.parquet``,
    ``edges.parquet``, ``edges.csv``, ``nodes.csv``, ``summary.json`` and, when records
    were rejected, ``rejects.csv``.
    """
    timings: dict[str, float] = {}
    start = time.perf_counter()
    read = ingest(list(inputs), format=format, mapping=mapping)
    timings["ingest"] = time.perf_counter() - start
    result = detect(
        read.events,
        signals=signals,
        window=window,
        mode=mode,
        min_participation=min_participation,
        remove_loops=remove_loops,
        edge_weight=edge_weight,
        min_edge_weight=min_edge_weight,
        text_rule=text_rule,
    )
    timings.update(result.timings)
    start = time.perf_counter()
    files = ["events.parquet", "coactions.parquet", "edges.parquet", "edges.csv", "nodes.csv"]
    write_table(read.events, output / "events.parquet")
    write_table(result.coactions, output / "coactions.parquet")
    write_table(result.edges, output / "edges.parquet")
    write_table(result.edges, output / "edges.csv")
    write_table(result.nodes, output / "nodes.csv")
    if read.rejects.height:
        write_table(read.rejects, output / "rejects.csv")
        files.append("rejects.csv")
    timings["write"] = time.perf_counter() - start
    files.append("summary.json")
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
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
        "files": files,
    }
    write_json(summary, output / "summary.json")
    return summary
