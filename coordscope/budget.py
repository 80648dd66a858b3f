"""The resources a run may use: a memory budget, worker threads and a work directory.

Every stage that could grow with the data sizes its pieces from one :class:`Budget`:
the kernel's pair chunks, the number of key partitions and pair partitions, and how many
rows an ingest reads at once. The budget is for the whole process; a fixed overhead (the
interpreter, polars and numpy, the run's small tables) comes on top and is measured in the
benchmarks.

Sizes on the command line are written ``4GB``, ``512MB``, ``1.5GiB`` or a plain number of
bytes; ``GB`` and ``GiB`` both mean 2**30 bytes here (what a user means by "4 GB" on a
machine with 16 GiB of memory).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final, TypeVar

import polars as pl

from coordscope.errors import ParameterError

T = TypeVar("T")
R = TypeVar("R")

__all__ = [
    "DEFAULT_MEMORY",
    "HELD_FACTOR",
    "MIN_MEMORY",
    "Budget",
    "held_bytes",
    "ordered_map",
    "parse_memory",
    "parse_size",
    "peak_rss_mib",
    "return_freed_memory",
    "thread_pool",
    "trim_freed_memory",
    "usable_cores",
]

#: Default memory budget of a run, bytes (4 GiB).
DEFAULT_MEMORY: Final = 4 * 2**30

#: Resident bytes per byte of a held table (polars' estimate): allocator slack, the
#: interpreter and libraries, temporaries (measured: 2.75 GB resident for 1.5 GB of
#: events, actions and codes at 3M events).
HELD_FACTOR: Final = 2
#: The smallest budget accepted, bytes (64 MiB): below it the fixed overhead dominates.
MIN_MEMORY: Final = 64 * 2**20

_UNITS: Final[dict[str, int]] = {
    "": 1, "b": 1,
    "k": 2**10, "kb": 2**10, "kib": 2**10,
    "m": 2**20, "mb": 2**20, "mib": 2**20,
    "g": 2**30, "gb": 2**30, "gib": 2**30,
    "t": 2**40, "tb": 2**40, "tib": 2**40,
}  # fmt: skip

_SIZE: Final = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str | int, *, name: str, minimum: int = 1) -> int:
    """Parse a size such as ``"4GB"``, ``"512MB"`` or ``1073741824`` into bytes.

    Parameters
    ----------
    text : str or int
        A number of bytes, or a number followed by ``K``, ``M``, ``G`` or ``T`` (with an
        optional ``B`` or ``iB``; all binary multiples).
    name : str
        The option's name, for the error message.
    minimum : int, default 1
        The least size accepted, bytes.

    Returns
    -------
    int
        Bytes, at least ``minimum``.

    Raises
    ------
    ParameterError
        The text is not a size, or the size is below ``minimum``; the message starts with
        ``name``.

    Examples
    --------
    >>> parse_size("1MB", name="partition_memory")
    1048576
    """
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise ParameterError(f"{name} must be a size such as 4GB or 512MB, got {text!r}")
    if isinstance(text, int):
        value = text
    else:
        match = _SIZE.match(text)
        unit = match.group(2).lower() if match else ""
        if match is None or unit not in _UNITS:
            raise ParameterError(f"{name} must be a size such as 4GB or 512MB, got {text!r}")
        value = int(float(match.group(1)) * _UNITS[unit])
    if value < max(1, minimum):
        least = f"{minimum // 2**20}MB" if minimum % 2**20 == 0 else f"{minimum} bytes"
        what = "a positive size" if minimum <= 1 else f"at least {least}"
        raise ParameterError(f"{name} must be {what}, got {text!r}")
    return value


def parse_memory(text: str | int) -> int:
    """Parse a memory size such as ``"4GB"``, ``"512MB"`` or ``1073741824`` into bytes.

    Parameters
    ----------
    text : str or int
        A number of bytes, or a number followed by ``K``, ``M``, ``G`` or ``T`` (with an
        optional ``B`` or ``iB``; all binary multiples).

    Returns
    -------
    int
        Bytes, at least :data:`MIN_MEMORY`.

    Raises
    ------
    ParameterError
        The text is not a size, or the size is below :data:`MIN_MEMORY`.

    Examples
    --------
    >>> parse_memory("4GB")
    4294967296
    >>> parse_memory("1.5g")
    1610612736
    """
    return parse_size(
        text if isinstance(text, int) else str(text), name="memory", minimum=MIN_MEMORY
    )


@contextlib.contextmanager
def thread_pool(workers: int) -> Iterator[ThreadPoolExecutor]:
    """Run tasks on ``workers`` threads; stop promptly when the block raises.

    A ``with ThreadPoolExecutor()`` block waits, on the way out, for every task already
    queued: Ctrl-C or SIGTERM during a stage that queued thousands of partition tasks went
    on running all of them (minutes, with spill files growing). Here an exception leaving
    the block (``KeyboardInterrupt`` included) cancels the queued tasks, and only the
    running ones, each bounded by the budget, are waited for.
    """
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def ordered_map(func: Callable[[T], R], items: Sequence[T], workers: int) -> Iterator[R]:
    """Run ``func`` over ``items`` on ``workers`` threads; yield the results in order.

    At most ``workers`` items are in progress or done ahead of the consumer, so the
    memory of the results waiting is bounded by ``workers`` of them (``pool.map`` would
    start them all). With one worker, ``func`` runs on the calling thread.
    """
    if workers <= 1 or len(items) <= 1:
        for item in items:
            yield func(item)
        return
    with thread_pool(workers) as pool:
        pending = [pool.submit(func, items[i]) for i in range(min(workers, len(items)))]
        for i in range(len(items)):
            result = pending.pop(0).result()
            nxt = i + len(pending) + 1
            if nxt < len(items):
                pending.append(pool.submit(func, items[nxt]))
            yield result


def usable_cores() -> int:
    """Return the number of cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        return max(1, os.cpu_count() or 1)


