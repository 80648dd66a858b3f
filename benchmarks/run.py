"""Run the benchmarks: ``python -m benchmarks.run [--only NAME ...] [--repeat N]``.

Each workload runs in a fresh child process so that its peak RSS is its own. Results are
printed as a table and written as JSON to ``benchmarks/results/<workload>.json`` and
``benchmarks/results/latest.json``: workload, rows, seconds (best of ``--repeat``; the
whole run, file to tables, unless ``core_seconds`` says what part the target is about),
rows/s, peak RSS (MiB), the target of the performance plan and whether it is met.

Inputs are generated once from seeded workloads and cached in ``benchmarks/data/`` (not
tracked); reference files are read from ``../shared/reference``. Benchmarks measure; the
tests check correctness.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
RESULTS = HERE / "results"
REFERENCE = HERE.parent.parent / "shared" / "reference"

#: What a run reports besides its row count: ``core_seconds`` (the part a target is
#: about, e.g. without reading the file) and any other figures.
Report = dict[str, Any]


@dataclass(frozen=True)
class Workload:
    """A benchmark: how to make its input, how to run it once, and its target."""

    name: str
    description: str
    prepare: Callable[[], Path]
    run: Callable[[Path], Report]
    target: str
    target_seconds: float | None = None
    target_rows_per_s: float | None = None
    target_rss_mib: float | None = None
    #: Run only when named with ``--only`` (a long scale run, not part of ``make bench``),
    #: and once, whatever ``--repeat`` says (a 10-day run takes most of an hour).
    on_request: bool = False


def _simulated(fmt: str, filename: str, rows: int = 1_000_000) -> Callable[[], Path]:
    """Input maker: the `organic` scenario (seed 1) at ``rows`` events, in format ``fmt``."""

    def prepare() -> Path:
        path = DATA / f"{fmt}_{rows}" / filename
        if path.exists():
            return path
        from coordscope.datasets.formats import get_format
        from coordscope.datasets.simulate import simulate

        path.parent.mkdir(parents=True, exist_ok=True)
        events, _ = simulate("organic", seed=1, size=rows)
        tmp = path.with_name(".tmp-" + path.name)  # same extension: it picks the format
        get_format(fmt).write(events, str(tmp))
        tmp.rename(path)
        return path

    return prepare


def _ingest(fmt: str) -> Callable[[Path], Report]:
    def run(path: Path) -> Report:
        from coordscope.datasets.ingest import ingest

        result = ingest(path, format=fmt)
        if result.rows["rejected"]:
            raise SystemExit(f"benchmark input had rejects: {result.rows}")
        return {"rows": result.rows["input"]}

    return run


def _co_share_actions(rows: int = 10_000_000) -> Callable[[], Path]:
    def prepare() -> Path:
        path = DATA / f"co_share_actions_{rows}.parquet"
        if not path.exists():
            from benchmarks.workloads import co_share_actions

            path.parent.mkdir(parents=True, exist_ok=True)
            co_share_actions(rows).write_parquet(path)
        return path

    return prepare


#: Seconds of this process's first native_pairs call (see :func:`_native_startup`).
_STARTUP: dict[str, float] = {}


def _native_startup() -> float:
    """Import the native kernel and run it on five actions, once per process.

    The compiled kernels (numba) load from the on-disk cache, or are compiled when there
    is none: this is the start-up cost a process pays before its first real call.
    """
    import polars as pl

    if "seconds" not in _STARTUP:
        start = time.perf_counter()
        from coordscope.engine.native import native_pairs

        tiny = pl.DataFrame(  # a and b co-act on two keys, a twice on one: every kernel
            {
                "signal": ["co_share"] * 5,
                "key": ["k", "k", "k", "j", "j"],
                "actor_id": ["a", "b", "a", "a", "b"],
                "ts": pl.Series([0, 1, 2, 3, 4]).cast(pl.Datetime("us", "UTC")),
                "event_id": ["0", "1", "2", "3", "4"],
                "event": pl.Series([0, 1, 2, 3, 4], dtype=pl.UInt32),
            }
        )
        native_pairs(tiny, window=60)
        _STARTUP["seconds"] = time.perf_counter() - start
    return _STARTUP["seconds"]


def _native_edges(path: Path) -> Report:
    startup = _native_startup()  # first: it includes the import
    import polars as pl

    from benchmarks.workloads import in_window_pairs
    from coordscope.engine.native import native_pairs

    actions = pl.read_parquet(path)
    start = time.perf_counter()
    result = native_pairs(actions, window=60, evidence=False)
    core = time.perf_counter() - start
    return {
        "rows": actions.height,
        "core_seconds": round(core, 4),
        "core": "native_pairs (actions in memory → edges), file read excluded",
        "startup_seconds": round(startup, 4),
        "startup": "import of coordscope.engine.native and its first call (5 actions): "
        "numba kernels loaded from the disk cache, or compiled when there is none",
        "in_window_pairs": in_window_pairs(actions, 60),
        "edges": result.edges.height,
    }


def _reference(relative: str) -> Callable[[], Path]:
    def prepare() -> Path:
        path = REFERENCE / relative
        if not path.exists():
            raise SystemExit(f"reference file missing: {path}")
        return path

    return prepare


def _coortweet(window: float, min_participation: int) -> Callable[[Path], Report]:
    def run(path: Path) -> Report:
        from coordscope.compat.coortweet import coortweet_detect, coortweet_network
        from coordscope.datasets.ingest import read_events

        events = read_events(path, format="coortweet")
        start = time.perf_counter()
        result = coortweet_detect(events, time_window=window, min_participation=min_participation)
        edges = coortweet_network(result)
        core = time.perf_counter() - start
        return {
            "rows": events.height,
            "core_seconds": round(core, 4),
            "core": "coortweet_detect + coortweet_network on events, file read excluded",
            "result_rows": result.height,
            "edges": edges.height,
        }

    return run


def _scale_prepare(days: int) -> Path:
    """Write the scale workload's input for ``days`` days (once)."""
    return import_module("benchmarks.scale_workload").prepare(days)  # type: ignore[no-any-return]


