"""Counts of directed account pairs ``A → B``, assembled into a sorted edge list by threads.

Every count is one 64-bit key ``lo << 34 | hi << 2 | tag`` of the unordered pair
``lo <= hi`` of account codes, tagged ``_BOTH`` (one count in each direction), ``_UP``
(``lo → hi``, and self-loops) or ``_DOWN`` (``hi → lo``). The keys go to one stream
(:class:`~coordscope.compat._key_stream.KeyStream`) that is sorted once; duplicates are
repeated counts.

The edge list is read off the sorted keys in two linear passes, without a second sort:
the counts ``lo → hi`` (tags both and up) are row ``lo``'s entries at and right of the
diagonal, already in order; the counts ``hi → lo`` (tags both and down) are transposed by
a counting sort (:mod:`scipy.sparse`) into row ``hi``'s entries left of the diagonal; row
``A`` of the result is its left piece, then its right piece. The first pass runs on
``workers`` threads, each over its own consecutive range of the sorted keys (numpy
releases the GIL), and the left pieces are placed while the right pieces are.

A key where every account has one message contributes its pairs as untagged keys and no
table keyed by message, so a key reposted 40,000 times inside an hour (~170M pairs) costs
about 8 bytes a pair while sorting and 12 bytes an edge after.
"""

from __future__ import annotations

import functools
import itertools
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp

from coordscope.budget import thread_pool
from coordscope.compat._key_stream import KeyStream
from coordscope.compat._prefault import populate_pages

__all__ = ["EdgeCounter"]

IntArray = npt.NDArray[np.int64]
UIntArray = npt.NDArray[np.uint32]
#: Entries counted more than once: (positions or pair keys, counts).
Heavy = list[tuple[IntArray, UIntArray]]

_SHIFT: Final = np.int64(32)
_LOW: Final = np.int64(0xFFFFFFFF)
#: Entries handled at once in the linear passes of the final assembly: arrays of a few
#: MiB stay in cache and are recycled by the allocator instead of faulted in afresh.
_BLOCK: Final = 1 << 18
#: Pair key tags: a pair counted in both directions, only ``lo → hi`` (self-loops too),
#: only ``hi → lo``.
_BOTH: Final = 0
_UP: Final = 1
_DOWN: Final = 2


