"""Pair tests: synchrony and co-occurrence nulls per signal, Simes, the edge table with BH.

For every signal and every candidate pair ``a, b`` with ``X_ab >= 2`` co-acted units (clock
co-actions left out), two Poisson tails conditional on ``X_ab >= 1``
(:func:`coordscope.stats.null.conditional_tail`):

- synchrony given co-occurrence: ``λ_ab = Σ_{k∈K_ab} 1 − (1 − π_k)^(m_ak·m_bk)`` over the
  units both accounts acted in;
- co-occurrence under popularity and activity: ``E_ab`` from the signal's model
  (:func:`signal_model`, :func:`coordscope.stats.null.expected_cooc`).

Per signal ``p_s = min(1, 2·min(p_sync, p_cooc))``; signals combine by Simes over the
signals the pair co-acted on (:func:`pair_tests`); Benjamini–Hochberg q-values run over
the pairs whose smallest achievable p-value is below 1. The tests run one pair partition
at a time (:func:`pair_tests`, :func:`partition_edges`); only the edges with ``p < 1``
are held until Benjamini–Hochberg has seen every partition (:func:`rank_edges`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from coordscope.schema import EDGE_SCHEMA, SIGNIFICANCE_COLUMNS
from coordscope.stats import null
from coordscope.stats.multiple import benjamini_hochberg, simes
from coordscope.stats.units import Units, code_of

__all__ = [
    "CODED_EDGE_SCHEMA",
    "NullContext",
    "insert_edges",
    "pair_tests",
    "partition_edges",
    "rank_edges",
    "signal_model",
]

#: An edge row with ``p = q = 1`` (untested, or tested without reaching below 1) before
#: its account ids and signal names are looked up (they are, as the edge table is read):
#: account codes ``lo < hi`` in place of the ids, the bit mask ``sig`` of the signals in
#: place of their list, and ``expected`` (null when untested); ``pvalue = qvalue = 1``,
#: ``significant = False`` and ``evidence = ""`` are the same for every such row and are
#: added as it is read.
CODED_EDGE_SCHEMA: Final = pl.Schema(
    {
        "lo": pl.Int64(),
        "hi": pl.Int64(),
        **{c: t for c, t in EDGE_SCHEMA.items() if c not in ("actor_a", "actor_b", "signals")},
        "sig": pl.Int64(),
        "expected": SIGNIFICANCE_COLUMNS["expected"],
    }
)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class NullContext:
    """What the null models of the pair and group tests are computed from.

    Attributes
    ----------
    units : coordscope.stats.units.Units
        The coded actions, the unit statistics and the (unit, account) incidence.
    scheduled : ndarray of bool
        The clock-driven accounts (:func:`coordscope.stats.units.scheduled_accounts`).
    models : dict of int to coordscope.stats.null.Model
        The popularity-and-activity model of each signal index, fitted on first use by
        :func:`signal_model` (the frame is frozen; this cache fills in place).
    """

    units: Units
    scheduled: npt.NDArray[np.bool_]
    models: dict[int, null.Model] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def n_units_of(self) -> npt.NDArray[np.int64]:
        """Unsaturated units each account code acted in."""
        return self.units.incidence.n_units_of

    def signal_incidence(self, s: int) -> pl.DataFrame:
        """Return signal ``s``'s incidence rows sorted by account (computed once).

        ``a, k, m`` of the signal's units that at least two accounts acted in (the only
        ones two accounts can have in common: at 30 days most units are one account's),
        sorted by ``(a, k)``: an account's rows are a run, found by binary search
        (:func:`account_runs`).
        """
        cache: dict[int, pl.DataFrame] = self.__dict__.setdefault("_by_signal", {})
        with self._lock:  # several threads ask at once: sort once
            if s not in cache:
                cache[s] = (
                    self.units.incidence.shared.filter(pl.col("s") == s)
                    .select("a", "k", "m")
                    .sort(["a", "k"])
                )
            return cache[s]

    def activity_x(self, total: float) -> FloatArray:
        """Return every account's activity as a share, ``x_a = n_a / √total`` (computed once).

        The same for every signal's model (activity counts all signals), so the models
        share one array. Called by :func:`signal_model`, which holds the lock.
        """
        if "_x" not in self.__dict__:
            root = np.sqrt(total) if total > 0 else 1.0
            self.__dict__["_x"] = np.asarray(self.units.incidence.activity / root, dtype=np.float64)
        x: FloatArray = self.__dict__["_x"]
        return x


def account_runs(
    a_sorted: npt.NDArray[np.int64], accounts: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Return where each account's run starts in ``a_sorted`` and its length.

    ``a_sorted`` is the (sorted) account column of :meth:`NullContext.signal_incidence`;
    cost ``O(log n)`` an account.
    """
    first = np.searchsorted(a_sorted, accounts, side="left")
    size = np.searchsorted(a_sorted, accounts, side="right") - first
    return first.astype(np.int64, copy=False), size.astype(np.int64, copy=False)


