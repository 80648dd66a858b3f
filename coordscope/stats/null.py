"""Null-model kernels of the significance stage; private, inputs trusted.

Everything works on integer codes: ``k`` a key code (one per (signal, key)), ``a`` an
account code, ``t`` a time in microseconds. No loop over rows, keys, pairs or accounts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy import stats

from coordscope.engine.coding import msort
from coordscope.engine.jit import jit

__all__ = [
    "KeyStats",
    "Model",
    "capped_sum",
    "common_keys",
    "conditional_tail",
    "expected_cooc",
    "fit_model",
    "key_stats",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass
class KeyStats:
    """Per-key statistics, indexed by key code ``0 .. K-1``.

    ``pi`` is the share of the key's different-account action pairs within the window
    (0 when it has no such pair); ``actors`` its distinct accounts. ``inc_k``, ``inc_a``,
    ``inc_m``: the (key, account) incidence — one row per key and account that acted on
    it, with its ``m`` actions — sorted by (key, account). ``near``: the key's
    different-account action pairs within the window (``π_k`` times all of them).
    """

    pi: FloatArray
    actors: IntArray
    inc_k: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    inc_a: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    inc_m: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    near: FloatArray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))


def key_stats(k: IntArray, a: IntArray, t: IntArray, window_us: IntArray, n_keys: int) -> KeyStats:
    """π_k exactly, from the sorted times (the null of synchrony given co-occurrence).

    Parameters
    ----------
    k, a, t : ndarray of int64
        Key code, account code and time (µs) of every action, any order.
    window_us : ndarray of int64
        The window of each action (µs, inclusive; the window of its key's signal —
        signals may have their own windows).
    n_keys : int
        Number of key codes.

    Notes
    -----
    ``π_k = (P_k − S_k) / D_k``: ``P_k`` same-key pairs within ``W`` (inclusive), ``S_k``
    those of one account with itself, ``D_k = (n_k² − Σ_a m_ak²) / 2`` the different-account
    pairs. Counted by two pointers over each key's sorted times, never enumerated, and the
    accounts of each key by a stable sort (compiled: :func:`_sorted_stats`). Cost
    ``O(n log n)``; the sort by (key, time) is skipped when the actions already are in
    that order (checked in ``O(n)``).
    """
    k = np.asarray(k, dtype=np.int64)
    a = np.asarray(a, dtype=np.int64)
    t = np.asarray(t, dtype=np.int64)
    w = np.asarray(window_us, dtype=np.int64)
    if not _is_sorted(k, t):
        order = np.lexsort((t, k))
        k, a, t, w = k[order], a[order], t[order], w[order]
        del order
    n = k.shape[0]
    runs = np.flatnonzero(np.r_[True, k[1:] != k[:-1]]) if n else np.zeros(0, dtype=np.int64)
    starts = np.append(runs, n).astype(np.int64)
    pi, near, actors, inc_run, inc_a, inc_m = _sorted_stats(
        starts, np.ascontiguousarray(a), np.ascontiguousarray(t), np.ascontiguousarray(w)
    )
    if runs.shape[0] == n_keys:  # codes 0 .. n_keys - 1, each with actions: runs are keys
        return KeyStats(pi, actors, inc_run, inc_a, inc_m, near)
    key_of_run = k[runs]
    out = KeyStats(np.zeros(n_keys), np.zeros(n_keys, dtype=np.int64), key_of_run[inc_run],
                   inc_a, inc_m, np.zeros(n_keys))  # fmt: skip
    out.pi[key_of_run] = pi
    out.actors[key_of_run] = actors
    out.near[key_of_run] = near
    return out


@jit
def _sorted_stats(
    starts: IntArray, a: IntArray, t: IntArray, w: IntArray
) -> tuple[FloatArray, FloatArray, IntArray, IntArray, IntArray, IntArray]:
    """Compute, per run of one key's actions sorted by time, what :func:`key_stats` returns.

    Run ``r`` is positions ``starts[r]:starts[r + 1]``, with the window ``w`` of its first
    action. Returns per run ``π`` and its in-window different-account pairs, its distinct
    accounts, and the (run, account, actions) rows sorted by run and account. Two
    pointers per run count the in-window pairs; a stable sort of the run's accounts (time
    order kept within an account) gives the accounts and, by two pointers again, the
    pairs of one account with itself. Cost ``O(n log m)`` for runs of at most ``m``
    actions.
    """
    n_runs = starts.shape[0] - 1
    n = a.shape[0]
    pi = np.zeros(n_runs)
    near = np.zeros(n_runs)
    actors = np.zeros(n_runs, dtype=np.int64)
    inc_run = np.empty(n, dtype=np.int64)
    inc_a = np.empty(n, dtype=np.int64)
    inc_m = np.empty(n, dtype=np.int64)
    longest = 1
    for r in range(n_runs):
        longest = max(longest, starts[r + 1] - starts[r])
    acc = np.empty(longest, dtype=np.int64)
    pos = np.empty(longest, dtype=np.int64)
    rows = 0
    for r in range(n_runs):
        s = starts[r]
        e = starts[r + 1]
        m = e - s
        if m == 1:  # one action: one account, no pair
            inc_run[rows] = r
            inc_a[rows] = a[s]
            inc_m[rows] = 1
            rows += 1
            actors[r] = 1
            continue
        win = w[s]
        q = s
        pairs = 0
        for p in range(s, e):
            if q <= p:
                q = p + 1
            while q < e and t[q] - t[p] <= win:
                q += 1
            pairs += q - p - 1
        for i in range(m):
            acc[i] = a[s + i]
            pos[i] = s + i
        msort(acc[:m], pos[:m])  # by account, stably: time order within each account
        i = 0
        same = 0
        squares = 0
        while i < m:
            j = i + 1
            while j < m and acc[j] == acc[i]:
                j += 1
            cnt = j - i
            inc_run[rows] = r
            inc_a[rows] = acc[i]
            inc_m[rows] = cnt
            rows += 1
            actors[r] += 1
            squares += cnt * cnt
            if cnt > 1:  # this account's own pairs within the window
                qq = i
                for x in range(i, j):
                    if qq <= x:
                        qq = x + 1
                    while qq < j and t[pos[qq]] - t[pos[x]] <= win:
                        qq += 1
                    same += qq - x - 1
            i = j
        near[r] = np.float64(pairs - same)
        n_k = np.float64(m)
        n_diff = (n_k * n_k - np.float64(squares)) / 2.0
        if n_diff > 0:
            pi[r] = min(1.0, max(0.0, near[r] / n_diff))
    inc = (inc_run[:rows].copy(), inc_a[:rows].copy(), inc_m[:rows].copy())
    return pi, near, actors, inc[0], inc[1], inc[2]


def _is_sorted(k: IntArray, t: IntArray) -> bool:
    """Whether the actions are in (key, time) order (``O(n)``)."""
    if k.shape[0] < 2:
        return True
    dk = k[1:] - k[:-1]
    return bool(np.all((dk > 0) | ((dk == 0) & (t[1:] >= t[:-1]))))


@dataclass
class Model:
    """The popularity-and-activity null: ``μ_ak = x_a · y_k`` expected actions of ``a`` on ``k``.

    ``x_a = n_a / √N`` and ``y_k = n_k / √N`` (``n_a`` actions of the account, ``n_k`` of
    the key, ``N`` in total), so expected activity and popularity equal the observed
    (Chung & Lu 2002, bipartite, on actions). ``tables[h]`` holds ``z_k = y_k² π_k`` sorted
    with prefix sums, for the keys of half ``h`` (0, 1) and for all keys (2).
    """

    x: FloatArray
    tables: list[tuple[FloatArray, FloatArray]]
    #: per table: units sorted by ``y``, their ``y``, ``π`` and the prefix sums of ``y²π``
    by_y: list[tuple[FloatArray, FloatArray, FloatArray]] | None = None


def fit_model(
    n_actor: FloatArray,
    n_key: FloatArray,
    pi: FloatArray,
    half: npt.NDArray[np.int8],
    *,
    total: float | None = None,
    x: FloatArray | None = None,
) -> Model:
    """Fit the model of :class:`Model` for one signal.

    Parameters
    ----------
    n_actor : ndarray
        Actions of each account (0 for accounts without any).
    n_key, pi, half : ndarray
        Actions of each key, its π and the halves of the split it has actions in (bit
        mask: 1 = half 0, 2 = half 1, 3 = both).
    total : float, optional
        The number of actions ``N`` the activities and popularities are shares of
        (default: the sum of ``n_key``).
    x : ndarray, optional
        ``n_actor / √N`` computed already (the models of several signals share it);
        default: computed here.

    Notes
    -----
    Cost ``O(K log K)`` (one sort of the keys per table). Memory: about 80 bytes per key
    with ``π_k > 0``; keys with ``π_k = 0`` are left out of the tables (they add 0 to every
    sum).
    """
    total = float(n_key.sum()) if total is None else total
    root = np.sqrt(total) if total > 0 else 1.0
    y = n_key / root
    # a unit with π_k = 0 (most are one account's: 93 % at 30 days × 1M events) adds
    # nothing to any sum the model answers, so the tables leave it out: in ascending z it
    # would sit among the leading zeros, and prefix sums skip an exact 0.0 unchanged
    live = (pi > 0) & (y > 0)
    if not live.all():
        y, pi, half = y[live], pi[live], half[live]
    z = y * y * pi
    # one sort per array; each half's table is the subsequence of its keys (a stable
    # sort of a subset is the subset of the stable sort)
    by_z = np.argsort(z, kind="stable")
    by_yk = np.argsort(y, kind="stable")
    keeps = [(half & (1 << h)) != 0 for h in (0, 1)] + [np.ones(y.shape[0], dtype=bool)]
    tables = [_prefix_table(z[by_z[keep[by_z]]]) for keep in keeps]
    by_y = [_by_y(y, pi, by_yk[keep[by_yk]]) for keep in keeps]
    if x is None:
        x = np.asarray(n_actor / root, dtype=np.float64)
    return Model(x, tables, by_y)


def _by_y(
    y: FloatArray, pi: FloatArray, order: IntArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Popularity ``y`` and ``π`` of the keys ``order`` (sorted by ``y``), with prefix sums."""
    ys = y[order]
    ps = pi[order]
    return ys, ps, np.concatenate((np.zeros(1), np.cumsum(ys * ys * ps)))


