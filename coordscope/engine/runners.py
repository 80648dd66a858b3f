"""Who runs the work: the local runner (threads on this machine) or another (Spark).

An audit has three parts whose cost grows with the data rather than with what is found:
making the actions of every event (linear in the events), coding the actions by burst of
their key (a sort of every action by key and time), and counting co-acting pairs (the
key-partition tasks and the pair-partition reduce of
:mod:`coordscope.engine.partitioned`, which grow with the in-window pairs). A
:class:`Runner` says who does those: :meth:`Runner.map_events` maps batches of events,
:meth:`Runner.map_key_partitions` runs a :class:`PartitionTask` on every key partition and
totals its per-account rows, :meth:`Runner.pair_engine` counts pairs. Everything else
(the candidates' tests, groups, clusters, bursts, the outputs) runs in this process with
the same code whoever the runner is, so the results do not depend on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt
import polars as pl

from coordscope.budget import Budget
from coordscope.engine.partitioned import LocalPairEngine, PairPartition, Sieve
from coordscope.parts import WorkDir
from coordscope.schema import EventFrame

__all__ = [
    "BatchTask",
    "KeyPartitions",
    "LocalRunner",
    "PairEngine",
    "PartitionTask",
    "Runner",
    "sum_by_first",
]

#: Maps a batch of events (canonical columns and ``_event``, each event's row number in the
#: whole input, Int64) to a table; the runner concatenates the results in event order.
BatchTask = Callable[[pl.DataFrame], pl.DataFrame]

IntArray = npt.NDArray[np.int64]
T = TypeVar("T")


class PartitionTask(Protocol):
    """Work on one key partition's rows, run where the partition is (picklable).

    Attributes
    ----------
    tables : mapping of str to polars.Schema
        The tables it returns for each partition, and their columns.
    summed : str
        The one of them whose rows are summed over every partition by their first
        column (a global aggregate: the runner returns the totals, not the rows).
    """

    @property
    def tables(self) -> Mapping[str, pl.Schema]:
        """The tables returned for each partition, by name."""

    @property
    def summed(self) -> str:
        """The table summed over the partitions by its first column."""

    def __call__(self, frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
        """Return the tables of one partition's rows (given in ``row`` order)."""


@dataclass
class KeyPartitions:
    """What a runner returns of a :class:`PartitionTask` run over every key partition.

    Attributes
    ----------
    sums : polars.DataFrame
        The summed table's totals: one row per distinct value of its first column, sorted
        by it (:func:`sum_by_first`).
    parts : iterator of (int, dict of str to polars.DataFrame)
        The other tables of every partition that had rows, in partition order, each
        read when asked for (its files deleted once read).
    """

    sums: pl.DataFrame
    parts: Iterator[tuple[int, dict[str, pl.DataFrame]]]


def sum_by_first(frame: pl.DataFrame) -> pl.DataFrame:
    """Sum every other column of ``frame`` by its first column; sorted by it (same types)."""
    key, *values = frame.columns
    return (
        frame.group_by(key).agg(pl.col(c).sum() for c in values).sort(key).cast(dict(frame.schema))  # type: ignore[arg-type]
    )


class PairEngine(Protocol):
    """Counts co-acting pairs: key partitions in (:meth:`add`), pair partitions out.

    :class:`~coordscope.engine.partitioned.LocalPairEngine` is one; every engine yields
    the same partitions' rows for the same actions (the partition boundaries may differ,
    the rows of each pair may not).
    """

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
        """Count the co-actions of actions sorted by ``(k, t)`` (window inclusive)."""

    def reduce(self) -> Iterator[PairPartition]:
        """Yield every reduced pair partition, in account-code order."""

    def reduce_each(
        self, then: Callable[[PairPartition], T], *, sieve: Sieve | None = None
    ) -> Iterator[T]:
        """Reduce every pair partition, run ``then`` on it, yield the results in order.

        An engine that reduces in another process runs ``sieve`` there first, so that
        only what ``then`` needs travels; ``then`` must accept sieved and whole
        partitions alike.
        """


