"""Bursts: maximal runs of synchronized activity on one key.

A **burst** is, for one ``(signal, key)``, a maximal run of its actions (sorted by time)
whose consecutive gaps are ``<= W`` seconds (inclusive), with at least ``min_actors``
distinct accounts. Two actions of the same key belong to the same burst exactly when
every gap between them is at most ``W``; runs of different keys never merge.

Columns (:data:`coordscope.results.BURST_SCHEMA`):

- ``start``, ``end``: first and last action of the run (inclusive);
- ``actions``: actions in the run; ``actors``: distinct accounts;
- ``synchrony``: the share of the burst's accounts whose **first** action in the burst
  falls inside its busiest window ``[t, t + W]`` (inclusive): 1 when all accounts joined
  within W seconds of each other, ``k / actors`` when at most ``k`` of them ever did.
  An organic cascade that grows for an hour scores low; a squad that fires within
  seconds scores 1. In ``(0, 1]``;
- ``cluster_share``: share of its accounts that are flagged (members of a significant
  cluster), 0 without ``membership``;
- ``cluster``: the cluster with most accounts in the burst (smallest id on ties; null
  when none of its accounts is in a cluster);
- ``recurrence``: number of **other** bursts, disjoint from it in time, that share at
  least ``max(2, ceil(max(actors_i, actors_j) / 2))`` accounts with it — at least two
  accounts and at least half of the *larger* burst, i.e. largely the same accounts, on
  another occasion. Two big organic cascades that share a few accounts by chance do not
  count, nor does a huge burst (a ``co_post`` run of a whole day) that merely contains a
  small one, nor the parallel bursts of the same posts (a repost carrying three
  hashtags gives a ``co_share`` and three ``co_hashtag`` bursts at once); a squad that
  drives burst after burst does;
- ``score``: :func:`burst_score`, below.

Cost: one sort, ``O(n log n)`` for ``n`` actions, then linear passes; memory linear in
``n`` (a viral key with 100,000 actions in one run is one row of aggregates, never a
pair table). Recurrence multiplies the sparse ``(burst × account)`` incidence matrix
``A`` by ``Aᵀ`` in row blocks of bounded size: ``O(Σ_accounts d²)`` for ``d`` bursts
per account. This follows the burst notion of Kleinberg's and of CooRnet's
"coordination interval" runs, made maximal and per key as in Pacheco et al. (2021),
*Uncovering Coordinated Networks on Social Media*, ICWSM.

**Burst score** (:func:`burst_score`)::

    score = 0.40·C + 0.30·Y + 0.20·R + 0.10·A

=====  ==========================  =========================================================
term   formula                     measured quantity
=====  ==========================  =========================================================
C      cluster_share               share of the burst's accounts that are in flagged
                                   clusters
Y      synchrony                   share of its accounts that joined within its busiest
                                   W-second window (:func:`bursts`)
R      r / (r + 1)                 ``recurrence``: other bursts, at other times, driven
                                   by the same accounts
A      (a − 1) / (a + 9)           distinct accounts (``actors``): 3 → 0.17, 11 → 0.5
=====  ==========================  =========================================================

A high burst score means: most of the accounts behind this burst of activity on one key
belong to flagged clusters, they piled in within one window of W seconds rather than
trickling in, the same accounts drove other bursts too, and there were many of them.

Every term is non-decreasing in its evidence, so the score is monotone
(``tests/test_scores.py`` checks it). It ranks; it is not a probability.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp

from coordscope.engine.native import _check_codes, _prepare_actions
from coordscope.errors import ParameterError, check_window
from coordscope.parts import Piece, WorkDir, lazy_frames, take_pieces
from coordscope.progress import track
from coordscope.schema import (
    ACTOR_ID,
    BURST_MEMBER_SCHEMA,
    BURST_SCHEMA,
    MEMBERSHIP_SCHEMA,
    TS,
    TS_DTYPE,
    US,
)

__all__ = ["BURST_WEIGHTS", "PART_ROWS", "burst_members", "burst_score", "burst_terms", "bursts"]


#: Nonzeros of one block of A·Aᵀ computed at once (memory bound of recurrence).
_BLOCK_NNZ: Final = 20_000_000
_COORD_LIMIT: Final = 1 << 62
#: Actions of one key partition of :func:`bursts`: what it holds besides the input is
#: the partition's copy of four columns, its integer codes and their sort (about 100 bytes
#: an action with short ids). Each partition reads the whole input once (``O(n·parts)``
#: filtering).
PART_ROWS: Final = 1 << 23
_PART_SEED: Final = 29


#: Weights of the burst score's terms (they sum to 1).
BURST_WEIGHTS: Final[dict[str, float]] = {
    "cluster_share": 0.40,
    "synchrony": 0.30,
    "recurrence": 0.20,
    "actors": 0.10,
}
_BURST_COLUMNS: Final = ("cluster_share", "synchrony", "recurrence", "actors")


def burst_terms() -> dict[str, pl.Expr]:
    """Return the burst score's terms as polars expressions, each in ``[0, 1]`` (nulls give 0)."""
    rec = pl.col("recurrence").cast(pl.Float64).fill_null(0.0).clip(0.0)
    actors = pl.col("actors").cast(pl.Float64).fill_null(1.0).clip(1.0)
    return {
        "cluster_share": pl.col("cluster_share").cast(pl.Float64).clip(0.0, 1.0).fill_null(0.0),
        "synchrony": pl.col("synchrony").cast(pl.Float64).clip(0.0, 1.0).fill_null(0.0),
        "recurrence": rec / (rec + 1.0),
        "actors": (actors - 1.0) / (actors + 9.0),
    }


