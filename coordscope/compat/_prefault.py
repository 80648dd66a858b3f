"""Map fresh memory ahead of its first write (Linux ``madvise``; a no-op elsewhere).

Fresh memory is mapped by the kernel one 4 KiB page at a time, as each page is first
written. On the virtual machines measured, those first writes took up to a third of the
``cnt`` counter's run time; asking for a whole range at once
(``madvise(MADV_POPULATE_WRITE)``, Linux 5.14+) cost a third of that. The counter calls
:func:`populate_pages` on buffers it is about to fill, often from a helper thread while
the main thread still computes.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from typing import Any, Final

import numpy.typing as npt

__all__ = ["POPULATE_STEP", "populate_pages"]

#: Bytes mapped by one system call (64 MiB).
POPULATE_STEP: Final = 64 << 20
_MADV_POPULATE_WRITE: Final = 23  # Linux >= 5.14
_PAGE: Final = 4096
#: Switched off for good the first time the call is missing or refused.
_enabled = sys.platform == "linux"


def populate_pages(array: npt.NDArray[Any], start: int = 0, stop: int | None = None) -> None:
    """Map the memory pages of ``array[start:stop]`` now, one system call per 64 MiB.

    Calls ``madvise(MADV_POPULATE_WRITE)`` on the whole pages inside the range, so that
    the writes that follow find their pages mapped instead of faulting them in one at a
    time. The contents of the array are unchanged, and so is every result computed from
    it: only the time of the page faults moves. Safe to call from several threads and to
    repeat on a range already mapped.

    Parameters
    ----------
    array : numpy.ndarray
        The buffer about to be written.
    start, stop : int
        Element range (``stop=None``: to the end; clipped to the array's size).

    Notes
    -----
    A no-op on systems other than Linux, on kernels older than 5.14 (the first refusal
    switches the call off for the rest of the process), for an empty or non-contiguous
    array, and for a range within one page. Cost: one system call per 64 MiB, plus the
    kernel's work of mapping the pages (which the writes would otherwise pay for).
    """
    global _enabled  # noqa: PLW0603 - switched off for good if the kernel refuses
    if not _enabled or array.size == 0 or not array.flags.c_contiguous:
        return
    stop = array.size if stop is None else min(stop, array.size)
    if stop <= start:
        return
    base = array.ctypes.data
    first = (base + start * array.itemsize + _PAGE - 1) // _PAGE * _PAGE
    last = (base + stop * array.itemsize) // _PAGE * _PAGE
    try:
        madvise = _libc_madvise()
    except (OSError, AttributeError):  # pragma: no cover - no C library madvise
        _enabled = False
        return
    for at in range(first, last, POPULATE_STEP):
        if madvise(at, min(POPULATE_STEP, last - at), _MADV_POPULATE_WRITE) != 0:
            _enabled = False
            return


@functools.cache
def _libc_madvise() -> Any:
    """Look up the C library's ``madvise`` once (``OSError``/``AttributeError`` if none)."""
    function = ctypes.CDLL(None, use_errno=True).madvise
    function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    function.restype = ctypes.c_int
    return function