def held_bytes(*frames: pl.DataFrame | pl.LazyFrame) -> int:
    """Return what holding ``frames`` costs a budget: :data:`HELD_FACTOR` times their size.

    A lazy frame (a scan of a file) holds nothing.

    A stage that starts while the run holds its inputs (events, actions, codes) sizes its
    pieces from the budget left (:meth:`Budget.after`). The estimate comes from the
    tables, not from the resident memory, so that the partitioning — and with it every
    output byte — depends only on the input and the parameters.
    """
    return HELD_FACTOR * sum(int(f.estimated_size()) for f in frames if isinstance(f, pl.DataFrame))


#: glibc's ``mallopt`` parameters (``malloc.h``) and the size from which every allocation
#: gets its own pages, returned to the system when freed.
_M_TRIM_THRESHOLD: Final = -1
_M_MMAP_THRESHOLD: Final = -3
_OWN_PAGES_FROM: Final = 1 << 20


def return_freed_memory() -> bool:
    """Make glibc give freed memory back to the system, so that RSS follows the budget.

    glibc serves an allocation of at least the *mmap threshold* with pages of its own,
    unmapped when freed, and raises that threshold (up to 32 MiB) each time such a block
    is freed; blocks below it come from arenas that keep their free space. numpy arrays
    of a few MiB freed by one stage then stay resident through the next ones (measured: an
    audit of 3 days × 1M events peaked at 4.3 GB, 3.9 GB with a fixed 1 MiB threshold).
    Fixing the threshold and the trim threshold at 1 MiB costs a system call per large
    allocation. polars' own allocator is not affected.

    Returns
    -------
    bool
        Whether the settings were applied (False where the C library is not glibc).

    Notes
    -----
    Process-wide: the command line calls it at start-up; a program embedding coordscope
    decides for itself.
    """
    try:
        import ctypes  # noqa: PLC0415 - only where it is asked for

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _OWN_PAGES_FROM)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _OWN_PAGES_FROM)
    )


def trim_freed_memory() -> bool:
    """Hand glibc's free pages back to the system now (``malloc_trim``); between stages.

    glibc returns free memory at the top of its heaps on its own, not the free chunks
    below a live one: after a stage of many mid-sized numpy arrays (below the threshold
    of :func:`return_freed_memory`) hundreds of MB stay resident (30 days × 1M events:
    706 MB after the actions stage, 364 MB after a trim). One call costs milliseconds.

    Returns
    -------
    bool
        Whether memory was released (False where the C library is not glibc).
    """
    try:
        import ctypes  # noqa: PLC0415 - only where it is asked for

        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return bool(trim(0))


