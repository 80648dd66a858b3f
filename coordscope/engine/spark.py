"""The Spark runner: the same partition tasks and pair reduce, run by Apache Spark.

When a day of events is billions, the making of actions (linear in the events), the
coding of bursts (a sort of every action by key and time) and the counting of co-acting
pairs (whose cost grows with the in-window pairs) go to a Spark cluster; the candidates'
tests, groups, clusters, bursts and the outputs run in the driver with the local code.
Nothing of the kernel is forked: Spark runs the local functions as Arrow UDFs, and
shuffles are Spark's:

- the row-local signals' actions: a ``mapInArrow`` over the events;
- the coding of a key partition's bursts (a :class:`~coordscope.engine.runners.
  PartitionTask`): ``applyInArrow`` grouped by key partition, with its per-account rows
  totalled by a Spark aggregation (:meth:`SparkRunner.map_key_partitions`);
- :func:`~coordscope.engine.partitioned.partition_partials` (the pair engine's key
  partition task) and :func:`~coordscope.engine.partitioned.merge_partials` with
  :func:`~coordscope.engine.partitioned.reduce_pairs` (the pair-partition reduce, then the
  consumer's :data:`~coordscope.engine.partitioned.Sieve`, so that only what the driver
  needs travels to it): ``applyInArrow`` grouped by partition.

The results equal the local runner's, row for row:

- a key partition holds every action of its keys (``pmod(xxhash64(k), n)``), sorted in
  the task by ``(k, t, id)`` as the local runner hands them over;
- a partial row carries its task and its place in the task's output, so that the reduce
  merges the pieces of a crowded key in the order they were emitted;
- a pair partition is a run of slices of the first account code
  (:func:`~coordscope.engine.partitioned.pair_slices`), so pair partitions read in
  order give the pairs in code order, as locally;
- the map cuts each batch of events into runs of consecutive input rows, and writes each
  run's actions, in the order the task made them, to a file named by its first event;
  the driver reads the files in name order: the order
  :func:`coordscope.signals.actions.action_batches` gives;
- a unit-coding partition is a range of the key hash, as locally, and the task writes
  its tables as the local coding makes them: the driver numbers the bursts partition
  after partition, as the local coding does.

Data move through files in the run's work directory (Parquet where Spark reads or writes
them, Arrow IPC where a Python task writes for the driver), which Spark's executors and
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
from coordscope.parts import SPILL_COMPRESSION, WorkDir
from coordscope.schema import EVENT_SCHEMA, EventFrame

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

#: Rows in a record batch a Python UDF hands back to Spark (:func:`_arrow`).
UDF_BATCH_ROWS: Final = 1 << 16

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
    """Makes actions, codes bursts and counts pairs with Spark.

    Parameters
    ----------
    session : pyspark.sql.SparkSession, or a callable returning one
        The session to run in (:func:`spark_session` starts one). A callable is called
        when Spark is first needed, so that a run reads and checks its input before the
        JVM starts (a few seconds).

    Notes
    -----
    The near-duplicate and media signals and account creation need every event at once
    and are made in the driver, as locally
    (:func:`coordscope.signals.actions.runner_action_batches`).
    """

    name = "spark"

    def __init__(self, session: SparkSession | Callable[[], SparkSession]) -> None:
        require_spark()
        from pyspark.sql import SparkSession  # the optional extra, checked above

        self._session = session if isinstance(session, SparkSession) else None
        self._start = None if isinstance(session, SparkSession) else session
        self._staged: dict[int, tuple[EventFrame, Path]] = {}
        self._serial = itertools.count()

    @property
    def session(self) -> SparkSession:
        """The session (started on first use when the runner was given how to start it)."""
        if self._session is None:
            assert self._start is not None
            self._session = self._start()
        return self._session

    def map_events(
        self, events: EventFrame, task: BatchTask, *, rows: int, work: WorkDir
    ) -> Iterator[pl.DataFrame]:
        """Run ``task`` on Spark over batches of ``events``; yield the results in order.

        The events are written once to the work directory with their row numbers
        (``_event``); Spark maps each Arrow batch of them (:data:`MAP_BATCH_ROWS` events)
        with ``task``, which writes its result to the work directory itself (Arrow IPC,
        named by the batch's first event, renamed into place: a retried task writes the
        same bytes) and hands Spark nothing: the actions' strings never cross into the
        JVM. The driver reads the files in name order, which is event order. ``rows`` is
        unused: Spark cuts the batches.
        """
        staged = self._stage(events, work)
        out = work.subdir(f"spark-map-{next(self._serial)}")
        frame = self.session.read.parquet(staged.resolve().as_uri())
        conf = self.session.conf
        before = conf.get(_BATCH_ROWS_KEY, None)
        conf.set(_BATCH_ROWS_KEY, str(MAP_BATCH_ROWS))
        try:
            made = frame.mapInArrow(_map_task(task, str(out)), "n bigint")
            with _described(self.session, "coordscope: actions"):
                made.write.format("noop").mode("overwrite").save()
        finally:
            if before is None:
                conf.unset(_BATCH_ROWS_KEY)
            else:
                conf.set(_BATCH_ROWS_KEY, before)
        try:
            for path in sorted(out.glob("batch-*.arrow")):
                piece = pl.read_ipc(path)
                path.unlink()
                yield piece
        finally:
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
        rows with one ``_p`` (``applyInArrow``). Each task writes its partition's tables
        to the work directory itself (Arrow IPC, one file a table, renamed into place:
        a retried task writes the same bytes), and hands Spark only the rows of the
        summed table, which a Spark aggregation totals (``groupBy`` of the first column,
        ``sum`` of the others) before they are collected. The driver then reads the
        partitions' files in partition order.
        """
        from pyspark.sql import functions as F  # noqa: N812 - the optional extra

        out = work.subdir(f"spark-keyparts-{next(self._serial)}")
        summed = task.tables[task.summed]
        wide = _widened(summed)
        key, *values = summed
        sums_dir = out / "sums"
        shipped = self.session.sparkContext.broadcast(task)
        try:
            frame = self.session.read.parquet(staged.resolve().as_uri())
            made = (
                frame.repartition(n_parts, "_p")
                .groupBy("_p")
                .applyInArrow(_partition_task(shipped, str(out)), _ddl(wide))
            )
            totals = made.groupBy(key).agg(*(F.sum(v).alias(v) for v in values))
            with _described(self.session, "coordscope: key partitions"):
                totals.write.mode("overwrite").parquet(sums_dir.resolve().as_uri())
        finally:
            shipped.destroy()
        files = sorted(sums_dir.glob("*.parquet"))
        rows = pl.concat([pl.read_parquet(f) for f in files]) if files else None
        shutil.rmtree(sums_dir, ignore_errors=True)
        sums = pl.DataFrame(schema=summed) if rows is None else rows.select(list(summed))
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


