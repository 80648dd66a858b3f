"""Named exceptions of coordscope, in one place.

Every error a user can cause derives from :class:`CoordscopeError`; the CLI prints its
message on one line and exits with status 2 for a :class:`ParameterError` (a usage error)
and 1 for the others (the input). Messages name the file, the record and the field where
there is one.
"""

from __future__ import annotations

from numbers import Integral

__all__ = [
    "CoordscopeError",
    "EngineError",
    "FormatError",
    "InputError",
    "ParameterError",
    "SchemaError",
    "StateError",
    "check_seed",
    "check_window",
]

#: The longest coordination window accepted, in seconds: 100 years (365.25-day years).
#: Every supported timestamp pair is closer than that, so a longer window means nothing
#: more, and ``W`` in microseconds stays far inside a 64-bit integer.
MAX_WINDOW_SECONDS = 100 * 365.25 * 86_400

#: Seeds are used as 64-bit hash seeds and stored in Parquet and JSON as signed integers.
MAX_SEED = 2**63 - 1


class CoordscopeError(Exception):
    """Base class of every error coordscope raises on purpose."""


class InputError(CoordscopeError):
    """An input file is missing, unreadable, corrupt or not of the expected shape.

    Parameters
    ----------
    path : str
        The file.
    message : str
        What is wrong, in a few words.
    record : int, optional
        1-based record number (CSV data row, JSON line, array element) when known.
    field : str, optional
        The field (column) at fault when known.
    """

    def __init__(
        self,
        path: str,
        message: str,
        *,
        record: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = path
        self.record = record
        self.field = field
        where = path
        if record is not None:
            where += f", record {record}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")


class FormatError(CoordscopeError):
    """The input format is unknown, or could not be recognised from the content."""


class SchemaError(CoordscopeError):
    """A table does not follow the canonical event schema (names the column)."""


class ParameterError(CoordscopeError, ValueError):
    """A parameter given by the user is out of range or inconsistent (names it)."""


class EngineError(CoordscopeError):
    """The engine asked for cannot run here (an optional extra or Java is missing)."""


class StateError(CoordscopeError):
    """A daily state directory cannot be used: in use, damaged, or of another version."""


def check_window(value: object, name: str = "window") -> float:
    """Return ``value`` as a window in seconds, or raise :class:`ParameterError` naming it.

    A window is a finite number of seconds, ``0 <= value <= MAX_WINDOW_SECONDS`` (both
    bounds inclusive): ``inf``, ``nan``, booleans, strings and windows longer than a
    century are refused here, before any stage converts them to microseconds.

    Examples
    --------
    >>> check_window(60)
    60.0
    >>> check_window(float("inf"))
    Traceback (most recent call last):
    ...
    coordscope.errors.ParameterError: window must be a finite number of seconds between ...
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError(f"{name} must be a number of seconds, got {value!r}")
    seconds = float(value)
    # written so that nan fails every comparison and lands here
    if not 0.0 <= seconds <= MAX_WINDOW_SECONDS:
        raise ParameterError(
            f"{name} must be a finite number of seconds between 0 and "
            f"{MAX_WINDOW_SECONDS:.0f}, got {value}"
        )
    return seconds


def check_seed(value: object, name: str = "seed") -> int:
    """Return ``value`` as a seed, or raise :class:`ParameterError` naming it.

    A seed is an integer (numpy's too) ``0 <= value <= 2**63 - 1`` (inclusive).

    Examples
    --------
    >>> check_seed(7)
    7
    >>> check_seed(-1)
    Traceback (most recent call last):
    ...
    coordscope.errors.ParameterError: seed must be an integer between 0 and ...
    """
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ParameterError(f"{name} must be an integer between 0 and {MAX_SEED}, got {value!r}")
    seed = int(value)
    if not 0 <= seed <= MAX_SEED:
        raise ParameterError(f"{name} must be an integer between 0 and {MAX_SEED}, got {value!r}")
    return seed
