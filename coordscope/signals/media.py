"""Recycled images: the ``co_media`` signal (issue 6).

An event's ``media`` items are either exact media ids (a platform's photo id, an
anonymised hash id such as the ``phash_id`` of the German elections data) or 64-bit
perceptual hashes exported as 16 hexadecimal digits (``"0x"`` prefix allowed; e.g.
pHash, dHash). Exact ids are keys as they are: equal ids are the group. Perceptual hashes
are grouped: two hashes are the same image when their Hamming distance is at most ``d``
(inclusive), and groups are the connected components of that relation (union-find), so
re-encodings, resizes and small crops of one image share a key.

Default ``d = 6``. A DCT pHash moves by 0–4 bits under re-compression and resizing and by
more under crops or overlays; two unrelated images differ in about 32 bits (for uniform
random hashes ``P(distance <= 6) = Σ_{k<=6} C(64, k) / 2⁶⁴ ≈ 4.7·10⁻¹²`` per pair, about two
chance pairs among a million hashes). ``d = 6`` is the common "near-identical" cut of
perceptual-hash search and the value of the issue's benchmark; ``d = 10`` finds edited
copies at the price of chance matches between images of similar structure.

Method: multi-index hashing (Norouzi, Punjani & Fleet 2012; Manku, Jain & Das Sarma 2007).
The 64 bits are split into ``m`` contiguous blocks. Two hashes within distance ``d`` differ
in at most ``d`` blocks, so at least ``k = m − d`` blocks are equal (pigeonhole); for every
choice of ``k`` blocks out of ``m`` (``C(m, k)`` tables), the hashes that agree exactly on
those blocks are candidate pairs (a sort of the block key; the runs of equal keys are
expanded with :func:`coordscope.engine.kernel.band_pairs`), checked with a popcount of
``x XOR y``. No pair of all the hashes is ever compared. With ``m = d + 1`` (one block
must be equal, the textbook pigeonhole) the blocks are only ``64 / (d + 1)`` bits long and
a million hashes give ~6·10⁹ chance candidates at ``d = 6``; ``m`` is therefore chosen to
minimise ``C(m, k) · (n + n² / 2^(64k/m + 1))`` (tables × (hashes + expected chance
candidates) for uniform hashes): ``m = 9`` (84 tables of 21-bit keys) at ``n = 10⁶, d = 6``.
Exactly equal hashes are merged first. Cost ``O(C(m, k) · n log n + P)`` for ``P``
candidates.
"""

from __future__ import annotations

import itertools
import math
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from coordscope.engine.kernel import band_pairs
from coordscope.errors import ParameterError
from coordscope.schema import MEDIA, EventFrame
from coordscope.signals.exact import actions_from_keys

__all__ = [
    "DEFAULT_DISTANCE",
    "PHASH_PATTERN",
    "media_actions",
    "media_groups",
    "parse_phash",
    "phash_groups",
]

#: Default largest Hamming distance (bits, inclusive) between hashes of one image.
DEFAULT_DISTANCE: Final = 6
#: A media item that is a 64-bit perceptual hash: 16 hex digits, optional ``0x``.
PHASH_PATTERN: Final = r"^(?:0[xX])?[0-9A-Fa-f]{16}$"
_SIGNAL: Final = "co_media"
_CHUNK: Final = 1 << 20
UIntArray = npt.NDArray[np.uint64]
IntArray = npt.NDArray[np.int64]


def parse_phash(items: pl.Series) -> pl.Series:
    """64-bit hashes (UInt64) of the items that match :data:`PHASH_PATTERN`, else null."""
    s = items.cast(pl.String)
    frame = pl.DataFrame({"s": s}).select(
        pl.when(pl.col("s").str.contains(PHASH_PATTERN))
        .then(pl.col("s").str.strip_prefix("0x").str.strip_prefix("0X"))
        .alias("hex")
    )
    hi = frame["hex"].str.slice(0, 8).str.to_integer(base=16, strict=False).cast(pl.UInt64)
    lo = frame["hex"].str.slice(8, 8).str.to_integer(base=16, strict=False).cast(pl.UInt64)
    return ((hi * (1 << 32)) + lo).alias("phash")


def phash_groups(hashes: npt.ArrayLike, *, distance: int = DEFAULT_DISTANCE) -> UIntArray:
    """Group 64-bit hashes within Hamming ``distance`` (see the module docstring).

    Parameters
    ----------
    hashes : array of uint64
        The hashes (repeats allowed).
    distance : int, default 6
        ``d`` in ``[0, 32]``: hashes at Hamming distance ``<= d`` are linked; groups are
        the connected components.

    Returns
    -------
    ndarray of uint64
        For every hash, the smallest hash of its group (a hash alone: itself).
    """
    _check(distance)
    x = np.asarray(hashes, dtype=np.uint64)
    if x.shape[0] == 0:
        return x.copy()
    uniq, inverse = np.unique(x, return_inverse=True)
    u = uniq.shape[0]
    if distance == 0 or u < 2:
        return uniq[inverse]
    i, j = _near_pairs(uniq, distance)
    graph = sp.coo_array((np.ones(i.shape[0], dtype=np.int8), (i, j)), shape=(u, u)).tocsr()
    _, comp = connected_components(graph, directed=False)
    # smallest hash of each component: uniq is sorted, so the first index per component
    first = np.full(int(comp.max()) + 1, u, dtype=np.int64)
    np.minimum.at(first, comp, np.arange(u, dtype=np.int64))
    out: UIntArray = uniq[first[comp]][inverse]
    return out