class EdgeCounter:
    """Counts of directed account pairs ``A → B`` (see the module docstring).

    ``co_link`` messages with several URLs first go to a set of ``message << 32 |
    account`` keys, which :meth:`columns` deduplicates before counting each once.

    Parameters
    ----------
    n_users : int
        Accounts; codes are ``0 .. n_users - 1`` (at most ``2**29``, the key layout).
    unit_user : numpy.ndarray of int64
        The account of each (message, account) number, for :meth:`add_set`.
    budget : int
        Keys held (8 bytes each) before a sort, per stream.
    """

    def __init__(self, n_users: int, unit_user: IntArray, *, budget: int) -> None:
        self.n_users = n_users
        self.unit_user = unit_user
        self.stream = KeyStream(budget)
        self.set = KeyStream(budget)

    def add_both(self, a: IntArray, b: IntArray) -> None:
        """Count ``a[k] → b[k]`` once and ``b[k] → a[k]`` once, for every ``k``.

        Parameters
        ----------
        a, b : numpy.ndarray of int64
            Account codes, ``a[k] != b[k]``.
        """
        lo = np.minimum(a, b)
        np.left_shift(lo, 34, out=lo)
        lo |= np.maximum(a, b) << 2
        self.stream.add(lo)  # tag _BOTH == 0

    def add(self, a: IntArray, b: IntArray) -> None:
        """Count ``a[k] → b[k]`` once, for every ``k``.

        Parameters
        ----------
        a, b : numpy.ndarray of int64
            Account codes (equal codes count a self-loop).
        """
        if a.shape[0]:
            self.stream.add(_pair_keys(a, b))

    def add_set(self, unit: IntArray, b: IntArray) -> None:
        """Record that message ``unit[k]`` matched account ``b[k]`` (once, however often).

        Parameters
        ----------
        unit : numpy.ndarray of int64
            (Message, account) numbers.
        b : numpy.ndarray of int64
            Account codes.
        """
        self.set.add((unit << _SHIFT) | b)

    def columns(self, *, workers: int) -> tuple[UIntArray, UIntArray, pl.Series]:
        """Return the ``user_1, user_2, weight`` codes of every edge, sorted.

        Parameters
        ----------
        workers : int
            Threads for the first pass (``>= 1``); with more than one, the left pieces
            are placed on a thread of their own while the right pieces are. The result
            does not depend on it.

        Returns
        -------
        user_1, user_2 : numpy.ndarray of uint32
            Account codes, sorted by ``(user_1, user_2)``, each pair once.
        weight : polars.Series of UInt32
            The count of each edge.

        Notes
        -----
        Cost ``O(K log K + E + n)`` for ``K`` counts, ``E`` edges and ``n`` accounts: one
        sort of the counts, then linear passes. Memory: the sorted counts (8 bytes each)
        plus about 12 bytes an edge; the sort buffer is reused for ``user_2`` when it is
        large enough. The counter is emptied.
        """
        n = self.n_users
        pairs = self.set.result()
        self.set.spare(0)
        if pairs.shape[0]:
            pairs = np.unique(pairs)
            for lo in range(0, pairs.shape[0], _BLOCK):
                block = pairs[lo : lo + _BLOCK]
                self.add(self.unit_user[block >> _SHIFT], block & _LOW)
        del pairs
        # the result's user_1 column (at most two edges a pair count): its memory is mapped
        # in the background while the counts are sorted
        n_keys = self.stream.held + sum(p.shape[0] for p in self.stream.parts)
        user_1_memory = np.empty(2 * n_keys, dtype=np.uint32)
        mapping = threading.Thread(target=populate_pages, args=(user_1_memory,), daemon=True)
        mapping.start()
        keys = self.stream.result()
        blocks = _pair_blocks(keys)
        index_dtype = np.int32 if keys.shape[0] < 2**31 else np.int64
        # pass 1, one range of blocks a thread: row lengths of the right side (lo → hi:
        # tags both and up); the left side (hi → lo: tags both and down) as rows lo of
        # columns hi for the transpose, with a flag on entries counted more than once
        parts = _split_blocks(blocks, workers)
        with thread_pool(workers) as pool:
            kinds = [
                k for ks in pool.map(functools.partial(_kinds, keys, blocks), parts) for k in ks
            ]
            offsets = np.zeros(len(blocks) + 1, dtype=np.int64)
            np.cumsum([size for _, _, size in kinds], out=offsets[1:])
            filled = int(offsets[-1])
            left_cols = np.empty(filled, dtype=index_dtype)
            left_flag = np.zeros(filled, dtype=np.uint8)  # pages touched where set
            first = functools.partial(
                _first_pass, keys, blocks, kinds, offsets, left_cols, left_flag, n
            )
            passes = list(pool.map(first, parts))
        del first  # it holds the keys and left_cols, which are let go of below
        # each thread returned its own arrays and list of entries counted more than once,
        # joined here in block order: threads appending to one shared list interleaved
        # its entries, a race that once failed about every other run
        left_rows, right_length, left_heavy = passes[0]
        for rows, lengths, heavy_part in passes[1:]:
            left_rows += rows
            right_length += lengths
            left_heavy += heavy_part
        del passes
        left_length = np.bincount(left_cols, minlength=n).astype(np.int64)
        row_length = left_length + right_length
        row_start = np.zeros(n, dtype=np.int64)
        np.cumsum(row_length[:-1], out=row_start[1:])
        total = int(row_length.sum())
        spare = self.stream.spare(4 * total)  # reuse the key buffer's memory when it fits
        user_2 = np.empty(total, dtype=np.uint32) if spare is None else spare.view(np.uint32)
        del spare
        place_left = functools.partial(
            _place_left, left_rows, left_cols, left_flag[:filled], left_heavy, n,
            row_start, left_length, user_2,
        )  # fmt: skip
        del left_cols, left_flag, left_heavy
        with ThreadPoolExecutor(max_workers=1) as pool:  # numpy and scipy release the GIL
            left_done: Future[tuple[IntArray, UIntArray]]
            if workers > 1:
                left_done = pool.submit(place_left)
            else:  # one worker: the left pieces first, on this thread
                left_done = Future()
                left_done.set_result(place_left())
            del place_left
            # pass 2: the right pieces, in stream order, after each row's left piece
            right_start = np.zeros(n, dtype=np.int64)
            np.cumsum(right_length[:-1], out=right_start[1:])
            offset = row_start + left_length - right_start
            heavy = _place_right(keys, blocks, kinds, offset, user_2)
            del keys  # polars memory: the weights below may reuse it
            mapping.join()
            user_1 = user_1_memory[:total]  # row numbers: +1 where a row starts
            user_1.fill(0)
            starts = row_start[1:]
            np.add.at(user_1, starts[starts < total], 1)
            np.cumsum(user_1, out=user_1)
            heavy.append(left_done.result())
        weight = pl.repeat(1, total, dtype=pl.UInt32, eager=True).alias("weight")
        if heavy:
            at = np.concatenate([a for a, _ in heavy])
            weight.scatter(at, np.concatenate([c for _, c in heavy]))
        return user_1, user_2, weight