def burst_score(bursts: pl.DataFrame) -> pl.Series:
    """Score of each burst, in ``[0, 1]`` (formula in the module docstring).

    Parameters
    ----------
    bursts : polars.DataFrame
        Needs ``cluster_share, synchrony, recurrence, actors``
        (:data:`~coordscope.schema.BURST_SCHEMA`).

    Returns
    -------
    polars.Series
        Float64 ``score``, one per row, in row order. Cost ``O(n)``.

    Raises
    ------
    ParameterError
        A needed column is missing.
    """
    missing = [c for c in _BURST_COLUMNS if c not in bursts.columns]
    if missing:
        raise ParameterError(f"bursts: the burst table lacks column(s) {', '.join(missing)}")
    terms = burst_terms()
    expr = pl.sum_horizontal([BURST_WEIGHTS[name] * terms[name] for name in BURST_WEIGHTS])
    return bursts.select(expr.alias("score"))["score"]


def bursts(
    actions: pl.DataFrame | pl.LazyFrame,
    *,
    window: float,
    min_actors: int = 3,
    membership: pl.DataFrame | None = None,
    part_rows: int = PART_ROWS,
    work: WorkDir | None = None,
) -> pl.DataFrame:
    """Find the bursts of every key at once, score and rank them.

    Parameters
    ----------
    actions : polars.DataFrame or polars.LazyFrame
        Actions (:data:`coordscope.signals.actions.ACTION_SCHEMA`; ``signal, key,
        actor_id, ts`` are used), any signals, any order. Not modified. A lazy frame (a
        scan of spilled actions) is read one key partition at a time.
    window : float
        ``W`` in seconds (>= 0): consecutive actions at most ``W`` apart (inclusive)
        belong to the same run; also the width of the synchrony window.
    min_actors : int, default 3
        Least distinct accounts of a burst (inclusive, >= 1).
    membership : polars.DataFrame, optional
        :data:`MEMBERSHIP_SCHEMA`: ``actor_id, cluster, flagged`` of the accounts in
        clusters (one row per account). Without it ``cluster_share`` is 0 and
        ``cluster`` null.
    part_rows : int, default :data:`PART_ROWS`
        Runs are found in key partitions of about this many actions (by key hash), so
        the working copies (codes, sort) follow it rather than the input; the result does
        not depend on it.
    work : WorkDir, optional
        Where the actions wait, cut into key partitions, for their partition's turn
        (default: a temporary directory, removed before returning).

    Returns
    -------
    polars.DataFrame
        :data:`coordscope.results.BURST_SCHEMA`, ranked by ``score`` descending (ties:
        more actors, then signal, key, start); ``burst`` is the 1-based rank.

    Raises
    ------
    ParameterError
        Negative or non-finite ``window``, ``min_actors < 1``, missing columns.

    Notes
    -----
    Cost ``O(n log n)`` for ``n`` actions plus ``O(Σ d²)`` for recurrence (see the
    module docstring). Deterministic: no randomness, a total order on ties.
    """
    _check(actions, window, min_actors, membership)
    if isinstance(part_rows, bool) or not isinstance(part_rows, int) or part_rows < 1:
        raise ParameterError(f"part_rows must be an integer >= 1, got {part_rows!r}")
    own = work is None
    work = WorkDir() if work is None else work
    try:
        runs, rows = _runs(actions, window, min_actors, part_rows, work)
    finally:
        if own:
            work.close()
    if runs.height == 0:
        return pl.DataFrame(schema=BURST_SCHEMA)
    sync = _synchrony(rows, runs.height, round(window * US))
    share, cluster = _membership(rows, runs, membership)
    recurrence = _recurrence(
        rows,
        runs["actors"].to_numpy(),
        runs["start"].dt.epoch("us").to_numpy(),
        runs["end"].dt.epoch("us").to_numpy(),
    )
    table = runs.select(
        pl.col("signal"),
        pl.col("key"),
        pl.col("start"),
        pl.col("end"),
        pl.col("actions").cast(BURST_SCHEMA["actions"]),
        pl.col("actors").cast(BURST_SCHEMA["actors"]),
        pl.Series("synchrony", sync, dtype=pl.Float64),
        share.alias("cluster_share"),
        pl.Series("recurrence", recurrence).cast(BURST_SCHEMA["recurrence"]),
        cluster.alias("cluster"),
    )
    table = table.with_columns(burst_score(table).alias("score"))
    table = table.sort(
        ["score", "actors", "signal", "key", "start"],
        descending=[True, True, False, False, False],
    )
    table = table.with_columns(pl.int_range(1, table.height + 1, dtype=pl.Int64).alias("burst"))
    return table.select([pl.col(c).cast(t) for c, t in BURST_SCHEMA.items()])


