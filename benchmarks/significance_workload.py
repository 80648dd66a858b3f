"""Benchmark: native edges + significance on the 10M-action co_share workload (design.md §9).

Reports the time of :func:`coordscope.engine.native.native_pairs` alone (edges only, as
the ``co_share_native_edges`` workload) and of :func:`coordscope.stats.significance.
significance` (which runs the kernel with evidence, the null model, the pair tests and
the group tests), so the added cost of significance can be read off.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

__all__ = ["run"]


def run(path: Path) -> dict[str, Any]:
    """Run both on the actions in ``path`` (Parquet) and report their times (seconds)."""
    import polars as pl

    from coordscope.engine.native import native_pairs
    from coordscope.stats.significance import significance

    actions = pl.read_parquet(path)
    start = time.perf_counter()
    edges = native_pairs(actions, window=60, evidence=False).edges
    native_s = time.perf_counter() - start
    n_edges = edges.height
    del edges
    start = time.perf_counter()
    result = significance(actions, window=60)
    total_s = time.perf_counter() - start
    return {
        "rows": actions.height,
        "core_seconds": round(total_s, 4),
        "core": "significance (kernel with evidence + null model + tests), file read excluded",
        "native_edges_seconds": round(native_s, 4),
        "significance_added_seconds": round(total_s - native_s, 4),
        "edges": n_edges,
        "stage_seconds": result.timings,
        "counts": {k: v for k, v in result.counts.items() if k != "windows"},
    }