def group_unit_bound(model: Model, big_x: FloatArray, size: FloatArray, table: int) -> FloatArray:
    """``Σ_k min(M, X·y_k) · min(1, X·y_k·π_k)`` for every group (``X = Σ x_a``, ``M`` size).

    Bounds the expected number of members that act on unit ``k`` within ``W`` of another
    member, summed over the units of ``table``: a member acts with probability at most
    ``min(1, x_a y_k)`` (so at most ``min(M, X y_k)`` of them), and given that, another
    member is within ``W`` with probability at most ``min(1, X y_k π_k)``. Units with
    ``y_k < 1/X`` (almost all) fall in the linear part ``X² y_k² π_k``, summed by prefix
    sums; the few more popular units are summed directly, group by group.
    """
    if model.by_y is None:
        raise ValueError("model fitted without the units sorted by popularity")
    ys, ps, cum = model.by_y[table]
    out = np.zeros(big_x.shape[0])
    for i in range(big_x.shape[0]):  # per candidate group (a few hundred at most)
        xg = float(big_x[i])
        if xg <= 0:
            continue
        cut = int(np.searchsorted(ys, 1.0 / xg, side="left"))
        head = xg * xg * cum[cut]
        y_top = ys[cut:]
        tail = np.minimum(size[i], xg * y_top) * np.minimum(1.0, xg * y_top * ps[cut:])
        out[i] = head + float(tail.sum())
    return out


