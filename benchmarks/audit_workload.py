"""Benchmark: ``coordscope audit`` end to end on 1M events (target ≤ 30 s).

Input: the ``mixed`` scenario (every hard negative and every campaign style), seed 3,
1M events, written as X API v2 JSON lines — the way a researcher's API pull arrives.
The run is what the CLI does: read and normalise, actions, co-actions, significance,
clusters, bursts, every output file and the HTML report. Detection quality against the
scenario's truth is reported next to the time.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["prepare", "run"]

ROWS = 1_000_000
HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / f"audit_mixed_{ROWS}"


def prepare() -> Path:
    """Write the input (and its truth beside it) once; return the JSONL path."""
    path = DATA / "tweets.jsonl"
    if path.exists():
        return path
    from coordscope._output import write_table
    from coordscope.datasets.formats import get_format
    from coordscope.datasets.simulate import simulate

    DATA.mkdir(parents=True, exist_ok=True)
    events, truth = simulate("mixed", seed=3, size=ROWS)
    write_table(truth, DATA / "truth.parquet")
    tmp = path.with_name(".tmp-" + path.name)
    get_format("twitter-v2").write(events, str(tmp))
    tmp.rename(path)
    return path


def run(path: Path) -> dict[str, Any]:
    """Audit ``path`` into a temporary folder; report seconds per stage and quality."""
    from coordscope.metrics.evaluate import evaluate
    from coordscope.runs import run_audit

    with tempfile.TemporaryDirectory(prefix="coordscope-bench-audit-") as tmp:
        out = Path(tmp) / "audit"
        start = time.perf_counter()
        result = run_audit([str(path)], out)
        seconds = time.perf_counter() - start
        metrics = evaluate(out, path.parent / "truth.parquet")
    counts = result.summary["counts"]
    return {
        "rows": result.summary["rows"]["input"],
        "core_seconds": round(seconds, 4),
        "core": "file → every output file and the report",
        "stage_seconds": result.summary["timings_s"],
        "edges": counts["edges"],
        "significant_edges": counts["significant_edges"],
        "clusters": counts["clusters"],
        "flagged_clusters": counts["flagged_clusters"],
        "flagged_accounts": counts["flagged_accounts"],
        "quality": metrics.get("summary", {}),
        "campaign_recall": {
            name: value.get("recall") for name, value in metrics.get("campaigns", {}).items()
        },
    }