def signal_model(nulls: NullContext, s: int) -> null.Model:
    """Return the popularity-and-activity model of signal ``s``, fitted once.

    Activity ``x_a`` counts the account's actions over *all* audited signals and
    popularity ``y_k`` the unit's actions, both as shares of all actions (indexed by the
    global account and unit codes): on a sparse signal whose actions are mostly the
    campaign's own (near-duplicate texts), activity within that signal would make the
    campaign explain itself.

    Parameters
    ----------
    nulls : NullContext
        The incidence and the unit statistics; the model is kept in ``nulls.models``.
    s : int
        The signal index.

    Returns
    -------
    coordscope.stats.null.Model

    Notes
    -----
    Cost ``O(rows + K log K)`` for ``rows`` incidence rows and ``K`` units, on first use.
    """
    with nulls._lock:  # partitions are tested on several threads: fit each model once
        if s not in nulls.models:
            nulls.models[s] = _fit_signal_model(nulls, s)
        return nulls.models[s]


def _fit_signal_model(nulls: NullContext, s: int) -> null.Model:
    # units with pi = 0 add nothing to the model (fit_model leaves them out), and a
    # unit of one account has pi = 0: the units with several accounts are all it needs
    units = nulls.units
    keys, n_key = unit_sizes(units.incidence.shared.filter(pl.col("s") == s))
    total = float(units.incidence.total)
    return null.fit_model(
        units.incidence.activity,
        n_key,
        units.pi[keys],
        units.key_half[keys],
        total=total,
        x=nulls.activity_x(total),
    )


def unit_sizes(rows: pl.DataFrame) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """Return the units of (unit, account) rows sorted by unit, and their actions.

    ``rows`` holds ``k, m`` sorted by ``k`` (:attr:`coordscope.stats.units.Incidence.shared`
    or a part of it); returns ``(k, n)``: the distinct units in ascending order and the
    sum of ``m`` over each (whole numbers, as floats).
    """
    k = rows["k"].to_numpy()
    if k.shape[0] == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    starts = np.flatnonzero(np.concatenate(([True], k[1:] != k[:-1])))
    n = np.add.reduceat(rows["m"].to_numpy(), starts).astype(np.float64)
    return k[starts], n