class Runner(Protocol):
    """Who makes the actions and counts the pairs of a run."""

    @property
    def name(self) -> str:
        """``"local"`` or ``"spark"`` (written in ``summary.json``)."""

    def map_events(
        self, events: EventFrame, task: BatchTask, *, rows: int, work: WorkDir
    ) -> Iterator[pl.DataFrame]:
        """Run ``task`` over batches of ``events``; yield its results in event order.

        Each result must come sorted as its batch's rows; a column ``i`` (Int64, its
        place in the batch's result) orders rows of one event. ``rows`` events per batch
        where they are cut here, ``work`` for scratch files.
        """

    def pair_engine(
        self, *, n_accounts: int, n_pairs: int, budget: Budget, work: WorkDir
    ) -> PairEngine:
        """Return a fresh pair engine for codes ``0 .. n_accounts - 1``."""

    def map_key_partitions(
        self, staged: Path, *, n_parts: int, task: PartitionTask, work: WorkDir
    ) -> KeyPartitions:
        """Run ``task`` on every key partition of the Parquet files in ``staged``.

        Every row has its partition in column ``_p`` (``0 .. n_parts - 1``); ``task``
        gets a partition's rows sorted by column ``row``. ``work`` for scratch files.
        """


class LocalRunner:
    """The embedded default: threads of this process, spill files in the work directory."""

    name = "local"

    def map_events(
        self, events: EventFrame, task: BatchTask, *, rows: int, work: WorkDir
    ) -> Iterator[pl.DataFrame]:
        """Run ``task`` here, a slice of ``rows`` events at a time (``work`` unused)."""
        lazy = events.lazy()
        n_events = int(lazy.select(pl.len()).collect().item())
        for start in range(0, n_events, rows):
            batch = lazy.slice(start, rows).collect()
            yield task(
                batch.with_columns(
                    pl.int_range(start, start + batch.height, dtype=pl.Int64).alias("_event")
                )
            )

    def pair_engine(
        self, *, n_accounts: int, n_pairs: int, budget: Budget, work: WorkDir
    ) -> PairEngine:
        """Return a :class:`~coordscope.engine.partitioned.LocalPairEngine`."""
        return LocalPairEngine(n_accounts=n_accounts, n_pairs=n_pairs, budget=budget, work=work)

    def map_key_partitions(
        self, staged: Path, *, n_parts: int, task: PartitionTask, work: WorkDir
    ) -> KeyPartitions:
        """Run ``task`` here on each partition of ``staged``, one after the other.

        A partition's rows are read with a filtered scan of the files; its tables are
        spilled to ``work`` and read back as :attr:`KeyPartitions.parts` is read; the
        summed table is added to the running totals partition by partition (memory: the
        totals, one row per distinct key).
        (The local audit codes its key partitions with a tuned path of its own; this is
        the same contract, for other callers and tests.)
        """
        scan = pl.scan_parquet(sorted(staged.glob("*.parquet")))
        runs: list[tuple[int, dict[str, Path]]] = []
        sums = pl.DataFrame(schema=task.tables[task.summed])
        for p in range(n_parts):
            rows = scan.filter(pl.col("_p") == p).collect()
            if rows.height == 0:
                continue
            tables = task(rows.sort("row"))
            del rows
            sums = sum_by_first(pl.concat([sums, tables.pop(task.summed)]))
            runs.append((p, {n: work.spill(t, f"part-{p:05d}-{n}") for n, t in tables.items()}))

        def parts() -> Iterator[tuple[int, dict[str, pl.DataFrame]]]:
            for p, paths in runs:
                tables = {n: pl.read_ipc(path) for n, path in paths.items()}
                for path in paths.values():
                    path.unlink()
                yield p, tables

        return KeyPartitions(sums, parts())
