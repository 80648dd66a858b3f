"""Significance of account pairs and groups under explicit null models.

Units
-----
Co-actions are counted per *unit*: a maximal run of one (signal, key)'s actions whose
consecutive gaps are at most ``W`` (a burst). Every co-action lies inside one unit. A key
pushed once is one unit; a hashtag pushed in ten separate bursts is ten. A unit is
*saturated* when at least :data:`~coordscope.stats.units.SATURATED_ACTORS` accounts acted
in it and ``π >= SATURATED_PI`` (a flash-viral burst): any two of its sharers co-act by
chance, its ~n²/2 pairs carry no evidence, and they are not enumerated (counted in
``counts["saturated_units"]``). Nor are those of a *crowded* unit of that many accounts,
whose actions have on average :data:`~coordscope.stats.units.CROWDED_NEIGHBOURS` other
accounts' actions within ``W`` (a hashtag in use all day; ``counts["crowded_units"]``): a
pair co-acts in it at most once, and its pairs would outnumber all others over a month of
data. A crowded unit stays in the null model, so pairs' expectations still count it while
their observed co-actions do not: conservative.

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

Only pairs with two co-acted units of one signal can be tested. Every pair is counted by
the partitioned engine (key partitions in, pair partitions out, under the memory
budget); each pair partition carries the closest co-action of each of its (pair, unit)
rows, and the per-(pair, unit) evidence and the common units (intersected from the side
with fewer units) are built for the candidate pairs only, one pair partition at a time.
A pair with as many co-acted units as signals had one per signal (a retweet carries a
share, a link and a hashtag: one occasion, three units). Only the edges with ``p < 1``
wait in memory for Benjamini–Hochberg; every other edge is written as its partition is
done.

Groups
------
Time is cut into blocks of :data:`~coordscope.stats.units.SPLIT_BLOCK_S` seconds, each
block assigned to one of two halves by a seeded hash, so all the actions of an event fall
in one half. On half A, pairs with at least two co-acted units form a candidate graph; its
communities (:func:`coordscope.stats.communities.communities`, seeded Louvain inside large
components) with at least three members are candidate groups, tested on half B only (the
selection does not bias the test), then the halves swap and groups found twice are merged.

Statistic ``T_g`` = Σ over half-B units of the members that acted within ``W`` of another
member there (rotating members, each pair weak, add up). Under the null each member acts
independently, so per unit ``E[Y_k] <= min(M, X y_k)·min(1, X y_k π_k)`` (``M`` = group
size, ``X = Σ_members x_a``: at most that many members act, and each finds a partner
within ``W`` with probability at most ``X y_k π_k``) and ``μ_g = Σ_k`` of that
(:func:`coordscope.stats.null.group_unit_bound`), computed with the group **left out** of
the units it acted in: a unit's popularity without the members' actions, its π without the
members' in-window pairs — content pushed only by the group does not explain itself
(contamination). Units are independent and ``Y_k ∈ [0, M]``, so Bennett's inequality
gives ``p = exp(−(μ/M)·h((T − μ)/μ))``, ``h(u) = (1+u)ln(1+u) − u``. BH over every group
tested. Flagged accounts are the members of significant groups.

Clock co-actions
----------------
Accounts with at least 5 actions of which at least 80 % fall exactly on a whole minute
are *scheduled* (organic accounts: 1 in 60 by chance). A co-action of two scheduled
accounts at the same whole minute is explained by their clocks (news bots following the
same feed: hard negatives) and is not counted as evidence.

Cost: one kernel pass (``O(n log n + P)``), ``O(n log n)`` for the unit statistics,
``O(E)`` vectorized work per edge, and per (pair, unit) work only for candidate pairs
(``Σ min(d_a, d_b)``) and candidate groups.

Modules
-------
This module checks the parameters and runs the stages; each stage is a module of
:mod:`coordscope.stats`: :mod:`~coordscope.stats.units` (units, saturation, the split,
scheduled accounts), :mod:`~coordscope.stats.evidence` (the kernel pass and the evidence
tables), :mod:`~coordscope.stats.pairs` (pair tests, the edge table),
:mod:`~coordscope.stats.groups` (group discovery and test) and
:mod:`~coordscope.stats.multiple` (Benjamini–Hochberg, Simes).
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl

from coordscope.budget import Budget, held_bytes
from coordscope.engine.partitioned import PAIR_SCHEMA, PairPartition
from coordscope.engine.runners import Runner
from coordscope.errors import ParameterError, check_seed, check_window
from coordscope.parts import SPILL_COMPRESSION, PartedTable, WorkDir
from coordscope.schema import (
    EDGE_SCHEMA,
    EVIDENCE_SCHEMA,
    GROUP_SCHEMA,
    SIGNALS,
    SIGNIFICANCE_COLUMNS,
)
from coordscope.stats.evidence import (
    coded_evidence,
    edges_from_evidence,
    is_candidate,
    key_evidence,
    pair_partitions,
    resolve_edges,
    resolve_evidence,
    single_edges,
    unit_evidence,
)
from coordscope.stats.groups import group_tests, half_counts
from coordscope.stats.multiple import benjamini_hochberg, simes
from coordscope.stats.pairs import (
    NullContext,
    insert_edges,
    pair_tests,
    partition_edges,
    rank_edges,
)
from coordscope.stats.stored import StoredPairs, covered_units, stored_partials
from coordscope.stats.units import Units, code_units, coding_sizes, scheduled_accounts

__all__ = [
    "SIGNAL_WINDOWS",
    "Significance",
    "benjamini_hochberg",
    "significance",
    "simes",
]


#: Per-signal window overrides (seconds). None needed at the defaults.
SIGNAL_WINDOWS: Final[dict[str, float]] = {}


@dataclass
class Significance:
    """What :func:`significance` returns (see the module docstring for the method).

    Attributes
    ----------
    edge_parts : coordscope.parts.PartedTable
        Native :data:`~coordscope.schema.EDGE_SCHEMA` columns followed by
        :data:`~coordscope.schema.SIGNIFICANCE_COLUMNS`; one row per pair that co-acted on
        any signal (``actor_a < actor_b``): the tested pairs by ``pvalue`` then ids, then
        the others by ids. Held in pieces (most of them on disk); :attr:`edges` reads it
        whole.
    evidence_parts : coordscope.parts.PartedTable
        :data:`~coordscope.schema.EVIDENCE_SCHEMA`, one row per (pair, signal, key) of
        the candidate pairs, sorted by pair, signal and key; in pieces on disk.
        :attr:`evidence` reads it whole, :meth:`evidence_among` the rows of some
        accounts.
    groups : polars.DataFrame
        :data:`~coordscope.schema.GROUP_SCHEMA`, one row per candidate group tested (groups
        found in both halves merged), most significant first.
    counts : dict
        Hypotheses, candidates, significant edges and groups, … (for ``summary.json``).
    timings : dict
        Seconds per stage.
    """

    edge_parts: PartedTable
    evidence_parts: PartedTable
    groups: pl.DataFrame
    counts: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def edges(self) -> pl.DataFrame:
        """The whole edge table in memory (read from its pieces; costs its full size)."""
        return self.edge_parts.collect()

    @functools.cached_property
    def significant_edges(self) -> pl.DataFrame:
        """The significant edges (a streaming scan of the pieces, done once)."""
        return self.edge_parts.filter(pl.col("significant"))

    @property
    def evidence(self) -> pl.DataFrame:
        """The whole evidence table in memory (read from its pieces; costs its full size)."""
        return self.evidence_parts.collect()

    def evidence_among(self, accounts: pl.Series) -> pl.DataFrame:
        """Return the evidence rows whose two accounts are both in ``accounts``.

        A streaming scan of the pieces; the rows come in the table's order.
        """
        ids = accounts.unique()
        return self.evidence_parts.filter(
            pl.col("actor_a").is_in(ids.implode()) & pl.col("actor_b").is_in(ids.implode())
        )


def significance(
    actions: pl.DataFrame | pl.LazyFrame,
    *,
    window: float = 60.0,
    windows: Mapping[str, float] | None = None,
    alpha: float = 0.05,
    seed: int = 0,
    budget: Budget | None = None,
    work: WorkDir | None = None,
    runner: Runner | None = None,
    stored: StoredPairs | None = None,
) -> Significance:
    """Score pairs and candidate groups of accounts against explicit null models.

    Parameters
    ----------
    actions : polars.DataFrame or polars.LazyFrame
        :data:`~coordscope.signals.actions.ACTION_SCHEMA` rows of every audited signal,
        concatenated (column ``signal`` says which); a lazy frame (a scan of the spilled
        actions) is read a few columns at a time: the stage holds integer codes only,
        and reads the keys and event ids of the evidence at the end.
    window : float, default 60.0
        ``W`` in seconds (inclusive), for signals without their own window.
    windows : mapping of str to float, optional
        Per-signal windows (seconds); defaults to :data:`SIGNAL_WINDOWS`.
    alpha : float, default 0.05
        False-discovery rate for edges and groups (``significant = qvalue <= alpha``).
    seed : int, default 0
        Seeds the split of time blocks into halves and Louvain; same input and seed give
        the same output.
    budget : Budget, optional
        Memory and worker threads (default: 4 GiB, every usable core): what the stage may
        use besides ``actions``. The counting pass sizes its key and pair partitions from
        it, less what the stage holds (:func:`coordscope.budget.held_bytes`); results do
        not depend on it.
    work : WorkDir, optional
        Where pieces are spilled (default: a new temporary directory, removed when the
        result is no longer referenced).
    runner : Runner, optional
        Who codes the units and counts the pairs (default: threads of this process);
        the results do not depend on it.
    stored : StoredPairs, optional
        Partials of earlier counts (a daily state's days,
        :mod:`coordscope.stats.stored`): the units they hold exactly are not counted
        again. Used with the local runner only; the results do not depend on it.

    Returns
    -------
    Significance

    Raises
    ------
    ParameterError
        Window negative, alpha outside (0, 1), unknown signal in ``windows``, negative
        seed, missing columns.

    Notes
    -----
    See the module docstring for the tests, the nulls and why they are conservative.
    Cost ``O(n log n + P)`` for ``n`` actions and ``P`` in-window pairs, plus per-key work
    only for candidate pairs and groups.
    """
    _check(actions, window, windows, alpha, seed)
    budget = Budget() if budget is None else budget
    work = WorkDir() if work is None else work
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    lazy = actions.lazy()
    signals = sorted(
        lazy.select(pl.col("signal").unique()).collect(engine="streaming").to_series().to_list()
    )
    overrides = dict(SIGNAL_WINDOWS if windows is None else windows)
    win = {s: float(overrides.get(s, window)) for s in signals}

    if not signals:
        return Significance(
            PartedTable.of(pl.DataFrame(schema={**EDGE_SCHEMA, **SIGNIFICANCE_COLUMNS})),
            PartedTable.of(pl.DataFrame(schema=EVIDENCE_SCHEMA)),
            pl.DataFrame(schema=GROUP_SCHEMA),
            {"edges": 0, "significant_edges": 0, "groups_tested": 0, "significant_groups": 0},
            timings,
        )

    # 1. units: maximal runs of a key's actions with gaps <= W; key statistics per unit
    units = code_units(
        lazy,
        signals,
        win,
        seed=seed,
        work=work,
        runner=runner,
        **coding_sizes(budget.memory, budget.workers),
    )
    timings["units"] = _lap(clock)
    clock = time.perf_counter()

    # 2. the null model's global aggregates (per account, per unit)
    nulls = NullContext(units, scheduled_accounts(units.coded, n_accounts=units.n_accounts))
    testable = nulls.n_units_of >= 2
    timings["null_model"] = _lap(clock)
    clock = time.perf_counter()

    # 3. co-actions counted by the partitioned engine; per pair partition: the edges that
    # cannot be tested are final, the candidates get their evidence and their pair tests
    scan = _PartitionScan(units, nulls, testable, work)
    # the engine gets what the stage does not hold already (actions, codes, incidence)
    engine_budget = budget.after(held_bytes(actions, units.coded, units.incidence.shared))
    covered = None
    if stored is not None and (runner is None or runner.name == "local"):
        covered = covered_units(units, stored)
    for outcome in pair_partitions(
        units, budget=engine_budget, work=work, then=scan.process, runner=runner,
        sieve=scan.sieve, covered=covered,
        kept=stored_partials(units, stored, covered) if stored and covered is not None else (),
        kept_rows=stored.n_partials if stored is not None and covered is not None else 0,
    ):  # fmt: skip
        scan.take(outcome)
    timings["pairs"] = _lap(clock)  # counting, reduce and pair tests (wall clock)
    timings["pair_tests"] = round(scan.test_seconds, 4)  # summed over the threads
    clock = time.perf_counter()

    # 4. edges: Benjamini–Hochberg over the tested pairs of every partition
    low = rank_edges(
        pl.concat(scan.low) if scan.low else _EMPTY_LOW,
        n_hypotheses=scan.n_hypotheses,
        n_tested=scan.n_tested,
        alpha=alpha,
    )
    edges_out = PartedTable(
        [low, *scan.pieces],
        {**EDGE_SCHEMA, **SIGNIFICANCE_COLUMNS},
        transform=resolve_edges(units.actor_codes["actor_id"], units.signals),
        owner=work,
    )
    timings["edges"] = _lap(clock)
    clock = time.perf_counter()

    # 5. groups: split-half selection and test
    graph = pl.concat(scan.graph) if scan.graph else _EMPTY_GRAPH
    live = PartedTable(scan.live, _LIVE_SCHEMA, transform=None, owner=work)
    groups = group_tests(graph, live, nulls, seed=seed, alpha=alpha)
    timings["groups"] = _lap(clock)
    clock = time.perf_counter()

    counts: dict[str, Any] = {
        "edges": scan.n_edges,
        "edge_hypotheses": scan.n_hypotheses,
        "edge_candidates": scan.n_tested,
        "significant_edges": int(low["significant"].sum()),
        "groups_tested": groups.height,
        "significant_groups": int(groups["significant"].sum()),
        "flagged_accounts": int(
            groups.filter("significant")["members"].explode().n_unique()
            if groups["significant"].any()
            else 0
        ),
        "scheduled_accounts": int(nulls.scheduled.sum()),
        "units": units.table.height,
        "saturated_units": int(units.saturated.sum()),
        "crowded_units": int(units.crowded.sum()),
        "saturated_actions": units.n_saturated_actions,
        "clock_coactions": scan.n_clock,
        "units_from_kept_partials": int(covered.sum()) if covered is not None else 0,
        "windows": win,
        "alpha": alpha,
    }
    # the codes, statistics and null models are done with: the evidence's strings are
    # looked up without them (30 days × 1M events a day: 3.5 GB)
    pieces = scan.evidence
    del units, nulls, scan, testable, graph, live

    # 6. the evidence's keys and event ids, read from the actions by row
    resolved = resolve_evidence(
        pieces, lazy, rows=max(1 << 16, budget.memory // _RESOLVE_ROW_BYTES), work=work
    )
    timings["evidence"] = _lap(clock)

    evidence = PartedTable(resolved, EVIDENCE_SCHEMA, transform=None, owner=work)
    return Significance(edges_out, evidence, groups, counts, timings)


#: Bytes an evidence row costs while its strings are looked up: the coded row, its
#: resolved copy and sort, and the key and event id it refers to (three action rows).
_RESOLVE_ROW_BYTES: Final = 1024

_EMPTY_LOW: Final = pl.DataFrame(
    schema={**EDGE_SCHEMA, "a": pl.Int64, "b": pl.Int64, "p": pl.Float64, "ps": pl.Float64,
            "pc": pl.Float64, "expected": pl.Float64}
)  # fmt: skip
_EMPTY_GRAPH: Final = pl.DataFrame(
    schema={"a": pl.Int64, "b": pl.Int64, "h": pl.Int8, "x": pl.UInt32}
)
_LIVE_SCHEMA: Final = pl.Schema({"a": pl.Int64(), "b": pl.Int64(), "key": pl.Int64()})
_NO_PAIRS: Final = pl.DataFrame(schema=PAIR_SCHEMA)


class _PartitionScan:
    """What the significance stage keeps of the pair partitions, one at a time.

    For each partition (:meth:`process`, on the engine's threads): the edges with
    ``p = 1`` are written to a piece, the key-level evidence of the candidates to another,
    their tests' edges with ``p < 1`` are kept for Benjamini–Hochberg, and the inputs of
    the group tests (candidate-graph rows in memory, non-clock evidence rows on disk);
    :meth:`take` keeps them in partition order. Memory: the evidence of the partitions in
    progress, plus the rows with ``p < 1`` and the candidate-graph rows of all of them.

    An engine that reduces the partitions in another process (Spark) runs :attr:`sieve`
    there: the untested pairs' edges are written where they are reduced, and only the
    candidate pairs, their (pair, unit) rows and the counts travel to this process.
    """

    def __init__(
        self,
        units: Units,
        nulls: NullContext,
        testable: npt.NDArray[np.bool_],
        work: WorkDir,
    ) -> None:
        self.units = units
        self.nulls = nulls
        self.testable = testable
        self.work = work
        self.sieve = _Sieve(testable, str(work.subdir("edges-sieved")))
        self.pieces: list[pl.DataFrame | Path] = []
        self.evidence: list[pl.DataFrame | Path] = []
        self.live: list[pl.DataFrame | Path] = []
        self.low: list[pl.DataFrame] = []
        self.graph: list[pl.DataFrame] = []
        self.n_edges = self.n_hypotheses = self.n_tested = self.n_clock = 0
        self.test_seconds = 0.0

    def process(self, part: PairPartition) -> _Outcome:
        """Test one reduced pair partition and write its pieces (thread-safe).

        Runs on the engine's worker threads, several partitions at once: it reads the
        shared inputs only and writes files of its own; :meth:`take` keeps the results
        in partition order. ``part`` is whole, or went through :attr:`sieve` (its notes
        then say what the sieve wrote and counted).
        """
        start = time.perf_counter()
        single: pl.DataFrame | Path | None
        if part.notes:  # sieved where it was reduced
            n_edges, n_hyp, wrote = part.notes
            cands, single = part, (self.sieve.path(part.q) if wrote else None)
        else:
            cands, single, n_edges, n_hyp = split_partition(part, self.testable)
        out = _Outcome(n_edges=n_edges, n_hypotheses=n_hyp)
        high = None
        cand_sig = cands.pairs.select("lo", "hi", "sig")
        if cand_sig.height:
            unit_ev = unit_evidence(cands.keyed, self.units)
            key_ev = key_evidence(unit_ev, self.units)
            ev = coded_evidence(unit_ev, self.units, self.nulls.scheduled)
            del unit_ev
            out.n_clock = int(ev["clock"].sum())
            pair_p, pair_expected = pair_tests(ev, self.nulls)
            out.n_tested = pair_p.height
            high, low, n_hyp = partition_edges(
                edges_from_evidence(key_ev), pair_p, pair_expected, cand_sig, self.nulls
            )
            out.n_hypotheses += n_hyp
            out.low = low if low.height else None
            graph, live = half_counts(ev)
            out.graph = graph if graph.height else None
            if live.height:
                out.live = self.work.spill(live, f"live-q{part.q:05d}")
            out.evidence = self.work.spill(key_ev, f"evidence-q{part.q:05d}")
            del ev, key_ev, pair_p, pair_expected, graph, live
        del cands
        # the final edges (p = 1) of the partition, in pair order
        if high is not None and high.height:
            rest = pl.read_ipc(single) if isinstance(single, Path) else single
            piece = insert_edges(
                single_edges(_NO_PAIRS) if rest is None else rest, high,
                n_accounts=self.units.n_accounts,
            )  # fmt: skip
            out.piece = self.work.spill(piece, f"edges-q{part.q:05d}")
            if isinstance(single, Path):
                single.unlink()
        elif isinstance(single, Path):
            out.piece = single
        elif single is not None and single.height:
            out.piece = self.work.spill(single, f"edges-q{part.q:05d}")
        out.seconds = time.perf_counter() - start
        return out

    def take(self, out: _Outcome) -> None:
        """Keep the results of one partition (called in partition order)."""
        self.n_edges += out.n_edges
        self.n_hypotheses += out.n_hypotheses
        self.n_tested += out.n_tested
        self.n_clock += out.n_clock
        if out.low is not None:
            self.low.append(out.low)
        if out.graph is not None:
            self.graph.append(out.graph)
        for kept, path in (
            (self.live, out.live), (self.evidence, out.evidence), (self.pieces, out.piece)
        ):  # fmt: skip
            if path is not None:
                kept.append(path)
        self.test_seconds += out.seconds


def split_partition(
    part: PairPartition, testable: npt.NDArray[np.bool_]
) -> tuple[PairPartition, pl.DataFrame, int, int]:
    """Split a reduced pair partition into its candidates and its untested pairs' edges.

    Parameters
    ----------
    part : PairPartition
        A whole reduced pair partition.
    testable : ndarray of bool
        Whether each account code acted in at least two unsaturated units.

    Returns
    -------
    candidates : PairPartition
        The candidate pairs (:func:`~coordscope.stats.evidence.is_candidate`) and their
        (pair, unit) rows.
    single : polars.DataFrame
        The other pairs' edges (:func:`~coordscope.stats.evidence.single_edges`), in
        pair order.
    n_edges : int
        The partition's pairs.
    n_hypotheses : int
        The other pairs whose two accounts are testable (they count in
        Benjamini–Hochberg, though they cannot reach ``p < 1``).

    Notes
    -----
    Cost ``O(P)`` for the partition's pairs, and a semi-join of its (pair, unit) rows.
    """
    pairs = part.pairs
    several = pairs.select(is_candidate()).to_series()
    rest = pairs.filter(~several)
    lo, hi = rest["lo"].to_numpy(), rest["hi"].to_numpy()
    n_hyp = int((testable[lo] & testable[hi]).sum())
    single = single_edges(rest)
    del rest, lo, hi
    cand = pairs.filter(several)
    keyed = (
        part.keyed.join(cand.select("lo", "hi"), on=["lo", "hi"], how="semi")
        if cand.height
        else part.keyed.clear()
    )
    return PairPartition(part.q, cand, keyed), single, pairs.height, n_hyp


@dataclass(frozen=True)
class _Sieve:
    """Splits a pair partition where it is reduced (:func:`split_partition`).

    Writes the untested pairs' edges to ``folder`` (one Arrow IPC file per partition,
    written whole under a temporary name and then renamed: a retried task leaves one
    file) and keeps the candidates, with the notes ``(n_edges, n_hypotheses, wrote)``.
    Pickled to the executors: ``testable`` is one byte per account.
    """

    testable: npt.NDArray[np.bool_]
    folder: str

    def path(self, q: int) -> Path:
        """Return the file of partition ``q``'s untested edges."""
        return Path(self.folder) / f"edges-q{q:05d}.arrow"

    def __call__(self, part: PairPartition) -> PairPartition:
        """Write ``part``'s untested edges; return its candidates with the notes."""
        cands, single, n_edges, n_hyp = split_partition(part, self.testable)
        wrote = 0
        if single.height:
            path = self.path(part.q)
            tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}")
            single.write_ipc(tmp, compression=SPILL_COMPRESSION)
            os.replace(tmp, path)
            wrote = 1
        return PairPartition(part.q, cands.pairs, cands.keyed, (n_edges, n_hyp, wrote))