def _pair_keys(a: IntArray, b: IntArray) -> IntArray:
    """Return the tagged keys of one count for each ``a[k] → b[k]``."""
    lo = np.minimum(a, b)
    tag = np.where(a > b, _DOWN, _UP)
    np.left_shift(lo, 34, out=lo)
    lo |= np.maximum(a, b) << 2
    lo |= tag
    return lo


def _place_left(
    left_rows: IntArray,
    cols: npt.NDArray[Any],
    flag: npt.NDArray[np.uint8],
    several: Heavy,
    n: int,
    row_start: IntArray,
    left_length: IntArray,
    user_2: UIntArray,
) -> tuple[IntArray, UIntArray]:
    """Transpose the left side and write it at the start of each row of ``user_2``.

    Returns
    -------
    positions : numpy.ndarray of int64
        Positions in ``user_2`` of the left entries counted more than once.
    counts : numpy.ndarray of uint32
        Their counts.
    """
    left = _transpose(left_rows, cols, flag, several, n)
    # entry e of row A goes to row_start[A] + e - indptr[A]
    offset = row_start - left.indptr[:-1]
    for r0, r1 in _row_blocks(left.indptr):
        lo, hi = int(left.indptr[r0]), int(left.indptr[r1])
        at = np.repeat(offset[r0:r1], left_length[r0:r1])
        at += np.arange(lo, hi, dtype=np.int64)
        user_2[at] = left.cols[lo:hi]
    rows_of_heavy = np.searchsorted(left.indptr, left.heavy_at, side="right") - 1
    return offset[rows_of_heavy] + left.heavy_at, left.heavy_counts


def _place_right(
    keys: IntArray,
    blocks: list[tuple[int, int]],
    kinds: list[tuple[bool, bool, int]],
    offset: IntArray,
    user_2: UIntArray,
) -> Heavy:
    """Write the right side (``lo → hi``) of each row of ``user_2``, in stream order.

    Returns the positions and counts of the right entries counted more than once.
    """
    heavy: Heavy = []
    done = 0
    for (lo, hi), (tagged, repeated, _) in zip(blocks, kinds, strict=True):
        block = keys[lo:hi]
        if not tagged and not repeated:
            at = offset[block >> 34]
            at += np.arange(done, done + block.shape[0], dtype=np.int64)
            user_2[at] = (block >> 2) & _LOW
            done += block.shape[0]
            continue
        pair, count = _side(block, skip=_DOWN)
        at = offset[pair >> _SHIFT]
        at += np.arange(done, done + pair.shape[0], dtype=np.int64)
        user_2[at] = pair & _LOW
        if count is not None:
            more = count > 1
            heavy.append((at[more], count[more]))
        done += pair.shape[0]
    return heavy


