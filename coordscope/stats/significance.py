"""Significance of account pairs and groups under explicit null models (design.md §6).

Units
-----
Co-actions are counted per *unit*: a maximal run of one (signal, key)'s actions whose
consecutive gaps are at most ``W`` (a burst, design.md §7). Every co-action lies inside
one unit. A key pushed once is one unit; a hashtag pushed in ten separate bursts is ten.
A unit is *saturated* when at least :data:`SATURATED_ACTORS` accounts acted in it and
``π >= SATURATED_PI`` (a flash-viral burst): any two of its sharers co-act by chance,
its ~n²/2 pairs carry no evidence, and they are not enumerated (counted in
``counts["saturated_units"]``).

What is tested
--------------
For every signal and every pair of accounts ``a, b`` that co-acted, the statistic is
``X_ab`` = the units they co-acted in (same unit, ``|Δt| <= W``), counting a pair of
events once across signals (a retweet carries the original's links and hashtags), minus
*clock co-actions* (below). Two nulls are asked separately:

1. **Synchrony given co-occurrence.** For unit ``k``, ``π_k`` = the share of its
   different-account action pairs within ``W`` (exact, from the sorted times). Given the
   units ``K_ab`` both accounts acted in (``m_ak``, ``m_bk`` actions),
   ``q_abk = 1 − (1 − π_k)^(m_ak·m_bk)`` and ``λ_ab = Σ_{k∈K_ab} q_abk``. Robust to
   virality and shared interests; blind to content shared only by the group (π_k = 1).
2. **Co-occurrence under popularity and activity.** Each account picks units
   independently with ``p_ak = min(1, x_a y_k)`` (``x`` from the account's actions over
   all audited signals, ``y`` from the unit's, both as shares of all actions: a capped
   Chung–Lu bipartite model; activity within one sparse signal, such as near-duplicate
   texts, would be mostly the campaign's own) and acts with the unit's timing
   (π_k): ``E_ab = Σ_k min(1, p_ak p_bk π_k)`` over *all* units (prefix sums, no
   projection). The cap keeps low-activity accounts that caught a flash-viral post from
   looking surprising. The statistic is still the synchronized co-actions ``X_ab``:
   co-occurrence alone (homophily) never makes an edge.

Both p-values are Poisson tails *conditional on* ``X_ab >= 1`` (the pair is only looked at
because it co-acted): ``p = P(Pois(λ) >= X) / (1 − e^{−λ})``, conservative (see
:func:`coordscope.stats.null.conditional_tail`); a single co-action is never evidence.
Per signal ``p_s = min(1, 2·min(p_sync, p_cooc))`` (Bonferroni over the two nulls);
signals combine by Simes (valid under positive dependence; Simes 1986) over the signals
the pair co-acted on; Benjamini–Hochberg (1995) q-values over the pairs whose smallest
achievable p-value is below 1 (Tarone 1990 / Gilbert 2005): pairs where either account has
a single unit are left out (``X <= 1`` always gives 1).

Only pairs with two co-acted units of one signal can be tested, so every pair is first
counted without evidence (the kernel's fast path) and the per-(pair, unit) evidence and
the common units (intersected from the side with fewer units) are built for those
candidate pairs only. A pair with as many co-acted units as signals had one per signal
(a retweet carries a share, a link and a hashtag: one occasion, three units).

Groups
------
Time is cut into blocks of :data:`SPLIT_BLOCK_S` seconds, each block assigned to one of
two halves by a seeded hash, so all the actions of an event fall in one half. On half A,
pairs with at least two co-acted units form a candidate graph; its communities
(:func:`coordscope.stats.communities.communities`, seeded Louvain inside large components)
with at least three members are candidate groups, tested on half B only (the selection
does not bias the test), then the halves swap and groups found twice are merged.

Statistic ``T_g`` = Σ over half-B units of the members that acted within ``W`` of another
member there (rotating members, each pair weak, add up). Under the null each member acts
independently, so per unit ``E[Y_k] <= min(M, X y_k)·min(1, X y_k π_k)`` (``M`` = group
size, ``X = Σ_members x_a``: at most that many members act, and each finds a partner
within ``W`` with probability at most ``X y_k π_k``) and ``μ_g = Σ_k`` of that
(:func:`coordscope.stats.null.group_unit_bound`), computed with the group **left
out** of the units it acted in: a unit's popularity without the members' actions, its π
without the members' in-window pairs — content pushed only by the group does not explain itself
(contamination). Units are independent and ``Y_k ∈ [0, M]``, so Bennett's inequality
gives ``p = exp(−(μ/M)·h((T − μ)/μ))``, ``h(u) = (1+u)ln(1+u) − u``. BH over every group
tested. Flagged accounts are the members of significant groups.

Clock co-actions
----------------
Accounts with at least 5 actions of which at least 80 % fall exactly on a whole minute
are *scheduled* (organic accounts: 1 in 60 by chance). A co-action of two scheduled
accounts at the same whole minute is explained by their clocks (news bots following the
same feed, design.md §6 hard negatives) and is not counted as evidence.

Cost: two kernel passes (``O(n log n + P)``, the second only over candidate pairs'
accounts), ``O(n log n)`` for the unit statistics, ``O(E)`` vectorized work per edge, and
per (pair, unit) work only for candidate pairs (``Σ min(d_a, d_b)``) and candidate groups.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl

from coordscope.engine.kernel import DEFAULT_MAX_PAIRS
from coordscope.engine.native import native_pairs
from coordscope.errors import ParameterError
from coordscope.schema import (
    EDGE_SCHEMA,
    EVIDENCE_SCHEMA,
    GROUP_SCHEMA,
    SIGNALS,
    SIGNIFICANCE_COLUMNS,
    US,
)
from coordscope.stats import null
from coordscope.stats.communities import communities

__all__ = [
    "SIGNAL_WINDOWS",
    "Significance",
    "benjamini_hochberg",
    "significance",
    "simes",
]


#: Per-signal window overrides (seconds). None needed at the defaults.
SIGNAL_WINDOWS: Final[dict[str, float]] = {}


_MINUTE_US: Final = 60 * US
_SCHEDULED_SHARE: Final = 0.8
_SCHEDULED_MIN: Final = 5
_MIN_GROUP: Final = 3
_MAX_GROUP: Final = 50
_MIX: Final = 0x9E3779B97F4A7C15
_MIX2: Final = 0xC2B2AE3D27D4EB4F
_ACTOR_SEED: Final = 11

#: A unit is *saturated* — its co-actions are not enumerated — when at least
#: ``SATURATED_ACTORS`` accounts acted in it and at least ``SATURATED_PI`` of its
#: different-account pairs are within the window: a flash-viral burst, where any two
#: of its thousands of sharers co-act by chance (q >= π) and ~n²/2 pairs would be
#: enumerated for no evidence. Dropping whole units is a test on the remaining units,
#: chosen by unit-level statistics only, so it stays valid.
SATURATED_ACTORS: Final = 100
#: Length of the time blocks of the split-half group test (seconds): 6 hours.
SPLIT_BLOCK_S: Final = 6 * 3600
SATURATED_PI: Final = 0.25

FloatArray = npt.NDArray[np.float64]


@dataclass
class Significance:
    """What :func:`significance` returns (see the module docstring for the method).

    Attributes
    ----------
    edges : polars.DataFrame
        Native :data:`~coordscope.engine.native.EDGE_SCHEMA` columns followed by
        :data:`~coordscope.results.SIGNIFICANCE_COLUMNS`; one row per pair that co-acted on
        any signal (``actor_a < actor_b``), sorted by ``pvalue`` then ids.
    evidence : polars.DataFrame
        :data:`~coordscope.engine.native.EVIDENCE_SCHEMA`, one row per (pair, signal, key).
    groups : polars.DataFrame
        :data:`GROUP_SCHEMA`, one row per candidate group tested, most significant first.
    counts : dict
        Hypotheses, candidates, significant edges and groups, … (for ``summary.json``).
    timings : dict
        Seconds per stage.
    """

    edges: pl.DataFrame
    evidence: pl.DataFrame
    groups: pl.DataFrame
    counts: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def significance(
    actions: pl.DataFrame,
    *,
    window: float = 60.0,
    windows: Mapping[str, float] | None = None,
    alpha: float = 0.05,
    seed: int = 0,
    max_pairs: int = DEFAULT_MAX_PAIRS,
    partitions: int = 2,
) -> Significance:
    """Score pairs and candidate groups of accounts against the nulls of design.md §6.

    Parameters
    ----------
    actions : polars.DataFrame
        :data:`~coordscope.signals.actions.ACTION_SCHEMA` rows of every audited signal,
        concatenated (column ``signal`` says which).
    window : float, default 60.0
        ``W`` in seconds (inclusive), for signals without their own window.
    windows : mapping of str to float, optional
        Per-signal windows (seconds); defaults to :data:`SIGNAL_WINDOWS`.
    alpha : float, default 0.05
        False-discovery rate for edges and groups (``significant = qvalue <= alpha``).
    seed : int, default 0
        Seeds the key split and Louvain; same input and seed give the same output.
    max_pairs : int
        Memory budget of the kernel (co-action pairs at once).
    partitions : int, default 2
        Key-hash partitions of the kernel (threads).

    Returns
    -------
    Significance

    Raises
    ------
    ParameterError
        Window negative, alpha outside (0, 1), unknown signal in ``windows``, negative
        seed, non-positive ``max_pairs`` or ``partitions``, missing columns.

    Notes
    -----
    See the module docstring for the tests, the nulls and why they are conservative.
    Cost ``O(n log n + P)`` for ``n`` actions and ``P`` in-window pairs, plus per-key work
    only for candidate pairs and groups.
    """
    _check(actions, window, windows, alpha, seed, max_pairs, partitions)
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    signals = sorted(actions["signal"].unique().to_list())
    overrides = dict(SIGNAL_WINDOWS if windows is None else windows)
    win = {s: float(overrides.get(s, window)) for s in signals}

    if actions.height == 0:
        return Significance(
            pl.DataFrame(schema={**EDGE_SCHEMA, **SIGNIFICANCE_COLUMNS}),
            pl.DataFrame(schema=EVIDENCE_SCHEMA),
            pl.DataFrame(schema=GROUP_SCHEMA),
            {"edges": 0, "significant_edges": 0, "groups_tested": 0, "significant_groups": 0},
            timings,
        )

    # 1. units: maximal runs of a key's actions with gaps <= W; key statistics per unit
    coded, units, actor_codes = _unit_codes(actions, signals, win, seed)
    n_units = units.height
    k = coded["k"].to_numpy()
    a = coded["a"].to_numpy()
    t = coded["t"].to_numpy()
    key_sig = units["s"].to_numpy().astype(np.int64)
    w_unit = np.array([round(win[s] * US) for s in signals], dtype=np.int64)[key_sig]
    ks = null.key_stats(k, a, t, w_unit[k], n_units)  # coded is sorted by (k, t)
    saturated = (ks.actors >= SATURATED_ACTORS) & (ks.pi >= SATURATED_PI)
    keep = ~saturated[k]
    n_saturated_actions = int((~keep).sum())
    if n_saturated_actions:
        coded = coded.filter(pl.Series(keep))
    key_half = units["h"].to_numpy()
    timings["units"] = _lap(clock)
    clock = time.perf_counter()

    # 2. co-actions: every pair (no evidence), then evidence for candidate pairs only
    unit_key = np.full(actions.height, -1, dtype=np.int64)
    unit_key[coded["row"].to_numpy()] = coded["k"].to_numpy()
    single, cand_edges, evidence = _two_pass(
        actions.select("signal", "actor_id", "ts", "event_id", "event"),
        unit_key,
        coded,
        actions["key"].gather(units["row0"]),
        actor_codes,
        win,
        max_pairs=max_pairs,
        partitions=partitions,
    )
    del unit_key
    timings["native"] = _lap(clock)
    clock = time.perf_counter()

    incidence = _incidence(ks, keep_units=~saturated, key_sig=key_sig)
    n_accounts = actor_codes.height
    scheduled = _scheduled(coded, n_accounts)
    models: dict[int, null.Model] = {}
    timings["null_model"] = _lap(clock)
    clock = time.perf_counter()

    # 3. evidence rows with codes; pair-level counts
    id_codes = actor_codes.select("actor_id", "a")
    ev = _coded_evidence(evidence, id_codes, signals, seed, scheduled)
    pair_p, pair_expected = _pair_tests(
        ev, incidence, ks, key_half, key_sig, signals, n_accounts, models
    )
    timings["pairs"] = _lap(clock)
    clock = time.perf_counter()

    # 4. edges: Simes across signals, BH over testable pairs
    degree = np.bincount(incidence["a"].to_numpy(), minlength=n_accounts)
    edges_out, n_hyp = _edge_table(
        single, cand_edges, actor_codes, pair_p, pair_expected, degree, alpha
    )
    del single, cand_edges
    timings["edges"] = _lap(clock)
    clock = time.perf_counter()

    # 5. groups: split-half selection and test
    groups = _groups(
        ev,
        coded,
        incidence,
        ks,
        key_half,
        key_sig,
        w_unit,
        signals,
        id_codes,
        scheduled,
        seed,
        alpha,
        models,
    )
    timings["groups"] = _lap(clock)

    counts: dict[str, Any] = {
        "edges": edges_out.height,
        "edge_hypotheses": n_hyp,
        "edge_candidates": int(pair_p.select(pl.col("pid").n_unique()).item())
        if pair_p.height
        else 0,
        "significant_edges": int(edges_out["significant"].sum()),
        "groups_tested": groups.height,
        "significant_groups": int(groups["significant"].sum()),
        "flagged_accounts": int(
            groups.filter("significant")["members"].explode().n_unique()
            if groups["significant"].any()
            else 0
        ),
        "scheduled_accounts": int(scheduled.sum()),
        "units": n_units,
        "saturated_units": int(saturated.sum()),
        "saturated_actions": n_saturated_actions,
        "clock_coactions": int(ev["clock"].sum()),
        "windows": win,
        "alpha": alpha,
    }
    return Significance(edges_out, _key_evidence(evidence), groups, counts, timings)


# ----------------------------------------------------------------------------- helpers


def benjamini_hochberg(pvalues: FloatArray, *, m: int | None = None) -> FloatArray:
    """Benjamini–Hochberg (1995) q-values: ``q_(i) = min_{j >= i} m·p_(j) / j``, clipped to 1.

    ``m`` (default: the number of p-values) is the number of hypotheses; hypotheses not
    given are taken to have p = 1. Cost ``O(n log n)``.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    n = p.shape[0]
    total = n if m is None else max(m, n)
    if n == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    ranked = p[order] * total / np.arange(1, n + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(n)
    out[order] = np.minimum(q, 1.0)
    return out


def simes(frame: pl.DataFrame, *, by: str, p: str = "p") -> pl.DataFrame:
    """Simes' combination per group: ``min_i S·p_(i) / i`` over the ``S`` p-values of a group.

    Returns ``by`` and ``p`` (one row per group). Valid under independence and positive
    regression dependence (Simes 1986; Sarkar 1998). Vectorized (a sort and a group-by).
    """
    ranked = frame.sort([by, p]).with_columns(
        pl.int_range(1, pl.len() + 1).over(by).alias("_i"),
        pl.len().over(by).alias("_s"),
    )
    return ranked.group_by(by, maintain_order=True).agg(
        (pl.col(p) * pl.col("_s") / pl.col("_i")).min().clip(0.0, 1.0).alias(p)
    )


def _check(
    actions: pl.DataFrame,
    window: float,
    windows: Mapping[str, float] | None,
    alpha: float,
    seed: int,
    max_pairs: int,
    partitions: int,
) -> None:
    for col in ("signal", "key", "actor_id", "ts", "event_id", "event"):
        if col not in actions.columns:
            raise ParameterError(f"actions: column '{col}' is missing")
    if not window >= 0:
        raise ParameterError(f"window must be >= 0 seconds, got {window}")
    for name, value in (windows or {}).items():
        if name not in SIGNALS:
            raise ParameterError(f"windows: unknown signal '{name}'")
        if not value >= 0:
            raise ParameterError(f"windows['{name}'] must be >= 0 seconds, got {value}")
    if not 0.0 < alpha < 1.0:
        raise ParameterError(f"alpha must be in (0, 1), got {alpha}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ParameterError(f"seed must be a non-negative integer, got {seed!r}")
    if max_pairs < 1:
        raise ParameterError(f"max_pairs must be >= 1, got {max_pairs}")
    if partitions < 1:
        raise ParameterError(f"partitions must be >= 1, got {partitions}")


def _lap(start: float) -> float:
    return round(time.perf_counter() - start, 4)


def _actor_codes(actions: pl.DataFrame) -> pl.DataFrame:
    """``actor_id`` → dense code ``a`` (in sorted id order, so ``a < b`` ⇔ ids in order),
    with ``h``, a 64-bit hash of the id (collision-checked) for cheap integer joins."""
    ids = actions["actor_id"].unique().sort()
    codes = pl.DataFrame(
        {"actor_id": ids, "a": pl.int_range(ids.len(), eager=True, dtype=pl.Int64)}
    ).with_columns(pl.col("actor_id").hash(seed=_ACTOR_SEED).alias("h"))
    if codes["h"].n_unique() != codes.height:  # pragma: no cover - probability ~ n² / 2**65
        raise ParameterError("internal: 64-bit hash collision between two ids; please report")
    return codes


def _code_of(ids: pl.Expr | str, codes: pl.DataFrame, frame: pl.DataFrame) -> pl.Series:
    """The dense codes of a String column of ``frame`` (a join on the 64-bit hash)."""
    col = pl.col(ids) if isinstance(ids, str) else ids
    return (
        frame.select(col.hash(seed=_ACTOR_SEED).alias("h"))
        .join(codes.select("h", "a"), on="h", how="left", maintain_order="left")
        .get_column("a")
    )


def _unit_codes(
    actions: pl.DataFrame, signals: list[str], win: dict[str, float], seed: int
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Actions as codes ``k`` (unit), ``a`` (account), ``t`` (µs), ``event``, ``row``.

    A *unit* is a maximal run of one (signal, key)'s actions whose consecutive gaps are
    at most the signal's window (a burst, design.md §7). Every co-action lies inside one
    unit, so counting co-acted units instead of keys changes nothing for a key pushed
    once, and counts a hashtag pushed in ten separate bursts ten times. Units are
    numbered in (key hash, time) order. Returns the coded actions sorted by ``(k, t,
    row)`` (``hb`` = the half of the split its time falls in, :func:`_block_half`), the
    unit table ``k, s, row0, h`` (``row0`` = the action row of its first action, ``h`` =
    bit mask of the halves its actions fall in: 1, 2 or 3) and the actor codes
    (:func:`_actor_codes`).

    The sort and the run boundaries use the 64-bit hash of (signal, key) only (numeric
    comparisons); the hash is proven collision-free with a second, independent hash.
    Cost ``O(n log n)``.
    """
    sig_index = {s: i for i, s in enumerate(signals)}
    codes = _actor_codes(actions)
    sig = pl.col("signal").replace_strict(sig_index, return_dtype=pl.Int64)
    frame = actions.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("row"),
        sig.alias("s"),
        pl.col("ts").dt.epoch("us").alias("t"),
        pl.col("event"),
        (pl.col("key").hash(seed=3) ^ (sig.cast(pl.UInt64) * _MIX)).alias("kh"),
        (pl.col("key").hash(seed=17) ^ (sig.cast(pl.UInt64) * _MIX2)).alias("kh2"),
    ).with_columns(_code_of("actor_id", codes, actions).alias("a"))
    n_kh, n_both = frame.select(
        pl.col("kh").n_unique().alias("n"),
        (pl.col("kh") ^ (pl.col("kh2") * _MIX)).n_unique().alias("n2"),
    ).row(0)
    if n_kh != n_both:  # pragma: no cover - probability ~ n² / 2**65
        raise ParameterError("internal: 64-bit hash collision between two keys; please report")
    frame = frame.drop("kh2").sort(["kh", "t", "row"])
    kh = frame["kh"].to_numpy()
    t = frame["t"].to_numpy()
    s_np = frame["s"].to_numpy()
    w_of = np.array([round(win[s] * US) for s in signals], dtype=np.int64)
    new = np.ones(kh.shape[0], dtype=bool)
    if kh.shape[0] > 1:
        new[1:] = (kh[1:] != kh[:-1]) | ((t[1:] - t[:-1]) > w_of[s_np[1:]])
    k = np.cumsum(new, dtype=np.int64) - 1
    starts = np.flatnonzero(new)
    frame = frame.with_columns(pl.Series("k", k), _block_half("t", seed).alias("hb"))
    hb_bit = (frame["hb"].to_numpy().astype(np.int8) + 1).astype(np.int8)  # 1 or 2
    h = np.bitwise_or.reduceat(hb_bit, starts) if starts.shape[0] else hb_bit[:0]
    units = pl.DataFrame(
        {
            "k": np.arange(starts.shape[0], dtype=np.int64),
            "s": s_np[starts],
            "row0": frame["row"].to_numpy()[starts],
            "h": h.astype(np.int8),
        }
    )
    coded = frame.select("k", "a", "t", "event", "row", "hb")
    return coded, units, codes


def _block_half(column: str, seed: int) -> pl.Expr:
    """The half (0/1) of the split for a time column (µs): a seeded hash of its
    :data:`SPLIT_BLOCK_S` block.

    The groups are found on one half and tested on the other. Splitting by *time* keeps
    every action of an event — its share, its links, its hashtags — in one half, so the
    same pair of events can never be both found and tested; a campaign active on several
    days falls into both halves, and so does a hashtag pushed in many bursts.
    """
    block = pl.col(column) // (SPLIT_BLOCK_S * US)
    return (block.hash(seed=2 * seed + 13) & 1).cast(pl.Int8)


def _two_pass(
    base: pl.DataFrame,
    unit_key: npt.NDArray[np.int64],
    coded: pl.DataFrame,
    unit_keys: pl.Series,
    actor_codes: pl.DataFrame,
    win: dict[str, float],
    *,
    max_pairs: int,
    partitions: int,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Edges of every co-acting pair, and unit-level evidence of the candidate pairs.

    Pass 1 counts every pair's co-acted units without evidence (the kernel's fast path;
    the key is the Int64 unit code). Only pairs with two co-acted units of one signal can be
    evidence (one co-action never is), so pass 2 builds evidence for the candidate
    pairs only: over the actions of candidate accounts on units where at least two
    candidate accounts acted (a candidate pair's co-actions all lie there), keeping the
    rows of those pairs. Candidate pairs get key-level edge columns from the evidence
    (``n_keys`` distinct keys, ``median_dt`` over keys of the closest Δt); the others
    co-acted in exactly one unit, where units and keys agree.

    Parameters
    ----------
    base : polars.DataFrame
        ``signal, actor_id, ts, event_id, event`` of every action row.
    unit_key : ndarray of int64
        The unit code of every action row (-1: dropped, saturated).
    coded, unit_keys, actor_codes
        From :func:`_unit_codes`; ``unit_keys`` = the original key of every unit.

    Returns
    -------
    single : polars.DataFrame
        :data:`EDGE_SCHEMA` rows of the pairs with one co-acted unit (kernel order).
    cand_edges : polars.DataFrame
        :data:`EDGE_SCHEMA` rows of the candidate pairs (two co-acted units of one signal).
    evidence : polars.DataFrame
        :data:`EVIDENCE_SCHEMA` with the original keys, plus ``unit``: one row per
        candidate pair, signal and unit.
    """
    by_window: dict[float, list[str]] = {}
    for s, w in win.items():
        by_window.setdefault(w, []).append(s)
    kept = base.with_columns(pl.Series("key", unit_key)).filter(pl.col("key") >= 0)
    first: list[pl.DataFrame] = []
    for w, sigs in sorted(by_window.items()):  # a handful of windows
        part = kept if len(by_window) == 1 else kept.filter(pl.col("signal").is_in(sigs))
        first.append(
            native_pairs(
                part, window=w, max_pairs=max_pairs, partitions=partitions, evidence=False
            ).edges
        )
        del part
    del kept
    edges1 = first[0] if len(first) == 1 else _merge_edges(pl.concat(first))
    del first
    # tests are per signal and need two co-acted units of one signal: with one unit per
    # signal, n_keys equals the number of signals (a retweet co-acted on gives one share,
    # one link and one hashtag unit: one piece of evidence, not three)
    several = pl.col("n_keys") > pl.col("signals").list.len()
    cand = edges1.filter(several).select("actor_a", "actor_b")
    single = edges1.filter(~several)
    del edges1
    empty_ev = pl.DataFrame(schema={**EVIDENCE_SCHEMA, "unit": pl.Int64()})
    if cand.height == 0:
        return single, pl.DataFrame(schema=EDGE_SCHEMA), empty_ev
    # actions of candidate accounts on units with at least two candidate accounts
    cand_codes = actor_codes.join(
        pl.concat([cand["actor_a"], cand["actor_b"]]).unique().to_frame("actor_id"),
        on="actor_id",
        how="semi",
    )["a"].to_numpy()
    flag = np.zeros(actor_codes.height, dtype=bool)
    flag[cand_codes] = True
    mine = coded.select("k", "a", "row").filter(pl.Series(flag[coded["a"].to_numpy()]))
    shared = mine.group_by("k").agg(pl.col("a").n_unique().alias("n")).filter(pl.col("n") >= 2)
    rows = np.sort(mine.join(shared, on="k", how="semi")["row"].to_numpy())
    del mine, shared
    sub = base[rows].with_columns(pl.Series("key", unit_key[rows]))
    second: list[pl.DataFrame] = []
    for w, sigs in sorted(by_window.items()):
        part = sub if len(by_window) == 1 else sub.filter(pl.col("signal").is_in(sigs))
        res = native_pairs(part, window=w, max_pairs=max_pairs, partitions=partitions)
        second.append(res.evidence.join(cand, on=["actor_a", "actor_b"], how="semi"))
    unit_ev = pl.concat(second).with_columns(pl.col("key").cast(pl.Int64).alias("unit"))
    unit_ev = unit_ev.with_columns(unit_keys.gather(unit_ev["unit"]).alias("key"))
    unit_ev = unit_ev.select([*EVIDENCE_SCHEMA, "unit"]).sort(
        ["actor_a", "actor_b", "signal", "unit"]
    )
    key_ev = _key_evidence(unit_ev)
    cand_edges = _edges_from_evidence(key_ev)
    return single, cand_edges, unit_ev


def _key_evidence(unit_ev: pl.DataFrame) -> pl.DataFrame:
    """One evidence row per (pair, signal, key): the unit with the closest co-action."""
    return (
        unit_ev.sort(["actor_a", "actor_b", "signal", "key", "dt", "unit"])
        .group_by(["actor_a", "actor_b", "signal", "key"], maintain_order=True)
        .agg(
            pl.col("n_coactions").sum(),
            *(pl.col(c).first() for c in ("dt", "event_a", "event_b", "ts_a", "ts_b")),
        )
        .select(list(EVIDENCE_SCHEMA))
        .cast(EVIDENCE_SCHEMA)  # type: ignore[arg-type]
    )


def _edges_from_evidence(ev: pl.DataFrame) -> pl.DataFrame:
    """Native edge columns of the pairs in key-level evidence (one row per pair, key)."""
    return (
        ev.group_by(["actor_a", "actor_b"])
        .agg(
            pl.len().alias("n_keys"),
            pl.col("n_coactions").sum(),
            pl.col("dt").min().alias("min_dt"),
            pl.col("dt").median().alias("median_dt"),
            pl.min_horizontal(pl.col("ts_a").min(), pl.col("ts_b").min()).alias("first_ts"),
            pl.max_horizontal(pl.col("ts_a").max(), pl.col("ts_b").max()).alias("last_ts"),
            pl.col("signal").unique().sort().alias("signals"),
        )
        .select(list(EDGE_SCHEMA))
        .cast(EDGE_SCHEMA)  # type: ignore[arg-type]
    )


def _merge_edges(edges: pl.DataFrame) -> pl.DataFrame:
    """Edge rows of the same pair from passes with different windows, merged."""
    return (
        edges.group_by(["actor_a", "actor_b"])
        .agg(
            pl.col("n_keys").sum(),
            pl.col("n_coactions").sum(),
            pl.col("min_dt").min(),
            pl.col("median_dt").min(),
            pl.col("first_ts").min(),
            pl.col("last_ts").max(),
            pl.col("signals").list.explode().unique().sort(),
        )
        .select(list(EDGE_SCHEMA))
        .cast(EDGE_SCHEMA)  # type: ignore[arg-type]
    )


def _incidence(
    ks: null.KeyStats, *, keep_units: npt.NDArray[np.bool_], key_sig: npt.NDArray[np.int64]
) -> pl.DataFrame:
    """``a, k, m, s``: actions ``m`` of account ``a`` on unit ``k`` (of signal ``s``), for
    the kept (unsaturated) units; from :func:`coordscope.stats.null.key_stats`'s
    (unit, account) counts, sorted by ``(k, a)``. Cost ``O(rows)``."""
    sel = keep_units[ks.inc_k]
    k = ks.inc_k[sel]
    return pl.DataFrame(
        {"a": ks.inc_a[sel], "k": k, "m": ks.inc_m[sel], "s": key_sig[k]},
        schema={"a": pl.Int64, "k": pl.Int64, "m": pl.Int64, "s": pl.Int64},
    )


def _scheduled(coded: pl.DataFrame, n_accounts: int) -> npt.NDArray[np.bool_]:
    """Accounts acting (almost) only on whole minutes: clock-driven, not co-ordinated.

    Only accounts with at least ``_SCHEDULED_SHARE · _SCHEDULED_MIN`` actions on a whole
    minute can qualify (they need that many such events), so the per-event count runs on
    their actions only (exact, and ``O(n)`` over the rest).
    """
    a = coded["a"].to_numpy()
    on = coded["t"].to_numpy() % _MINUTE_US == 0
    maybe = np.bincount(a[on], minlength=n_accounts) >= _SCHEDULED_SHARE * _SCHEDULED_MIN
    per = (
        coded.filter(pl.Series(maybe[a]))
        .unique(subset=["a", "event"])
        .group_by("a")
        .agg(pl.len().alias("n"), (pl.col("t") % _MINUTE_US == 0).sum().alias("on"))
    )
    out = np.zeros(n_accounts, dtype=bool)
    ok = per.filter(
        (pl.col("n") >= _SCHEDULED_MIN) & (pl.col("on") >= _SCHEDULED_SHARE * pl.col("n"))
    )
    out[ok["a"].to_numpy()] = True
    return out


def _coded_evidence(
    evidence: pl.DataFrame,
    actor_codes: pl.DataFrame,
    signals: list[str],
    seed: int,
    scheduled: npt.NDArray[np.bool_],
) -> pl.DataFrame:
    """Evidence rows as ``a, b, s, key, h, clock``: ``key`` is the unit code, ``h`` the
    half of the split both events fall in (-1 when they straddle two blocks; ``a < b``
    codes follow id order)."""
    sig_index = {s: i for i, s in enumerate(signals)}
    ev = (
        evidence.unique(
            subset=["actor_a", "actor_b", "event_a", "event_b"], keep="first", maintain_order=True
        )
        .with_columns(
            pl.col("ts_a").dt.epoch("us").alias("_ta"), pl.col("ts_b").dt.epoch("us").alias("_tb")
        )
        .select(
            "actor_a",
            "actor_b",
            "signal",
            pl.col("unit").alias("key"),
            pl.when(_block_half("_ta", seed) == _block_half("_tb", seed))
            .then(_block_half("_ta", seed))
            .otherwise(pl.lit(-1, dtype=pl.Int8))
            .alias("h"),
            (
                (pl.col("ts_a").dt.epoch("us") % _MINUTE_US == 0)
                & (pl.col("ts_b").dt.epoch("us") % _MINUTE_US == 0)
            ).alias("grid"),
        )
        .join(actor_codes.rename({"actor_id": "actor_a"}), on="actor_a", how="left")
        .join(actor_codes.rename({"actor_id": "actor_b", "a": "b"}), on="actor_b", how="left")
    )
    sched = pl.lit(pl.Series("sched", scheduled))
    return ev.select(
        "a",
        "b",
        pl.col("signal").replace_strict(sig_index, return_dtype=pl.Int64).alias("s"),
        "key",
        "h",
        (pl.col("grid") & sched.gather(pl.col("a")) & sched.gather(pl.col("b"))).alias("clock"),
    )


def _pair_tests(
    ev: pl.DataFrame,
    incidence: pl.DataFrame,
    ks: null.KeyStats,
    key_half: npt.NDArray[np.int8],
    key_sig: npt.NDArray[np.int64],
    signals: list[str],
    n_accounts: int,
    models: dict[int, null.Model],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per (pair, signal) p-values for pairs with ``X_s >= 2``; Simes-combined per pair.

    Returns ``(pid, a, b, p, ps, pc)`` per pair and ``(pid, expected)``.
    """
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
    for s in range(len(signals)):  # loop over signals (a handful)
        cand = tested.filter(pl.col("s") == s)
        if cand.height == 0:
            continue
        model = _model_for(models, incidence, ks, key_half, key_sig, s, n_accounts)
        res = _test_pairs(cand, incidence, ks, key_half, s, n_accounts, model, half=None)
        results.append(res)
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


def _test_pairs(
    cand: pl.DataFrame,
    incidence: pl.DataFrame,
    ks: null.KeyStats,
    key_half: npt.NDArray[np.int8],
    s: int,
    n_accounts: int,
    model: null.Model,
    *,
    half: int | None,
) -> pl.DataFrame:
    """Sync and co-occurrence p-values of the pairs ``cand`` (a, b, x) on signal ``s``."""
    ia = incidence["a"].to_numpy()
    sel = incidence["s"].to_numpy() == s
    if half is not None:
        sel &= key_half[incidence["k"].to_numpy()] == half
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
    q = 1.0 - (1.0 - ks.pi[k_np]) ** (common["ma"].to_numpy() * common["mb"].to_numpy())
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


def _model_for(
    models: dict[int, null.Model],
    incidence: pl.DataFrame,
    ks: null.KeyStats,
    key_half: npt.NDArray[np.int8],
    key_sig: npt.NDArray[np.int64],
    s: int,
    n_accounts: int,
) -> null.Model:
    """The popularity-and-activity model of signal ``s`` (indexed by global codes),
    fitted once and kept in ``models``. Cost ``O(rows + K log K)``."""
    if s in models:
        return models[s]
    # activity: the account's actions over *all* audited signals, as a share of all
    # actions: on a sparse signal whose actions are mostly the campaign's own (near-
    # duplicate texts), activity within that signal would make the campaign explain itself
    m_all = incidence["m"].to_numpy().astype(np.float64)
    n_actor: FloatArray = np.bincount(
        incidence["a"].to_numpy(), weights=m_all, minlength=n_accounts
    ).astype(np.float64, copy=False)
    sel = incidence["s"].to_numpy() == s
    n_key: FloatArray = np.bincount(
        incidence["k"].to_numpy()[sel], weights=m_all[sel], minlength=key_sig.shape[0]
    ).astype(np.float64, copy=False)
    keys = np.flatnonzero(key_sig == s)
    models[s] = null.fit_model(
        n_actor, n_key[keys], ks.pi[keys], key_half[keys], total=float(m_all.sum())
    )
    return models[s]


def _edge_table(
    single: pl.DataFrame,
    cand_edges: pl.DataFrame,
    actor_codes: pl.DataFrame,
    pair_p: pl.DataFrame,
    pair_expected: pl.DataFrame,
    degree: npt.NDArray[np.int64],
    alpha: float,
) -> tuple[pl.DataFrame, int]:
    """Edges with p, BH q, significance and the evidence label; the hypothesis count.

    Only candidate pairs (``cand_edges``, a few) can have ``p < 1``: they are joined with
    the tests; every other edge gets ``p = q = 1`` as literal columns. Rows are sorted by
    ``pvalue`` then ids (``a < b`` codes follow id order, so integer sorts give the id
    order). Cost ``O(E log E)`` integer work for ``E`` edges, ``O(C)`` joins for ``C``
    candidates.
    """
    n = actor_codes.height
    a_s = _code_of("actor_a", actor_codes, single).to_numpy()
    b_s = _code_of("actor_b", actor_codes, single).to_numpy()
    a_c = _code_of("actor_a", actor_codes, cand_edges)
    b_c = _code_of("actor_b", actor_codes, cand_edges)
    # Tarone: a pair where one account has a single key can only reach p = 1
    multi = degree >= 2
    n_hyp = int((multi[a_s] & multi[b_s]).sum()) + int(
        (multi[a_c.to_numpy()] & multi[b_c.to_numpy()]).sum()
    )
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
    columns = [*EDGE_SCHEMA, *SIGNIFICANCE_COLUMNS]
    low = cand.filter(pl.col("pvalue") < 1.0).sort(["pvalue", "a", "b"]).select(columns)
    rest = single.with_columns(
        pl.Series("a", a_s),
        pl.Series("b", b_s),
        pl.lit(None, dtype=pl.Float64).alias("expected"),
        pl.lit(1.0).alias("pvalue"),
        pl.lit(1.0).alias("qvalue"),
        pl.lit(False).alias("significant"),
        pl.lit("", dtype=pl.String).alias("evidence"),
    ).with_columns(pid)
    del a_s, b_s
    high = (
        pl.concat([cand.filter(pl.col("pvalue") >= 1.0).select(rest.columns), rest])
        .sort("_pid")
        .select(columns)
    )
    del rest
    out = pl.concat([low, high]).cast(pl.Schema({**EDGE_SCHEMA, **SIGNIFICANCE_COLUMNS}))
    return out, n_hyp


def _groups(
    ev: pl.DataFrame,
    coded: pl.DataFrame,
    incidence: pl.DataFrame,
    ks: null.KeyStats,
    key_half: npt.NDArray[np.int8],
    key_sig: npt.NDArray[np.int64],
    w_unit: npt.NDArray[np.int64],
    signals: list[str],
    actor_codes: pl.DataFrame,
    scheduled: npt.NDArray[np.bool_],
    seed: int,
    alpha: float,
    models: dict[int, null.Model],
) -> pl.DataFrame:
    """Candidate groups found on one half of the keys, tested on the other (both ways).

    Statistic ``T_g``: units of the test half in which two members acted within the
    window (from the members' own actions, so pairs that co-acted only once count too).
    Expectation: the union bound ``Σ_k min(1, z_k c_g)`` of the popularity-and-activity
    model with the group **left out** of the units it acted in: a unit's popularity is
    counted without the members' actions and its π without the members' in-window pairs,
    so content pushed only by the group does not explain itself (contamination, design.md
    §6). Groups found in both halves are merged afterwards (:func:`_merge_groups`).
    """
    n_accounts = actor_codes.height
    live = ev.filter(~pl.col("clock"))
    # sorted: the community search must see the graph in a fixed order
    xh = live.group_by(["a", "b", "h"]).agg(pl.len().alias("x")).sort(["a", "b", "h"])
    rows: list[pl.DataFrame] = []
    next_id = 0
    for s in range(len(signals)):  # a handful
        _model_for(models, incidence, ks, key_half, key_sig, s, n_accounts)
    inc_s = incidence["s"].to_numpy()
    inc_m = incidence["m"].to_numpy()
    n_total = {s: float(inc_m[inc_s == s].sum()) for s in models}
    n_all = float(sum(n_total.values()))
    unit_n = np.zeros(key_sig.shape[0])
    unit_s2 = np.zeros(key_sig.shape[0])
    if incidence.height:
        k_np = incidence["k"].to_numpy()
        m_np = incidence["m"].to_numpy().astype(np.float64)
        unit_n = np.bincount(k_np, weights=m_np, minlength=key_sig.shape[0]).astype(np.float64)
        unit_s2 = np.bincount(k_np, weights=m_np**2, minlength=key_sig.shape[0]).astype(np.float64)
    unit_d = (unit_n**2 - unit_s2) / 2.0
    unit_p = ks.pi * unit_d  # in-window different-account pairs of each unit
    sched = pl.Series("sched", scheduled)
    half_s = pl.Series("half", key_half)
    win_s = pl.Series("w", w_unit)
    for found in (0, 1):  # find on one half, test on the other
        test = 1 - found
        graph = xh.filter((pl.col("h") == found) & (pl.col("x") >= 2))
        if graph.height == 0:
            continue
        comm = communities(
            graph.select(
                pl.col("a").cast(pl.String).alias("actor_a"),
                pl.col("b").cast(pl.String).alias("actor_b"),
                pl.col("x").cast(pl.Float64).alias("n_keys"),
            ),
            seed=seed + found,
            max_size=_MAX_GROUP,
        ).select(pl.col("actor_id").cast(pl.Int64).alias("a"), pl.col("community").alias("g"))
        sizes = comm.group_by("g").agg(pl.len().alias("n"))
        comm = comm.join(sizes.filter(pl.col("n") >= _MIN_GROUP), on="g", how="semi")
        if comm.height == 0:
            continue
        comm = comm.with_columns((pl.col("g") + next_id).alias("g"))
        next_id = int(comm["g"].max()) + 1  # type: ignore[arg-type]
        gid = np.sort(comm["g"].unique().to_numpy())
        size = (
            comm.group_by("g").agg(pl.len().cast(pl.Float64).alias("n")).sort("g")["n"].to_numpy()
        )

        # statistic: Σ over test-half units of the members that acted within the window
        # of another member there. A member has such a partner iff one of its actions is
        # next (in time order) to another member's action within W.
        acts = (
            coded.join(comm, on="a", how="inner")
            .filter(pl.col("hb") == test)
            .sort(["g", "k", "t", "a"])
        )
        w_of = pl.lit(win_s).gather(pl.col("k"))
        on_grid = pl.lit(sched).gather(pl.col("a")) & (pl.col("t") % _MINUTE_US == 0)

        def _near(step: int, w_of: pl.Expr = w_of, on_grid: pl.Expr = on_grid) -> pl.Expr:
            other = pl.col("a").shift(step)
            same = (pl.col("g") == pl.col("g").shift(step)) & (
                pl.col("k") == pl.col("k").shift(step)
            )
            close = (pl.col("t") - pl.col("t").shift(step)).abs() <= w_of
            clock = on_grid & on_grid.shift(step)
            return (same & close & (pl.col("a") != other) & ~clock).fill_null(False)

        stat = (
            acts.filter(_near(1) | _near(-1))
            .select("g", "k", "a")
            .unique()
            .group_by("g")
            .agg(pl.len().cast(pl.Float64).alias("statistic"))
        )

        # expectation, group left out of the units it acted in
        g_members = comm.join(incidence, on="a", how="inner")
        exp = np.zeros(gid.shape[0])
        for s in range(len(signals)):  # per signal (a handful)
            if n_total[s] <= 0:
                continue
            act = (
                g_members.group_by(["g", "a"])
                .agg(pl.col("m").sum().cast(pl.Float64).alias("n_a"))
                .group_by("g")
                .agg(pl.col("n_a").sum().alias("S"))
            )
            root = float(np.sqrt(n_all))
            big_x = np.zeros(gid.shape[0])
            gi = np.searchsorted(gid, act["g"].to_numpy())
            big_x[gi] = act["S"].to_numpy() / root
            # E[members with a partner in unit k] <= min(M, X y_k) · min(1, X y_k π_k)
            exp += null.group_unit_bound(models[s], big_x, size, test)
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
            cg = live.join(comm.rename({"g": "ga"}), on="a").join(
                comm.rename({"a": "b", "g": "gb"}), on="b"
            )
            cg = (
                cg.filter(pl.col("ga") == pl.col("gb"))
                .group_by(["ga", "key"])
                .agg(pl.len().cast(pl.Float64).alias("cg"))
                .rename({"ga": "g", "key": "k"})
            )
            # sorted: the float sum below must not depend on the group-by's row order
            gk = (
                gk.join(cg, on=["g", "k"], how="left")
                .with_columns(pl.col("cg").fill_null(0.0))
                .sort(["g", "k"])
            )
            kk = gk["k"].to_numpy()
            ng = gk["ng"].to_numpy()
            dg = (ng**2 - gk["s2g"].to_numpy()) / 2.0
            rest_d = unit_d[kk] - dg
            with np.errstate(invalid="ignore", divide="ignore"):
                pi_rest = np.where(
                    rest_d > 0, (unit_p[kk] - gk["cg"].to_numpy()) / np.maximum(rest_d, 1e-300), 0
                )
            pi_rest = np.clip(pi_rest, 0.0, 1.0)
            gi = np.searchsorted(gid, gk["g"].to_numpy())
            y_old = unit_n[kk] / root
            y_new = np.maximum(unit_n[kk] - ng, 0.0) / root
            m_g = size[gi]
            corr = null.unit_bound(big_x[gi], m_g, y_new, pi_rest) - null.unit_bound(
                big_x[gi], m_g, y_old, ks.pi[kk]
            )
            exp += np.bincount(gi, weights=corr, minlength=gid.shape[0])
        expected = pl.DataFrame({"g": gid, "expected": np.maximum(exp, 0.0)})
        members = (
            comm.join(actor_codes, on="a", how="left")
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
    table = table.sort(["pvalue", "g"]).with_columns(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("group")
    )
    return table.select(list(GROUP_SCHEMA)).cast(GROUP_SCHEMA)  # type: ignore[arg-type]


def _merge_groups(table: pl.DataFrame) -> pl.DataFrame:
    """Merge groups that share at least half of the smaller one's members.

    The two directions of the split usually find the same campaign twice. A merged group
    has the union of the members and the test figures of its most significant part
    (each part was tested on its own held-out half; BH already counted every part).
    """
    if table.height <= 1:
        return table
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

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
    graph = coo_matrix((np.ones(int(ok.sum())), (i[ok], j[ok])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    merged = (
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
    return merged


def _bennett(t: FloatArray, mu: FloatArray, bound: FloatArray) -> FloatArray:
    """Bennett's (1962) bound on ``P(T >= t)`` for a sum of independent variables in
    ``[0, M]`` with mean at most ``μ``: ``exp(−(μ/M)·h((t − μ)/μ))``,
    ``h(u) = (1 + u)·ln(1 + u) − u`` (variance ``<= M·μ``); 1 when ``t <= μ``."""
    mu = np.maximum(mu, 1e-12)
    u = np.maximum(t - mu, 0.0) / mu
    h = (1.0 + u) * np.log1p(u) - u
    return np.asarray(np.where(t > mu, np.exp(-(mu / bound) * h), 1.0), dtype=np.float64)


def _tail(lam: FloatArray, x: FloatArray) -> FloatArray:
    """``P(Poisson(λ) >= x)`` (1 when ``x <= 0``)."""
    from scipy import stats

    return np.asarray(stats.poisson.sf(x - 1.0, np.maximum(lam, 1e-300)), dtype=np.float64)


_ = EVIDENCE_SCHEMA
