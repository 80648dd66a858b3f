"""Benchmark: the audit at scale — N days of 1M events a day.

Input: the ``mixed`` scenario (seed 4), ``N`` days × 1M events a day, written once as the
canonical Parquet table (what ``coordscope ingest`` writes; reading exports is measured by
the ingest workloads). The run is the command line, ``coordscope audit FILE -o DIR
--memory 4GB``, in a child process, so that its peak RSS is its own; ``summary.json`` gives
the time and the peak RSS after each stage. Detection quality is measured against the
scenario's truth in another child process (``coordscope evaluate``).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["prepare", "run"]

HERE = Path(__file__).resolve().parent
PER_DAY = 1_000_000


def prepare(days: int) -> Path:
    """Write the input (and its truth beside it) once; return the Parquet path."""
    folder = HERE / "data" / f"scale_mixed_{days}d"
    path = folder / "events.parquet"
    if path.exists():
        return path
    from coordscope._output import write_table
    from coordscope.datasets.simulate import simulate

    folder.mkdir(parents=True, exist_ok=True)
    events, truth = simulate("mixed", seed=4, size=days * PER_DAY, days=days)
    write_table(truth, folder / "truth.parquet")
    tmp = path.with_name(".tmp-" + path.name)
    events.write_parquet(tmp)
    tmp.rename(path)
    return path


def _child_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0


def run(path: Path, *, memory: str = "4GB") -> dict[str, Any]:
    """Audit ``path`` with the CLI in a child process; report time, RSS per stage, quality."""
    with tempfile.TemporaryDirectory(prefix="coordscope-bench-scale-") as tmp:
        out = Path(tmp) / "audit"
        command = [sys.executable, "-m", "coordscope", "audit", str(path), "-o", str(out)]
        start = time.perf_counter()
        done = subprocess.run(
            [*command, "--memory", memory, "--json"], check=False, capture_output=True, text=True
        )
        seconds = time.perf_counter() - start
        if done.returncode:  # say why, not only that it failed
            raise RuntimeError(
                f"audit exited with {done.returncode} after {seconds:.0f} s, peak RSS "
                f"{_child_peak_mib():.0f} MiB: {done.stderr.strip().splitlines()[-1:]}"
            )
        peak = _child_peak_mib()
        summary = json.loads((out / "summary.json").read_text())
        quality = subprocess.run(
            [sys.executable, "-m", "coordscope", "evaluate", str(out), "--truth",
             str(path.parent / "truth.parquet"), "--json"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
    counts = summary["counts"]
    metrics = json.loads(quality.stdout)
    return {
        "rows": summary["rows"]["input"],
        "core_seconds": round(seconds, 4),
        "core": "canonical Parquet → every output file and the report (CLI process)",
        "run_peak_rss_mib": round(peak, 1),
        "memory_budget": memory,
        "stage_seconds": summary["timings_s"],
        "stage_peak_rss_mib": summary.get("resources", {}).get("peak_rss_mib", {}),
        "edges": counts["edges"],
        "significant_edges": counts["significant_edges"],
        "clusters": counts["clusters"],
        "flagged_accounts": counts["flagged_accounts"],
        "quality": {
            **{k: metrics["accounts"].get(k) for k in ("precision", "recall", "f1")},
            "pair_ap": metrics["pairs"].get("average_precision"),
            "ari": metrics["clusters"].get("ari"),
        },
    }
