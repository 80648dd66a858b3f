"""Who runs the work: the local runner (threads on this machine) or another (Spark).

An audit has two parts whose cost grows with the data rather than with what is found:
making the actions of every event (linear in the events), and counting co-acting pairs
(the key-partition tasks and the pair-partition reduce of
:mod:`coordscope.engine.partitioned`, which grow with the in-window pairs). A
:class:`Runner` says who does those two; everything else (units, the null model, the
tests, groups, clusters, bursts, the outputs) runs in this process with the same code
whoever the runner is, so the results do not depend on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt
import polars as pl

from coordscope.budget import Budget
from coordscope.engine.partitioned import LocalPairEngine, PairPartition, Sieve
from coordscope.parts import WorkDir
from coordscope.schema import EventFrame

__all__ = ["BatchTask", "LocalRunner", "PairEngine", "Runner"]

#: Maps a batch of events (canonical columns and ``_event``, each event's row number in the
#: whole input, Int64) to a table; the runner concatenates the results in event order.
BatchTask = Callable[[pl.DataFrame], pl.DataFrame]

IntArray = npt.NDArray[np.int64]
T = TypeVar("T")


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
