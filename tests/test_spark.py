"""The Spark runner gives the local runner's results (Spark ``local[2]``).

Spark runs the same key-partition task and pair-partition reduce as grouped Arrow UDFs,
and makes the row-local signals' actions; every output file of an audit must equal the
local run's, byte for byte (``summary.json`` aside from timings and resources), whatever
the number of key and pair partitions. One SparkSession serves the whole module (starting
the JVM costs seconds). Without pyspark or Java these tests skip locally and FAIL in CI
(env ``CI`` set): ``.ci/run`` installs both.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

import coordscope as cs
from coordscope._output import write_event_dataset
from coordscope.budget import MIN_MEMORY, Budget
from coordscope.cli import app
from coordscope.datasets.simulate import simulate
from coordscope.engine import spark as spark_engine
from coordscope.engine.partitioned import LocalPairEngine
from coordscope.errors import EngineError
from coordscope.parts import WorkDir
from coordscope.runs import run_audit, run_detect
from tests.conftest import output_folder


def _have_spark() -> bool:
    try:
        spark_engine.require_spark()
    except EngineError:
        return False
    return True


if not _have_spark():
    if os.environ.get("CI"):
        pytest.fail("pyspark or Java is missing in CI: .ci/run must install them", pytrace=False)
    pytest.skip(
        "pyspark or Java not installed (pip install -e '.[spark]')", allow_module_level=True
    )


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    session = spark_engine.spark_session("local[2]", app_name="coordscope-tests")
    yield session


@pytest.fixture(scope="module")
def scenario_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    files = {}
    for name, size, seed in (
        ("mixed", "tiny", 5),
        ("mixed", "small", 3),
        ("rotating_subsets", "tiny", 2),
    ):
        events, _ = simulate(name, seed=seed, size=size)
        path = tmp_path_factory.mktemp(f"{name}-{size}") / "events.parquet"
        events.write_parquet(path)
        files[f"{name}-{size}"] = path
    return files


@pytest.mark.parametrize("scenario", ["mixed-tiny", "mixed-small", "rotating_subsets-tiny"])
def test_spark_audit_folder_equals_the_local_one(
    spark: Any, scenario_files: dict[str, Path], tmp_path: Path, scenario: str
) -> None:
    events = scenario_files[scenario]
    local = run_audit([str(events)], tmp_path / "local")
    remote = run_audit([str(events)], tmp_path / "spark", runner=spark_engine.SparkRunner(spark))
    assert remote.summary["resources"]["engine"] == "spark"
    assert local.summary["resources"]["engine"] == "local"
    assert local.summary["counts"]["edges"] > 100  # the comparison has something to compare
    assert output_folder(tmp_path / "spark") == output_folder(tmp_path / "local")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["local", "spark"]  # no spill left


@pytest.mark.parametrize(("task", "workers"), [(2_000, 1), (30_000, 2)])
def test_spark_audit_does_not_depend_on_the_partitioning(
    spark: Any, scenario_files: dict[str, Path], tmp_path: Path, task: int, workers: int
) -> None:
    # a tiny task budget: many key partitions, many pair partitions, crowded keys swept in
    # chunks whose pieces the reduce merges
    events = scenario_files["mixed-tiny"]
    run_audit([str(events)], tmp_path / "local")
    budget = Budget(memory=MIN_MEMORY, workers=workers, task=task)
    run_audit(
        [str(events)], tmp_path / "spark", memory=budget, runner=spark_engine.SparkRunner(spark)
    )
    assert output_folder(tmp_path / "spark") == output_folder(tmp_path / "local")


def test_spark_pair_engine_equals_the_local_one_on_a_crowded_key(
    spark: Any, tmp_path: Path
) -> None:
    # 3 keys: key 0 crowded (600 actions of 40 accounts in 60 s, several per account),
    # key 1 sparse, key 2 two actions only; window 5 s; 40 pairs at most per chunk
    rng = np.random.default_rng(7)
    k = np.repeat(np.array([0, 1, 2], dtype=np.int64), [600, 50, 2])
    t = np.concatenate(
        [np.sort(rng.integers(0, 60, 600)), np.sort(rng.integers(0, 3_000, 50)), [10, 10]]
    )
    a = np.concatenate([rng.integers(0, 40, 600), rng.integers(0, 40, 50), [3, 4]]).astype(np.int64)
    s = np.zeros(k.shape[0], dtype=np.int64)
    budget = Budget(memory=MIN_MEMORY, workers=2, task=40 * 370)
    results = []
    for make in (
        lambda w: LocalPairEngine(n_accounts=40, n_pairs=200_000, budget=budget, work=w),
        lambda w: spark_engine.SparkPairEngine(
            spark, n_accounts=40, n_pairs=200_000, budget=budget, work=w
        ),
    ):
        work = WorkDir(tmp_path)
        engine = make(work)
        engine.add(k, a, t, s, window=5)
        parts = list(engine.reduce())
        assert [p.q for p in parts] == sorted(p.q for p in parts)
        pairs = pl.concat([p.pairs for p in parts])
        keyed = pl.concat([p.keyed for p in parts]).sort("lo", "hi", "k")
        results.append((pairs, keyed))
        work.close()
    (lp, lk), (sp, sk) = results
    assert sp.height > 500 and sp["n_co"].max() > 10  # crowded: many co-actions per pair
    assert sp.equals(lp)  # pair partitions in order: the pairs in (lo, hi) order
    assert sk.equals(lk)


def test_spark_detect_equals_the_local_one(
    spark: Any, scenario_files: dict[str, Path], tmp_path: Path
) -> None:
    events = str(scenario_files["mixed-tiny"])
    options = {"signals": ["co_share", "co_link", "co_hashtag"], "window": 60.0}
    run_detect([events], tmp_path / "local", **options)
    summary = run_detect(
        [events], tmp_path / "spark", runner=spark_engine.SparkRunner(spark), **options
    )
    assert summary["resources"]["engine"] == "spark"
    assert output_folder(tmp_path / "spark") == output_folder(tmp_path / "local")


def test_spark_audit_from_a_spark_dataframe(
    spark: Any, scenario_files: dict[str, Path], tmp_path: Path
) -> None:
    # the notebook door: events as a Spark DataFrame of the canonical columns
    events = scenario_files["mixed-tiny"]
    run_audit([str(events)], tmp_path / "local")
    frame = spark.read.parquet(str(events))
    result = cs.spark_audit(spark, frame, tmp_path / "spark")
    assert result.edges.count() == pl.read_parquet(tmp_path / "local" / "edges.parquet").height
    assert result.clusters.equals(pl.read_parquet(tmp_path / "local" / "clusters.parquet"))
    local, remote = output_folder(tmp_path / "local"), output_folder(tmp_path / "spark")
    # the CLI's summary says which files were read; the notebook door read a DataFrame
    for folder in (local, remote):
        for key in ("inputs", "rows", "ingest_counters"):
            folder["summary.json"].pop(key, None)
    # the report names the input files, which a DataFrame does not have
    assert b"<h4>Input files</h4>" in local.pop("report.html")
    assert b"<h4>Input files</h4>" not in remote.pop("report.html")
    assert remote == local


def test_spark_reads_the_output_integers_as_they_are(
    spark: Any, scenario_files: dict[str, Path], tmp_path: Path
) -> None:
    # an unsigned 64-bit Parquet column arrives in Spark as Decimal(20,0): the outputs'
    # integers are signed, so counts read as bigint (Int64) and int (Int32)
    from pyspark.sql.types import DecimalType, IntegerType, LongType

    run_audit([str(scenario_files["mixed-tiny"])], tmp_path)
    types = {}
    for name in ("edges", "coactions", "nodes", "clusters", "bursts"):
        schema = spark.read.parquet(str(tmp_path / f"{name}.parquet")).schema
        assert not [f.name for f in schema.fields if isinstance(f.dataType, DecimalType)], name
        types[name] = {f.name: f.dataType for f in schema.fields}
    assert isinstance(types["edges"]["n_coactions"], LongType)
    assert isinstance(types["edges"]["n_keys"], IntegerType)
    assert isinstance(types["nodes"]["strength"], LongType)
    assert isinstance(types["clusters"]["n_edges"], LongType)
    assert isinstance(types["coactions"]["n_coactions"], IntegerType)


def test_spark_events_name_a_missing_column(spark: Any, tmp_path: Path) -> None:
    frame = spark.createDataFrame([("e1", "a")], "event_id string, actor_id string")
    with pytest.raises(cs.SchemaError, match="column 'platform' is missing"):
        cs.spark_audit(spark, frame, tmp_path / "out")


def test_cli_engine_spark_writes_the_localoutput_folder(
    spark: Any, scenario_files: dict[str, Path], tmp_path: Path
) -> None:
    events = str(scenario_files["mixed-tiny"])
    runner = CliRunner()
    done = runner.invoke(app, ["audit", events, "-o", str(tmp_path / "local")])
    assert done.exit_code == 0, done.output
    done = runner.invoke(
        app,
        [
            "audit",
            events,
            "-o",
            str(tmp_path / "spark"),
            "--engine",
            "spark",
            "--spark-master",
            "local[2]",
        ],
    )
    assert done.exit_code == 0, done.output
    assert output_folder(tmp_path / "spark") == output_folder(tmp_path / "local")
    summary = json.loads((tmp_path / "spark" / "summary.json").read_text())
    assert summary["resources"]["engine"] == "spark"


def _main(*args: str, patch: str = "") -> subprocess.CompletedProcess[str]:
    """The real entry point (one-line errors included), after ``patch`` runs."""
    code = "\n".join(["import sys", patch, "from coordscope.__main__ import main", "main()"])
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )


def test_cli_engine_spark_refuses_reference_modes(
    scenario_files: dict[str, Path], tmp_path: Path
) -> None:
    done = _main(
        "detect", str(scenario_files["mixed-tiny"]), "-o", str(tmp_path / "o"), "-s", "co_share",
        "-w", "60", "--mode", "cnt", "--engine", "spark",
    )  # fmt: skip
    assert done.returncode == 2  # options that do not go together: a usage error
    assert done.stderr.strip().splitlines() == [
        "error: --engine spark counts native mode only; cnt mode runs locally"
    ]


def test_without_pyspark_the_engine_says_how_to_install_it(
    scenario_files: dict[str, Path], tmp_path: Path
) -> None:
    done = _main(
        "audit", str(scenario_files["mixed-tiny"]), "-o", str(tmp_path / "o"), "--engine", "spark",
        patch="import coordscope.engine.spark as s; s.spark_available = lambda: False",
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"error: {spark_engine.INSTALL_HINT}"]
    assert shutil.which("java") or os.environ.get("JAVA_HOME")  # Java was there: pyspark was not


def test_spark_audit_reads_the_dataset_ingest_writes(
    spark: Any, scenario_files: dict[str, Path], tmp_path: Path
) -> None:
    # `coordscope ingest -o FOLDER` writes day= folders; Spark reads them as one table
    # (the day column it adds is not canonical and is left out).
    events = scenario_files["mixed-tiny"]
    dataset = tmp_path / "dataset"
    write_event_dataset(pl.scan_parquet(events), dataset)
    run_audit([str(events)], tmp_path / "local")
    cs.spark_audit(spark, dataset, tmp_path / "spark")
    local, remote = output_folder(tmp_path / "local"), output_folder(tmp_path / "spark")
    for folder in (local, remote):
        for key in ("inputs", "rows", "ingest_counters"):
            folder["summary.json"].pop(key, None)
        folder.pop("report.html")  # names the input files
    # Spark reads the day files in its own order (largest first): the same events, and
    # every table computed from them the same, byte for byte
    by_id = [
        pl.read_parquet(folder.pop("events.parquet")).sort("event_id") for folder in (local, remote)
    ]
    assert by_id[0].equals(by_id[1])
    assert remote == local


# ------------------------------------------------------------------ helpers without a session


class _JavaError(Exception):
    """What py4j raises: a Java stack trace as its message."""


class _DeadJvmError(Exception):
    """What py4j raises when the JVM is gone: asking for its message fails."""

    def __str__(self) -> str:
        raise ConnectionRefusedError(111, "Connection refused")


def test_a_spark_failure_is_told_by_its_root_cause() -> None:
    trace = (
        "An error occurred while calling o97.parquet.\n"
        ": org.apache.spark.SparkException: Job aborted due to stage failure: Task 0\n"
        "\tat org.apache.spark.scheduler.DAGScheduler.failJobAndIndependentStages\n"
        "Caused by: org.apache.arrow.memory.OutOfMemoryException: Failure allocating buffer.\n"
        "\tat io.netty.buffer.PooledByteBufAllocatorL.allocate\n"
        "Caused by: io.netty.util.internal.OutOfDirectMemoryError: failed to allocate 573 bytes\n"
    )
    assert spark_engine.spark_failure(_JavaError(trace)) == (
        "io.netty.util.internal.OutOfDirectMemoryError: failed to allocate 573 bytes"
    )
    assert spark_engine.spark_failure(_JavaError("ValueError: bad\nmore")) == "ValueError: bad"
    assert "JVM stopped" in spark_engine.spark_failure(_DeadJvmError())


def test_udf_results_go_back_in_bounded_record_batches() -> None:
    frame = pl.DataFrame({"x": np.arange(spark_engine.UDF_BATCH_ROWS * 2 + 5)})
    table = spark_engine._arrow(frame)
    sizes = [batch.num_rows for batch in table.to_batches()]
    assert sizes == [spark_engine.UDF_BATCH_ROWS, spark_engine.UDF_BATCH_ROWS, 5]
    assert pl.from_arrow(table).equals(frame)  # type: ignore[union-attr]


def test_the_map_writes_each_run_of_consecutive_events_to_its_own_file(tmp_path: Path) -> None:
    """A batch holding two runs of input rows (two splits in one task) gives two files,
    each named by its first event, so that reading them in name order is event order."""
    batch = pl.DataFrame(
        {"_event": [10, 11, 0, 1, 2], "event_id": ["k", "l", "a", "b", "c"]}
    ).to_arrow()

    def task(events: pl.DataFrame) -> pl.DataFrame:
        return events.select("event_id", pl.col("_event").alias("event"))

    run = spark_engine._map_task(task, str(tmp_path))
    assert list(run(iter(batch.to_batches()))) == []  # Spark gets nothing back
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["batch-000000000000.arrow", "batch-000000000010.arrow"]
    read = [pl.read_ipc(tmp_path / name)["event_id"].to_list() for name in files]
    assert read == [["a", "b", "c"], ["k", "l"]]
