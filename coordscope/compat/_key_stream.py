"""A stream of 64-bit keys, added in chunks under a memory budget and returned sorted."""

from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt
import polars as pl

from coordscope.compat._prefault import POPULATE_STEP, populate_pages

__all__ = ["KeyStream"]

IntArray = npt.NDArray[np.int64]

#: Keys (8 bytes each) mapped ahead of the writer at a time: 64 MiB.
_MAP_KEYS = POPULATE_STEP // 8


class KeyStream:
    """64-bit keys added in chunks and returned sorted (duplicates kept).

    Keys are copied into one buffer of ``budget`` keys, allocated once, whose pages are
    mapped as keys arrive (:func:`~coordscope.compat._prefault.populate_pages`); a full
    buffer is sorted (polars, on its thread pool) into a partial, and :meth:`result`
    merges the partials (one stable sort of their concatenation merges the sorted runs in
    ``O(m log runs)``).

    Parameters
    ----------
    budget : int
        Keys held before a sort (8 bytes each; values below 1 count as 1). Only the pages
        written are touched, so a large budget costs address space, not memory.
    """

    def __init__(self, budget: int) -> None:
        self.budget = max(1, budget)
        self.buffer: IntArray | None = None
        self.mapped = 0  # keys of the buffer whose pages are mapped
        self.held = 0
        self.parts: list[IntArray] = []
        self.helper: threading.Thread | None = None

    def expect(self, n_keys: int) -> None:
        """Map the buffer for about ``n_keys`` keys in the background while they are made.

        Mapping is idempotent and leaves the contents alone, so the writer may overtake
        the helper thread (it then maps what it needs itself).

        Parameters
        ----------
        n_keys : int
            Keys expected (capped at the budget).
        """
        if self.buffer is None:
            self.buffer = np.empty(self.budget, dtype=np.int64)
        buffer = self.buffer
        stop = min(n_keys, self.budget)

        def ahead() -> None:
            for start in range(0, stop, _MAP_KEYS):
                populate_pages(buffer, start, start + _MAP_KEYS)
                self.mapped = max(self.mapped, min(start + _MAP_KEYS, stop))

        self.helper = threading.Thread(target=ahead, daemon=True)
        self.helper.start()

    def add(self, keys: IntArray) -> None:
        """Copy ``keys`` into the buffer, sorting it into a partial whenever it fills.

        Parameters
        ----------
        keys : numpy.ndarray of int64
            Keys in any order (the caller may reuse the array afterwards).

        Notes
        -----
        Cost ``O(len(keys))``, plus ``O(budget log budget)`` for each buffer filled.
        """
        start = 0
        while start < keys.shape[0]:
            if self.buffer is None:
                self.buffer = np.empty(self.budget, dtype=np.int64)
            take = min(keys.shape[0] - start, self.budget - self.held)
            if self.held + take > self.mapped:
                upto = max(self.held + take, self.mapped + _MAP_KEYS)
                populate_pages(self.buffer, self.mapped, upto)
                self.mapped = max(self.mapped, min(upto, self.budget))
            self.buffer[self.held : self.held + take] = keys[start : start + take]
            self.held += take
            start += take
            if self.held == self.budget:
                self.flush()

    def spare(self, nbytes: int) -> npt.NDArray[np.uint8] | None:
        """Hand over the emptied buffer as ``nbytes`` of scratch memory.

        The stream lets go of its buffer either way (a later :meth:`add` allocates a new
        one).

        Parameters
        ----------
        nbytes : int
            Bytes wanted.

        Returns
        -------
        numpy.ndarray of uint8 or None
            The buffer's first ``nbytes`` (pages already mapped, contents arbitrary), or
            ``None`` when there is no buffer, it is smaller, or it still holds keys.
        """
        buffer = self.buffer
        self.buffer = None
        if buffer is None or buffer.nbytes < nbytes or self.held:
            return None
        return buffer.view(np.uint8)[:nbytes]

    def flush(self) -> None:
        """Sort the keys held in the buffer into a partial and empty the buffer."""
        if self.helper is not None:
            self.helper.join()
            self.helper = None
        if self.buffer is not None and self.held:
            self.parts.append(pl.Series(self.buffer[: self.held]).sort().to_numpy())
            self.held = 0

    def result(self) -> IntArray:
        """Return every key added, sorted, and empty the stream.

        The buffer is kept (see :meth:`spare`).

        Returns
        -------
        numpy.ndarray of int64
            The keys in ascending order, duplicates kept.
        """
        self.flush()
        parts = self.parts
        self.parts = []
        if not parts:
            return np.zeros(0, dtype=np.int64)
        if len(parts) == 1:
            return parts[0]
        keys = np.concatenate(parts)
        parts.clear()
        keys.sort(kind="stable")
        return keys