def burst_members(actions: pl.DataFrame, bursts: pl.DataFrame) -> pl.DataFrame:
    """Return the accounts behind each burst: one row per (burst, account).

    A burst's actions are exactly the actions of its ``(signal, key)`` with
    ``start <= ts <= end`` (runs are maximal, so no other run of the key overlaps that
    span); each action is matched to the latest burst of its key starting at or before
    it (an as-of join), so the cost is ``O(n log n + b log b)`` whatever the number of
    bursts per key.

    Parameters
    ----------
    actions : polars.DataFrame
        The actions the bursts were found in (``signal, key, actor_id, ts``).
    bursts : polars.DataFrame
        ``burst, signal, key, start, end`` (:data:`coordscope.results.BURST_SCHEMA`).

    Returns
    -------
    polars.DataFrame
        :data:`BURST_MEMBER_SCHEMA` sorted by ``burst`` then ``first_ts``, ``actor_id``:
        ``actions`` of the account in the burst and its first one's time.
    """
    for name, frame, cols in (
        ("actions", actions, ("signal", "key", ACTOR_ID, TS)),
        ("bursts", bursts, ("burst", "signal", "key", "start", "end")),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ParameterError(f"{name} lacks column(s) {', '.join(missing)}")
    if bursts.height == 0 or actions.height == 0:
        return pl.DataFrame(schema=BURST_MEMBER_SCHEMA)
    left = actions.select("signal", "key", ACTOR_ID, TS).filter(pl.col("key").is_not_null())
    right = bursts.select("burst", "signal", "key", "start", "end").sort("start")
    matched = (
        left.sort(TS)
        .join_asof(
            right, left_on=TS, right_on="start", by=["signal", "key"], check_sortedness=False
        )
        .filter(pl.col("burst").is_not_null() & (pl.col(TS) <= pl.col("end")))
    )
    return (
        matched.group_by("burst", ACTOR_ID)
        .agg(pl.len().cast(pl.UInt32).alias("actions"), pl.col(TS).min().alias("first_ts"))
        .sort("burst", "first_ts", ACTOR_ID)
        .select([pl.col(c).cast(t) for c, t in BURST_MEMBER_SCHEMA.items()])
    )


def _check(
    actions: pl.DataFrame | pl.LazyFrame,
    window: float,
    min_actors: int,
    membership: pl.DataFrame | None,
) -> None:
    check_window(window)
    if isinstance(min_actors, bool) or not isinstance(min_actors, int) or min_actors < 1:
        raise ParameterError(f"min_actors must be an integer >= 1, got {min_actors!r}")
    columns = actions.collect_schema().names()
    missing = [c for c in ("signal", "key", ACTOR_ID, TS) if c not in columns]
    if missing:
        raise ParameterError(f"actions lack column(s) {', '.join(missing)}")
    if membership is not None:
        missing = [c for c in MEMBERSHIP_SCHEMA if c not in membership.columns]
        if missing:
            raise ParameterError(f"membership lacks column(s) {', '.join(missing)}")


def _runs(
    actions: pl.DataFrame | pl.LazyFrame,
    window: float,
    min_actors: int,
    part_rows: int,
    work: WorkDir,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Maximal runs with enough actors, and their (run, actor) rows.

    The actions are cut into key partitions (by key hash, about ``part_rows`` actions
    each; a key lies in one partition, so every run does), read once ``part_rows`` at a
    time and spilled to ``work`` by partition, and the runs of each are found on its own
    (:func:`_part_runs`); runs are numbered partition after partition. The
    account ``code`` is then given over all the rows, so it is one code per account.

    Returns ``runs`` (``signal, key, start, end, actions, actors, run``; row ``i`` is run
    ``i``) and ``rows`` (``run`` UInt32, ``actor_id``, ``t`` first time in µs, ``code``
    UInt32 dense account code), one row per (run, account), sorted by run then ``t``.
    The order of the runs depends on the partitions; nothing that :func:`bursts` returns
    does (its ranking is a total order).
    """
    used = actions.lazy().select("signal", "key", ACTOR_ID, TS)  # the columns read
    n_rows = used.select(pl.len()).collect().item()
    n_parts = max(1, -(-n_rows // part_rows))
    if n_parts == 1:
        pieces = [_part_runs(used.collect(), window, min_actors)]
    else:
        # one pass over the actions, each batch cut into the key partitions and spilled;
        # then the partitions one at a time, their rows in input order
        part = (pl.col("key").hash(seed=_PART_SEED) % n_parts).cast(pl.UInt32).alias("_p")
        waiting: list[list[Piece]] = [[] for _ in range(n_parts)]
        for batch in lazy_frames(used, part_rows):
            cut = batch.with_columns(part).partition_by("_p", as_dict=True, include_key=False)
            del batch
            for (p,), piece in cut.items():
                waiting[int(p)].append(work.spill(piece, f"bursts-p{int(p):05d}"))
            del cut
        pieces = []
        with track("burst partitions", total=n_parts, unit="partitions") as progress:
            for p in range(n_parts):
                frame = take_pieces(waiting[p])
                waiting[p] = []
                progress.advance()
                if frame is None:
                    continue
                pieces.append(_part_runs(frame, window, min_actors))
                del frame
    del used
    pieces = [(r, w) for r, w in pieces if r.height]
    if not pieces:
        return _no_runs()
    offsets = np.cumsum([0] + [r.height for r, _ in pieces])
    runs = pl.concat([r for r, _ in pieces]).with_columns(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("run")
    )
    rows = pl.concat(
        [
            w.with_columns(pl.col("run") + int(off))
            for (_, w), off in zip(pieces, offsets[:-1], strict=True)
        ]
    )
    del pieces
    # one code per account over every partition (64-bit hash, checked here on the rows)
    if (
        rows.select(pl.col("a").n_unique()).item()
        != rows.select(pl.struct("a", ACTOR_ID).n_unique()).item()
    ):  # pragma: no cover - probability ~ n² / 2**65
        raise ParameterError("internal: 64-bit hash collision between two ids; please report")
    rows = rows.select(
        pl.col("run").cast(pl.UInt32),
        ACTOR_ID,
        "t",
        (pl.col("a").rank("dense") - 1).cast(pl.UInt32).alias("code"),
    )
    return runs, rows


def _part_runs(
    actions: pl.DataFrame, window: float, min_actors: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Find the runs of one key partition: :func:`_runs` without the account codes.

    Keys and accounts are coded by the 64-bit hashes of the native kernel (proved
    collision-free by a second hash), so the one sort is numeric: ``(key, t, actor)``.
    Returns ``runs`` (``signal, key, start, end, actions, actors``, in (key hash, start)
    order) and ``rows`` (``run`` within the partition, ``actor_id``, ``t``, ``a`` the
    account's 64-bit hash), sorted by run, ``t``, ``a``.
    """
    w_us = round(window * US)
    clean = actions.select("signal", "key", ACTOR_ID, TS).filter(
        pl.col("key").is_not_null() & pl.col(TS).is_not_null() & pl.col(ACTOR_ID).is_not_null()
    )
    if clean.height == 0:
        return _no_part_runs()
    coded = _prepare_actions(clean)
    _check_codes(clean, coded)
    ordered = coded.select("k", "t", "a", "row").sort(["k", "t", "a"])
    k = ordered["k"].to_numpy()
    t = ordered["t"].to_numpy()
    new = np.empty(k.size, bool)
    new[0] = True
    np.not_equal(k[1:], k[:-1], out=new[1:])
    new[1:] |= (t[1:] - t[:-1]) > w_us
    run0 = np.cumsum(new, dtype=np.int64) - 1
    # one row per (run, account): its first action (the frame is in time order per run)
    per_actor = (
        ordered.select(pl.Series("run0", run0), "a", "t", "row")
        .group_by("run0", "a")
        .agg(pl.col("t").first(), pl.col("row").first())
    )
    n_runs0 = int(run0[-1]) + 1
    actors0 = np.bincount(per_actor["run0"].to_numpy(), minlength=n_runs0)
    keep = actors0 >= min_actors
    if not keep.any():
        return _no_part_runs()
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], k.size] - 1
    new_id = np.cumsum(keep) - 1
    rows_ = per_actor.filter(pl.Series(keep)[per_actor["run0"]])
    rows_ = rows_.with_columns(
        pl.Series("run", new_id[rows_["run0"].to_numpy()], dtype=pl.UInt32)
    ).sort(["run", "t", "a"])
    first_rows = ordered["row"].to_numpy()[starts[keep]]
    runs = clean.select("signal", "key").select(pl.all().gather(first_rows))
    ts_sorted = ordered["t"].to_numpy()
    runs = runs.with_columns(
        pl.Series("start", ts_sorted[starts[keep]])
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone("UTC"),
        pl.Series("end", ts_sorted[ends[keep]]).cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
        pl.Series("actions", (ends - starts + 1)[keep], dtype=pl.UInt32),
        pl.Series("actors", actors0[keep], dtype=pl.UInt32),
    )
    rows = rows_.select("run", clean[ACTOR_ID].gather(rows_["row"]).alias(ACTOR_ID), "t", "a")
    return runs, rows


