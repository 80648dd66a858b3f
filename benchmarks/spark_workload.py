"""Benchmark: the 3-day audit on Spark ``local[2]`` against the local runner.

Input: the scale workload's ``mixed`` scenario (3 days × 1M events a day, canonical
Parquet). Both runs are the command line in a child process: ``coordscope audit FILE -o
DIR --memory 4GB`` and the same with ``--engine spark --spark-master local[2]``. Spark
writes its event log to a scratch folder (``PYSPARK_SUBMIT_ARGS``); each completed stage's
time, tasks, shuffle bytes written and read, and records are read from it. The two output
folders are compared file by file (``summary.json`` without timings and resources).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["run"]


def _folder(path: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for f in sorted(path.iterdir()):
        if f.name == "summary.json":
            summary = json.loads(f.read_text())
            summary.pop("timings_s", None)
            summary.pop("resources", None)
            out[f.name] = json.dumps(summary, sort_keys=True).encode()
        else:
            out[f.name] = f.read_bytes()
    return out


def _audit(
    path: Path, out: Path, extra: list[str], env: dict[str, str]
) -> tuple[float, dict[str, Any]]:
    command = [sys.executable, "-m", "coordscope", "audit", str(path), "-o", str(out)]
    start = time.perf_counter()
    done = subprocess.run(
        [*command, "--memory", "4GB", "--json", *extra],
        check=False, capture_output=True, text=True, env=env,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"audit {extra} exited with {done.returncode}: {done.stderr[-2000:]}")
    return seconds, json.loads((out / "summary.json").read_text())


#: What each of coordscope's Spark jobs (by its description) does, stage by stage: a
#: job's stages in the order Spark ran them.
ROLES: dict[str, tuple[str, ...]] = {
    "coordscope: actions": ("actions: map, write",),
    "coordscope: key partitions": (
        "units: actions to key partitions", "units: key tasks", "units: account totals",
    ),
    "coordscope: pairs": (
        "pairs: actions to key partitions", "pairs: key tasks", "pairs: reduce and sieve",
    ),
}  # fmt: skip


def _stages(log_dir: Path) -> list[dict[str, Any]]:
    """Completed stages of the Spark event log: time, tasks, shuffle bytes, records, role.

    A stage's role comes from the description of the job that submitted it (coordscope
    names its jobs) and its place among that job's stages (:data:`ROLES`).
    """
    stages: list[dict[str, Any]] = []
    described: dict[int, str] = {}
    # Spark 4 writes a folder per application (eventlog_v2_*, files events_N_*)
    for log in sorted(p for p in log_dir.rglob("events_*") if p.is_file()):
        for line in log.read_text().splitlines():
            event = json.loads(line)
            if event.get("Event") == "SparkListenerStageSubmitted":
                props = event.get("Properties") or {}
                text = props.get("spark.job.description")
                if text:
                    described[event["Stage Info"]["Stage ID"]] = text
                continue
            if event.get("Event") != "SparkListenerStageCompleted":
                continue
            info = event["Stage Info"]
            acc = {a["Name"]: a.get("Value") for a in info.get("Accumulables", [])}

            def metric(name: str, acc: dict[str, Any] = acc) -> int:
                return int(acc.get(f"internal.metrics.{name}", 0) or 0)

            stages.append(
                {
                    "stage": info["Stage ID"],
                    "name": info["Stage Name"].split(" at ")[0],
                    "seconds": round((info["Completion Time"] - info["Submission Time"]) / 1000, 3),
                    "tasks": info["Number of Tasks"],
                    "shuffle_write_bytes": metric("shuffle.write.bytesWritten"),
                    "shuffle_write_records": metric("shuffle.write.recordsWritten"),
                    "shuffle_read_bytes": metric("shuffle.read.localBytesRead")
                    + metric("shuffle.read.remoteBytesRead"),
                    "input_records": metric("input.recordsRead"),
                    "output_records": metric("output.recordsWritten"),
                    "executor_run_seconds": round(metric("executorRunTime") / 1000, 3),
                    "peak_execution_memory_bytes": metric("peakExecutionMemory"),
                }
            )
    # the stages of one job are submitted in order, and a job's stages share its text;
    # a job run twice (one per window or signal) starts its roles again
    seen: dict[str, int] = {}
    for stage in sorted(stages, key=lambda s: s["stage"]):
        text = described.get(stage["stage"], "")
        roles = ROLES.get(text)
        if roles is None:
            stage["role"] = "file listing" if stage["name"] == "parquet" else "other"
            continue
        place = seen.get(text, 0)
        stage["role"] = roles[place % len(roles)]
        seen[text] = place + 1
    return stages


def run(path: Path) -> dict[str, Any]:
    """Audit ``path`` locally and on Spark ``local[2]``; compare; report both."""
    with tempfile.TemporaryDirectory(prefix="coordscope-bench-spark-") as tmp:
        root = Path(tmp)
        local_s, local_summary = _audit(path, root / "local", [], dict(os.environ))
        logs = root / "spark-events"
        logs.mkdir()
        env = dict(os.environ)
        env["PYSPARK_SUBMIT_ARGS"] = (
            f"--conf spark.eventLog.enabled=true --conf spark.eventLog.dir=file://{logs} "
            "--conf spark.eventLog.compress=false pyspark-shell"
        )
        spark_s, spark_summary = _audit(
            path, root / "spark", ["--engine", "spark", "--spark-master", "local[2]"], env
        )
        local, remote = _folder(root / "local"), _folder(root / "spark")
        differing = sorted(k for k in local.keys() | remote.keys() if local.get(k) != remote.get(k))
        stages = _stages(logs)
    shuffle = sum(s["shuffle_write_bytes"] for s in stages)
    return {
        "rows": local_summary["rows"]["input"],
        "core_seconds": round(spark_s, 4),
        "core": "coordscope audit --engine spark --spark-master local[2] (CLI process)",
        "local_seconds": round(local_s, 4),
        "spark_seconds": round(spark_s, 4),
        "identical_files": not differing,
        "differing_files": differing,
        "files_compared": sorted(local),
        "local_stage_seconds": local_summary["timings_s"],
        "spark_stage_seconds": spark_summary["timings_s"],
        "spark_driver_peak_rss_mib": spark_summary["resources"]["peak_rss_mib"],
        "spark_stages": stages,
        "shuffle_write_bytes": shuffle,
        "shuffle_bytes_per_event": round(shuffle / max(1, local_summary["rows"]["input"]), 2),
        "actions": sum(local_summary["counts"]["actions"].values()),
        "edges": local_summary["counts"]["edges"],
    }