def unit_bound(x: FloatArray, size: FloatArray, y: FloatArray, pi: FloatArray) -> FloatArray:
    """Compute the per-unit term of :func:`group_unit_bound`, elementwise."""
    return np.asarray(np.minimum(size, x * y) * np.minimum(1.0, x * y * pi), dtype=np.float64)


def _prefix_table(zs: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``z`` sorted (given sorted) and its prefix sums."""
    return zs, np.concatenate((np.zeros(1), np.cumsum(zs)))


def expected_cooc(model: Model, a: IntArray, b: IntArray, table: int) -> FloatArray:
    """``E_ab = Σ_k min(1, μ_ak μ_bk π_k)`` over the keys of ``table``.

    An upper bound of the expected number of keys on which ``a`` and ``b`` co-act if each
    acted independently (Poisson numbers of actions with means ``μ``, the key's own timing
    ``π_k``): ``P(co-act on k) <= E[in-window pairs on k] = μ_ak μ_bk π_k``, and ``<= 1``.
    The cap is what keeps accounts that both caught a flash-viral post from looking
    surprising: the post's term saturates at 1 instead of vanishing as in a model of rare
    events. Cost ``O(log K)`` per pair (prefix sums over ``z_k = y_k² π_k`` sorted).
    """
    return capped_sum(model, model.x[a] * model.x[b], table)


def capped_sum(model: Model, c: FloatArray, table: int) -> FloatArray:
    """``Σ_k min(1, c · z_k)`` for every ``c`` (prefix sums; ``O(log K)`` each).

    With ``c = x_a x_b`` it is :func:`expected_cooc`; with ``c = Σ_{pairs of G} x_a x_b``
    it bounds the expected number of keys on which some pair of group ``G`` co-acts
    (union bound over the pairs inside each key, capped at 1 per key).
    """
    zs, cum = model.tables[table]
    with np.errstate(divide="ignore"):
        cut = np.searchsorted(zs, np.where(c > 0, 1.0 / np.maximum(c, 1e-300), np.inf))
    return np.asarray(c * cum[cut] + (zs.shape[0] - cut), dtype=np.float64)


def common_keys(pairs: pl.DataFrame, incidence: pl.DataFrame) -> pl.DataFrame:
    """Find the common keys of the given pairs, intersected from the side with fewer keys.

    Parameters
    ----------
    pairs : polars.DataFrame
        ``pid`` (pair id), ``a``, ``b`` (account codes), ``da``, ``db`` (their distinct keys).
    incidence : polars.DataFrame
        ``a``, ``k``, ``m`` (actions of account ``a`` on key ``k``), restricted to the
        accounts of ``pairs`` or not.

    Returns
    -------
    polars.DataFrame
        ``pid, k, ma, mb``: one row per common key. Cost ``O(Σ min(d_a, d_b))`` rows
        (hash joins); the full bipartite projection is never built.
    """
    small_a = pl.col("da") <= pl.col("db")
    side = pairs.select(
        "pid",
        pl.when(small_a).then("a").otherwise("b").alias("s"),
        pl.when(small_a).then("b").otherwise("a").alias("o"),
        small_a.alias("swap_back"),
    )
    inc = incidence.select("a", "k", "m")
    rows = side.join(inc.rename({"a": "s", "m": "ms"}), on="s", how="inner")
    rows = rows.join(inc.rename({"a": "o", "m": "mo"}), on=["o", "k"], how="inner")
    return rows.select(
        "pid",
        "k",
        pl.when("swap_back").then("ms").otherwise("mo").alias("ma"),
        pl.when("swap_back").then("mo").otherwise("ms").alias("mb"),
    )


def conditional_tail(lam: FloatArray, x: FloatArray) -> FloatArray:
    """``P(Poisson(λ) >= x) / (1 − e^{−λ})``, clipped to 1: the p-value given ``X >= 1``.

    Pairs (and groups) are only looked at because they co-acted at least once, so the
    test conditions on that selection. Under the null ``X`` is a sum of independent
    Bernoulli(q_k) (Poisson-binomial); the Poisson tail bounds its upper tail for
    ``x >= λ + 1`` (Hoeffding 1956; Anderson & Samuels 1967) and
    ``P(X >= 1) = 1 − Π(1 − q_k) >= 1 − e^{−λ}``, so the ratio is conservative.
    ``x <= 1`` gives 1: a single co-action is never evidence.
    """
    lam = np.maximum(lam, 1e-300)
    tail = stats.poisson.sf(x - 1.0, lam)
    denom = -np.expm1(-lam)
    return np.asarray(np.minimum(1.0, tail / denom), dtype=np.float64)