@contextlib.contextmanager
def _described(session: SparkSession, text: str) -> Iterator[None]:
    """Name the Spark jobs started inside (``spark.job.description``: the UI, event logs)."""
    context = session.sparkContext
    context.setJobDescription(text)
    try:
        yield
    except Exception as exc:
        if type(exc).__module__.split(".")[0] not in ("py4j", "pyspark"):
            raise
        raise EngineError(f"Spark failed in '{text}': {spark_failure(exc)}") from exc
    finally:
        with contextlib.suppress(Exception):  # the JVM may be gone
            context.setLocalProperty("spark.job.description", None)  # type: ignore[arg-type]


def spark_failure(exc: BaseException) -> str:
    """Return the line that says why a Spark job failed (the root cause's, when found).

    Spark's messages are Java stack traces; the last ``Caused by`` line, or else the
    first line naming an exception, says the most. A dead JVM (the driver killed, out of
    memory) cannot be asked for its message at all.
    """
    try:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    except Exception:  # py4j asks the (dead) JVM for the message
        return "the Spark JVM stopped (killed, or out of memory); Spark's log says why"
    causes = [line.removeprefix("Caused by: ") for line in lines if line.startswith("Caused by:")]
    named = [line for line in lines if "Exception" in line or "Error" in line]
    found = causes[-1] if causes else named[0] if named else lines[0] if lines else ""
    return found[:300] or type(exc).__name__


def _arrow(frame: pl.DataFrame) -> pa.Table:
    """Return ``frame`` as an Arrow table of record batches of at most :data:`UDF_BATCH_ROWS`.

    Spark's JVM reads what a Python UDF returns a record batch at a time, each into
    direct memory: one batch of a few million wide rows (a key partition's coded actions)
    does not fit in it (``OutOfDirectMemoryError`` with the default 1 GB).
    """
    import pyarrow as pa  # the optional extra, on the executors

    table = frame.to_arrow()
    return pa.Table.from_batches(table.to_batches(max_chunksize=UDF_BATCH_ROWS), table.schema)


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
        ).pipe(_arrow)

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
        return _arrow(rows.select(list(_REDUCED_SCHEMA)))

    return run


