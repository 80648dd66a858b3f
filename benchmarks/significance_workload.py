"""Benchmark: native edges + significance on the 10M-action co_share workload.

Reports the time of :func:`coordscope.engine.native.native_pairs` alone (edges only, as
the ``co_share_native_edges`` workload) and of :func:`coordscope.stats.significance.
significance` (which runs the kernel with evidence, the null model, the pair tests and
the group tests), so the added cost of significance can be read off.

Significance runs in a process of its own, set up as ``coordscope audit`` sets up its
process (polars' jemalloc purges freed pages, glibc returns freed blocks: the stage runs
at scale only there), which reads the actions and reports its own peak RSS. In the
process that ran the native kernel first, with the allocators' defaults, the peak also
held what they kept of that run and of the stage's threads: 4.1 to 5.8 GB from run to run
for what is 3.5 GB of live memory (sampled with these settings, the same as before the
stage was compiled).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["run"]

#: Run in a fresh interpreter, allocators set as the command line sets them: read the
#: actions, time significance, print the result.
_SIGNIFICANCE = """
import json, resource, sys, time
from coordscope._allocator import tune_allocator
tune_allocator()
from coordscope.budget import return_freed_memory
return_freed_memory()
import polars as pl
from coordscope.stats.significance import significance
actions = pl.read_parquet(sys.argv[1])
start = time.perf_counter()
result = significance(actions, window=60)
seconds = time.perf_counter() - start
print(json.dumps({
    "seconds": seconds,
    "timings": result.timings,
    "counts": {k: v for k, v in result.counts.items() if k != "windows"},
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
}))
"""


def run(path: Path) -> dict[str, Any]:
    """Run both on the actions in ``path`` (Parquet) and report their times (seconds)."""
    import polars as pl

    from coordscope.engine.native import native_pairs

    actions = pl.read_parquet(path)
    start = time.perf_counter()
    edges = native_pairs(actions, window=60, evidence=False).edges
    native_s = time.perf_counter() - start
    n_edges = edges.height
    del edges
    proc = subprocess.run(
        [sys.executable, "-c", _SIGNIFICANCE, str(path)],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    sig = json.loads(proc.stdout.strip().splitlines()[-1])
    total_s = float(sig["seconds"])
    return {
        "rows": actions.height,
        "core_seconds": round(total_s, 4),
        "core": "significance (kernel with evidence + null model + tests), file read "
        "excluded, in a process of its own set up as the command line's (its peak RSS is "
        "reported)",
        "native_edges_seconds": round(native_s, 4),
        "significance_added_seconds": round(total_s - native_s, 4),
        "significance_to_native": round(total_s / native_s, 2),
        "edges": n_edges,
        "stage_seconds": sig["timings"],
        "counts": sig["counts"],
        "run_peak_rss_mib": sig["peak_rss_mib"],
    }