def pair_tests(ev: pl.DataFrame, nulls: NullContext) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Test every pair with ``X_s >= 2`` on some signal; combine its signals by Simes.

    Parameters
    ----------
    ev : polars.DataFrame
        Coded evidence (:func:`coordscope.stats.evidence.coded_evidence`); clock
        co-actions are left out.
    nulls : NullContext
        The null models' inputs; the models of the signals tested are fitted into it.

    Returns
    -------
    pair_p : polars.DataFrame
        ``pid, a, b, p, ps, pc``: one row per pair tested on at least one signal; ``p``
        the Simes combination over every signal the pair co-acted on (signals with
        ``X_s < 2`` count with ``p = 1``), ``ps`` and ``pc`` the smallest synchrony and
        co-occurrence tails over its signals; ``pid = a·(A + 1) + b``.
    pair_expected : polars.DataFrame
        ``a, b, expected``: ``Σ_s E_ab`` of the same pairs.

    Notes
    -----
    Cost ``O(E)`` for ``E`` evidence rows, plus ``Σ min(d_a, d_b)`` common-unit rows over
    the tested pairs (:func:`coordscope.stats.null.common_keys`).
    """
    n_accounts = nulls.units.n_accounts
    x = (
        ev.filter(~pl.col("clock"))
        .group_by(["a", "b", "s"])
        .agg(pl.len().cast(pl.Float64).alias("x"))
    )
    tested = x.filter(pl.col("x") >= 2)
    if tested.height == 0:
        empty = pl.DataFrame(
            schema={"a": pl.Int64, "b": pl.Int64, "p": pl.Float64, "ps": pl.Float64,
                    "pc": pl.Float64, "pid": pl.Int64}
        )  # fmt: skip
        return empty, pl.DataFrame(schema={"a": pl.Int64, "b": pl.Int64, "expected": pl.Float64})
    results = []
    for s in range(len(nulls.units.signals)):  # loop over signals (a handful)
        cand = tested.filter(pl.col("s") == s)
        if cand.height == 0:
            continue
        model = signal_model(nulls, s)
        results.append(_test_pairs(cand, nulls, model, signal=s))
    per_signal = pl.concat(results)
    # the signals a pair co-acted on but could not be tested on count in Simes with p = 1
    ones = (
        x.filter(pl.col("x") < 2)
        .join(tested.select("a", "b").unique(), on=["a", "b"], how="semi")
        .select("a", "b", pl.lit(1.0).alias("p"), pl.lit(1.0).alias("ps"), pl.lit(1.0).alias("pc"),
                pl.lit(0.0).alias("lam"), pl.lit(0.0).alias("e"))
    )  # fmt: skip
    per_signal = pl.concat([per_signal.select(ones.columns), ones])
    per_signal = per_signal.with_columns(
        (pl.col("a") * (n_accounts + 1) + pl.col("b")).alias("pid")
    )
    combined = simes(per_signal, by="pid")
    best = per_signal.group_by("pid").agg(
        pl.col("a").first(),
        pl.col("b").first(),
        pl.col("ps").min(),
        pl.col("pc").min(),
    )
    expected = _ordered_sums(
        per_signal["pid"].to_numpy(),
        per_signal["e"].to_numpy(),
        per_signal["e"].to_numpy(),
        name="expected",
    )
    out = combined.join(best, on="pid", how="left").join(expected, on="pid", how="left")
    return out.select("pid", "a", "b", "p", "ps", "pc"), out.select("a", "b", "expected")


def partition_edges(
    cand_edges: pl.DataFrame,
    pair_p: pl.DataFrame,
    pair_expected: pl.DataFrame,
    cand_sig: pl.DataFrame,
    nulls: NullContext,
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Join the pair tests of one pair partition to its candidates' edges.

    The edges that cannot be significant (``p = 1``: not tested, or tested without
    reaching below 1) are final already (``q = 1``; :func:`insert_edges` puts them among
    the partition's other final edges); the others wait for Benjamini–Hochberg over every
    partition (:func:`rank_edges`).

    Parameters
    ----------
    cand_edges : polars.DataFrame
        :data:`~coordscope.schema.EDGE_SCHEMA` rows of the partition's candidate pairs
        (:func:`coordscope.stats.evidence.edges_from_evidence`).
    pair_p, pair_expected : polars.DataFrame
        The partition's tests (:func:`pair_tests`).
    cand_sig : polars.DataFrame
        ``lo, hi, sig``: the candidates' codes and the bit mask of their signals.
    nulls : NullContext
        Gives the account codes and the accounts' units.

    Returns
    -------
    high : polars.DataFrame
        The candidates' edges with ``p = 1``: :data:`CODED_EDGE_SCHEMA`, in pair-code
        order (which is id order).
    low : polars.DataFrame
        The edges with ``p < 1``: :data:`~coordscope.schema.EDGE_SCHEMA`, ``a, b``
        (codes), ``p, ps, pc, expected``.
    n_hypotheses : int
        Candidate pairs whose two accounts each acted in at least two unsaturated units
        (the hypotheses they add to Benjamini–Hochberg).

    Notes
    -----
    Cost ``O(C log C)`` for the ``C`` candidate pairs of the partition.
    """
    actor_codes = nulls.units.actor_codes
    a_c = code_of("actor_a", actor_codes, cand_edges)
    b_c = code_of("actor_b", actor_codes, cand_edges)
    # Tarone: a pair where one account has a single unit can only reach p = 1
    multi = nulls.n_units_of >= 2
    n_hyp = int((multi[a_c.to_numpy()] & multi[b_c.to_numpy()]).sum())
    tested = pair_p.select("a", "b", "p", "ps", "pc").join(pair_expected, on=["a", "b"], how="left")
    cand = cand_edges.with_columns(a_c.alias("a"), b_c.alias("b")).join(
        tested, on=["a", "b"], how="left"
    )
    below = pl.col("p").fill_null(1.0) < 1.0
    low = cand.filter(below).select([*EDGE_SCHEMA, "a", "b", "p", "ps", "pc", "expected"])
    high = (
        cand.filter(~below)  # p = 1 exactly (p-values are at most 1), or untested
        .join(cand_sig.rename({"lo": "a", "hi": "b"}), on=["a", "b"], how="left")
        .with_columns(pl.col("a").alias("lo"), pl.col("b").alias("hi"))
        .select(list(CODED_EDGE_SCHEMA))
        .cast(dict(CODED_EDGE_SCHEMA))  # type: ignore[arg-type]
        .sort("lo", "hi")
    )
    return high, low, n_hyp


