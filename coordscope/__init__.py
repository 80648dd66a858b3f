"""coordscope: find coordinated amplification in exported social-media data.

The public Python API (re-exports only).
"""

from coordscope.datasets.ingest import IngestResult, ingest, read_events
from coordscope.errors import (
    CoordscopeError,
    FormatError,
    InputError,
    ParameterError,
    SchemaError,
)
from coordscope.schema import EVENT_SCHEMA, validate_events
from coordscope.signals import (
    DetectResult,
    actions,
    coactions,
    detect,
    edges,
    estimate_window,
)

__all__ = [
    "EVENT_SCHEMA",
    "CoordscopeError",
    "DetectResult",
    "FormatError",
    "IngestResult",
    "InputError",
    "ParameterError",
    "SchemaError",
    "__version__",
    "actions",
    "coactions",
    "detect",
    "edges",
    "estimate_window",
    "ingest",
    "read_events",
    "simulate",
    "validate_events",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    if name == "simulate":
        from coordscope.datasets.simulate import simulate

        return simulate
    raise AttributeError(name)
