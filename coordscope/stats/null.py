"""Null-model kernels of the significance stage (design.md §6); private, inputs trusted.

Everything works on integer codes: ``k`` a key code (one per (signal, key)), ``a`` an
account code, ``t`` a time in microseconds. No loop over rows, keys, pairs or accounts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy import stats

from coordscope.engine.kernel import window_ends

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
    pairs. Counted with :func:`coordscope.engine.kernel.window_ends`, never enumerated.
    Cost ``O(n log n)``; the sort by (key, time) is skipped when the actions already are
    in that order (checked in ``O(n)``).
    """
    k = np.asarray(k, dtype=np.int64)
    a = np.asarray(a, dtype=np.int64)
    t = np.asarray(t, dtype=np.int64)
    if _is_sorted(k, t):
        n_in = _band_counts(k, t, window_us, n_keys)
    else:
        order = np.lexsort((t, k))
        n_in = _band_counts(k[order], t[order], window_us[order], n_keys)
        del order
    n_k = np.bincount(k, minlength=n_keys).astype(np.float64)
    # (key, account) multiplicities; pairs of one account with itself
    base = int(a.max()) + 1 if a.shape[0] else 1
    ka = k * base + a
    uniq, inv, m = _unique_counts(ka)
    key_of = uniq // base
    sum_m2 = np.bincount(key_of, weights=m.astype(np.float64) ** 2, minlength=n_keys)
    actors = np.bincount(key_of, minlength=n_keys).astype(np.int64)
    rep = m[inv] > 1  # actions of an account acting on the key more than once
    n_same = np.zeros(n_keys)
    if rep.any():
        idx = np.flatnonzero(rep)
        o2 = idx[np.lexsort((t[idx], ka[idx]))]
        n_same = _band_counts(ka[o2], t[o2], window_us[o2], n_keys, group_key=k[o2])
    n_diff = (n_k**2 - sum_m2) / 2.0
    near = np.asarray(n_in - n_same, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        pi = np.where(n_diff > 0, near / np.where(n_diff > 0, n_diff, 1.0), 0.0)
    return KeyStats(
        np.clip(pi, 0.0, 1.0), actors, key_of, uniq - key_of * base, m.astype(np.int64), near
    )


def _unique_counts(values: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """``np.unique(values, return_inverse=True, return_counts=True)``, faster on runs.

    A stable argsort (numpy's timsort/radix sort) takes runs already in order at nearly
    linear cost: (key, account) codes of actions sorted by key are sorted but within each
    key, and were ordered four times faster than by ``np.unique``'s quicksort.
    """
    n = values.shape[0]
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    first = np.ones(n, dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, n)).astype(np.int64)
    return ordered[starts], inverse, counts


def _is_sorted(k: IntArray, t: IntArray) -> bool:
    """Whether the actions are in (key, time) order (``O(n)``)."""
    if k.shape[0] < 2:
        return True
    dk = k[1:] - k[:-1]
    return bool(np.all((dk > 0) | ((dk == 0) & (t[1:] >= t[:-1]))))


def _band_counts(
    groups: IntArray,
    ts: IntArray,
    window_us: IntArray,
    n_keys: int,
    *,
    group_key: IntArray | None = None,
) -> FloatArray:
    """In-window pair counts per key for actions sorted by (group, t); windows per key."""
    if ts.shape[0] == 0:
        return np.zeros(n_keys)
    keys = groups if group_key is None else group_key
    w = window_us  # per action
    out = np.zeros(n_keys)
    for win in np.unique(w).tolist():  # one pass per distinct window (a handful)
        sel = np.flatnonzero(w == win)
        ends = window_ends(groups[sel], ts[sel], int(win))
        counts = ends - np.arange(sel.shape[0]) - 1
        out += np.bincount(keys[sel], weights=counts.astype(np.float64), minlength=n_keys)
    return out


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