def insert_edges(rest: pl.DataFrame, high: pl.DataFrame, *, n_accounts: int) -> pl.DataFrame:
    """Put the rows of ``high`` among those of ``rest`` in pair-code order.

    Both are :data:`CODED_EDGE_SCHEMA` rows of one pair partition, each in pair-code
    order, with no pair in both. One gather (polars' sort and ``merge_sorted`` took four
    times longer); ``n_accounts`` is the number of account codes. Cost ``O(R + H log R)``.
    """
    if not high.height:
        return rest
    at = np.searchsorted(_pair_ids(rest, n_accounts), _pair_ids(high, n_accounts))
    order = np.insert(
        np.arange(rest.height, dtype=np.int64), at, rest.height + np.arange(high.height)
    )
    return pl.concat([rest, high], rechunk=True)[pl.Series(order)]


def _pair_ids(edges: pl.DataFrame, n_accounts: int) -> npt.NDArray[np.int64]:
    """Return ``lo·(A + 1) + hi`` of every row: increasing in pair-code order."""
    lo = edges["lo"].to_numpy().astype(np.int64, copy=False)
    hi = edges["hi"].to_numpy().astype(np.int64, copy=False)
    out: npt.NDArray[np.int64] = lo * (n_accounts + 1) + hi
    return out


def rank_edges(
    low: pl.DataFrame, *, n_hypotheses: int, n_tested: int, alpha: float
) -> pl.DataFrame:
    """Benjamini–Hochberg over the pairs tested in every partition; rank those with p < 1.

    BH runs over the hypotheses that could be rejected: the edges whose two accounts each
    acted in at least two unsaturated units (Tarone 1990; Gilbert 2005) — a pair where one
    account has a single unit can only reach ``p = 1``. Pairs with ``p = 1`` need not be
    present: their q-value is 1 and they leave the others' unchanged.

    Parameters
    ----------
    low : polars.DataFrame
        Every partition's ``low`` rows (:func:`partition_edges`).
    n_hypotheses : int
        The hypotheses BH counts (at least ``n_tested``).
    n_tested : int
        The pairs tested (any p-value).
    alpha : float
        The false-discovery rate (``significant = qvalue <= alpha``).

    Returns
    -------
    polars.DataFrame
        :data:`~coordscope.schema.EDGE_SCHEMA` then
        :data:`~coordscope.schema.SIGNIFICANCE_COLUMNS`, sorted by ``pvalue`` then ids
        (``a < b`` codes follow id order, so integer sorts give the id order).
        ``evidence`` says which null a significant edge passed at the BH cut: ``sync``,
        ``cooc`` or ``sync+cooc``.

    Notes
    -----
    Cost ``O(L log L)`` for the ``L`` rows with ``p < 1``.
    """
    schema = pl.Schema({**EDGE_SCHEMA, **SIGNIFICANCE_COLUMNS})
    p = low["p"].to_numpy()
    q = benjamini_hochberg(p, m=max(n_hypotheses, n_tested, p.shape[0]))
    sig = q <= alpha
    cut = float(p[sig].max()) if sig.any() else 0.0
    ps, pc = low["ps"].to_numpy(), low["pc"].to_numpy()
    label = np.where(
        ~sig,
        "",
        np.where((ps <= cut) & (pc <= cut), "sync+cooc", np.where(ps <= cut, "sync", "cooc")),
    )
    return (
        low.with_columns(
            pl.col("p").alias("pvalue"),
            pl.Series("qvalue", q, dtype=pl.Float64),
            pl.Series("significant", sig, dtype=pl.Boolean),
            pl.Series("evidence", label, dtype=pl.String),
        )
        .sort(["pvalue", "a", "b"])
        .select(list(schema))
        .cast(dict(schema))  # type: ignore[arg-type]
    )