def peak_rss_mib() -> float:
    """Return the peak resident memory of this process so far, in MiB (0 where unknown)."""
    try:
        import resource  # noqa: PLC0415 - POSIX only
    except ImportError:  # pragma: no cover - Windows
        return 0.0
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


@dataclass(frozen=True)
class Budget:
    """The memory and threads a run may use.

    Attributes
    ----------
    memory : int
        Bytes the whole run may hold at once (:data:`DEFAULT_MEMORY` by default).
    workers : int
        Partition tasks run at once (threads); default :func:`usable_cores`.
    task : int or None
        Bytes one task may use; default (None) a third of ``memory / workers``. A small
        value forces many partitions and chunks: the tests use it to show that results do
        not depend on the partitioning.
    whole : int
        The budget of the whole run, of which this one is what is left
        (:meth:`after`); 0 (the default) means ``memory``.
    """

    memory: int = DEFAULT_MEMORY
    workers: int = 0
    task: int | None = None
    whole: int = 0

    def __post_init__(self) -> None:
        """Check the values; ``workers = 0`` means every usable core."""
        if isinstance(self.memory, bool) or not isinstance(self.memory, int):
            raise ParameterError(f"memory must be a number of bytes, got {self.memory!r}")
        if self.memory < MIN_MEMORY:
            raise ParameterError(f"memory must be at least 64MB, got {self.memory} bytes")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int):
            raise ParameterError(f"workers must be an integer, got {self.workers!r}")
        if self.workers < 0:
            raise ParameterError(f"workers must be >= 1, got {self.workers}")
        if self.workers == 0:
            object.__setattr__(self, "workers", usable_cores())
        if self.whole < self.memory:
            object.__setattr__(self, "whole", self.memory)
        if self.task is not None and (isinstance(self.task, bool) or self.task < 1):
            raise ParameterError(f"task must be a positive number of bytes, got {self.task!r}")

    @classmethod
    def of(
        cls,
        memory: str | int | Budget | None = None,
        workers: int | None = None,
        partition_memory: str | int | None = None,
    ) -> Budget:
        """Build a budget from user values (``None``: the default; a Budget is kept).

        ``partition_memory`` (a size, any positive number of bytes up to ``memory``) sets
        :attr:`task`: the memory one partition task may use, so smaller means more,
        smaller key and pair partitions; the results do not depend on it.
        """
        if isinstance(memory, Budget):
            budget = (
                memory
                if workers is None
                else cls(memory.memory, workers, memory.task, memory.whole)
            )
        else:
            if workers is not None and not isinstance(workers, bool) and workers < 1:
                raise ParameterError(f"workers must be >= 1, got {workers}")
            budget = cls(
                memory=DEFAULT_MEMORY if memory is None else parse_memory(memory),
                workers=0 if workers is None else workers,
            )
        if partition_memory is None:
            return budget
        task = parse_size(partition_memory, name="partition_memory")
        if task > budget.memory:
            raise ParameterError(
                f"partition_memory must be at most the memory budget ({budget.memory} bytes), "
                f"got {partition_memory!r}"
            )
        return cls(budget.memory, budget.workers, task, budget.whole)

    def after(self, held: int) -> Budget:
        """Return the budget left once ``held`` bytes are in use, at least a quarter of it.

        A stage that starts while the run holds its inputs (events, actions, codes) sizes
        its pieces from what is left, so that the whole process stays within the budget.
        When the inputs take more than three quarters of it, the run is over budget
        whatever the stage does: the stage still gets a quarter (and at least
        :data:`MIN_MEMORY`) rather than pieces so small that their number, not their
        size, costs the time (thousands of tiny spill files and partitions). The quarter
        is of the whole run's budget (:attr:`whole`), however many stages took theirs.
        """
        left = max(MIN_MEMORY, self.whole // 4, self.memory - max(0, held))
        return Budget(left, self.workers, self.task, self.whole)

    def task_bytes(self) -> int:
        """Bytes one of ``workers`` concurrent tasks may use: a third of its share.

        The rest of the budget is for what the run holds across tasks (the coded actions,
        the candidate pairs, the small result tables) and for polars' temporaries.
        """
        if self.task is not None:
            return self.task
        return max(MIN_MEMORY // 4, self.memory // (3 * self.workers))