@dataclass
class _Outcome:
    """What :meth:`_PartitionScan.process` found in one pair partition."""

    n_edges: int
    n_hypotheses: int = 0
    n_tested: int = 0
    n_clock: int = 0
    low: pl.DataFrame | None = None
    graph: pl.DataFrame | None = None
    live: Path | None = None
    evidence: Path | None = None
    piece: Path | None = None
    seconds: float = 0.0


# ----------------------------------------------------------------------------- helpers


def _check(
    actions: pl.DataFrame | pl.LazyFrame,
    window: float,
    windows: Mapping[str, float] | None,
    alpha: float,
    seed: int,
) -> None:
    """Raise :class:`~coordscope.errors.ParameterError` naming the first bad parameter."""
    columns = actions.collect_schema().names()
    for col in ("signal", "key", "actor_id", "ts", "event_id", "event"):
        if col not in columns:
            raise ParameterError(f"actions: column '{col}' is missing")
    check_window(window)
    for name, value in (windows or {}).items():
        if name not in SIGNALS:
            raise ParameterError(f"windows: unknown signal '{name}'")
        check_window(value, f"windows['{name}']")
    if not 0.0 < alpha < 1.0:
        raise ParameterError(f"alpha must be in (0, 1), got {alpha}")
    check_seed(seed)


def _lap(start: float) -> float:
    """Return the seconds elapsed since ``start`` (a :func:`time.perf_counter` reading)."""
    return round(time.perf_counter() - start, 4)
