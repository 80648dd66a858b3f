"""Benchmark: daily runs over a state, against one audit of the same horizon.

Input: the ``mixed`` scenario (seed 4) over ``N`` days, split into one canonical Parquet
file per UTC day. Every run is the command line in a child process (``coordscope audit
DAY.parquet -o OUT --state STATE --horizon N --memory 4GB --json``), so that its peak RSS
is its own; its ``summary.json`` gives the stages' seconds.

Two shapes:

- ``every_day``: the days are fed one run at a time, day 1 to day ``N``; each run's wall
  time, stages, peak RSS, days counted and the state's size on disk are reported.
- ``last_day``: days ``1 .. N-1`` are fed in one run (it counts them all), then day ``N``
  alone: the daily run at a full horizon, without ``N - 1`` runs before it.

Then one child process audits the ``N`` days' events at once (the one-shot audit), and the
last daily run's output files are compared with its: ``edges.parquet``,
``coactions.parquet``, ``nodes.csv`` and ``bursts.parquet`` byte for byte,
``clusters.parquet`` apart from the campaign ids.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

__all__ = ["prepare", "run"]

HERE = Path(__file__).resolve().parent
SAME_FILES = ("edges.parquet", "coactions.parquet", "nodes.csv", "bursts.parquet")


def prepare(days: int, per_day: int) -> Path:
    """Write the days' files once (and the truth); return their folder."""
    folder = HERE / "data" / f"daily_mixed_{days}d_{per_day}"
    if (folder / "done").exists():
        return folder
    from coordscope.datasets.simulate import simulate

    folder.mkdir(parents=True, exist_ok=True)
    if (
        per_day == 1_000_000
        and (HERE / "data" / f"scale_mixed_{days}d" / "events.parquet").exists()
    ):
        events = pl.read_parquet(HERE / "data" / f"scale_mixed_{days}d" / "events.parquet")
    else:
        events, truth = simulate("mixed", seed=4, size=days * per_day, days=days)
        truth.write_parquet(folder / "truth.parquet")
    day = pl.col("ts").dt.date()
    for i, d in enumerate(sorted(events.select(day.unique()).to_series().to_list()), start=1):
        events.filter(day == d).write_parquet(folder / f"day{i:02d}.parquet")
    events.write_parquet(folder / "all.parquet")
    (folder / "done").write_text("")
    return folder


def _audit(inputs: list[Path], out: Path, *extra: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "coordscope", "audit", *map(str, inputs), "-o", str(out)]
    start = time.perf_counter()
    done = subprocess.run(
        [*command, *extra, "--memory", "4GB", "--json"], check=False, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"audit exited with {done.returncode}: {done.stderr.strip()[-500:]}")
    summary: dict[str, Any] = json.loads(done.stdout)
    summary["_seconds"] = round(seconds, 2)
    return summary


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _timings(timings: dict[str, float]) -> dict[str, dict[str, float]]:
    """Split a summary's timings into the stages and the significance stage's parts."""
    inner = "significance."
    return {
        "stage_seconds": {k: v for k, v in timings.items() if not k.startswith(inner)},
        "significance_seconds": {
            k.removeprefix(inner): v for k, v in timings.items() if k.startswith(inner)
        },
    }


def _row(summary: dict[str, Any], state: Path) -> dict[str, Any]:
    st = summary["state"]
    peaks = summary.get("resources", {}).get("peak_rss_mib", {})
    return {
        "as_of": st["horizon"]["last"],
        "seconds": summary["_seconds"],
        "horizon_events": st["horizon"]["events"],
        "days_counted": len(st["days_counted"]),
        "days_reused": st["days_reused"],
        "units_from_kept_partials": summary["counts"]["significance"].get(
            "units_from_kept_partials", 0
        ),
        "units": summary["counts"]["significance"]["units"],
        "peak_rss_mib": max(peaks.values()) if peaks else None,
        **_timings(summary["timings_s"]),
        "changes": st["changes"],
        "state_bytes": _size(state),
    }


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(folder: Path, *, shape: str = "every_day") -> dict[str, Any]:
    """Feed the days into a new state (``every_day`` or ``last_day``); audit them at once."""
    days = sorted(folder.glob("day*.parquet"))
    n = len(days)
    with tempfile.TemporaryDirectory(prefix="coordscope-bench-daily-") as tmp:
        state, out = Path(tmp) / "state", Path(tmp) / "daily"
        rows: list[dict[str, Any]] = []
        feeds = [[d] for d in days] if shape == "every_day" else [days[:-1], days[-1:]]
        for feed in feeds:
            summary = _audit(feed, out, "--state", str(state), "--horizon", str(n))
            rows.append(_row(summary, state))
        once = Path(tmp) / "once"
        one_shot = _audit([folder / "all.parquet"], once)
        same = {name: _digest(out / name) == _digest(once / name) for name in SAME_FILES}
        clusters = [pl.read_parquet(d / "clusters.parquet").drop("campaign") for d in (out, once)]
        same["clusters.parquet (campaign ids aside)"] = clusters[0].equals(clusters[1])
        state_bytes = _size(state)
        events_bytes = _size(state / "events")
        shutil.rmtree(out, ignore_errors=True)
    last = rows[-1]
    return {
        "rows": one_shot["rows"]["input"],
        "core_seconds": last["seconds"],
        "core": "the last daily run (CLI process): its day in, every output of the horizon out",
        "run_peak_rss_mib": max(r["peak_rss_mib"] or 0.0 for r in rows),
        "shape": shape,
        "days": n,
        "daily_runs": rows,
        "last_daily_seconds": last["seconds"],
        "one_shot_seconds": one_shot["_seconds"],
        **{f"one_shot_{k}": v for k, v in _timings(one_shot["timings_s"]).items()},
        "one_shot_peak_rss_mib": max(one_shot["resources"]["peak_rss_mib"].values()),
        "last_over_one_shot": round(last["seconds"] / one_shot["_seconds"], 3),
        "state_bytes": state_bytes,
        "state_events_bytes": events_bytes,
        "identical_to_one_shot": same,
    }
