"""Exact reproductions of the reference tools, for users who must match them.

- :mod:`coordscope.compat.coortweet`: CooRTweet 2.x ``detect_groups``,
  ``generate_coordinated_network`` and its account statistics.
- :mod:`coordscope.compat.cnt`: coordination-network-toolkit's directed edge tables
  (co-retweet, co-link, co-tweet, co-similar-tweet, …).

:func:`detect_coortweet` and :func:`detect_cnt` return a
:class:`~coordscope.results.DetectResult` like :func:`coordscope.detect` does, with the
reference tool's column names and values; ``coordscope detect --mode coortweet|cnt`` runs
them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import polars as pl

from coordscope.budget import Budget
from coordscope.compat.cnt import CNT_ALL_NETWORKS, cnt_edges
from coordscope.compat.coortweet import coortweet_detect, coortweet_network
from coordscope.errors import ParameterError, check_window
from coordscope.graphs.tables import account_degrees
from coordscope.parts import PartedTable
from coordscope.results import DetectResult
from coordscope.signals.actions import resolve_signals

__all__ = ["detect_cnt", "detect_coortweet"]


def detect_coortweet(
    events: pl.DataFrame,
    *,
    signals: Sequence[str] | str,
    window: float,
    min_participation: int = 2,
    remove_loops: bool = True,
    edge_weight: float = 0.5,
    memory: str | int | None = None,
) -> DetectResult:
    """CooRTweet's result rows and coordinated network, identical to CooRTweet 2.x.

    Parameters
    ----------
    events : polars.DataFrame
        Canonical events.
    signals : str or sequence of str
        Signals whose keys play CooRTweet's ``object_id``.
    window : float
        CooRTweet's ``time_window`` in seconds (inclusive).
    min_participation : int, default 2
        CooRTweet's ``min_participation``.
    remove_loops : bool, default True
        CooRTweet's ``remove_loops``.
    edge_weight : float, default 0.5
        Quantile of edge weights above which ``weight_threshold`` is 1.
    memory : str or int, optional
        Memory budget (``"4GB"`` or bytes; default 4 GiB): sizes the chunks of pairs
        materialised at once. CooRTweet's result table is one row per coordinated pair of
        shares and is held whole, as CooRTweet holds it. The result does not depend on it.

    Returns
    -------
    DetectResult
        ``coactions`` = CooRTweet's result table, ``edges`` = its network table.
    """
    chosen = resolve_signals(signals)
    max_pairs = max(10_000, Budget.of(memory, 1).memory // 200)
    check_window(window)
    if min_participation < 1:
        raise ParameterError(f"min_participation must be >= 1, got {min_participation}")
    if not 0 <= edge_weight <= 1:
        raise ParameterError(f"edge_weight must be a quantile in [0, 1], got {edge_weight}")
    params: dict[str, Any] = {
        "signals": chosen, "window": window, "mode": "coortweet", "text_rule": "default",
        "min_text_length": 10,
    }  # fmt: skip
    timings: dict[str, float] = {}
    start = time.perf_counter()
    result = coortweet_detect(
        events,
        signals=chosen,
        time_window=window,
        min_participation=min_participation,
        remove_loops=remove_loops,
        max_pairs=max_pairs,
    )
    timings["pairs"] = time.perf_counter() - start
    start = time.perf_counter()
    network = coortweet_network(result, edge_weight=edge_weight)
    params.update(
        min_participation=min_participation, remove_loops=remove_loops, edge_weight=edge_weight
    )
    timings["network"] = time.perf_counter() - start
    return _finish("coortweet", events, result, network, ("from", "to"), params, timings)


def detect_cnt(
    events: pl.DataFrame,
    *,
    signals: Sequence[str] | str,
    window: float,
    min_edge_weight: int = 1,
    similarity: float = 0.8,
    memory: str | int | None = None,
    workers: int | None = None,
) -> DetectResult:
    """coordination-network-toolkit's directed edges, identical, one network per signal.

    Parameters
    ----------
    events : polars.DataFrame
        Canonical events.
    signals : str or sequence of str
        Signals with a toolkit network (:data:`coordscope.compat.cnt.CNT_ALL_NETWORKS`);
        several give one table with a ``network`` column.
    window : float
        The toolkit's time window in seconds (inclusive).
    min_edge_weight : int, default 1
        The toolkit's least weight per direction.
    similarity : float, default 0.8
        ``co_similar`` (``co_similar_tweet``): the toolkit's ``--similarity_threshold``,
        a Jaccard index in ``(0, 1]``; pairs are found exactly at any threshold.
    memory : str or int, optional
        Memory budget (``"4GB"`` or bytes; default 4 GiB): the pair counts held before a
        sort take at most half of it. The result does not depend on it.
    workers : int, optional
        Threads that assemble the edge lists; default every usable core.

    Returns
    -------
    DetectResult
        ``edges`` (and ``coactions``, the same table: the toolkit keeps no per-message
        rows) = ``user_1, user_2, weight`` [, ``network``]; ``weight`` is ``Int32``.
    """
    chosen = resolve_signals(signals)
    budget = Budget.of(memory, workers)
    max_pairs = max(10_000, budget.memory // 256)  # 16 counts of 8 bytes, twice in a sort
    check_window(window)
    if min_edge_weight < 1:
        raise ParameterError(f"min_edge_weight must be >= 1, got {min_edge_weight}")
    by_signal = {v: k for k, v in CNT_ALL_NETWORKS.items()}
    missing = [s for s in chosen if s not in by_signal]
    if missing:
        raise ParameterError(
            f"signals: cnt mode has no network for {', '.join(missing)}; it supports "
            + ", ".join(f"{s} ({by_signal[s]})" for s in by_signal)
        )
    if (
        isinstance(similarity, bool)
        or not isinstance(similarity, int | float)
        or not (0 < similarity <= 1)
    ):
        raise ParameterError(f"similarity must be a Jaccard index in (0, 1], got {similarity!r}")
    params: dict[str, Any] = {
        "signals": chosen, "window": window, "mode": "cnt", "text_rule": "toolkit",
        "min_text_length": 1,
    }  # fmt: skip
    if "co_similar" in chosen:
        params["similarity"] = similarity
    timings: dict[str, float] = {}
    start = time.perf_counter()
    tables = []
    for s in chosen:  # a handful of signals
        table = cnt_edges(
            events,
            network=by_signal[s],
            window=window,
            min_edge_weight=min_edge_weight,
            max_pairs=max_pairs,
            similarity_threshold=similarity,
            workers=budget.workers,
        ).with_columns(
            # plain strings, and a signed weight (the counter's UInt32 values fit Int32: at
            # most the run's messages) that every reader of the written tables takes as is
            pl.col("user_1", "user_2").cast(pl.String),
            pl.col("weight").cast(pl.Int32),
        )
        tables.append(
            table.with_columns(pl.lit(by_signal[s]).alias("network")) if len(chosen) > 1 else table
        )
    edge_table = pl.concat(tables)
    params["min_edge_weight"] = min_edge_weight
    timings["pairs"] = time.perf_counter() - start
    return _finish("cnt", events, edge_table, edge_table, ("user_1", "user_2"), params, timings)


def _finish(
    mode: str,
    events: pl.DataFrame,
    evidence: pl.DataFrame,
    edge_table: pl.DataFrame,
    ends: tuple[str, str],
    params: dict[str, Any],
    timings: dict[str, float],
) -> DetectResult:
    """Build the node table and the counts of a reference-mode run."""
    start = time.perf_counter()
    nodes = account_degrees(events, edge_table, *ends)
    timings["nodes"] = time.perf_counter() - start
    counts: dict[str, Any] = {
        "coactions": evidence.height,
        "edges": edge_table.height,
        "accounts_in_edges": int(nodes.filter(pl.col("degree") > 0).height),
    }
    return DetectResult(
        mode,
        PartedTable.of(evidence),
        PartedTable.of(edge_table),
        nodes,
        params,
        counts,
        timings,
    )
