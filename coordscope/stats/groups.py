"""Group tests: candidate groups found on one half of the time blocks, tested on the other.

A squad with partial participation or rotating members gives each pair weak evidence and
the group strong evidence. Time is cut into blocks of
:data:`~coordscope.stats.units.SPLIT_BLOCK_S` seconds, each assigned to one of two halves
by a seeded hash. On half A, pairs with at least two co-acted units form a candidate graph;
its communities (:func:`coordscope.stats.communities.communities`, seeded Louvain inside
large components) of at least three members are candidate groups, tested on half B only
(the selection does not bias the test); then the halves swap, and groups found twice are
merged (:func:`group_tests`).

References
----------
Bennett, G. (1962). Probability inequalities for the sum of independent random
variables. *J. Amer. Statist. Assoc.* 57(297), 33–45.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from coordscope.parts import PartedTable
from coordscope.schema import GROUP_SCHEMA
from coordscope.stats import null
from coordscope.stats.communities import communities
from coordscope.stats.multiple import benjamini_hochberg
from coordscope.stats.pairs import NullContext, signal_model, unit_sizes
from coordscope.stats.units import MINUTE_US, Units

__all__ = ["group_tests", "half_counts"]

_MIN_GROUP: Final = 3
_MAX_GROUP: Final = 50
#: Significant groups whose pairs across co-act at least this share as densely as the
#: pairs inside the sparser of them are one campaign (:func:`_join_campaigns`).
_CAMPAIGN_TIES: Final = 0.5

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class _Totals:
    """Action totals the group expectation is computed from (unsaturated units only).

    ``n_total`` the actions of each signal index, ``n_all`` their sum; for the units with
    at least two accounts (``units``, ascending codes), ``unit_n`` their actions,
    ``unit_d`` their different-account action pairs and ``unit_p`` those within the
    window (``π·D``).
    """

    n_total: dict[int, float]
    n_all: float
    units: npt.NDArray[np.int64]
    unit_n: FloatArray
    unit_d: FloatArray
    unit_p: FloatArray

    def index(self, k: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Return the positions of the unit codes ``k`` (all among :attr:`units`)."""
        return np.searchsorted(self.units, k)


