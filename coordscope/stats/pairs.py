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
the pairs whose smallest achievable p-value is below 1 (:func:`edge_table`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from coordscope.parts import PartedTable, WorkDir
from coordscope.schema import EDGE_SCHEMA, SIGNIFICANCE_COLUMNS
from coordscope.stats import null
from coordscope.stats.evidence import PairCount
from coordscope.stats.multiple import benjamini_hochberg, simes
from coordscope.stats.units import Units, code_of

__all__ = ["NullContext", "edge_table", "pair_tests", "signal_model"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class NullContext:
    """What the null models of the pair and group tests are computed from.

    Attributes
    ----------
    units : coordscope.stats.units.Units
        The coded actions and the unit statistics.
    incidence : polars.DataFrame
        ``a, k, m, s``: actions of every account on every unsaturated unit
        (:func:`coordscope.stats.evidence.incidence`).
    scheduled : ndarray of bool
        The clock-driven accounts (:func:`coordscope.stats.units.scheduled_accounts`).
    models : dict of int to coordscope.stats.null.Model
        The popularity-and-activity model of each signal index, fitted on first use by
        :func:`signal_model` (the frame is frozen; this cache fills in place).
    """

    units: Units
    incidence: pl.DataFrame
    scheduled: npt.NDArray[np.bool_]
    models: dict[int, null.Model] = field(default_factory=dict)


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
    models = nulls.models
    if s in models:
        return models[s]
    incidence = nulls.incidence
    units = nulls.units
    m_all = incidence["m"].to_numpy().astype(np.float64)
    n_actor: FloatArray = np.bincount(
        incidence["a"].to_numpy(), weights=m_all, minlength=units.n_accounts
    ).astype(np.float64, copy=False)
    sel = incidence["s"].to_numpy() == s
    n_key: FloatArray = np.bincount(
        incidence["k"].to_numpy()[sel], weights=m_all[sel], minlength=units.key_sig.shape[0]
    ).astype(np.float64, copy=False)
    keys = np.flatnonzero(units.key_sig == s)
    models[s] = null.fit_model(
        n_actor, n_key[keys], units.ks.pi[keys], units.key_half[keys], total=float(m_all.sum())
    )
    return models[s]


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
        results.append(_test_pairs(cand, nulls, model, signal=s, half=None))
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
        pl.col("e").sum().alias("expected"),
    )
    out = combined.join(best, on="pid", how="left")
    return out.select("pid", "a", "b", "p", "ps", "pc"), out.select("a", "b", "expected")


def edge_table(
    count: PairCount,
    cand_edges: pl.DataFrame,
    pair_p: pl.DataFrame,
    pair_expected: pl.DataFrame,
    nulls: NullContext,
    *,
    alpha: float,
    work: WorkDir,
) -> tuple[PartedTable, int]:
    """Join the pair tests to the edges: p, BH q, significance and the evidence label.

    Only candidate pairs (``cand_edges``, a few) can have ``p < 1``: they are joined with
    the tests; every other edge was written by the counting pass with ``p = q = 1``. BH
    runs over the hypotheses that could be rejected: the edges whose two accounts each
    acted in at least two unsaturated units (Tarone 1990; Gilbert 2005) — a pair where one
    account has a single unit can only reach ``p = 1``.

    Parameters
    ----------
    count : coordscope.stats.evidence.PairCount
        The counting pass: spilled non-candidate edges, candidate pairs.
    cand_edges : polars.DataFrame
        The candidate edges (:func:`coordscope.stats.evidence.co_actions`).
    pair_p, pair_expected : polars.DataFrame
        The tests of :func:`pair_tests`.
    nulls : NullContext
        Gives the account codes and the incidence.
    alpha : float
        The false-discovery rate (``significant = qvalue <= alpha``).
    work : WorkDir
        Where the pieces of the table live.

    Returns
    -------
    edges : PartedTable
        :data:`~coordscope.schema.EDGE_SCHEMA` then
        :data:`~coordscope.schema.SIGNIFICANCE_COLUMNS`: the edges with ``p < 1`` sorted
        by ``pvalue`` then ids (one piece in memory), then the others by ids (``a < b``
        codes follow id order, so integer sorts give the id order; pieces on disk).
        ``evidence`` says which null a significant edge passed at the BH cut: ``sync``,
        ``cooc`` or ``sync+cooc``.
    n_hypotheses : int
        The number of hypotheses BH counted.

    Notes
    -----
    Cost ``O(C log C)`` for ``C`` candidates, plus one rewrite of the pieces that
    untested candidates join; the non-candidate edges are never all in memory.
    """
    actor_codes = nulls.units.actor_codes
    n = actor_codes.height
    degree = np.bincount(nulls.incidence["a"].to_numpy(), minlength=n)
    a_c = code_of("actor_a", actor_codes, cand_edges)
    b_c = code_of("actor_b", actor_codes, cand_edges)
    # Tarone: a pair where one account has a single key can only reach p = 1
    multi = degree >= 2
    n_hyp = count.n_testable + int((multi[a_c.to_numpy()] & multi[b_c.to_numpy()]).sum())
    p = pair_p["p"].to_numpy()
    q = benjamini_hochberg(p, m=max(n_hyp, p.shape[0]))
    sig = q <= alpha
    cut = float(p[sig].max()) if sig.any() else 0.0
    ps, pc = pair_p["ps"].to_numpy(), pair_p["pc"].to_numpy()
    label = np.where(
        ~sig,
        "",
        np.where((ps <= cut) & (pc <= cut), "sync+cooc", np.where(ps <= cut, "sync", "cooc")),
    )
    tested = (
        pair_p.select("a", "b")
        .with_columns(
            pl.Series("pvalue", p),
            pl.Series("qvalue", q),
            pl.Series("significant", sig),
            pl.Series("evidence", label, dtype=pl.String),
        )
        .join(pair_expected, on=["a", "b"], how="left")
    )
    pid = (pl.col("a") * (n + 1) + pl.col("b")).alias("_pid")
    cand = (
        cand_edges.with_columns(a_c.alias("a"), b_c.alias("b"))
        .join(tested, on=["a", "b"], how="left")
        .with_columns(
            pl.col("pvalue").fill_null(1.0),
            pl.col("qvalue").fill_null(1.0),
            pl.col("significant").fill_null(False),
            pl.col("evidence").fill_null(""),
            pid,
        )
    )
    schema = pl.Schema({**EDGE_SCHEMA, **SIGNIFICANCE_COLUMNS})
    columns = list(schema)
    low = cand.filter(pl.col("pvalue") < 1.0).sort(["pvalue", "a", "b"]).select(columns)
    # untested candidates go back among the other edges, in pair-code order
    high = (
        cand.filter(pl.col("pvalue") >= 1.0)
        .with_columns(count.piece_of(pl.col("a")).alias("_q"))
        .select([*columns, "_pid", "_q"])
        .cast({**schema, "_pid": pl.Int64})  # type: ignore[dict-item]
    )
    pieces: list[pl.DataFrame | Path] = [low.cast(schema)]
    by_piece = high.partition_by("_q", as_dict=True, include_key=False)
    for index, single in enumerate(count.single):
        extra = by_piece.get((index,))
        if extra is None or extra.height == 0:
            pieces.append(single)
            continue
        merged = pl.concat([pl.read_parquet(single), extra]).sort("_pid")
        path = work.file(f"edges-q{index:05d}")
        merged.write_parquet(path, compression="lz4", statistics=False)
        single.unlink(missing_ok=True)
        pieces.append(path)
        del merged
    table = PartedTable(
        pieces,
        {**schema, "_pid": pl.Int64()},
        transform=lambda lf: lf.select(columns),
        owner=work,
    )
    return table, n_hyp


def _test_pairs(
    cand: pl.DataFrame,
    nulls: NullContext,
    model: null.Model,
    *,
    signal: int,
    half: int | None,
) -> pl.DataFrame:
    """Compute the sync and co-occurrence p-values of the pairs ``cand`` on one signal.

    ``cand`` holds ``a, b, x``; ``half`` restricts the units to one half of the split
    (``None``: all units). Returns ``a, b, p, ps, pc, lam, e`` (``lam`` = ``λ_ab``,
    ``e`` = ``E_ab``).
    """
    incidence = nulls.incidence
    units = nulls.units
    n_accounts = units.n_accounts
    ia = incidence["a"].to_numpy()
    sel = incidence["s"].to_numpy() == signal
    if half is not None:
        sel &= units.key_half[incidence["k"].to_numpy()] == half
    deg = np.bincount(ia[sel], minlength=n_accounts)
    pairs = cand.with_columns(
        (pl.col("a") * (n_accounts + 1) + pl.col("b")).alias("pid"),
        pl.Series("da", deg[cand["a"].to_numpy()]),
        pl.Series("db", deg[cand["b"].to_numpy()]),
    )
    member = np.zeros(n_accounts, dtype=bool)
    member[cand["a"].to_numpy()] = True
    member[cand["b"].to_numpy()] = True
    common = null.common_keys(pairs, incidence.filter(pl.Series(sel & member[ia])))
    # q per (pair, unit) computed in numpy, then summed per pair in a fixed order (a
    # literal Series inside an aggregation would be evaluated once per group)
    k_np = common["k"].to_numpy()
    q = 1.0 - (1.0 - units.ks.pi[k_np]) ** (common["ma"].to_numpy() * common["mb"].to_numpy())
    lam = (
        common.select("pid", "k")
        .with_columns(pl.Series("q", q, dtype=pl.Float64))
        .sort(["pid", "k"])
        .group_by("pid", maintain_order=True)
        .agg(pl.col("q").sum().alias("lam"))
    )
    pairs = pairs.join(lam, on="pid", how="left").with_columns(pl.col("lam").fill_null(0.0))
    table = 2 if half is None else half
    e = null.expected_cooc(model, pairs["a"].to_numpy(), pairs["b"].to_numpy(), table)
    xv = pairs["x"].to_numpy()
    ps = null.conditional_tail(pairs["lam"].to_numpy(), xv)
    pc = null.conditional_tail(e, xv)
    p = np.minimum(1.0, 2.0 * np.minimum(ps, pc))
    return pairs.select("a", "b").with_columns(
        pl.Series("p", p), pl.Series("ps", ps), pl.Series("pc", pc),
        pairs["lam"].alias("lam"), pl.Series("e", e),
    )  # fmt: skip