def _map_task(
    task: BatchTask, out: str
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Return the map Spark runs over batches of staged events: ``task`` on each.

    Each batch is cut into runs of consecutive rows (``_event``: one run, unless Spark
    packed two input splits into one task); each run's result, when it has rows, is
    written to ``out`` as ``batch-{first event}.arrow``. Spark gets no rows back.
    """
    known = dict(EVENT_SCHEMA)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            if frame.height == 0:
                continue
            events = frame.cast(pl.Schema({c: t for c, t in known.items() if c in frame.columns}))
            rows = events["_event"].to_numpy()
            cuts = np.flatnonzero(np.diff(rows) != 1) + 1  # runs of consecutive rows
            for lo, hi in itertools.pairwise([0, *cuts.tolist(), rows.shape[0]]):
                made = task(events.slice(lo, hi - lo))
                if made.height:
                    path = Path(out) / f"batch-{int(rows[lo]):012d}.arrow"
                    tmp = path.with_name(f".{path.name}.{os.getpid()}")
                    made.write_ipc(tmp, compression=SPILL_COMPRESSION)
                    os.replace(tmp, path)
        yield from ()

    return run


def _widened(schema: Mapping[str, pl.DataType]) -> dict[str, pl.DataType]:
    """Return ``schema`` with unsigned integers as Int64 (Spark has none; UInt64 refused)."""
    out: dict[str, pl.DataType] = {}
    for col, dtype in schema.items():
        if dtype == pl.UInt64:
            raise EngineError(f"internal: column {col} is UInt64, which Spark cannot hold")
        out[col] = pl.Int64() if dtype.is_unsigned_integer() else dtype
    return out


def _ddl(schema: Mapping[str, pl.DataType]) -> str:
    """Return the Spark DDL string of a schema of integers, floats and booleans."""
    spark = {pl.Int64: "bigint", pl.Int32: "int", pl.Int8: "tinyint", pl.Float64: "double",
             pl.Boolean: "boolean"}  # fmt: skip
    return ", ".join(f"{c} {spark[type(t)]}" for c, t in schema.items())


def _partition_task(task: Broadcast[PartitionTask], out: str) -> Callable[[pa.Table], pa.Table]:
    """Return what Spark runs on each key partition.

    The task's tables but the summed one are written to ``out`` as
    ``part-{p}-{table index}.arrow``; the summed one goes back to Spark.
    """

    def run(table: pa.Table) -> pa.Table:
        work = task.value
        summed = _widened(work.tables[work.summed])
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        if frame.height == 0:
            return pl.DataFrame(schema=summed).to_arrow()
        p = int(frame["_p"][0])
        made = work(frame.sort("row"))
        del frame
        for i, name in enumerate(work.tables):
            if name == work.summed:
                continue
            path = Path(out) / f"part-{p:05d}-{i:02d}.arrow"
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            made[name].write_ipc(tmp, compression=SPILL_COMPRESSION)
            os.replace(tmp, path)
        return _arrow(made[work.summed].cast(summed))  # type: ignore[arg-type]

    return run


def _read_parts(
    out: Path, tables: Mapping[str, tuple[int, pl.Schema]]
) -> Iterator[tuple[int, dict[str, pl.DataFrame]]]:
    """Read the tables the tasks wrote to ``out``, a partition at a time, in order.

    ``tables`` gives each table to read (the task's tables but the summed one) its index
    among all of the task's tables, as the file names hold it, and its columns. A
    partition missing a table (never: a task writes every one) reads it empty. Each file
    is deleted once read, ``out`` at the end.
    """
    try:
        found: dict[int, dict[int, Path]] = {}
        for path in out.glob("part-*.arrow"):
            _, part, table = path.stem.split("-")
            found.setdefault(int(part), {})[int(table)] = path
        for p in sorted(found):
            made: dict[str, pl.DataFrame] = {}
            for name, (i, schema) in tables.items():
                file = found[p].get(i)
                if file is None:  # pragma: no cover - a task writes every table
                    made[name] = pl.DataFrame(schema=schema)
                    continue
                made[name] = pl.read_ipc(file).cast(schema)
                file.unlink()
            yield p, made
    finally:
        shutil.rmtree(out, ignore_errors=True)