def _scale_run(path: Path) -> dict[str, Any]:
    """Run the scale workload on ``path``."""
    return import_module("benchmarks.scale_workload").run(path)  # type: ignore[no-any-return]


def _cnt_csv(viral: bool, rows: int = 1_000_000) -> Callable[[], Path]:
    def prepare() -> Path:
        path = DATA / f"cnt_{'viral' if viral else 'plain'}_{rows}.csv"
        if not path.exists():
            from benchmarks.cnt_workload import make_cnt_workload

            make_cnt_workload(path, rows=rows, viral=viral, seed=1)
        return path

    return prepare


def _cnt_coretweet(path: Path) -> Report:
    from coordscope.compat.cnt import cnt_edges
    from coordscope.datasets.ingest import read_events

    events = read_events(path, format="cnt")
    edges = cnt_edges(events, network="co_retweet", window=60)
    return {"rows": events.height, "edges": edges.height}


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            "ingest_generic_csv",
            "generic CSV, 1M events → canonical events (parse, normalise, account)",
            _simulated("generic", "events.csv"),
            _ingest("generic"),
            "≥ 1M rows/s",
            target_rows_per_s=1_000_000.0,
        ),
        Workload(
            "ingest_generic_parquet",
            "generic Parquet, 1M events → canonical events",
            _simulated("generic", "events.parquet"),
            _ingest("generic"),
            "≥ 1M rows/s",
            target_rows_per_s=1_000_000.0,
        ),
        Workload(
            "ingest_twitter_v2_jsonl",
            "X API v2 JSON lines, 1M flattened tweets → canonical events",
            _simulated("twitter-v2", "tweets.jsonl"),
            _ingest("twitter-v2"),
            "≥ 200k rows/s",
            target_rows_per_s=200_000.0,
        ),
        Workload(
            "co_share_native_edges",
            "co_share kernel: 10M actions, skewed keys, W = 60 s → native edges",
            _co_share_actions(),
            _native_edges,
            "≤ 3 s, peak RSS ≤ 4 GB",
            target_seconds=3.0,
            target_rss_mib=4096.0,
        ),
        Workload(
            "co_share_significance",
            "same 10M co_share actions → native edges, then significance (both timed)",
            _co_share_actions(),
            lambda path: import_module("benchmarks.significance_workload").run(path),
            "significance adds ≤ 50 % to native edges",
        ),
        Workload(
            "audit_1m",
            "coordscope audit end to end: mixed scenario, 1M events as X v2 JSONL → every "
            "output and the report",
            lambda: import_module("benchmarks.audit_workload").prepare(),
            lambda path: import_module("benchmarks.audit_workload").run(path),
            "≤ 30 s",
            target_seconds=30.0,
        ),
        Workload(
            "coortweet_russian",
            "coortweet mode, russian_coord_tweets (35k rows), W 10, mp 2 → result + network",
            _reference("coortweet/russian_coord_tweets.csv.gz"),
            _coortweet(10, 2),
            "≤ 0.1 s",
            target_seconds=0.1,
        ),
        Workload(
            "coortweet_sim_large",
            "coortweet mode, sim_large_seed7 (480k rows), W 10, mp 2 → result + network",
            _reference("coortweet/simulated/sim_large_seed7_input.csv.gz"),
            _coortweet(10, 2),
            "≤ 1 s",
            target_seconds=1.0,
        ),
        Workload(
            "cnt_coretweet_1m",
            "cnt mode, toolkit CSV of 1M co-retweets, W = 60 s: file → directed edges",
            _cnt_csv(viral=False),
            _cnt_coretweet,
            "≤ 3 s",
            target_seconds=3.0,
        ),
        Workload(
            "cnt_coretweet_1m_viral",
            "cnt mode, same with one target reposted 40,000 times in an hour (~170M pairs)",
            _cnt_csv(viral=True),
            _cnt_coretweet,
            "≤ 20 s, peak RSS ≤ 8 GB",
            target_seconds=20.0,
            target_rss_mib=8192.0,
        ),
        *(
            Workload(
                f"audit_{days}d_mixed",
                f"coordscope audit (CLI, child process), mixed scenario, {days} day(s) × 1M "
                "events a day, default signals, --memory 4GB: time and peak RSS per stage, "
                "quality",
                functools.partial(_scale_prepare, days),
                _scale_run,
                target,
                target_seconds=seconds,
                target_rss_mib=rss,
                on_request=True,
            )
            for days, target, seconds, rss in (
                (1, "growth from 1 to 3 to 10 days", None, None),
                (3, "completes, peak RSS ≤ 4 GB", None, 4096.0),
                (10, "growth from 1 to 3 to 10 days", None, None),
                (30, "≤ 15 min, peak RSS ≤ 6 GB", 900.0, 6144.0),
            )
        ),
        Workload(
            "spark_audit_3d_mixed",
            "coordscope audit --engine spark on local[2] against the local runner (CLI, child "
            "processes), mixed scenario, 3 days × 1M events a day: both times, Spark's stages "
            "and shuffle bytes, identical output files",
            functools.partial(_scale_prepare, 3),
            lambda path: import_module("benchmarks.spark_workload").run(path),
            "completes on local[2], every output file identical to the local runner's",
            on_request=True,
        ),
        *(
            Workload(
                f"daily_{days}d_{label}_{shape}",
                f"coordscope audit --state (CLI, child processes), mixed scenario, {days} days × "
                f"{label} events a day, "
                + (
                    "fed one day a run"
                    if shape == "every_day"
                    else f"days 1-{days - 1} in one run, then day {days} alone"
                )
                + f", horizon {days} days, --memory 4GB; then one audit of the {days} days at "
                "once: each run's time, stages, peak RSS and state size; identical outputs",
                functools.partial(
                    lambda d, p: import_module("benchmarks.daily_workload").prepare(d, p),
                    days,
                    per_day,
                ),
                functools.partial(
                    lambda path, sh: import_module("benchmarks.daily_workload").run(path, shape=sh),
                    sh=shape,
                ),
                "a daily run costs its day's counting plus the reduce, not the horizon's",
                on_request=True,
            )
            for days, per_day, label, shape in (
                (30, 100_000, "100k", "every_day"),
                (10, 1_000_000, "1m", "every_day"),
                (30, 1_000_000, "1m", "last_day"),
            )
        ),
        Workload(
            "co_similar_1m",
            "co_similar: 1M messages (5-60 words, 4 scripts, 3 % copy-paste families), "
            "Jaccard >= 0.8, W = 60 s → groups, actions, native edges; recall vs exact pairs",
            lambda: import_module("benchmarks.similar_workload").prepare_similar(),
            lambda path: import_module("benchmarks.similar_workload").run_similar(path),
            "≤ 15 s, recall ≥ 0.99",
            target_seconds=15.0,
        ),
        Workload(
            "co_media_1m",
            "co_media: 1M 64-bit pHashes (hex), 10 % near copies, Hamming ≤ 6 → keyed actions",
            lambda: import_module("benchmarks.similar_workload").prepare_media(),
            lambda path: import_module("benchmarks.similar_workload").run_media(path),
            "≤ 10 s",
            target_seconds=10.0,
        ),
    )
}


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _child(name: str, repeat: int) -> dict[str, Any]:
    """Run one workload in this process and return its measurements."""
    workload = WORKLOADS[name]
    path = workload.prepare()
    times: list[float] = []
    reports: list[Report] = []
    for _ in range(1 if workload.on_request else repeat):
        start = time.perf_counter()
        reports.append(workload.run(path))
        times.append(time.perf_counter() - start)
    best_i = min(range(len(times)), key=lambda i: times[i])
    report = reports[best_i]
    n = int(report.pop("rows"))
    seconds = times[best_i]
    measured = float(report.get("core_seconds", seconds))
    # a workload that runs the command in a child process reports that child's peak
    rss = float(report.pop("run_peak_rss_mib", _peak_rss_mib()))
    checks: list[bool] = []
    if workload.target_seconds is not None:
        checks.append(measured <= workload.target_seconds)
    if workload.target_rows_per_s is not None:
        checks.append(n / seconds >= workload.target_rows_per_s)
    if workload.target_rss_mib is not None:
        checks.append(rss <= workload.target_rss_mib)
    try:
        shown_input = str(path.relative_to(HERE.parent))
    except ValueError:
        shown_input = str(path)
    return {
        "workload": name,
        "description": workload.description,
        "input": shown_input,
        "input_bytes": path.stat().st_size,
        "rows": n,
        "seconds": round(seconds, 4),
        "seconds_all": [round(t, 4) for t in times],
        "rows_per_s": round(n / seconds, 1) if seconds > 0 else None,
        "peak_rss_mib": round(rss, 1),
        "target": workload.target,
        "meets_target": all(checks) if checks else None,
        **report,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the chosen workloads (all by default), each in a child process."""
    parser = argparse.ArgumentParser(description="Run coordscope's benchmarks.")
    parser.add_argument("--only", nargs="*", choices=sorted(WORKLOADS), help="workloads to run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per workload (best is kept)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.repeat)))
        return 0
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = []
    for name in args.only or [n for n, w in WORKLOADS.items() if not w.on_request]:
        # make the input first, outside the measured child
        prep = f"from benchmarks.run import WORKLOADS; WORKLOADS[{name!r}].prepare()"
        subprocess.run([sys.executable, "-c", prep], check=True, cwd=HERE.parent)
        command = [sys.executable, "-m", "benchmarks.run", "--child", name]
        command += ["--repeat", str(args.repeat)]
        proc = subprocess.run(command, check=False, capture_output=True, text=True, cwd=HERE.parent)
        if proc.returncode:  # say why: the child's own error, not only its exit status
            sys.stderr.write(proc.stderr[-8000:])
            print(f"{name}: the benchmark's child exited with {proc.returncode}", file=sys.stderr)
            return 1
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
        results.append(result)
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        verdict = {True: "meets", False: "MISSES", None: ""}[result["meets_target"]]
        core = f" (core {result['core_seconds']:.3f} s)" if "core_seconds" in result else ""
        print(
            f"{name:26s} {result['rows']:>11,} rows {result['seconds']:>8.3f} s{core} "
            f"{result['rows_per_s']:>12,.0f} rows/s  peak {result['peak_rss_mib']:>6.0f} MiB  "
            f"target {result['target']}: {verdict}",
            flush=True,
        )
    # latest.json: the newest result of every workload (runs of a few keep the others)
    latest = [
        json.loads((RESULTS / f"{name}.json").read_text())
        for name in WORKLOADS
        if (RESULTS / f"{name}.json").exists()
    ]
    (RESULTS / "latest.json").write_text(json.dumps(latest, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
