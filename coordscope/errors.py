"""Named exceptions of coordscope, in one place.

Every error a user can cause derives from :class:`CoordscopeError`; the CLI prints its
message on one line and exits with status 1. Messages name the file, the record and the
field where there is one.
"""

from __future__ import annotations

__all__ = [
    "CoordscopeError",
    "EngineError",
    "FormatError",
    "InputError",
    "ParameterError",
    "SchemaError",
    "StateError",
]


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
