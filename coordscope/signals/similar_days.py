"""Near-duplicate groups over many days, made a day at a time (the daily state's ``co_similar``).

``co_similar`` groups messages across the whole audited period: its key is the connected
component of the relation "verified near duplicate" (:mod:`coordscope.signals.similar`),
and a component can join a message of day 1 with one of day 30. Making the groups again
for every daily run costs the tokenising, MinHash signatures and LSH buckets of every
message of the horizon. This module makes them from what is kept of each day instead:

1. **A day's sets** (:func:`day_sets`, once per day): the day's messages with at least
   ``min_shingles`` distinct words, their distinct word sets (identical sets merged) as
   64-bit shingle hashes, and each set's LSH band keys. 8 bytes a shingle and
   ``8·bands`` bytes a set.
2. **A day's pairs** (:func:`near_pairs`): verified near-duplicate pairs (the very check of
   the one-shot path: first agreeing band, sizes, signature agreement, exact Jaccard)
   between two sets of the day, and between a set of the day and a set of each earlier
   day. Only the earlier sets that share a band key with the day's are checked. Each
   (day, earlier day) batch reports a spanning forest of its verified pairs (a
   union-find skips a pair whose two sets are joined already), so a bucket of ``K`` near
   copies costs ``K²/2`` look-ups, not checks. The signatures are not kept (240 bytes a
   set): a run makes those of the earlier sets that share a band key again from the
   hashes (a run that adds many days holds the signatures of the days it made).
3. **The horizon's groups** (:func:`horizon_groups`): the connected components of every
   kept pair among the horizon's sets, and each group's first message.

**Why the groups are exactly those of one run over the horizon.** Whether a pair is
verified depends on its two sets only, so the horizon's components are those of the
verified pairs among its sets. A pair of days ``(d, e)``, ``e <= d``, reports enough of
its verified pairs to connect what all of them connect, through sets of days ``d`` and
``e`` only. A horizon is a run of consecutive days: when it holds both ends of a
verified pair, it holds the day batch that connected them, and the sets that batch's
path goes through. So the components over the horizon's kept pairs are the one-shot
components — provided each batch was made with the days as they are now: a day's pairs
stay valid while the earlier days of the horizon are the same files
(:func:`coordscope.daily.keep_similar` checks this and makes them again otherwise).

Cost of a new day: its own tokenising and signatures, plus, for each earlier day of the
horizon, one hashed look-up of its band keys (``8·bands`` bytes a set, read), the
signatures of its sets that share a key, and the checks of the pairs that share a
bucket. That is linear in the horizon's sets that share a key with the new day's: on
text drawn from templates, most of them (2-4 s per earlier day at 370,000 sets a day on
two cores). A run that adds ``k`` days at once makes ``k(k-1)/2`` such batches. The
horizon's groups cost one pass over the kept (message, set) rows and pairs and one
connected-components call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from coordscope._output import write_table
from coordscope.schema import EventFrame
from coordscope.signals.similar import (
    DEFAULT_BANDS,
    DEFAULT_ROWS,
    TEXT_KINDS,
    TokenSets,
    _band_key,
    _bucket_pairs,
    _fingerprints,
    _ranges,
    _signatures,
    streamed_sets,
    subset_sets,
)

__all__ = [
    "DayPairs",
    "DaySets",
    "day_sets",
    "day_signatures",
    "horizon_groups",
    "near_pairs",
    "read_day_pairs",
    "read_day_sets",
    "write_day_pairs",
    "write_day_sets",
]

IntArray = npt.NDArray[np.int64]
UIntArray = npt.NDArray[np.uint64]


@dataclass(frozen=True)
class DaySets:
    """What is kept of one day for near-duplicate groups.

    Attributes
    ----------
    event : numpy.ndarray of uint32
        Row, in the day's events, of each message with at least ``min_shingles`` distinct
        words (ascending).
    rep : numpy.ndarray of int64
        The distinct set of each of those messages (``0 .. sets - 1``, numbered in order of
        first message).
    indptr : numpy.ndarray of int64
        ``sets + 1`` offsets into ``hashes``.
    hashes : numpy.ndarray of uint64
        The 64-bit shingle hashes of each distinct set, ascending as int64 within a set.
    keys : numpy.ndarray of uint64
        ``(sets, bands)``: each set's LSH band keys.
    """

    event: npt.NDArray[np.uint32]
    rep: IntArray
    indptr: IntArray
    hashes: UIntArray
    keys: UIntArray

    @property
    def n_sets(self) -> int:
        """Number of distinct sets."""
        return int(self.indptr.shape[0] - 1)

    def checked(self, which: IntArray) -> TokenSets:
        """Return sets ``which`` for the exact check: the hashes themselves as shingle numbers.

        The check merges two ascending lists; the hashes are kept ascending (as int64) in
        each set, so they serve as they are. Not for signatures (``vocab`` is empty).
        """
        indptr, pos = self._picked(which)
        return TokenSets(indptr, self.hashes[pos].view(np.int64), np.zeros(0, dtype=np.uint64))

    def signable(self, which: IntArray) -> TokenSets:
        """Return sets ``which`` for MinHash signatures: each shingle occurrence its own number."""
        indptr, pos = self._picked(which)
        return TokenSets(indptr, np.arange(pos.shape[0], dtype=np.int64), self.hashes[pos])

    def _picked(self, which: IntArray) -> tuple[IntArray, IntArray]:
        sizes = np.diff(self.indptr)[which]
        indptr = np.zeros(which.shape[0] + 1, dtype=np.int64)
        np.cumsum(sizes, out=indptr[1:])
        return indptr, _ranges(self.indptr[which], sizes)


@dataclass(frozen=True)
class DayPairs:
    """Verified pairs of one day's sets: ``rep`` of the day and ``other`` of ``day``.

    ``day`` is the partner's day (days since 1970-01-01); for pairs within the day, the
    day itself.
    """

    rep: IntArray
    day: npt.NDArray[np.int32]
    other: IntArray


def day_sets(
    events: EventFrame,
    *,
    min_shingles: int = 5,
    text_kinds: tuple[str, ...] = TEXT_KINDS,
    seed: int = 0,
    bands: int = DEFAULT_BANDS,
    rows: int = DEFAULT_ROWS,
) -> tuple[DaySets, npt.NDArray[np.uint32]]:
    """Make a day's :class:`DaySets` and the MinHash signatures of its sets.

    Parameters
    ----------
    events : polars.DataFrame or polars.LazyFrame
        The day's canonical events (rows as the state stores them).
    min_shingles, text_kinds, seed, bands, rows
        As in :func:`~coordscope.signals.similar.similar_actions` (the word-token path).

    Returns
    -------
    (DaySets, numpy.ndarray of uint32)
        The kept sets, and their ``(sets, bands·rows)`` signatures (not kept: needed by
        :func:`near_pairs` for the same day).
    """
    event, sets = streamed_sets(events, text_kinds=text_kinds, seed=seed)
    size = sets.sizes
    eligible = np.flatnonzero(size >= min_shingles)
    f1, f2 = _fingerprints(sets)
    # identical sets merge (128-bit fingerprint and size): the first message's is kept
    rep_of = (
        pl.DataFrame({"f1": f1[eligible], "f2": f2[eligible], "s": size[eligible]})
        .with_row_index("m")
        .select(pl.col("m").min().over("f1", "f2", "s").alias("first"))["first"]
        .to_numpy()
        .astype(np.int64)
    )
    firsts, rep = np.unique(rep_of, return_inverse=True)  # sets in order of first message
    distinct = subset_sets(sets, eligible[firsts])
    del sets
    signatures = (
        _signatures(distinct, bands * rows)
        if firsts.shape[0]
        else np.zeros((0, bands * rows), dtype=np.uint32)
    )
    keys = np.empty((firsts.shape[0], bands), dtype=np.uint64)
    for band in range(bands):
        keys[:, band] = _band_key(signatures[:, band * rows : (band + 1) * rows], band)
    hashes = distinct.vocab[distinct.ids]
    owner = np.repeat(np.arange(firsts.shape[0], dtype=np.int64), distinct.sizes)
    kept = DaySets(
        event=event.to_numpy()[eligible].astype(np.uint32),
        rep=rep.astype(np.int64),
        indptr=distinct.indptr,
        hashes=hashes[np.lexsort((hashes.view(np.int64), owner))],
        keys=keys,
    )
    return kept, signatures


def day_signatures(
    sets: DaySets, *, bands: int = DEFAULT_BANDS, rows: int = DEFAULT_ROWS
) -> npt.NDArray[np.uint32]:
    """MinHash signatures of a day's kept sets (made again: they are not kept).

    The same values as :func:`day_sets` gave: a signature depends on the shingle hashes
    only. ``(sets, bands·rows)`` uint32.
    """
    if not sets.n_sets:
        return np.zeros((0, bands * rows), dtype=np.uint32)
    return _signatures(sets.signable(np.arange(sets.n_sets, dtype=np.int64)), bands * rows)


def near_pairs(
    day: int,
    sets: DaySets,
    signatures: npt.NDArray[np.uint32],
    earlier: Iterable[tuple[int, DaySets, npt.NDArray[np.uint32] | None]],
    *,
    threshold: float = 0.8,
    bands: int = DEFAULT_BANDS,
    rows: int = DEFAULT_ROWS,
) -> DayPairs:
    """Return verified pairs of a day's sets: among them, and with each earlier day's sets.

    Parameters
    ----------
    day : int
        The day (days since 1970-01-01).
    sets, signatures
        The day's kept sets and their signatures (:func:`day_sets`).
    earlier : iterable of (int, DaySets, numpy.ndarray or None)
        The earlier days of the horizon, their kept sets and, when the caller has them,
        their signatures (:func:`day_signatures`; None: those of the sets that share a
        band key with the day's are made), read one at a time.
    threshold : float, default 0.8
        Jaccard index at or above which two sets are near duplicates (inclusive).
    bands, rows : int
        The LSH parameters the sets were made with.

    Returns
    -------
    DayPairs
        Per (day, earlier day) batch, a spanning forest of its verified pairs (see the
        module docstring); sorted by partner day, then by the pair.

    Notes
    -----
    Cost: the one-shot check on the day's sets, plus, per earlier day, a hashed look-up of
    its band keys among the day's and the check of the buckets that hold sets of both
    days.
    """
    reps: list[IntArray] = []
    days: list[npt.NDArray[np.int32]] = []
    others: list[IntArray] = []

    def keep(i: IntArray, partner: int, j: IntArray) -> None:
        reps.append(i)
        days.append(np.full(i.shape[0], partner, dtype=np.int32))
        others.append(j)

    everyone = np.arange(sets.n_sets, dtype=np.int64)
    if sets.n_sets >= 2:
        i, j = _bucket_pairs(sets.checked(everyone), threshold, bands, rows, signatures=signatures)
        keep(i, day, j)
    # the day's band keys of every band, as one hashed look-up (a key of another band that
    # matches only adds a candidate: the check below compares the bands themselves)
    mine_keys = pl.Series(sets.keys.ravel())
    lookup = mine_keys.implode()
    for partner, old, old_signatures in earlier:  # a day at a time (module docstring)
        if not sets.n_sets or not old.n_sets:
            continue
        theirs_keys = pl.Series(old.keys.ravel())
        found = theirs_keys.is_in(lookup).to_numpy()
        if not found.any():
            continue
        hit = np.zeros(old.n_sets, dtype=bool)
        hit[np.flatnonzero(found) // old.keys.shape[1]] = True
        theirs = np.flatnonzero(hit)
        shared = mine_keys.is_in(theirs_keys.filter(found).unique().implode()).to_numpy()
        mine = np.flatnonzero(shared.reshape(sets.keys.shape).any(axis=1))
        both = _joined(sets, mine, old, theirs)
        their_signatures = (
            _signatures(old.signable(theirs), bands * rows)
            if old_signatures is None
            else old_signatures[theirs]
        )
        sig = np.concatenate([signatures[mine], their_signatures])
        i, j = _bucket_pairs(both, threshold, bands, rows, signatures=sig, split=mine.shape[0])
        keep(mine[i], partner, theirs[j - mine.shape[0]])
    if not reps:
        empty = np.zeros(0, dtype=np.int64)
        return DayPairs(empty, np.zeros(0, dtype=np.int32), empty)
    return DayPairs(np.concatenate(reps), np.concatenate(days), np.concatenate(others))


def horizon_groups(
    days: Sequence[tuple[int, int, DaySets | tuple[npt.NDArray[np.uint32], IntArray, int]]],
    pairs: Sequence[DayPairs],
) -> pl.DataFrame:
    """Near-duplicate group of every grouped message of a horizon.

    Parameters
    ----------
    days : sequence of (int, int, DaySets or (event, rep, sets))
        Per horizon day, in order: the day (days since 1970-01-01), the row of its first
        event in the horizon's events, and its kept messages (``event``, ``rep`` and the
        number of distinct sets; a :class:`DaySets` will do).
    pairs : sequence of DayPairs
        Each day's kept pairs (same order). Pairs with a day outside the horizon are
        left out.

    Returns
    -------
    polars.DataFrame
        ``event`` (UInt32, row in the horizon's events) and ``first`` (UInt32, the row of
        its group's first message), for the messages of groups of two or more, by
        ``event``: what :func:`~coordscope.signals.similar.similar_actions` groups.
    """
    if not days:
        return pl.DataFrame(schema={"event": pl.UInt32, "first": pl.UInt32})
    ordinals = np.array([d for d, _, _ in days], dtype=np.int64)
    n_sets = np.array([_messages(m)[2] for _, _, m in days], dtype=np.int64)
    offset = np.zeros(len(days) + 1, dtype=np.int64)
    np.cumsum(n_sets, out=offset[1:])
    order = np.argsort(ordinals, kind="stable")
    known = ordinals[order]
    lo: list[IntArray] = []
    hi: list[IntArray] = []
    for k, p in enumerate(pairs):  # a day at a time
        at = np.minimum(np.searchsorted(known, p.day), len(days) - 1)
        inside = known[at] == p.day
        lo.append(offset[k] + p.rep[inside])
        hi.append(offset[order[at[inside]]] + p.other[inside])
    total = int(offset[-1])
    a = np.concatenate([np.zeros(0, dtype=np.int64), *lo])
    b = np.concatenate([np.zeros(0, dtype=np.int64), *hi])
    graph = sp.coo_array((np.ones(a.shape[0], dtype=np.int8), (a, b)), shape=(total, total))
    _, comp = connected_components(graph.tocsr(), directed=False)
    events: list[npt.NDArray[np.int64]] = []
    labels: list[IntArray] = []
    for k, (_, first_event, kept) in enumerate(days):
        event, rep, _ = _messages(kept)
        events.append(first_event + event.astype(np.int64))
        labels.append(comp[offset[k] + rep] if rep.shape[0] else rep)
    frame = pl.DataFrame(
        {
            "event": np.concatenate([np.zeros(0, dtype=np.int64), *events]),
            "label": np.concatenate([np.zeros(0, dtype=np.int64), *labels]),
        }
    )
    return (
        frame.with_columns(
            pl.col("event").min().over("label").alias("first"),
            pl.len().over("label").alias("n"),
        )
        .filter(pl.col("n") >= 2)
        .select(pl.col("event").cast(pl.UInt32), pl.col("first").cast(pl.UInt32))
        .sort("event")
    )


# --------------------------------------------------------------------------------------
# files


def write_day_sets(sets: DaySets, root: Path, stem: str) -> dict[str, str]:
    """Write a day's sets as three Parquet files ``root / (stem + ".similar-*.parquet")``.

    Returns their names relative to ``root`` (what :func:`read_day_sets` takes).
    """
    names = {part: f"{stem}.similar-{part}.parquet" for part in ("messages", "sets", "hashes")}
    write_table(pl.DataFrame({"event": sets.event, "rep": sets.rep}), root / names["messages"])
    write_table(
        pl.DataFrame(
            {
                "size": np.diff(sets.indptr),
                **{f"k{b}": sets.keys[:, b] for b in range(sets.keys.shape[1])},
            }
        ),
        root / names["sets"],
    )
    write_table(pl.DataFrame({"h": sets.hashes}, schema={"h": pl.UInt64}), root / names["hashes"])
    return names


def read_day_sets(root: Path, names: dict[str, str], *, messages_only: bool = False) -> DaySets:
    """Read what :func:`write_day_sets` wrote (``messages_only``: no hashes nor keys)."""
    msgs = pl.read_parquet(root / names["messages"])
    sized = pl.read_parquet(root / names["sets"])
    indptr = np.zeros(sized.height + 1, dtype=np.int64)
    np.cumsum(sized["size"].to_numpy(), out=indptr[1:])
    if messages_only:
        hashes = np.zeros(0, dtype=np.uint64)
        keys = np.zeros((sized.height, 0), dtype=np.uint64)
    else:
        hashes = pl.read_parquet(root / names["hashes"])["h"].to_numpy().astype(np.uint64)
        key_columns = [c for c in sized.columns if c.startswith("k")]
        keys = (
            sized.select(key_columns).to_numpy().astype(np.uint64)
            if key_columns
            else np.zeros((sized.height, 0), dtype=np.uint64)
        )
    return DaySets(
        event=msgs["event"].to_numpy().astype(np.uint32),
        rep=msgs["rep"].to_numpy().astype(np.int64),
        indptr=indptr,
        hashes=hashes,
        keys=np.ascontiguousarray(keys),
    )


def write_day_pairs(pairs: DayPairs, path: Path) -> None:
    """Write a day's pairs (``rep``, ``day``, ``other``)."""
    write_table(pl.DataFrame({"rep": pairs.rep, "day": pairs.day, "other": pairs.other}), path)


def read_day_pairs(path: Path) -> DayPairs:
    """Read what :func:`write_day_pairs` wrote."""
    frame = pl.read_parquet(path)
    return DayPairs(
        frame["rep"].to_numpy().astype(np.int64),
        frame["day"].to_numpy().astype(np.int32),
        frame["other"].to_numpy().astype(np.int64),
    )


# --------------------------------------------------------------------------------------
# private helpers


def _messages(
    kept: DaySets | tuple[npt.NDArray[np.uint32], IntArray, int],
) -> tuple[npt.NDArray[np.uint32], IntArray, int]:
    if isinstance(kept, DaySets):
        return kept.event, kept.rep, kept.n_sets
    return kept


def _joined(new: DaySets, mine: IntArray, old: DaySets, theirs: IntArray) -> TokenSets:
    """Join sets ``mine`` of ``new`` and ``theirs`` of ``old`` for the exact check."""
    first, second = new.checked(mine), old.checked(theirs)
    return TokenSets(
        np.concatenate([first.indptr, first.indptr[-1] + second.indptr[1:]]),
        np.concatenate([first.ids, second.ids]),
        np.zeros(0, dtype=np.uint64),
    )
