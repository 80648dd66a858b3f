"""A cost model of the Spark runner, built from measured throughput; a projection to 1B events.

Inputs (``benchmarks/results/``): ``spark_audit_3d_mixed.json`` (3M events on Spark
``local[2]``: each Spark stage's executor core-seconds, records and shuffle bytes, by the
role its job's description gives it; the whole run's wall time) and ``audit_30d_mixed.json``
(the local runner at 30M events: how the driver's memory grows). Output:
``spark_cost_model.json``.

The model
---------
- Spark work, in core-seconds: the row-local actions' map ∝ events; the unit coding's
  hand-over and key tasks and the account totals ∝ actions; the pair engine's hand-over ∝
  actions; its key tasks and the reduce (with the sieve) ∝ partial rows (pairs per (pair,
  burst)). Each rate is the measured one on this machine's cores.
- Shuffle bytes: the measured bytes per action handed over (twice: to the unit coding and
  to the pair engine), per partial row, and per event for the rest.
- Driver work: the Spark run's wall time less the time its Spark stages ran (on
  ``local[2]`` they run one after another): what the driver does alone (staging files for
  Spark, reading the coded units back, the candidates' tests, groups, bursts, clusters,
  tables, the report), in seconds per event. Driver memory: the 30-day local run's peak
  per event, an upper bound (the driver still holds the coded actions, about 37 bytes an
  action, for the candidates' evidence and the group tests).
- Partials per event depend on how dense keys are. Two cases bound it: ``same_density``
  (a month of 1B events looks like 33 topic streams of the benchmark's density: partials
  ∝ events) and ``dense`` (every day's keys are 33 times as crowded: in-window pairs per
  key grow with the square of the density, partials per event 33 times the benchmark's).

Run ``python -m benchmarks.spark_cost_model`` after
``python -m benchmarks.run --only spark_audit_3d_mixed audit_30d_mixed``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

__all__ = ["build", "main"]

RESULTS = Path(__file__).resolve().parent / "results"

#: The projection: 1B events over 30 days.
EVENTS = 1_000_000_000
#: Executors of 4 cores each, the sizes projected.
EXECUTORS = (4, 16, 64)
CORES_PER_EXECUTOR = 4
#: Network bandwidth per executor assumed for the shuffle (bytes/s): 10 Gbit/s at half.
SHUFFLE_BYTES_PER_S = 0.5 * 10e9 / 8


def _stage_sum(stages: list[dict[str, Any]], role: str, field: str) -> float:
    return float(sum(s[field] for s in stages if s["role"] == role))


def build(spark: dict[str, Any], month: dict[str, Any]) -> dict[str, Any]:
    """Return the model and its projection from the two benchmark results."""
    stages = spark["spark_stages"]
    events = spark["rows"]
    actions = spark["actions"]

    def core_s(role: str) -> float:
        return _stage_sum(stages, role, "executor_run_seconds")

    def written(role: str) -> float:
        return _stage_sum(stages, role, "shuffle_write_bytes")

    map_core_s = core_s("actions: map, write")
    units_core_s = (
        core_s("units: actions to key partitions") + core_s("units: key tasks")
        + core_s("units: account totals")
    )  # fmt: skip
    handover_core_s = core_s("pairs: actions to key partitions")
    task_core_s = core_s("pairs: key tasks")
    reduce_core_s = core_s("pairs: reduce and sieve")
    partials = _stage_sum(stages, "pairs: key tasks", "shuffle_write_records")
    handover_bytes = written("pairs: actions to key partitions") + written(
        "units: actions to key partitions"
    )
    partial_bytes = written("pairs: key tasks")
    other_bytes = sum(s["shuffle_write_bytes"] for s in stages) - handover_bytes - partial_bytes
    rates = {
        "events": events,
        "actions": actions,
        "partials": int(partials),
        "actions_per_event": round(actions / events, 4),
        "partials_per_event": round(partials / events, 4),
        "map_events_per_core_s": round(events / map_core_s, 1),
        "unit_coding_actions_per_core_s": round(actions / units_core_s, 1),
        "handover_actions_per_core_s": round(actions / handover_core_s, 1),
        "key_task_partials_per_core_s": round(partials / task_core_s, 1),
        "reduce_partials_per_core_s": round(partials / reduce_core_s, 1),
        "shuffle_bytes_per_event": round(sum(s["shuffle_write_bytes"] for s in stages) / events, 2),
        "shuffle_bytes_per_action_handed_over": round(handover_bytes / actions, 2),
        "shuffle_bytes_per_partial": round(partial_bytes / max(1.0, partials), 2),
        "shuffle_bytes_other_per_event": round(other_bytes / events, 2),
    }
    spark_wall = sum(s["seconds"] for s in stages)
    driver_alone = max(0.0, spark["spark_seconds"] - spark_wall)
    month_events = month["rows"]
    driver = {
        "source": "the Spark run's wall time less its Spark stages' (3M events); memory "
        "from audit_30d_mixed (local runner, 30M events), an upper bound",
        "spark_run_seconds": spark["spark_seconds"],
        "spark_stages_seconds": round(spark_wall, 2),
        "seconds_per_million_events": round(driver_alone / events * 1e6, 2),
        "peak_rss_bytes_per_event": round(month["peak_rss_mib"] * 2**20 / month_events, 1),
    }
    projections = []
    for case, density in (("same_density", 1.0), ("dense", 33.0)):
        p = EVENTS * rates["partials_per_event"] * density
        a = EVENTS * rates["actions_per_event"]
        work_s = (
            EVENTS / rates["map_events_per_core_s"]
            + a / rates["unit_coding_actions_per_core_s"]
            + a / rates["handover_actions_per_core_s"]
            + p / rates["key_task_partials_per_core_s"]
            + p / rates["reduce_partials_per_core_s"]
        )
        shuffle = (
            a * rates["shuffle_bytes_per_action_handed_over"]
            + p * rates["shuffle_bytes_per_partial"]
            + EVENTS * rates["shuffle_bytes_other_per_event"]
        )
        driver_seconds = EVENTS / 1e6 * driver["seconds_per_million_events"] * math.sqrt(density)
        for n in EXECUTORS:
            cores = n * CORES_PER_EXECUTOR
            spark_s = work_s / cores + shuffle / (n * SHUFFLE_BYTES_PER_S)
            projections.append(
                {
                    "case": case,
                    "executors": n,
                    "cores": cores,
                    "partials": int(p),
                    "spark_hours": round(spark_s / 3600, 2),
                    "shuffle_gib": round(shuffle / 2**30, 1),
                    "driver_hours": round(driver_seconds / 3600, 2),
                    "driver_memory_gib": round(
                        EVENTS * driver["peak_rss_bytes_per_event"] / 2**30, 1
                    ),
                    "total_hours": round((spark_s + driver_seconds) / 3600, 2),
                    "dominated_by": "driver" if driver_seconds > spark_s else "Spark stages",
                }
            )
    return {
        "workload": "spark_cost_model",
        "description": "cost of 1B events over a month on N executors, from measured rates",
        "measured_on": "this 2-core machine, Spark local[2] (executor = driver machine)",
        "assumptions": {
            "events": EVENTS,
            "cores_per_executor": CORES_PER_EXECUTOR,
            "shuffle_bytes_per_s_per_executor": SHUFFLE_BYTES_PER_S,
            "same_density": "partials per event as in the 3-day benchmark",
            "dense": "keys 33 times as crowded: partials per event × 33, driver time × √33 "
            "(its work grows with candidate pairs, most of it with events)",
            "core_speed": "a cluster core as fast as this machine's",
        },
        "rates": rates,
        "driver": driver,
        "projections": projections,
        "what_dominates": (
            "the driver: reading the coded units back, the candidates' tests, groups, "
            "bursts, node and edge tables and the writing run in one process whose time and "
            "memory grow with the events; Spark's share shrinks with executors, the driver's "
            "does not"
        ),
        "to_measure_on_a_cluster": [
            "per-task executor run time and peak execution memory of the key tasks and the "
            "reduce, against partial rows (the rates above, on the cluster's cores)",
            "shuffle write and fetch-wait time per stage (the network assumption)",
            "driver wall time and peak RSS per stage at 100M events (the driver's growth)",
            "Python worker start and Arrow conversion time per task (fixed cost per task)",
            "the largest key partition's rows (skew: one crowded key is one task)",
        ],
    }


def main() -> int:
    """Build the model from the results folder and write it."""
    spark = json.loads((RESULTS / "spark_audit_3d_mixed.json").read_text())
    month = json.loads((RESULTS / "audit_30d_mixed.json").read_text())
    model = build(spark, month)
    path = RESULTS / "spark_cost_model.json"
    path.write_text(json.dumps(model, indent=2) + "\n")
    for row in model["projections"]:
        print(
            f"{row['case']:>12} {row['executors']:>3} executors: "
            f"Spark {row['spark_hours']:7.2f} h, shuffle {row['shuffle_gib']:8.1f} GiB, "
            f"driver {row['driver_hours']:6.2f} h and {row['driver_memory_gib']:6.1f} GiB "
            f"→ {row['total_hours']:7.2f} h ({row['dominated_by']})"
        )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
