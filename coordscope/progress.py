"""Progress of long loops, and structured log lines, for whoever shows them.

Library code marks its long loops with :func:`track` (the files of an ingest, the
slices of events, the key and pair partitions) and advances the task as each piece is
done. Nothing is shown unless a display is installed with :func:`showing` (the command
line shows bars with counts and an estimated time left on a terminal), and a task costs
a few attribute reads per piece when none is.

Every task and every stage of an audit also writes log records to the ``coordscope``
logger (:func:`log`): one when it starts and ends, and one every :data:`LOG_EVERY`
seconds while it runs, each a message of ``key=value`` fields (logfmt), for example
``event=progress task="pair partitions" done=12 total=40 unit=partitions eta_s=55``.
The library installs no handler: a Python caller sees them with the usual ``logging``
configuration, and ``coordscope … --verbose`` writes them to stderr with a time stamp
(:class:`LogfmtFormatter`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import re
import threading
import time
from collections.abc import Iterator
from typing import Any, Final, Protocol

__all__ = [
    "LOG_EVERY",
    "Display",
    "LogfmtFormatter",
    "Task",
    "current",
    "log",
    "logfmt",
    "logger",
    "showing",
    "track",
]

#: The logger of every record coordscope writes. Its only handler does nothing (the
#: library's convention): without one, Python would print warnings and errors on stderr.
logger: Final = logging.getLogger("coordscope")
logger.addHandler(logging.NullHandler())

#: Seconds between two progress records of one task (its start and end are always logged).
LOG_EVERY: Final = 15.0

#: A value written as it is in a log line; anything else is quoted (JSON string rules).
_BARE: Final = re.compile(r"[A-Za-z0-9_.:/+@%-]+")


def logfmt(fields: dict[str, object]) -> str:
    r"""Return ``fields`` as one logfmt line: ``key=value`` pairs separated by spaces.

    Numbers and plain words are written as they are; other text is quoted as a JSON
    string with every non-ASCII and control character escaped, so that a value taken
    from the data (a file name) can neither break the line nor reach a terminal raw.
    Floats get at most three decimals; None is left out.

    Examples
    --------
    >>> logfmt({"event": "stage_done", "stage": "ingest", "seconds": 1.23456, "x": None})
    'event=stage_done stage=ingest seconds=1.235'
    >>> logfmt({"file": "a b\x1b[2J.csv"})
    'file="a b\\u001b[2J.csv"'
    """
    parts = []
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, float):
            text = f"{value:.3f}".rstrip("0").rstrip(".") if not math.isnan(value) else "nan"
        elif isinstance(value, int):
            text = str(value)
        else:
            text = str(value)
            if not _BARE.fullmatch(text):
                text = json.dumps(text, ensure_ascii=True)
        parts.append(f"{key}={text}")
    return " ".join(parts)


def log(event: str, *, level: int = logging.INFO, **fields: object) -> None:
    """Write one structured record to the ``coordscope`` logger (``event=…`` first)."""
    if logger.isEnabledFor(level):
        logger.log(level, logfmt({"event": event, **fields}))


class LogfmtFormatter(logging.Formatter):
    """Formats records as ``ts=… level=… <message>``: one logfmt line per record.

    The time is UTC, ISO 8601 with milliseconds and ``Z``. A record whose message is not
    already logfmt (another library's) is quoted as ``msg="…"``.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one line."""
        stamp = dt.datetime.fromtimestamp(record.created, dt.UTC)
        head = logfmt(
            {
                "ts": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z",
                "level": record.levelname.lower(),
            }
        )
        message = record.getMessage()
        if not message.startswith("event="):
            message = logfmt({"msg": message})
        line = f"{head} {message}"
        if record.exc_info:
            line += " " + logfmt({"exc": self.formatException(record.exc_info)})
        return line


class Display(Protocol):
    """Shows tasks as they run (the command line's progress bars).

    Calls may come from several threads (partition tasks run on a pool); an
    implementation must be safe for that.
    """

    def begin(self, key: int, label: str, total: float | None, unit: str) -> None:
        """Show a task that started; ``total`` is None when its size is not known."""

    def update(self, key: int, done: float) -> None:
        """Show that the task has ``done`` of its ``total`` done."""

    def end(self, key: int) -> None:
        """Stop showing a task that ended (done, or left by an error)."""


class Task:
    """One tracked loop: how much of its ``total`` is done (see :func:`track`)."""

    def __init__(self, key: int, label: str, total: float | None, unit: str) -> None:
        self.key = key
        self.label = label
        self.total = total
        self.unit = unit
        self.done: float = 0
        self.start = time.monotonic()
        self._logged = self.start
        self._lock = threading.Lock()

    def advance(self, amount: float = 1) -> None:
        """Count ``amount`` more done (thread-safe)."""
        with self._lock:
            self.done += amount
            done = self.done
        self._report(done)

    def update(self, done: float) -> None:
        """Set how much is done (a position, e.g. the bytes of a file read so far)."""
        with self._lock:
            self.done = done
        self._report(done)

    def _report(self, done: float) -> None:
        display = _Shown.display
        if display is not None:
            display.update(self.key, done)
        now = time.monotonic()
        if now - self._logged >= LOG_EVERY and logger.isEnabledFor(logging.INFO):
            self._logged = now
            log("progress", **self._fields(done, now))

    def _fields(self, done: float, now: float) -> dict[str, Any]:
        took = now - self.start
        fields: dict[str, Any] = {
            "task": self.label, "done": _number(done), "total": _number(self.total),
            "unit": self.unit or None, "seconds": took,
        }  # fmt: skip
        if self.total and 0 < done < self.total:
            fields["pct"] = round(100 * done / self.total, 1)
            fields["eta_s"] = round(took * (self.total - done) / done)
        return fields


def _number(value: float | None) -> float | int | None:
    """Return a count as an int when it is whole (``12`` rather than ``12.0``)."""
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


class _Shown:
    """The display installed by :func:`showing` (None: nothing is shown)."""

    display: Display | None = None


_open: list[Task] = []  # the tasks running, innermost last (any thread)
_keys = iter(range(1, 1 << 62))
_guard = threading.Lock()


@contextlib.contextmanager
def track(label: str, *, total: float | None = None, unit: str = "") -> Iterator[Task]:
    """Track a long loop: ``with track("key partitions", total=n) as task: … task.advance()``.

    Parameters
    ----------
    label : str
        What the loop does, in a few words (shown beside the bar, logged as ``task``).
    total : float, optional
        How much there is to do, in ``unit``; None when not known (a spinner).
    unit : str, optional
        What is counted: ``"bytes"`` (shown as sizes), ``"events"``, ``"partitions"`` …

    Yields
    ------
    Task
        Advance it as pieces are done, from any thread.
    """
    with _guard:
        task = Task(next(_keys), label, total, unit)
        _open.append(task)
    display = _Shown.display
    if display is not None:
        display.begin(task.key, label, total, unit)
    log("task_start", level=logging.DEBUG, task=label, total=_number(total), unit=unit or None)
    try:
        yield task
    finally:
        with _guard:
            _open.remove(task)
        if display is not None:
            display.end(task.key)
        log(
            "task_done", level=logging.DEBUG, task=label, done=_number(task.done),
            unit=unit or None, seconds=time.monotonic() - task.start,
        )  # fmt: skip


def current() -> Task | None:
    """Return the innermost task running (in any thread), or None.

    Readers deep inside an ingest advance the file's task through this, without every
    format's reader taking a task parameter.
    """
    with _guard:
        return _open[-1] if _open else None


@contextlib.contextmanager
def showing(display: Display) -> Iterator[Display]:
    """Show the tasks run inside the ``with`` block on ``display``."""
    before = _Shown.display
    _Shown.display = display
    try:
        yield display
    finally:
        _Shown.display = before
