"""The Spark runner: the same partition task and pair reduce, run by Apache Spark.

When a day of events is billions, the counting of co-acting pairs (whose cost grows with
the in-window pairs) and the making of actions (linear in the events) go to a Spark
cluster; the rest of an audit (units, the null model, the pair tests, groups, clusters,
bursts, the outputs) runs in the driver with the local code. Nothing of the kernel is
forked: Spark runs :func:`~coordscope.engine.partitioned.partition_partials` (the key
partition task) and :func:`~coordscope.engine.partitioned.merge_partials` with
:func:`~coordscope.engine.partitioned.reduce_pairs` (the pair-partition reduce) as
grouped Arrow UDFs (``applyInArrow``), and the row-local signals' action functions as a
``mapInArrow`` over the events; shuffles are Spark's. The results equal the local
runner's, row for row:

- a key partition holds every action of its keys (``pmod(xxhash64(k), n)``), sorted in
  the task by ``(k, t, id)`` as the local runner hands them over;
- a partial row carries its task and its place in the task's output, so that the reduce
  merges the pieces of a crowded key in the order they were emitted;
- a pair partition is a run of slices of the first account code
  (:func:`~coordscope.engine.partitioned.pair_slices`), so pair partitions read in
  order give the pairs in code order, as locally;
- actions carry their event's row number in the input and their place in their batch,
  and are written sorted by both: the order :func:`coordscope.signals.actions.action_batches`
  gives.

Data move through Parquet files in the run's work directory, which Spark's executors and
the driver must both see (local disk for ``local[N]``; a shared mount, such as
``/dbfs`` or NFS, on a cluster). Spark is given them as ``file://`` URIs, so that a
cluster whose default file system is HDFS or DBFS still reads the mount.

pyspark is an optional extra (``coordscope[spark]``); without it, :func:`require_spark`
raises an :class:`~coordscope.errors.EngineError` that says how to install it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import math
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final, TypeVar

import numpy as np
import numpy.typing as npt
import polars as pl

from coordscope.budget import Budget, ordered_map
from coordscope.engine.partitioned import (
    KEYED_SCHEMA,
    PAIR_BYTES,
    PAIR_SCHEMA,
    PARTIAL_BYTES,
    PARTIAL_SCHEMA,
    SLICES,
    PairPartition,
    Sieve,
    merge_partials,
    pair_partition_bytes,
    pair_slices,
    partition_partials,
    reduce_pairs,
)
from coordscope.engine.runners import BatchTask, KeyPartitions, PartitionTask, sum_by_first
from coordscope.errors import EngineError
from coordscope.parts import WorkDir
from coordscope.schema import ACTION_SCHEMA, EVENT_SCHEMA, EventFrame

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark import Broadcast
    from pyspark.sql import SparkSession

__all__ = [
    "INSTALL_HINT",
    "SparkPairEngine",
    "SparkRunner",
    "require_spark",
    "spark_available",
    "spark_session",
]

IntArray = npt.NDArray[np.int64]
T = TypeVar("T")

#: What to do when the Spark engine is asked for and pyspark is missing.
INSTALL_HINT: Final = (
    "the Spark engine needs the spark extra: pip install 'coordscope[spark]' (and Java 17 or newer)"
)
#: Most key partitions of one run (each is a Spark task).
MAX_KEY_PARTITIONS: Final = 4096
#: Events in an Arrow batch of the actions' map (Spark's default, 10,000, made the map
#: pay its fixed cost per batch a hundred times per million events).
MAP_BATCH_ROWS: Final = 1 << 16

_BATCH_ROWS_KEY: Final = "spark.sql.execution.arrow.maxRecordsPerBatch"

_PARTIAL_COLUMNS: Final = (*PARTIAL_SCHEMA, "kp", "o", "q")
_PARTIAL_DDL: Final = (
    "lo bigint, hi bigint, k bigint, s bigint, n bigint, dt bigint, t0 bigint, t1 bigint, "
    "ra bigint, rb bigint, part boolean, kp bigint, o bigint, q bigint"
)
#: The reduce's output: the rows of three kinds (``_PAIR``, ``_KEYED``, ``_NOTE``) in one
#: table; a note row carries the sieve's note number ``i`` as ``lo`` and its value as ``hi``.
_REDUCED_SCHEMA: Final[dict[str, pl.DataType]] = {
    "q": pl.Int64(), "kind": pl.Int8(),
    **PAIR_SCHEMA, **{c: t for c, t in KEYED_SCHEMA.items() if c not in ("lo", "hi")},
}  # fmt: skip
_PAIR: Final = 0
_KEYED: Final = 1
_NOTE: Final = 2
_DDL_TYPES: Final = {pl.Float64: "double", pl.Boolean: "boolean", pl.Int8: "tinyint"}
_REDUCED_DDL: Final = ", ".join(
    f"{c} {_DDL_TYPES.get(type(t), 'bigint')}" for c, t in _REDUCED_SCHEMA.items()
)
_ACTION_DDL: Final = (
    "signal string, key string, actor_id string, ts bigint, event_id string, event bigint, i bigint"
)


def spark_available() -> bool:
    """Whether pyspark and pyarrow can be imported (the ``spark`` extra is installed)."""
    return all(importlib.util.find_spec(m) is not None for m in ("pyspark", "pyarrow"))


def require_spark() -> None:
    """Raise :class:`~coordscope.errors.EngineError` unless pyspark and Java are here."""
    if not spark_available():
        raise EngineError(INSTALL_HINT)
    home = os.environ.get("JAVA_HOME")
    if shutil.which("java") is None and not (home and (Path(home) / "bin" / "java").exists()):
        raise EngineError(
            "the Spark engine needs Java 17 or newer: set JAVA_HOME or put java on PATH"
        )


def spark_session(master: str | None = None, *, app_name: str = "coordscope") -> SparkSession:
    """Return the active SparkSession, or start one.

    Parameters
    ----------
    master : str, optional
        Spark master URL. Default: the one ``spark-submit`` set, else the environment's
        ``SPARK_MASTER``, else ``local[*]`` (every core of this machine).
    app_name : str
        The application's name in Spark's UI.

    Notes
    -----
    The Python workers run this interpreter (``PYSPARK_PYTHON`` defaults to it), so that
    in ``local`` mode they import the same coordscope; on a cluster, ship the wheel
    (``--py-files`` or the cluster's library settings). Start-up costs a few seconds
    (the JVM).
    """
    require_spark()
    from pyspark.sql import SparkSession  # the optional extra, imported when asked for

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ  # started by spark-submit
    chosen = master or os.environ.get("SPARK_MASTER") or (None if submitted else "local[*]")
    if chosen is not None:
        builder = builder.master(chosen)
    if "SPARK_CONF_DIR" not in os.environ:  # Spark's chatter off, unless configured
        log4j = Path(__file__).with_name("spark-log4j2.properties")
        builder = builder.config(
            "spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{log4j}"
        )
    session = (
        builder.config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


class SparkRunner:
    """Maps batches of events (the row-local signals' actions) and counts pairs with Spark.

    Parameters
    ----------
    session : pyspark.sql.SparkSession
        The session to run in (:func:`spark_session` starts one).

    Notes
    -----
    The near-duplicate and media signals and account creation need every event at once
    and are made in the driver, as locally
    (:func:`coordscope.signals.actions.runner_action_batches`).
    """

    name = "spark"

    def __init__(self, session: SparkSession) -> None:
        require_spark()
        self.session = session
        self._staged: dict[int, tuple[EventFrame, Path]] = {}
        self._serial = itertools.count()

    def map_events(
        self, events: EventFrame, task: BatchTask, *, rows: int, work: WorkDir
    ) -> Iterator[pl.DataFrame]:
        """Run ``task`` on Spark over batches of ``events``; yield the results in order.

        The events are written once to the work directory with their row numbers
        (``_event``); Spark maps each Arrow batch of them with ``task`` (its ``ts``
        column sent as integer microseconds; :data:`MAP_BATCH_ROWS` events a batch) and
        writes the results without a shuffle: each file holds the actions of one input
        split, whose events are consecutive rows, in order. The driver reads the files
        a file at a time in the order of their first ``(event, i)``; should two files'
        ranges overlap (Spark packed two splits into one task), Spark sorts the results
        by (``event``, ``i``) instead. ``rows`` is unused: Spark cuts the batches.
        """
        staged = self._stage(events, work)
        out = work.subdir(f"spark-map-{next(self._serial)}")
        frame = self.session.read.parquet(staged.resolve().as_uri())
        conf = self.session.conf
        before = conf.get(_BATCH_ROWS_KEY, None)
        conf.set(_BATCH_ROWS_KEY, str(MAP_BATCH_ROWS))
        try:
            made = frame.mapInArrow(_map_task(task), _ACTION_DDL)
            with _described(self.session, "coordscope: actions"):
                made.write.mode("overwrite").parquet(out.resolve().as_uri())
                files = _in_event_order(out)
                if files is None:  # pragma: no cover - one staged file: one split a task
                    made.orderBy("event", "i").write.mode("overwrite").parquet(
                        out.resolve().as_uri()
                    )
                    files = sorted(out.glob("*.parquet"))
        finally:
            if before is None:
                conf.unset(_BATCH_ROWS_KEY)
            else:
                conf.set(_BATCH_ROWS_KEY, before)
        for path in files:
            piece = pl.read_parquet(path)
            path.unlink()
            if piece.height:
                yield piece.select(
                    pl.col("signal"), pl.col("key"), pl.col("actor_id"),
                    pl.from_epoch(pl.col("ts"), time_unit="us").dt.replace_time_zone("UTC"),
                    pl.col("event_id"), pl.col("event"),
                ).cast(pl.Schema(ACTION_SCHEMA))  # fmt: skip
        shutil.rmtree(out, ignore_errors=True)

    def _stage(self, events: EventFrame, work: WorkDir) -> Path:
        """Write ``events`` with their row numbers (column ``_event``), once per run."""
        held = self._staged.get(id(events))
        if held is not None and held[0] is events:
            return held[1]
        path = work.file("spark-events")
        events.lazy().with_row_index("_event").with_columns(
            pl.col("_event").cast(pl.Int64)
        ).sink_parquet(path, compression="lz4", statistics=False, row_group_size=1 << 17)
        self._staged = {id(events): (events, path)}
        return path

    def map_key_partitions(
        self, staged: Path, *, n_parts: int, task: PartitionTask, work: WorkDir
    ) -> KeyPartitions:
        """Run ``task`` on Spark over the key partitions of ``staged`` (grouped Arrow UDF).

        ``task`` is broadcast (shipped to each executor once) and run on each group of
        rows with one ``_p`` (``applyInArrow``); its tables come out as one table, a
        column ``_t`` saying which, written partitioned by ``_p``. The summed table is
        then totalled by a Spark aggregation (``groupBy`` of its first column, ``sum`` of
        the others) and collected; the driver reads the other tables a partition at a
        time, in order.
        """
        from pyspark.sql import functions as F  # noqa: N812 - the optional extra

        union = _union_schema(task.tables)
        out = work.subdir(f"spark-keyparts-{next(self._serial)}")
        shipped = self.session.sparkContext.broadcast(task)
        try:
            frame = self.session.read.parquet(staged.resolve().as_uri())
            made = (
                frame.repartition(n_parts, "_p")
                .groupBy("_p")
                .applyInArrow(_partition_task(shipped, union), _ddl(union))
            )
            with _described(self.session, "coordscope: key partitions"):
                made.write.mode("overwrite").partitionBy("_t", "_p").parquet(out.resolve().as_uri())
        finally:
            shipped.destroy()
        index = list(task.tables).index(task.summed)
        summed = task.tables[task.summed]
        key, *values = (f"{task.summed}__{c}" for c in summed)
        sums_dir = out / "sums"
        if (out / f"_t={index}").is_dir():
            written = self.session.read.parquet(out.resolve().as_uri())
            totals = written.filter(F.col("_t") == index)  # one directory read
            with _described(self.session, "coordscope: key partitions, totals"):
                totals.groupBy(key).agg(*(F.sum(v).alias(v) for v in values)).write.mode(
                    "overwrite"
                ).parquet(sums_dir.resolve().as_uri())
        files = sorted(sums_dir.glob("*.parquet"))
        sums = pl.concat([pl.read_parquet(f) for f in files]) if files else None
        sums = (
            pl.DataFrame(schema=summed)
            if sums is None or sums.height == 0
            else sums.select(key, *values).rename(dict(zip((key, *values), summed, strict=True)))
        )
        shutil.rmtree(sums_dir, ignore_errors=True)
        shutil.rmtree(out / f"_t={index}", ignore_errors=True)
        rest = {
            name: (i, schema)
            for i, (name, schema) in enumerate(task.tables.items())
            if name != task.summed
        }
        return KeyPartitions(sum_by_first(sums.cast(summed)), _read_parts(out, rest))

    def pair_engine(
        self, *, n_accounts: int, n_pairs: int, budget: Budget, work: WorkDir
    ) -> SparkPairEngine:
        """Return a :class:`SparkPairEngine` of this session."""
        return SparkPairEngine(
            self.session, n_accounts=n_accounts, n_pairs=n_pairs, budget=budget, work=work
        )


class SparkPairEngine:
    """The partitioned pair engine with Spark running the key tasks and the pair reduce.

    The same interface and results as
    :class:`~coordscope.engine.partitioned.LocalPairEngine`: :meth:`add` hands over
    actions sorted by ``(k, t)``; :meth:`reduce_each` has Spark count and reduce them and
    runs ``then`` on each pair partition in the driver, in code order.

    Parameters
    ----------
    session : pyspark.sql.SparkSession
        Where to run.
    n_accounts : int
        Account codes run over ``0 .. n_accounts - 1``.
    n_pairs : int
        The in-window pairs the run will produce (an upper bound), to size partitions.
    budget : Budget
        Sizes the key partitions (each a Spark task of about a task's bytes of pairs) and
        the pair partitions (each read by the driver at once); ``workers`` pair
        partitions are tested at a time in the driver.
    work : WorkDir
        Where the actions handed over and the reduced pairs are written (a path the
        executors see).
    """

    def __init__(
        self,
        session: SparkSession,
        *,
        n_accounts: int,
        n_pairs: int,
        budget: Budget,
        work: WorkDir,
    ) -> None:
        self.session = session
        self.n_accounts = max(1, n_accounts)
        self.budget = budget
        task_bytes = budget.task_bytes()
        self.max_pairs = max(16, task_bytes // PAIR_BYTES)
        cores = max(1, int(session.sparkContext.defaultParallelism))
        self.n_key_parts = max(cores, min(MAX_KEY_PARTITIONS, math.ceil(n_pairs / self.max_pairs)))
        share = pair_partition_bytes(budget)
        self.n_pair_parts = max(cores, min(SLICES, math.ceil(n_pairs * PARTIAL_BYTES / share)))
        self.dir = work.subdir(f"spark-pairs-{id(self)}")
        self._inputs = self.dir / "actions"
        self._inputs.mkdir(exist_ok=True)
        self._serial = 0
        self.n_partials = 0

    def add(
        self,
        k: IntArray,
        a: IntArray,
        t: IntArray,
        s: IntArray,
        r: IntArray | None = None,
        *,
        window: int,
    ) -> None:
        """Hand over actions sorted by ``(k, t)`` (written to a file Spark reads).

        ``r`` gives the ids reported as ``ra``, ``rb`` (default: positions in these
        arrays); ``window`` is inclusive, in the unit of ``t``.
        """
        n = k.shape[0]
        if n < 2:
            return
        if r is None:
            r = np.arange(n, dtype=np.int64)
        pl.DataFrame(
            {"k": k, "a": a, "t": t, "s": s, "r": r, "w": np.full(n, window, dtype=np.int64)}
        ).write_parquet(self._inputs / f"part-{self._serial:06d}.parquet", compression="lz4")
        self._serial += 1

    def reduce(self) -> Iterator[PairPartition]:
        """Yield every reduced pair partition, in code order."""
        return self.reduce_each(_same)

    def reduce_each(
        self, then: Callable[[PairPartition], T], *, sieve: Sieve | None = None
    ) -> Iterator[T]:
        """Count and reduce in Spark; run ``then`` on each pair partition, in order.

        Spark writes the reduced pair partitions (one folder each), each passed through
        ``sieve`` first when given (a broadcast variable: it is shipped to each executor
        once), so that only what ``then`` needs, and the sieve's notes, reach the driver.
        The driver reads them in order, ``workers`` at a time on threads, and runs
        ``then`` on each (it must be safe to run on several threads at once). The files
        are deleted as they are read, and the folder when the last is done (or the
        consumer stops).
        """
        shipped: Broadcast[Sieve] | None = None
        try:
            if self._serial == 0:
                return
            from pyspark.sql import functions as F  # noqa: N812 - the optional extra

            out = self.dir / "pairs"
            acts = self.session.read.parquet(self._inputs.resolve().as_uri())
            acts = acts.withColumn("kp", F.pmod(F.xxhash64("k"), F.lit(self.n_key_parts)))
            partials = (
                acts.repartition(self.n_key_parts, "kp")
                .groupBy("kp")
                .applyInArrow(
                    _key_task(self.max_pairs, self.n_accounts, self.n_pair_parts), _PARTIAL_DDL
                )
            )
            if sieve is not None:
                shipped = self.session.sparkContext.broadcast(sieve)
            reduced = (
                partials.repartition(self.n_pair_parts, "q")
                .groupBy("q")
                .applyInArrow(_pair_task(self.n_accounts, shipped), _REDUCED_DDL)
            )
            with _described(self.session, "coordscope: pairs"):
                reduced.write.mode("overwrite").partitionBy("q").parquet(out.resolve().as_uri())
            parts = sorted(
                (int(p.name.removeprefix("q=")), p) for p in out.glob("q=*") if p.is_dir()
            )

            def one(item: tuple[int, Path]) -> T:
                q, folder = item
                files = sorted(folder.glob("*.parquet"))
                frame = pl.concat([pl.read_parquet(f) for f in files]) if files else None
                shutil.rmtree(folder, ignore_errors=True)
                if frame is None:
                    frame = pl.DataFrame(schema=_REDUCED_SCHEMA)
                kind = pl.col("kind")
                pairs = frame.filter(kind == _PAIR).select(list(PAIR_SCHEMA)).sort("lo", "hi")
                keyed = frame.filter(kind == _KEYED).select(list(KEYED_SCHEMA))
                notes = frame.filter(kind == _NOTE).sort("lo")["hi"].to_list()
                del frame
                return then(PairPartition(q, pairs, keyed, tuple(notes)))

            yield from ordered_map(one, parts, self.budget.workers)
        finally:
            if shipped is not None:
                shipped.destroy()
            shutil.rmtree(self.dir, ignore_errors=True)


def _in_event_order(out: Path) -> list[Path] | None:
    """Return the non-empty result files of a map in ``(event, i)`` order, or None.

    Each file must be in order itself and the files' ranges must not overlap; None when
    they are not (the caller then sorts with Spark). Reads two columns of each file.
    """
    spans: list[tuple[tuple[int, int], tuple[int, int], Path]] = []
    for path in out.glob("*.parquet"):
        keys = pl.read_parquet(path, columns=["event", "i"])
        if keys.height == 0:
            path.unlink()
            continue
        event, i = keys["event"].to_numpy(), keys["i"].to_numpy()
        step = (event[1:] > event[:-1]) | ((event[1:] == event[:-1]) & (i[1:] > i[:-1]))
        if not step.all():  # pragma: no cover - one split a task keeps the order
            return None
        first, last = keys.row(0), keys.row(-1)
        spans.append(((first[0], first[1]), (last[0], last[1]), path))
    spans.sort(key=lambda span: span[0])
    for (_, end, _), (start, _, _) in itertools.pairwise(spans):
        if start <= end:  # pragma: no cover - two splits packed into one task
            return None
    return [path for _, _, path in spans]


@contextlib.contextmanager
def _described(session: SparkSession, text: str) -> Iterator[None]:
    """Name the Spark jobs started inside (``spark.job.description``: the UI, event logs)."""
    context = session.sparkContext
    context.setJobDescription(text)
    try:
        yield
    finally:
        context.setLocalProperty("spark.job.description", None)  # type: ignore[arg-type]


def _same(part: PairPartition) -> PairPartition:
    """Return ``part`` (what :meth:`SparkPairEngine.reduce` runs on each partition)."""
    return part


def _key_task(max_pairs: int, n_accounts: int, n_pair_parts: int) -> Callable[[pa.Table], pa.Table]:
    """Return the key-partition task Spark runs on each group of actions (one partition)."""

    def run(table: pa.Table) -> pa.Table:
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        if frame.height == 0:
            return pl.DataFrame(schema=dict.fromkeys(_PARTIAL_COLUMNS, pl.Int64)).to_arrow()
        kp = int(frame["kp"][0])
        frame = frame.sort("k", "t", "r")
        pieces: list[pl.DataFrame] = []
        for w in frame["w"].unique().sort().to_list():
            sel = frame.filter(pl.col("w") == w)
            pieces.extend(
                partition_partials(
                    sel["k"].to_numpy(), sel["a"].to_numpy(), sel["t"].to_numpy(),
                    sel["s"].to_numpy(), sel["r"].to_numpy(), window=int(w), max_pairs=max_pairs,
                )
            )  # fmt: skip
        partials = pl.concat(pieces) if pieces else pl.DataFrame(schema=PARTIAL_SCHEMA)
        partials = partials.cast(pl.Schema(PARTIAL_SCHEMA))
        q = pair_slices(partials["lo"].to_numpy(), n_accounts) * n_pair_parts // SLICES
        return partials.with_columns(
            pl.lit(kp, dtype=pl.Int64).alias("kp"),
            pl.int_range(pl.len(), dtype=pl.Int64).alias("o"),
            pl.Series("q", q, dtype=pl.Int64),
        ).to_arrow()

    return run


def _pair_task(n_accounts: int, sieve: Broadcast[Sieve] | None) -> Callable[[pa.Table], pa.Table]:
    """Return the pair-partition reduce Spark runs on each group of partials.

    With ``sieve`` (broadcast), each reduced partition goes through it before it is
    written; its notes become rows of their own.
    """

    def run(table: pa.Table) -> pa.Table:
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        if frame.height == 0:
            return pl.DataFrame(schema=_REDUCED_SCHEMA).to_arrow()
        q = int(frame["q"][0])
        # the pieces of a crowded key are merged in the order their task emitted them
        partials = frame.sort("kp", "o").select(list(PARTIAL_SCHEMA))
        del frame
        keyed = merge_partials(partials)
        part = PairPartition(q, reduce_pairs(keyed, n_accounts=n_accounts), keyed)
        del keyed
        if sieve is not None:
            part = sieve.value(part)
        notes = pl.DataFrame(
            {"lo": range(len(part.notes)), "hi": list(part.notes)},
            schema={"lo": pl.Int64, "hi": pl.Int64},
        )
        rows = pl.concat(
            [
                part.pairs.with_columns(kind=pl.lit(_PAIR, dtype=pl.Int8)),
                part.keyed.with_columns(kind=pl.lit(_KEYED, dtype=pl.Int8)),
                notes.with_columns(kind=pl.lit(_NOTE, dtype=pl.Int8)),
            ],
            how="diagonal",
        )
        rows = rows.with_columns(q=pl.lit(q, dtype=pl.Int64))
        return rows.select(list(_REDUCED_SCHEMA)).to_arrow()

    return run


def _map_task(task: BatchTask) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Return the map Spark runs over batches of staged events: ``task`` on each."""
    known = dict(EVENT_SCHEMA)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            if frame.height == 0:
                continue
            events = frame.cast(pl.Schema({c: t for c, t in known.items() if c in frame.columns}))
            out = task(events).with_columns(pl.col("ts").dt.epoch("us"))
            yield from out.to_arrow().to_batches()

    return run


def _union_schema(tables: Mapping[str, pl.Schema]) -> dict[str, pl.DataType]:
    """Return the columns of the one table the tables of a :class:`PartitionTask` travel in.

    ``_p`` (the partition), ``_t`` (the table's index), ``_i`` (the row's place in its
    table: Spark's partitioned writer may reorder rows), then every table's columns as
    ``table__column``, with the unsigned integers widened to Int64 (Spark has none) and
    read back as they were.
    """
    union: dict[str, pl.DataType] = {"_p": pl.Int64(), "_t": pl.Int32(), "_i": pl.Int64()}
    for name, schema in tables.items():
        for col, dtype in schema.items():
            if dtype == pl.UInt64:
                raise EngineError(f"internal: {name}.{col} is UInt64, which Spark cannot hold")
            union[f"{name}__{col}"] = pl.Int64() if dtype.is_unsigned_integer() else dtype
    return union


def _ddl(schema: Mapping[str, pl.DataType]) -> str:
    """Return the Spark DDL string of a schema of integers, floats and booleans."""
    spark = {pl.Int64: "bigint", pl.Int32: "int", pl.Int8: "tinyint", pl.Float64: "double",
             pl.Boolean: "boolean"}  # fmt: skip
    return ", ".join(f"{c} {spark[type(t)]}" for c, t in schema.items())


def _partition_task(
    task: Broadcast[PartitionTask], union: Mapping[str, pl.DataType]
) -> Callable[[pa.Table], pa.Table]:
    """Return what Spark runs on each key partition: the task, its tables in one table."""

    def run(table: pa.Table) -> pa.Table:
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        schema = dict(union)
        if frame.height == 0:
            return pl.DataFrame(schema=schema).to_arrow()
        p = int(frame["_p"][0])
        work = task.value
        made = work(frame.sort("row"))
        rows = [
            made[name]
            .select(pl.all().name.prefix(f"{name}__"))
            .with_columns(
                _t=pl.lit(i, dtype=pl.Int32),
                _p=pl.lit(p, dtype=pl.Int64),
                _i=pl.int_range(pl.len(), dtype=pl.Int64),
            )
            for i, name in enumerate(work.tables)
        ]
        return pl.concat(rows, how="diagonal").cast(schema).select(list(schema)).to_arrow()  # type: ignore[arg-type]

    return run


def _read_parts(
    out: Path, tables: Mapping[str, tuple[int, pl.Schema]]
) -> Iterator[tuple[int, dict[str, pl.DataFrame]]]:
    """Read the tables of every partition written under ``out``, in partition order.

    ``tables`` gives each table to read (the task's tables but the summed one) its index
    ``_t`` and its columns. A partition's files are deleted once read, ``out`` at the end.
    """
    try:
        found: dict[int, dict[int, Path]] = {}
        for i, _ in tables.values():
            for folder in (out / f"_t={i}").glob("_p=*"):
                found.setdefault(int(folder.name.removeprefix("_p=")), {})[i] = folder
        for p in sorted(found):
            made: dict[str, pl.DataFrame] = {}
            for name, (i, schema) in tables.items():
                where = found[p].get(i)
                files = sorted(where.glob("*.parquet")) if where is not None else []
                if files:
                    rows = pl.concat([pl.read_parquet(f) for f in files]).sort("_i")
                    made[name] = (
                        rows.select(f"{name}__{c}" for c in schema)
                        .rename({f"{name}__{c}": c for c in schema})
                        .cast(schema)
                    )
                else:
                    made[name] = pl.DataFrame(schema=schema)
                if where is not None:
                    shutil.rmtree(where, ignore_errors=True)
            yield p, made
    finally:
        shutil.rmtree(out, ignore_errors=True)
