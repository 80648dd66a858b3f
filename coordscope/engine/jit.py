"""Compiling a hot loop: numba in nopython mode, without the GIL, cached on disk.

The kernels that cannot be written as a handful of array operations (a loop whose work
per row depends on earlier rows, or an early exit per pair) are compiled with numba. They
release the GIL, so a thread pool runs them on every core.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

__all__ = ["jit"]

_F = TypeVar("_F", bound=Callable[..., Any])


def jit(func: _F) -> _F:
    """Compile ``func`` with numba (nopython, no GIL), cached on disk where possible.

    numba keeps the cache next to the module of ``func`` or, when the package directory
    is read-only, in the user's cache directory; with neither writable it raises, and the
    functions are then compiled in each process instead (a few seconds the first time
    they run).
    """
    try:
        return cast(_F, numba.njit(nogil=True, cache=True)(func))
    except RuntimeError:  # pragma: no cover - no writable cache directory at all
        return cast(_F, numba.njit(nogil=True)(func))