def half_counts(ev: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Reduce coded evidence to what the group tests read, one pair partition at a time.

    Parameters
    ----------
    ev : polars.DataFrame
        Coded evidence (:func:`coordscope.stats.evidence.coded_evidence`) of whole pairs.

    Returns
    -------
    graph : polars.DataFrame
        ``a, b, h, x``: the pairs with ``x >= 2`` co-acted units (clock co-actions
        excepted) in half ``h`` (0 or 1) of the split, sorted by ``(a, b, h)``: the edges
        of the candidate graphs.
    live : polars.DataFrame
        ``a, b, key``: the evidence rows that are not clock co-actions (``key`` the unit
        code), in the order of ``ev``.
    """
    live = ev.filter(~pl.col("clock"))
    graph = (
        live.group_by(["a", "b", "h"])
        .agg(pl.len().alias("x"))
        .filter((pl.col("h") >= 0) & (pl.col("x") >= 2))
        .sort(["a", "b", "h"])
    )
    return graph, live.select("a", "b", "key")


def group_tests(
    graph: pl.DataFrame, live: PartedTable, nulls: NullContext, *, seed: int, alpha: float
) -> pl.DataFrame:
    """Find candidate groups on one half of the time blocks and test them on the other.

    Statistic ``T_g``: over the units' actions in the test half, the number of (unit,
    member) such that the member acted within the window ``W`` (inclusive) of another
    member in that unit, clock co-actions excepted. It is computed from the members' own
    actions, so pairs that co-acted only once count too.

    Expectation ``μ_g``: under the popularity-and-activity model each member acts
    independently, so per unit ``E[Y_k] <= min(M, X·y_k)·min(1, X·y_k·π_k)`` — at most
    ``min(M, X·y_k)`` of the ``M`` members act, and each finds a partner within ``W``
    with probability at most ``X·y_k·π_k`` — with ``X`` the members' actions and ``y_k``
    the unit's, both over ``√N`` (``N`` = all actions on unsaturated units). ``μ_g`` sums
    that bound over the test half's units of every signal
    (:func:`coordscope.stats.null.group_unit_bound`), then recomputes it with the group
    **left out** of the units it acted in: ``y_k`` without the members' actions, and
    ``π_k`` as the unit's in-window action pairs less one per pair of members with
    evidence on the unit, over its different-account action pairs less the members' own
    (clipped to ``[0, 1]``). Content pushed only by the group does not explain itself
    (contamination). ``μ_g`` is clipped at 0.

    Units are independent and ``Y_k ∈ [0, M]``, so Bennett's (1962) inequality gives
    ``p = exp(−(μ/M)·h((T − μ)/μ))``, ``h(u) = (1 + u)·ln(1 + u) − u`` (1 when
    ``T <= μ``). Benjamini–Hochberg runs over every group tested in both directions;
    groups sharing at least half of the smaller one's members are then merged
    (:func:`_merge_groups`).

    Parameters
    ----------
    graph : polars.DataFrame
        ``a, b, h, x`` of every pair partition (:func:`half_counts`), concatenated in
        pair order.
    live : coordscope.parts.PartedTable
        ``a, b, key`` of every pair partition (:func:`half_counts`); only the rows
        between members of a candidate group are read.
    nulls : NullContext
        The null models' inputs; every signal's model is fitted into it.
    seed : int
        Seeds Louvain (``seed`` on half 0, ``seed + 1`` on half 1).
    alpha : float
        The false-discovery rate (``significant = qvalue <= alpha``).

    Returns
    -------
    polars.DataFrame
        :data:`~coordscope.schema.GROUP_SCHEMA`, one row per (merged) group, sorted by
        ``pvalue`` then the order groups were found in; ``group`` numbers the rows.

    Notes
    -----
    Cost: a sort of the evidence, a community search per half on its candidate graph,
    and joins over the members' actions and incidence rows per signal.
    """
    units = nulls.units
    for s in range(len(units.signals)):  # a handful
        signal_model(nulls, s)
    totals = _totals(nulls)
    rows: list[pl.DataFrame] = []
    next_id = 0
    for found in (0, 1):  # find on one half, test on the other
        test = 1 - found
        # sorted by pair: the community search must see the graph in a fixed order
        half_graph = graph.filter(pl.col("h") == found).select("a", "b", "x")
        if half_graph.height == 0:
            continue
        comm = _candidates(half_graph, seed=seed + found)
        if comm.height == 0:
            continue
        comm = comm.with_columns((pl.col("g") + next_id).alias("g"))
        next_id = int(comm["g"].max()) + 1  # type: ignore[arg-type]
        gid = np.sort(comm["g"].unique().to_numpy())
        size = (
            comm.group_by("g").agg(pl.len().cast(pl.Float64).alias("n")).sort("g")["n"].to_numpy()
        )
        stat = _statistic(comm, units, nulls.scheduled, test=test)
        exp = _expectation(comm, live, nulls, totals, gid, size, test=test)
        expected = pl.DataFrame({"g": gid, "expected": np.maximum(exp, 0.0)})
        members = (
            comm.join(units.ids, on="a", how="left")
            .group_by("g")
            .agg(pl.col("actor_id").sort().alias("members"))
        )
        rows.append(
            members.join(expected, on="g", how="left")
            .join(stat, on="g", how="left")
            .with_columns(pl.col("statistic").fill_null(0.0))
        )
    if not rows:
        return pl.DataFrame(schema=GROUP_SCHEMA)
    table = pl.concat(rows).sort("g")
    p = _bennett(
        table["statistic"].to_numpy(),
        table["expected"].to_numpy(),
        table["members"].list.len().to_numpy().astype(np.float64),
    )
    q = benjamini_hochberg(p)
    table = table.with_columns(
        pl.Series("pvalue", p), pl.Series("qvalue", q), pl.Series("significant", q <= alpha)
    )
    table = _merge_groups(table)
    table = _join_campaigns(table, live, units.ids)
    table = table.sort(["pvalue", "g"]).with_columns(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("group")
    )
    return table.select(list(GROUP_SCHEMA)).cast(GROUP_SCHEMA)  # type: ignore[arg-type]


def _totals(nulls: NullContext) -> _Totals:
    """Sum the actions per signal and per unit, and count each unit's action pairs.

    Only the units with at least two accounts are tabulated: the corrections of
    :func:`_expectation` are 0 on a unit of one account (``π = 0`` and no pairs).
    """
    inc = nulls.units.incidence
    n_total = {s: float(inc.per_signal[s]) for s in nulls.models}
    n_all = float(sum(n_total.values()))
    units, unit_n = unit_sizes(inc.shared)
    _, unit_s2 = unit_sizes(inc.shared.select("k", pl.col("m") * pl.col("m")))
    unit_d = (unit_n**2 - unit_s2) / 2.0
    unit_p = nulls.units.pi[units] * unit_d  # in-window different-account pairs of each unit
    return _Totals(n_total, n_all, units, unit_n, unit_d, unit_p)


def _candidates(graph: pl.DataFrame, *, seed: int) -> pl.DataFrame:
    """Return ``a, g``: the members of the communities of at least three accounts.

    ``graph`` holds ``a, b, x`` (account codes, co-acted units); communities larger than
    ``_MAX_GROUP`` are split by seeded Louvain.
    """
    comm = communities(
        graph.select(
            pl.col("a").cast(pl.String).alias("actor_a"),
            pl.col("b").cast(pl.String).alias("actor_b"),
            pl.col("x").cast(pl.Float64).alias("n_keys"),
        ),
        seed=seed,
        max_size=_MAX_GROUP,
    ).select(pl.col("actor_id").cast(pl.Int64).alias("a"), pl.col("community").alias("g"))
    sizes = comm.group_by("g").agg(pl.len().alias("n"))
    return comm.join(sizes.filter(pl.col("n") >= _MIN_GROUP), on="g", how="semi")


def _statistic(
    comm: pl.DataFrame, units: Units, scheduled: npt.NDArray[np.bool_], *, test: int
) -> pl.DataFrame:
    """Return ``g, statistic``: ``T_g`` of every group with at least one partnered member.

    A member has a partner in a unit iff one of its actions is next (in time order) to
    another member's action within ``W``, unless both lie on a whole minute and both
    accounts are scheduled (a clock co-action).
    """
    acts = (
        units.coded.join(comm, on="a", how="inner")
        .filter(pl.col("hb") == test)
        .sort(["g", "k", "t", "a"])
    )
    acts = acts.with_columns(pl.Series("w", units.windows_of(acts["k"].to_numpy())))
    w_of = pl.col("w")
    on_grid = pl.lit(pl.Series("sched", scheduled)).gather(pl.col("a")) & (
        pl.col("t") % MINUTE_US == 0
    )
    return (
        acts.filter(_near(1, w_of, on_grid) | _near(-1, w_of, on_grid))
        .select("g", "k", "a")
        .unique()
        .group_by("g")
        .agg(pl.len().cast(pl.Float64).alias("statistic"))
    )


def _near(step: int, w_of: pl.Expr, on_grid: pl.Expr) -> pl.Expr:
    """Flag the actions ``step`` rows apart from another member's, same group and unit.

    True when the two actions are of different accounts, within ``w_of`` microseconds
    (inclusive) and not both on the grid of scheduled accounts (``on_grid``).
    """
    other = pl.col("a").shift(step)
    same = (pl.col("g") == pl.col("g").shift(step)) & (pl.col("k") == pl.col("k").shift(step))
    close = (pl.col("t") - pl.col("t").shift(step)).abs() <= w_of
    clock = on_grid & on_grid.shift(step)
    return (same & close & (pl.col("a") != other) & ~clock).fill_null(False)


def _expectation(
    comm: pl.DataFrame,
    live: PartedTable,
    nulls: NullContext,
    totals: _Totals,
    gid: npt.NDArray[np.int64],
    size: FloatArray,
    *,
    test: int,
) -> FloatArray:
    """Return ``μ_g`` (before clipping at 0) for the groups ``gid`` of sizes ``size``.

    Per signal: the bound over the test half's units from the fitted model, then, on the
    units the group acted in, the difference between the bound with the group left out
    and the bound with it. Summed over signals in index order. ``live`` is the coded
    evidence without clock co-actions; its rows between two members of a group are what
    the leave-out subtracts from a unit's in-window pairs. A crowded unit has no evidence
    rows, so its group pairs stay in: ``μ_g`` is larger there (conservative).
    """
    units = nulls.units
    half_s = pl.Series("half", units.key_half)
    activity = pl.Series("n_a", units.incidence.activity)
    act = (
        comm.with_columns(pl.lit(activity).gather(pl.col("a")))
        .filter(pl.col("n_a") > 0)
        .group_by("g")
        .agg(pl.col("n_a").sum().alias("S"))
    )
    # the members' units of several accounts: on a unit of one account the bound is 0
    # with the group or without it (π = 0), so its correction is 0
    g_members = comm.join(units.incidence.shared, on="a", how="inner")
    root = float(np.sqrt(totals.n_all))
    big_x = np.zeros(gid.shape[0])
    big_x[np.searchsorted(gid, act["g"].to_numpy())] = act["S"].to_numpy() / root
    # evidence rows between two members of the same group, per unit
    members = comm["a"].unique()
    inner = live.filter(pl.col("a").is_in(members.implode()) & pl.col("b").is_in(members.implode()))
    cg = inner.join(comm.rename({"g": "ga"}), on="a").join(
        comm.rename({"a": "b", "g": "gb"}), on="b"
    )
    cg = (
        cg.filter(pl.col("ga") == pl.col("gb"))
        .group_by(["ga", "key"])
        .agg(pl.len().cast(pl.Float64).alias("cg"))
        .rename({"ga": "g", "key": "k"})
    )
    exp = np.zeros(gid.shape[0])
    for s in range(len(units.signals)):  # per signal (a handful)
        if totals.n_total[s] <= 0:
            continue
        # E[members with a partner in unit k] <= min(M, X y_k) · min(1, X y_k π_k)
        exp += null.group_unit_bound(nulls.models[s], big_x, size, test)
        # corrections on the units the group acted in (test half)
        gk = (
            g_members.filter(
                (pl.col("s") == s) & ((pl.lit(half_s).gather(pl.col("k")) & (1 << test)) != 0)
            )
            .group_by(["g", "k"])
            .agg(
                pl.col("m").sum().cast(pl.Float64).alias("ng"),
                (pl.col("m").cast(pl.Float64) ** 2).sum().alias("s2g"),
            )
        )
        if gk.height == 0:
            continue
        # sorted: the float sum below must not depend on the group-by's row order
        gk = (
            gk.join(cg, on=["g", "k"], how="left")
            .with_columns(pl.col("cg").fill_null(0.0))
            .sort(["g", "k"])
        )
        kk = gk["k"].to_numpy()
        j = totals.index(kk)
        ng = gk["ng"].to_numpy()
        dg = (ng**2 - gk["s2g"].to_numpy()) / 2.0
        rest_d = totals.unit_d[j] - dg
        with np.errstate(invalid="ignore", divide="ignore"):
            pi_rest = np.where(
                rest_d > 0,
                (totals.unit_p[j] - gk["cg"].to_numpy()) / np.maximum(rest_d, 1e-300),
                0,
            )
        pi_rest = np.clip(pi_rest, 0.0, 1.0)
        gi = np.searchsorted(gid, gk["g"].to_numpy())
        y_old = totals.unit_n[j] / root
        y_new = np.maximum(totals.unit_n[j] - ng, 0.0) / root
        m_g = size[gi]
        corr = null.unit_bound(big_x[gi], m_g, y_new, pi_rest) - null.unit_bound(
            big_x[gi], m_g, y_old, units.pi[kk]
        )
        exp += np.bincount(gi, weights=corr, minlength=gid.shape[0])
    return exp


def _merge_groups(table: pl.DataFrame) -> pl.DataFrame:
    """Merge groups that share at least half of the smaller one's members.

    The two directions of the split usually find the same campaign twice. A merged group
    has the union of the members and the test figures of its most significant part
    (each part was tested on its own held-out half; BH already counted every part).
    """
    if table.height <= 1:
        return table
    n = table.height
    long = table.select(pl.int_range(n).alias("i"), "members").explode("members")
    size = table["members"].list.len().to_numpy()
    shared = (
        long.join(long.rename({"i": "j"}), on="members")
        .filter(pl.col("i") < pl.col("j"))
        .group_by(["i", "j"])
        .agg(pl.len().alias("n"))
    )
    i = shared["i"].to_numpy()
    j = shared["j"].to_numpy()
    ok = shared["n"].to_numpy() * 2 >= np.minimum(size[i], size[j])
    return _collapse(table, i[ok], j[ok])


def _collapse(
    table: pl.DataFrame, i: npt.NDArray[np.int64], j: npt.NDArray[np.int64]
) -> pl.DataFrame:
    """Merge the rows of ``table`` that the links ``i — j`` (row numbers) connect.

    Links are transitive (connected components). A merged row has the union of the
    members and the ``g`` and test figures of its most significant part (smallest
    ``pvalue``, then ``g``); the rows come in the order of their components' first rows.
    """
    n = table.height
    graph = sp.coo_matrix((np.ones(i.shape[0]), (i, j)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    return (
        table.with_columns(pl.Series("_c", label))
        .sort(["_c", "pvalue", "g"])
        .group_by("_c", maintain_order=True)
        .agg(
            pl.col("g").first(),
            pl.col("members").list.explode().unique().sort().alias("members"),
            *(pl.col(c).first() for c in ("statistic", "expected", "pvalue", "qvalue")),
            pl.col("significant").first(),
        )
        .drop("_c")
    )


def _join_campaigns(table: pl.DataFrame, live: PartedTable, ids: pl.DataFrame) -> pl.DataFrame:
    """Join significant groups whose members co-act across them as they do within them.

    A campaign of a hundred accounts or more, each push made by a small rotating subset,
    is cut by the community search into parts of at most ``_MAX_GROUP`` members, and
    each part is significant on its own: one campaign, several clusters. What tells the
    parts of one campaign from two campaigns (or a campaign and a community that happens
    to be significant) is whether their members keep co-acting with each other: two
    significant groups ``i`` and ``j`` are joined when the share of account pairs across
    them that co-acted (at least one evidence row, clock co-actions excepted) is at
    least :data:`_CAMPAIGN_TIES` of the share inside the sparser of the two,
    ``d_ij >= c · min(d_i, d_j)``. Parts of one random rotation are about as dense
    across as within (ratio ~1); separate campaigns share almost no pair (ratio ~0).
    Joins are transitive (connected components). An account in several significant
    groups counts in the most significant one.

    Only significant groups are joined, so no group becomes significant by joining,
    and the joined group keeps the test figures of its most significant part (each part
    was tested, and counted by Benjamini–Hochberg, on its own).
    """
    flagged = table.filter("significant").sort(["pvalue", "g"])
    if flagged.height < 2:
        return table
    long = (
        flagged.select(pl.int_range(pl.len()).alias("i"), "members")
        .explode("members")
        .rename({"members": "actor_id"})
        .join(ids.select("a", "actor_id"), on="actor_id", how="inner", maintain_order="left")
        .unique("a", keep="first", maintain_order=True)
    )
    codes = long["a"].implode()
    pairs = (
        live.filter(pl.col("a").is_in(codes) & pl.col("b").is_in(codes)).select("a", "b").unique()
    )
    part = long.select("a", "i")
    tied = (
        pairs.join(part.rename({"i": "ia"}), on="a")
        .join(part.rename({"a": "b", "i": "ib"}), on="b")
        .select(
            pl.min_horizontal("ia", "ib").alias("lo"), pl.max_horizontal("ia", "ib").alias("hi")
        )
        .group_by(["lo", "hi"])
        .agg(pl.len().cast(pl.Float64).alias("n"))
    )
    n = flagged.height
    size = np.bincount(long["i"].to_numpy(), minlength=n).astype(np.float64)
    inside = tied.filter(pl.col("lo") == pl.col("hi"))
    within = np.zeros(n)
    lo_in = inside["lo"].to_numpy()
    within[lo_in] = inside["n"].to_numpy() / np.maximum(size[lo_in] * (size[lo_in] - 1) / 2, 1)
    across = tied.filter(pl.col("lo") < pl.col("hi"))
    lo = across["lo"].to_numpy()
    hi = across["hi"].to_numpy()
    density = across["n"].to_numpy() / np.maximum(size[lo] * size[hi], 1)
    ok = density >= _CAMPAIGN_TIES * np.minimum(within[lo], within[hi])
    if not ok.any():  # nothing to join
        return table
    joined = _collapse(flagged, lo[ok], hi[ok])
    return pl.concat([joined, table.filter(~pl.col("significant"))])


def _bennett(t: FloatArray, mu: FloatArray, bound: FloatArray) -> FloatArray:
    """Bound ``P(T >= t)`` by Bennett's (1962) inequality.

    For a sum of independent variables in ``[0, M]`` (``M`` = ``bound``) with mean at most
    ``μ`` (variance ``<= M·μ``): ``exp(−(μ/M)·h((t − μ)/μ))``, ``h(u) = (1 + u)·ln(1 + u)
    − u``; 1 when ``t <= μ``.
    """
    mu = np.maximum(mu, 1e-12)
    u = np.maximum(t - mu, 0.0) / mu
    h = (1.0 + u) * np.log1p(u) - u
    return np.asarray(np.where(t > mu, np.exp(-(mu / bound) * h), 1.0), dtype=np.float64)