def media_groups(events: EventFrame, *, distance: int = DEFAULT_DISTANCE) -> pl.DataFrame:
    """One row per (event, media item): ``event`` (row number) and ``key``.

    Exact media ids are their own key; perceptual hashes (:data:`PHASH_PATTERN`) get the
    key ``phash:<16 hex digits of the smallest hash of their group>`` (the group of hashes
    within ``distance`` bits). Empty items never become keys.
    """
    _check(distance)
    items = (
        events.lazy()
        .with_row_index("event")
        .select("event", pl.col(MEDIA).alias("item"))
        .explode("item", keep_nulls=False, empty_as_null=False)
        .filter(pl.col("item").is_not_null() & (pl.col("item") != ""))
        .collect()
    )
    ph = parse_phash(items["item"])
    is_hash = ph.is_not_null().to_numpy()
    keys = items["item"].to_numpy().astype(object)
    if is_hash.any():
        rep = phash_groups(ph.filter(ph.is_not_null()).to_numpy(), distance=distance)
        keys[is_hash] = _hex(pl.Series(rep)).to_numpy()
    return pl.DataFrame({"event": items["event"], "key": pl.Series(keys, dtype=pl.String)}).unique(
        maintain_order=True
    )


def media_actions(events: EventFrame, *, distance: int = DEFAULT_DISTANCE) -> pl.DataFrame:
    """``co_media`` actions: one per (event, media group) (:func:`media_groups`)."""
    return actions_from_keys(events, media_groups(events, distance=distance), signal=_SIGNAL)


# --------------------------------------------------------------------------------------
# private helpers


def _check(distance: int) -> None:
    if not isinstance(distance, int | np.integer) or not 0 <= distance <= 32:
        raise ParameterError(f"media distance must be an integer in [0, 32] bits, got {distance}")


def _hex(values: pl.Series) -> pl.Series:
    """``phash:`` + 16 lower-case hex digits of UInt64 values (no Python loop)."""
    v = values.to_numpy().astype(np.uint64)
    shifts = np.arange(60, -4, -4, dtype=np.int64).astype(np.uint64)
    nibbles = ((v[:, None] >> shifts[None, :]) & np.uint64(15)).astype(np.uint8)
    codes = np.ascontiguousarray(np.where(nibbles < 10, nibbles + 48, nibbles + 87), np.uint8)
    hexed = pl.Series(codes.view("S16").ravel()).cast(pl.String)
    return ("phash:" + hexed).alias("key")


def _plan(n: int, distance: int) -> tuple[int, int]:
    """Blocks ``m`` and equal blocks ``k = m − d`` minimising the expected work."""
    options = []
    for m in range(distance + 1, min(64, distance + 12) + 1):
        k = m - distance
        cost = math.comb(m, k) * (n + n * n / 2 ** (64 * k / m + 1))
        options.append((cost, m, k))
    _, m, k = min(options)
    return m, k


def _equal_runs(key: IntArray, bits: int) -> IntArray:
    """Return the indices of the keys that occur more than once, sorted by key (stable).

    Keys of up to 24 bits are counted (``np.bincount``) and the repeated ones ordered by
    a counting sort (:mod:`scipy.sparse`'s COO → CSR conversion); longer keys are found
    with a hash (polars ``is_duplicated``) and sorted.
    """
    if bits > 24:
        shared = np.flatnonzero(pl.Series(key).is_duplicated().to_numpy())
        ordered: IntArray = shared[np.argsort(key[shared], kind="stable")]
        return ordered
    counts = np.bincount(key, minlength=1 << bits)
    shared = np.flatnonzero(counts[key] > 1)
    if shared.shape[0] < 2:
        return shared
    matrix = sp.csr_array(
        (np.ones(shared.shape[0], dtype=np.int8), (key[shared], np.arange(shared.shape[0]))),
        shape=(1 << bits, shared.shape[0]),
    )
    found: IntArray = shared[matrix.indices.astype(np.int64)]
    return found


def _near_pairs(x: UIntArray, distance: int) -> tuple[IntArray, IntArray]:
    """Pairs ``i < j`` of (distinct) hashes with ``popcount(x_i ^ x_j) <= distance``."""
    n = x.shape[0]
    m, k = _plan(n, distance)
    bounds = [round(64 * b / m) for b in range(m + 1)]
    blocks = [
        ((x >> np.uint64(bounds[b])) & np.uint64((1 << (bounds[b + 1] - bounds[b])) - 1)).astype(
            np.int64
        )
        for b in range(m)
    ]
    found: list[IntArray] = []
    for combo in itertools.combinations(range(m), k):
        key = np.zeros(n, dtype=np.int64)
        shift = 0
        for b in combo:  # at most 64 bits: the top block may reach the sign bit
            key |= blocks[b] << np.int64(shift)
            shift += bounds[b + 1] - bounds[b]
        order = _equal_runs(key, shift)
        if order.shape[0] < 2:
            continue
        sk = key[order]
        zero = np.zeros(sk.shape[0], dtype=np.int64)
        for ii, jj in band_pairs(sk, zero, 0, max_pairs=_CHUNK):
            first = order[ii]
            second = order[jj]
            near = np.bitwise_count(x[first] ^ x[second]) <= distance
            lo = np.minimum(first[near], second[near])
            hi = np.maximum(first[near], second[near])
            found.append(lo * n + hi)
    if not found:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    codes = pl.Series(np.concatenate(found)).unique().sort().to_numpy()
    return codes // n, codes % n