def _ordered_sums(
    group: npt.NDArray[np.int64],
    order: npt.NDArray[np.generic],
    values: npt.NDArray[np.float64],
    *,
    name: str,
) -> pl.DataFrame:
    """Sum ``values`` per ``group``, adding each group's values in ascending ``order``.

    A float sum depends on the order of its terms; this one is fixed by the data alone, not
    by how rows were cut into chunks or threads. Returns ``pid`` (the groups, ascending)
    and ``name``. Cost ``O(n log n)``.
    """
    if group.shape[0] == 0:
        return pl.DataFrame(schema={"pid": pl.Int64, name: pl.Float64})
    sort = np.lexsort((order, group))
    g = group[sort]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    sums = np.add.reduceat(values[sort].astype(np.float64), starts)
    return pl.DataFrame(
        {"pid": g[starts].astype(np.int64), name: sums},
        schema={"pid": pl.Int64, name: pl.Float64},
    )


def _test_pairs(
    cand: pl.DataFrame,
    nulls: NullContext,
    model: null.Model,
    *,
    signal: int,
) -> pl.DataFrame:
    """Compute the sync and co-occurrence p-values of the pairs ``cand`` on one signal.

    ``cand`` holds ``a, b, x``; every unit of the signal counts. Returns
    ``a, b, p, ps, pc, lam, e`` (``lam`` = ``λ_ab``, ``e`` = ``E_ab``).
    """
    units = nulls.units
    n_accounts = units.n_accounts
    rows = nulls.signal_incidence(signal)
    a_sorted = rows["a"].to_numpy()
    pairs = cand.with_columns(
        (pl.col("a") * (n_accounts + 1) + pl.col("b")).alias("pid"),
        pl.Series("da", account_runs(a_sorted, cand["a"].to_numpy())[1]),
        pl.Series("db", account_runs(a_sorted, cand["b"].to_numpy())[1]),
    )
    # the incidence rows of the pairs' accounts only: contiguous runs of the sorted rows
    member = np.unique(np.concatenate([cand["a"].to_numpy(), cand["b"].to_numpy()]))
    first, size = account_runs(a_sorted, member)
    offsets = np.repeat(first - np.cumsum(size) + size, size)
    take = offsets + np.arange(offsets.shape[0], dtype=np.int64)
    common = null.common_keys(pairs, rows[take])
    # q per (pair, unit) computed in numpy, then summed per pair in a fixed order (a
    # literal Series inside an aggregation would be evaluated once per group)
    k_np = common["k"].to_numpy()
    q = 1.0 - (1.0 - units.pi[k_np]) ** (common["ma"].to_numpy() * common["mb"].to_numpy())
    lam = _ordered_sums(common["pid"].to_numpy(), common["k"].to_numpy(), q, name="lam")
    pairs = pairs.join(lam, on="pid", how="left").with_columns(pl.col("lam").fill_null(0.0))
    e = null.expected_cooc(model, pairs["a"].to_numpy(), pairs["b"].to_numpy(), 2)
    xv = pairs["x"].to_numpy()
    ps = null.conditional_tail(pairs["lam"].to_numpy(), xv)
    pc = null.conditional_tail(e, xv)
    p = np.minimum(1.0, 2.0 * np.minimum(ps, pc))
    return pairs.select("a", "b").with_columns(
        pl.Series("p", p), pl.Series("ps", ps), pl.Series("pc", pc),
        pairs["lam"].alias("lam"), pl.Series("e", e),
    )  # fmt: skip