def _split_blocks(blocks: list[tuple[int, int]], parts: int) -> list[range]:
    """Split the block numbers into ``parts`` consecutive ranges of about as many keys.

    A range holds the blocks up to and including the one that reaches its share of the
    keys; trailing ranges may be empty.
    """
    if not blocks:
        return [range(0)] * parts
    first, last = blocks[0][0], blocks[-1][1]
    ends = np.array([hi for _, hi in blocks], dtype=np.int64)
    targets = [first + (last - first) * p // parts for p in range(1, parts)]
    cuts = [int(c) + 1 for c in np.searchsorted(ends, targets, side="left")]
    bounds = [0, *cuts, len(blocks)]
    return [range(a, b) for a, b in itertools.pairwise(bounds)]


def _kinds(
    keys: IntArray, blocks: list[tuple[int, int]], part: range
) -> list[tuple[bool, bool, int]]:
    """Per block: tagged keys?, repeated keys?, number of left-side (hi → lo) entries."""
    out = []
    for b in part:
        lo, hi = blocks[b]
        block = keys[lo:hi]
        tagged, repeated = _block_kind(block)
        size = block.shape[0] if not tagged and not repeated else _side(block, skip=_UP)[0].shape[0]
        out.append((tagged, repeated, size))
    return out


def _first_pass(
    keys: IntArray,
    blocks: list[tuple[int, int]],
    kinds: list[tuple[bool, bool, int]],
    offsets: IntArray,
    left_cols: npt.NDArray[Any],
    left_flag: npt.NDArray[np.uint8],
    n: int,
    part: range,
) -> tuple[IntArray, IntArray, Heavy]:
    """Run pass 1 over one range of blocks.

    Writes the left side's columns and flags at the blocks' offsets (ranges of different
    parts never overlap) and returns this part's own left-side row lengths, right-side
    row lengths and left entries counted more than once.
    """
    left_rows = np.zeros(n, dtype=np.int64)
    right_length = np.zeros(n, dtype=np.int64)
    heavy: Heavy = []
    if not part:
        return left_rows, right_length, heavy
    populate_pages(left_cols, int(offsets[part.start]), int(offsets[part.stop]))
    for b in part:
        lo, hi = blocks[b]
        block = keys[lo:hi]
        at = int(offsets[b])
        tagged, repeated, size = kinds[b]
        if not tagged and not repeated:  # every pair once, both directions
            rows = block >> 34
            _add_sorted_counts(left_rows, rows)
            _add_sorted_counts(right_length, rows)
            np.bitwise_and(block >> 2, _LOW, out=left_cols[at : at + size], casting="unsafe")
            continue
        pair, count = _side(block, skip=_UP)
        _add_sorted_counts(left_rows, pair >> _SHIFT)
        left_cols[at : at + size] = pair & _LOW
        if count is not None:
            several = np.flatnonzero(count > 1)
            left_flag[at + several] = 1
            heavy.append((pair[several], count[several]))
        pair, _ = _side(block, skip=_DOWN)
        _add_sorted_counts(right_length, pair >> _SHIFT)
    return left_rows, right_length, heavy


def _block_kind(block: IntArray) -> tuple[bool, bool]:
    """Tell whether a block of sorted keys holds tagged keys, and whether a key repeats."""
    tagged = bool(np.bitwise_and(block, 3).any())
    repeated = block.shape[0] > 1 and bool((block[1:] == block[:-1]).any())
    return tagged, repeated


def _add_sorted_counts(counts: IntArray, values: IntArray) -> None:
    """Add one to ``counts[v]`` for every ``v`` of the sorted ``values`` (``O(len)``)."""
    if values.shape[0] == 0:
        return
    change = np.flatnonzero(values[1:] != values[:-1]) + 1
    starts = np.concatenate(([0], change))
    lengths = np.diff(np.concatenate((starts, [values.shape[0]])))
    counts[values[starts]] += lengths


def _pair_blocks(keys: IntArray) -> list[tuple[int, int]]:
    """Cut the sorted keys into ranges of about ``_BLOCK`` that never split a pair's keys."""
    n = keys.shape[0]
    bounds = [0]
    while bounds[-1] < n:
        end = bounds[-1] + _BLOCK
        if end >= n:
            bounds.append(n)
            break
        next_pair = ((int(keys[end - 1]) >> 2) + 1) << 2
        bounds.append(int(np.searchsorted(keys, next_pair)))
    return list(itertools.pairwise(bounds))


def _side(block: IntArray, *, skip: int | None) -> tuple[IntArray, UIntArray | None]:
    """Return the distinct pairs of sorted tagged keys without tag ``skip``, and counts.

    Pairs are ``lo << 32 | hi`` (``skip=None``: no key is tagged); the counts say how
    many keys each pair stands for (``None``: one each).
    """
    kept = block >> 2 if skip is None else block[(block & 3) != skip] >> 2
    if kept.shape[0] < 2:
        return kept, None
    repeat = kept[1:] == kept[:-1]
    if not repeat.any():
        return kept, None
    starts = np.flatnonzero(~repeat) + 1
    firsts = np.empty(starts.shape[0] + 1, dtype=np.int64)
    firsts[0] = 0
    firsts[1:] = starts
    counts = np.empty(firsts.shape[0], dtype=np.uint32)
    np.subtract(firsts[1:], firsts[:-1], out=counts[:-1], casting="unsafe")
    counts[-1] = kept.shape[0] - firsts[-1]
    return kept[firsts], counts


@dataclass
class _Rowwise:
    """Entries grouped by row: row ``A`` holds ``cols[indptr[A]:indptr[A + 1]]`` (sorted).

    Entry ``heavy_at[k]`` is counted ``heavy_counts[k]`` times, every other entry once.
    """

    indptr: IntArray
    cols: npt.NDArray[np.integer]
    heavy_at: IntArray
    heavy_counts: UIntArray


def _transpose(
    row_length: IntArray,
    cols: npt.NDArray[Any],
    flag: npt.NDArray[np.uint8],
    heavy: Heavy,
    n: int,
) -> _Rowwise:
    """Turn rows ``lo`` of columns ``hi`` into rows ``hi`` of columns ``lo`` (counting sort)."""
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(row_length, out=indptr[1:])
    if cols.shape[0] == 0:
        return _Rowwise(indptr, cols, indptr[:0], np.zeros(0, dtype=np.uint32))
    matrix = sp.csr_array((flag, cols, indptr.astype(cols.dtype)), shape=(n, n))
    by_column = matrix.tocsc()
    del matrix
    heavy_at = np.flatnonzero(by_column.data)  # transposed order: sorted by (hi, lo)
    if heavy:
        pairs = np.concatenate([p for p, _ in heavy])
        counts = np.concatenate([c for _, c in heavy])
        swapped = ((pairs & _LOW) << _SHIFT) | (pairs >> _SHIFT)
        heavy_counts = counts[np.argsort(swapped)]
    else:
        heavy_counts = np.zeros(0, dtype=np.uint32)
    return _Rowwise(by_column.indptr.astype(np.int64), by_column.indices, heavy_at, heavy_counts)


def _row_blocks(indptr: IntArray) -> list[tuple[int, int]]:
    """Cut the rows into consecutive ranges of about ``_BLOCK`` entries each."""
    n = indptr.shape[0] - 1
    marks = np.arange(_BLOCK, int(indptr[-1]), _BLOCK, dtype=np.int64)
    cuts = np.unique(np.searchsorted(indptr, marks, side="right"))
    bounds = [0, *(int(c) for c in cuts if 0 < c < n), n]
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]
