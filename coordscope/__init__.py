"""coordscope: find coordinated amplification in exported social-media data.

The public Python API (re-exports only).
"""

from coordscope.audit import audit
from coordscope.datasets.ingest import IngestResult, ingest, read_events
from coordscope.errors import (
    CoordscopeError,
    FormatError,
    InputError,
    ParameterError,
    SchemaError,
)
from coordscope.results import AuditResult
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
    "AuditResult",
    "CoordscopeError",
    "DetectResult",
    "FormatError",
    "IngestResult",
    "InputError",
    "ParameterError",
    "SchemaError",
    "__version__",
    "actions",
    "audit",
    "coactions",
    "detect",
    "edges",
    "estimate_window",
    "evaluate",
    "fit_scorer",
    "ingest",
    "load_scorer",
    "read_events",
    "simulate",
    "validate_events",
]

__version__ = "0.1.0"


#: Names imported on first use (they pull in scikit-learn or the simulator).
_LAZY = {
    "simulate": ("coordscope.datasets.simulate", "simulate"),
    "evaluate": ("coordscope.evaluate", "evaluate"),
    "fit_scorer": ("coordscope.scorer", "fit_scorer"),
    "load_scorer": ("coordscope.scorer", "load_scorer"),
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from importlib import import_module

        module, attr = _LAZY[name]
        return getattr(import_module(module), attr)
    raise AttributeError(name)
