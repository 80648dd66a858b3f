"""Run the benchmarks: ``python -m benchmarks.run [--only NAME ...] [--rows N]``.

Each workload runs in a fresh child process so that its peak RSS is its own. Results are
printed as a table and written as JSON to ``benchmarks/results/<workload>.json`` and
``benchmarks/results/latest.json``: workload, rows, seconds (best of ``--repeat``),
rows/s, peak RSS (MiB), target, and detection quality where truth exists.

Input files are generated once per (workload, rows) from seeded scenarios and cached in
``benchmarks/data/`` (not tracked). Benchmarks measure; tests check correctness.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
RESULTS = HERE / "results"


@dataclass(frozen=True)
class Workload:
    """A benchmark: how to make its input, how to run it once, and its target."""

    name: str
    description: str
    prepare: Callable[[int], Path]
    run: Callable[[Path], int]
    target_rows_per_s: float | None = None


def _simulated(fmt: str, filename: str) -> Callable[[int], Path]:
    """Input maker: the `organic` scenario (seed 1) at ``rows`` events, in format ``fmt``."""

    def prepare(rows: int) -> Path:
        path = DATA / f"{fmt}_{rows}" / filename
        if path.exists():
            return path
        from coordscope.datasets.simulate import simulate

        from coordscope.datasets.formats import get_format

        path.parent.mkdir(parents=True, exist_ok=True)
        events, _ = simulate("organic", seed=1, size=rows)
        tmp = path.with_name(path.name + ".tmp")
        get_format(fmt).write(events, str(tmp))
        tmp.rename(path)
        return path

    return prepare


def _ingest(fmt: str) -> Callable[[Path], int]:
    def run(path: Path) -> int:
        from coordscope.datasets.ingest import ingest

        result = ingest(path, format=fmt)
        assert result.rows["rejected"] == 0, result.rows
        return result.rows["input"]

    return run


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            "ingest_generic_csv",
            "generic CSV file → canonical events (parse, normalise, account)",
            _simulated("generic", "events.csv"),
            _ingest("generic"),
            1_000_000.0,
        ),
        Workload(
            "ingest_generic_parquet",
            "generic Parquet file → canonical events",
            _simulated("generic", "events.parquet"),
            _ingest("generic"),
            1_000_000.0,
        ),
        Workload(
            "ingest_twitter_v2_jsonl",
            "X API v2 JSON lines (one flattened tweet a line) → canonical events",
            _simulated("twitter-v2", "tweets.jsonl"),
            _ingest("twitter-v2"),
            200_000.0,
        ),
    )
}


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _child(name: str, rows: int, repeat: int) -> dict[str, Any]:
    """Run one workload in this process and return its measurements."""
    workload = WORKLOADS[name]
    path = workload.prepare(rows)
    times: list[float] = []
    n = 0
    for _ in range(repeat):
        start = time.perf_counter()
        n = workload.run(path)
        times.append(time.perf_counter() - start)
    best = min(times)
    return {
        "workload": name,
        "description": workload.description,
        "input": str(path.relative_to(HERE.parent)),
        "input_bytes": path.stat().st_size,
        "rows": n,
        "seconds": round(best, 4),
        "seconds_all": [round(t, 4) for t in times],
        "rows_per_s": round(n / best, 1) if best > 0 else None,
        "peak_rss_mib": round(_peak_rss_mib(), 1),
        "target_rows_per_s": workload.target_rows_per_s,
        "meets_target": (n / best >= workload.target_rows_per_s)
        if workload.target_rows_per_s and best > 0
        else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--only", nargs="*", choices=sorted(WORKLOADS), help="workloads to run")
    parser.add_argument("--rows", type=int, default=1_000_000, help="events per workload")
    parser.add_argument("--repeat", type=int, default=3, help="runs per workload (best is kept)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.rows, args.repeat)))
        return 0
    RESULTS.mkdir(parents=True, exist_ok=True)
    names = args.only or list(WORKLOADS)
    results = []
    for name in names:
        # make the input first, outside the measured child
        subprocess.run(
            [
                sys.executable,
                "-c",
                f"from benchmarks.run import WORKLOADS; WORKLOADS[{name!r}].prepare({args.rows})",
            ],
            check=True,
            cwd=HERE.parent,
        )
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.run", "--child", name, "--rows", str(args.rows),
             "--repeat", str(args.repeat)],
            check=True, capture_output=True, text=True, cwd=HERE.parent,
        )  # fmt: skip
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
        results.append(result)
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        target = result["target_rows_per_s"]
        verdict = "" if target is None else ("meets" if result["meets_target"] else "MISSES")
        print(
            f"{name:28s} {result['rows']:>10,} rows {result['seconds']:>8.3f} s "
            f"{result['rows_per_s']:>12,.0f} rows/s  peak {result['peak_rss_mib']:>7.0f} MiB"
            + (f"  target {target:,.0f} rows/s: {verdict}" if target else "")
        )
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