def _no_part_runs() -> tuple[pl.DataFrame, pl.DataFrame]:
    runs, rows = _no_runs()
    return runs.drop("run"), rows.drop("code").with_columns(pl.lit(0, pl.UInt64).alias("a"))


def _no_runs() -> tuple[pl.DataFrame, pl.DataFrame]:
    runs = pl.DataFrame(
        schema={
            "signal": pl.String, "key": pl.String, "start": TS_DTYPE, "end": TS_DTYPE,
            "actions": pl.UInt32, "actors": pl.UInt32, "run": pl.UInt32,
        }
    )  # fmt: skip
    rows = pl.DataFrame(
        schema={"run": pl.UInt32, ACTOR_ID: pl.String, "t": pl.Int64, "code": pl.UInt32}
    )
    return runs, rows


def _synchrony(rows: pl.DataFrame, n_runs: int, w_us: int) -> npt.NDArray[np.float64]:
    """Share of each run's actors whose first time lies in its busiest ``[t, t + W]``.

    Sliding-window maximum by binary search on one monotone coordinate
    ``run · M + (t − run start)``; runs are taken in blocks so the coordinate fits 62
    bits (a loop over blocks of runs, never over rows).
    """
    run = rows["run"].to_numpy().astype(np.int64)
    t = rows["t"].to_numpy()
    bounds = np.flatnonzero(np.r_[True, run[1:] != run[:-1], True])
    starts = bounds[:-1]
    counts = np.diff(bounds)
    t0 = np.repeat(t[starts], counts)
    rel = t - t0
    best = np.empty(n_runs, np.int64)
    span = np.maximum.reduceat(rel, starts) if rel.size else np.zeros(0, np.int64)
    m = int(span.max()) + w_us + 1 if span.size else 1
    per_block = max(1, _COORD_LIMIT // m)
    for b0 in range(0, n_runs, per_block):
        b1 = min(n_runs, b0 + per_block)
        lo, hi = starts[b0], (starts[b1] if b1 < n_runs else run.size)
        coord = (run[lo:hi] - b0) * m + rel[lo:hi]
        end = np.searchsorted(coord, coord + w_us, side="right")
        inside = end - np.arange(hi - lo)
        best[b0:b1] = np.maximum.reduceat(inside, starts[b0:b1] - lo)
    return best / counts


def _membership(
    rows: pl.DataFrame, runs: pl.DataFrame, membership: pl.DataFrame | None
) -> tuple[pl.Series, pl.Series]:
    """``cluster_share`` and the dominant ``cluster`` of every run."""
    n = runs.height
    if membership is None or membership.height == 0:
        return pl.Series(np.zeros(n)), pl.Series([None] * n, dtype=pl.Int64)
    mem = membership.select(
        pl.col(ACTOR_ID).cast(pl.String),
        pl.col("cluster").cast(pl.Int64),
        pl.col("flagged").cast(pl.Boolean).fill_null(False),
    ).unique(subset=[ACTOR_ID], keep="first")
    joined = rows.select("run", ACTOR_ID).join(mem, on=ACTOR_ID, how="inner")
    flagged = joined.filter(pl.col("flagged")).group_by("run").len()
    dominant = (
        joined.filter(pl.col("cluster").is_not_null())
        .group_by("run", "cluster")
        .len()
        .sort(["run", "len", "cluster"], descending=[False, True, False])
        .unique(subset=["run"], keep="first")
    )
    base = runs.select("run", "actors")
    out = (
        base.join(flagged.rename({"len": "n_flagged"}), on="run", how="left")
        .join(dominant.select("run", "cluster"), on="run", how="left")
        .sort("run")
    )
    share = out["n_flagged"].fill_null(0).cast(pl.Float64) / out["actors"].cast(pl.Float64)
    return share, out["cluster"]


def _recurrence(
    rows: pl.DataFrame,
    actors: npt.NDArray[np.integer],
    start: npt.NDArray[np.int64],
    end: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """Count, per run, the other runs that largely share its accounts at another time.

    Other runs sharing ``>= max(2, ceil(max(n_i, n_j) / 2))`` accounts with each run,
    and disjoint from it in time.

    ``A`` is the (run × account) incidence; ``A·Aᵀ`` counts shared accounts. It is
    computed in row blocks whose nonzeros are bounded by ``Σ_{accounts of the block}
    d(account)``, which upper-bounds the block's nonzeros, kept under a budget.
    """
    n_runs = actors.shape[0]
    run = rows["run"].to_numpy().astype(np.int64)
    code = rows["code"].to_numpy().astype(np.int64)
    n_codes = int(code.max()) + 1 if code.size else 0
    a = sp.csr_matrix(
        (np.ones(run.size, np.int32), (run, code)), shape=(n_runs, n_codes), dtype=np.int32
    )
    at = a.T.tocsr()
    degree = np.bincount(code, minlength=n_codes)
    row_cost = np.bincount(run, weights=degree[code], minlength=n_runs)
    size = actors.astype(np.int64)
    out = np.zeros(n_runs, np.int64)
    cum = np.cumsum(row_cost)
    b0 = 0
    while b0 < n_runs:  # a loop over blocks of runs, each under the nonzero budget
        base = cum[b0 - 1] if b0 else 0.0
        b1 = int(np.searchsorted(cum, base + _BLOCK_NNZ, side="right"))
        b1 = min(n_runs, max(b1, b0 + 1))
        prod = (a[b0:b1] @ at).tocoo()
        i = prod.row.astype(np.int64) + b0
        j = prod.col.astype(np.int64)
        need = np.maximum(2, (np.maximum(size[i], size[j]) + 1) // 2)
        apart = (end[i] < start[j]) | (end[j] < start[i])
        hit = (i != j) & (prod.data >= need) & apart
        out[b0:b1] = np.bincount(i[hit] - b0, minlength=b1 - b0)
        b0 = b1
    return out
